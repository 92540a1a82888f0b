/* Read-write locks, barriers, pthread_once, spin locks, thread names, pthread_kill and
 * pthread_cancel.
 *
 *   sync_more               run every check, print one line per result
 *   sync_more cancel        cancel a sleeping thread and say what pthread_cancel returned
 *                           and how the thread ended (natively: cancelled)
 *   sync_more hang-rwlock   the main thread write-locks an rwlock and joins a thread that
 *                           wants to read it: blocks forever (deadlock report test)
 *
 * Output is the same natively and greened, except the line
 *   threads_while_blocked=<OS threads while 9 threads wait in pthread_once>
 * which is 11 natively and 1 greened. Every line comes in a fixed order (threads record
 * what they saw; the main thread prints it after joining them), so the test compares the
 * output verbatim. */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#define MS 1000000L

static void check(int rc, const char *what) {
    if (rc != 0) {
        errno = rc;
        DIE("%s", what);
    }
}

static pthread_t spawn(void *(*fn)(void *), void *arg) {
    pthread_t t;
    check(pthread_create(&t, NULL, fn, arg), "pthread_create");
    return t;
}

static void join(pthread_t t) {
    check(pthread_join(t, NULL), "pthread_join");
}

static struct timespec abs_in(clockid_t clock, long ns) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_nsec += ns % 1000000000L;
    ts.tv_sec += ns / 1000000000L + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    return ts;
}

/* errno_name, plus the values only this program meets. */
static const char *ename(int e) {
    switch (e) {
    case ERANGE: return "ERANGE";
    case ENOTSUP: return "ENOTSUP";
    case ENOENT: return "ENOENT";
    default: return errno_name(e);
    }
}

static const char *yes(int b) { return b ? "yes" : "no"; }

static void sleep_ms(long ms) { usleep((useconds_t)(ms * 1000)); }

/* ---- rwlock: readers share, writers exclude, the kind decides who goes first ---- */

static pthread_rwlock_t order_lock;
static atomic_int readers_inside, max_readers_inside, writer_saw_readers = -1, writer_asking;
static pthread_mutex_t events_mutex = PTHREAD_MUTEX_INITIALIZER;
static char events[256];

static void event(const char *what) {
    pthread_mutex_lock(&events_mutex);
    if (events[0]) strcat(events, ",");
    strcat(events, what);
    pthread_mutex_unlock(&events_mutex);
}

static void *early_reader(void *arg) {
    check(pthread_rwlock_rdlock(&order_lock), "rdlock");
    int now = atomic_fetch_add(&readers_inside, 1) + 1;
    int max = atomic_load(&max_readers_inside);
    while (now > max && !atomic_compare_exchange_weak(&max_readers_inside, &max, now)) {}
    /* Both readers are inside before either starts its hold, however slowly they were
     * scheduled: the overlap is then a property of the lock, not of the machine's load. */
    while (atomic_load(&max_readers_inside) < 2) sleep_ms(1);
    sleep_ms((long)(intptr_t)arg);
    atomic_fetch_sub(&readers_inside, 1);
    check(pthread_rwlock_unlock(&order_lock), "unlock");
    return NULL;
}

static void *waiting_writer(void *arg) {
    (void)arg;
    while (atomic_load(&max_readers_inside) < 2) sleep_ms(1);
    sleep_ms(20);
    atomic_store(&writer_asking, 1);
    check(pthread_rwlock_wrlock(&order_lock), "wrlock");
    atomic_store(&writer_saw_readers, atomic_load(&readers_inside));
    event("writer");
    sleep_ms(10);
    check(pthread_rwlock_unlock(&order_lock), "unlock");
    return NULL;
}

static void *late_reader(void *arg) {
    (void)arg;
    while (!atomic_load(&writer_asking)) sleep_ms(1);
    sleep_ms(30);
    int busy = pthread_rwlock_tryrdlock(&order_lock);
    if (busy == 0) pthread_rwlock_unlock(&order_lock);
    check(pthread_rwlock_rdlock(&order_lock), "rdlock");
    event(busy == 0 ? "late-reader(try ok)" : "late-reader(try EBUSY)");
    check(pthread_rwlock_unlock(&order_lock), "unlock");
    return NULL;
}

