/* io_uring waits with liburing and the raw system call: each scenario prints one line,
 * the same natively and greened. A thread waits for completions of reads on pipes that
 * another thread fills after a sleep: greened, that other thread can only run if the wait
 * parked its own green thread instead of putting the one OS thread to sleep in the kernel.
 * At the end stderr says how many OS threads took part ("os_threads=N").
 *
 * Built by shim-tests/test_uring.py (it links liburing): uring_wait [SCENARIO...] */
#define _GNU_SOURCE
#include "../c/common.h"
#include <liburing.h>
#include <signal.h>
#include <sys/syscall.h>

#define MAX_TIDS 64
static pid_t tids[MAX_TIDS];
static atomic_int ntids;
static pthread_mutex_t tid_lock = PTHREAD_MUTEX_INITIALIZER;

/* Notes the calling OS thread (greened, every green thread has the same one). */
static void note_tid(void) {
    pid_t me = (pid_t)syscall(SYS_gettid);
    pthread_mutex_lock(&tid_lock);
    int n = atomic_load(&ntids), seen = 0;
    for (int i = 0; i < n; i++)
        seen |= tids[i] == me;
    if (!seen && n < MAX_TIDS)
        tids[atomic_fetch_add(&ntids, 1)] = me;
    pthread_mutex_unlock(&tid_lock);
}

struct writer {
    int fd;
    useconds_t delay_us;
    const char *text;
};

static void *write_later(void *arg) {
    struct writer *w = arg;
    note_tid();
    usleep(w->delay_us);
    if (write(w->fd, w->text, strlen(w->text)) < 0)
        DIE("write");
    return NULL;
}

static pthread_t start_writer(struct writer *w) {
    pthread_t t;
    if (pthread_create(&t, NULL, write_later, w) != 0)
        DIE("pthread_create");
    return t;
}

struct fixture {
    struct io_uring ring;
    int pipe[2];
    char buf[64];
};

static void setup(struct fixture *f, unsigned flags) {
    memset(f, 0, sizeof *f);
    int r = io_uring_queue_init(8, &f->ring, flags);
    if (r < 0) {
        fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-r));
        exit(98);
    }
    if (pipe(f->pipe) < 0)
        DIE("pipe");
}

static void queue_read(struct fixture *f, int fd, char *buf, unsigned len, __u64 tag) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&f->ring);
    io_uring_prep_read(sqe, fd, buf, len, 0);
    sqe->user_data = tag;
}

static void teardown(struct fixture *f) {
    io_uring_queue_exit(&f->ring);
    close(f->pipe[0]);
    close(f->pipe[1]);
}

static const char *verdict(double started, double at_least) {
    return mono_now() - started >= at_least ? "waited" : "early";
}

/* A green thread (not the main one) waits in io_uring_wait_cqe; the main thread writes. */
static struct fixture shared;
static void *wait_one(void *arg) {
    int *out = arg;
    struct io_uring_cqe *cqe;
    note_tid();
    int r = io_uring_wait_cqe(&shared.ring, &cqe);
    out[0] = r;
    out[1] = r == 0 ? cqe->res : -999;
    if (r == 0)
        io_uring_cqe_seen(&shared.ring, cqe);
    return NULL;
}

static void s_wait_cqe_thread(void) {
    setup(&shared, 0);
    queue_read(&shared, shared.pipe[0], shared.buf, sizeof shared.buf, 1);
    io_uring_submit(&shared.ring);
    int out[2];
    pthread_t t;
    if (pthread_create(&t, NULL, wait_one, out) != 0)
        DIE("pthread_create");
    usleep(50000);
    if (write(shared.pipe[1], "hello", 5) != 5)
        DIE("write");
    pthread_join(t, NULL);
    printf("wait_cqe_thread: ret=%d res=%d\n", out[0], out[1]);
    teardown(&shared);
}

/* The main thread waits; a green thread writes after a sleep (ticking meanwhile). */
static void s_wait_cqe_main(void) {
    struct fixture f;
    setup(&f, 0);
    queue_read(&f, f.pipe[0], f.buf, sizeof f.buf, 7);
    io_uring_submit(&f.ring);
    struct writer w = {f.pipe[1], 50000, "abc"};
    pthread_t t = start_writer(&w);
    double t0 = mono_now();
    struct io_uring_cqe *cqe;
    int r = io_uring_wait_cqe(&f.ring, &cqe);
    printf("wait_cqe_main: ret=%d res=%d tag=%llu %s\n", r, cqe->res, (unsigned long long)cqe->user_data,
           verdict(t0, 0.04));
    io_uring_cqe_seen(&f.ring, cqe);
    pthread_join(t, NULL);
    teardown(&f);
}

