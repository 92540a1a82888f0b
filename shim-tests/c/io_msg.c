/* The vectored and message I/O calls: readv, writev, recvfrom, sendto, recvmsg, sendmsg,
 * recvmmsg, sendmmsg.
 *
 *   io_msg SCENARIO
 *
 * Each scenario prints one line per check: return values, errno names, byte counts and
 * checksums, so that a native run and a greened run can be compared line for line. Where a
 * value legitimately varies between runs (elapsed time, how much a non-blocking write
 * queued), the line shows a bound check ("waited=1", "at_once=1") instead.
 *
 * Scenarios:
 *   writev_socketpair writev_tcp writev_pipe writev_rawpipe writev_rawsocketpair
 *                     one blocking writev of 3 iovecs (8 MiB in all) into a slowly drained
 *                     stream; the reader checks every byte. raw*: made with syscall(2),
 *                     which a preload library does not see, as it does not see the
 *                     descriptors a program inherits.
 *   readv             readv into 3 buffers; a short readv then one that waits for more.
 *   udp               sendto/recvfrom keep datagram boundaries and report the source.
 *   recvfrom_wait     recvfrom blocks in one thread until another sends, 50 ms later.
 *   scm_rights        sendmsg/recvmsg pass an fd over AF_UNIX; MSG_CTRUNC, MSG_TRUNC.
 *   mmsg              sendmmsg/recvmmsg of several datagrams, MSG_WAITFORONE, timeouts.
 *   sendmmsg_stream   sendmmsg of two 4 MiB messages on a slowly drained stream.
 *   sendto_stream     sendto of 4 MiB on a stream returns the full count.
 *   sendmsg_stream    sendmsg of 8 MiB plus one fd: the fd arrives once, every byte in order.
 *   waitall           MSG_WAITALL on recvfrom and recvmsg of stream sockets.
 *   peek              MSG_PEEK, then read.
 *   dontwait          MSG_DONTWAIT and O_NONBLOCK fail with EAGAIN at once.
 *   foreign           blocking calls on sockets made with syscall(2): they wait, and the
 *                     sockets stay blocking in F_GETFL.
 *   ebadf enotsock efault   errors, exactly as the kernel reports them. */
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define MiB (1024u * 1024)

static uint8_t pattern_byte(uint64_t pos) {
    return (uint8_t)((pos * 2654435761u) >> 13);
}

static uint32_t fnv(const void *data, size_t n) {
    const uint8_t *p = data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

/* REPORT(what, call): the call's result and, when it failed, its errno (read after it). */
#define REPORT(what, call) do { ssize_t r_ = (call); report((what), r_, errno); } while (0)

static void report(const char *what, ssize_t ret, int err) {
    if (ret < 0)
        printf("%s ret=-1 errno=%s\n", what, errno_name(err));
    else
        printf("%s ret=%zd\n", what, ret);
}

/* Waits are timed from just before the thread that will end them is created, so that the
 * lower bounds hold however late threads get to run. */
static double g_start;

static pthread_t spawn(void *(*fn)(void *), void *arg) {
    pthread_t t;
    int rc = pthread_create(&t, NULL, fn, arg);
    if (rc != 0) { errno = rc; DIE("pthread_create"); }
    return t;
}

static void join(pthread_t t) {
    int rc = pthread_join(t, NULL);
    if (rc != 0) { errno = rc; DIE("pthread_join"); }
}

static void tcp_pair(int fds[2]) {
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0) DIE("socket");
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((unsigned short)listen_on_loopback(lfd, 0, 1));
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[0] < 0) DIE("socket");
    if (connect(fds[0], (struct sockaddr *)&addr, sizeof addr) != 0) DIE("connect");
    fds[1] = accept(lfd, NULL, NULL);
    if (fds[1] < 0) DIE("accept");
    close(lfd);
}

static void stream_pair(int fds[2]) {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) DIE("socketpair");
}

/* A UDP socket bound to 127.0.0.1 on a free port; its address in *addr. */
static int udp_socket(struct sockaddr_in *addr) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) DIE("socket udp");
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) DIE("bind");
    socklen_t len = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &len) != 0) DIE("getsockname");
    if (addr) *addr = a;
    return fd;
}

/* ---- A slow reader that checks a patterned stream and counts fds passed along with it. */

struct reader {
    int fd;
    uint64_t total;
    int ok;
    int fds_received;
    int use_recvmsg;
};

static void *slow_reader(void *arg) {
    struct reader *r = arg;
    static uint8_t buf[64 * 1024];
    r->ok = 1;
    for (;;) {
        ssize_t n;
        if (r->use_recvmsg) {
            union { char buf[CMSG_SPACE(sizeof(int) * 4)]; struct cmsghdr align; } control;
            struct iovec iov = {buf, sizeof buf};
            struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                                 .msg_control = control.buf, .msg_controllen = sizeof control.buf};
            n = recvmsg(r->fd, &msg, 0);
            if (n >= 0) {
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                        int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                        for (int i = 0; i < count; i++) {
                            int got;
                            memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
                            close(got);
                            r->fds_received++;
                        }
                    }
                }
            }
        } else {
            n = read(r->fd, buf, sizeof buf);
        }
        if (n < 0) DIE("reader after %llu bytes", (unsigned long long)r->total);
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++) {
            if (r->ok && buf[i] != pattern_byte(r->total + (uint64_t)i)) {
                fprintf(stderr, "mismatch at byte %llu\n",
                        (unsigned long long)(r->total + (uint64_t)i));
                r->ok = 0;
            }
        }
        r->total += (uint64_t)n;
        if (usleep(1000) != 0) DIE("usleep");
    }
    close(r->fd);
    return NULL;
}

static uint8_t *patterned(size_t n) {
    uint8_t *buf = malloc(n);
    if (!buf) DIE("malloc");
    for (size_t i = 0; i < n; i++) buf[i] = pattern_byte(i);
    return buf;
}

/* ---- writev */

struct writev_job {
    int fd;
    ssize_t ret;
    int err;
};

static void *writev_writer(void *arg) {
    struct writev_job *w = arg;
    uint8_t *buf = patterned(8 * MiB);
    struct iovec iov[3] = {{buf, 1 * MiB}, {buf + 1 * MiB, 3 * MiB}, {buf + 4 * MiB, 4 * MiB}};
    struct iovec copy[3];
    memcpy(copy, iov, sizeof iov);
    w->ret = writev(w->fd, iov, 3);
    w->err = w->ret < 0 ? errno : 0;
    if (memcmp(copy, iov, sizeof iov) != 0) {
        fprintf(stderr, "writev modified the caller's iovec array\n");
        w->ret = -2;
    }
    close(w->fd);
    free(buf);
    return NULL;
}

static void scenario_writev(const char *name, const char *transport) {
    int fds[2];
    if (strcmp(transport, "tcp") == 0) {
        tcp_pair(fds);
    } else if (strcmp(transport, "socketpair") == 0) {
        stream_pair(fds);
    } else if (strcmp(transport, "rawsocketpair") == 0) {
        if (syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, fds) != 0) DIE("raw socketpair");
    } else {
        int p[2];
        if (strcmp(transport, "pipe") == 0) {
            if (pipe(p) != 0) DIE("pipe");
        } else if (syscall(SYS_pipe2, p, 0) != 0) {
            DIE("raw pipe2");
        }
        fds[0] = p[1];
        fds[1] = p[0];
    }
    struct writev_job w = {.fd = fds[0]};
    struct reader r = {.fd = fds[1]};
    pthread_t rt = spawn(slow_reader, &r), wt = spawn(writev_writer, &w);
    join(wt);
    join(rt);
    if (w.ret < 0)
        printf("%s ret=%zd errno=%s\n", name, w.ret, errno_name(w.err));
    else
        printf("%s ret=%zd read=%llu ok=%d\n", name, w.ret, (unsigned long long)r.total, r.ok);
}