/* Two readers hold the lock for 150 ms once both are in; a writer asks 20 ms after that,
 * another reader 30 ms after the writer.
 * Preferring readers, the late reader gets in before the writer; preferring writers
 * (non-recursive), it waits behind the writer. */
static void rwlock_order(int kind, const char *name) {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, kind);
    check(pthread_rwlock_init(&order_lock, &attr), "rwlock_init");
    pthread_rwlockattr_destroy(&attr);
    events[0] = 0;
    atomic_store(&max_readers_inside, 0);
    atomic_store(&writer_asking, 0);
    double t0 = mono_now();
    pthread_t r1 = spawn(early_reader, (void *)150), r2 = spawn(early_reader, (void *)150);
    pthread_t w = spawn(waiting_writer, NULL), late = spawn(late_reader, NULL);
    join(r1);
    join(r2);
    join(w);
    join(late);
    printf("rwlock %s: readers together=%d, writer saw readers inside=%d, order=%s, elapsed>=150ms %s\n",
           name, atomic_load(&max_readers_inside), atomic_load(&writer_saw_readers), events,
           yes(mono_now() - t0 >= 0.150));
    pthread_rwlock_destroy(&order_lock);
}

/* 4 writers and 4 readers hammer one lock, yielding inside: never a reader beside a writer,
 * never two writers, and no lost increments. */
static pthread_rwlock_t busy_lock = PTHREAD_RWLOCK_INITIALIZER;
static atomic_int busy_readers, busy_writers, violations;
static long busy_counter;
#define BUSY_ROUNDS 2000

static void *busy_writer(void *arg) {
    (void)arg;
    for (int i = 0; i < BUSY_ROUNDS; i++) {
        check(pthread_rwlock_wrlock(&busy_lock), "wrlock");
        if (atomic_fetch_add(&busy_writers, 1) != 0 || atomic_load(&busy_readers) != 0)
            atomic_fetch_add(&violations, 1);
        long c = busy_counter;
        if (i % 7 == 0) sched_yield();
        busy_counter = c + 1;
        atomic_fetch_sub(&busy_writers, 1);
        check(pthread_rwlock_unlock(&busy_lock), "unlock");
    }
    return NULL;
}

static void *busy_reader(void *arg) {
    (void)arg;
    for (int i = 0; i < BUSY_ROUNDS; i++) {
        check(pthread_rwlock_rdlock(&busy_lock), "rdlock");
        atomic_fetch_add(&busy_readers, 1);
        if (atomic_load(&busy_writers) != 0) atomic_fetch_add(&violations, 1);
        if (i % 5 == 0) sched_yield();
        atomic_fetch_sub(&busy_readers, 1);
        check(pthread_rwlock_unlock(&busy_lock), "unlock");
    }
    return NULL;
}

static void rwlock_exclusion(void) {
    pthread_t t[8];
    for (int i = 0; i < 8; i++) t[i] = spawn(i % 2 ? busy_reader : busy_writer, NULL);
    for (int i = 0; i < 8; i++) join(t[i]);
    printf("rwlock exclusion: counter=%ld violations=%d\n", busy_counter, atomic_load(&violations));
}

/* try*, EDEADLK, timeouts and bad timespecs. */
static pthread_rwlock_t err_lock = PTHREAD_RWLOCK_INITIALIZER;
static char other_results[512];

