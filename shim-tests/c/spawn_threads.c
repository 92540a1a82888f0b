/* posix_spawn, system and popen from many threads at once: 10 threads each posix_spawn a
 * shell that sleeps 200 ms and exits with the thread's number, and wait for it; 5 threads
 * do the same with system(), and 6 with popen: three read the command's output and close
 * the stream with pclose, three write to the command (which reads to end of input) and
 * close it with fclose. Every exit status comes back to the right thread, and the children
 * run at the same time (natively and greened alike: greened, the waits are green). */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

/* fclose of a popen stream is one of the two ways glibc closes it: what the test is about. */
#pragma GCC diagnostic ignored "-Wmismatched-dealloc"

extern char **environ;

#define SPAWNERS 10
#define SYSTEMS 5
#define POPENS 6
#define ALL (SPAWNERS + SYSTEMS + POPENS)

static int status_seen[ALL];

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

/* Even ids read the command's output and pclose; odd ids write to it and fclose (glibc's
 * pclose is its fclose, and fclose of a popen stream is a pclose). Both wait for it. */
static void *popener(void *arg) {
    int id = (int)(intptr_t)arg;
    int reads = id % 2 == 0;
    char script[96];
    if (reads)
        snprintf(script, sizeof script, "sleep 0.2; echo %d; exit %d", id, id);
    else
        snprintf(script, sizeof script, "sleep 0.2; cat > /dev/null; exit %d", id);
    FILE *f = popen(script, reads ? "r" : "w");
    if (!f) DIE("popen");
    int status;
    if (reads) {
        char line[16] = {0};
        if (!fgets(line, sizeof line, f) || atoi(line) != id) DIE("popen output");
        status = pclose(f);
    } else {
        fprintf(f, "input for the command\n");
        status = fclose(f);
    }
    status_seen[id] = status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return NULL;
}

static void *(*role(int i))(void *) {
    return i < SPAWNERS ? spawner : i < SPAWNERS + SYSTEMS ? systemer : popener;
}

int main(void) {
    pthread_t t[ALL];
    ticker_start(10000);
    double t0 = mono_now();
    for (int i = 0; i < ALL; i++)
        if (pthread_create(&t[i], NULL, role(i), (void *)(intptr_t)i) != 0) DIE("pthread_create");
    for (int i = 0; i < ALL; i++) pthread_join(t[i], NULL);
    double elapsed = mono_now() - t0;
    int ticks = ticker_ticks();
    ticker_stop();
    int right = 0;
    for (int i = 0; i < ALL; i++) right += status_seen[i] == i;
    /* 21 children of 200 ms one after another would take over 4 s. */
    printf("exit statuses right: %d of %d, overlapped: %s, ticker ran: %s\n", right, ALL,
           elapsed < 2.0 ? "yes" : "no", ticks >= 10 ? "yes" : "no");
    return 0;
}
