/* pthread_exit with cleanup handlers, and pthread_cancel at cancellation points.
 *
 *   cancel            every scenario, one line each, in a fixed order
 *
 * Each thread records what happened (handlers run, in which order, what it saw); the main
 * thread prints it after joining, so the output is the same natively and greened. */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <unistd.h>

static char trace[256];

static void note(const char *what) {
    strncat(trace, what, sizeof trace - strlen(trace) - 1);
}

static void handler(void *arg) { note((const char *)arg); }

static void check(int rc, const char *what) {
    if (rc != 0) {
        errno = rc;
        DIE("%s", what);
    }
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *result(void *ret) {
    static char buf[32];
    if (ret == PTHREAD_CANCELED) return "PTHREAD_CANCELED";
    snprintf(buf, sizeof buf, "%ld", (long)ret);
    return buf;
}

/* ---- pthread_exit with nested handlers, then key destructors ---- */

static pthread_key_t key;

static void key_destructor(void *value) { note((const char *)value); }

static void inner(void) {
    pthread_cleanup_push(handler, "3");
    pthread_cleanup_push(handler, "2");
    pthread_exit((void *)42);
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(0);
}

static void *exiter(void *arg) {
    (void)arg;
    pthread_setspecific(key, "K");
    pthread_cleanup_push(handler, "1");
    pthread_cleanup_push(handler, "x"); /* popped without running */
    pthread_cleanup_pop(0);
    pthread_cleanup_push(handler, "p"); /* popped and run */
    pthread_cleanup_pop(1);
    inner();
    pthread_cleanup_pop(0);
    return NULL;
}

static void run(const char *name, void *(*fn)(void *), void *arg, int cancel_after_ms) {
    trace[0] = 0;
    pthread_t t;
    check(pthread_create(&t, NULL, fn, arg), "pthread_create");
    int rc = 0;
    if (cancel_after_ms >= 0) {
        sleep_ms(cancel_after_ms);
        rc = pthread_cancel(t);
    }
    void *ret;
    check(pthread_join(t, &ret), "pthread_join");
    printf("%s: cancel=%d result=%s trace=%s\n", name, rc, result(ret), trace);
}

/* ---- cancellation points ---- */

static int pipe_fds[2];

static void *reader(void *arg) {
    (void)arg;
    char c;
    pthread_cleanup_push(handler, "read-handler");
    note("reading;");
    ssize_t n = read(pipe_fds[0], &c, 1);
    (void)n;
    pthread_cleanup_pop(0);
    return NULL;
}

static void *sleeper(void *arg) {
    (void)arg;
    pthread_cleanup_push(handler, "sleep-handler");
    note("sleeping;");
    sleep(10);
    pthread_cleanup_pop(0);
    return NULL;
}

static pthread_mutex_t mutex;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

static void unlock_handler(void *arg) {
    (void)arg;
    /* An errorcheck mutex: 0 only if this thread holds it, as glibc promises. */
    int rc = pthread_mutex_unlock(&mutex);
    note(rc == 0 ? "unlocked-held-mutex" : "mutex-not-held");
}

static void *cond_waiter(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mutex);
    pthread_cleanup_push(unlock_handler, NULL);
    note("waiting;");
    for (;;) pthread_cond_wait(&cond, &mutex);
    pthread_cleanup_pop(0);
    return NULL;
}

static sem_t sem;

static void *sem_waiter(void *arg) {
    (void)arg;
    pthread_cleanup_push(handler, "sem-handler");
    note("waiting;");
    sem_wait(&sem);
    note("got-unit;");
    pthread_cleanup_pop(0);
    return NULL;
}

static void *forever(void *arg) {
    (void)arg;
    sleep(10);
    return NULL;
}

static void *joiner(void *arg) {
    pthread_t *t = arg;
    pthread_cleanup_push(handler, "join-handler");
    note("joining;");
    pthread_join(*t, NULL);
    pthread_cleanup_pop(0);
    return NULL;
}

/* ---- state and type ---- */

static void *disabler(void *arg) {
    (void)arg;
    int old = -1;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    pthread_cleanup_push(handler, "handler");
    note(old == PTHREAD_CANCEL_ENABLE ? "was-enabled;" : "was-disabled;");
    sleep_ms(60); /* cancelled meanwhile, but disabled: sleeps on */
    note("slept;");
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
    note(old == PTHREAD_CANCEL_DISABLE ? "re-enabled;" : "?;");
    pthread_testcancel();
    note("not-reached;");
    pthread_cleanup_pop(0);
    return NULL;
}

static atomic_long spins;

static void *async_spinner(void *arg) {
    (void)arg;
    int old = -1;
    pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old);
    note(old == PTHREAD_CANCEL_DEFERRED ? "was-deferred;" : "?;");
    pthread_cleanup_push(handler, "async-handler");
    /* No cancellation point: sched_yield is not one. */
    for (;;) {
        atomic_fetch_add(&spins, 1);
        sched_yield();
    }
    pthread_cleanup_pop(0);
    return NULL;
}

static void *self_canceller(void *arg) {
    (void)arg;
    pthread_cleanup_push(handler, "self-handler");
    int rc = pthread_cancel(pthread_self());
    note(rc == 0 ? "requested;" : "refused;");
    pthread_testcancel();
    note("not-reached;");
    pthread_cleanup_pop(0);
    return NULL;
}

static atomic_int detached_done;

static void detached_handler(void *arg) {
    (void)arg;
    atomic_store(&detached_done, 1);
}

static void *detached_sleeper(void *arg) {
    (void)arg;
    pthread_cleanup_push(detached_handler, NULL);
    sleep(10);
    pthread_cleanup_pop(0);
    return NULL;
}

static void detached(void) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    check(pthread_create(&t, &attr, detached_sleeper, NULL), "pthread_create");
    sleep_ms(20);
    int rc = pthread_cancel(t);
    for (int i = 0; i < 200 && !atomic_load(&detached_done); i++) sleep_ms(5);
    printf("detached: cancel=%d handler-ran=%d\n", rc, atomic_load(&detached_done));
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    check(pthread_key_create(&key, key_destructor), "key");
    run("exit-nested", exiter, NULL, -1);

    if (pipe(pipe_fds) != 0) DIE("pipe");
    run("cancel-read", reader, NULL, 20);
    run("cancel-sleep", sleeper, NULL, 20);

    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&mutex, &ma);
    run("cancel-cond", cond_waiter, NULL, 20);

    sem_init(&sem, 0, 0);
    run("cancel-sem", sem_waiter, NULL, 20);

    pthread_t target;
    check(pthread_create(&target, NULL, forever, NULL), "pthread_create");
    run("cancel-join", joiner, &target, 20);
    check(pthread_cancel(target), "cancel target");
    void *ret;
    check(pthread_join(target, &ret), "join target");
    printf("cancel-join-target: result=%s\n", result(ret));

    run("disable-enable", disabler, NULL, 20);
    run("async", async_spinner, NULL, 20);
    run("self", self_canceller, NULL, -1);
    detached();

    pthread_t quick;
    check(pthread_create(&quick, NULL, forever, NULL), "pthread_create");
    check(pthread_cancel(quick), "cancel");
    check(pthread_join(quick, &ret), "join");
    printf("cancel-before-start: result=%s\n", result(ret));
    return 0;
}
