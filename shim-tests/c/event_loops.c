/* A program's own event loops: select, pselect, ppoll and epoll_wait/epoll_pwait/epoll_pwait2
 * on AF_UNIX socketpairs and TCP sockets. One output line per case:
 *
 *   <case> ret=<return> [errno=<name>] <what the call left behind> [elapsed_ms=<n>] [left_ms=<n>]
 *
 * Everything except elapsed_ms, left_ms (what select left in its timeval, in ms) and
 * os_threads must be identical natively and greened; the test checks those against bounds.
 * No case depends on scheduling luck: helpers act only after 100 ms of sleep.
 *
 * The cases run twice, in the main thread and in a second thread ("main." and "thread."
 * prefixes), then come the signal cases (main thread only) and a small epoll TCP server.
 *
 *   event_loops [GROUP...]   groups: common, signals, tcp (default: all) */
#define _GNU_SOURCE
#ifndef _FORTIFY_SOURCE
#define _FORTIFY_SOURCE 2 /* so that ppoll on a sized array goes through __ppoll_chk */
#endif
#include "common.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define HELPER_DELAY_US 100000

static const char *prefix = "main";

static void make_pair(int sv[2]) {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) DIE("socketpair");
}

static void close_pair(int sv[2]) {
    close(sv[0]);
    close(sv[1]);
}

static void put_byte(int fd) {
    if (write(fd, "x", 1) != 1) DIE("write");
}

static void take_byte(int fd) {
    char c;
    if (read(fd, &c, 1) != 1) DIE("read");
}

static long ms_since(double started) {
    return (long)((mono_now() - started) * 1000);
}

static long tv_ms(const struct timeval *tv) {
    return (long)tv->tv_sec * 1000 + (long)tv->tv_usec / 1000;
}

/* Starts `fn` in a thread; the thread is joined with join(). */
static pthread_t start(void *(*fn)(void *), void *arg) {
    pthread_t tid;
    int rc = pthread_create(&tid, NULL, fn, arg);
    if (rc != 0) { errno = rc; DIE("pthread_create"); }
    return tid;
}

static void join(pthread_t tid) {
    int rc = pthread_join(tid, NULL);
    if (rc != 0) { errno = rc; DIE("pthread_join"); }
}

/* A helper that writes one byte to each of `fds` (in order) after a delay. */
struct writer {
    int fds[4];
    int n;
    useconds_t delay;
};

static void *delayed_writes(void *arg) {
    struct writer *w = arg;
    if (usleep(w->delay) != 0) DIE("usleep");
    for (int i = 0; i < w->n; i++) put_byte(w->fds[i]);
    return NULL;
}

/* When the last helper started: the next epoll_case counts its elapsed time from there,
 * since the helper's delay runs from its start, before the case's own clock read. */
static double helper_started;

static pthread_t start_writes(struct writer *w) {
    helper_started = mono_now();
    return start(delayed_writes, w);
}

static pthread_t write_later(struct writer *w, int fd) {
    w->fds[0] = fd;
    w->n = 1;
    w->delay = HELPER_DELAY_US;
    return start_writes(w);
}

/* A helper that only sleeps: it keeps a second thread alive. */
static void *sleeper(void *arg) {
    if (usleep((useconds_t)(long)arg) != 0) DIE("usleep");
    return NULL;
}

