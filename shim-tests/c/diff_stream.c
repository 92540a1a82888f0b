/* Differential semantics of stream sockets (AF_UNIX socket pairs and TCP over loopback):
 * partial reads, short and long writes, EOF, resets, EPIPE and SIGPIPE, connect, accept,
 * MSG_WAITALL / MSG_PEEK / MSG_DONTWAIT, the program's view of O_NONBLOCK, dup'd fds,
 * shutdown, socket timeouts, socket options, readv/writev, sendfile and splice.
 *
 *   diff_stream [SCENARIO...]
 *
 * Every scenario prints exactly one line, "name: result...", made only of values that are
 * the same on every native run (return values, errno names, byte counts, flags, and bound
 * checks such as "waited=1" instead of times). test_differential.py runs this natively and
 * greened and compares the lines. Work that blocks runs in threads made with
 * pthread_create (the green ones), some of it on the main thread too. With SCENARIO
 * arguments only those scenarios run (for reproducing one difference by hand). */
#define _GNU_SOURCE
#include "diff_common.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- Sockets */

/* A TCP port nobody listens on: a socket bound to it and kept, not listening. */
static int closed_port(struct sockaddr_in *addr) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) DIE("socket");
    struct sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) DIE("bind");
    if (getsockname(fd, (struct sockaddr *)&a, &len) != 0) DIE("getsockname");
    *addr = a;
    return fd;
}

static int nonblock_view(int fd) {
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : (fl & O_NONBLOCK) != 0;
}

static void set_nonblock(int fd, int on) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) != 0) DIE("fcntl");
}

static void set_timeout(int fd, int which, int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (setsockopt(fd, SOL_SOCKET, which, &tv, sizeof tv) != 0) DIE("setsockopt timeout");
}

/* ---- Patterned streams: every byte depends on its position */

static uint8_t pattern_byte(uint64_t pos) {
    return (uint8_t)((pos * 2654435761u) >> 13);
}

static void fill_pattern(uint8_t *buf, size_t n, uint64_t from) {
    for (size_t i = 0; i < n; i++) buf[i] = pattern_byte(from + i);
}

/* Reads to EOF (or `limit` bytes), checking the pattern; optionally slowly. */
struct sink {
    int fd;
    int pause_us;
    uint64_t limit; /* 0: to EOF */
    uint64_t total;
    int ok;
    int err;
};

static void *sink_reader(void *arg) {
    struct sink *s = arg;
    size_t size = 65536;
    uint8_t *buf = malloc(size);
    if (!buf) DIE("malloc");
    s->ok = 1;
    for (;;) {
        size_t want = size;
        if (s->limit && s->limit - s->total < want) want = (size_t)(s->limit - s->total);
        if (s->limit && want == 0) break;
        ssize_t n = read(s->fd, buf, want);
        if (n < 0) {
            s->err = errno;
            break;
        }
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pattern_byte(s->total + (uint64_t)i)) s->ok = 0;
        s->total += (uint64_t)n;
        if (s->pause_us) usleep((useconds_t)s->pause_us);
    }
    free(buf);
    return NULL;
}

/* ---- SIGPIPE */

static volatile sig_atomic_t sigpipe_hits;

static void on_sigpipe(int sig) {
    (void)sig;
    sigpipe_hits++;
}

static void sigpipe_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigpipe;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART */
    if (sigaction(SIGPIPE, &sa, NULL) != 0) DIE("sigaction");
    sigpipe_hits = 0;
}

static void sigpipe_ignore(void) {
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) DIE("signal");
}

/* =========================================================================== scenarios */

/* ---- Partial reads */

struct rd {
    int fd;
    size_t want;
    int flags;
    int use_recv;
    res_t r;
    char buf[256];
    double t0;
    int waited;
};

static void *reader(void *arg) {
    struct rd *r = arg;
    size_t want = r->want ? r->want : sizeof r->buf;
    r->t0 = mono_now();
    if (r->use_recv)
        r->r = CALL(recv(r->fd, r->buf, want, r->flags));
    else
        r->r = CALL(read(r->fd, r->buf, want));
    return NULL;
}

static const char *data_of(struct rd *r) {
    static char bufs[8][300];
    static int next;
    char *b = bufs[next++ & 7];
    int n = r->r.ret > 0 ? (int)r->r.ret : 0;
    if (n > 200) n = 200;
    snprintf(b, 300, "\"%.*s\"", n, r->buf);
    return b;
}

static void partial_read(const char *name, int fds[2]) {
    if (write(fds[1], "hello", 5) != 5) DIE("write");
    struct rd a = {.fd = fds[0], .want = 100};
    in_thread(reader, &a);
    struct script s = {.steps = {{20, OP_WRITE, fds[1], "abc", 0}}, .n = 1};
    struct rd b = {.fd = fds[0], .want = 100};
    pthread_t st = spawn(run_script, &s), rt = spawn(reader, &b);
    join(rt);
    join(st);
    out(name, " first=%s %s second=%s %s", rs(a.r), data_of(&a), rs(b.r), data_of(&b));
}

static void s_partial_read_unix(const char *name) {
    int sv[2];
    unix_pair(sv);
    partial_read(name, sv);
    close2(sv);
}

static void s_partial_read_tcp(const char *name) {
    int tp[2];
    tcp_pair(tp);
    partial_read(name, tp);
    close2(tp);
}

/* The main thread reads what a thread sends later. */
static void s_partial_read_main(const char *name) {
    int sv[2];
    unix_pair(sv);
    struct script s = {.steps = {{20, OP_WRITE, sv[1], "late", 0}, {0, OP_READ1, sv[1], NULL, 0},
                        {20, OP_WRITE, sv[1], "r", 0}}, .n = 3};
    pthread_t st = spawn(run_script, &s);
    char buf[64];
    res_t a = CALL(read(sv[0], buf, sizeof buf));
    if (write(sv[0], "k", 1) != 1) DIE("write"); /* the second part comes after this */
    res_t b = CALL(read(sv[0], buf + 4, sizeof buf - 4));
    join(st);
    out(name, " first=%s second=%s data=\"%.5s\"", rs(a), rs(b), buf);
    close2(sv);
}

struct zr {
    int fd;
    res_t read, recv_dontwait;
    int quick;
};

/* read(2) of zero bytes returns 0 at once, even on an empty blocking socket; recv(2) of
 * zero bytes would wait for data, so it is asked with MSG_DONTWAIT. */
static void *zero_reads(void *arg) {
    struct zr *z = arg;
    char buf[4];
    double t0 = mono_now();
    z->read = CALL(read(z->fd, buf, 0));
    z->recv_dontwait = CALL(recv(z->fd, buf, 0, MSG_DONTWAIT));
    z->quick = at_once(t0);
    return NULL;
}

static void s_read_zero_length(const char *name) {
    int sv[2], tp[2];
    unix_pair(sv);
    tcp_pair(tp);
    struct zr u = {.fd = sv[0]}, t = {.fd = tp[0]};
    in_thread(zero_reads, &u);
    in_thread(zero_reads, &t);
    out(name, " unix=%s,%s at_once=%d tcp=%s,%s at_once=%d", rs(u.read), rs(u.recv_dontwait),
        u.quick, rs(t.read), rs(t.recv_dontwait), t.quick);
    close2(sv);
    close2(tp);
}

/* ---- Short writes: a non-blocking writer fills the buffer; what the reader later gets is
 * exactly what the writer counted as written. */

struct filler {
    int fd;
    int use_dontwait;
    uint64_t sent;
    int stopped_by; /* errno that ended the fill */
    res_t more;
};

static void *fill(void *arg) {
    struct filler *f = arg;
    uint8_t chunk[4096];
    for (;;) {
        fill_pattern(chunk, sizeof chunk, f->sent);
        ssize_t n = f->use_dontwait ? send(f->fd, chunk, sizeof chunk, MSG_DONTWAIT)
                                    : write(f->fd, chunk, sizeof chunk);
        if (n < 0) {
            f->stopped_by = errno;
            break;
        }
        f->sent += (uint64_t)n;
    }
    f->more = CALL(f->use_dontwait ? send(f->fd, chunk, 1, MSG_DONTWAIT) : write(f->fd, chunk, 1));
    return NULL;
}

