/* Robust, priority-inheritance and priority-protect mutexes between threads: owner death
 * (EOWNERDEAD, pthread_mutex_consistent, ENOTRECOVERABLE), a waiter handed a mutex whose
 * owner ended, a condition wait whose mutex comes back owner-dead, the errors of
 * non-owners and relocks, a contended PI lock that leaves the other threads running, and
 * priority ceilings. One line per result, in a fixed order; the same natively and greened. */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <semaphore.h>
#include <string.h>
#include <unistd.h>

static const char *err(int e) {
    switch (e) {
    case 0: return "0";
    case EOWNERDEAD: return "EOWNERDEAD";
    case ENOTRECOVERABLE: return "ENOTRECOVERABLE";
    case EPERM: return "EPERM";
    case EDEADLK: return "EDEADLK";
    case EBUSY: return "EBUSY";
    case EINVAL: return "EINVAL";
    case ETIMEDOUT: return "ETIMEDOUT";
    default: return strerror(e);
    }
}

static void check(int rc, const char *what) {
    if (rc != 0) {
        errno = rc;
        DIE("%s", what);
    }
}

static void init(pthread_mutex_t *m, int robust, int protocol, int type) {
    pthread_mutexattr_t a;
    check(pthread_mutexattr_init(&a), "mutexattr_init");
    if (robust)
        check(pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST), "setrobust");
    check(pthread_mutexattr_setprotocol(&a, protocol), "setprotocol");
    check(pthread_mutexattr_settype(&a, type), "settype");
    if (protocol == PTHREAD_PRIO_PROTECT)
        check(pthread_mutexattr_setprioceiling(&a, 5), "setprioceiling");
    check(pthread_mutex_init(m, &a), "mutex_init");
    pthread_mutexattr_destroy(&a);
}

static pthread_t spawn(void *(*fn)(void *), void *arg) {
    pthread_t t;
    check(pthread_create(&t, NULL, fn, arg), "pthread_create");
    return t;
}

static void join(pthread_t t) {
    check(pthread_join(t, NULL), "pthread_join");
}

static pthread_mutex_t m;
static sem_t locked, go;

/* Locks `m` and ends holding it: by returning, or by pthread_exit when arg is not null. */
static void *lock_and_end(void *arg) {
    check(pthread_mutex_lock(&m), "child lock");
    sem_post(&locked);
    sem_wait(&go);
    if (arg)
        pthread_exit(NULL);
    return NULL;
}

static void owner_death(int protocol, const char *name) {
    init(&m, 1, protocol, PTHREAD_MUTEX_NORMAL);
    sem_post(&go);
    join(spawn(lock_and_end, NULL));
    int first = pthread_mutex_lock(&m);
    int consistent = pthread_mutex_consistent(&m);
    int unlock = pthread_mutex_unlock(&m);
    int again = pthread_mutex_lock(&m);
    int consistent_again = pthread_mutex_consistent(&m);
    printf("%s owner returned: lock=%s consistent=%s unlock=%s lock=%s consistent=%s unlock=%s\n", name, err(first),
           err(consistent), err(unlock), err(again), err(consistent_again), err(pthread_mutex_unlock(&m)));
    sem_post(&go);
    join(spawn(lock_and_end, "exit"));
    first = pthread_mutex_lock(&m);
    unlock = pthread_mutex_unlock(&m);
    again = pthread_mutex_lock(&m);
    int trylock = pthread_mutex_trylock(&m);
    printf("%s owner exited, not made consistent: lock=%s unlock=%s lock=%s trylock=%s\n", name, err(first),
           err(unlock), err(again), err(trylock));
    sem_wait(&locked);
    sem_wait(&locked);
}

static int waiter_result;

static void *lock_and_record(void *arg) {
    (void)arg;
    waiter_result = pthread_mutex_lock(&m);
    if (waiter_result == EOWNERDEAD)
        pthread_mutex_consistent(&m);
    pthread_mutex_unlock(&m);
    return NULL;
}

/* A thread waits for `m` while its owner ends: it is handed the mutex with EOWNERDEAD. */
static void waiter_handed_over(void) {
    init(&m, 1, PTHREAD_PRIO_NONE, PTHREAD_MUTEX_ERRORCHECK);
    pthread_t owner = spawn(lock_and_end, NULL);
    sem_wait(&locked);
    pthread_t waiter = spawn(lock_and_record, NULL);
    usleep(50000);
    sem_post(&go);
    join(owner);
    join(waiter);
    printf("robust waiter while the owner ends: lock=%s\n", err(waiter_result));
}

static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int cond_wait_result;

static void *wait_on_cond(void *arg) {
    (void)arg;
    check(pthread_mutex_lock(&m), "cond waiter lock");
    sem_post(&locked);
    cond_wait_result = pthread_cond_wait(&cond, &m);
    if (cond_wait_result == EOWNERDEAD)
        pthread_mutex_consistent(&m);
    pthread_mutex_unlock(&m);
    return NULL;
}

static void *signal_and_end(void *arg) {
    (void)arg;
    check(pthread_mutex_lock(&m), "signaller lock");
    pthread_cond_signal(&cond);
    return NULL;
}

