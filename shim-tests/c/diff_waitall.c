/* Differential semantics of MSG_WAITALL on TCP, the same for recv, recvfrom and recvmsg:
 * all bytes arriving in several pieces, SO_RCVTIMEO expiring after a partial receive (the
 * timeout bounds the whole call, not each wait within it), end of stream after a partial
 * receive, and MSG_PEEK|MSG_WAITALL waiting for the whole buffer's worth.
 *
 *   diff_waitall [SCENARIO...]
 *
 * Every scenario prints exactly one line, "name: result...", made only of values that are
 * the same on every native run; test_differential.py compares a greened run with a native
 * one line by line. The receive runs in a thread made with pthread_create (a green one). */
#define _GNU_SOURCE
#include "diff_common.h"

#include <pthread.h>
#include <sys/socket.h>
#include <sys/uio.h>

enum { VIA_RECV, VIA_RECVFROM, VIA_RECVMSG };

/* One receive of `want` bytes with `flags`, through the call `via` names. */
struct receive {
    int fd;
    int via;
    int flags;
    size_t want;
    char buf[64];
    res_t r;
    double seconds;
    socklen_t addrlen; /* recvfrom and recvmsg: what the call left in it */
    int msg_flags;     /* recvmsg */
};

static void *receiver(void *arg) {
    struct receive *x = arg;
    double t0 = mono_now();
    struct sockaddr_storage from;
    x->addrlen = sizeof from;
    if (x->via == VIA_RECV) {
        x->r = CALL(recv(x->fd, x->buf, x->want, x->flags));
    } else if (x->via == VIA_RECVFROM) {
        x->r = CALL(recvfrom(x->fd, x->buf, x->want, x->flags, (struct sockaddr *)&from, &x->addrlen));
    } else {
        /* Two iovecs, so that the rest of a partial receive starts inside the second. */
        size_t first = x->want / 3;
        struct iovec iov[2] = {{x->buf, first}, {x->buf + first, x->want - first}};
        struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = iov, .msg_iovlen = 2};
        x->r = CALL(recvmsg(x->fd, &msg, x->flags));
        x->addrlen = msg.msg_namelen;
        x->msg_flags = msg.msg_flags;
    }
    x->seconds = mono_now() - t0;
    return NULL;
}

/* The bytes received, quoted. */
static const char *got(const struct receive *x) {
    static char bufs[4][80];
    static int next;
    char *b = bufs[next++ & 3];
    int n = x->r.ret > 0 ? (int)x->r.ret : 0;
    snprintf(b, 80, "\"%.*s\"", n, x->buf);
    return b;
}

/* What every scenario prints about its receive: what the call returned, the bytes, and
 * what recvfrom and recvmsg left in their in/out fields. */
static void report(const char *name, const struct receive *x, const char *more) {
    out(name, " %s %s addrlen=%u msg_flags=%#x%s", rs(x->r), got(x), (unsigned)x->addrlen, x->msg_flags, more);
}

/* (a) Ten bytes in three pieces, 20 ms apart: the call returns all ten. */
static void pieces(const char *name, int via) {
    int tp[2];
    tcp_pair(tp);
    struct script sc = {.steps = {{20, OP_WRITE, tp[1], "abc", 0}, {20, OP_WRITE, tp[1], "defg", 0},
                                  {20, OP_WRITE, tp[1], "hij", 0}}, .n = 3};
    struct receive x = {.fd = tp[0], .via = via, .flags = MSG_WAITALL, .want = 10};
    pthread_t s = start_script(&sc), r = spawn(receiver, &x);
    join(r);
    join(s);
    report(name, &x, "");
    close2(tp);
}

/* A sender that trickles one byte every 400 ms until told to stop. */
struct trickle {
    int fd;
    volatile int stop;
};

static void *trickler(void *arg) {
    struct trickle *t = arg;
    for (int i = 0; i < 7 && !t->stop; i++) {
        msleep(400);
        if (!t->stop && write(t->fd, "x", 1) != 1) DIE("trickle write");
    }
    return NULL;
}

/* (b) SO_RCVTIMEO of 600 ms, the peer sends 3 bytes at once, then one byte every 400 ms:
 * the timeout bounds the whole call, which returns the 4 bytes that came within it, after
 * about 600 ms. A timeout counted afresh for every wait would never expire here, and the
 * call would return all 10 bytes after 2.8 s. */