static void line(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(const char *name, const char *fmt, ...) {
    va_list ap;
    printf("%s.%s ", prefix, name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static char err_buf[64];
static const char *ret_err(int ret, int err) {
    if (ret < 0)
        snprintf(err_buf, sizeof err_buf, "ret=%d errno=%s", ret, errno_name(err));
    else
        snprintf(err_buf, sizeof err_buf, "ret=%d", ret);
    return err_buf;
}

/* ---- select ---------------------------------------------------------------------------- */

static void select_cases(void) {
    int sv[2];
    fd_set r, w;
    struct timeval tv;
    double t0;
    int ret, err;

    make_pair(sv);

    /* Zero timeout, nothing ready: 0 at once, set cleared, timeval still zero. */
    FD_ZERO(&r); FD_SET(sv[0], &r);
    tv = (struct timeval){0, 0};
    ret = select(sv[0] + 1, &r, NULL, NULL, &tv);
    line("select_zero_timeout", "%s isset=%d tv=%ld.%06ld", ret_err(ret, errno),
         FD_ISSET(sv[0], &r), (long)tv.tv_sec, (long)tv.tv_usec);

    /* 50 ms, nothing ready: 0 after 50 ms, set cleared, timeval counted down to zero. */
    FD_ZERO(&r); FD_SET(sv[0], &r);
    tv = (struct timeval){0, 50000};
    t0 = mono_now();
    ret = select(sv[0] + 1, &r, NULL, NULL, &tv);
    line("select_timeout_50ms", "%s isset=%d tv=%ld.%06ld elapsed_ms=%ld", ret_err(ret, errno),
         FD_ISSET(sv[0], &r), (long)tv.tv_sec, (long)tv.tv_usec, ms_since(t0));

    /* Only a timeout: select as a sleep. */
    tv = (struct timeval){0, 50000};
    t0 = mono_now();
    ret = select(0, NULL, NULL, NULL, &tv);
    line("select_sleep_50ms", "%s tv=%ld.%06ld elapsed_ms=%ld", ret_err(ret, errno),
         (long)tv.tv_sec, (long)tv.tv_usec, ms_since(t0));

    /* Writable at once; the read bit of the same fd is cleared (nothing to read). */
    FD_ZERO(&r); FD_SET(sv[0], &r);
    FD_ZERO(&w); FD_SET(sv[0], &w);
    tv = (struct timeval){5, 0};
    ret = select(sv[0] + 1, &r, &w, NULL, &tv);
    line("select_writable", "%s r=%d w=%d left_ms=%ld", ret_err(ret, errno), FD_ISSET(sv[0], &r),
         FD_ISSET(sv[0], &w), tv_ms(&tv));

    /* tv_usec of 1.5 s is 1.5 s; data present so it returns at once, with ~1.5 s left. */
    put_byte(sv[1]);
    FD_ZERO(&r); FD_SET(sv[0], &r);
    tv = (struct timeval){0, 1500000};
    ret = select(sv[0] + 1, &r, NULL, NULL, &tv);
    line("select_usec_over_a_second", "%s isset=%d tv_sec=%ld", ret_err(ret, errno),
         FD_ISSET(sv[0], &r), (long)tv.tv_sec);
    take_byte(sv[0]);

    /* Negative timeval: EINVAL, timeval untouched. */
    tv = (struct timeval){0, -1};
    FD_ZERO(&r); FD_SET(sv[0], &r);
    ret = select(sv[0] + 1, &r, NULL, NULL, &tv);
    err = errno;
    line("select_negative_usec", "%s tv=%ld.%ld isset=%d", ret_err(ret, err), (long)tv.tv_sec,
         (long)tv.tv_usec, FD_ISSET(sv[0], &r));

    /* Negative nfds: EINVAL, the time left reported. */
    tv = (struct timeval){1, 0};
    ret = select(-1, NULL, NULL, NULL, &tv);
    err = errno;
    line("select_negative_nfds", "%s left_ms=%ld", ret_err(ret, err), tv_ms(&tv));

    /* A closed fd in the set: EBADF at once, the set left as passed, the time left reported. */
    {
        int stale[2];
        make_pair(stale);
        close_pair(stale);
        FD_ZERO(&r); FD_SET(sv[0], &r); FD_SET(stale[0], &r);
        int nfds = (stale[0] > sv[0] ? stale[0] : sv[0]) + 1;
        tv = (struct timeval){1, 0};
        t0 = mono_now();
        ret = select(nfds, &r, NULL, NULL, &tv);
        err = errno;
        line("select_closed_fd", "%s isset=%d,%d left_ms=%ld elapsed_ms=%ld", ret_err(ret, err),
             FD_ISSET(sv[0], &r), FD_ISSET(stale[0], &r), tv_ms(&tv), ms_since(t0));
    }

    /* NULL timeout, woken by another thread's write after 100 ms. */
    {
        struct writer wr;
        FD_ZERO(&r); FD_SET(sv[0], &r);
        t0 = mono_now();
        pthread_t tid = write_later(&wr, sv[1]);
        ret = select(sv[0] + 1, &r, NULL, NULL, NULL);
        line("select_null_wake", "%s isset=%d elapsed_ms=%ld", ret_err(ret, errno),
             FD_ISSET(sv[0], &r), ms_since(t0));
        join(tid);
        take_byte(sv[0]);
    }

    /* 5 s timeout, woken after 100 ms: the time left is reported. */
    {
        struct writer wr;
        FD_ZERO(&r); FD_SET(sv[0], &r);
        tv = (struct timeval){5, 0};
        t0 = mono_now();
        pthread_t tid = write_later(&wr, sv[1]);
        ret = select(sv[0] + 1, &r, NULL, NULL, &tv);
        line("select_timeout_wake", "%s isset=%d left_ms=%ld elapsed_ms=%ld", ret_err(ret, errno),
             FD_ISSET(sv[0], &r), tv_ms(&tv), ms_since(t0));
        join(tid);
        take_byte(sv[0]);
    }

    /* fds above 63 (the first fd_set word): fill the low numbers first. Two pairs, one idle;
     * only the woken one is set on return. */
    {
        int fillers[70], nf = 0;
        for (; nf < 70; nf++)
            if ((fillers[nf] = open("/dev/null", O_RDONLY)) < 0) DIE("open");
        int hi[2], idle[2];
        make_pair(hi);
        make_pair(idle);
        if (hi[0] < 64) DIE("fds not above 63");
        struct writer wr;
        FD_ZERO(&r); FD_SET(hi[0], &r); FD_SET(idle[0], &r); FD_SET(sv[0], &r);
        int nfds = (hi[0] > idle[0] ? hi[0] : idle[0]) + 1;
        t0 = mono_now();
        pthread_t tid = write_later(&wr, hi[1]);
        ret = select(nfds, &r, NULL, NULL, NULL);
        line("select_fds_above_63", "%s hi=%d idle=%d low=%d elapsed_ms=%ld", ret_err(ret, errno),
             FD_ISSET(hi[0], &r), FD_ISSET(idle[0], &r), FD_ISSET(sv[0], &r), ms_since(t0));
        join(tid);
        close_pair(hi);
        close_pair(idle);
        for (int i = 0; i < nf; i++) close(fillers[i]);
    }

    /* The last fd a standard fd_set holds, FD_SETSIZE - 1, with nfds = FD_SETSIZE. */
    {
        int pair[2];
        make_pair(pair);
        int top = fcntl(pair[0], F_DUPFD, FD_SETSIZE - 1);
        if (top != FD_SETSIZE - 1) DIE("F_DUPFD to FD_SETSIZE-1 gave %d", top);
        struct writer wr;
        FD_ZERO(&r); FD_SET(top, &r); FD_SET(sv[0], &r);
        t0 = mono_now();
        pthread_t tid = write_later(&wr, pair[1]);
        ret = select(FD_SETSIZE, &r, NULL, NULL, NULL);
        line("select_fd_setsize_minus_1", "%s top=%d low=%d elapsed_ms=%ld", ret_err(ret, errno),
             FD_ISSET(top, &r), FD_ISSET(sv[0], &r), ms_since(t0));
        join(tid);
        close(top);
        close_pair(pair);
    }

    /* Beyond FD_SETSIZE: a set of the program's own, 8192 bits, with an fd at 1500 (set by
     * hand: FD_SET checks against FD_SETSIZE), and an nfds far above the fd table, which
     * the kernel clamps to the table's size. */
    {
        enum { BITS = 8192, WBITS = 8 * sizeof(unsigned long) };
        static unsigned long big[BITS / WBITS];
        int pair[2];
        make_pair(pair);
        int far = fcntl(pair[0], F_DUPFD, 1500);
        if (far != 1500) DIE("F_DUPFD to 1500 gave %d", far);
        struct writer wr;
        memset(big, 0, sizeof big);
        big[far / WBITS] |= 1UL << (far % WBITS);
        big[sv[0] / WBITS] |= 1UL << (sv[0] % WBITS);
        t0 = mono_now();
        pthread_t tid = write_later(&wr, pair[1]);
        ret = select(1 << 20, (fd_set *)big, NULL, NULL, NULL);
        int far_set = !!(big[far / WBITS] & (1UL << (far % WBITS)));
        int low_set = !!(big[sv[0] / WBITS] & (1UL << (sv[0] % WBITS)));
        line("select_beyond_fd_setsize", "%s far=%d low=%d elapsed_ms=%ld", ret_err(ret, errno),
             far_set, low_set, ms_since(t0));
        join(tid);
        close(far);
        close_pair(pair);
    }

    /* Peer hung up: readable (EOF); the exception set stays clear. */
    {
        int pair[2];
        fd_set e;
        make_pair(pair);
        FD_ZERO(&r); FD_SET(pair[0], &r);
        FD_ZERO(&e); FD_SET(pair[0], &e);
        close(pair[1]);
        tv = (struct timeval){5, 0};
        ret = select(pair[0] + 1, &r, NULL, &e, &tv);
        line("select_peer_closed", "%s r=%d e=%d", ret_err(ret, errno), FD_ISSET(pair[0], &r),
             FD_ISSET(pair[0], &e));
        close(pair[0]);
    }

    close_pair(sv);
}

/* ---- pselect and ppoll (no signal mask) ----------------------------------------------- */

static void pselect_ppoll_cases(void) {
    int sv[2];
    fd_set r;
    struct timespec ts;
    double t0;
    int ret, err;

    make_pair(sv);

    /* 50 ms: 0, set cleared; the timespec is const and stays as it was. */
    FD_ZERO(&r); FD_SET(sv[0], &r);
    ts = (struct timespec){0, 50000000};
    t0 = mono_now();
    ret = pselect(sv[0] + 1, &r, NULL, NULL, &ts, NULL);
    line("pselect_timeout_50ms", "%s isset=%d ts=%ld.%09ld elapsed_ms=%ld", ret_err(ret, errno),
         FD_ISSET(sv[0], &r), (long)ts.tv_sec, ts.tv_nsec, ms_since(t0));

    /* NULL timeout, woken after 100 ms. */
    {
        struct writer wr;
        FD_ZERO(&r); FD_SET(sv[0], &r);
        t0 = mono_now();
        pthread_t tid = write_later(&wr, sv[1]);
        ret = pselect(sv[0] + 1, &r, NULL, NULL, NULL, NULL);
        line("pselect_null_wake", "%s isset=%d elapsed_ms=%ld", ret_err(ret, errno),
             FD_ISSET(sv[0], &r), ms_since(t0));
        join(tid);
        take_byte(sv[0]);
    }

    /* tv_nsec out of range: EINVAL. */
    FD_ZERO(&r); FD_SET(sv[0], &r);
    ts = (struct timespec){0, 1000000000};
    ret = pselect(sv[0] + 1, &r, NULL, NULL, &ts, NULL);
    err = errno;
    line("pselect_bad_timespec", "%s", ret_err(ret, err));

    /* ppoll, 50 ms, nothing ready. */
    struct pollfd p[1] = {{.fd = sv[0], .events = POLLIN}};
    ts = (struct timespec){0, 50000000};
    t0 = mono_now();
    ret = ppoll(p, 1, &ts, NULL);
    line("ppoll_timeout_50ms", "%s revents=0x%x ts=%ld.%09ld elapsed_ms=%ld", ret_err(ret, errno),
         (unsigned)p[0].revents, (long)ts.tv_sec, ts.tv_nsec, ms_since(t0));

    /* ppoll with a 5 s timespec, woken after 100 ms. An nfds the compiler cannot see makes
     * the fortified ppoll call __ppoll_chk. */
    {
        struct writer wr;
        volatile nfds_t one = 1;
        ts = (struct timespec){5, 0};
        t0 = mono_now();
        pthread_t tid = write_later(&wr, sv[1]);
        ret = ppoll(p, one, &ts, NULL);
        line("ppoll_timespec_wake", "%s revents=0x%x elapsed_ms=%ld", ret_err(ret, errno),
             (unsigned)p[0].revents, ms_since(t0));
        join(tid);
        take_byte(sv[0]);
    }

    /* ppoll, NULL timeout, woken after 100 ms. */
    {
        struct writer wr;
        t0 = mono_now();
        pthread_t tid = write_later(&wr, sv[1]);
        ret = ppoll(p, 1, NULL, NULL);
        line("ppoll_null_wake", "%s revents=0x%x elapsed_ms=%ld", ret_err(ret, errno),
             (unsigned)p[0].revents, ms_since(t0));
        join(tid);
        take_byte(sv[0]);
    }

    /* Bad timespec, and a closed fd. */
    ts = (struct timespec){-1, 0};
    ret = ppoll(p, 1, &ts, NULL);
    err = errno;
    line("ppoll_negative_timespec", "%s", ret_err(ret, err));
    {
        int stale[2];
        make_pair(stale);
        close_pair(stale);
        struct pollfd bad[1] = {{.fd = stale[0], .events = POLLIN}};
        ts = (struct timespec){5, 0};
        ret = ppoll(bad, 1, &ts, NULL);
        line("ppoll_closed_fd", "%s revents=0x%x", ret_err(ret, errno), (unsigned)bad[0].revents);
    }

    close_pair(sv);
}

/* ---- the program's own epoll ---------------------------------------------------------- */

static int epoll_with(int fd, unsigned events) {
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) DIE("epoll_create1");
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) DIE("epoll_ctl");
    return epfd;
}

/* One epoll_wait, reported as "<name> ret=N fd=<index in fds or ->,... [elapsed_ms=]". */
static void epoll_case(const char *name, int epfd, int maxevents, int timeout_ms,
                       const int *fds, int nfds, int show_elapsed) {
    struct epoll_event evs[8];
    memset(evs, 0, sizeof evs);
    double t0 = helper_started != 0 ? helper_started : mono_now();
    helper_started = 0;
    int ret = epoll_wait(epfd, evs, maxevents, timeout_ms);
    int err = errno;
    long elapsed = ms_since(t0);
    char which[64] = "-";
    size_t off = 0;
    for (int i = 0; i < ret && off < sizeof which - 16; i++) {
        int idx = -1;
        for (int j = 0; j < nfds; j++)
            if (fds[j] == evs[i].data.fd) idx = j;
        off += (size_t)snprintf(which + off, sizeof which - off, "%s%d:0x%x", i ? "," : "", idx,
                                evs[i].events);
    }
    if (show_elapsed)
        line(name, "%s events=%s elapsed_ms=%ld", ret_err(ret, err), which, elapsed);
    else
        line(name, "%s events=%s", ret_err(ret, err), which);
}

static void epoll_cases(void) {
    int sv[2];
    struct writer wr;
    pthread_t tid;

    /* Level-triggered: woken after 100 ms; still ready on the next call while unread; idle
     * after the read. */
    make_pair(sv);
    int epfd = epoll_with(sv[0], EPOLLIN);
    tid = write_later(&wr, sv[1]);
    epoll_case("epoll_lt_wake", epfd, 8, -1, sv, 1, 1);
    join(tid);
    epoll_case("epoll_lt_still_ready", epfd, 8, 5000, sv, 1, 1);
    take_byte(sv[0]);
    epoll_case("epoll_lt_drained_50ms", epfd, 8, 50, sv, 1, 1);
    close(epfd);
    close_pair(sv);

    /* Edge-triggered: woken after 100 ms; no new edge without new data, even unread; a
     * second write is a new edge. */
    make_pair(sv);
    epfd = epoll_with(sv[0], EPOLLIN | EPOLLET);
    tid = write_later(&wr, sv[1]);
    epoll_case("epoll_et_wake", epfd, 8, -1, sv, 1, 1);
    join(tid);
    epoll_case("epoll_et_no_new_edge_50ms", epfd, 8, 50, sv, 1, 1);
    tid = write_later(&wr, sv[1]);
    epoll_case("epoll_et_second_edge", epfd, 8, 5000, sv, 1, 1);
    join(tid);
    close(epfd);
    close_pair(sv);

    /* One-shot: one event, then nothing until re-armed, then at once (data is pending). */
    make_pair(sv);
    epfd = epoll_with(sv[0], EPOLLIN | EPOLLONESHOT);
    tid = write_later(&wr, sv[1]);
    epoll_case("epoll_oneshot_wake", epfd, 8, -1, sv, 1, 1);
    join(tid);
    tid = write_later(&wr, sv[1]);
    epoll_case("epoll_oneshot_disarmed_300ms", epfd, 8, 300, sv, 1, 1);
    join(tid);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.fd = sv[0]};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, sv[0], &ev) != 0) DIE("epoll_ctl MOD");
    epoll_case("epoll_oneshot_rearmed", epfd, 8, 5000, sv, 1, 1);
    close(epfd);
    close_pair(sv);

    /* Three ready fds and maxevents 1: one event per call, in turn, and the later calls do
     * not wait. Level-triggered: the three are ready before the first call (the order in
     * which a level-triggered instance hands them out depends on when the waiter woke, so
     * natively a wake in the middle of the helper's writes could reorder them); each event
     * handed out goes to the back of the line, and all three are still there afterwards.
     * Edge-triggered: the loop waits first and the helper makes them ready after 100 ms;
     * they come out in the order they became ready, then nothing. */
    for (int et = 0; et < 2; et++) {
        int pairs[3][2], ends[3];
        epfd = epoll_create1(EPOLL_CLOEXEC);
        if (epfd < 0) DIE("epoll_create1");
        for (int i = 0; i < 3; i++) {
            make_pair(pairs[i]);
            ends[i] = pairs[i][0];
            struct epoll_event e = {.events = EPOLLIN | (et ? EPOLLET : 0), .data.fd = ends[i]};
            if (epoll_ctl(epfd, EPOLL_CTL_ADD, ends[i], &e) != 0) DIE("epoll_ctl");
            wr.fds[i] = pairs[i][1];
        }
        if (et) {
            wr.n = 3;
            wr.delay = HELPER_DELAY_US;
            tid = start_writes(&wr);
            epoll_case("epoll_et_max1_first", epfd, 1, -1, ends, 3, 1);
            join(tid);
            epoll_case("epoll_et_max1_second", epfd, 1, 5000, ends, 3, 1);
            epoll_case("epoll_et_max1_third", epfd, 1, 5000, ends, 3, 1);
            epoll_case("epoll_et_max1_then_idle_50ms", epfd, 1, 50, ends, 3, 1);
        } else {
            for (int i = 0; i < 3; i++) put_byte(pairs[i][1]);
            epoll_case("epoll_lt_max1_first", epfd, 1, -1, ends, 3, 1);
            epoll_case("epoll_lt_max1_second", epfd, 1, -1, ends, 3, 1);
            epoll_case("epoll_lt_max1_third", epfd, 1, -1, ends, 3, 1);
            epoll_case("epoll_lt_max1_all_again", epfd, 8, -1, ends, 3, 0);
        }
        close(epfd);
        for (int i = 0; i < 3; i++) close_pair(pairs[i]);
    }

    /* Epoll instances nested as deep as Linux allows (five over the socket): no instance
     * can watch the outermost one, not even the runtime's. */
    {
        int eps[5], inner;
        make_pair(sv);
        inner = sv[0];
        for (int i = 0; i < 5; i++) inner = eps[i] = epoll_with(inner, EPOLLIN);
        tid = write_later(&wr, sv[1]);
        epoll_case("epoll_nested_deepest_wake", eps[4], 8, 5000, &eps[3], 1, 1);
        join(tid);
        for (int i = 4; i >= 0; i--) close(eps[i]);
        close_pair(sv);
    }

    /* Timeouts and errors. */
    make_pair(sv);
    epfd = epoll_with(sv[0], EPOLLIN);
    epoll_case("epoll_timeout_0", epfd, 8, 0, sv, 1, 0);
    epoll_case("epoll_timeout_50ms", epfd, 8, 50, sv, 1, 1);
    epoll_case("epoll_maxevents_0", epfd, 0, 1000, sv, 1, 0);
    epoll_case("epoll_not_epoll_fd", sv[0], 8, 1000, sv, 1, 0);
    {
        int stale = epoll_create1(0);
        close(stale);
        epoll_case("epoll_closed_epfd", stale, 8, 1000, sv, 1, 0);
    }

    /* epoll_pwait (no mask) and epoll_pwait2 with a timespec. */
    {
        struct epoll_event evs[4];
        double t0 = mono_now();
        int ret = epoll_pwait(epfd, evs, 4, 50, NULL);
        line("epoll_pwait_timeout_50ms", "%s elapsed_ms=%ld", ret_err(ret, errno), ms_since(t0));
        struct timespec ts = {0, 50000000};
        t0 = mono_now();
        ret = epoll_pwait2(epfd, evs, 4, &ts, NULL);
        line("epoll_pwait2_timeout_50ms", "%s ts=%ld.%09ld elapsed_ms=%ld", ret_err(ret, errno),
             (long)ts.tv_sec, ts.tv_nsec, ms_since(t0));
        ts = (struct timespec){5, 0};
        t0 = mono_now();
        tid = write_later(&wr, sv[1]);
        ret = epoll_pwait2(epfd, evs, 4, &ts, NULL);
        line("epoll_pwait2_wake", "%s events=0x%x elapsed_ms=%ld", ret_err(ret, errno),
             ret > 0 ? evs[0].events : 0, ms_since(t0));
        join(tid);
        take_byte(sv[0]);
        t0 = mono_now();
        tid = write_later(&wr, sv[1]);
        ret = epoll_pwait2(epfd, evs, 4, NULL, NULL);
        line("epoll_pwait2_null_wake", "%s elapsed_ms=%ld", ret_err(ret, errno), ms_since(t0));
        join(tid);
        take_byte(sv[0]);
        ts = (struct timespec){0, -5};
        ret = epoll_pwait2(epfd, evs, 4, &ts, NULL);
        int err = errno;
        line("epoll_pwait2_bad_timespec", "%s", ret_err(ret, err));
    }
    close(epfd);
    close_pair(sv);
}

