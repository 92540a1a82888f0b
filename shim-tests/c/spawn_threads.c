/* posix_spawn and system from many threads at once: 10 threads each posix_spawn a shell
 * that sleeps 200 ms and exits with the thread's number, and wait for it; 5 threads do the
 * same with system(). Every exit status comes back to the right thread, and the children
 * run at the same time (natively and greened alike: greened, the waits are green). */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define SPAWNERS 10
#define SYSTEMS 5

static int status_seen[SPAWNERS + SYSTEMS];

static void *spawner(void *arg) {
    int id = (int)(intptr_t)arg;
    char script[64];
    snprintf(script, sizeof script, "sleep 0.2; exit %d", id);
    char *argv[] = {"sh", "-c", script, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "sh", NULL, NULL, argv, environ);
    if (rc != 0) {
        errno = rc;
        DIE("posix_spawnp");
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) DIE("waitpid");
    status_seen[id] = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return NULL;
}

static void *systemer(void *arg) {
    int id = (int)(intptr_t)arg;
    char script[64];
    snprintf(script, sizeof script, "sleep 0.2; exit %d", id);
    int status = system(script);
    status_seen[id] = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return NULL;
}

int main(void) {
    pthread_t t[SPAWNERS + SYSTEMS];
    ticker_start(10000);
    double t0 = mono_now();
    for (int i = 0; i < SPAWNERS + SYSTEMS; i++)
        if (pthread_create(&t[i], NULL, i < SPAWNERS ? spawner : systemer, (void *)(intptr_t)i) != 0)
            DIE("pthread_create");
    for (int i = 0; i < SPAWNERS + SYSTEMS; i++) pthread_join(t[i], NULL);
    double elapsed = mono_now() - t0;
    int ticks = ticker_ticks();
    ticker_stop();
    int right = 0;
    for (int i = 0; i < SPAWNERS + SYSTEMS; i++) right += status_seen[i] == i;
    /* 15 children of 200 ms one after another would take 3 s. */
    printf("exit statuses right: %d of %d, overlapped: %s, ticker ran: %s\n", right, SPAWNERS + SYSTEMS,
           elapsed < 2.0 ? "yes" : "no", ticks >= 10 ? "yes" : "no");
    return 0;
}
