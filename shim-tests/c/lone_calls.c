/* A single-threaded process's blocking calls, each ended by another process, a timeout or
 * a handler: poll, select and epoll_wait woken by a child's write, epoll_wait timing out,
 * poll cut short by a handler installed with SA_RESTART (poll is never restarted), a read
 * on a socket the runtime did not make that times out by its SO_RCVTIMEO, and an eventfd
 * hand-off with a child, a thousand round trips with every value checked, a read too short
 * for an eventfd right after one that waited (EINVAL at once, no wait), then an eventfd
 * read a handler interrupts, without and with SA_RESTART. The output is the same natively
 * and greened; greened, none of these waits needs the hub (GREEN_STATS). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t handled;

static void on_alarm(int sig) { (void)sig; handled++; }

static void handler(int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = flags;
    sigaction(SIGALRM, &sa, NULL);
    handled = 0;
    struct itimerval it = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

/* A child that writes one byte to `fd` after 30 ms. */
static pid_t write_later(int fd, char c) {
    pid_t child = fork();
    if (child == 0) {
        usleep(30000);
        _exit(write(fd, &c, 1) == 1 ? 0 : 1);
    }
    return child;
}

static void reap(pid_t child) {
    int status;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) printf("child failed\n");
}

static void result(const char *name, int ret) {
    if (ret < 0) printf("%s ret=-1 errno=%s handled=%d\n", name, strerror(errno), (int)handled);
    else printf("%s ret=%d handled=%d\n", name, ret, (int)handled);
}

static void waits_on_pipe(void) {
    int p[2];
    char c;
    if (pipe(p) != 0) return;
    pid_t child = write_later(p[1], 'a');
    struct pollfd pfd = {p[0], POLLIN, 0};
    int ret = poll(&pfd, 1, 5000);
    printf("poll_woken ret=%d revents=%#x\n", ret, pfd.revents);
    reap(child);
    if (read(p[0], &c, 1) != 1) printf("read failed\n");

    child = write_later(p[1], 'b');
    fd_set set;
    FD_ZERO(&set);
    FD_SET(p[0], &set);
    struct timeval tv = {5, 0};
    ret = select(p[0] + 1, &set, NULL, NULL, &tv);
    printf("select_woken ret=%d isset=%d\n", ret, FD_ISSET(p[0], &set) != 0);
    reap(child);
    if (read(p[0], &c, 1) != 1) printf("read failed\n");

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 42};
    epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
    child = write_later(p[1], 'c');
    struct epoll_event got;
    ret = epoll_wait(ep, &got, 1, 5000);
    printf("epoll_woken ret=%d data=%llu\n", ret, (unsigned long long)got.data.u64);
    reap(child);
    if (read(p[0], &c, 1) != 1) printf("read failed\n");
    result("epoll_timeout", epoll_wait(ep, &got, 1, 50));

    handler(SA_RESTART);
    pfd.revents = 0;
    result("poll_interrupted", poll(&pfd, 1, -1));
    close(ep);
    close(p[0]);
    close(p[1]);
}

static void socket_timeout(void) {
    int sv[2];
    /* Made by the kernel's call, as an inherited socket would be: not the runtime's. */
    if (syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, sv) != 0) return;
    struct timeval tv = {0, 50000};
    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char c;
    handled = 0;
    result("socket_timeout", (int)read(sv[0], &c, 1));
    close(sv[0]);
    close(sv[1]);
}

static void eventfd_hand_off(void) {
    /* Close-on-exec: a fork keeps them as they are in both processes. */
    int to_child = eventfd(0, EFD_CLOEXEC), to_parent = eventfd(0, EFD_CLOEXEC);
    enum { ROUNDS = 1000 };
    pid_t child = fork();
    if (child == 0) {
        for (int i = 1; i <= ROUNDS; i++) {
            uint64_t v;
            if (read(to_child, &v, 8) != 8 || v != (uint64_t)i) _exit(1);
            v *= 3;
            if (write(to_parent, &v, 8) != 8) _exit(1);
        }
        usleep(200000);
        uint64_t late = 7;
        _exit(write(to_parent, &late, 8) == 8 ? 0 : 1);
    }
    int good = 0;
    for (int i = 1; i <= ROUNDS; i++) {
        uint64_t v = (uint64_t)i;
        if (write(to_child, &v, 8) != 8) break;
        if (read(to_parent, &v, 8) != 8) break;
        good += v == (uint64_t)i * 3;
    }
    printf("eventfd_rounds good=%d of %d\n", good, ROUNDS);
    /* Right after a read that had to wait: a read of fewer than 8 bytes fails at once. */
    uint64_t small = 0;
    result("eventfd_short_read", (int)read(to_parent, &small, 7));

    uint64_t v = 0;
    handler(0);
    result("eventfd_no_restart", (int)read(to_parent, &v, 8));
    handler(SA_RESTART);
    int ret = (int)read(to_parent, &v, 8);
    printf("eventfd_restart ret=%d value=%llu handled=%d\n", ret, (unsigned long long)v, (int)handled);
    reap(child);
    close(to_child);
    close(to_parent);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    waits_on_pipe();
    socket_timeout();
    eventfd_hand_off();
    return 0;
}
