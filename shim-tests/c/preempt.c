/* Threads that never block: natively the kernel shares the CPUs among them; greened, the
 * runtime must preempt a busy green thread (or let a call that cannot block give a turn),
 * or the others never run.
 *
 *   preempt spin WHO GIVEUP_S   WHO (main or thread) spins on an atomic flag that another
 *                               thread sets after 100 ms; gives up after GIVEUP_S seconds.
 *                               Prints seen=0|1.
 *   preempt ticker BUSY         a 1 ms ticker beside BUSY threads that compute ~150 ms
 *                               each: prints that all finished and the ticker's worst gap,
 *                               in wall time and in the process's CPU time (on a loaded
 *                               machine the first says more about the machine than about
 *                               the scheduler).
 *   preempt eventloop           main polls a pipe with timeout 0 while 4 workers compute
 *                               and report through it: prints results=4.
 *   preempt trylock             main retries pthread_mutex_trylock while a worker holds the
 *                               mutex across a 50 ms sleep: prints acquired=1.
 *   preempt create              a new thread runs while its creator computes: prints
 *                               child_ran_during_busy=1.
 *   preempt fpu                 two threads sum long series in SSE and (where the CPU has it)
 *                               AVX registers while being preempted: prints the sums, which
 *                               must be bit for bit the native ones.
 *   preempt quiet               SIGURG sent by kill() reaches the program's handler once per
 *                               kill, and parked calls (read, nanosleep, sem_wait, poll) do
 *                               not return EINTR while busy threads are preempted. */
#include "common.h"
#include <poll.h>
#include <semaphore.h>
#include <signal.h>

/* CPU work the compiler cannot drop: about `ms` milliseconds of it on this machine,
 * whether or not the thread is preempted meanwhile (it counts its own CPU time). */