static void short_write(const char *name, int fds[2], int use_dontwait) {
    if (!use_dontwait) set_nonblock(fds[0], 1);
    struct filler f = {.fd = fds[0], .use_dontwait = use_dontwait};
    in_thread(fill, &f);
    close(fds[0]);
    struct sink s = {.fd = fds[1]};
    in_thread(sink_reader, &s);
    out(name, " stopped_by=%s more=%s sent_eq_received=%d pattern_ok=%d nonempty=%d",
        en(f.stopped_by), rs(f.more), f.sent == s.total, s.ok, f.sent > 0);
    close(fds[1]);
}

static void s_short_write_unix_nonblock(const char *name) {
    int sv[2];
    unix_pair(sv);
    short_write(name, sv, 0);
}

static void s_short_write_tcp_dontwait(const char *name) {
    int tp[2];
    tcp_pair(tp);
    short_write(name, tp, 1);
}

/* ---- Blocking writes larger than the buffer are complete. */

struct big_write {
    int fd;
    size_t len;
    int use_writev;
    int close_after;
    res_t r;
};

static void *big_writer(void *arg) {
    struct big_write *w = arg;
    uint8_t *buf = malloc(w->len);
    if (!buf) DIE("malloc");
    fill_pattern(buf, w->len, 0);
    if (w->use_writev) {
        size_t a = w->len / 7, b = w->len / 2;
        struct iovec iov[3] = {{buf, a}, {buf + a, b}, {buf + a + b, w->len - a - b}};
        w->r = CALL(writev(w->fd, iov, 3));
    } else {
        w->r = CALL(write(w->fd, buf, w->len));
    }
    free(buf);
    if (w->close_after) close(w->fd);
    return NULL;
}

static void big_write(const char *name, int fds[2], int use_writev) {
    struct big_write w = {.fd = fds[0], .len = 4u << 20, .use_writev = use_writev, .close_after = 1};
    struct sink s = {.fd = fds[1], .pause_us = 200};
    pthread_t rt = spawn(sink_reader, &s), wt = spawn(big_writer, &w);
    join(wt);
    join(rt);
    out(name, " write=%s received=%llu pattern_ok=%d", rs(w.r), (unsigned long long)s.total, s.ok);
    close(fds[1]);
}

static void s_blocking_write_large_unix(const char *name) {
    int sv[2];
    unix_pair(sv);
    big_write(name, sv, 0);
}

static void s_blocking_write_large_tcp(const char *name) {
    int tp[2];
    tcp_pair(tp);
    big_write(name, tp, 0);
}

static void s_writev_large_blocking(const char *name) {
    int sv[2];
    unix_pair(sv);
    big_write(name, sv, 1);
}

/* ---- EOF */

static void s_eof_after_close(const char *name) {
    int sv[2];
    unix_pair(sv);
    if (write(sv[1], "bye", 3) != 3) DIE("write");
    close(sv[1]);
    struct rd a = {.fd = sv[0]}, b = {.fd = sv[0]}, c = {.fd = sv[0], .use_recv = 1};
    in_thread(reader, &a);
    in_thread(reader, &b);
    in_thread(reader, &c);
    out(name, " first=%s %s second=%s third=%s", rs(a.r), data_of(&a), rs(b.r), rs(c.r));
    close(sv[0]);
}

static void eof_wait(const char *name, int fds[2]) {
    struct script s = {.steps = {{30, OP_CLOSE, fds[1], NULL, 0}}, .n = 1};
    struct rd a = {.fd = fds[0]};
    double t0 = mono_now();
    pthread_t st = spawn(run_script, &s), rt = spawn(reader, &a);
    join(rt);
    join(st);
    out(name, " read=%s waited=%d", rs(a.r), waited_about(t0, 30));
    close(fds[0]);
}

static void s_eof_wait_unix(const char *name) {
    int sv[2];
    unix_pair(sv);
    eof_wait(name, sv);
}

static void s_eof_wait_tcp(const char *name) {
    int tp[2];
    tcp_pair(tp);
    eof_wait(name, tp);
}

/* ---- Resets */

static void s_reset_linger0(const char *name) {
    sigpipe_handler();
    int tp[2];
    tcp_pair(tp);
    struct script s = {.steps = {{30, OP_RST_CLOSE, tp[1], NULL, 0}}, .n = 1};
    struct rd a = {.fd = tp[0]}, b = {.fd = tp[0]};
    pthread_t st = spawn(run_script, &s), rt = spawn(reader, &a);
    join(rt);
    join(st);
    in_thread(reader, &b);
    res_t w = CALL(send(tp[0], "x", 1, MSG_NOSIGNAL));
    out(name, " blocked_read=%s next_read=%s send=%s sigpipes=%d", rs(a.r), rs(b.r), rs(w),
        (int)sigpipe_hits);
    close(tp[0]);
    sigpipe_ignore();
}

/* Closing a socket with unread data sends a reset too. */
static void s_reset_unread_data(const char *name) {
    int tp[2];
    tcp_pair(tp);
    if (write(tp[0], "unread", 6) != 6) DIE("write");
    msleep(10);
    close(tp[1]);
    struct rd a = {.fd = tp[0]};
    in_thread(reader, &a);
    out(name, " read=%s", rs(a.r));
    close(tp[0]);
}

struct two_writes {
    int fd;
    res_t a, b;
};

static void *write_twice(void *arg) {
    struct two_writes *w = arg;
    w->a = CALL(write(w->fd, "x", 1));
    w->b = CALL(write(w->fd, "y", 1));
    return NULL;
}

/* After a reset: the first write reports it, the second is EPIPE with SIGPIPE. */
static void s_reset_write_then_epipe(const char *name) {
    sigpipe_handler();
    int tp[2];
    tcp_pair(tp);
    struct linger lg = {1, 0};
    if (setsockopt(tp[1], SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0) DIE("linger");
    close(tp[1]);
    msleep(10);
    struct two_writes w = {.fd = tp[0]};
    in_thread(write_twice, &w);
    out(name, " first=%s second=%s sigpipes=%d", rs(w.a), rs(w.b), (int)sigpipe_hits);
    close(tp[0]);
    sigpipe_ignore();
}

/* ---- EPIPE and SIGPIPE */

struct pipe_write {
    int fd;
    int flags; /* -1: write(2) */
    res_t r;
};

static void *epipe_writer(void *arg) {
    struct pipe_write *p = arg;
    p->r = p->flags < 0 ? CALL(write(p->fd, "data", 4)) : CALL(send(p->fd, "data", 4, p->flags));
    return NULL;
}

static void s_sigpipe_handler_write(const char *name) {
    sigpipe_handler();
    int sv[2];
    unix_pair(sv);
    close(sv[1]);
    struct pipe_write p = {.fd = sv[0], .flags = -1};
    in_thread(epipe_writer, &p);
    int hits_thread = sigpipe_hits;
    res_t m = CALL(write(sv[0], "data", 4)); /* on the main thread too */
    out(name, " thread=%s main=%s sigpipes_after_thread=%d sigpipes=%d", rs(p.r), rs(m),
        hits_thread, (int)sigpipe_hits);
    close(sv[0]);
    sigpipe_ignore();
}

static void s_sigpipe_nosignal(const char *name) {
    sigpipe_handler();
    int sv[2];
    unix_pair(sv);
    close(sv[1]);
    struct pipe_write p = {.fd = sv[0], .flags = MSG_NOSIGNAL};
    in_thread(epipe_writer, &p);
    struct iovec iov = {"m", 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    res_t sm = CALL(sendmsg(sv[0], &m, MSG_NOSIGNAL));
    out(name, " send=%s sendmsg=%s sigpipes=%d", rs(p.r), rs(sm), (int)sigpipe_hits);
    close(sv[0]);
    sigpipe_ignore();
}

static void s_sigpipe_ignored(const char *name) {
    sigpipe_ignore();
    int sv[2];
    unix_pair(sv);
    close(sv[1]);
    struct pipe_write p = {.fd = sv[0], .flags = -1};
    in_thread(epipe_writer, &p);
    struct pipe_write q = {.fd = sv[0], .flags = 0};
    in_thread(epipe_writer, &q);
    out(name, " write=%s send=%s", rs(p.r), rs(q.r));
    close(sv[0]);
}

static void *child_write_broken(void *arg) {
    int fd = *(int *)arg;
    if (write(fd, "x", 1) < 0) _exit(3);
    _exit(4);
}

/* The default action of SIGPIPE ends the process (a forked child, written from a thread). */
static void s_sigpipe_default_kills(const char *name) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) DIE("fork");
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        int sv[2];
        unix_pair(sv);
        close(sv[1]);
        in_thread(child_write_broken, &sv[0]);
        _exit(5);
    }
    int status;
    res_t w = CALL(waitpid(pid, &status, 0));
    if (w.ret != pid) fprintf(stderr, "%s: waitpid: %s\n", name, rs(w));
    out(name, " waitpid_ok=%d signaled=%d sig=%d", w.ret == pid, WIFSIGNALED(status),
        WIFSIGNALED(status) ? WTERMSIG(status) : -WEXITSTATUS(status));
}

