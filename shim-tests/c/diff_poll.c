/* Differential semantics of waiting for readiness: select (fds at and above 64, at
 * FD_SETSIZE-1 and beyond it), pselect, poll and ppoll (timeouts of 0 and negative ones,
 * POLLHUP, POLLNVAL, negative fds, POLLRDHUP, EINVAL and EFAULT), and a program's own
 * epoll instance (level- and edge-triggered, EPOLLONESHOT, EPOLLEXCLUSIVE, timeouts, errors,
 * nesting).
 *
 *   diff_poll [SCENARIO...]
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
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Fills a socket's buffers with non-blocking sends. */
static void fill_socket(int fd) {
    static char chunk[65536];
    while (send(fd, chunk, sizeof chunk, MSG_DONTWAIT) > 0) {}
    while (send(fd, chunk, 1, MSG_DONTWAIT) > 0) {}
}

/* ================================================================== select, pselect */

struct sel {
    int nfds;
    fd_set r, w, e;
    int use_r, use_w, use_e;
    struct timeval tv;
    int use_tv;
    res_t ret;
    double t0;
};

static void *selector(void *arg) {
    struct sel *s = arg;
    s->t0 = mono_now();
    s->ret = CALL(select(s->nfds, s->use_r ? &s->r : NULL, s->use_w ? &s->w : NULL,
                         s->use_e ? &s->e : NULL, s->use_tv ? &s->tv : NULL));
    return NULL;
}

static void s_select_fd64(const char *name) {
    int a[2], b[2];
    unix_pair(a);
    unix_pair(b);
    if (dup2(a[0], 64) != 64 || dup2(b[0], 100) != 100) DIE("dup2");
    struct sel s = {.nfds = 101, .use_r = 1};
    FD_ZERO(&s.r);
    FD_SET(64, &s.r);
    FD_SET(100, &s.r);
    struct script sc = {.steps = {{20, OP_WRITE, b[1], "x"}}, .n = 1};
    pthread_t st = start_script(&sc), t = spawn(selector, &s);
    join(t);
    join(st);
    out(name, " select=%s isset64=%d isset100=%d waited=%d", rs(s.ret), FD_ISSET(64, &s.r),
        FD_ISSET(100, &s.r), waited_about(sc.t0, 20));
    close(64);
    close(100);
    close2(a);
    close2(b);
}

static void s_select_fd_setsize_minus_1(const char *name) {
    int a[2];
    unix_pair(a);
    int high = FD_SETSIZE - 1;
    if (dup2(a[0], high) != high) DIE("dup2 %d", high);
    struct sel s = {.nfds = FD_SETSIZE, .use_r = 1, .use_w = 1};
    FD_ZERO(&s.r);
    FD_ZERO(&s.w);
    FD_SET(high, &s.r);
    struct script sc = {.steps = {{20, OP_WRITE, a[1], "x"}}, .n = 1};
    pthread_t st = start_script(&sc), t = spawn(selector, &s);
    join(t);
    join(st);
    /* Writable at once, on the main thread. */
    struct sel w = {.nfds = FD_SETSIZE, .use_w = 1, .use_tv = 1, .tv = {1, 0}};
    FD_ZERO(&w.w);
    FD_SET(high, &w.w);
    selector(&w);
    out(name, " fd=%d read_wait=%s isset=%d write=%s isset=%d", high, rs(s.ret), FD_ISSET(high, &s.r),
        rs(w.ret), FD_ISSET(high, &w.w));
    close(high);
    close2(a);
}

/* A program with more than FD_SETSIZE fds passes a bigger array of its own. */
static void s_select_beyond_fd_setsize(const char *name) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 1600) {
        out(name, " skipped=1");
        return;
    }
    int a[2];
    unix_pair(a);
    int high = 1500;
    if (dup2(a[0], high) != high) DIE("dup2");
    unsigned long set[1536 / (8 * sizeof(unsigned long))];
    memset(set, 0, sizeof set);
    set[high / (8 * sizeof(unsigned long))] |= 1UL << (high % (8 * sizeof(unsigned long)));
    struct script sc = {.steps = {{20, OP_WRITE, a[1], "x"}}, .n = 1};
    pthread_t st = start_script(&sc);
    res_t r = CALL(select(high + 1, (fd_set *)set, NULL, NULL, NULL));
    join(st);
    int isset = (set[high / (8 * sizeof(unsigned long))] >> (high % (8 * sizeof(unsigned long)))) & 1;
    out(name, " select=%s isset=%d", rs(r), isset);
    close(high);
    close2(a);
}

static void s_select_timeout_zero(const char *name) {
    int a[2];
    unix_pair(a);
    struct sel s = {.nfds = a[0] + 1, .use_r = 1, .use_tv = 1, .tv = {0, 0}};
    FD_ZERO(&s.r);
    FD_SET(a[0], &s.r);
    in_thread(selector, &s);
    int quick = at_once(s.t0);
    out(name, " select=%s isset=%d at_once=%d tv=%ld.%06ld", rs(s.ret), FD_ISSET(a[0], &s.r), quick,
        (long)s.tv.tv_sec, (long)s.tv.tv_usec);
    close2(a);
}