/* ---- readv */

struct delayed_send {
    int fd;
    int delay_us;
    const char *data;
};

static void *delayed_write(void *arg) {
    struct delayed_send *d = arg;
    usleep((useconds_t)d->delay_us);
    if (write(d->fd, d->data, strlen(d->data)) != (ssize_t)strlen(d->data)) DIE("delayed write");
    return NULL;
}

static void print_readv(const char *what, ssize_t ret, int err, struct iovec *iov, int n) {
    if (ret < 0) {
        report(what, ret, err);
        return;
    }
    printf("%s ret=%zd", what, ret);
    size_t left = (size_t)ret;
    for (int i = 0; i < n; i++) {
        size_t k = left < iov[i].iov_len ? left : iov[i].iov_len;
        printf(" b%d=\"%.*s\"", i, (int)k, (char *)iov[i].iov_base);
        left -= k;
    }
    printf("\n");
}

static void scenario_readv(void) {
    int fds[2];
    stream_pair(fds);
    char a[10], b[20], c[30];
    struct iovec iov[3] = {{a, sizeof a}, {b, sizeof b}, {c, sizeof c}};
    const char *msg = "0123456789abcdefghijklmnopqrstuvwxyzABCD";
    if (write(fds[1], msg, strlen(msg)) != 40) DIE("write");
    ssize_t n = readv(fds[0], iov, 3);
    print_readv("readv_queued", n, errno, iov, 3);

    /* Short: 15 bytes for 60 of room. The queue is then empty, and the next readv must
     * wait for the bytes sent 20 ms later, and get them. */
    if (write(fds[1], "EFGHIJKLMNOPQRS", 15) != 15) DIE("write");
    n = readv(fds[0], iov, 3);
    print_readv("readv_short", n, errno, iov, 3);
    struct delayed_send d = {fds[1], 20000, "later"};
    double t0 = mono_now();
    pthread_t t = spawn(delayed_write, &d);
    n = readv(fds[0], iov, 3);
    double waited = mono_now() - t0;
    join(t);
    print_readv("readv_waits", n, errno, iov, 3);
    printf("readv_waits waited=%d\n", waited >= 0.020);

    /* A pipe made behind the library's back: readv after it becomes readable. */
    int p[2];
    if (syscall(SYS_pipe2, p, 0) != 0) DIE("raw pipe2");
    struct delayed_send dp = {p[1], 20000, "through a raw pipe"};
    t = spawn(delayed_write, &dp);
    n = readv(p[0], iov, 3);
    join(t);
    print_readv("readv_rawpipe", n, errno, iov, 3);

    /* Zero-length iovecs, and an empty vector. */
    if (write(fds[1], "xyz", 3) != 3) DIE("write");
    struct iovec empty[2] = {{a, 0}, {b, 0}};
    REPORT("readv_zero_length", readv(fds[0], empty, 2));
    REPORT("readv_no_iovecs", readv(fds[0], iov, 0));
    n = readv(fds[0], iov, 3);
    print_readv("readv_after_zero", n, errno, iov, 3);

    /* UDP: a datagram larger than the buffers is cut; one smaller leaves buffers unused. */
    struct sockaddr_in ra;
    int rx = udp_socket(&ra), tx = udp_socket(NULL);
    char big[100];
    memset(big, 'u', sizeof big);
    if (sendto(tx, big, sizeof big, 0, (struct sockaddr *)&ra, sizeof ra) != 100) DIE("sendto");
    if (sendto(tx, "tiny", 4, 0, (struct sockaddr *)&ra, sizeof ra) != 4) DIE("sendto");
    n = readv(rx, iov, 3);
    print_readv("readv_udp_cut", n, errno, iov, 3);
    n = readv(rx, iov, 3);
    print_readv("readv_udp_small", n, errno, iov, 3);
    close(rx);
    close(tx);
    close(p[0]);
    close(p[1]);
    close(fds[0]);
    close(fds[1]);
}

/* ---- UDP sendto / recvfrom */

static void print_from(const char *what, ssize_t n, int err, const void *buf, size_t shown,
                       const struct sockaddr_in *from, socklen_t fromlen,
                       const struct sockaddr_in *expected) {
    if (n < 0) {
        report(what, n, err);
        return;
    }
    int src_ok = fromlen == sizeof *from && from->sin_family == AF_INET &&
                 from->sin_port == expected->sin_port &&
                 from->sin_addr.s_addr == expected->sin_addr.s_addr;
    printf("%s ret=%zd sum=%08x addrlen=%u src_ok=%d\n", what, n, fnv(buf, shown),
           (unsigned)fromlen, src_ok);
}

static void scenario_udp(void) {
    struct sockaddr_in ra, ta;
    int rx = udp_socket(&ra), tx = udp_socket(&ta);
    uint8_t *data = patterned(2000);
    size_t sizes[3] = {10, 200, 1};
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        char what[32];
        snprintf(what, sizeof what, "sendto_%d", i);
        REPORT(what, sendto(tx, data + off, sizes[i], 0, (struct sockaddr *)&ra, sizeof ra));
        off += sizes[i];
    }
    off = 0;
    for (int i = 0; i < 3; i++) {
        char buf[1000];
        struct sockaddr_in from;
        socklen_t fromlen = sizeof from;
        ssize_t n = recvfrom(rx, buf, sizeof buf, 0, (struct sockaddr *)&from, &fromlen);
        char what[32];
        snprintf(what, sizeof what, "recvfrom_%d", i);
        print_from(what, n, errno, buf, n > 0 ? (size_t)n : 0, &from, fromlen, &ta);
        int same = n == (ssize_t)sizes[i] && memcmp(buf, data + off, sizes[i]) == 0;
        printf("%s same=%d\n", what, same);
        off += sizes[i];
    }
    /* A datagram larger than the buffer: cut, the rest dropped; MSG_TRUNC gives its size. */
    for (int i = 0; i < 2; i++)
        if (sendto(tx, data, 200, 0, (struct sockaddr *)&ra, sizeof ra) != 200) DIE("sendto");
    char small[50];
    struct sockaddr_in from;
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(rx, small, sizeof small, 0, (struct sockaddr *)&from, &fromlen);
    print_from("recvfrom_cut", n, errno, small, sizeof small, &from, fromlen, &ta);
    fromlen = sizeof from;
    n = recvfrom(rx, small, sizeof small, MSG_TRUNC, (struct sockaddr *)&from, &fromlen);
    print_from("recvfrom_msg_trunc", n, errno, small, sizeof small, &from, fromlen, &ta);
    /* A short address buffer: cut, addrlen says the real size. */
    if (sendto(tx, "x", 1, 0, (struct sockaddr *)&ra, sizeof ra) != 1) DIE("sendto");
    fromlen = 4;
    memset(&from, 0, sizeof from);
    n = recvfrom(rx, small, sizeof small, 0, (struct sockaddr *)&from, &fromlen);
    printf("recvfrom_short_addr ret=%zd addrlen=%u family=%d\n", n, (unsigned)fromlen,
            from.sin_family);
    /* No address wanted. */
    if (sendto(tx, "yz", 2, 0, (struct sockaddr *)&ra, sizeof ra) != 2) DIE("sendto");
    REPORT("recvfrom_no_addr", recvfrom(rx, small, sizeof small, 0, NULL, NULL));
    REPORT("sendto_bad_addrlen", sendto(tx, "x", 1, 0, (struct sockaddr *)&ra, 3));
    REPORT("sendto_unconnected_no_addr", sendto(tx, "x", 1, 0, NULL, 0));
    free(data);
    close(rx);
    close(tx);
}

