/* yield_fairness: threads that only ever call sched_yield keep the run queue from ever
 * emptying; beside them a reader waits for a pipe that a child process writes to after
 * 50 ms, and a sleeper sleeps 10 ms ten times. Both must be served while the yielders
 * spin: the scheduler looks at fds and timers again without waiting for an empty queue.
 * The reader's byte stops the yielders, at least 50 ms on: by then the sleeper has woken
 * at least once. Prints what each side saw. */
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>

enum { YIELDERS = 8, NAPS = 10 };

static int p[2];
static atomic_int stop;
static atomic_int naps_done;

static void *yielder(void *arg) {
    unsigned long *turns = arg;
    while (!atomic_load(&stop)) {
        sched_yield();
        (*turns)++;
    }
    return NULL;
}

static void *reader(void *arg) {
    char *got = arg;
    if (read(p[0], got, 1) != 1) *got = '?';
    atomic_store(&stop, 1);
    return NULL;
}

static void *sleeper(void *arg) {
    (void)arg;
    for (int i = 0; i < NAPS; i++) {
        usleep(10000);
        atomic_fetch_add(&naps_done, 1);
    }
    return NULL;
}

int main(void) {
    if (pipe(p) != 0) return 1;
    pthread_t y[YIELDERS], r, s;
    unsigned long turns[YIELDERS] = {0};
    char got = '-';
    for (int i = 0; i < YIELDERS; i++) pthread_create(&y[i], NULL, yielder, &turns[i]);
    pthread_create(&s, NULL, sleeper, NULL);
    pthread_create(&r, NULL, reader, &got);
    pid_t child = fork();
    if (child == 0) {
        usleep(50000);
        _exit(write(p[1], "w", 1) == 1 ? 0 : 1);
    }
    pthread_join(r, NULL);
    int naps_when_read = atomic_load(&naps_done);
    pthread_join(s, NULL);
    for (int i = 0; i < YIELDERS; i++) pthread_join(y[i], NULL);
    int status;
    waitpid(child, &status, 0);
    int all_yielded = 1;
    for (int i = 0; i < YIELDERS; i++) all_yielded &= turns[i] > 0;
    printf("read=%c naps=%d naps_while_spinning=%d yielders_ran=%d child_ok=%d\n", got,
           atomic_load(&naps_done), naps_when_read >= 1, all_yielded,
           WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return 0;
}
