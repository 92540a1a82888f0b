/* What the differential programs (diff_*.c) share: one output line per scenario, a call's
 * result as "ret=N" or "ret=-1 errno=NAME", generous time bounds, thread helpers, scripts
 * of delayed actions, socket pairs, and the scenario table every program's main runs. */
#ifndef GREEN_DIFF_COMMON_H
#define GREEN_DIFF_COMMON_H

#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

static int lines_printed __attribute__((unused));

static inline void out(const char *name, const char *fmt, ...) {
    va_list ap;
    printf("%s:", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    lines_printed++;
}

/* errno_name, plus the values only these programs meet. */
static inline const char *en(int e) {
    switch (e) {
    case EEXIST: return "EEXIST";
    case ENOENT: return "ENOENT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EMSGSIZE: return "EMSGSIZE";
    case ESPIPE: return "ESPIPE";
    case EISDIR: return "EISDIR";
    case ELOOP: return "ELOOP";
    case EDESTADDRREQ: return "EDESTADDRREQ";
    case ECONNABORTED: return "ECONNABORTED";
    default: return errno_name(e);
    }
}

/* A call's result: its return value and, when it failed, its errno. */
typedef struct {
    long ret;
    int err;
} res_t;

#define CALL(expr) ({ errno = 0; long r_ = (long)(expr); res_t x_ = {r_, r_ < 0 ? errno : 0}; x_; })

/* "ret=N" or "ret=-1 errno=NAME", from a ring of buffers (several per printf). */
static inline const char *rs(res_t r) {
    static char bufs[16][64];
    static int next;
    char *b = bufs[next++ & 15];
    if (r.ret < 0)
        snprintf(b, 64, "ret=%ld errno=%s", r.ret, en(r.err));
    else
        snprintf(b, 64, "ret=%ld", r.ret);
    return b;
}

/* Elapsed time within a generous bound around `ms`: at least 0.9 of it, under 5 s. */
static inline int waited_about(double t0, double ms) {
    double dt = (mono_now() - t0) * 1000.0;
    return dt >= ms * 0.9 && dt < 5000.0;
}

static inline int at_once(double t0) {
    return mono_now() - t0 < 0.1;
}

static inline pthread_t spawn(void *(*fn)(void *), void *arg) {
    pthread_t t;
    int rc = pthread_create(&t, NULL, fn, arg);
    if (rc != 0) { errno = rc; DIE("pthread_create"); }
    return t;
}

static inline void join(pthread_t t) {
    int rc = pthread_join(t, NULL);
    if (rc != 0) { errno = rc; DIE("pthread_join"); }
}

static inline void in_thread(void *(*fn)(void *), void *arg) {
    join(spawn(fn, arg));
}

static inline void msleep(int ms) {
    usleep((useconds_t)ms * 1000);
}

static inline void close2(int fds[2]) {
    close(fds[0]);
    close(fds[1]);
}

static inline void *bad_pointer(void) {
    volatile uintptr_t address = 8;
    return (void *)address;
}

/* ---- Scripts: delayed actions, run by a thread of their own. */

enum { OP_WRITE = 1, OP_CLOSE, OP_SHUT_WR, OP_RST_CLOSE, OP_OOB, OP_READ1, OP_READ_ALL, OP_WRITE_U64 };

struct step {
    int delay_ms; /* before this step */
    int op;
    int fd;
    const char *data;
    uint64_t n; /* OP_WRITE: bytes of data (0: strlen(data)); OP_WRITE_U64: the value */
};

struct script {
    struct step steps[12];
    int n;
    double t0; /* when start_script started it: waits it ends are timed from here */
};

static inline void run_step(const struct step *st) {
    switch (st->op) {
    case OP_WRITE: {
        size_t len = st->n ? (size_t)st->n : strlen(st->data);
        if (write(st->fd, st->data, len) != (ssize_t)len) DIE("script write");
        break;
    }
    case OP_WRITE_U64:
        if (write(st->fd, &st->n, 8) != 8) DIE("script write u64");
        break;
    case OP_CLOSE:
        close(st->fd);
        break;
    case OP_SHUT_WR:
        if (shutdown(st->fd, SHUT_WR) != 0) DIE("script shutdown");
        break;
    case OP_RST_CLOSE: {
        struct linger lg = {1, 0};
        if (setsockopt(st->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0) DIE("linger");
        close(st->fd);
        break;
    }
    case OP_OOB:
        if (send(st->fd, "!", 1, MSG_OOB) != 1) DIE("script oob");
        break;
    case OP_READ1: { /* wait for the other side's go-ahead: one byte */
        char c;
        if (read(st->fd, &c, 1) != 1) DIE("script read");
        break;
    }
    case OP_READ_ALL: {
        char buf[65536];
        int fl = fcntl(st->fd, F_GETFL);
        fcntl(st->fd, F_SETFL, fl | O_NONBLOCK);
        while (read(st->fd, buf, sizeof buf) > 0) {}
        fcntl(st->fd, F_SETFL, fl);
        break;
    }
    }
}

static inline void *run_script(void *arg) {
    struct script *s = arg;
    for (int i = 0; i < s->n; i++) {
        if (s->steps[i].delay_ms) msleep(s->steps[i].delay_ms);
        run_step(&s->steps[i]);
    }
    return NULL;
}

static inline pthread_t start_script(struct script *s) {
    s->t0 = mono_now();
    return spawn(run_script, s);
}

/* ---- Sockets */

static inline void unix_pair(int sv[2]) {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) DIE("socketpair");
}

static inline struct sockaddr_in loopback(int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* A listening TCP socket on a free loopback port. */
static inline int tcp_listener(struct sockaddr_in *addr, int backlog) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) DIE("socket");
    int port = listen_on_loopback(fd, 0, backlog);
    if (addr) *addr = loopback(port);
    return fd;
}

/* fds[0] the connecting end, fds[1] the accepted one. */
static inline void tcp_pair(int fds[2]) {
    struct sockaddr_in a;
    int lfd = tcp_listener(&a, 4);
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[0] < 0) DIE("socket");
    if (connect(fds[0], (struct sockaddr *)&a, sizeof a) != 0) DIE("connect");
    fds[1] = accept(lfd, NULL, NULL);
    if (fds[1] < 0) DIE("accept");
    close(lfd);
}

/* ---- The scenario table */

struct scenario {
    const char *name;
    void (*fn)(const char *);
};

/* A scenario takes well under 2 s natively: one that hangs ends the program (SIGALRM), and
 * the test runs the remaining ones in a new process. */
#define SCENARIO_LIMIT_S 10

/* What every program's main does after its own setup: runs the scenarios its arguments
 * name (all of them without arguments), in table order, each printing exactly one line. */
static inline int run_scenarios(const char *prog, const struct scenario *table, size_t n, int argc,
                                char **argv) {
    int ran = 0;
    for (size_t i = 0; i < n; i++) {
        int wanted = argc == 1;
        for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], table[i].name) == 0;
        if (!wanted) continue;
        int before = lines_printed;
        alarm(SCENARIO_LIMIT_S);
        table[i].fn(table[i].name);
        alarm(0);
        if (lines_printed != before + 1) {
            fprintf(stderr, "scenario %s printed %d lines\n", table[i].name, lines_printed - before);
            return 3;
        }
        ran++;
    }
    if (ran == 0) {
        fprintf(stderr, "usage: %s [SCENARIO...]\n", prog);
        return 2;
    }
    return 0;
}

#endif