/* io_uring_wait_cqe_timeout expires (-ETIME) while a ticker keeps ticking. */
static void s_timeout(void) {
    struct fixture f;
    setup(&f, 0);
    queue_read(&f, f.pipe[0], f.buf, sizeof f.buf, 2);
    io_uring_submit(&f.ring);
    ticker_start(2000);
    struct __kernel_timespec ts = {0, 60 * 1000 * 1000};
    struct io_uring_cqe *cqe = (void *)1;
    double t0 = mono_now();
    int r = io_uring_wait_cqe_timeout(&f.ring, &cqe, &ts);
    const char *v = verdict(t0, 0.05);
    int ticks = ticker_ticks();
    ticker_stop();
    printf("timeout: ret=%s cqe=%s %s ticked=%s\n", r == -ETIME ? "-ETIME" : strerror(-r),
           cqe ? "set" : "null", v, ticks > 3 ? "yes" : "no");
    /* Completes the read so the ring is quiet before it goes. */
    if (write(f.pipe[1], "x", 1) != 1)
        DIE("write");
    r = io_uring_wait_cqe_timeout(&f.ring, &cqe, &ts);
    printf("timeout_then_ready: ret=%d res=%d\n", r, r == 0 ? cqe->res : -999);
    teardown(&f);
}

/* io_uring_submit_and_wait submits the read and waits for it: it returns the count
 * submitted. */
static void s_submit_and_wait(void) {
    struct fixture f;
    setup(&f, 0);
    queue_read(&f, f.pipe[0], f.buf, sizeof f.buf, 3);
    struct writer w = {f.pipe[1], 40000, "0123456789"};
    pthread_t t = start_writer(&w);
    double t0 = mono_now();
    int r = io_uring_submit_and_wait(&f.ring, 1);
    struct io_uring_cqe *cqe = NULL;
    int p = io_uring_peek_cqe(&f.ring, &cqe);
    printf("submit_and_wait: ret=%d peek=%d res=%d %s\n", r, p, p == 0 ? cqe->res : -999, verdict(t0, 0.03));
    pthread_join(t, NULL);
    teardown(&f);
}

/* io_uring_submit_and_wait_timeout for two completions that come 20 and 60 ms later. */
static void s_submit_and_wait_timeout(void) {
    struct fixture f;
    int second[2];
    char buf2[16];
    setup(&f, 0);
    if (pipe(second) < 0)
        DIE("pipe");
    queue_read(&f, f.pipe[0], f.buf, sizeof f.buf, 10);
    queue_read(&f, second[0], buf2, sizeof buf2, 11);
    struct writer w1 = {f.pipe[1], 20000, "one"}, w2 = {second[1], 60000, "second"};
    pthread_t t1 = start_writer(&w1), t2 = start_writer(&w2);
    struct __kernel_timespec ts = {5, 0};
    struct io_uring_cqe *cqe = NULL;
    double t0 = mono_now();
    int r = io_uring_submit_and_wait_timeout(&f.ring, &cqe, 2, &ts, NULL);
    printf("submit_and_wait_timeout: ret=%d ready=%u first=%llu %s\n", r, io_uring_cq_ready(&f.ring),
           cqe ? (unsigned long long)cqe->user_data : 0ULL, verdict(t0, 0.05));
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    close(second[0]);
    close(second[1]);
    teardown(&f);
}

/* io_uring_wait_cqes for two completions, with a signal mask and no timeout. */
static void s_wait_cqes(void) {
    struct fixture f;
    setup(&f, 0);
    queue_read(&f, f.pipe[0], f.buf, 2, 20);
    queue_read(&f, f.pipe[0], f.buf + 2, 2, 21);
    io_uring_submit(&f.ring);
    struct writer w = {f.pipe[1], 30000, "ab"}, w2 = {f.pipe[1], 60000, "cd"};
    pthread_t t1 = start_writer(&w), t2 = start_writer(&w2);
    sigset_t mask;
    sigemptyset(&mask);
    struct io_uring_cqe *cqe = NULL;
    double t0 = mono_now();
    int r = io_uring_wait_cqes(&f.ring, &cqe, 2, NULL, &mask);
    printf("wait_cqes: ret=%d ready=%u %s\n", r, io_uring_cq_ready(&f.ring), verdict(t0, 0.05));
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    teardown(&f);
}

/* What __io_uring_flush_sq does: make the queued entries visible to the kernel. */
static unsigned flush_sq(struct io_uring *ring) {
    unsigned tail = ring->sq.sqe_tail, n = tail - ring->sq.sqe_head;
    ring->sq.sqe_head = tail;
    io_uring_smp_store_release(ring->sq.ktail, tail);
    return n;
}

/* syscall(SYS_io_uring_enter) submits and waits in one call; then an EXT_ARG timeout. */
static void s_raw_syscall(void) {
    struct fixture f;
    setup(&f, 0);
    queue_read(&f, f.pipe[0], f.buf, sizeof f.buf, 30);
    unsigned n = flush_sq(&f.ring);
    struct writer w = {f.pipe[1], 40000, "raw"};
    pthread_t t = start_writer(&w);
    double t0 = mono_now();
    long r = syscall(SYS_io_uring_enter, f.ring.ring_fd, n, 1, IORING_ENTER_GETEVENTS, NULL, 8);
    printf("raw_syscall: ret=%ld ready=%u %s\n", r, io_uring_cq_ready(&f.ring), verdict(t0, 0.03));
    pthread_join(t, NULL);
    io_uring_cq_advance(&f.ring, io_uring_cq_ready(&f.ring));

    struct __kernel_timespec ts = {0, 40 * 1000 * 1000};
    struct io_uring_getevents_arg arg = {.ts = (unsigned long)&ts};
    t0 = mono_now();
    errno = 0;
    r = syscall(SYS_io_uring_enter, f.ring.ring_fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg,
                sizeof arg);
    printf("raw_syscall_timeout: ret=%ld errno=%s %s\n", r, errno == ETIME ? "ETIME" : strerror(errno),
           verdict(t0, 0.03));
    teardown(&f);
}

