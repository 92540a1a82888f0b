/* Semaphores and raw futexes, the two ways programs wait that are not pthread locks:
 * CPython's locks are sem_t, Rust's std waits with syscall(SYS_futex, ...).
 *
 *   sem_futex            run every check, print one line per result
 *   sem_futex hang-sem   wait forever on a semaphore nobody posts (deadlock report test)
 *   sem_futex hang-futex wait forever on a futex nobody wakes (deadlock report test)
 *
 * Output is the same natively and greened, except the line
 *   threads_while_blocked=<OS threads while 4 threads wait on a semaphore and one on a futex>
 * which is 6 natively and 1 greened. Every other line is a fact that holds in both modes
 * (counts, errno names, "elapsed>=50ms yes"), so the test compares them verbatim. */
#define _GNU_SOURCE
#include "common.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MS 1000000L

static long futex(atomic_uint *word, int op, unsigned value, const struct timespec *timeout,
                  unsigned bitset) {
    return syscall(SYS_futex, word, op, value, timeout, NULL, bitset);
}

/* "rc errno" of a call that returns -1/errno, as printable text. */
static const char *outcome(long rc) {
    static char buf[64];
    if (rc == 0) return "0";
    snprintf(buf, sizeof buf, "%ld %s", rc, errno_name(errno));
    return buf;
}

static struct timespec abs_in(clockid_t clock, long ns) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_nsec += ns % 1000000000L;
    ts.tv_sec += ns / 1000000000L + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    return ts;
}

static const char *at_least_50ms(double start) {
    return mono_now() - start >= 0.050 ? "yes" : "no";
}

/* ---- semaphore counts and errors ---- */

static void sem_counts(void) {
    sem_t s;
    int value = -1;
    if (sem_init(&s, 0, 0) != 0) DIE("sem_init");
    for (int i = 0; i < 5; i++)
        if (sem_post(&s) != 0) DIE("sem_post");
    sem_getvalue(&s, &value);
    printf("counts: value after 5 posts=%d\n", value);
    int ok = 0;
    while (sem_trywait(&s) == 0) ok++;
    printf("counts: trywait succeeded %d times, then %s\n", ok, errno_name(errno));
    sem_getvalue(&s, &value);
    printf("counts: value after=%d\n", value);

    /* glibc checks tv_nsec before taking an available unit. */
    sem_post(&s);
    struct timespec bad = {0, 1000000000L};
    printf("counts: timedwait bad nsec with value 1: %s\n", outcome(sem_timedwait(&s, &bad)));
    struct timespec past = {-1, 0};
    printf("counts: timedwait past deadline with value 1: %s\n", outcome(sem_timedwait(&s, &past)));
    printf("counts: timedwait past deadline with value 0: %s\n", outcome(sem_timedwait(&s, &past)));
    struct timespec soon = abs_in(CLOCK_MONOTONIC, 10 * MS);
    printf("counts: clockwait CPU clock: %s\n",
           outcome(sem_clockwait(&s, CLOCK_PROCESS_CPUTIME_ID, &soon)));
    sem_destroy(&s);

    sem_t full;
    sem_init(&full, 0, SEM_VALUE_MAX);
    printf("counts: post at SEM_VALUE_MAX: %s\n", outcome(sem_post(&full)));
    sem_destroy(&full);

    /* Process-shared semaphores pass through; non-blocking use must still work. */
    sem_t shared;
    sem_init(&shared, 1, 2);
    sem_post(&shared);
    ok = 0;
    while (sem_trywait(&shared) == 0) ok++;
    printf("counts: shared trywait succeeded %d times, then %s\n", ok, errno_name(errno));
    sem_destroy(&shared);
}

/* ---- timeouts ---- */

static void sem_timeouts(void) {
    sem_t s;
    sem_init(&s, 0, 0);
    double start = mono_now();
    struct timespec ts = abs_in(CLOCK_REALTIME, 60 * MS);
    long rc = sem_timedwait(&s, &ts);
    printf("timeouts: timedwait: %s elapsed>=50ms %s\n", outcome(rc), at_least_50ms(start));
    start = mono_now();
    ts = abs_in(CLOCK_MONOTONIC, 60 * MS);
    rc = sem_clockwait(&s, CLOCK_MONOTONIC, &ts);
    printf("timeouts: clockwait MONOTONIC: %s elapsed>=50ms %s\n", outcome(rc),
           at_least_50ms(start));
    start = mono_now();
    ts = abs_in(CLOCK_REALTIME, 60 * MS);
    rc = sem_clockwait(&s, CLOCK_REALTIME, &ts);
    printf("timeouts: clockwait REALTIME: %s elapsed>=50ms %s\n", outcome(rc),
           at_least_50ms(start));
    sem_destroy(&s);
}