/* A thread's write raises SIGPIPE (a handler without SA_RESTART) while the main thread
 * waits in read: the signal is the writer's, the main thread's read is not interrupted. */
static void *late_broken_write(void *arg) {
    struct pipe_write *p = arg;
    msleep(20);
    p->r = CALL(write(p->fd, "data", 4));
    return NULL;
}

static void s_sigpipe_thread_main_unaffected(const char *name) {
    sigpipe_handler();
    int sv[2], broken[2];
    unix_pair(sv);
    unix_pair(broken);
    close(broken[1]);
    struct pipe_write p = {.fd = broken[0], .flags = -1};
    struct script s = {.steps = {{150, OP_WRITE, sv[1], "data", 0}}, .n = 1};
    pthread_t wt = spawn(late_broken_write, &p), st = spawn(run_script, &s);
    char buf[16];
    res_t r = CALL(read(sv[0], buf, sizeof buf));
    join(wt);
    join(st);
    out(name, " main_read=%s worker_write=%s sigpipes=%d", rs(r), rs(p.r), (int)sigpipe_hits);
    close2(sv);
    close(broken[0]);
    sigpipe_ignore();
}

/* ---- connect */

struct conn {
    int fd;
    struct sockaddr_in to;
    res_t r;
    double t0;
};

static void *connector(void *arg) {
    struct conn *c = arg;
    c->t0 = mono_now();
    c->r = CALL(connect(c->fd, (struct sockaddr *)&c->to, sizeof c->to));
    return NULL;
}

static void s_connect_refused(const char *name) {
    struct sockaddr_in a;
    int holder = closed_port(&a);
    struct conn c = {.fd = socket(AF_INET, SOCK_STREAM, 0), .to = a};
    in_thread(connector, &c);
    int e = -1;
    socklen_t len = sizeof e;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &e, &len);
    res_t again = CALL(connect(c.fd, (struct sockaddr *)&a, sizeof a));
    close(c.fd);
    /* And on the main thread. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    res_t m = CALL(connect(fd, (struct sockaddr *)&a, sizeof a));
    close(fd);
    close(holder);
    out(name, " thread=%s so_error=%s again=%s main=%s", rs(c.r), en(e), rs(again), rs(m));
}

static void s_connect_refused_nonblock(const char *name) {
    struct sockaddr_in a;
    int holder = closed_port(&a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    res_t c = CALL(connect(fd, (struct sockaddr *)&a, sizeof a));
    struct pollfd p = {fd, POLLOUT, 0};
    res_t pr = CALL(poll(&p, 1, 2000));
    int e1 = -1, e2 = -1;
    socklen_t len = sizeof e1;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e1, &len);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e2, &len);
    out(name, " connect=%s poll=%s revents=0x%x so_error=%s then=%s", rs(c), rs(pr), p.revents,
        en(e1), en(e2));
    close(fd);
    close(holder);
}

static void s_connect_nonblock_ok(const char *name) {
    struct sockaddr_in a;
    int lfd = tcp_listener(&a, 4);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    set_nonblock(fd, 1);
    res_t c = CALL(connect(fd, (struct sockaddr *)&a, sizeof a));
    struct pollfd p = {fd, POLLOUT, 0};
    res_t pr = CALL(poll(&p, 1, 2000));
    int e = -1;
    socklen_t len = sizeof e;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len);
    res_t again = CALL(connect(fd, (struct sockaddr *)&a, sizeof a));
    out(name, " connect=%s poll=%s revents=0x%x so_error=%s again=%s nonblock=%d", rs(c), rs(pr),
        p.revents, en(e), rs(again), nonblock_view(fd));
    close(fd);
    close(lfd);
}

static void s_connect_blocking_thread(const char *name) {
    struct sockaddr_in a;
    int lfd = tcp_listener(&a, 4);
    struct conn c = {.fd = socket(AF_INET, SOCK_STREAM, 0), .to = a};
    in_thread(connector, &c);
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    int gp = getpeername(c.fd, (struct sockaddr *)&peer, &len);
    res_t again = CALL(connect(c.fd, (struct sockaddr *)&a, sizeof a));
    int afd = accept(lfd, NULL, NULL);
    out(name, " connect=%s peer_ok=%d again=%s accepted=%d nonblock=%d", rs(c.r),
        gp == 0 && peer.sin_port == a.sin_port, rs(again), afd >= 0, nonblock_view(c.fd));
    close(afd);
    close(c.fd);
    close(lfd);
}

/* A listener whose accept queue is full drops SYNs: a blocking connect waits, and
 * SO_SNDTIMEO ends it with EINPROGRESS; a second non-blocking connect says EALREADY. */
static void s_connect_sndtimeo(const char *name) {
    struct sockaddr_in a;
    int lfd = tcp_listener(&a, 0);
    int first = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(first, (struct sockaddr *)&a, sizeof a) != 0) DIE("connect");
    struct conn c = {.fd = socket(AF_INET, SOCK_STREAM, 0), .to = a};
    set_timeout(c.fd, SO_SNDTIMEO, 200);
    in_thread(connector, &c);
    int waited = waited_about(c.t0, 200);
    int nb = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    res_t n1 = CALL(connect(nb, (struct sockaddr *)&a, sizeof a));
    res_t n2 = CALL(connect(nb, (struct sockaddr *)&a, sizeof a));
    out(name, " blocking=%s waited=%d nonblock=%s again=%s", rs(c.r), waited, rs(n1), rs(n2));
    close(nb);
    close(c.fd);
    close(first);
    close(lfd);
}

/* ---- MSG_WAITALL */

static void waitall(const char *name, int fds[2]) {
    static char block[100];
    memset(block, 'w', sizeof block);
    struct script s = {.steps = {{10, OP_WRITE, fds[1], block, 100},
                        {10, OP_WRITE, fds[1], block, 100},
                        {10, OP_WRITE, fds[1], block, 100}}, .n = 3};
    struct rd r = {.fd = fds[0], .want = 250, .flags = MSG_WAITALL, .use_recv = 1};
    pthread_t st = spawn(run_script, &s), rt = spawn(reader, &r);
    join(rt);
    join(st);
    struct rd rest = {.fd = fds[0], .want = 100};
    in_thread(reader, &rest);
    out(name, " waitall=%s rest=%s", rs(r.r), rs(rest.r));
    close2(fds);
}

static void s_waitall_unix(const char *name) {
    int sv[2];
    unix_pair(sv);
    waitall(name, sv);
}

static void s_waitall_tcp(const char *name) {
    int tp[2];
    tcp_pair(tp);
    waitall(name, tp);
}