static void common_cases(void) {
    select_cases();
    pselect_ppoll_cases();
    epoll_cases();
}

static void *common_in_thread(void *arg) {
    (void)arg;
    prefix = "thread";
    common_cases();
    return NULL;
}

/* ---- signals (main thread only) -------------------------------------------------------- */

static volatile sig_atomic_t alarms;

static void on_alarm(int sig) {
    (void)sig;
    alarms++;
}

static void alarm_in_ms(long ms) {
    struct itimerval it = {.it_value = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000}};
    if (setitimer(ITIMER_REAL, &it, NULL) != 0) DIE("setitimer");
}

/* The waits a pselect-style mask can interrupt, on an idle socketpair end. */
enum masked_call { M_PSELECT, M_PPOLL, M_EPOLL_PWAIT, M_EPOLL_PWAIT2 };
static const char *const masked_names[] = {"pselect", "ppoll", "epoll_pwait", "epoll_pwait2"};

static int masked_wait(enum masked_call call, int fd, int epfd, int timeout_ms,
                       const sigset_t *mask) {
    struct timespec ts = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
    const struct timespec *tsp = timeout_ms < 0 ? NULL : &ts;
    struct epoll_event evs[2];
    switch (call) {
    case M_PSELECT: {
        fd_set r;
        FD_ZERO(&r); FD_SET(fd, &r);
        return pselect(fd + 1, &r, NULL, NULL, tsp, mask);
    }
    case M_PPOLL: {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        return ppoll(&p, 1, tsp, mask);
    }
    case M_EPOLL_PWAIT:
        return epoll_pwait(epfd, evs, 2, timeout_ms, mask);
    case M_EPOLL_PWAIT2:
        return epoll_pwait2(epfd, evs, 2, tsp, mask);
    }
    return -2;
}