static void *other_thread_tries(void *arg) {
    const char *when = arg;
    char line[256];
    struct timespec ts = abs_in(CLOCK_REALTIME, 60 * MS);
    double t0 = mono_now();
    int timed_wr = pthread_rwlock_timedwrlock(&err_lock, &ts);
    double waited_wr = mono_now() - t0;
    int try_rd = pthread_rwlock_tryrdlock(&err_lock);
    if (try_rd == 0) pthread_rwlock_unlock(&err_lock);
    int try_wr = pthread_rwlock_trywrlock(&err_lock);
    if (try_wr == 0) pthread_rwlock_unlock(&err_lock);
    snprintf(line, sizeof line, "rwlock other thread while main holds %s: tryrdlock=%s trywrlock=%s timedwrlock=%s waited>=50ms %s",
             when, ename(try_rd), ename(try_wr), ename(timed_wr), yes(waited_wr >= 0.050));
    strcpy(other_results, line);
    if (strcmp(when, "write") == 0) {
        ts = abs_in(CLOCK_MONOTONIC, 60 * MS);
        t0 = mono_now();
        int clock_rd = pthread_rwlock_clockrdlock(&err_lock, CLOCK_MONOTONIC, &ts);
        double waited_rd = mono_now() - t0;
        struct timespec past = {-1, 0};
        int past_rd = pthread_rwlock_timedrdlock(&err_lock, &past);
        snprintf(line, sizeof line, " clockrdlock=%s waited>=50ms %s timedrdlock(past)=%s",
                 ename(clock_rd), yes(waited_rd >= 0.050), ename(past_rd));
        strcat(other_results, line);
    }
    return NULL;
}

static atomic_int helper_holds;

static void *hold_briefly(void *arg) {
    (void)arg;
    check(pthread_rwlock_wrlock(&err_lock), "wrlock");
    atomic_store(&helper_holds, 1);
    sleep_ms(30);
    check(pthread_rwlock_unlock(&err_lock), "unlock");
    return NULL;
}

static void rwlock_errors(void) {
    struct timespec bad = {0, 1000000000L}, past = {-1, 0};
    struct timespec soon = abs_in(CLOCK_MONOTONIC, 10 * MS);
    printf("rwlock free: timedrdlock(bad nsec)=%s timedwrlock(bad nsec)=%s clockrdlock(CPU clock)=%s\n",
           ename(pthread_rwlock_timedrdlock(&err_lock, &bad)),
           ename(pthread_rwlock_timedwrlock(&err_lock, &bad)),
           ename(pthread_rwlock_clockrdlock(&err_lock, CLOCK_PROCESS_CPUTIME_ID, &soon)));
    int rc = pthread_rwlock_timedrdlock(&err_lock, &past);
    printf("rwlock free: timedrdlock(past)=%s\n", ename(rc));
    if (rc == 0) pthread_rwlock_unlock(&err_lock);

    check(pthread_rwlock_wrlock(&err_lock), "wrlock");
    printf("rwlock main holds write: rdlock=%s wrlock=%s tryrdlock=%s trywrlock=%s timedwrlock(bad nsec)=%s\n",
           ename(pthread_rwlock_rdlock(&err_lock)), ename(pthread_rwlock_wrlock(&err_lock)),
           ename(pthread_rwlock_tryrdlock(&err_lock)), ename(pthread_rwlock_trywrlock(&err_lock)),
           ename(pthread_rwlock_timedwrlock(&err_lock, &bad)));
    pthread_t t = spawn(other_thread_tries, "write");
    join(t);
    printf("%s\n", other_results);
    check(pthread_rwlock_unlock(&err_lock), "unlock");

    check(pthread_rwlock_rdlock(&err_lock), "rdlock");
    check(pthread_rwlock_rdlock(&err_lock), "rdlock (recursive)");
    t = spawn(other_thread_tries, "read twice");
    join(t);
    printf("%s\n", other_results);
    check(pthread_rwlock_unlock(&err_lock), "unlock");
    check(pthread_rwlock_unlock(&err_lock), "unlock");

    /* A timed writer that gets the lock before its deadline. */
    t = spawn(hold_briefly, NULL);
    while (!atomic_load(&helper_holds)) sleep_ms(1);
    struct timespec later = abs_in(CLOCK_REALTIME, 2000 * MS);
    double t0 = mono_now();
    rc = pthread_rwlock_timedwrlock(&err_lock, &later);
    double waited = mono_now() - t0;
    printf("rwlock timedwrlock while another thread holds it briefly: %s waited<1s %s\n", ename(rc), yes(waited < 1.0));
    join(t);
    if (rc == 0) pthread_rwlock_unlock(&err_lock);

    pthread_rwlock_t fresh = PTHREAD_RWLOCK_INITIALIZER;
    printf("rwlock unlock of an unlocked lock=%s\n", ename(pthread_rwlock_unlock(&fresh)));
}

/* ---- barrier: 5 threads, 3 cycles, one serial thread per cycle ---- */

