/* bench_mutex ITERS: costs of pthread mutexes and condition variables. Prints
 *   mutex_uncontended_ns=  one thread, ITERS lock+unlock pairs, per pair
 *   mutex_contended_ns=    two threads, ITERS/2 pairs each around counter++, per pair
 *   cond_pingpong_ns=      two threads passing a turn back and forth ITERS times through a
 *                          mutex and two condvars, per hand-off
 * and exits 1 if the shared counter or the number of hand-offs is not exact.
 *
 * Contended: green threads are cooperative, so without help one would finish all its
 * iterations before the other ever ran and the mutex would never be contended. Every
 * YIELD_EVERY iterations each thread therefore calls sched_yield() while holding the lock:
 * the other thread runs, finds the mutex taken and has to block, and the unlock has to
 * wake it. Natively the two threads contend on two cores anyway; the yield keeps the two
 * runs doing the same work. */
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>

#define YIELD_EVERY 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long counter;

static pthread_cond_t turn_changed[2] = {PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER};
static int turn;                /* which ping-pong thread may go */
static unsigned long handoffs;  /* total hand-offs so far, both threads */
static unsigned long handoff_target;

static void *contend(void *arg) {
    unsigned long n = *(const unsigned long *)arg;
    for (unsigned long i = 0; i < n; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        if (i % YIELD_EVERY == YIELD_EVERY - 1) sched_yield();
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

/* Thread `me` (0 or 1) waits for its turn, passes it to the other thread, and so on. Each
 * thread only ever increments handoffs on its own turn, so the total is exact iff the turn
 * really alternated. */
static void *pingpong(void *arg) {
    int me = *(const int *)arg;
    pthread_mutex_lock(&lock);
    for (;;) {
        while (turn != me && handoffs < handoff_target) pthread_cond_wait(&turn_changed[me], &lock);
        if (handoffs >= handoff_target) break;
        handoffs++;
        turn = 1 - me;
        pthread_cond_signal(&turn_changed[1 - me]);
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void spawn(pthread_t *t, void *(*fn)(void *), void *arg) {
    if ((errno = pthread_create(t, NULL, fn, arg))) DIE("bench_mutex: pthread_create");
}

static void join(pthread_t t) {
    if ((errno = pthread_join(t, NULL))) DIE("bench_mutex: pthread_join");
}

int main(int argc, char **argv) {
    char *end;
    unsigned long iters;
    if (argc != 2 || (iters = strtoul(argv[1], &end, 10)) < 2 || *end) {
        fprintf(stderr, "usage: bench_mutex ITERS (at least 2)\n");
        return 2;
    }
    bool exact = true;

    double start = mono_now();
    for (unsigned long i = 0; i < iters; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    double uncontended = mono_now() - start;
    exact &= counter == iters;

    counter = 0;
    unsigned long half = iters / 2;
    pthread_t a, b;
    start = mono_now();
    spawn(&a, contend, &half);
    spawn(&b, contend, &half);
    join(a);
    join(b);
    double contended = mono_now() - start;
    if (counter != 2 * half) {
        fprintf(stderr, "bench_mutex: contended counter %lu, expected %lu\n", counter, 2 * half);
        exact = false;
    }

    int ids[2] = {0, 1};
    handoff_target = iters;
    start = mono_now();
    spawn(&a, pingpong, &ids[0]);
    spawn(&b, pingpong, &ids[1]);
    join(a);
    join(b);
    double pingpong_time = mono_now() - start;
    if (handoffs != iters) {
        fprintf(stderr, "bench_mutex: %lu hand-offs, expected %lu\n", handoffs, iters);
        exact = false;
    }

    printf("mutex_uncontended_ns=%.1f\n", uncontended * 1e9 / (double)iters);
    printf("mutex_contended_ns=%.1f\n", contended * 1e9 / (double)(2 * half));
    printf("cond_pingpong_ns=%.1f\n", pingpong_time * 1e9 / (double)iters);
    return exact ? 0 : 1;
}
