/* Realtime signals queue: every instance is delivered, with its own si_value, in the order
 * sent, whether the process keeps them (every thread blocks the signal but one, which
 * waits) or a thread keeps them pending while it blocks the signal
 * (runtime/signals_kept.rs, runtime/sigroute.rs).
 *
 * Usage: rt_queue CASE   (process, thread)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define COUNT 8

static int values[COUNT];
static volatile int got;
static sem_t done;

static void on_rt(int sig, siginfo_t *info, void *context) {
    (void)sig;
    (void)context;
    if (got < COUNT)
        values[got] = info->si_value.sival_int;
    if (++got == COUNT)
        sem_post(&done);
}

static void block(int how, int sig) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(how, &set, NULL);
}

/* Takes the signal once it is unblocked (process case: at once). */
static void *taker(void *arg) {
    int sig = SIGRTMIN + 1;
    block(SIG_UNBLOCK, sig);
    if (arg) {
        /* Thread case: blocked again until all were sent to it. */
        block(SIG_BLOCK, sig);
        sem_wait((sem_t *)arg);
        block(SIG_UNBLOCK, sig);
    }
    while (sem_wait(&done) != 0)
        ;
    return NULL;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int sig = SIGRTMIN + 1, per_thread = argc > 1 && !strcmp(argv[1], "thread");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_rt;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
    sem_init(&done, 0, 0);
    sem_t sent;
    sem_init(&sent, 0, 0);
    block(SIG_BLOCK, sig);
    pthread_t t;
    pthread_create(&t, NULL, taker, per_thread ? &sent : NULL);
    usleep(50000);
    for (int i = 0; i < COUNT; i++) {
        union sigval v = {.sival_int = 100 + i};
        if (per_thread)
            pthread_sigqueue(t, sig, v);
        else
            sigqueue(getpid(), sig, v);
    }
    if (per_thread)
        sem_post(&sent);
    pthread_join(t, NULL);
    printf("%s: got=%d values=", per_thread ? "thread" : "process", got);
    for (int i = 0; i < COUNT; i++)
        printf("%d%s", values[i], i + 1 < COUNT ? "," : "\n");
    return 0;
}