static void s_select_timeout_expire(const char *name) {
    int a[2];
    unix_pair(a);
    struct sel s = {.nfds = a[0] + 1, .use_r = 1, .use_tv = 1, .tv = {0, 50000}};
    FD_ZERO(&s.r);
    FD_SET(a[0], &s.r);
    in_thread(selector, &s);
    int waited = waited_about(s.t0, 50);
    /* Main thread, no fds: a sleep. */
    struct sel m = {.nfds = 0, .use_tv = 1, .tv = {0, 30000}};
    selector(&m);
    out(name, " select=%s isset=%d waited=%d tv=%ld.%06ld main=%s waited=%d", rs(s.ret),
        FD_ISSET(a[0], &s.r), waited, (long)s.tv.tv_sec, (long)s.tv.tv_usec, rs(m.ret),
        waited_about(m.t0, 30));
    close2(a);
}

/* Linux writes the time not slept back into the timeval. */
static void s_select_time_left(const char *name) {
    int a[2];
    unix_pair(a);
    struct sel s = {.nfds = a[0] + 1, .use_r = 1, .use_tv = 1, .tv = {2, 0}};
    FD_ZERO(&s.r);
    FD_SET(a[0], &s.r);
    struct script sc = {.steps = {{30, OP_WRITE, a[1], "x"}}, .n = 1};
    pthread_t st = start_script(&sc), t = spawn(selector, &s);
    join(t);
    join(st);
    int left_ok = s.tv.tv_sec == 1 && s.tv.tv_usec > 0 && s.tv.tv_usec < 1000000;
    /* tv_usec of more than a second counts as whole seconds. */
    struct sel u = {.nfds = a[0] + 1, .use_r = 1, .use_tv = 1, .tv = {0, 2500000}};
    FD_ZERO(&u.r);
    FD_SET(a[0], &u.r);
    selector(&u);
    out(name, " select=%s left_ok=%d big_usec=%s left_sec=%ld usec_normal=%d", rs(s.ret), left_ok,
        rs(u.ret), (long)u.tv.tv_sec, u.tv.tv_usec >= 0 && u.tv.tv_usec < 1000000);
    close2(a);
}

static void s_select_invalid(const char *name) {
    int a[2];
    unix_pair(a);
    struct sel s1 = {.nfds = a[0] + 1, .use_r = 1, .use_tv = 1, .tv = {-1, 0}};
    FD_ZERO(&s1.r);
    FD_SET(a[0], &s1.r);
    in_thread(selector, &s1);
    struct sel s2 = {.nfds = a[0] + 1, .use_r = 1, .use_tv = 1, .tv = {0, -1}};
    FD_ZERO(&s2.r);
    FD_SET(a[0], &s2.r);
    in_thread(selector, &s2);
    struct sel s3 = {.nfds = -1, .use_r = 1, .use_tv = 1, .tv = {1, 0}};
    FD_ZERO(&s3.r);
    in_thread(selector, &s3);
    out(name, " neg_sec=%s tv=%ld neg_usec=%s neg_nfds=%s", rs(s1.ret), (long)s1.tv.tv_sec,
        rs(s2.ret), rs(s3.ret));
    close2(a);
}

static void s_select_ebadf(const char *name) {
    int a[2];
    unix_pair(a);
    int closed = dup(a[0]);
    close(closed);
    struct sel s = {.nfds = closed + 1, .use_r = 1};
    FD_ZERO(&s.r);
    FD_SET(a[0], &s.r);
    FD_SET(closed, &s.r);
    in_thread(selector, &s);
    out(name, " select=%s sets_kept=%d,%d", rs(s.ret), FD_ISSET(a[0], &s.r), FD_ISSET(closed, &s.r));
    close2(a);
}

static void s_select_main_null_timeout(const char *name) {
    int a[2], b[2];
    unix_pair(a);
    unix_pair(b);
    struct sel s = {.nfds = (a[0] > b[0] ? a[0] : b[0]) + 1, .use_r = 1, .use_w = 1};
    FD_ZERO(&s.r);
    FD_ZERO(&s.w);
    FD_SET(a[0], &s.r);
    FD_SET(b[0], &s.r);
    fill_socket(a[0]);
    FD_SET(a[0], &s.w);
    struct script sc = {.steps = {{20, OP_WRITE, b[1], "x"}}, .n = 1};
    pthread_t st = start_script(&sc);
    selector(&s);
    join(st);
    out(name, " select=%s r=%d,%d w=%d waited=%d", rs(s.ret), FD_ISSET(a[0], &s.r),
        FD_ISSET(b[0], &s.r), FD_ISSET(a[0], &s.w), waited_about(sc.t0, 20));
    close2(a);
    close2(b);
}

static void s_select_write_wait(const char *name) {
    int a[2];
    unix_pair(a);
    fill_socket(a[0]);
    struct sel s = {.nfds = a[0] + 1, .use_w = 1};
    FD_ZERO(&s.w);
    FD_SET(a[0], &s.w);
    struct script sc = {.steps = {{30, OP_READ_ALL, a[1], NULL}}, .n = 1};
    pthread_t st = start_script(&sc), t = spawn(selector, &s);
    join(t);
    join(st);
    out(name, " select=%s isset=%d waited=%d", rs(s.ret), FD_ISSET(a[0], &s.w), waited_about(sc.t0, 30));
    close2(a);
}

static void s_select_pipe_hup(const char *name) {
    int p[2];
    if (pipe(p) != 0) DIE("pipe");
    struct sel s = {.nfds = p[0] + 1, .use_r = 1};
    FD_ZERO(&s.r);
    FD_SET(p[0], &s.r);
    struct script sc = {.steps = {{20, OP_CLOSE, p[1], NULL}}, .n = 1};
    pthread_t st = start_script(&sc), t = spawn(selector, &s);
    join(t);
    join(st);
    out(name, " select=%s isset=%d", rs(s.ret), FD_ISSET(p[0], &s.r));
    close(p[0]);
}