/* ---- a post wakes a timed waiter before its deadline ---- */

static sem_t wake_me;

static void *late_poster(void *arg) {
    (void)arg;
    usleep(30000);
    sem_post(&wake_me);
    return NULL;
}

static void sem_wakes_timed_waiter(void) {
    pthread_t t;
    sem_init(&wake_me, 0, 0);
    pthread_create(&t, NULL, late_poster, NULL);
    double start = mono_now();
    struct timespec ts = abs_in(CLOCK_MONOTONIC, 5000 * MS);
    long rc = sem_clockwait(&wake_me, CLOCK_MONOTONIC, &ts);
    double waited = mono_now() - start;
    printf("wakeup: clockwait woken by post: %s, before deadline %s\n", outcome(rc),
           waited < 4.0 ? "yes" : "no");
    pthread_join(t, NULL);
    sem_destroy(&wake_me);
}

/* ---- producer/consumer: bounded buffer with two semaphores and a mutex ---- */

#define SLOTS 8
#define PRODUCERS 3
#define CONSUMERS 2
#define ITEMS_EACH 2000

static sem_t empty_slots, full_slots;
static pthread_mutex_t buffer_lock = PTHREAD_MUTEX_INITIALIZER;
static long buffer[SLOTS];
static int head, tail;

static void *producer(void *arg) {
    long base = (long)(intptr_t)arg * ITEMS_EACH;
    for (long i = 1; i <= ITEMS_EACH; i++) {
        if (sem_wait(&empty_slots) != 0) DIE("sem_wait(empty)");
        pthread_mutex_lock(&buffer_lock);
        buffer[tail] = base + i;
        tail = (tail + 1) % SLOTS;
        pthread_mutex_unlock(&buffer_lock);
        sem_post(&full_slots);
    }
    return NULL;
}

struct tally { long count, sum; };

static void *consumer(void *arg) {
    struct tally *t = arg;
    for (;;) {
        if (sem_wait(&full_slots) != 0) DIE("sem_wait(full)");
        pthread_mutex_lock(&buffer_lock);
        long item = buffer[head];
        head = (head + 1) % SLOTS;
        pthread_mutex_unlock(&buffer_lock);
        sem_post(&empty_slots);
        if (item < 0) return NULL;
        t->count++;
        t->sum += item;
    }
}

static void producer_consumer(void) {
    pthread_t p[PRODUCERS], c[CONSUMERS];
    struct tally tallies[CONSUMERS] = {{0, 0}};
    sem_init(&empty_slots, 0, SLOTS);
    sem_init(&full_slots, 0, 0);
    for (int i = 0; i < CONSUMERS; i++) pthread_create(&c[i], NULL, consumer, &tallies[i]);
    for (int i = 0; i < PRODUCERS; i++) pthread_create(&p[i], NULL, producer, (void *)(intptr_t)i);
    for (int i = 0; i < PRODUCERS; i++) pthread_join(p[i], NULL);
    for (int i = 0; i < CONSUMERS; i++) {  /* one end marker per consumer */
        sem_wait(&empty_slots);
        pthread_mutex_lock(&buffer_lock);
        buffer[tail] = -1;
        tail = (tail + 1) % SLOTS;
        pthread_mutex_unlock(&buffer_lock);
        sem_post(&full_slots);
    }
    long count = 0, sum = 0;
    for (int i = 0; i < CONSUMERS; i++) {
        pthread_join(c[i], NULL);
        count += tallies[i].count;
        sum += tallies[i].sum;
    }
    long n = (long)PRODUCERS * ITEMS_EACH;
    printf("prodcons: items=%ld sum_ok=%s\n", count, sum == n * (n + 1) / 2 ? "yes" : "no");
    sem_destroy(&empty_slots);
    sem_destroy(&full_slots);
}

/* ---- raw futexes ---- */

static atomic_uint word, bits_word;
static atomic_int ready;
static sem_t gate;

static void *futex_waiter(void *arg) {
    (void)arg;
    atomic_fetch_add(&ready, 1);
    /* The usual loop: a return of 0 may be spurious, the word says whether to go on. */
    while (atomic_load(&word) == 0) {
        long rc = futex(&word, FUTEX_WAIT_PRIVATE, 0, NULL, 0);
        if (rc != 0 && errno != EAGAIN && errno != EINTR) DIE("futex wait");
    }
    return NULL;
}

static void *gate_waiter(void *arg) {
    (void)arg;
    atomic_fetch_add(&ready, 1);
    if (sem_wait(&gate) != 0) DIE("sem_wait(gate)");
    return NULL;
}

struct bit_waiter { unsigned bitset; long rc; };

