/* A single-threaded program that blocks SIGURG and reads it from a signalfd, as PostgreSQL's
 * backends wake each other (kill(pid, SIGURG), a latch's signalfd): the signal must wait in
 * the kernel for the signalfd, although it is also the signal of libgreen's preemption tick.
 *
 *   sigurg_signalfd    sends itself SIGURG three times, reading each from the signalfd */
#define _GNU_SOURCE
#include "common.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    sigset_t urg;
    sigemptyset(&urg);
    sigaddset(&urg, SIGURG);
    if (sigprocmask(SIG_BLOCK, &urg, NULL) != 0) DIE("sigprocmask");
    int fd = signalfd(-1, &urg, SFD_CLOEXEC);
    if (fd < 0) DIE("signalfd");
    for (int i = 0; i < 3; i++) {
        if (kill(getpid(), SIGURG) != 0) DIE("kill");
        struct pollfd p = {fd, POLLIN, 0};
        int ready = poll(&p, 1, 5000);
        struct signalfd_siginfo info;
        ssize_t got = ready == 1 ? read(fd, &info, sizeof info) : -1;
        printf("round %d: ready %d, read %zd, %s\n", i, ready, got,
               got == (ssize_t)sizeof info && info.ssi_signo == SIGURG ? "SIGURG" : "nothing");
    }
    return 0;
}