static void s_select_except_oob(const char *name) {
    int tp[2];
    tcp_pair(tp);
    /* A 2 s timeout bounds a missed wake-up; the OOB byte comes after 20 ms. */
    struct sel s = {.nfds = tp[1] + 1, .use_e = 1, .use_tv = 1, .tv = {2, 0}};
    FD_ZERO(&s.e);
    FD_SET(tp[1], &s.e);
    struct script sc = {.steps = {{20, OP_OOB, tp[0], NULL}}, .n = 1};
    pthread_t st = start_script(&sc), t = spawn(selector, &s);
    join(t);
    double dt = mono_now() - sc.t0;
    join(st);
    char c = 0;
    res_t oob = CALL(recv(tp[1], &c, 1, MSG_OOB));
    out(name, " select=%s isset=%d woke_before_1s=%d oob=%s byte=%c", rs(s.ret), FD_ISSET(tp[1], &s.e),
        dt < 1.0, rs(oob), c ? c : '-');
    close2(tp);
}

struct psel {
    int fd;
    struct timespec ts;
    res_t ret;
    double t0;
};

static void *pselector(void *arg) {
    struct psel *p = arg;
    fd_set r;
    FD_ZERO(&r);
    FD_SET(p->fd, &r);
    sigset_t mask;
    sigemptyset(&mask);
    p->t0 = mono_now();
    p->ret = CALL(pselect(p->fd + 1, &r, NULL, NULL, &p->ts, &mask));
    return NULL;
}

static void s_pselect_timeouts(const char *name) {
    int a[2];
    unix_pair(a);
    struct psel p = {.fd = a[0], .ts = {0, 30000000}};
    in_thread(pselector, &p);
    int waited = waited_about(p.t0, 30);
    struct psel q = {.fd = a[0], .ts = {0, 2000000000}};
    in_thread(pselector, &q);
    struct psel z = {.fd = a[0], .ts = {0, 0}};
    in_thread(pselector, &z);
    out(name, " expire=%s waited=%d bad_nsec=%s zero=%s at_once=%d", rs(p.ret), waited, rs(q.ret),
        rs(z.ret), at_once(z.t0));
    close2(a);
}

/* ---- Bad pointers among the arguments of the waiting calls: the kernel answers EFAULT.
 * Each call runs in a forked child (from a thread of it), so that a call that crashes
 * instead shows up as the signal that ended the child, and the other calls still run.
 * (A bad timeout pointer of select, pselect or ppoll is left out: glibc itself reads the
 * timeout before the system call, so natively those crash.) */

static int g_fd; /* an empty socket the calls wait on */

static res_t c_select_set(void) { return CALL(select(g_fd + 1, bad_pointer(), NULL, NULL, NULL)); }
static res_t c_poll_fds(void) { return CALL(poll(bad_pointer(), 1, 1000)); }
static res_t c_ppoll_fds(void) {
    struct timespec ts = {1, 0};
    return CALL(ppoll(bad_pointer(), 1, &ts, NULL));
}
static res_t c_epoll_events(void) {
    int ep = epoll_create1(0), sv[2];
    unix_pair(sv);
    struct epoll_event ev = {.events = EPOLLIN};
    epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev);
    if (write(sv[1], "x", 1) != 1) DIE("write");
    return CALL(epoll_wait(ep, bad_pointer(), 4, 1000));
}
static res_t c_epoll_pwait2_timeout(void) {
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN}, out[2];
    epoll_ctl(ep, EPOLL_CTL_ADD, g_fd, &ev);
    return CALL(epoll_pwait2(ep, out, 2, bad_pointer(), NULL));
}

struct child_call {
    res_t (*call)(void);
    int pipe_fd;
};

static void *child_thread(void *arg) {
    struct child_call *c = arg;
    res_t r = c->call();
    if (write(c->pipe_fd, &r, sizeof r) != (ssize_t)sizeof r) _exit(98);
    return NULL;
}

/* "ret=..." as the call in a child returned it, or how the child ended. */
static const char *in_child(res_t (*call)(void)) {
    static char bufs[8][64];
    static int next;
    char *b = bufs[next++ & 7];
    int p[2];
    if (pipe(p) != 0) DIE("pipe");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) DIE("fork");
    if (pid == 0) {
        close(p[0]);
        int sv[2];
        unix_pair(sv);
        g_fd = sv[0];
        struct child_call c = {call, p[1]};
        in_thread(child_thread, &c);
        _exit(0);
    }
    close(p[1]);
    res_t r;
    ssize_t n = read(p[0], &r, sizeof r);
    close(p[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid) DIE("waitpid");
    if (WIFSIGNALED(status))
        snprintf(b, 64, "killed_by_signal_%d", WTERMSIG(status));
    else if (n != (ssize_t)sizeof r)
        snprintf(b, 64, "exit_%d", WEXITSTATUS(status));
    else
        snprintf(b, 64, "%s", rs(r));
    return b;
}

static void s_efault_wait_args(const char *name) {
    out(name, " select_set=%s poll_fds=%s ppoll_fds=%s epoll_events=%s epoll_pwait2_timeout=%s",
        in_child(c_select_set), in_child(c_poll_fds), in_child(c_ppoll_fds), in_child(c_epoll_events),
        in_child(c_epoll_pwait2_timeout));
}

/* ================================================================== poll, ppoll */

struct pl {
    struct pollfd fds[4];
    nfds_t n;
    int timeout;
    res_t ret;
    double t0;
};

