/* Differential semantics of pipes, eventfds, timerfds and descriptor errors: EOF after the
 * writer closes, EPIPE and SIGPIPE without a reader, PIPE_BUF atomicity with concurrent
 * writers, complete blocking writes, O_NONBLOCK views, FIONREAD, EBADF and EFAULT, blocking
 * eventfd and timerfd reads, close and dup corner cases.
 *
 *   diff_pipe [SCENARIO...]
 *
 * Every scenario prints exactly one line, "name: result...", made only of values that are
 * the same on every native run; test_differential.py compares a greened run with a native
 * one line by line. Waits that must block run in threads made with pthread_create (the
 * green ones), some on the main thread too. */
#define _GNU_SOURCE
#include "diff_common.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

static void make_pipe(int p[2]) {
    if (pipe(p) != 0) DIE("pipe");
}

struct rd {
    int fd;
    size_t want; /* 0: the whole buffer */
    int zero;    /* read zero bytes */
    res_t r;
    char buf[256];
};

static void *reader(void *arg) {
    struct rd *r = arg;
    r->r = CALL(read(r->fd, r->buf, r->zero ? 0 : r->want ? r->want : sizeof r->buf));
    return NULL;
}

static const char *data_of(struct rd *r) {
    static char bufs[8][80];
    static int next;
    char *b = bufs[next++ & 7];
    int n = r->r.ret > 0 ? (int)r->r.ret : 0;
    if (n > 40) n = 40;
    snprintf(b, 80, "\"%.*s\"", n, r->buf);
    return b;
}

static volatile sig_atomic_t sigpipe_hits;

static void on_sigpipe(int sig) {
    (void)sig;
    sigpipe_hits++;
}

/* ===================================================================== pipes */

static void s_pipe_eof_after_writer_close(const char *name) {
    int p[2];
    make_pipe(p);
    struct script sc = {.steps = {{20, OP_WRITE, p[1], "abc", 0}, {10, OP_CLOSE, p[1], NULL, 0}}, .n = 2};
    struct rd a = {.fd = p[0]}, b = {.fd = p[0]}, c = {.fd = p[0]};
    pthread_t st = start_script(&sc), rt = spawn(reader, &a);
    join(rt);
    in_thread(reader, &b);
    join(st);
    in_thread(reader, &c);
    out(name, " first=%s %s second=%s third=%s", rs(a.r), data_of(&a), rs(b.r), rs(c.r));
    close(p[0]);
}

static void s_pipe_partial_read(const char *name) {
    int p[2];
    make_pipe(p);
    if (write(p[1], "12345", 5) != 5) DIE("write");
    struct rd a = {.fd = p[0], .want = 3}, b = {.fd = p[0], .want = 100};
    in_thread(reader, &a);
    in_thread(reader, &b);
    /* Main thread: waits for the writer. */
    struct script sc = {.steps = {{20, OP_WRITE, p[1], "later", 0}}, .n = 1};
    pthread_t st = start_script(&sc);
    struct rd m = {.fd = p[0]};
    reader(&m);
    join(st);
    out(name, " a=%s %s b=%s %s main=%s %s waited=%d", rs(a.r), data_of(&a), rs(b.r), data_of(&b), rs(m.r),
        data_of(&m), waited_about(sc.t0, 20));
    close2(p);
}

struct wr {
    int fd;
    const void *data;
    size_t len;
    res_t r;
};

static void *writer(void *arg) {
    struct wr *w = arg;
    w->r = CALL(write(w->fd, w->data, w->len));
    return NULL;
}

static void s_pipe_epipe(const char *name) {
    int p[2];
    make_pipe(p);
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    struct wr w = {.fd = p[1], .data = "x", .len = 1};
    in_thread(writer, &w);
    res_t m = CALL(write(p[1], "y", 1));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigpipe;
    sigaction(SIGPIPE, &sa, NULL);
    sigpipe_hits = 0;
    struct wr h = {.fd = p[1], .data = "z", .len = 1};
    in_thread(writer, &h);
    signal(SIGPIPE, SIG_IGN);
    out(name, " ignored_thread=%s ignored_main=%s handled=%s sigpipes=%d", rs(w.r), rs(m), rs(h.r),
        (int)sigpipe_hits);
    close(p[1]);
}