/* The raw system call waits for two completions that come 20 and 50 ms later. */
static void s_raw_two(void) {
    struct fixture f;
    setup(&f, 0);
    queue_read(&f, f.pipe[0], f.buf, 1, 31);
    queue_read(&f, f.pipe[0], f.buf + 1, 1, 32);
    unsigned n = flush_sq(&f.ring);
    struct writer w1 = {f.pipe[1], 20000, "1"}, w2 = {f.pipe[1], 50000, "2"};
    pthread_t t1 = start_writer(&w1), t2 = start_writer(&w2);
    double t0 = mono_now();
    long r = syscall(SYS_io_uring_enter, f.ring.ring_fd, n, 2, IORING_ENTER_GETEVENTS, NULL, 8);
    printf("raw_two: ret=%ld ready=%u %s\n", r, io_uring_cq_ready(&f.ring), verdict(t0, 0.04));
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    teardown(&f);
}

/* liburing's raw io_uring_enter2 with EXT_ARG: a read completes before the timeout. */
static void s_enter2(void) {
    struct fixture f;
    setup(&f, 0);
    queue_read(&f, f.pipe[0], f.buf, sizeof f.buf, 40);
    io_uring_submit(&f.ring);
    struct writer w = {f.pipe[1], 30000, "enter2"};
    pthread_t t = start_writer(&w);
    struct __kernel_timespec ts = {5, 0};
    struct io_uring_getevents_arg arg = {.ts = (unsigned long)&ts};
    double t0 = mono_now();
    int r = io_uring_enter2(f.ring.ring_fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, (sigset_t *)&arg,
                            sizeof arg);
    printf("enter2: ret=%d ready=%u %s\n", r, io_uring_cq_ready(&f.ring), verdict(t0, 0.02));
    pthread_join(t, NULL);
    teardown(&f);
}

/* A signal handler that runs for the waiting thread makes the wait return -EINTR. */
static void on_usr1(int sig) { (void)sig; }
static void s_eintr(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    setup(&shared, 0);
    queue_read(&shared, shared.pipe[0], shared.buf, sizeof shared.buf, 50);
    io_uring_submit(&shared.ring);
    int out[2];
    pthread_t t;
    if (pthread_create(&t, NULL, wait_one, out) != 0)
        DIE("pthread_create");
    usleep(40000);
    pthread_kill(t, SIGUSR1);
    pthread_join(t, NULL);
    printf("eintr: ret=%s\n", out[0] == -EINTR ? "-EINTR" : strerror(-out[0]));
    if (write(shared.pipe[1], "z", 1) != 1)
        DIE("write");
    struct io_uring_cqe *cqe;
    int r = io_uring_wait_cqe(&shared.ring, &cqe);
    printf("eintr_then: ret=%d res=%d\n", r, r == 0 ? cqe->res : -999);
    teardown(&shared);
}

/* A ring whose completions the kernel posts only when the task asks (DEFER_TASKRUN). */
static void s_defer_taskrun(void) {
    struct fixture f;
    setup(&f, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
    queue_read(&f, f.pipe[0], f.buf, sizeof f.buf, 60);
    io_uring_submit(&f.ring);
    struct writer w = {f.pipe[1], 40000, "deferred"};
    pthread_t t = start_writer(&w);
    struct io_uring_cqe *cqe;
    double t0 = mono_now();
    int r = io_uring_wait_cqe(&f.ring, &cqe);
    printf("defer_taskrun: ret=%d res=%d %s\n", r, r == 0 ? cqe->res : -999, verdict(t0, 0.03));
    pthread_join(t, NULL);
    teardown(&f);
}

static const struct {
    const char *name;
    void (*run)(void);
} scenarios[] = {
    {"wait_cqe_thread", s_wait_cqe_thread},
    {"wait_cqe_main", s_wait_cqe_main},
    {"timeout", s_timeout},
    {"submit_and_wait", s_submit_and_wait},
    {"submit_and_wait_timeout", s_submit_and_wait_timeout},
    {"wait_cqes", s_wait_cqes},
    {"raw_syscall", s_raw_syscall},
    {"raw_two", s_raw_two},
    {"enter2", s_enter2},
    {"eintr", s_eintr},
    {"defer_taskrun", s_defer_taskrun},
};

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    note_tid();
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc; a++)
            wanted |= strcmp(argv[a], scenarios[i].name) == 0;
        if (wanted)
            scenarios[i].run();
    }
    fprintf(stderr, "os_threads=%d\n", atomic_load(&ntids));
    printf("done\n");
    return 0;
}