static void *poller(void *arg) {
    struct pl *p = arg;
    p->t0 = mono_now();
    p->ret = CALL(poll(p->fds, p->n, p->timeout));
    return NULL;
}

static void s_poll_timeout_zero(const char *name) {
    int a[2];
    unix_pair(a);
    struct pl p = {{{a[0], POLLIN, 0x7}}, 1, 0, {0, 0}, 0};
    in_thread(poller, &p);
    out(name, " poll=%s revents=0x%x at_once=%d", rs(p.ret), p.fds[0].revents, at_once(p.t0));
    close2(a);
}

static void s_poll_timeout_expire(const char *name) {
    int a[2];
    unix_pair(a);
    struct pl p = {{{a[0], POLLIN, 0}}, 1, 50, {0, 0}, 0};
    in_thread(poller, &p);
    int waited = waited_about(p.t0, 50);
    struct pl m = {{{a[0], POLLIN, 0}}, 1, 30, {0, 0}, 0};
    poller(&m);
    out(name, " poll=%s revents=0x%x waited=%d main=%s waited=%d", rs(p.ret), p.fds[0].revents, waited,
        rs(m.ret), waited_about(m.t0, 30));
    close2(a);
}

static void s_poll_negative_timeouts(const char *name) {
    int a[2];
    unix_pair(a);
    struct pl p = {{{a[0], POLLIN, 0}}, 1, -1, {0, 0}, 0};
    struct script sc = {.steps = {{20, OP_WRITE, a[1], "x"}}, .n = 1};
    pthread_t st = start_script(&sc), t = spawn(poller, &p);
    join(t);
    join(st);
    char c;
    if (read(a[0], &c, 1) != 1) DIE("read");
    struct pl q = {{{a[0], POLLIN, 0}}, 1, -7, {0, 0}, 0};
    struct script sc2 = {.steps = {{20, OP_WRITE, a[1], "y"}}, .n = 1};
    st = start_script(&sc2);
    t = spawn(poller, &q);
    join(t);
    join(st);
    out(name, " minus1=%s revents=0x%x waited=%d minus7=%s revents=0x%x waited=%d", rs(p.ret),
        p.fds[0].revents, waited_about(sc.t0, 20), rs(q.ret), q.fds[0].revents, waited_about(sc2.t0, 20));
    close2(a);
}

static void s_poll_hup_socket(const char *name) {
    int a[2];
    unix_pair(a);
    if (write(a[1], "z", 1) != 1) DIE("write");
    close(a[1]);
    struct pl p = {{{a[0], POLLIN, 0}, {a[0], POLLIN | POLLRDHUP, 0}, {a[0], 0, 0}, {a[0], POLLOUT, 0}},
                   4, 100, {0, 0}, 0};
    in_thread(poller, &p);
    out(name, " poll=%s revents=0x%x,0x%x,0x%x,0x%x", rs(p.ret), p.fds[0].revents, p.fds[1].revents,
        p.fds[2].revents, p.fds[3].revents);
    close(a[0]);
}

static void s_poll_hup_wait(const char *name) {
    int tp[2];
    tcp_pair(tp);
    struct pl p = {{{tp[0], POLLIN, 0}}, 1, -1, {0, 0}, 0};
    struct script sc = {.steps = {{20, OP_CLOSE, tp[1], NULL}}, .n = 1};
    pthread_t st = start_script(&sc), t = spawn(poller, &p);
    join(t);
    join(st);
    out(name, " poll=%s revents=0x%x waited=%d", rs(p.ret), p.fds[0].revents, waited_about(sc.t0, 20));
    close(tp[0]);
}

static void s_poll_pipe_hup(const char *name) {
    int p[2], q[2];
    if (pipe(p) != 0 || pipe(q) != 0) DIE("pipe");
    close(p[1]);
    if (write(q[1], "d", 1) != 1) DIE("write");
    close(q[1]);
    struct pl x = {{{p[0], POLLIN, 0}, {q[0], POLLIN, 0}}, 2, 100, {0, 0}, 0};
    in_thread(poller, &x);
    /* The write end of a pipe whose reader is gone: POLLERR. */
    int r[2];
    if (pipe(r) != 0) DIE("pipe");
    close(r[0]);
    struct pl y = {{{r[1], POLLOUT, 0}}, 1, 100, {0, 0}, 0};
    in_thread(poller, &y);
    out(name, " empty=0x%x with_data=0x%x ret=%s writer=%s revents=0x%x", x.fds[0].revents,
        x.fds[1].revents, rs(x.ret), rs(y.ret), y.fds[0].revents);
    close(p[0]);
    close(q[0]);
    close(r[1]);
}

static void s_poll_pollnval(const char *name) {
    int a[2];
    unix_pair(a);
    int closed = dup(a[0]);
    close(closed);
    struct pl p = {{{closed, POLLIN, 0}, {a[0], POLLIN, 0}}, 2, -1, {0, 0}, 0};
    in_thread(poller, &p);
    int quick = at_once(p.t0);
    out(name, " poll=%s revents=0x%x,0x%x at_once=%d", rs(p.ret), p.fds[0].revents, p.fds[1].revents,
        quick);
    close2(a);
}