/* ---- recvfrom waits for a datagram sent later */

struct udp_wait {
    int fd;
    struct sockaddr_in to;
    ssize_t ret;
    int err;
    double waited;
    struct sockaddr_in from;
    socklen_t fromlen;
    char buf[100];
};

static void *udp_receiver(void *arg) {
    struct udp_wait *u = arg;
    u->fromlen = sizeof u->from;
    u->ret = recvfrom(u->fd, u->buf, sizeof u->buf, 0, (struct sockaddr *)&u->from, &u->fromlen);
    u->err = errno;
    u->waited = mono_now() - g_start;
    return NULL;
}

struct udp_sender {
    struct sockaddr_in to;
    struct sockaddr_in self;
    int fd;
};

static void *udp_late_sender(void *arg) {
    struct udp_sender *s = arg;
    usleep(50000);
    if (sendto(s->fd, "late news", 9, 0, (struct sockaddr *)&s->to,
            sizeof s->to) != 9) DIE("sendto");
    return NULL;
}

static void scenario_recvfrom_wait(void) {
    struct udp_wait u = {0};
    struct udp_sender s;
    u.fd = udp_socket(&s.to);
    s.fd = udp_socket(&s.self);
    g_start = mono_now();
    pthread_t rt = spawn(udp_receiver, &u), st = spawn(udp_late_sender, &s);
    join(st);
    join(rt);
    print_from("recvfrom_wait", u.ret, u.err, u.buf, u.ret > 0 ? (size_t)u.ret : 0, &u.from,
            u.fromlen, &s.self);
    printf("recvfrom_wait waited=%d data=\"%.*s\"\n", u.waited >= 0.050,
            u.ret > 0 ? (int)u.ret : 0, u.buf);
    close(u.fd);
    close(s.fd);
}

/* ---- SCM_RIGHTS, MSG_CTRUNC, MSG_TRUNC */

static ssize_t send_with_fd(int sock, const char *data, int fd_to_pass) {
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    memset(&control, 0, sizeof control);
    struct iovec iov = {(void *)data, strlen(data)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.buf, .msg_controllen = sizeof control.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd_to_pass, sizeof(int));
    return sendmsg(sock, &msg, 0);
}

struct fd_receive {
    int sock;
    ssize_t ret;
    int err;
    char data[64];
    int flags;
    size_t controllen;
    int level, type, fd;
};

static void *receive_fd(void *arg) {
    struct fd_receive *r = arg;
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    struct iovec iov = {r->data, sizeof r->data};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.buf, .msg_controllen = sizeof control.buf};
    r->ret = recvmsg(r->sock, &msg, 0);
    r->err = errno;
    r->flags = msg.msg_flags;
    r->controllen = msg.msg_controllen;
    r->fd = -1;
    struct cmsghdr *c = r->ret >= 0 ? CMSG_FIRSTHDR(&msg) : NULL;
    if (c) {
        r->level = c->cmsg_level;
        r->type = c->cmsg_type;
        memcpy(&r->fd, CMSG_DATA(c), sizeof(int));
    }
    return NULL;
}

struct fd_sender {
    int sock, fd;
};

static void *send_fd_later(void *arg) {
    struct fd_sender *s = arg;
    usleep(20000);
    if (send_with_fd(s->sock, "hello", s->fd) != 5) DIE("sendmsg with fd");
    return NULL;
}

static void scenario_scm_rights(void) {
    int sv[2], p[2];
    stream_pair(sv);
    if (pipe(p) != 0) DIE("pipe");

    /* The receiver waits in recvmsg; the fd arrives 20 ms later. */
    struct fd_receive r = {.sock = sv[0]};
    struct fd_sender s = {sv[1], p[1]};
    pthread_t rt = spawn(receive_fd, &r), st = spawn(send_fd_later, &s);
    join(st);
    join(rt);
    int fd_ok = 0;
    if (r.fd >= 0 && r.fd != p[1]) {
        char x = 0;
        fd_ok = write(r.fd, "x", 1) == 1 && read(p[0], &x, 1) == 1 && x == 'x';
        close(r.fd);
    }
    if (r.ret < 0)
        report("scm_rights_recvmsg", r.ret, r.err);
    else
        printf("scm_rights_recvmsg ret=%zd data=\"%.*s\" flags=0x%x controllen=%zu"
               " level_ok=%d type_ok=%d fd_ok=%d\n",
               r.ret, (int)r.ret, r.data, r.flags, r.controllen,
               r.level == SOL_SOCKET, r.type == SCM_RIGHTS, fd_ok);

    /* No room for the fd: MSG_CTRUNC (and the fd is closed by the kernel). The read stops
     * after the message that carried it; the bytes sent after it come with the next call. */
    if (send_with_fd(sv[1], "again", p[1]) != 5) DIE("sendmsg with fd");
    if (write(sv[1], "tail", 4) != 4) DIE("write");
    char buf[64];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = recvmsg(sv[0], &msg, 0);
    printf("scm_rights_no_room ret=%zd data=\"%.*s\" ctrunc=%d controllen=%zu\n", n,
           n > 0 ? (int)n : 0, buf, (msg.msg_flags & MSG_CTRUNC) != 0,
           (size_t)msg.msg_controllen);
    msg.msg_flags = 0;
    n = recvmsg(sv[0], &msg, 0);
    printf("scm_rights_after ret=%zd data=\"%.*s\" flags=0x%x\n", n, n > 0 ? (int)n : 0, buf,
            msg.msg_flags);

    /* Too small for the cmsg data: MSG_CTRUNC with a partial header count. */
    if (send_with_fd(sv[1], "third", p[1]) != 5) DIE("sendmsg with fd");
    union { char buf[CMSG_LEN(0)]; struct cmsghdr align; } tiny;
    msg.msg_control = tiny.buf;
    msg.msg_controllen = sizeof tiny.buf;
    msg.msg_flags = 0;
    n = recvmsg(sv[0], &msg, 0);
    printf("scm_rights_tiny_control ret=%zd ctrunc=%d controllen=%zu\n", n,
           (msg.msg_flags & MSG_CTRUNC) != 0, (size_t)msg.msg_controllen);
    close(sv[0]);
    close(sv[1]);

    /* Datagrams: MSG_TRUNC in msg_flags when cut; as a flag, the real length. */
    int dv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, dv) != 0) DIE("socketpair dgram");
    uint8_t *data = patterned(100);
    for (int i = 0; i < 2; i++)
        if (send(dv[1], data, 100, 0) != 100) DIE("send");
    struct sockaddr_un from;
    char cut[10];
    struct iovec civ = {cut, sizeof cut};
    struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &civ,
            .msg_iovlen = 1};
    n = recvmsg(dv[0], &m, 0);
    printf("recvmsg_trunc ret=%zd flags=0x%x trunc=%d namelen=%u sum=%08x\n", n, m.msg_flags,
           (m.msg_flags & MSG_TRUNC) != 0, (unsigned)m.msg_namelen, fnv(cut, sizeof cut));
    m.msg_namelen = sizeof from;
    m.msg_flags = 0;
    n = recvmsg(dv[0], &m, MSG_TRUNC);
    printf("recvmsg_flag_trunc ret=%zd trunc=%d\n", n, (m.msg_flags & MSG_TRUNC) != 0);
    /* A datagram waited for: sent 20 ms later by another thread. */
    struct delayed_send d = {dv[1], 20000, "dgram later"};
    pthread_t t = spawn(delayed_write, &d);
    char whole[64];
    struct iovec wiv = {whole, sizeof whole};
    struct msghdr w = {.msg_iov = &wiv, .msg_iovlen = 1};
    n = recvmsg(dv[0], &w, 0);
    join(t);
    printf("recvmsg_dgram_wait ret=%zd data=\"%.*s\" flags=0x%x\n", n, n > 0 ? (int)n : 0, whole,
            w.msg_flags);
    free(data);
    close(dv[0]);
    close(dv[1]);
    close(p[0]);
    close(p[1]);
}