static void signal_cases(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: these calls are never restarted anyway */
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) != 0) DIE("sigaction");

    int sv[2];
    make_pair(sv);
    int epfd = epoll_with(sv[0], EPOLLIN);
    double t0;
    int ret, err;

    /* select with no mask, interrupted by SIGALRM after 100 ms: EINTR, set left as passed. */
    {
        fd_set r;
        FD_ZERO(&r); FD_SET(sv[0], &r);
        struct timeval tv = {5, 0};
        alarms = 0;
        t0 = mono_now();
        alarm_in_ms(100);
        ret = select(sv[0] + 1, &r, NULL, NULL, &tv);
        err = errno;
        line("select_eintr", "%s isset=%d alarms=%d left_ms=%ld elapsed_ms=%ld", ret_err(ret, err),
             FD_ISSET(sv[0], &r), (int)alarms, tv_ms(&tv), ms_since(t0));
    }
    {
        struct epoll_event evs[2];
        alarms = 0;
        t0 = mono_now();
        alarm_in_ms(100);
        ret = epoll_wait(epfd, evs, 2, 5000);
        err = errno;
        line("epoll_wait_eintr", "%s alarms=%d elapsed_ms=%ld", ret_err(ret, err), (int)alarms,
             ms_since(t0));
    }

    /* SIGALRM blocked; each call unblocks it with its mask. Threads created from here on
     * inherit the blocked mask, so natively only the waiting main thread can take it. */
    sigset_t blocked, orig, during;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGALRM);
    if (sigprocmask(SIG_BLOCK, &blocked, &orig) != 0) DIE("sigprocmask");
    during = orig;
    sigdelset(&during, SIGALRM);

    for (int helper = 0; helper < 2; helper++) {
        for (int c = M_PSELECT; c <= M_EPOLL_PWAIT2; c++) {
            char name[64];
            pthread_t tid = 0;
            /* With a helper thread alive the greened call cannot just block the OS thread. */
            if (helper) tid = start(sleeper, (void *)(long)400000);

            /* The signal arrives during the wait. */
            alarms = 0;
            t0 = mono_now();
            alarm_in_ms(100);
            ret = masked_wait((enum masked_call)c, sv[0], epfd, 5000, &during);
            err = errno;
            snprintf(name, sizeof name, "%s_mask_signal_during%s", masked_names[c],
                     helper ? "_with_thread" : "");
            line(name, "%s alarms=%d elapsed_ms=%ld", ret_err(ret, err), (int)alarms, ms_since(t0));

            /* The signal is already pending when the call unblocks it: EINTR at once. */
            alarms = 0;
            raise(SIGALRM);
            t0 = mono_now();
            ret = masked_wait((enum masked_call)c, sv[0], epfd, 5000, &during);
            err = errno;
            snprintf(name, sizeof name, "%s_mask_signal_pending%s", masked_names[c],
                     helper ? "_with_thread" : "");
            line(name, "%s alarms=%d elapsed_ms=%ld", ret_err(ret, err), (int)alarms, ms_since(t0));

            /* The mask keeps it blocked: a 50 ms timeout, the signal stays pending. */
            alarms = 0;
            raise(SIGALRM);
            t0 = mono_now();
            ret = masked_wait((enum masked_call)c, sv[0], epfd, 50, &blocked);
            err = errno;
            sigset_t pending;
            sigpending(&pending);
            snprintf(name, sizeof name, "%s_mask_keeps_blocked%s", masked_names[c],
                     helper ? "_with_thread" : "");
            line(name, "%s alarms=%d pending=%d elapsed_ms=%ld", ret_err(ret, err), (int)alarms,
                 sigismember(&pending, SIGALRM), ms_since(t0));
            /* Let the pending one run, then block it again. */
            if (sigprocmask(SIG_SETMASK, &during, NULL) != 0) DIE("sigprocmask");
            if (sigprocmask(SIG_BLOCK, &blocked, NULL) != 0) DIE("sigprocmask");

            /* The mask is the caller's only for the call. */
            sigset_t now;
            pthread_sigmask(SIG_SETMASK, NULL, &now);
            snprintf(name, sizeof name, "%s_mask_restored%s", masked_names[c],
                     helper ? "_with_thread" : "");
            line(name, "blocked=%d", sigismember(&now, SIGALRM));

            if (helper) join(tid);
        }
    }
    if (sigprocmask(SIG_SETMASK, &orig, NULL) != 0) DIE("sigprocmask");
    close(epfd);
    close_pair(sv);
}

