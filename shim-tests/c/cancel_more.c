/* Cancellation and thread exit cases around pthread_once, pthread_join and the main thread.
 *
 *   cancel_more once         a thread cancelled inside a pthread_once routine; another
 *                            thread waiting on the same control then runs the routine
 *   cancel_more join         a join that was cancelled leaves no trace: the thread it was
 *                            joining (the main thread) joins the canceller afterwards
 *   cancel_more main-cancel  a green thread cancels the main thread: its cleanup handlers
 *                            and key destructors run, the other threads go on, and the
 *                            process exits 0 after the last one
 *   cancel_more main-exit    pthread_exit in the main thread runs its key destructors; the
 *                            mutex a destructor unlocks lets a waiting thread finish
 *
 * Every line is printed in an order fixed by the program, so the output is the same natively
 * and greened. */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>

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

/* ---- once ---- */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int routine_runs;
static int cleanup_ran;

static void blocking_routine(void) {
    routine_runs++;
    sleep(10); /* cancelled here */
    routine_runs += 100;
}

static void quick_routine(void) { routine_runs++; }

static void note_cleanup(void *arg) {
    (void)arg;
    cleanup_ran = 1;
}

static void *once_cancelled(void *arg) {
    (void)arg;
    pthread_cleanup_push(note_cleanup, NULL);
    pthread_once(&once, blocking_routine);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *once_waiter(void *arg) {
    (void)arg;
    pthread_once(&once, quick_routine);
    return NULL;
}

static int run_once(void) {
    pthread_t first, second;
    check(pthread_create(&first, NULL, once_cancelled, NULL), "create first");
    sleep_ms(50);
    check(pthread_create(&second, NULL, once_waiter, NULL), "create second");
    sleep_ms(50);
    check(pthread_cancel(first), "cancel");
    void *ret;
    check(pthread_join(first, &ret), "join first");
    check(pthread_join(second, NULL), "join second");
    printf("once: first=%s cleanup=%d runs=%d\n", ret == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "other",
           cleanup_ran, routine_runs);
    /* Done now: a later call runs nothing. */
    pthread_once(&once, quick_routine);
    printf("once: after=%d\n", routine_runs);
    return 0;
}

/* ---- join ---- */

static pthread_t main_thread;

static void *join_main(void *arg) {
    (void)arg;
    pthread_join(main_thread, NULL); /* cancelled here */
    return NULL;
}

static int run_join(void) {
    main_thread = pthread_self();
    pthread_t joiner;
    check(pthread_create(&joiner, NULL, join_main, NULL), "create");
    sleep_ms(50);
    check(pthread_cancel(joiner), "cancel");
    void *ret;
    int rc = pthread_join(joiner, &ret);
    printf("join: rc=%d result=%s\n", rc, ret == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "other");
    printf("join: self=%s\n", pthread_join(pthread_self(), NULL) == EDEADLK ? "EDEADLK" : "other");
    return 0;
}

/* ---- main-cancel ---- */

static pthread_key_t key;

static void key_destructor(void *value) {
    printf("main-cancel: key destructor %s\n", (const char *)value);
    fflush(stdout);
}

static void main_cleanup(void *arg) {
    printf("main-cancel: cleanup %s\n", (const char *)arg);
    fflush(stdout);
}

static void *cancel_main(void *arg) {
    (void)arg;
    sleep_ms(50);
    check(pthread_cancel(main_thread), "cancel main");
    void *ret;
    check(pthread_join(main_thread, &ret), "join main");
    printf("main-cancel: joined main result=%s\n", ret == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "other");
    fflush(stdout);
    sleep_ms(50);
    printf("main-cancel: canceller ends\n");
    fflush(stdout);
    return NULL;
}

static void *bystander(void *arg) {
    (void)arg;
    sleep_ms(400);
    printf("main-cancel: bystander still ran, the last thread\n");
    fflush(stdout);
    return NULL;
}

static int run_main_cancel(void) {
    main_thread = pthread_self();
    check(pthread_key_create(&key, key_destructor), "key");
    check(pthread_setspecific(key, "main"), "setspecific");
    pthread_t canceller, other;
    check(pthread_create(&canceller, NULL, cancel_main, NULL), "create canceller");
    check(pthread_create(&other, NULL, bystander, NULL), "create bystander");
    int fds[2];
    if (pipe(fds) != 0) DIE("pipe");
    char byte;
    pthread_cleanup_push(main_cleanup, "outer");
    pthread_cleanup_push(main_cleanup, "inner");
    read(fds[0], &byte, 1); /* cancelled here: nobody writes */
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(0);
    return 1;
}

/* ---- main-exit ---- */

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;

static void unlock_held(void *value) {
    (void)value;
    printf("main-exit: key destructor\n");
    fflush(stdout);
    pthread_mutex_unlock(&held);
}

static void *wait_for_unlock(void *arg) {
    (void)arg;
    pthread_mutex_lock(&held);
    printf("main-exit: lock taken after main's exit\n");
    fflush(stdout);
    pthread_mutex_unlock(&held);
    return NULL;
}

static int run_main_exit(void) {
    check(pthread_key_create(&key, unlock_held), "key");
    check(pthread_setspecific(key, (void *)1), "setspecific");
    pthread_mutex_lock(&held);
    pthread_t waiter;
    check(pthread_create(&waiter, NULL, wait_for_unlock, NULL), "create");
    sleep_ms(50);
    printf("main-exit: main exits\n");
    fflush(stdout);
    pthread_exit(NULL);
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    if (strcmp(what, "once") == 0) return run_once();
    if (strcmp(what, "join") == 0) return run_join();
    if (strcmp(what, "main-cancel") == 0) return run_main_cancel();
    if (strcmp(what, "main-exit") == 0) return run_main_exit();
    fprintf(stderr, "usage: cancel_more once|join|main-cancel|main-exit\n");
    return 2;
}
