/* Forked workers reading tokens from one blocking pipe they inherited (made here by a raw
 * system call, as a shell or a job server's pipe would be): each worker has a thread
 * reading one byte at a time and its main thread waiting on a control pipe. Every token
 * wakes every reader; one gets it. A worker whose reader lost the race must still answer
 * its control pipe.
 *
 *   shared_pipe WORKERS TOKENS
 *
 * Prints "read <n>", the tokens the workers read in all, and "exited <n>", the workers that
 * ended within 20 s of being told to. */
#define _GNU_SOURCE
#include "common.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int tokens[2], results[2];
static atomic_int got;

static void *reader(void *arg) {
    (void)arg;
    for (;;) {
        char token;
        ssize_t n = read(tokens[0], &token, 1);
        if (n == 1) {
            atomic_fetch_add(&got, 1);
        } else if (n < 0 && errno != EINTR) {
            DIE("read token");
        }
    }
    return NULL;
}

static void worker(int control) {
    /* The reader stays in read; the process ends here. */
    start_and_wait(control, reader);
    int count = atomic_load(&got);
    if (write(results[1], &count, sizeof count) != sizeof count) DIE("write result");
    _exit(0);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int workers = argc > 1 ? atoi(argv[1]) : 8, count = argc > 2 ? atoi(argv[2]) : 300;
    if (syscall(SYS_pipe2, tokens, 0) != 0 || pipe(results) != 0) DIE("pipe");
    pid_t pids[64];
    int controls[64];
    fork_workers(workers, worker, pids, controls);
    for (int i = 0; i < count; i++) {
        if (write(tokens[1], "t", 1) != 1) DIE("write token");
    }
    /* Every token taken before the workers are told to end. */
    for (int tries = 0; tries < 2000; tries++) {
        int queued = 0;
        if (ioctl(tokens[0], FIONREAD, &queued) == 0 && queued == 0) break;
        usleep(10000);
    }
    int exited = end_workers(workers, pids, controls, 20), total = 0;
    /* Every worker that exited with status 0 wrote its count first. */
    for (int i = 0; i < exited; i++) {
        int one;
        if (read(results[0], &one, sizeof one) != sizeof one) DIE("read result");
        total += one;
    }
    printf("read %d\nexited %d\n", total, exited);
    return 0;
}
