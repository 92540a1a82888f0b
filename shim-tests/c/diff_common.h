/* What the differential programs (diff_*.c) share: one output line per scenario, a call's
 * result as "ret=N" or "ret=-1 errno=NAME", generous time bounds, and thread helpers. */
#ifndef GREEN_DIFF_COMMON_H
#define GREEN_DIFF_COMMON_H

#include "common.h"

#include <stdarg.h>

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

#endif