static void s_waitall_eof(const char *name) {
    int sv[2];
    unix_pair(sv);
    struct script s = {.steps = {{10, OP_WRITE, sv[1], "fifty bytes of data, more or less, sent at once!!!", 0},
                        {10, OP_CLOSE, sv[1], NULL, 0}}, .n = 2};
    struct rd r = {.fd = sv[0], .want = 200, .flags = MSG_WAITALL, .use_recv = 1};
    pthread_t st = spawn(run_script, &s), rt = spawn(reader, &r);
    join(rt);
    join(st);
    struct rd after = {.fd = sv[0], .want = 10, .flags = MSG_WAITALL, .use_recv = 1};
    in_thread(reader, &after);
    out(name, " waitall=%s after=%s", rs(r.r), rs(after.r));
    close(sv[0]);
}

/* SO_RCVTIMEO bounds the whole of a MSG_WAITALL receive, not each wait within it: the
 * kernel takes the timeout once per call (tcp_recvmsg, unix_stream_read_generic). A sender
 * trickles 10 bytes every 150 ms for 1.2 s; the receive wants 80 bytes with a 500 ms
 * timeout, so it returns what it has at about 500 ms. */
static void s_waitall_rcvtimeo_total(const char *name) {
    int sv[2];
    unix_pair(sv);
    set_timeout(sv[0], SO_RCVTIMEO, 500);
    struct script s = {.n = 8};
    for (int i = 0; i < 8; i++)
        s.steps[i] = (struct step){i == 0 ? 0 : 150, OP_WRITE, sv[1], "0123456789", 10};
    struct rd r = {.fd = sv[0], .want = 80, .flags = MSG_WAITALL, .use_recv = 1};
    pthread_t st = spawn(run_script, &s), rt = spawn(reader, &r);
    join(rt);
    join(st);
    out(name, " partial=%d", r.r.ret > 0 && r.r.ret < 80);
    close2(sv);
}

/* ---- MSG_PEEK, MSG_DONTWAIT */

static void s_peek(const char *name) {
    int sv[2];
    unix_pair(sv);
    if (write(sv[1], "abcdef", 6) != 6) DIE("write");
    struct rd p = {.fd = sv[0], .want = 4, .flags = MSG_PEEK, .use_recv = 1};
    in_thread(reader, &p);
    struct rd r = {.fd = sv[0], .want = 100};
    in_thread(reader, &r);
    /* A peek that waits for data sent later, then the read. */
    struct script s = {.steps = {{20, OP_WRITE, sv[1], "ghijkl", 0}}, .n = 1};
    struct rd p2 = {.fd = sv[0], .want = 3, .flags = MSG_PEEK, .use_recv = 1};
    pthread_t st = spawn(run_script, &s), rt = spawn(reader, &p2);
    join(rt);
    join(st);
    struct rd r2 = {.fd = sv[0], .want = 100};
    in_thread(reader, &r2);
    out(name, " peek=%s %s read=%s %s peek_wait=%s %s read2=%s %s", rs(p.r), data_of(&p), rs(r.r),
        data_of(&r), rs(p2.r), data_of(&p2), rs(r2.r), data_of(&r2));
    close2(sv);
}

static void s_peek_tcp_waitall(const char *name) {
    int tp[2];
    tcp_pair(tp);
    struct script s = {.steps = {{10, OP_WRITE, tp[1], "12345", 0}, {20, OP_WRITE, tp[1], "67890", 0}}, .n = 2};
    struct rd p = {.fd = tp[0], .want = 8, .flags = MSG_PEEK | MSG_WAITALL, .use_recv = 1};
    pthread_t st = spawn(run_script, &s), rt = spawn(reader, &p);
    join(rt);
    join(st);
    struct rd r = {.fd = tp[0], .want = 100};
    in_thread(reader, &r);
    /* MSG_PEEK|MSG_WAITALL on TCP waits for all 8 bytes. */
    out(name, " peek=%s %s read=%s %s", rs(p.r), data_of(&p), rs(r.r), data_of(&r));
    close2(tp);
}

struct dw {
    int fd;
    res_t a, b;
    int quick;
    char buf[16];
};

static void *dontwait_calls(void *arg) {
    struct dw *d = arg;
    double t0 = mono_now();
    d->a = CALL(recv(d->fd, d->buf, sizeof d->buf, MSG_DONTWAIT));
    d->b = CALL(recvfrom(d->fd, d->buf, sizeof d->buf, MSG_DONTWAIT, NULL, NULL));
    d->quick = at_once(t0);
    return NULL;
}

static void s_dontwait(const char *name) {
    int sv[2], tp[2];
    unix_pair(sv);
    tcp_pair(tp);
    struct dw u = {.fd = sv[0]}, t = {.fd = tp[0]};
    in_thread(dontwait_calls, &u);
    in_thread(dontwait_calls, &t);
    if (write(sv[1], "xy", 2) != 2) DIE("write");
    struct dw d = {.fd = sv[0]};
    in_thread(dontwait_calls, &d);
    out(name, " unix=%s,%s at_once=%d tcp=%s,%s at_once=%d data=%s,%s view=%d,%d", rs(u.a), rs(u.b),
        u.quick, rs(t.a), rs(t.b), t.quick, rs(d.a), rs(d.b), nonblock_view(sv[0]),
        nonblock_view(tp[0]));
    close2(sv);
    close2(tp);
}

/* ---- The program's view of O_NONBLOCK */

static void s_nonblock_fcntl(const char *name) {
    int sv[2];
    unix_pair(sv);
    int before = fcntl(sv[0], F_GETFL);
    set_nonblock(sv[0], 1);
    int during = fcntl(sv[0], F_GETFL);
    struct rd r = {.fd = sv[0]};
    double t0 = mono_now();
    in_thread(reader, &r);
    int quick = at_once(t0);
    set_nonblock(sv[0], 0);
    int after = fcntl(sv[0], F_GETFL);
    struct script s = {.steps = {{20, OP_WRITE, sv[1], "wait", 0}}, .n = 1};
    struct rd w = {.fd = sv[0]};
    pthread_t st = spawn(run_script, &s), rt = spawn(reader, &w);
    join(rt);
    join(st);
    out(name, " flags=0x%x,0x%x,0x%x read_nonblock=%s at_once=%d read_blocking=%s", before, during,
        after, rs(r.r), quick, rs(w.r));
    close2(sv);
}

static void s_nonblock_fionbio(const char *name) {
    int tp[2];
    tcp_pair(tp);
    int on = 1, off = 0;
    res_t i1 = CALL(ioctl(tp[0], FIONBIO, &on));
    int during = fcntl(tp[0], F_GETFL);
    struct rd r = {.fd = tp[0]};
    in_thread(reader, &r);
    res_t i2 = CALL(ioctl(tp[0], FIONBIO, &off));
    int after = fcntl(tp[0], F_GETFL);
    struct script s = {.steps = {{20, OP_WRITE, tp[1], "wait", 0}}, .n = 1};
    struct rd w = {.fd = tp[0]};
    pthread_t st = spawn(run_script, &s), rt = spawn(reader, &w);
    join(rt);
    join(st);
    out(name, " ioctl=%s,%s flags=0x%x,0x%x read_nonblock=%s read_blocking=%s", rs(i1), rs(i2),
        during, after, rs(r.r), rs(w.r));
    close2(tp);
}

static void s_nonblock_sock_flag(const char *name) {
    int s1 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int s2 = socket(AF_INET, SOCK_STREAM, 0);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) DIE("socketpair");
    struct rd r = {.fd = sv[0]};
    in_thread(reader, &r);
    struct sockaddr_in a;
    int lfd = tcp_listener(&a, 4);
    res_t c = CALL(connect(s1, (struct sockaddr *)&a, sizeof a));
    out(name, " flags=0x%x,0x%x pair=0x%x,0x%x read=%s connect=%s", fcntl(s1, F_GETFL),
        fcntl(s2, F_GETFL), fcntl(sv[0], F_GETFL), fcntl(sv[1], F_GETFL), rs(r.r), rs(c));
    close(s1);
    close(s2);
    close2(sv);
    close(lfd);
}