static void s_poll_negative_fd(const char *name) {
    int a[2];
    unix_pair(a);
    struct pl p = {{{-1, POLLIN, 0x5}, {a[0], POLLIN, 0}, {-5, POLLOUT, 0}}, 3, -1, {0, 0}, 0};
    struct script sc = {.steps = {{20, OP_WRITE, a[1], "x"}}, .n = 1};
    pthread_t st = start_script(&sc), t = spawn(poller, &p);
    join(t);
    join(st);
    struct pl only = {{{-1, POLLIN, 0}}, 1, 30, {0, 0}, 0};
    in_thread(poller, &only);
    out(name, " poll=%s revents=0x%x,0x%x,0x%x only_negative=%s waited=%d", rs(p.ret), p.fds[0].revents,
        p.fds[1].revents, p.fds[2].revents, rs(only.ret), waited_about(only.t0, 30));
    close2(a);
}

static void s_poll_rdhup(const char *name) {
    int tp[2];
    tcp_pair(tp);
    struct pl p = {{{tp[0], POLLRDHUP, 0}}, 1, -1, {0, 0}, 0};
    struct script sc = {.steps = {{20, OP_SHUT_WR, tp[1], NULL}}, .n = 1};
    pthread_t st = start_script(&sc), t = spawn(poller, &p);
    join(t);
    join(st);
    struct pl q = {{{tp[0], POLLIN | POLLRDHUP | POLLOUT, 0}}, 1, 0, {0, 0}, 0};
    poller(&q);
    out(name, " rdhup_only=%s revents=0x%x waited=%d all=%s revents=0x%x", rs(p.ret), p.fds[0].revents,
        waited_about(sc.t0, 20), rs(q.ret), q.fds[0].revents);
    close2(tp);
}

/* Urgent (out-of-band) TCP data is POLLPRI, not POLLIN. */
static void s_poll_pri_oob(const char *name) {
    int tp[2];
    tcp_pair(tp);
    /* A 2 s timeout bounds a missed wake-up; the OOB byte comes after 20 ms. */
    struct pl p = {{{tp[1], POLLPRI, 0}}, 1, 2000, {0, 0}, 0};
    struct script sc = {.steps = {{20, OP_OOB, tp[0], NULL}}, .n = 1};
    pthread_t st = start_script(&sc), t = spawn(poller, &p);
    join(t);
    double dt = mono_now() - sc.t0;
    join(st);
    out(name, " poll=%s revents=0x%x woke_before_1s=%d", rs(p.ret), p.fds[0].revents, dt < 1.0);
    close2(tp);
}

static void s_poll_invalid(const char *name) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    struct pollfd one = {0, POLLIN, 0};
    nfds_t too_many = (nfds_t)rl.rlim_cur + 1;
    res_t a = CALL(poll(&one, too_many, 0));
    res_t b = CALL(poll(&one, too_many, 100));
    res_t c = CALL(poll(&one, too_many, -1));
    res_t d = CALL(poll(bad_pointer(), 1, 0));
    res_t e = CALL(poll(bad_pointer(), 1, 100));
    res_t f = CALL(poll(bad_pointer(), 1, -1));
    out(name, " nfds_over_limit=%s,%s,%s efault=%s,%s,%s", rs(a), rs(b), rs(c), rs(d), rs(e), rs(f));
}

struct pinv {
    res_t a, b;
};

static void *poll_invalid_thread(void *arg) {
    struct pinv *p = arg;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    struct pollfd one = {0, POLLIN, 0};
    p->a = CALL(poll(&one, (nfds_t)rl.rlim_cur + 1, -1));
    p->b = CALL(poll(bad_pointer(), 2, 50));
    return NULL;
}

static void s_poll_invalid_thread(const char *name) {
    struct pinv p;
    in_thread(poll_invalid_thread, &p);
    out(name, " nfds_over_limit=%s efault=%s", rs(p.a), rs(p.b));
}

static void s_poll_pollout_wait(const char *name) {
    int a[2];
    unix_pair(a);
    fill_socket(a[0]);
    struct pl z = {{{a[0], POLLOUT, 0}}, 1, 30, {0, 0}, 0};
    in_thread(poller, &z);
    struct pl p = {{{a[0], POLLOUT, 0}}, 1, -1, {0, 0}, 0};
    struct script sc = {.steps = {{30, OP_READ_ALL, a[1], NULL}}, .n = 1};
    pthread_t st = start_script(&sc), t = spawn(poller, &p);
    join(t);
    join(st);
    out(name, " full=%s revents=0x%x drained=%s revents=0x%x waited=%d", rs(z.ret), z.fds[0].revents,
        rs(p.ret), p.fds[0].revents, waited_about(sc.t0, 30));
    close2(a);
}

static void s_poll_zero_nfds(const char *name) {
    struct pl p = {.n = 0, .timeout = 30};
    in_thread(poller, &p);
    int waited = waited_about(p.t0, 30);
    double t0 = mono_now();
    res_t m = CALL(poll(NULL, 0, 20));
    out(name, " thread=%s waited=%d main=%s waited=%d", rs(p.ret), waited, rs(m), waited_about(t0, 20));
}

static void s_poll_many(const char *name) {
    enum { N = 100 };
    int pairs[N][2];
    struct pollfd fds[N];
    for (int i = 0; i < N; i++) {
        unix_pair(pairs[i]);
        fds[i] = (struct pollfd){pairs[i][0], POLLIN, 0};
    }
    struct script sc = {.steps = {{20, OP_WRITE, pairs[7][1], "a"}, {0, OP_WRITE, pairs[50][1], "b"},
                         {0, OP_WRITE, pairs[99][1], "c"}}, .n = 3};
    pthread_t st = start_script(&sc);
    res_t r = CALL(poll(fds, N, -1));
    join(st);
    res_t r2 = CALL(poll(fds, N, 0));
    char which[64] = "";
    for (int i = 0; i < N; i++)
        if (fds[i].revents) snprintf(which + strlen(which), sizeof which - strlen(which), "%d,", i);
    out(name, " first_ok=%d second=%s ready=%s", r.ret >= 1 && r.ret <= 3, rs(r2), which);
    for (int i = 0; i < N; i++) close2(pairs[i]);
}