/* ---- recvmmsg / sendmmsg */

#define VLEN 8

struct mmsg_set {
    struct mmsghdr msgs[VLEN];
    struct iovec iov[VLEN];
    char bufs[VLEN][128];
    struct sockaddr_in from[VLEN];
};

static void mmsg_prepare(struct mmsg_set *s) {
    memset(s, 0, sizeof *s);
    for (int i = 0; i < VLEN; i++) {
        s->iov[i].iov_base = s->bufs[i];
        s->iov[i].iov_len = sizeof s->bufs[i];
        s->msgs[i].msg_hdr.msg_iov = &s->iov[i];
        s->msgs[i].msg_hdr.msg_iovlen = 1;
        s->msgs[i].msg_hdr.msg_name = &s->from[i];
        s->msgs[i].msg_hdr.msg_namelen = sizeof s->from[i];
    }
}

static void print_mmsg(const char *what, int n, int err, struct mmsg_set *s) {
    if (n < 0) {
        report(what, n, err);
        return;
    }
    printf("%s ret=%d", what, n);
    for (int i = 0; i < n; i++)
        printf(" [%u \"%.*s\" namelen=%u]", s->msgs[i].msg_len, (int)s->msgs[i].msg_len,
               s->bufs[i], (unsigned)s->msgs[i].msg_hdr.msg_namelen);
    printf("\n");
}

/* Sends `count` datagrams "d0", "d1", ... to `to` with one sendmmsg. */
static int send_many(int fd, const struct sockaddr_in *to, int count, const char *prefix) {
    struct mmsghdr msgs[VLEN];
    struct iovec iov[VLEN];
    char texts[VLEN][16];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < count; i++) {
        snprintf(texts[i], sizeof texts[i], "%s%d", prefix, i);
        iov[i].iov_base = texts[i];
        iov[i].iov_len = strlen(texts[i]);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = (void *)to;
        msgs[i].msg_hdr.msg_namelen = sizeof *to;
    }
    int n = sendmmsg(fd, msgs, (unsigned)count, 0);
    if (n != count) DIE("sendmmsg %d of %d", n, count);
    return n;
}

struct mmsg_wait {
    int fd;
    unsigned vlen;
    int flags;
    struct timespec timeout;
    int use_timeout;
    struct mmsg_set set;
    int ret, err;
    double waited;
};

static void *mmsg_receiver(void *arg) {
    struct mmsg_wait *m = arg;
    mmsg_prepare(&m->set);
    m->ret = recvmmsg(m->fd, m->set.msgs, m->vlen, m->flags, m->use_timeout ? &m->timeout : NULL);
    m->err = errno;
    m->waited = mono_now() - g_start;
    return NULL;
}

struct paced_sender {
    int fd;
    struct sockaddr_in to;
    int count;
    int first_delay_us;
    int pause_us;
    int together;
    const char *prefix; /* for `together` */
};

static void *paced_send(void *arg) {
    struct paced_sender *p = arg;
    usleep((useconds_t)p->first_delay_us);
    if (p->together) {
        send_many(p->fd, &p->to, p->count, p->prefix ? p->prefix : "t");
        return NULL;
    }
    for (int i = 0; i < p->count; i++) {
        char text[16];
        snprintf(text, sizeof text, "p%d", i);
        if (i > 0) usleep((useconds_t)p->pause_us);
        if (sendto(p->fd, text, strlen(text), 0, (struct sockaddr *)&p->to,
                sizeof p->to) != (ssize_t)strlen(text))
            DIE("sendto");
    }
    return NULL;
}

static void scenario_mmsg(void) {
    struct sockaddr_in ra, ta;
    int rx = udp_socket(&ra), tx = udp_socket(&ta);
    static struct mmsg_set s;

    /* sendmmsg of 5; recvmmsg of up to 8 with MSG_WAITFORONE takes the 5 queued. */
    printf("sendmmsg_5 ret=%d\n", send_many(tx, &ra, 5, "m"));
    mmsg_prepare(&s);
    int n = recvmmsg(rx, s.msgs, VLEN, MSG_WAITFORONE, NULL);
    print_mmsg("recvmmsg_waitforone_queued", n, errno, &s);

    /* Blocking, no flags: waits until all 3 have come, 10 ms apart. */
    struct mmsg_wait w = {.fd = rx, .vlen = 3};
    struct paced_sender p = {.fd = tx, .to = ra, .count = 3, .first_delay_us = 10000,
            .pause_us = 10000};
    g_start = mono_now();
    pthread_t wt = spawn(mmsg_receiver, &w), pt = spawn(paced_send, &p);
    join(pt);
    join(wt);
    print_mmsg("recvmmsg_blocking_3", w.ret, w.err, &w.set);
    printf("recvmmsg_blocking_3 waited=%d\n", w.waited >= 0.030);

    /* MSG_WAITFORONE waiting: returns once the first has come (1 or 2 of the pair). */
    struct mmsg_wait w1 = {.fd = rx, .vlen = 4, .flags = MSG_WAITFORONE};
    struct paced_sender p1 = {.fd = tx, .to = ra, .count = 2, .first_delay_us = 20000,
            .together = 1};
    g_start = mono_now();
    wt = spawn(mmsg_receiver, &w1);
    pt = spawn(paced_send, &p1);
    join(pt);
    join(wt);
    int drained = recvmmsg(rx, s.msgs, VLEN, MSG_DONTWAIT, NULL);
    if (drained < 0) drained = 0;
    printf("recvmmsg_waitforone_waits ret_ok=%d total=%d first=\"%.*s\" waited=%d\n",
           w1.ret >= 1 && w1.ret <= 2, w1.ret + drained, (int)w1.set.msgs[0].msg_len,
           w1.set.bufs[0], w1.waited >= 0.020);

    /* A zero timeout: the kernel checks it after the first message, and stops there. */
    send_many(tx, &ra, 3, "z");
    mmsg_prepare(&s);
    struct timespec zero = {0, 0};
    n = recvmmsg(rx, s.msgs, 3, 0, &zero);
    print_mmsg("recvmmsg_zero_timeout", n, errno, &s);
    printf("recvmmsg_zero_timeout left=%ld.%09ld\n", (long)zero.tv_sec, zero.tv_nsec);
    mmsg_prepare(&s);
    n = recvmmsg(rx, s.msgs, VLEN, MSG_DONTWAIT, NULL);
    print_mmsg("recvmmsg_dontwait_rest", n, errno, &s);

    /* A timeout that has not passed: all 4 queued, time left written back. */
    send_many(tx, &ra, 4, "q");
    mmsg_prepare(&s);
    struct timespec five = {5, 0};
    n = recvmmsg(rx, s.msgs, 4, 0, &five);
    print_mmsg("recvmmsg_timeout_left", n, errno, &s);
    printf("recvmmsg_timeout_left left_ok=%d\n", five.tv_sec >= 4 && five.tv_sec <= 5 &&
           (five.tv_sec < 5 || five.tv_nsec == 0));

    /* A timeout of 100 ms for 4 messages; one comes at once, two together 250 ms later, two
     * more after a second. The kernel checks the timeout only after a message arrives: it
     * waits past the timeout for the next message, takes it, and stops there with 2. */
    struct mmsg_wait wto = {.fd = rx, .vlen = 4, .use_timeout = 1, .timeout = {0, 100000000}};
    struct paced_sender pto = {.fd = tx, .to = ra, .count = 1};
    struct paced_sender pto_pair = {.fd = tx, .to = ra, .count = 2, .first_delay_us = 250000,
            .together = 1, .prefix = "s"};
    struct paced_sender pto_late = {.fd = tx, .to = ra, .count = 2, .first_delay_us = 1000000,
            .together = 1, .prefix = "l"};
    g_start = mono_now();
    pt = spawn(paced_send, &pto);
    wt = spawn(mmsg_receiver, &wto);
    pthread_t pair = spawn(paced_send, &pto_pair), late = spawn(paced_send, &pto_late);
    join(pt);
    join(wt);
    join(pair);
    join(late);
    print_mmsg("recvmmsg_timeout_late", wto.ret, wto.err, &wto.set);
    printf("recvmmsg_timeout_late waited=%d left=%ld.%09ld\n", wto.waited >= 0.250,
           (long)wto.timeout.tv_sec, wto.timeout.tv_nsec);
    mmsg_prepare(&s);
    n = recvmmsg(rx, s.msgs, VLEN, MSG_DONTWAIT, NULL);
    print_mmsg("recvmmsg_timeout_late_rest", n, errno, &s);

    /* Invalid timeouts fail at once, before anything is received. */
    send_many(tx, &ra, 1, "i");
    struct timespec bad = {0, 2000000000L};
    mmsg_prepare(&s);
    REPORT("recvmmsg_bad_timeout", recvmmsg(rx, s.msgs, 2, 0, &bad));
    struct timespec negative = {-1, 0};
    REPORT("recvmmsg_negative_timeout", recvmmsg(rx, s.msgs, 2, 0, &negative));
    n = recvmmsg(rx, s.msgs, VLEN, MSG_WAITFORONE, NULL);
    print_mmsg("recvmmsg_still_queued", n, errno, &s);
    REPORT("recvmmsg_vlen_0", recvmmsg(rx, s.msgs, 0, 0, NULL));

    /* sendmmsg with one bad message in the middle: the count before it. */
    struct mmsghdr msgs[3];
    struct iovec iov[3] = {{"a", 1}, {"b", 1}, {"c", 1}};
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < 3; i++) {
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &ra;
        msgs[i].msg_hdr.msg_namelen = sizeof ra;
    }
    msgs[1].msg_hdr.msg_namelen = 3;
    REPORT("sendmmsg_bad_second", sendmmsg(tx, msgs, 3, 0));
    msgs[0].msg_hdr.msg_namelen = 3;
    REPORT("sendmmsg_bad_first", sendmmsg(tx, msgs, 3, 0));
    REPORT("sendmmsg_vlen_0", sendmmsg(tx, msgs, 0, 0));
    mmsg_prepare(&s);
    n = recvmmsg(rx, s.msgs, VLEN, MSG_DONTWAIT, NULL);
    print_mmsg("recvmmsg_after_bad", n, errno, &s);
    close(rx);
    close(tx);
}