#define BARRIER_THREADS 5
#define BARRIER_CYCLES 3
static pthread_barrier_t barrier;
static atomic_int arrived[BARRIER_CYCLES], serial[BARRIER_CYCLES], early_leaver[BARRIER_CYCLES];

static void *barrier_thread(void *arg) {
    int id = (int)(intptr_t)arg;
    for (int c = 0; c < BARRIER_CYCLES; c++) {
        sleep_ms(5 * ((id + c) % BARRIER_THREADS));
        atomic_fetch_add(&arrived[c], 1);
        int rc = pthread_barrier_wait(&barrier);
        if (rc == PTHREAD_BARRIER_SERIAL_THREAD)
            atomic_fetch_add(&serial[c], 1);
        else if (rc != 0)
            DIE("pthread_barrier_wait returned %d", rc);
        if (atomic_load(&arrived[c]) != BARRIER_THREADS) atomic_fetch_add(&early_leaver[c], 1);
    }
    return NULL;
}

static void barriers(void) {
    check(pthread_barrier_init(&barrier, NULL, BARRIER_THREADS), "barrier_init");
    pthread_t t[BARRIER_THREADS];
    for (int i = 0; i < BARRIER_THREADS; i++) t[i] = spawn(barrier_thread, (void *)(intptr_t)i);
    for (int i = 0; i < BARRIER_THREADS; i++) join(t[i]);
    for (int c = 0; c < BARRIER_CYCLES; c++)
        printf("barrier cycle %d: serial=%d left before all arrived=%d\n", c, atomic_load(&serial[c]),
               atomic_load(&early_leaver[c]));
    printf("barrier destroy=%s\n", ename(pthread_barrier_destroy(&barrier)));
    pthread_barrier_t b1;
    check(pthread_barrier_init(&b1, NULL, 1), "barrier_init");
    printf("barrier of 1: wait=%s wait=%s\n",
           pthread_barrier_wait(&b1) == PTHREAD_BARRIER_SERIAL_THREAD ? "SERIAL" : "other",
           pthread_barrier_wait(&b1) == PTHREAD_BARRIER_SERIAL_THREAD ? "SERIAL" : "other");
    printf("barrier init count 0=%s\n", ename(pthread_barrier_init(&b1, NULL, 0)));
}

/* ---- pthread_once whose routine sleeps ---- */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static atomic_int once_runs, once_done, once_saw_done;

static void once_routine(void) {
    atomic_fetch_add(&once_runs, 1);
    sleep_ms(50);
    /* By now the other 9 threads wait in pthread_once. */
    printf("threads_while_blocked=%d\n", os_thread_count());
    sleep_ms(50);
    atomic_store(&once_done, 1);
}

static void *once_thread(void *arg) {
    (void)arg;
    check(pthread_once(&once, once_routine), "pthread_once");
    if (atomic_load(&once_done)) atomic_fetch_add(&once_saw_done, 1);
    return NULL;
}

/* A routine whose first runner ends its thread inside it: the next caller runs it. */
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static atomic_int exit_once_runs;

static void exiting_routine(void) {
    if (atomic_fetch_add(&exit_once_runs, 1) == 0) {
        sleep_ms(50);
        pthread_exit(NULL);
    }
}

static void *exit_once_thread(void *arg) {
    sleep_ms((long)(intptr_t)arg);
    check(pthread_once(&exit_once, exiting_routine), "pthread_once");
    return NULL;
}

static void onces(void) {
    pthread_t t[10];
    double t0 = mono_now();
    for (int i = 0; i < 10; i++) t[i] = spawn(once_thread, NULL);
    for (int i = 0; i < 10; i++) join(t[i]);
    printf("once: routine ran %d time(s), %d threads saw it done, elapsed>=100ms %s\n",
           atomic_load(&once_runs), atomic_load(&once_saw_done), yes(mono_now() - t0 >= 0.100));
    check(pthread_once(&once, once_routine), "pthread_once");
    printf("once: a later call ran it again: %s\n", yes(atomic_load(&once_runs) != 1));

    pthread_t first = spawn(exit_once_thread, (void *)0), second = spawn(exit_once_thread, (void *)10);
    join(first);
    join(second);
    printf("once: routine that exits its thread ran %d time(s)\n", atomic_load(&exit_once_runs));
}