struct pp {
    int fd;
    struct timespec ts;
    int null_ts;
    res_t ret;
    double t0;
    short revents;
};

static void *ppoller(void *arg) {
    struct pp *p = arg;
    struct pollfd f = {p->fd, POLLIN, 0};
    sigset_t mask;
    sigemptyset(&mask);
    p->t0 = mono_now();
    p->ret = CALL(ppoll(&f, 1, p->null_ts ? NULL : &p->ts, &mask));
    p->revents = f.revents;
    return NULL;
}

static void s_ppoll(const char *name) {
    int a[2];
    unix_pair(a);
    struct pp p = {.fd = a[0], .ts = {0, 30000000}};
    in_thread(ppoller, &p);
    int waited = waited_about(p.t0, 30);
    struct pp bad = {.fd = a[0], .ts = {0, 1000000000}};
    in_thread(ppoller, &bad);
    struct pp neg = {.fd = a[0], .ts = {-1, 0}};
    in_thread(ppoller, &neg);
    struct pp inf = {.fd = a[0], .null_ts = 1};
    struct script sc = {.steps = {{20, OP_WRITE, a[1], "x"}}, .n = 1};
    pthread_t st = start_script(&sc), t = spawn(ppoller, &inf);
    join(t);
    join(st);
    out(name, " expire=%s waited=%d bad_nsec=%s negative=%s forever=%s revents=0x%x", rs(p.ret), waited,
        rs(bad.ret), rs(neg.ret), rs(inf.ret), inf.revents);
    close2(a);
}

/* ================================================================== epoll */

static int ep_add(int ep, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

struct ew {
    int ep;
    int timeout;
    int max;
    struct epoll_event ev[4];
    res_t ret;
    double t0;
};

static void *epoll_waiter(void *arg) {
    struct ew *w = arg;
    w->t0 = mono_now();
    w->ret = CALL(epoll_wait(w->ep, w->ev, w->max ? w->max : 4, w->timeout));
    return NULL;
}

static void s_epoll_level(const char *name) {
    int a[2];
    unix_pair(a);
    int ep = epoll_create1(0);
    ep_add(ep, a[0], EPOLLIN, 42);
    struct script sc = {.steps = {{20, OP_WRITE, a[1], "lt"}}, .n = 1};
    struct ew w = {.ep = ep, .timeout = -1};
    pthread_t st = start_script(&sc), t = spawn(epoll_waiter, &w);
    join(t);
    join(st);
    struct ew again = {.ep = ep, .timeout = 0};
    in_thread(epoll_waiter, &again);
    struct ew third = {.ep = ep, .timeout = 100};
    epoll_waiter(&third);
    out(name, " wait=%s events=0x%x data=%llu again=%s third=%s waited=%d", rs(w.ret), w.ev[0].events,
        (unsigned long long)w.ev[0].data.u64, rs(again.ret), rs(third.ret), waited_about(sc.t0, 20));
    close(ep);
    close2(a);
}

static void s_epoll_edge(const char *name) {
    int a[2];
    unix_pair(a);
    int ep = epoll_create1(0);
    ep_add(ep, a[0], EPOLLIN | EPOLLET, 7);
    if (write(a[1], "e1", 2) != 2) DIE("write");
    struct ew first = {.ep = ep, .timeout = 100};
    in_thread(epoll_waiter, &first);
    struct ew second = {.ep = ep, .timeout = 50};
    in_thread(epoll_waiter, &second);
    int waited = waited_about(second.t0, 50);
    struct script sc = {.steps = {{20, OP_WRITE, a[1], "e2"}}, .n = 1};
    struct ew third = {.ep = ep, .timeout = -1};
    pthread_t st = start_script(&sc), t = spawn(epoll_waiter, &third);
    join(t);
    join(st);
    out(name, " first=%s second=%s waited=%d after_new_data=%s events=0x%x", rs(first.ret),
        rs(second.ret), waited, rs(third.ret), third.ev[0].events);
    close(ep);
    close2(a);
}

static void s_epoll_oneshot(const char *name) {
    int a[2];
    unix_pair(a);
    int ep = epoll_create1(0);
    ep_add(ep, a[0], EPOLLIN | EPOLLONESHOT, 1);
    if (write(a[1], "o1", 2) != 2) DIE("write");
    struct ew first = {.ep = ep, .timeout = 100};
    in_thread(epoll_waiter, &first);
    if (write(a[1], "o2", 2) != 2) DIE("write");
    struct ew second = {.ep = ep, .timeout = 30};
    in_thread(epoll_waiter, &second);
    int waited = waited_about(second.t0, 30);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 2};
    res_t mod = CALL(epoll_ctl(ep, EPOLL_CTL_MOD, a[0], &ev));
    struct ew third = {.ep = ep, .timeout = 100};
    in_thread(epoll_waiter, &third);
    out(name, " first=%s second=%s waited=%d rearm=%s third=%s data=%llu", rs(first.ret), rs(second.ret),
        waited, rs(mod), rs(third.ret), (unsigned long long)third.ev[0].data.u64);
    close(ep);
    close2(a);
}