/* ---- Big sends on streams: sendmmsg, sendto, sendmsg with an fd */

struct big_send {
    int fd;
    int kind; /* 0 sendmmsg, 1 sendto, 2 sendmsg with fd */
    int pass_fd;
    ssize_t ret;
    int err;
    unsigned lens[2];
};

static void *big_sender(void *arg) {
    struct big_send *b = arg;
    uint8_t *buf = patterned(8 * MiB);
    if (b->kind == 0) {
        struct iovec iov[3] = {{buf, 1 * MiB}, {buf + 1 * MiB, 3 * MiB}, {buf + 4 * MiB, 4 * MiB}};
        struct mmsghdr msgs[2];
        memset(msgs, 0, sizeof msgs);
        msgs[0].msg_hdr.msg_iov = &iov[0];
        msgs[0].msg_hdr.msg_iovlen = 2;
        msgs[1].msg_hdr.msg_iov = &iov[2];
        msgs[1].msg_hdr.msg_iovlen = 1;
        b->ret = sendmmsg(b->fd, msgs, 2, 0);
        b->lens[0] = msgs[0].msg_len;
        b->lens[1] = msgs[1].msg_len;
    } else if (b->kind == 1) {
        b->ret = sendto(b->fd, buf, 4 * MiB, 0, NULL, 0);
    } else {
        union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
        memset(&control, 0, sizeof control);
        struct iovec iov[3] = {{buf, 2 * MiB}, {buf + 2 * MiB, 2 * MiB}, {buf + 4 * MiB, 4 * MiB}};
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 3,
                             .msg_control = control.buf, .msg_controllen = sizeof control.buf};
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &b->pass_fd, sizeof(int));
        b->ret = sendmsg(b->fd, &msg, 0);
    }
    b->err = b->ret < 0 ? errno : 0;
    close(b->fd);
    free(buf);
    return NULL;
}

static void scenario_big_send(const char *name, int kind, int tcp) {
    int fds[2];
    if (tcp) tcp_pair(fds); else stream_pair(fds);
    int p[2];
    if (pipe(p) != 0) DIE("pipe");
    struct big_send b = {.fd = fds[0], .kind = kind, .pass_fd = p[0]};
    struct reader r = {.fd = fds[1], .use_recvmsg = kind == 2};
    pthread_t rt = spawn(slow_reader, &r), bt = spawn(big_sender, &b);
    join(bt);
    join(rt);
    if (b.ret < 0)
        report(name, b.ret, b.err);
    else if (kind == 0)
        printf("%s ret=%zd lens=%u,%u read=%llu ok=%d\n", name, b.ret, b.lens[0], b.lens[1],
               (unsigned long long)r.total, r.ok);
    else
        printf("%s ret=%zd read=%llu ok=%d fds=%d\n", name, b.ret, (unsigned long long)r.total,
                r.ok,
               r.fds_received);
    close(p[0]);
    close(p[1]);
}

/* ---- MSG_WAITALL */

struct chunked_sender {
    int fd;
    int chunks;
    int chunk;
    int pause_us;
    int shutdown_after;
    int fd_at_chunk; /* -1: none */
    int pass_fd;
};

static void *chunked_send(void *arg) {
    struct chunked_sender *c = arg;
    uint8_t *data = patterned((size_t)c->chunks * (size_t)c->chunk);
    for (int i = 0; i < c->chunks; i++) {
        usleep((useconds_t)c->pause_us);
        uint8_t *at = data + (size_t)i * (size_t)c->chunk;
        if (i == c->fd_at_chunk) {
            union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
            memset(&control, 0, sizeof control);
            struct iovec iov = {at, (size_t)c->chunk};
            struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                                 .msg_control = control.buf, .msg_controllen = sizeof control.buf};
            struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(cm), &c->pass_fd, sizeof(int));
            if (sendmsg(c->fd, &msg, 0) != c->chunk) DIE("sendmsg chunk with fd");
        } else if (write(c->fd, at, (size_t)c->chunk) != c->chunk) {
            DIE("write chunk");
        }
    }
    if (c->shutdown_after) shutdown(c->fd, SHUT_WR);
    free(data);
    return NULL;
}

static int pattern_ok(const uint8_t *buf, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (buf[i] != pattern_byte(i)) return 0;
    return 1;
}