/* ---- an epoll TCP server in a thread ---------------------------------------------------- */

#define TCP_CLIENTS 4

struct tcp_server {
    int listen_fd;
    int port;
    int served;
    int echoed_ok;
    int threads_seen;
};

static struct tcp_server server;

static void *tcp_serve(void *arg) {
    struct tcp_server *s = arg;
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) DIE("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = s->listen_fd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, s->listen_fd, &ev) != 0) DIE("epoll_ctl");
    int finished = 0;
    while (finished < TCP_CLIENTS) {
        struct epoll_event evs[8];
        int n = epoll_wait(epfd, evs, 8, 10000);
        if (n < 0) DIE("tcp_serve: epoll_wait");
        if (n == 0) DIE("tcp_serve: nothing for 10 s");
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == s->listen_fd) {
                for (;;) {
                    int c = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0) {
                        if (errno == EAGAIN) break;
                        DIE("accept4");
                    }
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLET, .data.fd = c};
                    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c, &cev) != 0) DIE("epoll_ctl");
                    if (++s->served == TCP_CLIENTS) s->threads_seen = os_thread_count();
                }
                continue;
            }
            for (;;) { /* edge-triggered: read until EAGAIN */
                char buf[256];
                ssize_t got = read(fd, buf, sizeof buf);
                if (got > 0) {
                    if (write(fd, buf, (size_t)got) != got) DIE("tcp_serve: write");
                } else if (got == 0) {
                    close(fd);
                    finished++;
                    break;
                } else if (errno == EAGAIN) {
                    break;
                } else {
                    DIE("tcp_serve: read");
                }
            }
        }
    }
    close(epfd);
    return NULL;
}

