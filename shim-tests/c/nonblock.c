/* What a program sees of O_NONBLOCK, and what it gets from nonblocking descriptors.
 *
 *   nonblock flags
 *     One line per check. The file status flags of every descriptor are printed in full
 *     (F_GETFL), so a runtime that keeps descriptors nonblocking behind the program's back
 *     shows up as a difference from the native output. Descriptors the program made
 *     nonblocking must fail with EAGAIN/EINPROGRESS at once, and descriptors it did not
 *     (or made blocking again) must block until the peer acts.
 *
 *   nonblock stdin
 *     A thread reads all of stdin with blocking read() while another thread ticks every
 *     50 ms. Prints stdin_nonblock_seen=<0|1> (O_NONBLOCK on fd 0 as seen by the program,
 *     before and during the reads), stdin_bytes=<total>, ticks=<n>, run_ms=<ms>.
 *     The file description behind stdin is shared with whoever started us: the test checks
 *     from its side that it never gains O_NONBLOCK. */
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define HELPER_DELAY_US 100000
#define AT_ONCE_LIMIT_S 1.0  /* a call that "fails at once" must not wait anywhere near this */

static int get_flags(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) DIE("fcntl(F_GETFL) on %d", fd);
    return fl;
}

static void set_nonblock(int fd, int on) {
    int fl = get_flags(fd);
    if (fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) != 0) DIE("fcntl(F_SETFL)");
}

static void show_flags(const char *name, int fd) {
    int fl = get_flags(fd);
    printf("%s flags=0x%x nonblock=%d\n", name, (unsigned)fl, (fl & O_NONBLOCK) != 0);
    fflush(stdout);
}

/* Prints the outcome of a call expected to fail immediately on a nonblocking descriptor. */
static void show_result(const char *name, long ret, int err, double started) {
    printf("%s ret=%ld errno=%s at_once=%d\n", name, ret, errno_name(ret < 0 ? err : 0),
           mono_now() - started < AT_ONCE_LIMIT_S);
    fflush(stdout);
}

struct delayed_write {
    int fd;
};

static void *write_later(void *arg) {
    struct delayed_write *d = arg;
    if (usleep(HELPER_DELAY_US) != 0) DIE("usleep");
    if (write(d->fd, "x", 1) != 1) DIE("delayed write");
    return NULL;
}

/* A blocking read on rfd while a thread writes one byte to wfd after 100 ms: the read must
 * wait for it (waited=1) and then return that byte (ret=1). */
static void show_blocking_read(const char *name, int rfd, int wfd) {
    struct delayed_write d = {.fd = wfd};
    pthread_t tid;
    double started = mono_now();
    int rc = pthread_create(&tid, NULL, write_later, &d);
    if (rc != 0) { errno = rc; DIE("pthread_create"); }
    char c;
    ssize_t n = read(rfd, &c, 1);
    int err = errno;
    double waited = mono_now() - started;
    if ((rc = pthread_join(tid, NULL)) != 0) { errno = rc; DIE("pthread_join"); }
    printf("%s ret=%zd errno=%s waited=%d\n", name, n, errno_name(n < 0 ? err : 0),
           waited >= 0.9 * HELPER_DELAY_US / 1e6);
    fflush(stdout);
}

struct delayed_connect {
    struct sockaddr_in addr;
    int fd;
};

static void *connect_later(void *arg) {
    struct delayed_connect *d = arg;
    if (usleep(HELPER_DELAY_US) != 0) DIE("usleep");
    d->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (d->fd < 0) DIE("socket");
    if (connect(d->fd, (struct sockaddr *)&d->addr, sizeof d->addr) != 0) DIE("delayed connect");
    return NULL;
}

static void wait_ready(int fd, short events) {
    struct pollfd p = {.fd = fd, .events = events};
    int ret = poll(&p, 1, 10000);
    if (ret != 1) DIE("poll for readiness returned %d", ret);
}