static void scenario_waitall(void) {
    static uint8_t buf[2000];
    int sv[2];

    /* recvfrom: 10 chunks of 100 bytes, 5 ms apart, into one 1000-byte MSG_WAITALL. */
    stream_pair(sv);
    struct chunked_sender c = {.fd = sv[1], .chunks = 10, .chunk = 100, .pause_us = 5000,
            .fd_at_chunk = -1};
    pthread_t t = spawn(chunked_send, &c);
    struct sockaddr_un from;
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(sv[0], buf, 1000, MSG_WAITALL, (struct sockaddr *)&from, &fromlen);
    join(t);
    printf("waitall_recvfrom ret=%zd ok=%d addrlen=%u\n", n, n == 1000 && pattern_ok(buf, 1000),
            (unsigned)fromlen);

    /* recvmsg into 3 iovecs. */
    t = spawn(chunked_send, &c);
    struct iovec iov[3] = {{buf, 300}, {buf + 300, 300}, {buf + 600, 400}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 3};
    n = recvmsg(sv[0], &msg, MSG_WAITALL);
    join(t);
    printf("waitall_recvmsg ret=%zd ok=%d flags=0x%x\n", n, n == 1000 && pattern_ok(buf, 1000),
            msg.msg_flags);

    /* EOF after 500 bytes: the 500. */
    struct chunked_sender half = {.fd = sv[1], .chunks = 5, .chunk = 100, .pause_us = 5000,
                                  .shutdown_after = 1, .fd_at_chunk = -1};
    t = spawn(chunked_send, &half);
    n = recvfrom(sv[0], buf, 1000, MSG_WAITALL, NULL, NULL);
    join(t);
    printf("waitall_eof ret=%zd ok=%d\n", n, n == 500 && pattern_ok(buf, 500));
    REPORT("waitall_after_eof", recvfrom(sv[0], buf, 1000, MSG_WAITALL, NULL, NULL));
    close(sv[0]);
    close(sv[1]);

    /* An fd in the middle: the kernel stops after the message that carries it. */
    stream_pair(sv);
    int p[2];
    if (pipe(p) != 0) DIE("pipe");
    struct chunked_sender withfd = {.fd = sv[1], .chunks = 4, .chunk = 100, .pause_us = 10000,
                                    .fd_at_chunk = 1, .pass_fd = p[1]};
    t = spawn(chunked_send, &withfd);
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    struct iovec whole = {buf, 400};
    struct msghdr m = {.msg_iov = &whole, .msg_iovlen = 1,
                       .msg_control = control.buf, .msg_controllen = sizeof control.buf};
    n = recvmsg(sv[0], &m, MSG_WAITALL);
    int got_fd = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); n > 0 && cm; cm = CMSG_NXTHDR(&m, cm)) {
        if (cm->cmsg_type == SCM_RIGHTS) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm), sizeof fd);
            close(fd);
            got_fd++;
        }
    }
    printf("waitall_fd_midway ret=%zd ok=%d fds=%d\n", n, n > 0 && pattern_ok(buf, (size_t)n),
            got_fd);
    m.msg_control = NULL;
    m.msg_controllen = 0;
    size_t total = n > 0 ? (size_t)n : 0;
    whole.iov_base = buf + total;
    whole.iov_len = 400 - total;
    n = recvmsg(sv[0], &m, MSG_WAITALL);
    join(t);
    if (n > 0) total += (size_t)n;
    printf("waitall_rest ret=%zd total=%zu ok=%d\n", n, total, pattern_ok(buf, total));
    close(sv[0]);
    close(sv[1]);
    close(p[0]);
    close(p[1]);

    /* TCP: WAITALL with a source address buffer (TCP reports none). */
    int tp[2];
    tcp_pair(tp);
    struct chunked_sender tc = {.fd = tp[1], .chunks = 4, .chunk = 250, .pause_us = 5000,
            .fd_at_chunk = -1};
    t = spawn(chunked_send, &tc);
    struct sockaddr_in tfrom;
    socklen_t tfromlen = sizeof tfrom;
    n = recvfrom(tp[0], buf, 1000, MSG_WAITALL, (struct sockaddr *)&tfrom, &tfromlen);
    join(t);
    printf("waitall_tcp ret=%zd ok=%d addrlen=%u\n", n, n == 1000 && pattern_ok(buf, 1000),
            (unsigned)tfromlen);
    close(tp[0]);
    close(tp[1]);
}

/* ---- MSG_PEEK */

struct peek_wait {
    int fd;
    ssize_t peeked, read;
    char pbuf[16], rbuf[16];
};

static void *peek_then_read(void *arg) {
    struct peek_wait *p = arg;
    p->peeked = recvfrom(p->fd, p->pbuf, 4, MSG_PEEK, NULL, NULL);
    p->read = read(p->fd, p->rbuf, sizeof p->rbuf);
    return NULL;
}

static void scenario_peek(void) {
    int sv[2];
    stream_pair(sv);
    if (write(sv[1], "abcdef", 6) != 6) DIE("write");
    char buf[16];
    ssize_t n = recvfrom(sv[0], buf, 4, MSG_PEEK, NULL, NULL);
    printf("peek_stream ret=%zd data=\"%.*s\"\n", n, n > 0 ? (int)n : 0, buf);
    n = read(sv[0], buf, sizeof buf);
    printf("read_after_peek ret=%zd data=\"%.*s\"\n", n, n > 0 ? (int)n : 0, buf);

    /* Peek waits for data sent 20 ms later, then the read takes it. */
    struct peek_wait p = {.fd = sv[0]};
    struct delayed_send d = {sv[1], 20000, "ghijkl"};
    pthread_t rt = spawn(peek_then_read, &p), st = spawn(delayed_write, &d);
    join(st);
    join(rt);
    printf("peek_waits ret=%zd data=\"%.*s\" read=%zd data=\"%.*s\"\n", p.peeked,
           p.peeked > 0 ? (int)p.peeked : 0, p.pbuf, p.read, p.read > 0 ? (int)p.read : 0, p.rbuf);

    /* recvmsg peek of a part, then the whole. */
    if (write(sv[1], "mnopqr", 6) != 6) DIE("write");
    struct iovec iov = {buf, 3};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    n = recvmsg(sv[0], &msg, MSG_PEEK);
    printf("recvmsg_peek ret=%zd data=\"%.*s\"\n", n, n > 0 ? (int)n : 0, buf);
    iov.iov_len = sizeof buf;
    n = recvmsg(sv[0], &msg, 0);
    printf("recvmsg_after_peek ret=%zd data=\"%.*s\"\n", n, n > 0 ? (int)n : 0, buf);
    close(sv[0]);
    close(sv[1]);

    /* A datagram peeked stays queued. */
    struct sockaddr_in ra;
    int rx = udp_socket(&ra), tx = udp_socket(NULL);
    if (sendto(tx, "datagram", 8, 0, (struct sockaddr *)&ra, sizeof ra) != 8) DIE("sendto");
    n = recvfrom(rx, buf, 4, MSG_PEEK, NULL, NULL);
    printf("peek_udp ret=%zd data=\"%.*s\"\n", n, n > 0 ? (int)n : 0, buf);
    n = recvfrom(rx, buf, sizeof buf, 0, NULL, NULL);
    printf("recvfrom_after_peek ret=%zd data=\"%.*s\"\n", n, n > 0 ? (int)n : 0, buf);
    close(rx);
    close(tx);
}

/* ---- EAGAIN at once */

static void timed(const char *what, ssize_t (*call)(void *), void *arg) {
    double t0 = mono_now();
    ssize_t n = call(arg);
    int err = errno;
    double dt = mono_now() - t0;
    if (n < 0)
        printf("%s ret=-1 errno=%s at_once=%d\n", what, errno_name(err), dt < 0.05);
    else
        printf("%s ret=%zd at_once=%d\n", what, n, dt < 0.05);
}

static int g_fd;
static char g_buf[256];

