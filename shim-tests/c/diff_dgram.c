/* Differential semantics of message sockets: UDP datagram boundaries, MSG_TRUNC, MSG_PEEK,
 * MSG_DONTWAIT, ICMP errors on connected UDP, AF_UNIX datagram and seqpacket sockets
 * (record boundaries, EOF), SCM_RIGHTS descriptor passing, recvmmsg/sendmmsg counts and
 * scatter-gather on datagrams.
 *
 *   diff_dgram [SCENARIO...]
 *
 * Every scenario prints exactly one line, "name: result...", made only of values that are
 * the same on every native run; test_differential.py compares a greened run with a native
 * one line by line. Waits that must block run in threads made with pthread_create (the
 * green ones), some on the main thread too. */
#define _GNU_SOURCE
#include "diff_common.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* ---- Sockets */

/* A UDP socket bound to a free loopback port. */
static int udp_socket(struct sockaddr_in *addr) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) DIE("socket");
    struct sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) DIE("bind");
    if (getsockname(fd, (struct sockaddr *)&a, &len) != 0) DIE("getsockname");
    if (addr) *addr = a;
    return fd;
}

static void pair_of(int type, int sv[2]) {
    if (socketpair(AF_UNIX, type, 0, sv) != 0) DIE("socketpair");
}

/* A datagram sent later by a thread. */
struct later {
    int fd;
    int delay_ms;
    const char *data;
    size_t len;
    const struct sockaddr_in *to; /* NULL: connected */
    int count;
    int close_after;
};

static void *send_later(void *arg) {
    struct later *l = arg;
    int count = l->count ? l->count : 1;
    for (int i = 0; i < count; i++) {
        msleep(l->delay_ms);
        size_t len = l->len ? l->len : strlen(l->data);
        ssize_t n = l->to ? sendto(l->fd, l->data, len, 0, (const struct sockaddr *)l->to, sizeof *l->to)
                          : send(l->fd, l->data, len, 0);
        if (n != (ssize_t)len) DIE("send_later");
    }
    if (l->close_after) close(l->fd);
    return NULL;
}

/* A receive in a thread. */
struct rcv {
    int fd;
    size_t want;
    int flags;
    res_t r;
    char buf[512];
    struct sockaddr_in from;
    socklen_t fromlen;
};

static void *receiver(void *arg) {
    struct rcv *r = arg;
    r->fromlen = sizeof r->from;
    r->r = CALL(recvfrom(r->fd, r->buf, r->want ? r->want : sizeof r->buf, r->flags,
                         (struct sockaddr *)&r->from, &r->fromlen));
    return NULL;
}

static const char *data_of(struct rcv *r) {
    static char bufs[8][80];
    static int next;
    char *b = bufs[next++ & 7];
    int n = r->r.ret > 0 ? (int)r->r.ret : 0;
    size_t cap = r->want ? r->want : sizeof r->buf;
    if ((size_t)n > cap) n = (int)cap;
    if (n > 40) n = 40;
    snprintf(b, 80, "\"%.*s\"", n, r->buf);
    return b;
}

/* ===================================================================== UDP */

static void s_udp_boundaries(const char *name) {
    struct sockaddr_in ra, ta;
    int rx = udp_socket(&ra), tx = udp_socket(&ta);
    static char big[200];
    memset(big, 'b', sizeof big);
    res_t s1 = CALL(sendto(tx, "0123456789", 10, 0, (struct sockaddr *)&ra, sizeof ra));
    res_t s2 = CALL(sendto(tx, big, 200, 0, (struct sockaddr *)&ra, sizeof ra));
    res_t s3 = CALL(sendto(tx, "z", 1, 0, (struct sockaddr *)&ra, sizeof ra));
    struct rcv r[3];
    for (int i = 0; i < 3; i++) {
        r[i] = (struct rcv){.fd = rx};
        in_thread(receiver, &r[i]);
    }
    int src_ok = 1;
    for (int i = 0; i < 3; i++)
        src_ok &= r[i].fromlen == sizeof ta && r[i].from.sin_port == ta.sin_port;
    out(name, " sent=%s,%s,%s received=%s,%s,%s src_ok=%d", rs(s1), rs(s2), rs(s3), rs(r[0].r), rs(r[1].r),
        rs(r[2].r), src_ok);
    close(rx);
    close(tx);
}