static void check_socketpairs(void) {
    int sv[2];
    char buf[64 * 1024];
    double t;
    long ret;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) DIE("socketpair");
    show_flags("socketpair_0", sv[0]);
    show_flags("socketpair_1", sv[1]);
    show_blocking_read("socketpair_blocking_read", sv[0], sv[1]);

    set_nonblock(sv[0], 1);
    show_flags("socketpair_fcntl_set", sv[0]);
    show_flags("socketpair_other_end_untouched", sv[1]);
    t = mono_now();
    ret = read(sv[0], buf, sizeof buf);
    show_result("read_nonblock_empty", ret, errno, t);
    t = mono_now();
    ret = recv(sv[0], buf, sizeof buf, 0);
    show_result("recv_nonblock_empty", ret, errno, t);
    /* Fill the peer's receive buffer: the nonblocking write must end in EAGAIN, not wait. */
    memset(buf, 'w', sizeof buf);
    t = mono_now();
    long written = 0;
    for (;;) {
        ret = write(sv[0], buf, sizeof buf);
        if (ret < 0) break;
        written += ret;
    }
    int err = errno;
    char name[64];
    snprintf(name, sizeof name, "write_nonblock_until_full wrote_some=%d", written > 0);
    show_result(name, ret, err, t);

    /* A dup shares the file description, and so its status flags, both ways. */
    int dupfd = dup(sv[0]);
    if (dupfd < 0) DIE("dup");
    show_flags("dup_of_nonblocking", dupfd);
    set_nonblock(dupfd, 0);
    show_flags("original_after_dup_cleared", sv[0]);
    close(dupfd);

    set_nonblock(sv[0], 0);
    show_flags("socketpair_fcntl_cleared", sv[0]);
    /* Blocking again: the read has to wait for the peer (sv[0]'s own receive queue is empty;
     * the data written above sits in sv[1]'s). */
    show_blocking_read("read_after_clear", sv[0], sv[1]);
    close(sv[0]);
    close(sv[1]);

    /* ioctl(FIONBIO) sets the same file status flag as fcntl. */
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) DIE("socketpair");
    int on = 1;
    if (ioctl(sv[0], FIONBIO, &on) != 0) DIE("ioctl(FIONBIO, 1)");
    show_flags("socketpair_fionbio_set", sv[0]);
    t = mono_now();
    ret = read(sv[0], buf, sizeof buf);
    show_result("read_fionbio_empty", ret, errno, t);
    on = 0;
    if (ioctl(sv[0], FIONBIO, &on) != 0) DIE("ioctl(FIONBIO, 0)");
    show_flags("socketpair_fionbio_cleared", sv[0]);
    show_blocking_read("read_after_fionbio_clear", sv[0], sv[1]);
    close(sv[0]);
    close(sv[1]);

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) DIE("socketpair");
    show_flags("socketpair_sock_nonblock_0", sv[0]);
    show_flags("socketpair_sock_nonblock_1", sv[1]);
    t = mono_now();
    ret = read(sv[1], buf, sizeof buf);
    show_result("read_sock_nonblock_empty", ret, errno, t);
    close(sv[0]);
    close(sv[1]);
}

static void check_pipes(void) {
    int pfd[2];
    char c;
    double t;
    long ret;

    if (pipe(pfd) != 0) DIE("pipe");
    show_flags("pipe_read_end", pfd[0]);
    show_flags("pipe_write_end", pfd[1]);
    show_blocking_read("pipe_blocking_read", pfd[0], pfd[1]);
    set_nonblock(pfd[0], 1);
    show_flags("pipe_read_end_fcntl_set", pfd[0]);
    t = mono_now();
    ret = read(pfd[0], &c, 1);
    show_result("pipe_read_nonblock_empty", ret, errno, t);
    set_nonblock(pfd[0], 0);
    show_flags("pipe_read_end_fcntl_cleared", pfd[0]);
    close(pfd[0]);
    close(pfd[1]);

    if (pipe2(pfd, O_NONBLOCK) != 0) DIE("pipe2");
    show_flags("pipe2_nonblock_read_end", pfd[0]);
    show_flags("pipe2_nonblock_write_end", pfd[1]);
    close(pfd[0]);
    close(pfd[1]);
}