/* Other status flags come back as they were set (O_ASYNC is accepted on sockets). */
static void s_getfl_other_flags(const char *name) {
    int sv[2];
    unix_pair(sv);
    int fl = fcntl(sv[0], F_GETFL);
    res_t set = CALL(fcntl(sv[0], F_SETFL, fl | O_NONBLOCK | O_ASYNC));
    int both = fcntl(sv[0], F_GETFL);
    res_t set2 = CALL(fcntl(sv[0], F_SETFL, O_ASYNC));
    int async_only = fcntl(sv[0], F_GETFL);
    out(name, " initial=0x%x set=%s both=0x%x set2=%s async_only=0x%x", fl, rs(set), both,
        rs(set2), async_only);
    close2(sv);
}

/* ---- dup'd fds share the description */

static void s_dup_shares_nonblock(const char *name) {
    int sv[2];
    unix_pair(sv);
    int d = dup(sv[0]);
    set_nonblock(d, 1);
    int orig_view = nonblock_view(sv[0]);
    struct rd r = {.fd = sv[0]};
    in_thread(reader, &r);
    set_nonblock(sv[0], 0);
    int dup_view = nonblock_view(d);
    int d2 = fcntl(sv[0], F_DUPFD_CLOEXEC, 0);
    int d2_view = nonblock_view(d2);
    out(name, " orig_view=%d orig_read=%s dup_view_after_clear=%d dupfd_view=%d dupfd_cloexec=%d",
        orig_view, rs(r.r), dup_view, d2_view, fcntl(d2, F_GETFD) & FD_CLOEXEC);
    close(d);
    close(d2);
    close2(sv);
}

static void s_dup_after_close_original(const char *name) {
    int sv[2];
    unix_pair(sv);
    /* Register the original with a wait first, so the dup is not the only thing known. */
    struct script s0 = {.steps = {{10, OP_WRITE, sv[1], "one", 0}}, .n = 1};
    struct rd r0 = {.fd = sv[0]};
    pthread_t st = spawn(run_script, &s0), rt = spawn(reader, &r0);
    join(rt);
    join(st);
    int d = dup(sv[0]);
    close(sv[0]);
    struct script s = {.steps = {{20, OP_WRITE, sv[1], "two", 0}}, .n = 1};
    struct rd r = {.fd = d};
    st = spawn(run_script, &s);
    rt = spawn(reader, &r);
    join(rt);
    join(st);
    res_t w = CALL(write(d, "back", 4));
    char buf[8];
    res_t b = CALL(read(sv[1], buf, sizeof buf));
    out(name, " before=%s %s dup_read=%s %s dup_write=%s peer_read=%s", rs(r0.r), data_of(&r0),
        rs(r.r), data_of(&r), rs(w), rs(b));
    close(d);
    close(sv[1]);
}

static void s_dup2_onto_open(const char *name) {
    int a[2], b[2];
    unix_pair(a);
    unix_pair(b);
    /* Make b[0] known and waited on, then replace it with a dup of a[0]. */
    struct script s0 = {.steps = {{10, OP_WRITE, b[1], "bbb", 0}}, .n = 1};
    struct rd r0 = {.fd = b[0]};
    pthread_t st = spawn(run_script, &s0), rt = spawn(reader, &r0);
    join(rt);
    join(st);
    res_t d = CALL(dup2(a[0], b[0]));
    /* The old description behind b[0] is closed: its peer's writes fail. */
    res_t old = CALL(send(b[1], "old", 3, MSG_NOSIGNAL));
    struct script s = {.steps = {{20, OP_WRITE, a[1], "new", 0}}, .n = 1};
    struct rd r = {.fd = b[0]};
    st = spawn(run_script, &s);
    rt = spawn(reader, &r);
    join(rt);
    join(st);
    out(name, " dup2=%s same=%d old_peer_send=%s read=%s %s", rs(d), d.ret == b[0], rs(old),
        rs(r.r), data_of(&r));
    close2(a);
    close2(b);
}

/* dup2 onto a fixed, high descriptor number. */
static void s_dup2_high_numbers(const char *name) {
    int sv[2];
    unix_pair(sv);
    char res[512] = "";
    static const int targets[] = {64, 500, 900, 901, 1000};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        int t = targets[i];
        res_t d = CALL(dup2(sv[0], t));
        char one[96];
        if (d.ret == t) {
            if (write(sv[1], "z", 1) != 1) DIE("write");
            char c;
            res_t r = CALL(read(t, &c, 1));
            snprintf(one, sizeof one, " %d:%s,read=%s", t, rs(d), rs(r));
            close(t);
        } else {
            snprintf(one, sizeof one, " %d:%s", t, rs(d));
        }
        strncat(res, one, sizeof res - strlen(res) - 1);
    }
    res_t f = CALL(fcntl(sv[0], F_DUPFD, 900));
    if (f.ret >= 0) close((int)f.ret);
    out(name, "%s f_dupfd_900=%s", res, rs(f));
    close2(sv);
}

/* ---- A read on one thread while another closes the fd. What a blocked read does when
 * its fd is closed under it differs between systems (Linux keeps it blocked until the peer
 * acts; the green runtime wakes it with EBADF). Checked here: the reader returns, at the
 * latest once the peer shuts down, and never hangs. */

static void s_close_while_reading(const char *name) {
    int sv[2];
    unix_pair(sv);
    struct rd r = {.fd = sv[0], .r = {-2, 0}};
    pthread_t rt = spawn(reader, &r);
    msleep(30);
    close(sv[0]);
    msleep(30);
    shutdown(sv[1], SHUT_RDWR);
    join(rt);
    out(name, " returned=%d", r.r.ret != -2);
    close(sv[1]);
}

/* ---- shutdown */

static void s_shutdown_wr_eof(const char *name) {
    int tp[2];
    tcp_pair(tp);
    struct script s = {.steps = {{20, OP_SHUT_WR, tp[0], NULL, 0}}, .n = 1};
    struct rd r = {.fd = tp[1]};
    pthread_t st = spawn(run_script, &s), rt = spawn(reader, &r);
    join(rt);
    join(st);
    res_t back = CALL(write(tp[1], "back", 4));
    struct rd b = {.fd = tp[0]};
    in_thread(reader, &b);
    res_t w = CALL(send(tp[0], "x", 1, MSG_NOSIGNAL));
    out(name, " peer_read=%s peer_write=%s read_back=%s write_after_shut=%s", rs(r.r), rs(back),
        rs(b.r), rs(w));
    close2(tp);
}

static void s_shutdown_rd(const char *name) {
    int sv[2], tp[2];
    unix_pair(sv);
    tcp_pair(tp);
    res_t s1 = CALL(shutdown(sv[0], SHUT_RD));
    res_t s2 = CALL(shutdown(tp[0], SHUT_RD));
    struct rd a = {.fd = sv[0]}, b = {.fd = tp[0]};
    in_thread(reader, &a);
    in_thread(reader, &b);
    int lone = socket(AF_INET, SOCK_STREAM, 0);
    res_t nc = CALL(shutdown(lone, SHUT_RDWR));
    res_t bad = CALL(shutdown(sv[1], 7));
    out(name, " shutdown=%s,%s unix_read=%s tcp_read=%s unconnected=%s bad_how=%s", rs(s1), rs(s2),
        rs(a.r), rs(b.r), rs(nc), rs(bad));
    close(lone);
    close2(sv);
    close2(tp);
}

/* ---- EBADF, EFAULT */

static void s_ebadf(const char *name) {
    int sv[2];
    unix_pair(sv);
    close2(sv);
    char buf[4] = "x";
    int fd = sv[0];
    res_t r[8] = {
        CALL(read(fd, buf, 1)),
        CALL(write(fd, buf, 1)),
        CALL(recv(fd, buf, 1, 0)),
        CALL(send(fd, buf, 1, 0)),
        CALL(accept(fd, NULL, NULL)),
        CALL(read(-1, buf, 1)),
        CALL(send(-1, buf, 1, 0)),
        CALL(fcntl(fd, F_GETFL)),
    };
    out(name, " read=%s write=%s recv=%s send=%s accept=%s read_m1=%s send_m1=%s getfl=%s",
        rs(r[0]), rs(r[1]), rs(r[2]), rs(r[3]), rs(r[4]), rs(r[5]), rs(r[6]), rs(r[7]));
}

struct efault {
    int fd;
    res_t read, recv, write, send, read_after;
    char buf[16];
};