static void s_udp_trunc(const char *name) {
    struct sockaddr_in ra;
    int rx = udp_socket(&ra), tx = udp_socket(NULL);
    static char big[200];
    memset(big, 't', sizeof big);
    for (int i = 0; i < 3; i++)
        if (sendto(tx, big, 200, 0, (struct sockaddr *)&ra, sizeof ra) != 200) DIE("sendto");
    struct rcv a = {.fd = rx, .want = 5, .flags = MSG_TRUNC};
    in_thread(receiver, &a);
    char small[5];
    struct iovec iov = {small, sizeof small};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    res_t b = CALL(recvmsg(rx, &m, 0));
    struct rcv c = {.fd = rx, .want = 5};
    in_thread(receiver, &c);
    struct rcv d = {.fd = rx, .flags = MSG_DONTWAIT};
    in_thread(receiver, &d);
    out(name, " msg_trunc=%s recvmsg=%s flags=0x%x plain=%s rest_dropped=%s", rs(a.r), rs(b), m.msg_flags,
        rs(c.r), rs(d.r));
    close(rx);
    close(tx);
}

static void s_udp_recv_waits(const char *name) {
    struct sockaddr_in ra;
    int rx = udp_socket(&ra), tx = udp_socket(NULL);
    struct later l = {.fd = tx, .delay_ms = 20, .data = "late datagram", .to = &ra};
    struct rcv r = {.fd = rx};
    double t0 = mono_now();
    pthread_t lt = spawn(send_later, &l), rt = spawn(receiver, &r);
    join(rt);
    join(lt);
    int waited = waited_about(t0, 20);
    /* And on the main thread. */
    struct later l2 = {.fd = tx, .delay_ms = 20, .data = "main", .to = &ra};
    lt = spawn(send_later, &l2);
    struct rcv m = {.fd = rx};
    receiver(&m);
    join(lt);
    out(name, " thread=%s %s waited=%d main=%s %s", rs(r.r), data_of(&r), waited, rs(m.r), data_of(&m));
    close(rx);
    close(tx);
}

static void s_udp_zero_length(const char *name) {
    struct sockaddr_in ra;
    int rx = udp_socket(&ra), tx = udp_socket(NULL);
    res_t s = CALL(sendto(tx, "", 0, 0, (struct sockaddr *)&ra, sizeof ra));
    struct rcv r = {.fd = rx};
    in_thread(receiver, &r);
    struct rcv d = {.fd = rx, .flags = MSG_DONTWAIT};
    in_thread(receiver, &d);
    out(name, " send=%s recv=%s after=%s", rs(s), rs(r.r), rs(d.r));
    close(rx);
    close(tx);
}

static void s_udp_connected_refused(const char *name) {
    struct sockaddr_in dead;
    int gone = udp_socket(&dead);
    close(gone);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (connect(fd, (struct sockaddr *)&dead, sizeof dead) != 0) DIE("connect");
    res_t s = CALL(send(fd, "x", 1, 0));
    struct rcv r = {.fd = fd};
    in_thread(receiver, &r);
    res_t s2 = CALL(send(fd, "y", 1, 0));
    msleep(10);
    res_t s3 = CALL(send(fd, "z", 1, 0));
    out(name, " send=%s recv=%s send2=%s send3=%s", rs(s), rs(r.r), rs(s2), rs(s3));
    close(fd);
}

static void s_udp_peek(const char *name) {
    struct sockaddr_in ra;
    int rx = udp_socket(&ra), tx = udp_socket(NULL);
    struct later l = {.fd = tx, .delay_ms = 20, .data = "datagram", .to = &ra};
    struct rcv p = {.fd = rx, .want = 4, .flags = MSG_PEEK};
    pthread_t lt = spawn(send_later, &l), pt = spawn(receiver, &p);
    join(pt);
    join(lt);
    struct rcv r = {.fd = rx};
    in_thread(receiver, &r);
    out(name, " peek=%s %s read=%s %s", rs(p.r), data_of(&p), rs(r.r), data_of(&r));
    close(rx);
    close(tx);
}