static ssize_t c_recvfrom_dontwait(void *a) {
    (void)a;
    return recvfrom(g_fd, g_buf, sizeof g_buf, MSG_DONTWAIT, NULL, NULL);
}
static ssize_t c_recvmsg_dontwait(void *a) {
    (void)a;
    struct iovec iov = {g_buf, sizeof g_buf};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    return recvmsg(g_fd, &m, MSG_DONTWAIT);
}
static ssize_t c_recvmmsg_dontwait(void *a) {
    (void)a;
    static struct mmsg_set s;
    mmsg_prepare(&s);
    return recvmmsg(g_fd, s.msgs, 2, MSG_DONTWAIT, NULL);
}
static ssize_t c_recvmsg_errqueue(void *a) {
    (void)a;
    struct iovec iov = {g_buf, sizeof g_buf};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    return recvmsg(g_fd, &m, MSG_ERRQUEUE);
}
static ssize_t c_recv_oob(void *a) {
    (void)a;
    return recvfrom(g_fd, g_buf, 1, MSG_OOB, NULL, NULL);
}
static ssize_t c_readv(void *a) {
    (void)a;
    struct iovec iov[2] = {{g_buf, 10}, {g_buf + 10, 10}};
    return readv(g_fd, iov, 2);
}
static ssize_t c_sendto_dontwait(void *a) {
    (void)a;
    return sendto(g_fd, g_buf, 1, MSG_DONTWAIT, NULL, 0);
}
static ssize_t c_sendmsg_dontwait(void *a) {
    (void)a;
    struct iovec iov = {g_buf, 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    return sendmsg(g_fd, &m, MSG_DONTWAIT);
}
static ssize_t c_sendmmsg_dontwait(void *a) {
    (void)a;
    struct iovec iov = {g_buf, 1};
    struct mmsghdr m;
    memset(&m, 0, sizeof m);
    m.msg_hdr.msg_iov = &iov;
    m.msg_hdr.msg_iovlen = 1;
    return sendmmsg(g_fd, &m, 1, MSG_DONTWAIT);
}
static ssize_t c_writev_small(void *a) {
    (void)a;
    struct iovec iov[2] = {{g_buf, 1}, {g_buf, 1}};
    return writev(g_fd, iov, 2);
}

static void scenario_dontwait(void) {
    struct sockaddr_in ra;
    int rx = udp_socket(&ra);
    g_fd = rx;
    timed("recvfrom_dontwait_udp", c_recvfrom_dontwait, NULL);
    timed("recvmsg_dontwait_udp", c_recvmsg_dontwait, NULL);
    timed("recvmmsg_dontwait_udp", c_recvmmsg_dontwait, NULL);
    timed("recvmsg_errqueue_udp", c_recvmsg_errqueue, NULL);
    close(rx);

    int tp[2];
    tcp_pair(tp);
    g_fd = tp[0];
    timed("recv_oob_tcp_none", c_recv_oob, NULL);
    close(tp[0]);
    close(tp[1]);

    int sv[2];
    stream_pair(sv);
    g_fd = sv[0];
    timed("recvfrom_dontwait_stream", c_recvfrom_dontwait, NULL);
    /* Fill the socket with MSG_DONTWAIT sends. */
    static char chunk[65536];
    int filled = 0;
    ssize_t last;
    for (;;) {
        struct iovec iov = {chunk, sizeof chunk};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
        last = sendmsg(sv[0], &m, MSG_DONTWAIT);
        if (last < 0) break;
        filled = 1;
    }
    printf("sendmsg_dontwait_fill filled=%d errno=%s\n", filled, errno_name(errno));
    timed("sendto_dontwait_full", c_sendto_dontwait, NULL);
    timed("sendmsg_dontwait_full", c_sendmsg_dontwait, NULL);
    timed("sendmmsg_dontwait_full", c_sendmmsg_dontwait, NULL);
    close(sv[0]);
    close(sv[1]);

    /* O_NONBLOCK set by the program. */
    stream_pair(sv);
    if (fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK) != 0) DIE("fcntl");
    g_fd = sv[0];
    timed("readv_nonblock_empty", c_readv, NULL);
    timed("recvmsg_nonblock_empty", c_recvmsg_dontwait, NULL);
    uint8_t *big = patterned(8 * MiB);
    struct iovec iov[2] = {{big, 4 * MiB}, {big + 4 * MiB, 4 * MiB}};
    double t0 = mono_now();
    ssize_t n = writev(sv[0], iov, 2);
    printf("writev_nonblock_partial partial=%d at_once=%d\n", n > 0 && n < (ssize_t)(8 * MiB),
            mono_now() - t0 < 0.05);
    timed("writev_nonblock_full", c_writev_small, NULL);
    free(big);
    close(sv[0]);
    close(sv[1]);
}

/* ---- Errors */

static void all_calls(const char *prefix, int rfd, int wfd) {
    char buf[16] = "x";
    char what[64];
    struct iovec iov[2] = {{buf, 1}, {buf + 1, 1}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 1};
    struct mmsghdr mm;
    memset(&mm, 0, sizeof mm);
    mm.msg_hdr.msg_iov = iov;
    mm.msg_hdr.msg_iovlen = 1;
#define CALL(name, expr) \
    do { snprintf(what, sizeof what, "%s_%s", prefix, name); REPORT(what, expr); } while (0)
    CALL("writev", writev(wfd, iov, 2));
    CALL("readv", readv(rfd, iov, 2));
    CALL("recvfrom", recvfrom(rfd, buf, 1, 0, NULL, NULL));
    CALL("recvfrom_waitall", recvfrom(rfd, buf, 2, MSG_WAITALL, NULL, NULL));
    CALL("sendto", sendto(wfd, buf, 1, 0, NULL, 0));
    CALL("recvmsg", recvmsg(rfd, &m, 0));
    CALL("recvmsg_waitall", recvmsg(rfd, &m, MSG_WAITALL));
    CALL("sendmsg", sendmsg(wfd, &m, 0));
    CALL("recvmmsg", recvmmsg(rfd, &mm, 1, 0, NULL));
    struct timespec ts = {1, 0};
    CALL("recvmmsg_timeout", recvmmsg(rfd, &mm, 1, 0, &ts));
    CALL("sendmmsg", sendmmsg(wfd, &mm, 1, 0));
#undef CALL
}

static void scenario_ebadf(void) {
    int sv[2];
    stream_pair(sv);
    close(sv[0]);
    close(sv[1]);
    all_calls("closed", sv[0], sv[0]);
    all_calls("negative", -1, -1);
}

static void scenario_enotsock(void) {
    int p[2];
    if (pipe(p) != 0) DIE("pipe");
    all_calls("pipe", p[0], p[1]);
    close(p[0]);
    close(p[1]);
    /* A pipe made behind the library's back, empty: still ENOTSOCK at once, no waiting. */
    if (syscall(SYS_pipe2, p, 0) != 0) DIE("raw pipe2");
    double t0 = mono_now();
    char buf[4];
    ssize_t n = recvfrom(p[0], buf, sizeof buf, 0, NULL, NULL);
    printf("rawpipe_recvfrom ret=%zd errno=%s at_once=%d\n", n, errno_name(errno),
            mono_now() - t0 < 0.05);
    close(p[0]);
    close(p[1]);
    /* A regular file. */
    FILE *f = tmpfile();
    if (!f) DIE("tmpfile");
    int fd = fileno(f);
    struct iovec iov[2] = {{"ab", 2}, {"cde", 3}};
    REPORT("file_writev", writev(fd, iov, 2));
    REPORT("file_sendto", sendto(fd, "x", 1, 0, NULL, 0));
    if (lseek(fd, 0, SEEK_SET) != 0) DIE("lseek");
    char a[2], b[10];
    struct iovec riov[2] = {{a, 2}, {b, 10}};
    ssize_t r = readv(fd, riov, 2);
    print_readv("file_readv", r, errno, riov, 2);
    fclose(f);
}

