/* syscall() with the number of a blocking call: each waits about 100 ms in the main thread
 * while a ticker thread counts. Greened, the call must park only its green thread (the
 * ticker goes on); natively the ticker is a thread of its own and ticks too, so the
 * outputs are the same. Every line: the call's result (or errno name), and whether the
 * ticker ticked meanwhile.
 *
 *   syscall_green */
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

static int ticks_at_start;

static void begin(void) { ticks_at_start = ticker_ticks(); }

static void report(const char *name, long rc) {
    int e = errno;
    int ticked = ticker_ticks() - ticks_at_start;
    printf("%s rc=%ld %s ticked=%s\n", name, rc, rc < 0 ? errno_name(e) : "", ticked >= 15 ? "yes" : "no");
    errno = 0;
}

static int pipe_fds[2];

static void *write_later(void *arg) {
    usleep(100000);
    if (write(pipe_fds[1], arg, strlen(arg)) < 0) DIE("write");
    return NULL;
}

static pthread_t main_thread;
static void on_usr1(int sig) { (void)sig; }

static void *poke_main(void *arg) {
    (void)arg;
    usleep(100000);
    pthread_kill(main_thread, SIGUSR1);
    return NULL;
}

static void io_calls(void) {
    char buf[64];
    pthread_t t;
    if (pipe(pipe_fds) != 0) DIE("pipe");
    pthread_create(&t, NULL, write_later, "hello");
    begin();
    report("read", syscall(SYS_read, pipe_fds[0], buf, sizeof buf));
    pthread_join(t, NULL);
    pthread_create(&t, NULL, write_later, "vector");
    struct iovec iov = {buf, sizeof buf};
    begin();
    report("readv", syscall(SYS_readv, pipe_fds[0], &iov, 1));
    pthread_join(t, NULL);
    struct pollfd p = {.fd = pipe_fds[0], .events = POLLIN};
    begin();
    report("poll_timeout", syscall(SYS_poll, &p, 1, 100));
    struct timespec ts = {0, 100000000};
    begin();
    report("ppoll_timeout", syscall(SYS_ppoll, &p, 1, &ts, NULL, 8));
    fd_set set;
    FD_ZERO(&set);
    FD_SET(pipe_fds[0], &set);
    struct timeval tv = {0, 100000};
    begin();
    report("select_timeout", syscall(SYS_select, pipe_fds[0] + 1, &set, NULL, NULL, &tv));
    FD_SET(pipe_fds[0], &set);
    ts.tv_nsec = 100000000;
    begin();
    report("pselect6_timeout", syscall(SYS_pselect6, pipe_fds[0] + 1, &set, NULL, NULL, &ts, NULL));
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = pipe_fds[0]}, out;
    epoll_ctl(ep, EPOLL_CTL_ADD, pipe_fds[0], &ev);
    begin();
    report("epoll_wait_timeout", syscall(SYS_epoll_wait, ep, &out, 1, 100));
    pthread_create(&t, NULL, write_later, "x");
    begin();
    report("epoll_pwait_ready", syscall(SYS_epoll_pwait, ep, &out, 1, 5000, NULL, 8));
    pthread_join(t, NULL);
    report("read_rest", syscall(SYS_read, pipe_fds[0], buf, sizeof buf));
    close(ep);
    report("read_badfd", syscall(SYS_read, 9999, buf, 1));
    report("write", syscall(SYS_write, pipe_fds[1], "ab", 2));
    iov.iov_len = 2;
    report("writev", syscall(SYS_writev, pipe_fds[1], &iov, 1));
}

static void sleeps(void) {
    struct timespec ts = {0, 100000000};
    begin();
    report("nanosleep", syscall(SYS_nanosleep, &ts, NULL));
    begin();
    report("clock_nanosleep", syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, NULL));
    report("clock_nanosleep_thread_clock", syscall(SYS_clock_nanosleep, CLOCK_THREAD_CPUTIME_ID, 0, &ts, NULL));
    ts.tv_nsec = 2000000000L;
    report("nanosleep_bad", syscall(SYS_nanosleep, &ts, NULL));
    main_thread = pthread_self();
    struct sigaction sa = {.sa_handler = on_usr1};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t t;
    pthread_create(&t, NULL, poke_main, NULL);
    begin();
    report("pause", syscall(SYS_pause));
    pthread_join(t, NULL);
}

static void children(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        usleep(100000);
        _exit(7);
    }
    int status = 0;
    begin();
    long rc = syscall(SYS_wait4, pid, &status, 0, NULL);
    report("wait4", rc == pid ? 0 : rc);
    printf("wait4 status=%d\n", WEXITSTATUS(status));
    pid = fork();
    if (pid == 0) {
        usleep(100000);
        _exit(9);
    }
    siginfo_t info;
    memset(&info, 0, sizeof info);
    begin();
    report("waitid", syscall(SYS_waitid, P_PID, pid, &info, WEXITED, NULL));
    printf("waitid status=%d same_pid=%d\n", info.si_status, info.si_pid == pid);
}

static struct sockaddr_in listen_addr;

static void *connect_later(void *arg) {
    (void)arg;
    usleep(100000);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    long rc = syscall(SYS_connect, s, &listen_addr, sizeof listen_addr);
    if (rc != 0) DIE("connect");
    usleep(100000);
    if (syscall(SYS_sendto, s, "ping", 4, 0, NULL, 0) != 4) DIE("sendto");
    usleep(100000);
    struct iovec iov = {"message", 7};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (syscall(SYS_sendmsg, s, &msg, 0) != 7) DIE("sendmsg");
    usleep(50000);
    close(s);
    return NULL;
}

static void sockets(void) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    listen_addr.sin_family = AF_INET;
    listen_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof listen_addr;
    if (bind(l, (struct sockaddr *)&listen_addr, len) != 0 || listen(l, 4) != 0) DIE("listen");
    getsockname(l, (struct sockaddr *)&listen_addr, &len);
    pthread_t t;
    pthread_create(&t, NULL, connect_later, NULL);
    begin();
    long c = syscall(SYS_accept4, l, NULL, NULL, SOCK_CLOEXEC);
    report("accept4", c >= 0 ? 0 : c);
    char buf[16];
    begin();
    report("recvfrom", syscall(SYS_recvfrom, c, buf, sizeof buf, 0, NULL, NULL));
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    begin();
    report("recvmsg", syscall(SYS_recvmsg, c, &msg, 0));
    begin();
    report("recvfrom_eof", syscall(SYS_recvfrom, c, buf, sizeof buf, 0, NULL, NULL));
    pthread_join(t, NULL);
    close((int)c);
    report("accept_badfd", syscall(SYS_accept, 9999, NULL, NULL));
    close(l);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    ticker_start(2000);
    io_calls();
    sleeps();
    children();
    sockets();
    ticker_stop();
    printf("done\n");
    return 0;
}