static void s_udp_dontwait_nonblock(const char *name) {
    struct sockaddr_in ra;
    int rx = udp_socket(&ra);
    struct rcv d = {.fd = rx, .flags = MSG_DONTWAIT};
    double t0 = mono_now();
    in_thread(receiver, &d);
    int q1 = at_once(t0);
    int nb = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in na = loopback(0);
    bind(nb, (struct sockaddr *)&na, sizeof na);
    struct rcv e = {.fd = nb};
    t0 = mono_now();
    in_thread(receiver, &e);
    int q2 = at_once(t0);
    out(name, " dontwait=%s at_once=%d sock_nonblock=%s at_once=%d flags=0x%x,0x%x", rs(d.r), q1, rs(e.r), q2,
        fcntl(rx, F_GETFL), fcntl(nb, F_GETFL));
    close(rx);
    close(nb);
}

static void s_udp_rcvtimeo(const char *name) {
    struct sockaddr_in ra;
    int rx = udp_socket(&ra);
    struct timeval tv = {0, 150000}, got;
    setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    socklen_t len = sizeof got;
    getsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &got, &len);
    struct rcv r = {.fd = rx};
    double t0 = mono_now();
    in_thread(receiver, &r);
    int waited = waited_about(t0, 150);
    char buf[4];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    t0 = mono_now();
    res_t rm = CALL(recvmsg(rx, &m, 0));
    out(name, " get=%ld.%06ld recvfrom=%s waited=%d recvmsg_main=%s waited=%d", (long)got.tv_sec,
        (long)got.tv_usec, rs(r.r), waited, rs(rm), waited_about(t0, 150));
    close(rx);
}

static void s_udp_sendto_errors(const char *name) {
    struct sockaddr_in ra;
    int rx = udp_socket(&ra), tx = socket(AF_INET, SOCK_DGRAM, 0);
    static char huge[70000];
    res_t a = CALL(sendto(tx, "x", 1, 0, NULL, 0));
    res_t b = CALL(sendto(tx, huge, sizeof huge, 0, (struct sockaddr *)&ra, sizeof ra));
    res_t c = CALL(sendto(tx, "x", 1, 0, (struct sockaddr *)&ra, 3));
    res_t d = CALL(send(tx, "x", 1, 0));
    res_t e = CALL(sendto(tx, "x", 1, MSG_OOB, (struct sockaddr *)&ra, sizeof ra));
    out(name, " no_addr=%s too_big=%s bad_len=%s send_unconnected=%s oob=%s", rs(a), rs(b), rs(c), rs(d),
        rs(e));
    close(rx);
    close(tx);
}

static void s_udp_scatter_gather(const char *name) {
    struct sockaddr_in ra;
    int rx = udp_socket(&ra), tx = udp_socket(NULL);
    if (connect(tx, (struct sockaddr *)&ra, sizeof ra) != 0) DIE("connect");
    struct iovec w[3] = {{"head-", 5}, {"body-", 5}, {"tail", 4}};
    res_t wr = CALL(writev(tx, w, 3));
    res_t wr2 = CALL(writev(tx, w, 2));
    char a[3], b[6], c[20];
    struct iovec r[3] = {{a, 3}, {b, 6}, {c, 20}};
    res_t rd = CALL(readv(rx, r, 3));
    char small[4];
    struct iovec r2[1] = {{small, 4}};
    res_t rd2 = CALL(readv(rx, r2, 1));
    out(name, " writev=%s,%s readv=%s \"%.3s|%.6s|%.5s\" readv_short=%s \"%.4s\"", rs(wr), rs(wr2), rs(rd), a, b,
        c, rs(rd2), small);
    close(rx);
    close(tx);
}

/* ===================================================================== AF_UNIX */

