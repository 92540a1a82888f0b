/* bench_fair ITERS: the cost of the fair path on calls that cannot block. In a thread (a
 * green thread when greened), while another thread sleeps holding a mutex, ITERS times:
 *   poll_zero_ns=      poll() with timeout 0 on an empty pipe (returns 0)
 *   trylock_busy_ns=   pthread_mutex_trylock on the held mutex (returns EBUSY)
 * Greened, each call also checks whether the caller has used its time slice (a flag, or a
 * clock read without preemption) and would give the sleeping thread a turn. */
#include "common.h"

#include <poll.h>

static unsigned long iters;
static double poll_ns, trylock_ns;
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static atomic_int locked, done;

static void *sleeper(void *arg) {
    (void)arg;
    pthread_mutex_lock(&held);
    atomic_store(&locked, 1);
    while (!atomic_load(&done)) usleep(10 * 1000);
    pthread_mutex_unlock(&held);
    return NULL;
}

static void *run(void *arg) {
    (void)arg;
    int p[2];
    if (pipe(p) != 0) DIE("pipe");
    while (!atomic_load(&locked)) usleep(1000);
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    double start = mono_now();
    for (unsigned long i = 0; i < iters; i++)
        if (poll(&pfd, 1, 0) != 0) DIE("poll");
    poll_ns = (mono_now() - start) * 1e9 / (double)iters;
    start = mono_now();
    for (unsigned long i = 0; i < iters; i++)
        if (pthread_mutex_trylock(&held) != EBUSY) DIE("trylock");
    trylock_ns = (mono_now() - start) * 1e9 / (double)iters;
    atomic_store(&done, 1);
    return NULL;
}

int main(int argc, char **argv) {
    char *end;
    if (argc != 2 || (iters = strtoul(argv[1], &end, 10)) == 0 || *end) {
        fprintf(stderr, "usage: bench_fair ITERS\n");
        return 2;
    }
    pthread_t s, t;
    if ((errno = pthread_create(&s, NULL, sleeper, NULL))) DIE("pthread_create");
    if ((errno = pthread_create(&t, NULL, run, NULL))) DIE("pthread_create");
    if ((errno = pthread_join(t, NULL))) DIE("pthread_join");
    if ((errno = pthread_join(s, NULL))) DIE("pthread_join");
    printf("poll_zero_ns=%.1f trylock_busy_ns=%.1f\n", poll_ns, trylock_ns);
    return 0;
}
