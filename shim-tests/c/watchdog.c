/* A thread that computes without ever making a call that parks, for the watchdog
 * (GREEN_WATCHDOG_MS). Built with frame pointers and its symbols exported (-rdynamic), so
 * that the report can name spin_forever.
 *
 *   watchdog WHO SPIN_MS   WHO (thread: a thread named "worker"; main: the main thread,
 *                          beside a thread that sleeps) computes for SPIN_MS milliseconds of
 *                          wall time. Prints spun=1. */
#define _GNU_SOURCE
#include "common.h"

static volatile unsigned long sink;

/* Looks at the clock only every million steps, so the tick nearly always finds the
 * thread here rather than in the C library's clock_gettime. */
__attribute__((noinline)) void spin_forever(double ms) {
    double end = mono_now() + ms / 1000.0;
    unsigned long x = 1;
    while (mono_now() < end) {
        for (int i = 0; i < 1000000; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
        sink = x;
    }
}

static double spin_ms;

static void *worker(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "worker");
    spin_forever(spin_ms);
    return NULL;
}

static void *sleeper(void *arg) {
    (void)arg;
    usleep((useconds_t)(spin_ms * 1000) + 100000);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: watchdog thread|main SPIN_MS\n");
        return 2;
    }
    spin_ms = atof(argv[2]);
    int on_main = strcmp(argv[1], "main") == 0;
    pthread_t t;
    if (pthread_create(&t, NULL, on_main ? sleeper : worker, NULL) != 0) DIE("pthread_create");
    if (on_main) spin_forever(spin_ms);
    pthread_join(t, NULL);
    printf("spun=1\n");
    return 0;
}