/* ---- spin lock with a yield inside ---- */

static pthread_spinlock_t spin;
static long spin_counter;

static void *spin_thread(void *arg) {
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        check(pthread_spin_lock(&spin), "spin_lock");
        long c = spin_counter;
        sched_yield();
        spin_counter = c + 1;
        check(pthread_spin_unlock(&spin), "spin_unlock");
    }
    return NULL;
}

static void spins(void) {
    check(pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE), "spin_init");
    pthread_t a = spawn(spin_thread, NULL), b = spawn(spin_thread, NULL);
    join(a);
    join(b);
    check(pthread_spin_lock(&spin), "spin_lock");
    int busy = pthread_spin_trylock(&spin);
    pthread_spin_unlock(&spin);
    printf("spin: counter=%ld trylock while held=%s\n", spin_counter, ename(busy));
    pthread_spin_destroy(&spin);
}

/* ---- names ---- */

static pthread_barrier_t name_step;
static char name_seen[3][32], name_default[32];

static void *named_thread(void *arg) {
    int id = (int)(intptr_t)arg;
    char own[16];
    pthread_barrier_wait(&name_step); /* main has named us */
    pthread_getname_np(pthread_self(), name_seen[id], sizeof name_seen[id]);
    snprintf(own, sizeof own, "self-%d", id);
    check(pthread_setname_np(pthread_self(), own), "setname self");
    pthread_barrier_wait(&name_step); /* main reads our names */
    pthread_barrier_wait(&name_step);
    return NULL;
}

static void *unnamed_thread(void *arg) {
    (void)arg;
    pthread_getname_np(pthread_self(), name_default, sizeof name_default);
    return NULL;
}

static void names(void) {
    pthread_t t[3];
    char buf[32], small[8];
    check(pthread_barrier_init(&name_step, NULL, 4), "barrier_init");
    for (int i = 0; i < 3; i++) t[i] = spawn(named_thread, (void *)(intptr_t)i);
    for (int i = 0; i < 3; i++) {
        snprintf(buf, sizeof buf, "worker-%d", i);
        check(pthread_setname_np(t[i], buf), "setname");
    }
    pthread_barrier_wait(&name_step);
    pthread_barrier_wait(&name_step);
    for (int i = 0; i < 3; i++) {
        pthread_getname_np(t[i], buf, sizeof buf);
        printf("name %d: set by main=%s set by itself=%s\n", i, name_seen[i], buf);
    }
    printf("name errors: 16-byte name=%s 8-byte buffer=%s\n",
           ename(pthread_setname_np(t[0], "0123456789abcdef")),
           ename(pthread_getname_np(t[0], small, sizeof small)));
    pthread_barrier_wait(&name_step);
    for (int i = 0; i < 3; i++) join(t[i]);
    pthread_barrier_destroy(&name_step);
    pthread_t u = spawn(unnamed_thread, NULL);
    join(u);
    pthread_getname_np(pthread_self(), buf, sizeof buf);
    printf("name: unnamed thread=%s main=%s\n", name_default, buf);
}

/* ---- pthread_kill ---- */

static int kill_pipe[2];
static atomic_int handler_runs, finished_flag;
static char reader_result[64];
static pthread_t reader_thread_id;

static void on_usr1(int sig) {
    (void)sig;
    atomic_fetch_add(&handler_runs, 1);
}

static void *blocked_reader(void *arg) {
    (void)arg;
    char c;
    ssize_t n = read(kill_pipe[0], &c, 1);
    snprintf(reader_result, sizeof reader_result, "%zd %s", n, n < 0 ? ename(errno) : "");
    return NULL;
}

static void *quick_thread(void *arg) {
    (void)arg;
    atomic_store(&finished_flag, 1);
    return (void *)42;
}

static void *killer(void *arg) {
    (void)arg;
    sleep_ms(30);
    int rc = pthread_kill(reader_thread_id, SIGUSR1);
    if (rc != 0) DIE("pthread_kill: %d", rc);
    return NULL;
}