static void s_unix_dgram_boundaries(const char *name) {
    int sv[2];
    pair_of(SOCK_DGRAM, sv);
    res_t s1 = CALL(send(sv[1], "one", 3, 0));
    res_t s2 = CALL(send(sv[1], "three", 5, 0));
    struct rcv r1 = {.fd = sv[0]}, r2 = {.fd = sv[0], .want = 2};
    in_thread(receiver, &r1);
    in_thread(receiver, &r2);
    struct later l = {.fd = sv[1], .delay_ms = 20, .data = "later"};
    struct rcv r3 = {.fd = sv[0]};
    pthread_t lt = spawn(send_later, &l), rt = spawn(receiver, &r3);
    join(rt);
    join(lt);
    close(sv[0]);
    res_t s4 = CALL(send(sv[1], "x", 1, MSG_NOSIGNAL));
    out(name, " send=%s,%s recv=%s %s cut=%s %s waited_recv=%s %s after_peer_close=%s", rs(s1), rs(s2),
        rs(r1.r), data_of(&r1), rs(r2.r), data_of(&r2), rs(r3.r), data_of(&r3), rs(s4));
    close(sv[1]);
}

struct snd {
    int fd;
    res_t r;
};

static void *blocking_send(void *arg) {
    struct snd *s = arg;
    s->r = CALL(send(s->fd, "blocked", 7, 0));
    return NULL;
}

/* A full datagram socket: MSG_DONTWAIT says EAGAIN; a blocking send waits for room (the
 * sender counts as writable again once half its send buffer is free), and its message
 * comes after all the others. */
struct drain {
    int fd;
    int count;
    int got;
};

static void *drain_n(void *arg) {
    struct drain *d = arg;
    char buf[16];
    msleep(30);
    for (int i = 0; i < d->count; i++)
        if (recv(d->fd, buf, sizeof buf, 0) == 4) d->got++;
    return NULL;
}

static void s_unix_dgram_full(const char *name) {
    int sv[2];
    pair_of(SOCK_DGRAM, sv);
    int n = 0;
    while (send(sv[1], "fill", 4, MSG_DONTWAIT) == 4) n++;
    int err = errno;
    struct snd s = {.fd = sv[1]};
    struct drain d = {.fd = sv[0], .count = n};
    double t0 = mono_now();
    pthread_t st = spawn(blocking_send, &s), dt = spawn(drain_n, &d);
    join(st);
    int waited = waited_about(t0, 30);
    join(dt);
    struct rcv r = {.fd = sv[0]};
    in_thread(receiver, &r);
    out(name, " filled=%d stop=%s blocking_send=%s waited=%d drained_all=%d last=%s %s", n > 0, en(err),
        rs(s.r), waited, d.got == n, rs(r.r), data_of(&r));
    close2(sv);
}

static void s_seqpacket_records(const char *name) {
    int sv[2];
    pair_of(SOCK_SEQPACKET, sv);
    if (send(sv[1], "alpha", 5, 0) != 5 || send(sv[1], "be", 2, 0) != 2 || send(sv[1], "gamma-ray", 9, 0) != 9)
        DIE("send");
    struct rcv r1 = {.fd = sv[0]}, r2 = {.fd = sv[0]};
    in_thread(receiver, &r1);
    in_thread(receiver, &r2);
    char small[5];
    struct iovec iov = {small, sizeof small};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    res_t t = CALL(recvmsg(sv[0], &m, 0));
    struct rcv w = {.fd = sv[0], .want = 100, .flags = MSG_WAITALL};
    struct later l = {.fd = sv[1], .delay_ms = 20, .data = "rec"};
    pthread_t lt = spawn(send_later, &l), rt = spawn(receiver, &w);
    join(rt);
    join(lt);
    out(name, " r1=%s %s r2=%s %s cut=%s flags=0x%x \"%.5s\" waitall=%s %s", rs(r1.r), data_of(&r1), rs(r2.r),
        data_of(&r2), rs(t), m.msg_flags, small, rs(w.r), data_of(&w));
    close2(sv);
}

static void s_seqpacket_eof(const char *name) {
    int sv[2];
    pair_of(SOCK_SEQPACKET, sv);
    struct later l = {.fd = sv[1], .delay_ms = 20, .data = "last", .close_after = 1};
    struct rcv a = {.fd = sv[0]}, b = {.fd = sv[0]};
    pthread_t lt = spawn(send_later, &l), rt = spawn(receiver, &a);
    join(rt);
    join(lt);
    in_thread(receiver, &b);
    res_t s = CALL(send(sv[0], "x", 1, MSG_NOSIGNAL));
    out(name, " read=%s %s eof=%s send=%s", rs(a.r), data_of(&a), rs(b.r), rs(s));
    close(sv[0]);
}