static void rcvtimeo(const char *name, int via) {
    int tp[2];
    tcp_pair(tp);
    struct timeval tv = {0, 600 * 1000};
    if (setsockopt(tp[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) DIE("setsockopt");
    if (write(tp[1], "abc", 3) != 3) DIE("write");
    struct trickle t = {.fd = tp[1]};
    struct receive x = {.fd = tp[0], .via = via, .flags = MSG_WAITALL, .want = 10};
    pthread_t s = spawn(trickler, &t), r = spawn(receiver, &x);
    join(r);
    t.stop = 1;
    join(s);
    char more[64];
    snprintf(more, sizeof more, " at_least_0.5s=%d under_2s=%d", x.seconds >= 0.5, x.seconds < 2.0);
    report(name, &x, more);
    close2(tp);
}

/* (c) Three bytes, then the peer closes: the call returns the three, and the next 0. */
static void eof(const char *name, int via) {
    int tp[2];
    tcp_pair(tp);
    struct script sc = {.steps = {{20, OP_WRITE, tp[1], "abc", 0}, {20, OP_CLOSE, tp[1], NULL, 0}}, .n = 2};
    struct receive x = {.fd = tp[0], .via = via, .flags = MSG_WAITALL, .want = 10};
    pthread_t s = start_script(&sc), r = spawn(receiver, &x);
    join(r);
    join(s);
    struct receive after = {.fd = tp[0], .via = via, .flags = MSG_WAITALL, .want = 10};
    in_thread(receiver, &after);
    char more[64];
    snprintf(more, sizeof more, " then=%s", rs(after.r));
    report(name, &x, more);
    close(tp[0]);
}

/* (d) MSG_PEEK|MSG_WAITALL: six bytes in two pieces; the peek waits for both and consumes
 * nothing, so a plain receive then gets the same six. */
static void peek(const char *name, int via) {
    int tp[2];
    tcp_pair(tp);
    struct script sc = {.steps = {{20, OP_WRITE, tp[1], "abc", 0}, {20, OP_WRITE, tp[1], "def", 0}}, .n = 2};
    struct receive x = {.fd = tp[0], .via = via, .flags = MSG_PEEK | MSG_WAITALL, .want = 6};
    pthread_t s = start_script(&sc), r = spawn(receiver, &x);
    join(r);
    join(s);
    struct receive after = {.fd = tp[0], .via = VIA_RECV, .flags = MSG_DONTWAIT, .want = 64};
    receiver(&after);
    char more[64];
    snprintf(more, sizeof more, " then=%s", rs(after.r));
    report(name, &x, more);
    close2(tp);
}

/* ---- Table */

#define FOR_EACH_CALL(kind)                                                          \
    static void s_recv_##kind(const char *name) { kind(name, VIA_RECV); }           \
    static void s_recvfrom_##kind(const char *name) { kind(name, VIA_RECVFROM); }   \
    static void s_recvmsg_##kind(const char *name) { kind(name, VIA_RECVMSG); }

FOR_EACH_CALL(pieces)
FOR_EACH_CALL(rcvtimeo)
FOR_EACH_CALL(eof)
FOR_EACH_CALL(peek)

static const struct scenario scenarios[] = {
    {"recv_waitall_pieces", s_recv_pieces},
    {"recvfrom_waitall_pieces", s_recvfrom_pieces},
    {"recvmsg_waitall_pieces", s_recvmsg_pieces},
    {"recv_waitall_rcvtimeo", s_recv_rcvtimeo},
    {"recvfrom_waitall_rcvtimeo", s_recvfrom_rcvtimeo},
    {"recvmsg_waitall_rcvtimeo", s_recvmsg_rcvtimeo},
    {"recv_waitall_eof", s_recv_eof},
    {"recvfrom_waitall_eof", s_recvfrom_eof},
    {"recvmsg_waitall_eof", s_recvmsg_eof},
    {"recv_peek_waitall", s_recv_peek},
    {"recvfrom_peek_waitall", s_recvfrom_peek},
    {"recvmsg_peek_waitall", s_recvmsg_peek},
};

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    return run_scenarios("diff_waitall", scenarios, sizeof scenarios / sizeof scenarios[0], argc, argv);
}