/* The mutex of a condition wait comes back from an owner that ended. */
static void cond_wait_owner_dead(void) {
    init(&m, 1, PTHREAD_PRIO_INHERIT, PTHREAD_MUTEX_NORMAL);
    pthread_t waiter = spawn(wait_on_cond, NULL);
    sem_wait(&locked);
    join(spawn(signal_and_end, NULL));
    join(waiter);
    printf("robust PI cond wait, signaller ended holding the mutex: cond_wait=%s\n", err(cond_wait_result));
}

static int other_unlock, other_trylock;

static void *not_the_owner(void *arg) {
    (void)arg;
    other_unlock = pthread_mutex_unlock(&m);
    other_trylock = pthread_mutex_trylock(&m);
    return NULL;
}

static void errors(int robust, int protocol, const char *name) {
    init(&m, robust, protocol, PTHREAD_MUTEX_ERRORCHECK);
    /* Under SCHED_OTHER a thread's first priority-protect lock is EINVAL (glibc cannot
     * raise the priority), the later ones succeed. */
    int first = pthread_mutex_lock(&m);
    if (first == EINVAL)
        check(pthread_mutex_lock(&m), "lock");
    int relock = pthread_mutex_lock(&m);
    int retry = pthread_mutex_trylock(&m);
    join(spawn(not_the_owner, NULL));
    int unlock = pthread_mutex_unlock(&m);
    printf("%s errorcheck: first lock=%s relock=%s trylock=%s other thread unlock=%s trylock=%s unlock=%s unlock again=%s\n", name,
           err(first), err(relock), err(retry), err(other_unlock), err(other_trylock), err(unlock), err(pthread_mutex_unlock(&m)));
    init(&m, robust, protocol, PTHREAD_MUTEX_RECURSIVE);
    int a = pthread_mutex_lock(&m), b = pthread_mutex_lock(&m), c = pthread_mutex_trylock(&m);
    int u1 = pthread_mutex_unlock(&m), u2 = pthread_mutex_unlock(&m);
    join(spawn(not_the_owner, NULL));
    int u3 = pthread_mutex_unlock(&m);
    printf("%s recursive: lock=%s lock=%s trylock=%s unlock=%s unlock=%s other thread unlock=%s unlock=%s unlock=%s\n",
           name, err(a), err(b), err(c), err(u1), err(u2), err(other_unlock), err(u3), err(pthread_mutex_unlock(&m)));
    pthread_mutex_unlock(&m);
}

static volatile int counter, got_it;

static void *contender(void *arg) {
    (void)arg;
    check(pthread_mutex_lock(&m), "contender lock");
    got_it = 1;
    pthread_mutex_unlock(&m);
    return NULL;
}

static void *count(void *arg) {
    (void)arg;
    for (int i = 0; i < 100; i++) {
        counter++;
        usleep(100);
    }
    return NULL;
}

/* A thread waiting for a PI mutex leaves the others running (greened: it parks). */
static void contended(void) {
    init(&m, 0, PTHREAD_PRIO_INHERIT, PTHREAD_MUTEX_NORMAL);
    check(pthread_mutex_lock(&m), "lock");
    pthread_t t = spawn(contender, NULL);
    join(spawn(count, NULL));
    int had = got_it;
    check(pthread_mutex_unlock(&m), "unlock");
    join(t);
    printf("PI contended: counter while a thread waits=%d it had the lock=%d after unlock it got it=%d\n", counter, had,
           got_it);
}

static void ceilings(void) {
    init(&m, 0, PTHREAD_PRIO_PROTECT, PTHREAD_MUTEX_NORMAL);
    int c = -1, old = -1;
    int get = pthread_mutex_getprioceiling(&m, &c);
    int set = pthread_mutex_setprioceiling(&m, 7, &old);
    int c2 = -1;
    pthread_mutex_getprioceiling(&m, &c2);
    int big = pthread_mutex_setprioceiling(&m, 1000, &old);
    int zero = pthread_mutex_setprioceiling(&m, 0, &old);
    printf("PP: get=%s ceiling=%d set=%s old=%d now=%d set 1000=%s set 0=%s\n", err(get), c, err(set), 5, c2, err(big),
           err(zero));
    pthread_mutex_t plain = PTHREAD_MUTEX_INITIALIZER;
    printf("PP: getprioceiling of a plain mutex=%s setprioceiling=%s\n", err(pthread_mutex_getprioceiling(&plain, &c)),
           err(pthread_mutex_setprioceiling(&plain, 5, &old)));
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    sem_init(&locked, 0, 0);
    sem_init(&go, 0, 0);
    owner_death(PTHREAD_PRIO_NONE, "robust");
    owner_death(PTHREAD_PRIO_INHERIT, "robust PI");
    waiter_handed_over();
    cond_wait_owner_dead();
    errors(0, PTHREAD_PRIO_INHERIT, "PI");
    errors(1, PTHREAD_PRIO_NONE, "robust");
    errors(0, PTHREAD_PRIO_PROTECT, "PP");
    contended();
    ceilings();
    puts("done");
    return 0;
}