/* ===================================================================== SCM_RIGHTS */

static int send_fds(int sock, const int *fds, int n, const char *data) {
    union {
        char buf[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct iovec iov = {(void *)data, strlen(data)};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                       .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
    return (int)sendmsg(sock, &m, 0);
}

struct fdrecv {
    int sock;
    size_t control_room; /* in fds */
    res_t r;
    int flags;
    int nfds;
    int fds[8];
    char data[32];
};

static void *recv_fds(void *arg) {
    struct fdrecv *f = arg;
    union {
        char buf[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } control;
    struct iovec iov = {f->data, sizeof f->data};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                       .msg_controllen = f->control_room ? CMSG_SPACE(sizeof(int) * f->control_room) : 0};
    f->r = CALL(recvmsg(f->sock, &m, 0));
    f->flags = m.msg_flags;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            memcpy(f->fds + f->nfds, CMSG_DATA(c), sizeof(int) * (size_t)k);
            f->nfds += k;
        }
    }
    return NULL;
}

struct delayed_fds {
    int sock;
    int fds[4];
    int n;
    const char *data;
};

static void *send_fds_later(void *arg) {
    struct delayed_fds *d = arg;
    msleep(20);
    if (send_fds(d->sock, d->fds, d->n, d->data) < 0) DIE("sendmsg fds");
    return NULL;
}

static void s_scm_rights(const char *name) {
    int sv[2], p[2];
    pair_of(SOCK_STREAM, sv);
    if (pipe(p) != 0) DIE("pipe");
    struct delayed_fds d = {.sock = sv[1], .fds = {p[1]}, .n = 1, .data = "fd"};
    struct fdrecv f = {.sock = sv[0], .control_room = 1};
    pthread_t st = spawn(send_fds_later, &d), rt = spawn(recv_fds, &f);
    join(rt);
    join(st);
    res_t w = CALL(f.nfds == 1 ? write(f.fds[0], "via passed fd", 13) : -1);
    char buf[32];
    res_t r = CALL(read(p[0], buf, sizeof buf));
    int distinct = f.nfds == 1 && f.fds[0] != p[1];
    int view = f.nfds == 1 ? fcntl(f.fds[0], F_GETFL) : -1;
    if (f.nfds == 1) close(f.fds[0]);
    out(name, " recvmsg=%s data=\"%.*s\" nfds=%d new_number=%d write=%s read=%s \"%.*s\" flags=0x%x", rs(f.r),
        f.r.ret > 0 ? (int)f.r.ret : 0, f.data, f.nfds, distinct, rs(w), rs(r), r.ret > 0 ? (int)r.ret : 0, buf,
        view);
    close2(p);
    close2(sv);
}

/* A descriptor passed within the process keeps the blocking behaviour of its description:
 * a blocking read on the received read end of an empty pipe waits for the writer. */
struct fd_read {
    int fd;
    res_t r;
    char buf[16];
};

static void *read_fd(void *arg) {
    struct fd_read *f = arg;
    f->r = CALL(read(f->fd, f->buf, sizeof f->buf));
    return NULL;
}

static void s_scm_rights_blocking(const char *name) {
    int sv[2], p[2];
    pair_of(SOCK_DGRAM, sv);
    if (pipe(p) != 0) DIE("pipe");
    res_t s = CALL(send_fds(sv[1], &p[0], 1, "r"));
    struct fdrecv f = {.sock = sv[0], .control_room = 1};
    in_thread(recv_fds, &f);
    if (f.nfds != 1) DIE("no fd received");
    struct fd_read r = {.fd = f.fds[0]};
    double t0 = mono_now();
    pthread_t rt = spawn(read_fd, &r);
    msleep(20);
    if (write(p[1], "hello", 5) != 5) DIE("write");
    join(rt);
    out(name, " send=%s view=0x%x read=%s \"%.*s\" waited=%d", rs(s), fcntl(f.fds[0], F_GETFL), rs(r.r),
        r.r.ret > 0 ? (int)r.r.ret : 0, r.buf, waited_about(t0, 20));
    close(f.fds[0]);
    close2(p);
    close2(sv);
}

