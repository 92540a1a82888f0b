/* Close-on-exec descriptions the program made blocking, shared by fork: an eventfd, a pipe
 * and a socket pair. A description has one O_NONBLOCK bit for every process holding it,
 * so each side must find them blocking, as the program made them (the kernel's own record,
 * /proc/self/fdinfo, is read, not fcntl's view, which a shim could fake). Then each side,
 * with one thread, makes blocking calls on them that must wait (the child reads the pipe
 * and the socket before the parent writes them, 100 ms later; the parent reads the
 * eventfd before the child writes it), and the parent, with a second thread and a ticker,
 * makes a blocking read on the eventfd that must wait while the ticker ticks.
 *
 * Prints each side's findings in a fixed order. */
#define _GNU_SOURCE
#include "common.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

static int counter, data[2], pair[2];

static const char *kernel_mode(int fd) { return kernel_nonblocking(fd) ? "non-blocking" : "blocking"; }

static void report(const char *side) {
    const char *modes[3] = {kernel_mode(counter), kernel_mode(data[0]), kernel_mode(pair[0])};
    printf("%s: eventfd %s, pipe %s, socket %s\n", side, modes[0], modes[1], modes[2]);
}

static void *poster(void *arg) {
    (void)arg;
    usleep(200000);
    uint64_t one = 1;
    if (write(counter, &one, sizeof one) != sizeof one) DIE("eventfd write");
    return NULL;
}

static void child(void) {
    report("child");
    char byte = 0, word = 0;
    ssize_t got = read(data[0], &byte, 1);
    ssize_t received = recv(pair[1], &word, 1, 0);
    printf("child: pipe read %zd '%c', socket recv %zd '%c'\n", got, byte, received, word);
    usleep(100000);
    uint64_t one = 1;
    if (write(counter, &one, sizeof one) != sizeof one) DIE("eventfd write");
    _exit(0);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    counter = eventfd(0, EFD_CLOEXEC);
    if (counter < 0 || pipe2(data, O_CLOEXEC) != 0) DIE("eventfd/pipe2");
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) DIE("socketpair");
    pid_t pid = fork();
    if (pid < 0) DIE("fork");
    if (pid == 0) child();
    usleep(100000);
    if (write(data[1], "p", 1) != 1 || send(pair[0], "s", 1, 0) != 1) DIE("write");
    uint64_t value = 0;
    ssize_t got = read(counter, &value, sizeof value);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) DIE("waitpid");
    printf("parent: eventfd read %zd = %llu, child status %d\n", got, (unsigned long long)value, status);
    report("parent");

    ticker_start(10000);
    pthread_t t;
    if (pthread_create(&t, NULL, poster, NULL) != 0) DIE("pthread_create");
    int before = ticker_ticks();
    got = read(counter, &value, sizeof value);
    int ticked = ticker_ticks() - before;
    pthread_join(t, NULL);
    ticker_stop();
    printf("parent: eventfd read %zd = %llu, ticked while waiting: %s\n", got, (unsigned long long)value,
           ticked >= 5 ? "yes" : "no");
    return 0;
}
