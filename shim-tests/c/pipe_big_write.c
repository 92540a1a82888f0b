/* A 4 MiB write() to a blocking pipe whose flags are not libgreen's to change (after a
 * fork, every inheritable description is handed back to blocking mode), with a slow reader
 * thread on the other end and a ticker thread: every byte arrives in order, write returns
 * the full count, and the ticker kept running (greened, a write that waited for the whole
 * 4 MiB to fit would hold the OS thread, and the reader could never drain the pipe). */
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#define BYTES (4 << 20)

static int p[2];
static size_t received;
static int in_order = 1;

static void *reader(void *arg) {
    (void)arg;
    unsigned char buf[8192];
    for (;;) {
        ssize_t n = read(p[0], buf, sizeof buf);
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != (unsigned char)((received + (size_t)i) % 253)) in_order = 0;
        received += (size_t)n;
        if (received % (512 << 10) < sizeof buf) usleep(2000);
    }
    return NULL;
}

int main(void) {
    if (pipe(p) != 0) DIE("pipe");
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    waitpid(pid, NULL, 0);
    unsigned char *data = malloc(BYTES);
    for (size_t i = 0; i < BYTES; i++) data[i] = (unsigned char)(i % 253);
    pthread_t rd;
    ticker_start(2000);
    pthread_create(&rd, NULL, reader, NULL);
    int before = ticker_ticks();
    ssize_t n = write(p[1], data, BYTES);
    int ticked = ticker_ticks() - before;
    close(p[1]);
    pthread_join(rd, NULL);
    ticker_stop();
    printf("write returned %zd, received %zu, in order %d, ticker ran %s, O_NONBLOCK %d\n", n, received, in_order,
           ticked >= 3 ? "yes" : "no", (fcntl(p[0], F_GETFL) & O_NONBLOCK) != 0);
    return 0;
}