/* Writers of exactly PIPE_BUF bytes: each write lands whole, never interleaved. */
struct atomic_writer {
    int fd;
    char letter;
    int count;
};

static void *atomic_write(void *arg) {
    struct atomic_writer *a = arg;
    char buf[PIPE_BUF];
    memset(buf, a->letter, sizeof buf);
    for (int i = 0; i < a->count; i++) {
        if (write(a->fd, buf, sizeof buf) != (ssize_t)sizeof buf) DIE("atomic write");
        if (i % 8 == 0) sched_yield();
    }
    return NULL;
}

struct atomic_reader {
    int fd;
    int records;
    int torn;
    long total;
};

static void *atomic_read(void *arg) {
    struct atomic_reader *r = arg;
    static char block[PIPE_BUF];
    size_t have = 0;
    char buf[1000]; /* reads that do not line up with the records */
    ssize_t n;
    while ((n = read(r->fd, buf, sizeof buf)) > 0) {
        r->total += n;
        for (ssize_t i = 0; i < n; i++) {
            block[have++] = buf[i];
            if (have == PIPE_BUF) {
                for (size_t k = 1; k < PIPE_BUF; k++)
                    if (block[k] != block[0]) {
                        r->torn++;
                        break;
                    }
                r->records++;
                have = 0;
            }
        }
    }
    return NULL;
}

static void s_pipe_buf_atomic(const char *name) {
    int p[2];
    make_pipe(p);
    struct atomic_writer w[4];
    pthread_t t[4];
    struct atomic_reader r = {.fd = p[0]};
    pthread_t rt = spawn(atomic_read, &r);
    for (int i = 0; i < 4; i++) {
        w[i] = (struct atomic_writer){p[1], (char)('A' + i), 64};
        t[i] = spawn(atomic_write, &w[i]);
    }
    for (int i = 0; i < 4; i++) join(t[i]);
    close(p[1]);
    join(rt);
    out(name, " pipe_buf=%d records=%d torn=%d total=%ld", PIPE_BUF, r.records, r.torn, r.total);
    close(p[0]);
}

struct slow_reader {
    int fd;
    long total;
    int ok;
};

static void *slow_read(void *arg) {
    struct slow_reader *s = arg;
    char *buf = malloc(16384);
    ssize_t n;
    s->ok = 1;
    while ((n = read(s->fd, buf, 16384)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != (char)((s->total + i) % 251)) s->ok = 0;
        s->total += n;
        usleep(300);
    }
    free(buf);
    return NULL;
}

static void s_pipe_large_write(const char *name) {
    int p[2];
    make_pipe(p);
    size_t len = 2u << 20;
    char *data = malloc(len);
    for (size_t i = 0; i < len; i++) data[i] = (char)(i % 251);
    struct wr w = {.fd = p[1], .data = data, .len = len};
    struct slow_reader s = {.fd = p[0]};
    pthread_t rt = spawn(slow_read, &s);
    in_thread(writer, &w);
    close(p[1]);
    join(rt);
    out(name, " write=%s received=%ld ok=%d", rs(w.r), s.total, s.ok);
    free(data);
    close(p[0]);
}

/* A blocking write that outlasts its reader returns what it wrote (SIGPIPE ignored). */
static void s_pipe_write_reader_leaves(const char *name) {
    signal(SIGPIPE, SIG_IGN);
    int p[2];
    make_pipe(p);
    size_t len = 1u << 20;
    char *data = calloc(1, len);
    struct wr w = {.fd = p[1], .data = data, .len = len};
    pthread_t wt = spawn(writer, &w);
    msleep(30);
    char buf[1000];
    res_t r = CALL(read(p[0], buf, sizeof buf));
    close(p[0]);
    join(wt);
    res_t again = CALL(write(p[1], "x", 1));
    out(name, " read=%s write_partial=%d again=%s", rs(r), w.r.ret > 0 && w.r.ret < (long)len, rs(again));
    free(data);
    close(p[1]);
}