static void s_scm_rights_many_ctrunc(const char *name) {
    int sv[2], a[2], b[2], c[2];
    pair_of(SOCK_DGRAM, sv);
    pair_of(SOCK_STREAM, a);
    pair_of(SOCK_STREAM, b);
    pair_of(SOCK_STREAM, c);
    int three[3] = {a[1], b[1], c[1]};
    res_t s1 = CALL(send_fds(sv[1], three, 3, "three"));
    struct fdrecv f = {.sock = sv[0], .control_room = 3};
    in_thread(recv_fds, &f);
    int works = 0;
    for (int i = 0; i < f.nfds; i++) {
        if (write(f.fds[i], "k", 1) == 1) works++;
        close(f.fds[i]);
    }
    res_t s2 = CALL(send_fds(sv[1], three, 3, "cut"));
    struct fdrecv g = {.sock = sv[0], .control_room = 1};
    in_thread(recv_fds, &g);
    for (int i = 0; i < g.nfds; i++) close(g.fds[i]);
    res_t s3 = CALL(send_fds(sv[1], three, 1, "none"));
    struct fdrecv h = {.sock = sv[0]};
    in_thread(recv_fds, &h);
    out(name, " send=%s recv=%s nfds=%d working=%d cut_send=%s recv=%s nfds=%d ctrunc=%d no_room_send=%s recv=%s ctrunc=%d",
        rs(s1), rs(f.r), f.nfds, works, rs(s2), rs(g.r), g.nfds, (g.flags & MSG_CTRUNC) != 0, rs(s3), rs(h.r),
        (h.flags & MSG_CTRUNC) != 0);
    close2(sv);
    close2(a);
    close2(b);
    close2(c);
}

/* ===================================================================== recvmmsg, sendmmsg */

struct mm {
    int fd;
    unsigned vlen;
    int flags;
    res_t r;
    char bufs[8][16];
    struct iovec iov[8];
    struct mmsghdr msgs[8];
};

static void mm_prepare(struct mm *m) {
    memset(m->msgs, 0, sizeof m->msgs);
    for (int i = 0; i < 8; i++) {
        m->iov[i] = (struct iovec){m->bufs[i], sizeof m->bufs[i]};
        m->msgs[i].msg_hdr.msg_iov = &m->iov[i];
        m->msgs[i].msg_hdr.msg_iovlen = 1;
    }
}

static void *mm_receiver(void *arg) {
    struct mm *m = arg;
    mm_prepare(m);
    m->r = CALL(recvmmsg(m->fd, m->msgs, m->vlen, m->flags, NULL));
    return NULL;
}

static const char *mm_lens(struct mm *m) {
    static char bufs[4][96];
    static int next;
    char *b = bufs[next++ & 3];
    b[0] = 0;
    for (long i = 0; i < m->r.ret && i < 8; i++)
        snprintf(b + strlen(b), 96 - strlen(b), "%s%u", i ? "," : "", m->msgs[i].msg_len);
    return b;
}

static void s_recvmmsg_counts(const char *name) {
    struct sockaddr_in ra;
    int rx = udp_socket(&ra), tx = udp_socket(NULL);
    for (int i = 0; i < 5; i++) {
        char d[8];
        int n = snprintf(d, sizeof d, "m%d%.*s", i, i, "xxxx");
        if (sendto(tx, d, (size_t)n, 0, (struct sockaddr *)&ra, sizeof ra) != n) DIE("sendto");
    }
    struct mm a = {.fd = rx, .vlen = 8, .flags = MSG_WAITFORONE};
    in_thread(mm_receiver, &a);
    struct mm e = {.fd = rx, .vlen = 8, .flags = MSG_DONTWAIT};
    in_thread(mm_receiver, &e);
    for (int i = 0; i < 2; i++)
        if (sendto(tx, "q", 1, 0, (struct sockaddr *)&ra, sizeof ra) != 1) DIE("sendto");
    struct mm d = {.fd = rx, .vlen = 4, .flags = MSG_DONTWAIT};
    in_thread(mm_receiver, &d);
    struct mm z = {.fd = rx, .vlen = 0};
    in_thread(mm_receiver, &z);
    out(name, " waitforone=%s lens=%s empty_dontwait=%s dontwait=%s lens=%s vlen0=%s", rs(a.r), mm_lens(&a),
        rs(e.r), rs(d.r), mm_lens(&d), rs(z.r));
    close(rx);
    close(tx);
}