static void s_epoll_exclusive(const char *name) {
    int a[2];
    unix_pair(a);
    int ep = epoll_create1(0);
    res_t add = CALL(ep_add(ep, a[0], EPOLLIN | EPOLLEXCLUSIVE, 5));
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.u64 = 5};
    res_t mod = CALL(epoll_ctl(ep, EPOLL_CTL_MOD, a[0], &ev));
    int ep2 = epoll_create1(0);
    res_t bad = CALL(ep_add(ep2, a[0], EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, 5));
    struct script sc = {.steps = {{20, OP_WRITE, a[1], "x"}}, .n = 1};
    struct ew w = {.ep = ep, .timeout = -1};
    pthread_t st = start_script(&sc), t = spawn(epoll_waiter, &w);
    join(t);
    join(st);
    out(name, " add=%s mod=%s with_oneshot=%s wait=%s events=0x%x", rs(add), rs(mod), rs(bad), rs(w.ret),
        w.ev[0].events);
    close(ep);
    close(ep2);
    close2(a);
}

static void s_epoll_timeouts(const char *name) {
    int a[2];
    unix_pair(a);
    int ep = epoll_create1(0);
    ep_add(ep, a[0], EPOLLIN, 1);
    struct ew z = {.ep = ep, .timeout = 0};
    in_thread(epoll_waiter, &z);
    int quick = at_once(z.t0);
    struct ew e = {.ep = ep, .timeout = 50};
    in_thread(epoll_waiter, &e);
    int waited = waited_about(e.t0, 50);
    struct ew m = {.ep = ep, .timeout = 30};
    epoll_waiter(&m);
    struct timespec ts = {0, 30000000};
    struct epoll_event ev[2];
    double t0 = mono_now();
    res_t p2 = CALL(epoll_pwait2(ep, ev, 2, &ts, NULL));
    int p2_waited = waited_about(t0, 30);
    out(name, " zero=%s at_once=%d expire=%s waited=%d main=%s waited=%d pwait2=%s waited=%d", rs(z.ret),
        quick, rs(e.ret), waited, rs(m.ret), waited_about(m.t0, 30), rs(p2), p2_waited);
    close(ep);
    close2(a);
}

static void s_epoll_wait_main(const char *name) {
    int tp[2];
    tcp_pair(tp);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    ep_add(ep, tp[0], EPOLLIN | EPOLLRDHUP, 9);
    struct script sc = {.steps = {{20, OP_WRITE, tp[1], "m"}, {0, OP_READ1, tp[1], NULL},
                                  {20, OP_CLOSE, tp[1], NULL}}, .n = 3};
    pthread_t st = start_script(&sc);
    struct ew w = {.ep = ep, .timeout = -1};
    epoll_waiter(&w);
    char c;
    if (read(tp[0], &c, 1) != 1) DIE("read");
    if (write(tp[0], "k", 1) != 1) DIE("write"); /* the close comes after this */
    struct ew h = {.ep = ep, .timeout = 2000};
    epoll_waiter(&h);
    join(st);
    out(name, " data=%s events=0x%x hup=%s events=0x%x", rs(w.ret), w.ev[0].events, rs(h.ret),
        h.ev[0].events);
    close(ep);
    close(tp[0]);
}

static void s_epoll_hup_events(const char *name) {
    int a[2];
    unix_pair(a);
    int ep = epoll_create1(0);
    ep_add(ep, a[0], EPOLLIN | EPOLLOUT | EPOLLRDHUP, 3);
    struct ew before = {.ep = ep, .timeout = 0};
    in_thread(epoll_waiter, &before);
    close(a[1]);
    struct ew after = {.ep = ep, .timeout = 100};
    in_thread(epoll_waiter, &after);
    out(name, " before=%s events=0x%x after=%s events=0x%x", rs(before.ret), before.ev[0].events,
        rs(after.ret), after.ev[0].events);
    close(ep);
    close(a[0]);
}

static void s_epoll_maxevents(const char *name) {
    int a[2], b[2], c[2];
    unix_pair(a);
    unix_pair(b);
    unix_pair(c);
    int ep = epoll_create1(0);
    ep_add(ep, a[0], EPOLLIN | EPOLLET, 1);
    ep_add(ep, b[0], EPOLLIN | EPOLLET, 2);
    ep_add(ep, c[0], EPOLLIN | EPOLLET, 3);
    if (write(a[1], "1", 1) != 1 || write(b[1], "2", 1) != 1 || write(c[1], "3", 1) != 1) DIE("write");
    unsigned long long sum = 0;
    res_t r[4];
    for (int i = 0; i < 4; i++) {
        struct ew w = {.ep = ep, .timeout = i < 3 ? -1 : 30, .max = 1};
        in_thread(epoll_waiter, &w);
        r[i] = w.ret;
        if (w.ret.ret == 1) sum += w.ev[0].data.u64;
    }
    out(name, " calls=%s,%s,%s,%s data_sum=%llu", rs(r[0]), rs(r[1]), rs(r[2]), rs(r[3]), sum);
    close(ep);
    close2(a);
    close2(b);
    close2(c);
}