static void s_pipe_nonblock_fill(const char *name) {
    int p[2];
    if (pipe2(p, O_NONBLOCK) != 0) DIE("pipe2");
    int cap = fcntl(p[1], F_GETPIPE_SZ);
    char chunk[4096];
    memset(chunk, 'f', sizeof chunk);
    long total = 0;
    ssize_t n;
    while ((n = write(p[1], chunk, sizeof chunk)) > 0) total += n;
    int err = errno;
    res_t one = CALL(write(p[1], chunk, 1));
    struct rd r = {.fd = p[0], .want = 10};
    in_thread(reader, &r);
    res_t big = CALL(write(p[1], chunk, sizeof chunk));
    res_t small = CALL(write(p[1], chunk, 10));
    out(name, " filled_eq_capacity=%d stop=%s one=%s read=%s page_write=%s small_write=%s", total == cap, en(err),
        rs(one), rs(r.r), rs(big), rs(small));
    close2(p);
}

static void s_pipe_flag_views(const char *name) {
    int a[2], b[2], c[2];
    make_pipe(a);
    if (pipe2(b, O_NONBLOCK) != 0 || pipe2(c, O_CLOEXEC) != 0) DIE("pipe2");
    int before = fcntl(a[0], F_GETFL);
    fcntl(a[0], F_SETFL, before | O_NONBLOCK);
    int set = fcntl(a[0], F_GETFL);
    struct rd r = {.fd = a[0]};
    double t0 = mono_now();
    in_thread(reader, &r);
    int quick = at_once(t0);
    fcntl(a[0], F_SETFL, before);
    out(name, " pipe=0x%x,0x%x nonblock=0x%x,0x%x cloexec=%d,%d set=0x%x read=%s at_once=%d cleared=0x%x",
        before, fcntl(a[1], F_GETFL), fcntl(b[0], F_GETFL), fcntl(b[1], F_GETFL),
        fcntl(c[0], F_GETFD) & FD_CLOEXEC, fcntl(c[1], F_GETFD) & FD_CLOEXEC, set, rs(r.r), quick,
        fcntl(a[0], F_GETFL));
    close2(a);
    close2(b);
    close2(c);
}

static void s_pipe_fionread_zero_read(const char *name) {
    int p[2];
    make_pipe(p);
    int queued = -1;
    res_t i0 = CALL(ioctl(p[0], FIONREAD, &queued));
    int empty = queued;
    struct rd z = {.fd = p[0], .want = 0, .zero = 1};
    double t0 = mono_now();
    in_thread(reader, &z);
    int quick = at_once(t0);
    if (write(p[1], "seven!!", 7) != 7) DIE("write");
    res_t i1 = CALL(ioctl(p[0], FIONREAD, &queued));
    out(name, " fionread=%s,%d then=%s,%d zero_read=%s at_once=%d", rs(i0), empty, rs(i1), queued, rs(z.r), quick);
    close2(p);
}

static void s_pipe_wrong_end_efault(const char *name) {
    int p[2];
    make_pipe(p);
    if (write(p[1], "data", 4) != 4) DIE("write");
    char buf[4];
    res_t a = CALL(write(p[0], "x", 1));
    res_t b = CALL(read(p[1], buf, 1));
    res_t c = CALL(read(p[0], bad_pointer(), 4));
    res_t d = CALL(write(p[1], bad_pointer(), 4));
    struct rd r = {.fd = p[0]};
    in_thread(reader, &r);
    res_t e = CALL(lseek(p[0], 0, SEEK_SET));
    out(name, " write_read_end=%s read_write_end=%s read_efault=%s write_efault=%s then_read=%s %s lseek=%s", rs(a),
        rs(b), rs(c), rs(d), rs(r.r), data_of(&r), rs(e));
    close2(p);
}

