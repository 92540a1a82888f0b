/* fork from a thread while many others are blocked in reads.
 *
 *   fork_green thread|main
 *
 * 100 reader threads block on socketpairs. Then fork is called from a thread ("thread") or
 * from main ("main"). The child, whose only thread is the caller (POSIX), starts 5 threads
 * that each sleep 100 ms concurrently and report through a pipe, and exits 0. The parent's
 * readers must still get their data afterwards, every byte of it. */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define READERS 100
#define CHILD_THREADS 5

static int pairs[READERS][2];
static int child_pipe[2];

static void *reader(void *arg) {
    long i = (long)arg;
    char buf[64];
    ssize_t n = read(pairs[i][0], buf, sizeof buf);
    return (void *)(long)(n == 8 && memcmp(buf, "payload!", 8) == 0);
}

static void *child_sleeper(void *arg) {
    usleep(100 * 1000);
    char byte = (char)('a' + (long)arg);
    if (write(child_pipe[1], &byte, 1) != 1) _exit(3);
    return NULL;
}

/* The child's whole life. */
static void run_child(void) {
    double start = mono_now();
    pthread_t threads[CHILD_THREADS];
    for (long i = 0; i < CHILD_THREADS; i++) pthread_create(&threads[i], NULL, child_sleeper, (void *)i);
    int during = os_thread_count();
    for (int i = 0; i < CHILD_THREADS; i++) pthread_join(threads[i], NULL);
    char got[CHILD_THREADS];
    ssize_t n = read(child_pipe[0], got, sizeof got);
    double elapsed = mono_now() - start;
    printf("child: sleepers=%zd concurrent=%d threads_during=%d\n", n, elapsed < 0.45, during);
    fflush(stdout);
}

static pid_t do_fork(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) DIE("fork");
    if (pid == 0) {
        run_child();
        _exit(0);
    }
    return pid;
}

static void *forker(void *arg) {
    (void)arg;
    return (void *)(long)do_fork();
}

int main(int argc, char **argv) {
    if (argc != 2) DIE("usage: fork_green thread|main");
    if (pipe(child_pipe) != 0) DIE("pipe");
    pthread_t readers[READERS];
    for (long i = 0; i < READERS; i++) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, pairs[i]) != 0) DIE("socketpair");
        pthread_create(&readers[i], NULL, reader, (void *)i);
    }
    usleep(50 * 1000); /* every reader is blocked now */
    pid_t pid;
    if (strcmp(argv[1], "thread") == 0) {
        pthread_t t;
        void *result;
        pthread_create(&t, NULL, forker, NULL);
        pthread_join(t, &result);
        pid = (pid_t)(long)result;
    } else {
        pid = do_fork();
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) DIE("waitpid");
    for (int i = 0; i < READERS; i++)
        if (write(pairs[i][1], "payload!", 8) != 8) DIE("write");
    int ok = 0;
    for (int i = 0; i < READERS; i++) {
        void *result;
        pthread_join(readers[i], &result);
        ok += (int)(long)result;
    }
    printf("parent: child_exit=%d readers_ok=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1, ok);
    return 0;
}
