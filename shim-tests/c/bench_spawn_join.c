/* bench_spawn_join ITERS: ITERS times pthread_create() of a trivial thread followed by
 * pthread_join(); prints "spawn_join_ns=<ns per create+join pair>". Natively each pair is
 * a clone(), a stack from glibc's cache and a futex wake; greened it is a coroutine
 * allocation and two switches. */
#include "common.h"

#include <pthread.h>
#include <stdint.h>

static void *echo_arg(void *arg) { return arg; }

int main(int argc, char **argv) {
    char *end;
    unsigned long iters;
    if (argc != 2 || (iters = strtoul(argv[1], &end, 10)) == 0 || *end) {
        fprintf(stderr, "usage: bench_spawn_join ITERS\n");
        return 2;
    }
    double start = mono_now();
    for (unsigned long i = 0; i < iters; i++) {
        pthread_t t;
        void *ret;
        if ((errno = pthread_create(&t, NULL, echo_arg, (void *)(uintptr_t)i)))
            DIE("bench_spawn_join: pthread_create #%lu", i);
        if ((errno = pthread_join(t, &ret))) DIE("bench_spawn_join: pthread_join #%lu", i);
        /* Also proves join hands back the right thread's result. */
        if ((uintptr_t)ret != i) {
            fprintf(stderr, "bench_spawn_join: thread %lu returned %p\n", i, ret);
            return 1;
        }
    }
    double elapsed = mono_now() - start;
    printf("spawn_join_ns=%.1f\n", elapsed * 1e9 / (double)iters);
    return 0;
}