static void s_pipe_poll_then_read(const char *name) {
    int p[2];
    make_pipe(p);
    struct script sc = {.steps = {{20, OP_WRITE, p[1], "polled", 0}}, .n = 1};
    pthread_t st = start_script(&sc);
    struct pollfd f = {p[0], POLLIN, 0};
    res_t pr = CALL(poll(&f, 1, -1));
    struct rd r = {.fd = p[0]};
    in_thread(reader, &r);
    join(st);
    out(name, " poll=%s revents=0x%x read=%s %s waited=%d", rs(pr), f.revents, rs(r.r), data_of(&r),
        waited_about(sc.t0, 20));
    close2(p);
}

/* As for sockets: a read blocked while another thread closes the fd must return, at the
 * latest when the writer goes away; what it returns is not compared. */
static void s_pipe_close_while_reading(const char *name) {
    int p[2];
    make_pipe(p);
    struct rd r = {.fd = p[0], .r = {-2, 0}};
    pthread_t rt = spawn(reader, &r);
    msleep(30);
    close(p[0]);
    msleep(30);
    close(p[1]);
    join(rt);
    out(name, " returned=%d", r.r.ret != -2);
}

/* ===================================================================== eventfd */

struct u64rd {
    int fd;
    res_t r;
    uint64_t value;
};

static void *read_u64(void *arg) {
    struct u64rd *u = arg;
    u->r = CALL(read(u->fd, &u->value, sizeof u->value));
    return NULL;
}

static void s_eventfd_blocking_read(const char *name) {
    int e = eventfd(0, 0);
    struct script sc = {.steps = {{20, OP_WRITE_U64, e, NULL, 3}}, .n = 1};
    struct u64rd u = {.fd = e};
    pthread_t st = start_script(&sc), rt = spawn(read_u64, &u);
    join(rt);
    join(st);
    int waited = waited_about(sc.t0, 20);
    struct script sc2 = {.steps = {{20, OP_WRITE_U64, e, NULL, 5}, {0, OP_WRITE_U64, e, NULL, 6}}, .n = 2};
    st = start_script(&sc2);
    struct u64rd m = {.fd = e};
    read_u64(&m); /* main thread */
    join(st);
    struct u64rd rest = {.fd = e};
    if (m.value == 5) in_thread(read_u64, &rest);
    out(name, " thread=%s value=%llu waited=%d main=%s total=%llu flags=0x%x", rs(u.r),
        (unsigned long long)u.value, waited, rs(m.r), (unsigned long long)(m.value + rest.value),
        fcntl(e, F_GETFL));
    close(e);
}

static void s_eventfd_semaphore(const char *name) {
    int e = eventfd(2, EFD_SEMAPHORE);
    struct u64rd a = {.fd = e}, b = {.fd = e};
    in_thread(read_u64, &a);
    in_thread(read_u64, &b);
    struct script sc = {.steps = {{20, OP_WRITE_U64, e, NULL, 1}}, .n = 1};
    struct u64rd c = {.fd = e};
    pthread_t st = start_script(&sc), rt = spawn(read_u64, &c);
    join(rt);
    join(st);
    out(name, " reads=%s,%s,%s values=%llu,%llu,%llu waited=%d", rs(a.r), rs(b.r), rs(c.r),
        (unsigned long long)a.value, (unsigned long long)b.value, (unsigned long long)c.value,
        waited_about(sc.t0, 20));
    close(e);
}

static void s_eventfd_errors_nonblock(const char *name) {
    int e = eventfd(0, EFD_NONBLOCK);
    struct u64rd a = {.fd = e};
    in_thread(read_u64, &a);
    uint32_t small;
    res_t b = CALL(read(e, &small, sizeof small));
    uint64_t bad = UINT64_MAX;
    res_t c = CALL(write(e, &bad, sizeof bad));
    res_t d = CALL(write(e, &small, sizeof small));
    out(name, " empty=%s short_read=%s max_write=%s short_write=%s flags=0x%x", rs(a.r), rs(b), rs(c), rs(d),
        fcntl(e, F_GETFL));
    close(e);
}