static void *efault_calls(void *arg) {
    struct efault *e = arg;
    e->read = CALL(read(e->fd, bad_pointer(), 10));
    e->recv = CALL(recv(e->fd, bad_pointer(), 10, 0));
    e->write = CALL(write(e->fd, bad_pointer(), 10));
    e->send = CALL(send(e->fd, bad_pointer(), 10, 0));
    e->read_after = CALL(read(e->fd, e->buf, sizeof e->buf));
    return NULL;
}

static void efault(const char *name, int fds[2]) {
    if (write(fds[1], "still here", 10) != 10) DIE("write");
    msleep(5);
    struct efault e = {.fd = fds[0]};
    in_thread(efault_calls, &e);
    out(name, " read=%s recv=%s write=%s send=%s then_read=%s \"%.*s\"", rs(e.read), rs(e.recv),
        rs(e.write), rs(e.send), rs(e.read_after), e.read_after.ret > 0 ? (int)e.read_after.ret : 0,
        e.buf);
    close2(fds);
}

static void s_efault_unix(const char *name) {
    int sv[2];
    unix_pair(sv);
    efault(name, sv);
}

static void s_efault_tcp(const char *name) {
    int tp[2];
    tcp_pair(tp);
    efault(name, tp);
}

/* ---- accept */

struct acc {
    int fd;
    int flags;
    res_t r;
    double t0;
};

static void *acceptor(void *arg) {
    struct acc *a = arg;
    a->t0 = mono_now();
    a->r = CALL(accept4(a->fd, NULL, NULL, a->flags));
    return NULL;
}

static void s_accept_not_listening(const char *name) {
    struct sockaddr_in a;
    int bound = closed_port(&a);
    int unbound = socket(AF_INET, SOCK_STREAM, 0);
    int sv[2];
    unix_pair(sv);
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    struct acc x = {.fd = bound}, y = {.fd = unbound}, z = {.fd = sv[0]}, u = {.fd = udp};
    in_thread(acceptor, &x);
    in_thread(acceptor, &y);
    in_thread(acceptor, &z);
    in_thread(acceptor, &u);
    res_t m = CALL(accept(bound, NULL, NULL));
    out(name, " bound=%s unbound=%s socketpair=%s udp=%s main=%s", rs(x.r), rs(y.r), rs(z.r),
        rs(u.r), rs(m));
    close(bound);
    close(unbound);
    close2(sv);
    close(udp);
}

static void s_accept4_flags(const char *name) {
    struct sockaddr_in a;
    int lfd = tcp_listener(&a, 8);
    int c1 = socket(AF_INET, SOCK_STREAM, 0), c2 = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c1, (struct sockaddr *)&a, sizeof a) || connect(c2, (struct sockaddr *)&a, sizeof a))
        DIE("connect");
    struct acc f = {.fd = lfd, .flags = SOCK_NONBLOCK | SOCK_CLOEXEC}, p = {.fd = lfd};
    struct acc bad = {.fd = lfd, .flags = 0x1};
    in_thread(acceptor, &bad);
    in_thread(acceptor, &f);
    in_thread(acceptor, &p);
    int ff = (int)f.r.ret, pf = (int)p.r.ret;
    struct rd r = {.fd = ff};
    in_thread(reader, &r);
    out(name, " bad_flags=%s flagged_nonblock=%d cloexec=%d read=%s plain_nonblock=%d cloexec=%d", rs(bad.r),
        nonblock_view(ff), fcntl(ff, F_GETFD) & FD_CLOEXEC, rs(r.r), nonblock_view(pf),
        fcntl(pf, F_GETFD) & FD_CLOEXEC);
    close(ff);
    close(pf);
    close(c1);
    close(c2);
    close(lfd);
}

static void *late_connect(void *arg) {
    struct conn *c = arg;
    msleep(20);
    c->r = CALL(connect(c->fd, (struct sockaddr *)&c->to, sizeof c->to));
    return NULL;
}

static void s_accept_waits(const char *name) {
    struct sockaddr_in a;
    int lfd = tcp_listener(&a, 8);
    struct acc x = {.fd = lfd};
    struct conn c = {.fd = socket(AF_INET, SOCK_STREAM, 0), .to = a};
    double t0 = mono_now();
    pthread_t at = spawn(acceptor, &x), ct = spawn(late_connect, &c);
    join(at);
    join(ct);
    int waited = waited_about(t0, 20);
    int nb = dup(lfd);
    set_nonblock(nb, 1);
    double t1 = mono_now();
    res_t e = CALL(accept(lfd, NULL, NULL));
    int quick = at_once(t1);
    out(name, " accept_ok=%d waited=%d connect=%s nonblock_listener=%s at_once=%d", x.r.ret >= 0,
        waited, rs(c.r), rs(e), quick);
    close((int)x.r.ret);
    close(c.fd);
    close(nb);
    close(lfd);
}

/* ---- SO_RCVTIMEO, SO_SNDTIMEO */

static void *timed_read(void *arg) {
    struct rd *r = arg;
    reader(r);
    r->waited = waited_about(r->t0, 200);
    return NULL;
}

static void s_rcvtimeo(const char *name) {
    int sv[2];
    unix_pair(sv);
    set_timeout(sv[0], SO_RCVTIMEO, 200);
    struct timeval tv;
    socklen_t len = sizeof tv;
    getsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, &len);
    struct rd r = {.fd = sv[0]};
    in_thread(timed_read, &r);
    struct rd m = {.fd = sv[0]};
    timed_read(&m); /* on the main thread */
    out(name, " get=%ld.%06ld thread=%s waited=%d main=%s waited=%d", (long)tv.tv_sec,
        (long)tv.tv_usec, rs(r.r), r.waited, rs(m.r), m.waited);
    close2(sv);
}

static void s_rcvtimeo_accept(const char *name) {
    struct sockaddr_in a;
    int lfd = tcp_listener(&a, 4);
    set_timeout(lfd, SO_RCVTIMEO, 200);
    struct acc x = {.fd = lfd};
    in_thread(acceptor, &x);
    out(name, " accept=%s waited=%d", rs(x.r), waited_about(x.t0, 200));
    close(lfd);
}

struct tw {
    int fd;
    size_t len;
    res_t r;
    int waited;
};

static void *timed_write(void *arg) {
    struct tw *w = arg;
    uint8_t *buf = calloc(1, w->len);
    double t0 = mono_now();
    w->r = CALL(write(w->fd, buf, w->len));
    w->waited = waited_about(t0, 200);
    free(buf);
    return NULL;
}

static void s_sndtimeo_full(const char *name) {
    int sv[2];
    unix_pair(sv);
    set_timeout(sv[0], SO_SNDTIMEO, 200);
    struct timeval tv;
    socklen_t len = sizeof tv;
    getsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, &len);
    struct filler f = {.fd = sv[0], .use_dontwait = 1};
    in_thread(fill, &f);
    struct tw w = {.fd = sv[0], .len = 1};
    in_thread(timed_write, &w);
    out(name, " get=%ld.%06ld write=%s waited=%d", (long)tv.tv_sec, (long)tv.tv_usec, rs(w.r),
        w.waited);
    close2(sv);
}

/* A blocking write of more than fits returns, at the send timeout, what it queued: exactly
 * what the reader then receives. */
static void s_sndtimeo_partial(const char *name) {
    int sv[2];
    unix_pair(sv);
    set_timeout(sv[0], SO_SNDTIMEO, 200);
    struct tw w = {.fd = sv[0], .len = 4u << 20};
    in_thread(timed_write, &w);
    close(sv[0]);
    uint64_t got = 0;
    char buf[65536];
    ssize_t n;
    while ((n = read(sv[1], buf, sizeof buf)) > 0) got += (uint64_t)n;
    out(name, " partial=%d waited=%d received_eq=%d", w.r.ret > 0 && w.r.ret < (long)(4u << 20),
        w.waited, got == (uint64_t)w.r.ret);
    close(sv[1]);
}

/* On TCP, SO_SNDTIMEO bounds the whole of a blocking send (tcp_sendmsg takes the timeout
 * once per call): a 2 MiB write into small buffers that a reader drains 64 KiB every 30 ms
 * returns, at about the 500 ms timeout, what it queued by then, although each single wait
 * for room is short. */