static volatile unsigned long sink;
static double cpu_s(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
static double thread_cpu_s(void) { return cpu_s(CLOCK_THREAD_CPUTIME_ID); }
static void compute_ms(double ms) {
    double end = thread_cpu_s() + ms / 1000.0;
    unsigned long x = 1;
    while (thread_cpu_s() < end) {
        for (int i = 0; i < 10000; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
        sink = x;
    }
}

/* ---- spin ---- */
static atomic_int flag;
static double giveup_s;

static void *set_flag_later(void *arg) {
    (void)arg;
    usleep(100 * 1000);
    atomic_store(&flag, 1);
    return NULL;
}

/* The loop makes no call but clock_gettime, which libc answers from the vDSO. */
static void *spin(void *arg) {
    (void)arg;
    double t0 = mono_now();
    while (!atomic_load(&flag) && mono_now() - t0 < giveup_s) {
    }
    return NULL;
}

static int run_spin(const char *who) {
    pthread_t setter, spinner;
    if (pthread_create(&setter, NULL, set_flag_later, NULL)) DIE("pthread_create");
    if (strcmp(who, "main") == 0) {
        spin(NULL);
    } else {
        if (pthread_create(&spinner, NULL, spin, NULL)) DIE("pthread_create");
        pthread_join(spinner, NULL);
    }
    int seen = atomic_load(&flag);
    pthread_join(setter, NULL);
    printf("seen=%d\n", seen);
    return 0;
}

/* ---- ticker beside busy threads ---- */
static atomic_int busy_left;
static void *busy(void *arg) {
    (void)arg;
    compute_ms(150);
    atomic_fetch_sub(&busy_left, 1);
    return NULL;
}

static int run_ticker(int nbusy) {
    pthread_t threads[64];
    atomic_store(&busy_left, nbusy);
    for (int i = 0; i < nbusy; i++)
        if (pthread_create(&threads[i], NULL, busy, NULL)) DIE("pthread_create");
    double worst = 0, worst_cpu = 0, last = mono_now(), last_cpu = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
    int ticks = 0;
    while (atomic_load(&busy_left) > 0) {
        usleep(1000);
        double now = mono_now(), now_cpu = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
        if ((now - last) * 1000.0 > worst) worst = (now - last) * 1000.0;
        if ((now_cpu - last_cpu) * 1000.0 > worst_cpu) worst_cpu = (now_cpu - last_cpu) * 1000.0;
        last = now;
        last_cpu = now_cpu;
        ticks++;
    }
    for (int i = 0; i < nbusy; i++) pthread_join(threads[i], NULL);
    printf("finished=%d ticks=%d worst_gap_ms=%.0f worst_gap_cpu_ms=%.0f\n", nbusy - atomic_load(&busy_left),
           ticks, worst, worst_cpu);
    return 0;
}

/* ---- an event loop that polls with timeout 0 ---- */
static int loop_pipe[2];
static void *worker(void *arg) {
    (void)arg;
    compute_ms(30);
    char c = 'x';
    if (write(loop_pipe[1], &c, 1) != 1) DIE("write");
    return NULL;
}

static int run_eventloop(void) {
    pthread_t threads[4];
    if (pipe(loop_pipe)) DIE("pipe");
    for (int i = 0; i < 4; i++)
        if (pthread_create(&threads[i], NULL, worker, NULL)) DIE("pthread_create");
    int results = 0;
    double t0 = mono_now();
    while (results < 4 && mono_now() - t0 < 20) {
        struct pollfd p = {.fd = loop_pipe[0], .events = POLLIN};
        if (poll(&p, 1, 0) == 1) {
            char c;
            if (read(loop_pipe[0], &c, 1) == 1) results++;
        }
    }
    if (results == 4)
        for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
    printf("results=%d\n", results);
    return 0;
}

/* ---- trylock until the holder lets go ---- */
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static atomic_int holding;
static void *holder(void *arg) {
    (void)arg;
    pthread_mutex_lock(&held);
    atomic_store(&holding, 1);
    usleep(50 * 1000);
    pthread_mutex_unlock(&held);
    return NULL;
}

static int run_trylock(void) {
    pthread_t t;
    if (pthread_create(&t, NULL, holder, NULL)) DIE("pthread_create");
    double t0 = mono_now();
    int acquired = 0;
    /* Until the holder has the lock, then until it lets go: tries only, never a wait. */
    while (mono_now() - t0 < 20) {
        if (pthread_mutex_trylock(&held) == 0) {
            if (atomic_load(&holding)) {
                acquired = 1;
                pthread_mutex_unlock(&held);
                break;
            }
            pthread_mutex_unlock(&held);
            sched_yield();
        }
    }
    if (acquired) pthread_join(t, NULL);
    printf("acquired=%d\n", acquired);
    return 0;
}

/* ---- a new thread runs while its creator computes ---- */
static atomic_int child_ran;
static void *note_run(void *arg) {
    (void)arg;
    atomic_store(&child_ran, 1);
    return NULL;
}

static int run_create(void) {
    pthread_t t;
    if (pthread_create(&t, NULL, note_run, NULL)) DIE("pthread_create");
    double t0 = mono_now();
    while (!atomic_load(&child_ran) && mono_now() - t0 < 5) {
    }
    int ran = atomic_load(&child_ran);
    pthread_join(t, NULL);
    printf("child_ran_during_busy=%d\n", ran);
    return 0;
}

/* ---- registers survive preemption ---- */
typedef double v4d __attribute__((vector_size(32)));

__attribute__((target("avx"))) static double avx_series(long n) {
    v4d acc = {0, 0, 0, 0}, step = {4, 4, 4, 4}, k = {1, 2, 3, 4}, one = {1, 1, 1, 1};
    for (long i = 0; i < n; i++) {
        acc += one / (k * k);
        k += step;
    }
    return acc[0] + acc[1] + acc[2] + acc[3];
}

static double sse_series(long n) {
    double acc = 0, k = 1;
    for (long i = 0; i < n; i++) {
        acc += 1.0 / (k * k);
        k += 1;
    }
    return acc;
}

static double sums[2];
static void *sum_sse(void *arg) { (void)arg; sums[0] = sse_series(60 * 1000 * 1000); return NULL; }
static void *sum_avx(void *arg) {
    (void)arg;
    __builtin_cpu_init();
    sums[1] = __builtin_cpu_supports("avx") ? avx_series(15 * 1000 * 1000) : 0;
    return NULL;
}

static int run_fpu(void) {
    pthread_t a, b, c;
    if (pthread_create(&a, NULL, sum_sse, NULL) || pthread_create(&b, NULL, sum_avx, NULL) ||
        pthread_create(&c, NULL, busy, NULL))
        DIE("pthread_create");
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    pthread_join(c, NULL);
    printf("sse=%.17g avx=%.17g\n", sums[0], sums[1]);
    return 0;
}

/* ---- the preemption signal never shows ---- */
static atomic_int urg_calls;
static void on_urg(int sig) { (void)sig; atomic_fetch_add(&urg_calls, 1); }

static int quiet_pipe[2];
static sem_t quiet_sem;
static int results[4];

static void *w_read(void *arg) {
    (void)arg;
    char c;
    results[0] = read(quiet_pipe[0], &c, 1) == 1 ? 0 : errno;
    return NULL;
}
static void *w_sleep(void *arg) {
    (void)arg;
    struct timespec ts = {0, 300 * 1000 * 1000};
    results[1] = nanosleep(&ts, NULL) == 0 ? 0 : errno;
    return NULL;
}
static void *w_sem(void *arg) {
    (void)arg;
    results[2] = sem_wait(&quiet_sem) == 0 ? 0 : errno;
    return NULL;
}
static void *w_poll(void *arg) {
    (void)arg;
    results[3] = poll(NULL, 0, 300) == 0 ? 0 : errno;
    return NULL;
}
static void *w_busy(void *arg) {
    (void)arg;
    compute_ms(400);
    return NULL;
}

static int run_quiet(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_urg;
    if (sigaction(SIGURG, &sa, NULL)) DIE("sigaction");
    if (pipe(quiet_pipe) || sem_init(&quiet_sem, 0, 0)) DIE("pipe/sem_init");
    void *(*fns[6])(void *) = {w_read, w_sleep, w_sem, w_poll, w_busy, w_busy};
    pthread_t t[6];
    for (int i = 0; i < 6; i++)
        if (pthread_create(&t[i], NULL, fns[i], NULL)) DIE("pthread_create");
    int sent = 0;
    for (int i = 0; i < 5; i++) {
        usleep(50 * 1000);
        kill(getpid(), SIGURG);
        sent++;
        double t0 = mono_now();
        while (atomic_load(&urg_calls) < sent && mono_now() - t0 < 5) usleep(1000);
    }
    char c = 'x';
    if (write(quiet_pipe[1], &c, 1) != 1) DIE("write");
    sem_post(&quiet_sem);
    for (int i = 0; i < 6; i++) pthread_join(t[i], NULL);
    struct sigaction old;
    sigaction(SIGURG, NULL, &old);
    printf("read=%d nanosleep=%d sem_wait=%d poll=%d handler_calls=%d sent=%d handler_kept=%d\n",
           results[0], results[1], results[2], results[3], atomic_load(&urg_calls), sent,
           old.sa_handler == on_urg);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2) DIE("usage: preempt spin|ticker|eventloop|trylock|create|quiet ...");
    const char *what = argv[1];
    if (strcmp(what, "spin") == 0 && argc == 4) {
        giveup_s = atof(argv[3]);
        return run_spin(argv[2]);
    }
    if (strcmp(what, "ticker") == 0 && argc == 3) return run_ticker(atoi(argv[2]));
    if (strcmp(what, "eventloop") == 0) return run_eventloop();
    if (strcmp(what, "trylock") == 0) return run_trylock();
    if (strcmp(what, "create") == 0) return run_create();
    if (strcmp(what, "quiet") == 0) return run_quiet();
    if (strcmp(what, "fpu") == 0) return run_fpu();
    DIE("unknown scenario %s", what);
}