static void kills(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART: the read fails with EINTR */
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0) DIE("sigaction");
    if (pipe(kill_pipe) != 0) DIE("pipe");

    reader_thread_id = spawn(blocked_reader, NULL);
    sleep_ms(20);
    printf("kill: running thread, signal 0=%s\n", ename(pthread_kill(reader_thread_id, 0)));
    pthread_t k = spawn(killer, NULL);
    /* The signal is for the reader: this sleep is not interrupted. */
    int slept = usleep(100 * 1000);
    join(k);
    join(reader_thread_id);
    printf("kill: SIGUSR1 to a thread blocked in read: handler runs=%d read=%s main's sleep=%s\n",
           atomic_load(&handler_runs), reader_result, slept == 0 ? "complete" : ename(errno));

    pthread_t q = spawn(quick_thread, NULL);
    while (!atomic_load(&finished_flag)) sleep_ms(1);
    sleep_ms(50);
    printf("kill: ended thread not yet joined, signal 0=%s SIGUSR1=%s handler runs=%d\n",
           ename(pthread_kill(q, 0)), ename(pthread_kill(q, SIGUSR1)), atomic_load(&handler_runs));
    void *ret;
    check(pthread_join(q, &ret), "join");
    printf("kill: joined it, returned %ld\n", (long)(intptr_t)ret);
    int self_rc = pthread_kill(pthread_self(), SIGUSR1);
    printf("kill: self SIGUSR1=%s handler runs=%d, signal 9999=%s, signal 32=%s\n", ename(self_rc),
           atomic_load(&handler_runs), ename(pthread_kill(pthread_self(), 9999)),
           ename(pthread_kill(pthread_self(), 32)));
    close(kill_pipe[0]);
    close(kill_pipe[1]);
}

/* ---- pthread_cancel (separate mode: natively and greened differ) ---- */

static atomic_int stop_sleeping;

static void *sleeper(void *arg) {
    (void)arg;
    while (!atomic_load(&stop_sleeping)) sleep_ms(10);
    return (void *)7;
}

static int cancel_mode(void) {
    pthread_t t = spawn(sleeper, NULL);
    sleep_ms(30);
    int rc = pthread_cancel(t);
    /* The sleeper is stopped by hand only if the cancel has not ended it within 10 s:
     * a stop set at once can win against a cancel that is still pending between two
     * sleeps, and the thread would return on its own. */
    void *ret;
    struct timespec limit = abs_in(CLOCK_REALTIME, 10000 * MS);
    if (pthread_timedjoin_np(t, &ret, &limit) == ETIMEDOUT) {
        atomic_store(&stop_sleeping, 1);
        check(pthread_join(t, &ret), "join");
    }
    printf("cancel: pthread_cancel=%s thread %s\n", ename(rc),
           ret == PTHREAD_CANCELED ? "was cancelled" : "returned");
    pthread_t q = spawn(quick_thread, NULL);
    sleep_ms(30);
    printf("cancel: ended thread not yet joined=%s\n", ename(pthread_cancel(q)));
    join(q);
    return 0;
}

/* ---- deadlock report ---- */

static pthread_rwlock_t hang_lock = PTHREAD_RWLOCK_INITIALIZER;

static void *hang_reader(void *arg) {
    (void)arg;
    pthread_rwlock_rdlock(&hang_lock);
    return NULL;
}

static int hang_mode(void) {
    pthread_rwlock_wrlock(&hang_lock);
    pthread_t t = spawn(hang_reader, NULL);
    printf("waiting\n");
    fflush(stdout);
    join(t);
    return 1;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "cancel") == 0) return cancel_mode();
    if (argc > 1 && strcmp(argv[1], "hang-rwlock") == 0) return hang_mode();
    if (argc > 1) {
        fprintf(stderr, "usage: %s [cancel|hang-rwlock]\n", argv[0]);
        return 2;
    }
    rwlock_order(PTHREAD_RWLOCK_PREFER_READER_NP, "prefer-reader");
    rwlock_order(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP, "prefer-writer");
    rwlock_exclusion();
    rwlock_errors();
    barriers();
    onces();
    spins();
    names();
    kills();
    printf("done\n");
    return 0;
}
