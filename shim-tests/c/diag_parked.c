/* Many threads parked in known ways, for `green ps` to list:
 *   diag_parked N [spin]
 * Thread i (named "w-i") waits by i % 4: 0 reads a pipe nobody writes, 1 locks a mutex the
 * main thread holds, 2 sleeps for an hour, 3 waits on a condition nobody signals. With
 * `spin`, one more thread named "spinner" computes for ever. Prints "ready" once every
 * thread has started, then the main thread reads stdin until it closes, and exits. */
#define _GNU_SOURCE
#include "common.h"

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER, cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static int pipefd[2];
static atomic_int started;

static void *worker(void *arg) {
    long i = (long)arg;
    char name[16], c;
    snprintf(name, sizeof name, "w-%ld", i);
    pthread_setname_np(pthread_self(), name);
    atomic_fetch_add(&started, 1);
    switch (i % 4) {
    case 0:
        (void)!read(pipefd[0], &c, 1);
        break;
    case 1:
        pthread_mutex_lock(&held);
        break;
    case 2:
        sleep(3600);
        break;
    default:
        pthread_mutex_lock(&cm);
        pthread_cond_wait(&never, &cm);
        pthread_mutex_unlock(&cm);
    }
    return NULL;
}

static void *spinner(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "spinner");
    atomic_fetch_add(&started, 1);
    volatile unsigned long n = 0;
    for (;;)
        n++;
    return NULL;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 8;
    int spin = argc > 2 && strcmp(argv[2], "spin") == 0;
    if (pipe(pipefd) != 0)
        DIE("pipe");
    pthread_mutex_lock(&held);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    for (long i = 0; i < n; i++)
        if (pthread_create(&t, &attr, worker, (void *)i) != 0)
            DIE("pthread_create %ld", i);
    if (spin && pthread_create(&t, &attr, spinner, NULL) != 0)
        DIE("pthread_create spinner");
    while (atomic_load(&started) < n + spin)
        usleep(1000);
    printf("ready\n");
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof buf) > 0) {
    }
    _exit(0);
}