static void check_tcp(void) {
    double t;
    long ret;

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0) DIE("socket");
    show_flags("tcp_socket_default", lfd);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((unsigned short)listen_on_loopback(lfd, 0, 16));

    set_nonblock(lfd, 1);
    show_flags("tcp_listener_fcntl_set", lfd);
    t = mono_now();
    ret = accept(lfd, NULL, NULL);
    show_result("accept_nonblock_no_client", ret, errno, t);

    /* Nonblocking connect: EINPROGRESS, then writable with SO_ERROR 0 once established. */
    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (cfd < 0) DIE("socket");
    show_flags("tcp_socket_sock_nonblock", cfd);
    t = mono_now();
    ret = connect(cfd, (struct sockaddr *)&addr, sizeof addr);
    show_result("connect_nonblock", ret, errno, t);
    wait_ready(cfd, POLLOUT);
    int so_error = -1;
    socklen_t len = sizeof so_error;
    if (getsockopt(cfd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) DIE("getsockopt");
    printf("connect_nonblock_completed so_error=%s\n", errno_name(so_error));

    /* Accepted sockets do not inherit O_NONBLOCK from the listener on Linux. */
    wait_ready(lfd, POLLIN);
    int afd = accept(lfd, NULL, NULL);
    if (afd < 0) DIE("accept");
    show_flags("accepted_from_nonblocking_listener", afd);
    t = mono_now();
    char c;
    ret = read(cfd, &c, 1);
    show_result("read_nonblock_tcp_empty", ret, errno, t);
    show_blocking_read("read_blocking_tcp", afd, cfd);
    close(afd);
    close(cfd);

    /* accept4 with and without SOCK_NONBLOCK; the clients use plain blocking connect. */
    int c1 = socket(AF_INET, SOCK_STREAM, 0), c2 = socket(AF_INET, SOCK_STREAM, 0);
    if (c1 < 0 || c2 < 0) DIE("socket");
    if (connect(c1, (struct sockaddr *)&addr, sizeof addr) != 0) DIE("connect");
    show_flags("tcp_client_blocking_connected", c1);
    wait_ready(lfd, POLLIN);
    int a1 = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    if (a1 < 0) DIE("accept4(SOCK_NONBLOCK)");
    show_flags("accept4_sock_nonblock", a1);
    t = mono_now();
    ret = recv(a1, &c, 1, 0);
    show_result("recv_accept4_nonblock_empty", ret, errno, t);

    if (connect(c2, (struct sockaddr *)&addr, sizeof addr) != 0) DIE("connect");
    wait_ready(lfd, POLLIN);
    int a2 = accept4(lfd, NULL, NULL, 0);
    if (a2 < 0) DIE("accept4(0)");
    show_flags("accept4_no_flags", a2);

    /* Back to a blocking listener: accept waits for a client that connects 100 ms later. */
    set_nonblock(lfd, 0);
    show_flags("tcp_listener_fcntl_cleared", lfd);
    struct delayed_connect dc = {.addr = addr, .fd = -1};
    pthread_t tid;
    t = mono_now();
    int rc = pthread_create(&tid, NULL, connect_later, &dc);
    if (rc != 0) { errno = rc; DIE("pthread_create"); }
    int a3 = accept(lfd, NULL, NULL);
    int err = errno;
    double waited = mono_now() - t;
    if ((rc = pthread_join(tid, NULL)) != 0) { errno = rc; DIE("pthread_join"); }
    printf("accept_blocking_listener ok=%d errno=%s waited=%d\n", a3 >= 0,
           errno_name(a3 < 0 ? err : 0), waited >= 0.9 * HELPER_DELAY_US / 1e6);
    if (a3 >= 0) show_flags("accepted_from_blocking_listener", a3);
    close(a3);
    close(dc.fd);
    close(a1);
    close(a2);
    close(c1);
    close(c2);
    close(lfd);
}

static atomic_int stop_ticking;
static int ticks;

static void *ticker(void *arg) {
    (void)arg;
    while (!atomic_load(&stop_ticking)) {
        if (usleep(50000) != 0) DIE("usleep");
        ticks++;
    }
    return NULL;
}

struct stdin_result {
    unsigned long long bytes;
    int nonblock_seen;
};

static void *read_stdin(void *arg) {
    struct stdin_result *r = arg;
    char buf[4096];
    for (;;) {
        if (get_flags(0) & O_NONBLOCK) r->nonblock_seen = 1;
        ssize_t n = read(0, buf, sizeof buf);
        if (n < 0) DIE("read(stdin) after %llu bytes", r->bytes);
        if (n == 0) break;
        r->bytes += (unsigned long long)n;
    }
    return NULL;
}

static int check_stdin(void) {
    double start = mono_now();
    struct stdin_result r = {0, 0};
    pthread_t reader, tick;
    int rc = pthread_create(&tick, NULL, ticker, NULL);
    if (rc != 0) { errno = rc; DIE("pthread_create"); }
    rc = pthread_create(&reader, NULL, read_stdin, &r);
    if (rc != 0) { errno = rc; DIE("pthread_create"); }
    if ((rc = pthread_join(reader, NULL)) != 0) { errno = rc; DIE("pthread_join"); }
    atomic_store(&stop_ticking, 1);
    if ((rc = pthread_join(tick, NULL)) != 0) { errno = rc; DIE("pthread_join"); }
    printf("stdin_nonblock_seen=%d\n", r.nonblock_seen);
    printf("stdin_bytes=%llu\n", r.bytes);
    printf("ticks=%d\n", ticks);
    printf("run_ms=%ld\n", (long)((mono_now() - start) * 1000));
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "flags") == 0) {
        check_socketpairs();
        check_pipes();
        check_tcp();
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "stdin") == 0) return check_stdin();
    fprintf(stderr, "usage: nonblock flags|stdin\n");
    return 2;
}
