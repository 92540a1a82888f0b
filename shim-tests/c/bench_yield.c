/* bench_yield ITERS: two threads each call sched_yield() ITERS times; prints
 * "yield_round_trip_ns=<elapsed ns / ITERS>".
 *
 * With both threads on one CPU every yield hands the CPU to the other thread, so one
 * iteration is a round trip A -> B -> A. Greened that is two green switches; natively it is
 * two kernel context switches, provided the process is pinned to one core (taskset -c 0):
 * on several cores the threads run side by side and yield returns at once.
 *
 * The clock covers thread creation and join too; with ITERS in the hundreds of thousands
 * that is noise. */
#include "common.h"

#include <pthread.h>
#include <sched.h>

static unsigned long iters;

static void *yielder(void *arg) {
    for (unsigned long i = 0; i < iters; i++) sched_yield();
    return arg;
}

int main(int argc, char **argv) {
    char *end;
    if (argc != 2 || (iters = strtoul(argv[1], &end, 10)) == 0 || *end) {
        fprintf(stderr, "usage: bench_yield ITERS\n");
        return 2;
    }
    pthread_t a, b;
    double start = mono_now();
    if ((errno = pthread_create(&a, NULL, yielder, NULL))) DIE("bench_yield: pthread_create");
    if ((errno = pthread_create(&b, NULL, yielder, NULL))) DIE("bench_yield: pthread_create");
    if ((errno = pthread_join(a, NULL))) DIE("bench_yield: pthread_join");
    if ((errno = pthread_join(b, NULL))) DIE("bench_yield: pthread_join");
    double elapsed = mono_now() - start;
    printf("yield_round_trip_ns=%.1f\n", elapsed * 1e9 / (double)iters);
    return 0;
}
