/* A close-on-exec pipe, made by the program, that a forked child makes inheritable and
 * keeps across an exec (as Python's multiprocessing hands pipes to the processes it
 * spawns): the pipe's O_NONBLOCK may be given back by then. The parent then reads it in one
 * thread while another writes it 200 ms later and a ticker runs.
 *
 * Prints what the read returned and whether the ticker ticked while it waited. */
#define _GNU_SOURCE
#include "common.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

static int data[2];

static void *writer(void *arg) {
    (void)arg;
    usleep(200000);
    if (write(data[1], "x", 1) != 1) DIE("write");
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int exec_sync[2];
    if (pipe2(data, O_CLOEXEC) != 0 || pipe2(exec_sync, O_CLOEXEC) != 0) DIE("pipe2");
    pid_t child = fork();
    if (child < 0) DIE("fork");
    if (child == 0) {
        fcntl(data[0], F_SETFD, 0);
        char *args[] = {"sleep", "30", NULL};
        execvp("sleep", args);
        _exit(127);
    }
    close(exec_sync[1]);
    char byte;
    /* End of file once the child's exec closed its copy of the write end. */
    if (read(exec_sync[0], &byte, 1) != 0) DIE("exec sync");
    ticker_start(10000);
    pthread_t t;
    if (pthread_create(&t, NULL, writer, NULL) != 0) DIE("pthread_create");
    int before = ticker_ticks();
    ssize_t n = read(data[0], &byte, 1);
    int ticked = ticker_ticks() - before;
    pthread_join(t, NULL);
    ticker_stop();
    printf("read %zd '%c', ticked while waiting: %s\n", n, n == 1 ? byte : '?', ticked >= 5 ? "yes" : "no");
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return 0;
}