struct paced_sink {
    int fd;
    uint64_t total;
};

static void *paced_reader(void *arg) {
    struct paced_sink *p = arg;
    char *buf = malloc(65536);
    ssize_t n;
    while ((n = read(p->fd, buf, 65536)) > 0) {
        p->total += (uint64_t)n;
        msleep(30);
    }
    free(buf);
    return NULL;
}

static void s_sndtimeo_total_tcp(const char *name) {
    int tp[2];
    tcp_pair(tp);
    int small = 32768;
    setsockopt(tp[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(tp[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    set_timeout(tp[0], SO_SNDTIMEO, 500);
    struct paced_sink p = {.fd = tp[1]};
    struct tw w = {.fd = tp[0], .len = 2u << 20};
    pthread_t rt = spawn(paced_reader, &p);
    in_thread(timed_write, &w);
    close(tp[0]);
    join(rt);
    out(name, " partial=%d received_eq=%d", w.r.ret > 0 && w.r.ret < (long)(2u << 20),
        p.total == (uint64_t)w.r.ret);
    close(tp[1]);
}

/* ---- Socket options */

static int geti(int fd, int level, int opt) {
    int v = -1;
    socklen_t len = sizeof v;
    if (getsockopt(fd, level, opt, &v, &len) != 0) return -1000 - errno;
    return v;
}

static void s_sockopt_roundtrip(const char *name) {
    int tp[2];
    tcp_pair(tp);
    int one = 1, buf = 65536, low = 5;
    setsockopt(tp[0], SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(tp[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(tp[0], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(tp[0], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    setsockopt(tp[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    setsockopt(tp[0], SOL_SOCKET, SO_RCVLOWAT, &low, sizeof low);
    struct linger lg = {1, 7}, lg2;
    setsockopt(tp[0], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    socklen_t len = sizeof lg2;
    getsockopt(tp[0], SOL_SOCKET, SO_LINGER, &lg2, &len);
    struct sockaddr_in a;
    int lfd = tcp_listener(&a, 1);
    out(name,
        " keepalive=%d nodelay=%d reuseaddr=%d rcvbuf=%d sndbuf=%d rcvlowat=%d linger=%d,%d "
        "type=%d domain=%d protocol=%d acceptconn=%d,%d error=%d",
        geti(tp[0], SOL_SOCKET, SO_KEEPALIVE), geti(tp[0], IPPROTO_TCP, TCP_NODELAY),
        geti(tp[0], SOL_SOCKET, SO_REUSEADDR), geti(tp[0], SOL_SOCKET, SO_RCVBUF),
        geti(tp[0], SOL_SOCKET, SO_SNDBUF), geti(tp[0], SOL_SOCKET, SO_RCVLOWAT), lg2.l_onoff,
        lg2.l_linger, geti(tp[0], SOL_SOCKET, SO_TYPE), geti(tp[0], SOL_SOCKET, SO_DOMAIN),
        geti(tp[0], SOL_SOCKET, SO_PROTOCOL), geti(tp[0], SOL_SOCKET, SO_ACCEPTCONN),
        geti(lfd, SOL_SOCKET, SO_ACCEPTCONN), geti(tp[0], SOL_SOCKET, SO_ERROR));
    close(lfd);
    close2(tp);
}

/* SO_RCVLOWAT: a blocking read waits until that many bytes are queued. */
static void s_rcvlowat_wait(const char *name) {
    int tp[2];
    tcp_pair(tp);
    int low = 6;
    setsockopt(tp[0], SOL_SOCKET, SO_RCVLOWAT, &low, sizeof low);
    struct script s = {.steps = {{10, OP_WRITE, tp[1], "abc", 0}, {30, OP_WRITE, tp[1], "defgh", 0}}, .n = 2};
    struct rd r = {.fd = tp[0], .want = 100};
    pthread_t st = spawn(run_script, &s), rt = spawn(reader, &r);
    join(rt);
    join(st);
    out(name, " read=%s %s", rs(r.r), data_of(&r));
    close2(tp);
}

static void s_sockopt_errors(const char *name) {
    int sv[2];
    unix_pair(sv);
    int p[2];
    if (pipe(p) != 0) DIE("pipe");
    int v = 0;
    socklen_t len = sizeof v;
    res_t a = CALL(getsockopt(sv[0], SOL_SOCKET, 12345, &v, &len));
    res_t b = CALL(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &v, 2));
    res_t c = CALL(getsockopt(p[0], SOL_SOCKET, SO_TYPE, &v, &len));
    res_t d = CALL(setsockopt(-1, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v));
    out(name, " unknown=%s short=%s notsock=%s badfd=%s", rs(a), rs(b), rs(c), rs(d));
    close2(sv);
    close2(p);
}

/* ---- readv / writev */

struct rv {
    int fd;
    res_t r;
    char a[4], b[4], c[10];
};

static void *readv_three(void *arg) {
    struct rv *v = arg;
    struct iovec iov[3] = {{v->a, 4}, {v->b, 4}, {v->c, 10}};
    v->r = CALL(readv(v->fd, iov, 3));
    return NULL;
}

static void s_readv_writev(const char *name) {
    int sv[2];
    unix_pair(sv);
    struct iovec w[3] = {{"abc", 3}, {"defgh", 5}, {"ij", 2}};
    res_t wr = CALL(writev(sv[1], w, 3));
    struct rv v = {.fd = sv[0]};
    in_thread(readv_three, &v);
    /* readv waits in a thread for a writev sent later. */
    struct rv v2 = {.fd = sv[0]};
    pthread_t rt = spawn(readv_three, &v2);
    msleep(20);
    struct iovec w2[2] = {{"KLMNO", 5}, {"pq", 2}};
    res_t wr2 = CALL(writev(sv[1], w2, 2));
    join(rt);
    out(name, " writev=%s readv=%s \"%.4s|%.4s|%.2s\" writev2=%s readv2=%s \"%.4s|%.3s\"", rs(wr),
        rs(v.r), v.a, v.b, v.c, rs(wr2), rs(v2.r), v2.a, v2.b);
    close2(sv);
}

/* ---- sendfile and splice */

static int temp_file(size_t size) {
    FILE *f = tmpfile();
    if (!f) DIE("tmpfile");
    int fd = dup(fileno(f));
    fclose(f);
    uint8_t *buf = malloc(size);
    fill_pattern(buf, size, 0);
    if (write(fd, buf, size) != (ssize_t)size) DIE("write file");
    free(buf);
    if (lseek(fd, 0, SEEK_SET) != 0) DIE("lseek");
    return fd;
}

struct sf {
    int out, in;
    off_t *off;
    size_t count;
    res_t r;
    int close_after;
};

static void *sendfiler(void *arg) {
    struct sf *s = arg;
    s->r = CALL(sendfile(s->out, s->in, s->off, s->count));
    if (s->close_after) close(s->out);
    return NULL;
}

static void s_sendfile_to_socket(const char *name) {
    int sv[2];
    unix_pair(sv);
    int fd = temp_file(3u << 20);
    struct sf s = {.out = sv[0], .in = fd, .count = 3u << 20, .close_after = 1};
    struct sink k = {.fd = sv[1], .pause_us = 200};
    pthread_t rt = spawn(sink_reader, &k), st = spawn(sendfiler, &s);
    join(st);
    join(rt);
    out(name, " sendfile=%s file_pos=%ld received=%llu pattern_ok=%d", rs(s.r),
        (long)lseek(fd, 0, SEEK_CUR), (unsigned long long)k.total, k.ok);
    close(fd);
    close(sv[1]);
}

static void s_sendfile_offset_eof(const char *name) {
    int tp[2];
    tcp_pair(tp);
    int fd = temp_file(200000);
    struct sink k = {.fd = tp[1]};
    pthread_t kt = spawn(sink_reader, &k);
    off_t off = 1000;
    struct sf s = {.out = tp[0], .in = fd, .off = &off, .count = 5000};
    in_thread(sendfiler, &s);
    off_t off_after = off;
    off = 150000;
    struct sf e = {.out = tp[0], .in = fd, .off = &off, .count = 1000000};
    in_thread(sendfiler, &e);
    off_t off_eof = off;
    struct sf z = {.out = tp[0], .in = fd, .off = &off, .count = 100};
    in_thread(sendfiler, &z);
    shutdown(tp[0], SHUT_WR);
    join(kt);
    int p[2];
    if (pipe(p) != 0) DIE("pipe");
    struct sf bad = {.out = tp[0], .in = p[0], .count = 10};
    in_thread(sendfiler, &bad);
    struct sf badfd = {.out = -1, .in = fd, .count = 10};
    in_thread(sendfiler, &badfd);
    out(name, " first=%s off=%ld file_pos=%ld to_eof=%s off=%ld at_eof=%s received=%llu from_pipe=%s badfd=%s",
        rs(s.r), (long)off_after, (long)lseek(fd, 0, SEEK_CUR), rs(e.r), (long)off_eof, rs(z.r),
        (unsigned long long)k.total, rs(bad.r), rs(badfd.r));
    close2(p);
    close(fd);
    close2(tp);
}

struct spl {
    int in, out;
    size_t len;
    unsigned flags;
    res_t r;
    double t0;
};

static void *splicer(void *arg) {
    struct spl *s = arg;
    s->t0 = mono_now();
    s->r = CALL(splice(s->in, NULL, s->out, NULL, s->len, s->flags));
    return NULL;
}

static void s_splice_pipe_to_socket(const char *name) {
    int p[2], sv[2];
    if (pipe(p) != 0) DIE("pipe");
    unix_pair(sv);
    static char data[10000];
    memset(data, 's', sizeof data);
    if (write(p[1], data, sizeof data) != (ssize_t)sizeof data) DIE("write");
    struct spl a = {.in = p[0], .out = sv[0], .len = 10000};
    in_thread(splicer, &a);
    /* A blocking splice from an empty pipe waits for the writer. */
    struct script s = {.steps = {{20, OP_WRITE, p[1], "later", 0}}, .n = 1};
    struct spl b = {.in = p[0], .out = sv[0], .len = 100};
    double t0 = mono_now();
    pthread_t st = spawn(run_script, &s), pt = spawn(splicer, &b);
    join(pt);
    join(st);
    int waited = waited_about(t0, 20);
    struct spl nb = {.in = p[0], .out = sv[0], .len = 100, .flags = SPLICE_F_NONBLOCK};
    in_thread(splicer, &nb);
    close(p[1]);
    struct spl eof = {.in = p[0], .out = sv[0], .len = 100};
    in_thread(splicer, &eof);
    struct spl bad = {.in = sv[0], .out = sv[1], .len = 100};
    in_thread(splicer, &bad);
    shutdown(sv[0], SHUT_WR);
    uint64_t got = 0;
    char buf[4096];
    ssize_t n;
    while ((n = read(sv[1], buf, sizeof buf)) > 0) got += (uint64_t)n;
    out(name, " full=%s waits=%s waited=%d nonblock_empty=%s eof=%s two_sockets=%s received=%llu",
        rs(a.r), rs(b.r), waited, rs(nb.r), rs(eof.r), rs(bad.r), (unsigned long long)got);
    close(p[0]);
    close2(sv);
}

static void s_splice_socket_to_pipe(const char *name) {
    int p[2], tp[2];
    if (pipe(p) != 0) DIE("pipe");
    tcp_pair(tp);
    struct script s = {.steps = {{20, OP_WRITE, tp[1], "over tcp", 0}}, .n = 1};
    struct spl a = {.in = tp[0], .out = p[1], .len = 1000};
    pthread_t st = spawn(run_script, &s), pt = spawn(splicer, &a);
    join(pt);
    join(st);
    char buf[32];
    res_t r = CALL(read(p[0], buf, sizeof buf));
    out(name, " splice=%s pipe_read=%s \"%.*s\"", rs(a.r), rs(r), r.ret > 0 ? (int)r.ret : 0, buf);
    close2(p);
    close2(tp);
}

/* ---- Table */

static const struct scenario scenarios[] = {
    {"partial_read_unix", s_partial_read_unix},
    {"partial_read_tcp", s_partial_read_tcp},
    {"partial_read_main", s_partial_read_main},
    {"read_zero_length", s_read_zero_length},
    {"short_write_unix_nonblock", s_short_write_unix_nonblock},
    {"short_write_tcp_dontwait", s_short_write_tcp_dontwait},
    {"blocking_write_large_unix", s_blocking_write_large_unix},
    {"blocking_write_large_tcp", s_blocking_write_large_tcp},
    {"writev_large_blocking", s_writev_large_blocking},
    {"eof_after_close", s_eof_after_close},
    {"eof_wait_unix", s_eof_wait_unix},
    {"eof_wait_tcp", s_eof_wait_tcp},
    {"reset_linger0", s_reset_linger0},
    {"reset_unread_data", s_reset_unread_data},
    {"reset_write_then_epipe", s_reset_write_then_epipe},
    {"sigpipe_handler_write", s_sigpipe_handler_write},
    {"sigpipe_nosignal", s_sigpipe_nosignal},
    {"sigpipe_ignored", s_sigpipe_ignored},
    {"sigpipe_default_kills", s_sigpipe_default_kills},
    {"sigpipe_thread_main_unaffected", s_sigpipe_thread_main_unaffected},
    {"connect_refused", s_connect_refused},
    {"connect_refused_nonblock", s_connect_refused_nonblock},
    {"connect_nonblock_ok", s_connect_nonblock_ok},
    {"connect_blocking_thread", s_connect_blocking_thread},
    {"connect_sndtimeo", s_connect_sndtimeo},
    {"waitall_unix", s_waitall_unix},
    {"waitall_tcp", s_waitall_tcp},
    {"waitall_eof", s_waitall_eof},
    {"waitall_rcvtimeo_total", s_waitall_rcvtimeo_total},
    {"peek", s_peek},
    {"peek_tcp_waitall", s_peek_tcp_waitall},
    {"dontwait", s_dontwait},
    {"nonblock_fcntl", s_nonblock_fcntl},
    {"nonblock_fionbio", s_nonblock_fionbio},
    {"nonblock_sock_flag", s_nonblock_sock_flag},
    {"getfl_other_flags", s_getfl_other_flags},
    {"dup_shares_nonblock", s_dup_shares_nonblock},
    {"dup_after_close_original", s_dup_after_close_original},
    {"dup2_onto_open", s_dup2_onto_open},
    {"dup2_high_numbers", s_dup2_high_numbers},
    {"close_while_reading", s_close_while_reading},
    {"shutdown_wr_eof", s_shutdown_wr_eof},
    {"shutdown_rd", s_shutdown_rd},
    {"ebadf", s_ebadf},
    {"efault_unix", s_efault_unix},
    {"efault_tcp", s_efault_tcp},
    {"accept_not_listening", s_accept_not_listening},
    {"accept4_flags", s_accept4_flags},
    {"accept_waits", s_accept_waits},
    {"rcvtimeo", s_rcvtimeo},
    {"rcvtimeo_accept", s_rcvtimeo_accept},
    {"sndtimeo_full", s_sndtimeo_full},
    {"sndtimeo_partial", s_sndtimeo_partial},
    {"sndtimeo_total_tcp", s_sndtimeo_total_tcp},
    {"sockopt_roundtrip", s_sockopt_roundtrip},
    {"rcvlowat_wait", s_rcvlowat_wait},
    {"sockopt_errors", s_sockopt_errors},
    {"readv_writev", s_readv_writev},
    {"sendfile_to_socket", s_sendfile_to_socket},
    {"sendfile_offset_eof", s_sendfile_offset_eof},
    {"splice_pipe_to_socket", s_splice_pipe_to_socket},
    {"splice_socket_to_pipe", s_splice_socket_to_pipe},
};

int main(int argc, char **argv) {
    sigpipe_ignore();
    return run_scenarios("diff_stream", scenarios, sizeof scenarios / sizeof scenarios[0], argc, argv);
}
