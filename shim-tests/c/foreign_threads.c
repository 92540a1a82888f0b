/* Threads the program did not make with pthread_create meet green threads: a SIGEV_THREAD
 * timer's notification (glibc runs it on its own helper thread) and a C11 thread
 * (thrd_create) signal a condition, broadcast one, post a semaphore and wake a futex that
 * green threads wait on, and wait on a condition a green thread signals. Every line is the
 * same natively and greened; greened the waiters are green threads and the signallers real
 * OS threads.
 *
 *   foreign_threads [SCENARIO...]   (all scenarios when none is named)
 */
#define _GNU_SOURCE
#include "common.h"
#include <linux/futex.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/syscall.h>
#include <threads.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int flag;
static sem_t sem;
static atomic_int word;

/* Runs `fn` once, 50 ms from now, on glibc's SIGEV_THREAD helper. */
static void in_timer_thread(void (*fn)(union sigval)) {
    struct sigevent ev = {0};
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_notify_function = fn;
    timer_t t;
    if (timer_create(CLOCK_MONOTONIC, &ev, &t) != 0)
        DIE("timer_create");
    struct itimerspec its = {.it_value = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000}};
    if (timer_settime(t, 0, &its, NULL) != 0)
        DIE("timer_settime");
}

static int c11_start(void *arg) {
    usleep(50 * 1000);
    ((void (*)(union sigval))arg)((union sigval){0});
    return 0;
}

/* Runs `fn` once, 50 ms from now, on a C11 thread. */
static thrd_t in_c11_thread(void (*fn)(union sigval)) {
    thrd_t t;
    if (thrd_create(&t, c11_start, (void *)fn) != thrd_success)
        DIE("thrd_create");
    return t;
}

static void signal_cond(union sigval v) {
    (void)v;
    pthread_mutex_lock(&lock);
    flag = 1;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
}

static void broadcast_cond(union sigval v) {
    (void)v;
    pthread_mutex_lock(&lock);
    flag = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

static void post_sem(union sigval v) {
    (void)v;
    sem_post(&sem);
}

static void wake_futex(union sigval v) {
    (void)v;
    atomic_store(&word, 1);
    syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *cond_waiter(void *arg) {
    (void)arg;
    pthread_mutex_lock(&lock);
    while (!flag)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    return NULL;
}

/* `waiters` green threads wait on the condition until `fn`, on a foreign thread, sets the
 * flag and signals (or broadcasts). */
static void cond_case(const char *name, int waiters, void (*fn)(union sigval), int c11) {
    flag = 0;
    pthread_t t[4];
    for (int i = 0; i < waiters; i++)
        pthread_create(&t[i], NULL, cond_waiter, NULL);
    thrd_t c = {0};
    if (c11)
        c = in_c11_thread(fn);
    else
        in_timer_thread(fn);
    for (int i = 0; i < waiters; i++)
        pthread_join(t[i], NULL);
    if (c11)
        thrd_join(c, NULL);
    printf("%s: %d waiter(s) woke, flag=%d\n", name, waiters, flag);
}

static void *sem_waiter(void *arg) {
    (void)arg;
    return (void *)(long)sem_wait(&sem);
}

static void sem_case(const char *name, void (*start)(void)) {
    sem_init(&sem, 0, 0);
    pthread_t t;
    pthread_create(&t, NULL, sem_waiter, NULL);
    start();
    void *ret;
    pthread_join(t, &ret);
    int value;
    sem_getvalue(&sem, &value);
    printf("%s: sem_wait=%ld value=%d\n", name, (long)ret, value);
}

static void *futex_waiter(void *arg) {
    (void)arg;
    while (atomic_load(&word) == 0)
        syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    return NULL;
}

static void start_timer_post(void) { in_timer_thread(post_sem); }
static thrd_t c11_poster;
static void start_c11_post(void) { c11_poster = in_c11_thread(post_sem); }

static void s_cond_timer(void) { cond_case("cond_timer", 1, signal_cond, 0); }
static void s_cond_main(void) {
    /* The main thread itself waits. */
    flag = 0;
    in_timer_thread(signal_cond);
    cond_waiter(NULL);
    printf("cond_main: main woke, flag=%d\n", flag);
}
static void s_broadcast_timer(void) { cond_case("broadcast_timer", 3, broadcast_cond, 0); }
static void s_cond_c11(void) { cond_case("cond_c11", 2, broadcast_cond, 1); }
static void s_sem_timer(void) { sem_case("sem_timer", start_timer_post); }
static void s_sem_c11(void) {
    sem_case("sem_c11", start_c11_post);
    thrd_join(c11_poster, NULL);
}
static void s_futex_timer(void) {
    atomic_store(&word, 0);
    pthread_t t;
    pthread_create(&t, NULL, futex_waiter, NULL);
    in_timer_thread(wake_futex);
    pthread_join(t, NULL);
    printf("futex_timer: woke, word=%d\n", atomic_load(&word));
}

/* The other way: a foreign thread waits on a condition until a green thread signals it. */
static atomic_int foreign_done;
static void foreign_waits(union sigval v) {
    (void)v;
    pthread_mutex_lock(&lock);
    while (!flag)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    atomic_store(&foreign_done, 1);
}
static void *green_signaller(void *arg) {
    (void)arg;
    usleep(150 * 1000);
    pthread_mutex_lock(&lock);
    flag = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    return NULL;
}
static void s_foreign_waits(void) {
    flag = 0;
    atomic_store(&foreign_done, 0);
    thrd_t c = in_c11_thread(foreign_waits);
    pthread_t t;
    pthread_create(&t, NULL, green_signaller, NULL);
    pthread_join(t, NULL);
    thrd_join(c, NULL);
    printf("foreign_waits: foreign waiter done=%d\n", atomic_load(&foreign_done));
}

static const struct {
    const char *name;
    void (*fn)(void);
} scenarios[] = {
    {"cond_timer", s_cond_timer}, {"cond_main", s_cond_main}, {"broadcast_timer", s_broadcast_timer},
    {"cond_c11", s_cond_c11},     {"sem_timer", s_sem_timer}, {"sem_c11", s_sem_c11},
    {"futex_timer", s_futex_timer}, {"foreign_waits", s_foreign_waits},
};

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc; a++)
            wanted |= strcmp(argv[a], scenarios[i].name) == 0;
        if (wanted)
            scenarios[i].fn();
    }
    printf("done\n");
    return 0;
}