static void *bitset_waiter(void *arg) {
    struct bit_waiter *w = arg;
    atomic_fetch_add(&ready, 1);
    w->rc = futex(&bits_word, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, w->bitset);
    return NULL;
}

static void wait_ready(int n) {
    while (atomic_load(&ready) < n) usleep(1000);
    usleep(50000);  /* let them get into the wait */
}

static void futexes(void) {
    /* Value mismatch, timeouts, bad arguments. */
    atomic_store(&word, 7);
    printf("futex: wait on mismatch: %s\n", outcome(futex(&word, FUTEX_WAIT_PRIVATE, 0, NULL, 0)));
    atomic_store(&word, 0);
    struct timespec rel = {0, 60 * MS};
    double start = mono_now();
    long rc = futex(&word, FUTEX_WAIT_PRIVATE, 0, &rel, 0);
    printf("futex: relative timeout: %s elapsed>=50ms %s\n", outcome(rc), at_least_50ms(start));
    start = mono_now();
    struct timespec abs = abs_in(CLOCK_MONOTONIC, 60 * MS);
    rc = futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, &abs, FUTEX_BITSET_MATCH_ANY);
    printf("futex: absolute MONOTONIC timeout: %s elapsed>=50ms %s\n", outcome(rc),
           at_least_50ms(start));
    start = mono_now();
    abs = abs_in(CLOCK_REALTIME, 60 * MS);
    rc = futex(&word, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 0, &abs,
               FUTEX_BITSET_MATCH_ANY);
    printf("futex: absolute REALTIME timeout: %s elapsed>=50ms %s\n", outcome(rc),
           at_least_50ms(start));
    printf("futex: wait with bitset 0: %s\n",
           outcome(futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, 0)));
    struct timespec bad = {0, 1000000000L};
    printf("futex: wait with bad timeout: %s\n",
           outcome(futex(&word, FUTEX_WAIT_PRIVATE, 0, &bad, 0)));
    printf("futex: wake with nobody waiting: %ld\n", futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL, 0));

    /* One futex waiter and four semaphore waiters blocked at once. */
    pthread_t fw, gw[4];
    atomic_store(&ready, 0);
    sem_init(&gate, 0, 0);
    pthread_create(&fw, NULL, futex_waiter, NULL);
    for (int i = 0; i < 4; i++) pthread_create(&gw[i], NULL, gate_waiter, NULL);
    wait_ready(5);
    printf("threads_while_blocked=%d\n", os_thread_count());
    atomic_store(&word, 1);
    printf("futex: wake one waiter: %ld\n", futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL, 0));
    pthread_join(fw, NULL);
    for (int i = 0; i < 4; i++) sem_post(&gate);
    for (int i = 0; i < 4; i++) pthread_join(gw[i], NULL);
    printf("futex: waiter and gate waiters done\n");
    sem_destroy(&gate);

    /* Bitsets: a wake reaches only waiters whose bitset shares a bit with its own. Waiters
     * have bitsets 1, 2 and 3: a wake with 4 reaches none, with 2 the last two, with 1 the
     * first, and nobody is left for a plain wake. */
    struct bit_waiter w[3] = {{1, -9}, {2, -9}, {3, -9}};
    pthread_t bt[3];
    atomic_store(&ready, 0);
    for (int i = 0; i < 3; i++) pthread_create(&bt[i], NULL, bitset_waiter, &w[i]);
    wait_ready(3);
    printf("futex: wake bitset 4: %ld\n", futex(&bits_word, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, 4));
    rc = futex(&bits_word, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, 2);
    pthread_join(bt[1], NULL);
    pthread_join(bt[2], NULL);
    printf("futex: wake bitset 2: %ld\n", rc);
    rc = futex(&bits_word, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, 1);
    printf("futex: wake bitset 1: %ld\n", rc);
    rc = futex(&bits_word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, 0);
    printf("futex: wake all the rest: %ld\n", rc);
    pthread_join(bt[0], NULL);
    printf("futex: bitset waiters rc=%ld,%ld,%ld\n", w[0].rc, w[1].rc, w[2].rc);
    printf("futex: wake bitset 0: %s\n",
           outcome(futex(&bits_word, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, 0)));
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "hang-sem") == 0) {
        sem_t never;
        sem_init(&never, 0, 0);
        printf("waiting\n");
        sem_wait(&never);
        return 1;
    }
    if (argc > 1 && strcmp(argv[1], "hang-futex") == 0) {
        atomic_store(&word, 0);
        printf("waiting\n");
        for (;;) futex(&word, FUTEX_WAIT_PRIVATE, 0, NULL, 0);
    }
    sem_counts();
    sem_timeouts();
    sem_wakes_timed_waiter();
    producer_consumer();
    futexes();
    printf("done\n");
    return 0;
}
