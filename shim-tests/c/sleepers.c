/* Many threads that do nothing but sleep, through every sleep call libc offers.
 *
 *   sleepers N [mixed|sleep]
 *
 * mixed (default): thread i sleeps 200 ms with, by i mod 4, usleep, nanosleep,
 *   clock_nanosleep(CLOCK_MONOTONIC, relative) or clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME).
 * sleep: every thread calls sleep(1).
 *
 * Each thread checks on CLOCK_MONOTONIC that it slept at least as long as it asked: a sleep
 * that returns early is as wrong as one that blocks the whole process.
 *
 * Output (stdout):
 *   threads_during=<OS threads while all sleepers are alive>
 *   short_sleeps=<threads that woke up early>
 *   elapsed_ms=<creation of the first thread to return of the last join>
 * Natively threads_during is N+1 and elapsed_ms is about one sleep; with the sleepers as
 * green threads it is 1, and elapsed_ms must still be about one sleep, not N of them. */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define MIXED_SLEEP_NS 200000000L

enum how { HOW_USLEEP, HOW_NANOSLEEP, HOW_CLOCK_MONO_REL, HOW_CLOCK_REAL_ABS, HOW_SLEEP };

static atomic_int short_sleeps;

static void sleep_once(enum how how) {
    struct timespec req = {0, MIXED_SLEEP_NS};
    int rc;
    switch (how) {
    case HOW_USLEEP:
        if (usleep(MIXED_SLEEP_NS / 1000) != 0) DIE("usleep");
        break;
    case HOW_NANOSLEEP:
        /* No signals are sent to this process, so any early return is an error. */
        if (nanosleep(&req, NULL) != 0) DIE("nanosleep");
        break;
    case HOW_CLOCK_MONO_REL:
        rc = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL);
        if (rc != 0) { errno = rc; DIE("clock_nanosleep(CLOCK_MONOTONIC)"); }
        break;
    case HOW_CLOCK_REAL_ABS: {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_nsec += MIXED_SLEEP_NS;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec += 1;
            deadline.tv_nsec -= 1000000000L;
        }
        rc = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &deadline, NULL);
        if (rc != 0) { errno = rc; DIE("clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME)"); }
        break;
    }
    case HOW_SLEEP:
        if (sleep(1) != 0) DIE("sleep returned early");
        break;
    }
}

struct sleeper {
    pthread_t tid;
    enum how how;
};

static void *sleeper_main(void *arg) {
    struct sleeper *s = arg;
    double want = s->how == HOW_SLEEP ? 1.0 : MIXED_SLEEP_NS / 1e9;
    double start = mono_now();
    sleep_once(s->how);
    double slept = mono_now() - start;
    if (slept < want) {
        atomic_fetch_add(&short_sleeps, 1);
        fprintf(stderr, "sleeper using method %d slept only %.6f s of %.3f s\n", (int)s->how,
                slept, want);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: sleepers N [mixed|sleep]\n");
        return 2;
    }
    int n = atoi(argv[1]);
    int use_sleep = argc == 3 && strcmp(argv[2], "sleep") == 0;
    if (n <= 0 || (argc == 3 && !use_sleep && strcmp(argv[2], "mixed") != 0)) {
        fprintf(stderr, "usage: sleepers N [mixed|sleep]\n");
        return 2;
    }

    struct sleeper *sleepers = calloc((size_t)n, sizeof *sleepers);
    if (!sleepers) DIE("calloc");

    double start = mono_now();
    for (int i = 0; i < n; i++) {
        sleepers[i].how = use_sleep ? HOW_SLEEP : (enum how)(i % 4);
        int rc = pthread_create(&sleepers[i].tid, NULL, sleeper_main, &sleepers[i]);
        if (rc != 0) { errno = rc; DIE("pthread_create #%d", i); }
    }
    /* Every sleeper is still inside its sleep here: creating them takes far less than one. */
    printf("threads_during=%d\n", os_thread_count());
    fflush(stdout);

    for (int i = 0; i < n; i++) {
        int rc = pthread_join(sleepers[i].tid, NULL);
        if (rc != 0) { errno = rc; DIE("pthread_join #%d", i); }
    }
    double elapsed = mono_now() - start;

    printf("short_sleeps=%d\n", atomic_load(&short_sleeps));
    printf("elapsed_ms=%ld\n", (long)(elapsed * 1000));
    free(sleepers);
    return 0;
}