struct u64wr {
    int fd;
    uint64_t value;
    res_t r;
};

static void *write_u64(void *arg) {
    struct u64wr *w = arg;
    w->r = CALL(write(w->fd, &w->value, sizeof w->value));
    return NULL;
}

/* A write that would overflow the counter waits for a read. */
static void s_eventfd_write_blocks(const char *name) {
    int e = eventfd(0, 0);
    uint64_t near_max = UINT64_MAX - 2;
    if (write(e, &near_max, 8) != 8) DIE("write");
    struct u64wr w = {.fd = e, .value = 5};
    double t0 = mono_now();
    pthread_t wt = spawn(write_u64, &w);
    msleep(30);
    struct u64rd r = {.fd = e};
    in_thread(read_u64, &r);
    join(wt);
    int waited = waited_about(t0, 30);
    struct u64rd r2 = {.fd = e};
    in_thread(read_u64, &r2);
    out(name, " write=%s waited=%d first_read_max=%d second=%s value=%llu", rs(w.r), waited, r.value == near_max,
        rs(r2.r), (unsigned long long)r2.value);
    close(e);
}

/* ===================================================================== timerfd */

static void s_timerfd_blocking_read(const char *name) {
    int t = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec its = {.it_value = {0, 30000000}};
    timerfd_settime(t, 0, &its, NULL);
    struct u64rd u = {.fd = t};
    double t0 = mono_now();
    in_thread(read_u64, &u);
    int waited = waited_about(t0, 30);
    /* On the main thread too. */
    timerfd_settime(t, 0, &its, NULL);
    struct u64rd m = {.fd = t};
    t0 = mono_now();
    read_u64(&m);
    out(name, " thread=%s expirations=%llu waited=%d main=%s expirations=%llu waited=%d flags=0x%x", rs(u.r),
        (unsigned long long)u.value, waited, rs(m.r), (unsigned long long)m.value, waited_about(t0, 30),
        fcntl(t, F_GETFL));
    close(t);
}

static void s_timerfd_periodic(const char *name) {
    int t = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec its = {.it_interval = {0, 10000000}, .it_value = {0, 10000000}};
    timerfd_settime(t, 0, &its, NULL);
    msleep(55);
    struct u64rd a = {.fd = t};
    in_thread(read_u64, &a);
    struct u64rd b = {.fd = t};
    in_thread(read_u64, &b); /* waits for the next tick */
    struct itimerspec off = {{0, 0}, {0, 0}};
    timerfd_settime(t, 0, &off, NULL);
    out(name, " first=%s at_least_4=%d second=%s at_least_1=%d", rs(a.r), a.value >= 4, rs(b.r), b.value >= 1);
    close(t);
}

static void s_timerfd_nonblock_errors(const char *name) {
    int t = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct u64rd a = {.fd = t};
    in_thread(read_u64, &a);
    uint32_t small;
    res_t b = CALL(read(t, &small, sizeof small));
    res_t c = CALL(timerfd_create(12345, 0));
    out(name, " unarmed=%s short_read=%s bad_clock=%s flags=0x%x", rs(a.r), rs(b), rs(c), fcntl(t, F_GETFL));
    close(t);
}

/* ===================================================================== descriptors */

static void s_fd_close_dup_errors(const char *name) {
    int p[2];
    make_pipe(p);
    int d = dup(p[0]);
    res_t c1 = CALL(close(d));
    res_t c2 = CALL(close(d));
    res_t c3 = CALL(close(-1));
    res_t s1 = CALL(dup2(p[0], p[0]));
    res_t s2 = CALL(dup3(p[0], p[0], 0));
    res_t s3 = CALL(dup2(d, p[0]));
    res_t s4 = CALL(dup(-1));
    res_t s5 = CALL(fcntl(p[0], F_DUPFD, -1));
    char c;
    res_t r = CALL(read(d, &c, 1));
    out(name, " close=%s,%s,%s dup2_same=%s dup3_same=%s dup2_closed=%s dup_neg=%s dupfd_neg=%s read_closed=%s",
        rs(c1), rs(c2), rs(c3), rs(s1), rs(s2), rs(s3), rs(s4), rs(s5), rs(r));
    close2(p);
}