/* An address no process maps, hidden from the compiler's buffer checks. */
static void *bad_pointer(void) {
    volatile uintptr_t address = 8;
    return (void *)address;
}

static void scenario_efault(void) {
    int sv[2];
    stream_pair(sv);
    struct iovec *bad_iov = bad_pointer();
    struct msghdr *bad_msg = bad_pointer();
    volatile int negative = -1;
    REPORT("readv_bad_iov", readv(sv[0], bad_iov, 2));
    REPORT("writev_bad_iov", writev(sv[0], bad_iov, 2));
    REPORT("readv_iovcnt_negative", readv(sv[0], bad_iov, negative));
    REPORT("readv_iovcnt_too_many", readv(sv[0], bad_iov, 1025));
    REPORT("writev_iovcnt_too_many", writev(sv[0], bad_iov, 1025));
    REPORT("recvmsg_bad_msg", recvmsg(sv[0], bad_msg, 0));
    REPORT("recvmsg_waitall_bad_msg", recvmsg(sv[0], bad_msg, MSG_WAITALL));
    REPORT("sendmsg_bad_msg", sendmsg(sv[0], bad_msg, 0));
    struct msghdr m = {.msg_iov = bad_iov, .msg_iovlen = 1};
    REPORT("recvmsg_bad_iov", recvmsg(sv[0], &m, 0));
    REPORT("sendmsg_bad_iov", sendmsg(sv[0], &m, 0));
    REPORT("sendmmsg_bad_vec", sendmmsg(sv[0], (struct mmsghdr *)8, 1, 0));
    REPORT("sendto_bad_buf", sendto(sv[0], (void *)8, 10, 0, NULL, 0));
    if (write(sv[1], "data", 4) != 4) DIE("write");
    REPORT("recvfrom_bad_buf", recvfrom(sv[0], (void *)8, 10, 0, NULL, NULL));
    struct sockaddr_in ra;
    int rx = udp_socket(&ra);
    struct mmsg_set *s = malloc(sizeof *s);
    mmsg_prepare(s);
    REPORT("recvmmsg_bad_timeout_ptr", recvmmsg(rx, s->msgs, 1, 0, (struct timespec *)8));
    REPORT("recvmmsg_bad_vec", recvmmsg(rx, (struct mmsghdr *)8, 1, 0, NULL));
    free(s);
    close(rx);
    close(sv[0]);
    close(sv[1]);
}

/* ---- Sockets the library did not see created */

static void print_nonblock(const char *what, int fd) {
    printf("%s nonblock=%d\n", what, (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
}

static void scenario_foreign(void) {
    int sv[2];
    if (syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, sv) != 0) DIE("raw socketpair");
    char a[4], b[20];
    struct iovec iov[2] = {{a, sizeof a}, {b, sizeof b}};

    struct delayed_send d = {sv[1], 20000, "foreign bytes"};
    double t0 = mono_now();
    pthread_t t = spawn(delayed_write, &d);
    ssize_t n = readv(sv[0], iov, 2);
    double waited = mono_now() - t0;
    join(t);
    print_readv("foreign_readv_waits", n, errno, iov, 2);
    printf("foreign_readv_waits waited=%d\n", waited >= 0.020);

    struct delayed_send d2 = {sv[1], 20000, "more"};
    t = spawn(delayed_write, &d2);
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
    n = recvmsg(sv[0], &m, 0);
    join(t);
    print_readv("foreign_recvmsg_waits", n, errno, iov, 2);

    if (write(sv[1], "xyz", 3) != 3) DIE("write");
    struct iovec empty = {a, 0};
    REPORT("foreign_readv_zero_length", readv(sv[0], &empty, 1));
    n = readv(sv[0], iov, 2);
    print_readv("foreign_readv_after_zero", n, errno, iov, 2);

    struct chunked_sender c = {.fd = sv[1], .chunks = 4, .chunk = 100, .pause_us = 5000,
                               .fd_at_chunk = -1};
    static uint8_t buf[400];
    t = spawn(chunked_send, &c);
    n = recvfrom(sv[0], buf, sizeof buf, MSG_WAITALL, NULL, NULL);
    join(t);
    printf("foreign_waitall ret=%zd ok=%d\n", n, n == 400 && pattern_ok(buf, 400));
    REPORT("foreign_dontwait_empty", recvfrom(sv[0], buf, 1, MSG_DONTWAIT, NULL, NULL));
    print_nonblock("foreign_stream_0", sv[0]);
    print_nonblock("foreign_stream_1", sv[1]);
    close(sv[0]);
    close(sv[1]);

    /* UDP: recvmmsg and recvfrom wait for datagrams sent later. */
    int rx = (int)syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0);
    if (rx < 0) DIE("raw socket");
    struct sockaddr_in ra = {.sin_family = AF_INET};
    ra.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof ra;
    if (bind(rx, (struct sockaddr *)&ra, sizeof ra) != 0) DIE("bind");
    if (getsockname(rx, (struct sockaddr *)&ra, &len) != 0) DIE("getsockname");
    int tx = udp_socket(NULL);
    struct mmsg_wait w = {.fd = rx, .vlen = 3};
    struct paced_sender p = {.fd = tx, .to = ra, .count = 3, .first_delay_us = 10000,
                             .pause_us = 10000};
    g_start = mono_now();
    pthread_t wt = spawn(mmsg_receiver, &w), pt = spawn(paced_send, &p);
    join(pt);
    join(wt);
    print_mmsg("foreign_recvmmsg", w.ret, w.err, &w.set);
    struct paced_sender p1 = {.fd = tx, .to = ra, .count = 1, .first_delay_us = 20000};
    pt = spawn(paced_send, &p1);
    char dg[16];
    n = recvfrom(rx, dg, sizeof dg, 0, NULL, NULL);
    join(pt);
    printf("foreign_recvfrom ret=%zd data=\"%.*s\"\n", n, n > 0 ? (int)n : 0, dg);
    print_nonblock("foreign_udp", rx);
    close(rx);
    close(tx);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: io_msg SCENARIO\n");
        return 2;
    }
    const char *s = argv[1];
    if (strncmp(s, "writev_", 7) == 0) scenario_writev(s, s + 7);
    else if (strcmp(s, "readv") == 0) scenario_readv();
    else if (strcmp(s, "udp") == 0) scenario_udp();
    else if (strcmp(s, "recvfrom_wait") == 0) scenario_recvfrom_wait();
    else if (strcmp(s, "scm_rights") == 0) scenario_scm_rights();
    else if (strcmp(s, "mmsg") == 0) scenario_mmsg();
    else if (strcmp(s, "sendmmsg_stream") == 0) scenario_big_send(s, 0, 0);
    else if (strcmp(s, "sendmmsg_tcp") == 0) scenario_big_send(s, 0, 1);
    else if (strcmp(s, "sendto_stream") == 0) scenario_big_send(s, 1, 0);
    else if (strcmp(s, "sendto_tcp") == 0) scenario_big_send(s, 1, 1);
    else if (strcmp(s, "sendmsg_stream") == 0) scenario_big_send(s, 2, 0);
    else if (strcmp(s, "waitall") == 0) scenario_waitall();
    else if (strcmp(s, "peek") == 0) scenario_peek();
    else if (strcmp(s, "dontwait") == 0) scenario_dontwait();
    else if (strcmp(s, "ebadf") == 0) scenario_ebadf();
    else if (strcmp(s, "enotsock") == 0) scenario_enotsock();
    else if (strcmp(s, "efault") == 0) scenario_efault();
    else if (strcmp(s, "foreign") == 0) scenario_foreign();
    else {
        fprintf(stderr, "io_msg: unknown scenario %s\n", s);
        return 2;
    }
    fflush(stdout);
    return 0;
}