static void s_epoll_errors(const char *name) {
    int a[2];
    unix_pair(a);
    int ep = epoll_create1(0);
    struct epoll_event ev[2];
    res_t r1 = CALL(epoll_wait(ep, ev, 0, 10));
    res_t r2 = CALL(epoll_wait(a[0], ev, 2, 10));
    int closed = epoll_create1(0);
    close(closed);
    res_t r3 = CALL(epoll_wait(closed, ev, 2, 10));
    res_t c1 = CALL(ep_add(ep, a[0], EPOLLIN, 1));
    res_t c2 = CALL(ep_add(ep, a[0], EPOLLIN, 1));
    res_t c3 = CALL(epoll_ctl(ep, EPOLL_CTL_DEL, a[1], NULL));
    FILE *f = tmpfile();
    res_t c4 = CALL(ep_add(ep, fileno(f), EPOLLIN, 1));
    fclose(f);
    res_t c5 = CALL(ep_add(ep, ep, EPOLLIN, 1));
    res_t c6 = CALL(epoll_create(0));
    out(name, " maxevents0=%s not_epoll=%s closed=%s add=%s add_again=%s del_missing=%s file=%s self=%s create0=%s",
        rs(r1), rs(r2), rs(r3), rs(c1), rs(c2), rs(c3), rs(c4), rs(c5), rs(c6));
    close(ep);
    close2(a);
}

static void s_epoll_nested(const char *name) {
    int a[2];
    unix_pair(a);
    int inner = epoll_create1(0), outer = epoll_create1(0);
    ep_add(inner, a[0], EPOLLIN, 11);
    ep_add(outer, inner, EPOLLIN, 22);
    struct script sc = {.steps = {{20, OP_WRITE, a[1], "n"}}, .n = 1};
    struct ew w = {.ep = outer, .timeout = -1};
    pthread_t st = start_script(&sc), t = spawn(epoll_waiter, &w);
    join(t);
    join(st);
    struct ew i = {.ep = inner, .timeout = 0};
    in_thread(epoll_waiter, &i);
    out(name, " outer=%s data=%llu inner=%s data=%llu", rs(w.ret), (unsigned long long)w.ev[0].data.u64,
        rs(i.ret), (unsigned long long)i.ev[0].data.u64);
    close(outer);
    close(inner);
    close2(a);
}

/* Two threads wait on one epoll instance; one event, then another. */
static void s_epoll_two_waiters(const char *name) {
    int a[2];
    unix_pair(a);
    int ep = epoll_create1(0);
    ep_add(ep, a[0], EPOLLIN | EPOLLET, 1);
    struct ew w1 = {.ep = ep, .timeout = 2000, .max = 1}, w2 = {.ep = ep, .timeout = 2000, .max = 1};
    struct script sc = {.steps = {{20, OP_WRITE, a[1], "1"}, {50, OP_WRITE, a[1], "2"}}, .n = 2};
    pthread_t st = start_script(&sc), t1 = spawn(epoll_waiter, &w1), t2 = spawn(epoll_waiter, &w2);
    join(t1);
    join(t2);
    join(st);
    out(name, " got=%ld", (w1.ret.ret == 1) + (w2.ret.ret == 1));
    close(ep);
    close2(a);
}

/* ---- Table */

static const struct scenario scenarios[] = {
    {"select_fd64", s_select_fd64},
    {"select_fd_setsize_minus_1", s_select_fd_setsize_minus_1},
    {"select_beyond_fd_setsize", s_select_beyond_fd_setsize},
    {"select_timeout_zero", s_select_timeout_zero},
    {"select_timeout_expire", s_select_timeout_expire},
    {"select_time_left", s_select_time_left},
    {"select_invalid", s_select_invalid},
    {"select_ebadf", s_select_ebadf},
    {"select_main_null_timeout", s_select_main_null_timeout},
    {"select_write_wait", s_select_write_wait},
    {"select_pipe_hup", s_select_pipe_hup},
    {"select_except_oob", s_select_except_oob},
    {"pselect_timeouts", s_pselect_timeouts},
    {"efault_wait_args", s_efault_wait_args},
    {"poll_timeout_zero", s_poll_timeout_zero},
    {"poll_timeout_expire", s_poll_timeout_expire},
    {"poll_negative_timeouts", s_poll_negative_timeouts},
    {"poll_hup_socket", s_poll_hup_socket},
    {"poll_hup_wait", s_poll_hup_wait},
    {"poll_pipe_hup", s_poll_pipe_hup},
    {"poll_pollnval", s_poll_pollnval},
    {"poll_negative_fd", s_poll_negative_fd},
    {"poll_rdhup", s_poll_rdhup},
    {"poll_pri_oob", s_poll_pri_oob},
    {"poll_invalid", s_poll_invalid},
    {"poll_invalid_thread", s_poll_invalid_thread},
    {"poll_pollout_wait", s_poll_pollout_wait},
    {"poll_zero_nfds", s_poll_zero_nfds},
    {"poll_many", s_poll_many},
    {"ppoll", s_ppoll},
    {"epoll_level", s_epoll_level},
    {"epoll_edge", s_epoll_edge},
    {"epoll_oneshot", s_epoll_oneshot},
    {"epoll_exclusive", s_epoll_exclusive},
    {"epoll_timeouts", s_epoll_timeouts},
    {"epoll_wait_main", s_epoll_wait_main},
    {"epoll_hup_events", s_epoll_hup_events},
    {"epoll_maxevents", s_epoll_maxevents},
    {"epoll_errors", s_epoll_errors},
    {"epoll_nested", s_epoll_nested},
    {"epoll_two_waiters", s_epoll_two_waiters},
};

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    /* Room for fds up to FD_SETSIZE-1 and beyond, within the hard limit. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) DIE("getrlimit");
    rlim_t want = 4096;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) want = rl.rlim_max;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) DIE("setrlimit");
    }
    return run_scenarios("diff_poll", scenarios, sizeof scenarios / sizeof scenarios[0], argc, argv);
}