static void s_fd_directory_and_file(const char *name) {
    int dir = open("/", O_RDONLY | O_DIRECTORY);
    char buf[16];
    res_t a = CALL(read(dir, buf, sizeof buf));
    res_t b = CALL(write(dir, "x", 1));
    FILE *f = tmpfile();
    int fd = dup(fileno(f));
    fclose(f);
    int fl = fcntl(fd, F_GETFL);
    res_t s = CALL(fcntl(fd, F_SETFL, fl | O_APPEND | O_NONBLOCK));
    int fl2 = fcntl(fd, F_GETFL);
    res_t w = CALL(write(fd, "file data", 9));
    lseek(fd, 0, SEEK_SET);
    struct rd r = {.fd = fd};
    in_thread(reader, &r);
    struct rd eof = {.fd = fd};
    in_thread(reader, &eof);
    out(name, " dir_read=%s dir_write=%s file_flags=0x%x setfl=%s now=0x%x write=%s read=%s %s eof=%s", rs(a),
        rs(b), fl, rs(s), fl2, rs(w), rs(r.r), data_of(&r), rs(eof.r));
    close(dir);
    close(fd);
}

/* dup'd pipe ends share the description: EOF only once every write end is closed. */
static void s_fd_dup_write_ends(const char *name) {
    int p[2];
    make_pipe(p);
    int d = dup(p[1]);
    struct script sc = {.steps = {{20, OP_CLOSE, p[1], NULL, 0}, {20, OP_WRITE, d, "via dup", 0},
                                  {20, OP_CLOSE, d, NULL, 0}}, .n = 3};
    struct rd a = {.fd = p[0]}, b = {.fd = p[0]};
    pthread_t st = start_script(&sc), rt = spawn(reader, &a);
    join(rt);
    in_thread(reader, &b);
    join(st);
    out(name, " first=%s %s then=%s waited=%d", rs(a.r), data_of(&a), rs(b.r), waited_about(sc.t0, 40));
    close(p[0]);
}

/* ---- Table */

static const struct scenario scenarios[] = {
    {"pipe_eof_after_writer_close", s_pipe_eof_after_writer_close},
    {"pipe_partial_read", s_pipe_partial_read},
    {"pipe_epipe", s_pipe_epipe},
    {"pipe_buf_atomic", s_pipe_buf_atomic},
    {"pipe_large_write", s_pipe_large_write},
    {"pipe_write_reader_leaves", s_pipe_write_reader_leaves},
    {"pipe_nonblock_fill", s_pipe_nonblock_fill},
    {"pipe_flag_views", s_pipe_flag_views},
    {"pipe_fionread_zero_read", s_pipe_fionread_zero_read},
    {"pipe_wrong_end_efault", s_pipe_wrong_end_efault},
    {"pipe_poll_then_read", s_pipe_poll_then_read},
    {"pipe_close_while_reading", s_pipe_close_while_reading},
    {"eventfd_blocking_read", s_eventfd_blocking_read},
    {"eventfd_semaphore", s_eventfd_semaphore},
    {"eventfd_errors_nonblock", s_eventfd_errors_nonblock},
    {"eventfd_write_blocks", s_eventfd_write_blocks},
    {"timerfd_blocking_read", s_timerfd_blocking_read},
    {"timerfd_periodic", s_timerfd_periodic},
    {"timerfd_nonblock_errors", s_timerfd_nonblock_errors},
    {"fd_close_dup_errors", s_fd_close_dup_errors},
    {"fd_directory_and_file", s_fd_directory_and_file},
    {"fd_dup_write_ends", s_fd_dup_write_ends},
};

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    return run_scenarios("diff_pipe", scenarios, sizeof scenarios / sizeof scenarios[0], argc, argv);
}