static pthread_mutex_t tcp_lock = PTHREAD_MUTEX_INITIALIZER;

static void *tcp_client(void *arg) {
    long id = (long)arg;
    if (usleep((useconds_t)(20000 * id)) != 0) DIE("usleep");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) DIE("socket");
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)server.port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) DIE("connect");
    char msg[32], back[32];
    int len = snprintf(msg, sizeof msg, "hello from client %ld", id);
    /* Two halves, 50 ms apart: the server's loop must wait for the second one. */
    if (write(fd, msg, 5) != 5) DIE("write");
    if (usleep(50000) != 0) DIE("usleep");
    if (write(fd, msg + 5, (size_t)len - 5) != len - 5) DIE("write");
    int got = 0;
    while (got < len) {
        ssize_t n = read(fd, back + got, sizeof back - (size_t)got);
        if (n <= 0) DIE("client read");
        got += (int)n;
    }
    close(fd);
    if (memcmp(msg, back, (size_t)len) == 0) {
        pthread_mutex_lock(&tcp_lock);
        server.echoed_ok++;
        pthread_mutex_unlock(&tcp_lock);
    }
    return NULL;
}

static void tcp_case(void) {
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) DIE("socket");
    server.listen_fd = lfd;
    server.port = listen_on_loopback(lfd, 0, 16);
    double t0 = mono_now();
    pthread_t srv = start(tcp_serve, &server);
    pthread_t clients[TCP_CLIENTS];
    for (long i = 0; i < TCP_CLIENTS; i++) clients[i] = start(tcp_client, (void *)i);
    /* The main thread just sleeps meanwhile. */
    if (usleep(300000) != 0) DIE("usleep");
    for (int i = 0; i < TCP_CLIENTS; i++) join(clients[i]);
    join(srv);
    close(lfd);
    line("tcp_epoll_server", "served=%d echoed_ok=%d elapsed_ms=%ld", server.served,
         server.echoed_ok, ms_since(t0));
    line("tcp_epoll_server_threads", "os_threads=%d", server.threads_seen);
}

int main(int argc, char **argv) {
    /* Room for fd 1500. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) DIE("getrlimit");
    if (rl.rlim_cur < 2048 && rl.rlim_max > rl.rlim_cur) {
        rl.rlim_cur = rl.rlim_max < 2048 ? rl.rlim_max : 2048;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) DIE("setrlimit");
    }
    if (rl.rlim_cur <= 1500) {
        fprintf(stderr, "event_loops: RLIMIT_NOFILE hard limit %lu is too low (need 1501)\n",
                (unsigned long)rl.rlim_max);
        return 98;
    }
    int all = argc < 2;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "common") && strcmp(argv[i], "signals") && strcmp(argv[i], "tcp")) {
            fprintf(stderr, "usage: event_loops [common|signals|tcp]...\n");
            return 2;
        }
    int want_common = all, want_signals = all, want_tcp = all;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "common")) want_common = 1;
        if (!strcmp(argv[i], "signals")) want_signals = 1;
        if (!strcmp(argv[i], "tcp")) want_tcp = 1;
    }
    if (want_common) {
        common_cases();
        join(start(common_in_thread, NULL));
        prefix = "main";
    }
    if (want_signals) signal_cases();
    if (want_tcp) tcp_case();
    return 0;
}