static void s_recvmmsg_blocking(const char *name) {
    struct sockaddr_in ra;
    int rx = udp_socket(&ra), tx = udp_socket(NULL);
    struct later l = {.fd = tx, .delay_ms = 10, .data = "paced", .to = &ra, .count = 3};
    struct mm m = {.fd = rx, .vlen = 3};
    double t0 = mono_now();
    pthread_t lt = spawn(send_later, &l), mt = spawn(mm_receiver, &m);
    join(mt);
    join(lt);
    out(name, " recvmmsg=%s lens=%s waited=%d", rs(m.r), mm_lens(&m), waited_about(t0, 30));
    close(rx);
    close(tx);
}

static void s_sendmmsg_counts(const char *name) {
    struct sockaddr_in ra;
    int rx = udp_socket(&ra), tx = udp_socket(NULL);
    if (connect(tx, (struct sockaddr *)&ra, sizeof ra) != 0) DIE("connect");
    struct iovec iov[4] = {{"a", 1}, {"bb", 2}, {"ccc", 3}, {"dddd", 4}};
    struct mmsghdr msgs[4];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < 4; i++) {
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    res_t s = CALL(sendmmsg(tx, msgs, 4, 0));
    struct mm m = {.fd = rx, .vlen = 8, .flags = MSG_WAITFORONE};
    in_thread(mm_receiver, &m);
    /* On a stream: every message whole, one after the other. */
    int sv[2];
    pair_of(SOCK_STREAM, sv);
    res_t ss = CALL(sendmmsg(sv[1], msgs, 4, 0));
    char buf[32];
    res_t r = CALL(read(sv[0], buf, sizeof buf));
    out(name, " udp=%s msg_len=%u,%u,%u,%u received=%s lens=%s stream=%s read=%s \"%.*s\"", rs(s), msgs[0].msg_len,
        msgs[1].msg_len, msgs[2].msg_len, msgs[3].msg_len, rs(m.r), mm_lens(&m), rs(ss), rs(r),
        r.ret > 0 ? (int)r.ret : 0, buf);
    close2(sv);
    close(rx);
    close(tx);
}

/* ---- Table */

static const struct scenario scenarios[] = {
    {"udp_boundaries", s_udp_boundaries},
    {"udp_trunc", s_udp_trunc},
    {"udp_recv_waits", s_udp_recv_waits},
    {"udp_zero_length", s_udp_zero_length},
    {"udp_connected_refused", s_udp_connected_refused},
    {"udp_peek", s_udp_peek},
    {"udp_dontwait_nonblock", s_udp_dontwait_nonblock},
    {"udp_rcvtimeo", s_udp_rcvtimeo},
    {"udp_sendto_errors", s_udp_sendto_errors},
    {"udp_scatter_gather", s_udp_scatter_gather},
    {"unix_dgram_boundaries", s_unix_dgram_boundaries},
    {"unix_dgram_full", s_unix_dgram_full},
    {"seqpacket_records", s_seqpacket_records},
    {"seqpacket_eof", s_seqpacket_eof},
    {"scm_rights", s_scm_rights},
    {"scm_rights_blocking", s_scm_rights_blocking},
    {"scm_rights_many_ctrunc", s_scm_rights_many_ctrunc},
    {"recvmmsg_counts", s_recvmmsg_counts},
    {"recvmmsg_blocking", s_recvmmsg_blocking},
    {"sendmmsg_counts", s_sendmmsg_counts},
};

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    return run_scenarios("diff_dgram", scenarios, sizeof scenarios / sizeof scenarios[0], argc, argv);
}
