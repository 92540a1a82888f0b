/* Deadlocks for the report to explain (greened, the runtime reports and the process stays
 * blocked; the test kills it).
 *   diag_deadlock cycle   "alice" takes A then B, "bob" takes B then A: a cycle
 *   diag_deadlock held    main holds M and joins "waiter", which waits for M
 *   diag_deadlock rwlock  "writer" holds a write lock and waits for a semaphore nobody posts;
 *                         "reader" waits to read; a condition waiter too */
#define _GNU_SOURCE
#include "common.h"
#include <semaphore.h>

static pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER, b = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static sem_t sem;
static pthread_barrier_t both;

static void *alice(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "alice");
    pthread_mutex_lock(&a);
    pthread_barrier_wait(&both);
    pthread_mutex_lock(&b);
    return NULL;
}

static void *bob(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "bob");
    pthread_mutex_lock(&b);
    pthread_barrier_wait(&both);
    pthread_mutex_lock(&a);
    return NULL;
}

static void *waiter(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "waiter");
    pthread_mutex_lock(&m);
    return NULL;
}

static void *writer(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "writer");
    pthread_rwlock_wrlock(&rw);
    sem_wait(&sem);
    return NULL;
}

static void *reader(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "reader");
    usleep(20000);
    pthread_rwlock_rdlock(&rw);
    return NULL;
}

static void *sleeper(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "cond-waiter");
    pthread_mutex_lock(&m);
    pthread_cond_wait(&cond, &m);
    return NULL;
}

int main(int argc, char **argv) {
    const char *how = argc > 1 ? argv[1] : "cycle";
    pthread_t t1, t2, t3;
    printf("started\n");
    fflush(stdout);
    if (strcmp(how, "cycle") == 0) {
        pthread_barrier_init(&both, NULL, 2);
        pthread_create(&t1, NULL, alice, NULL);
        pthread_create(&t2, NULL, bob, NULL);
        pthread_join(t1, NULL);
    } else if (strcmp(how, "held") == 0) {
        pthread_mutex_lock(&m);
        pthread_create(&t1, NULL, waiter, NULL);
        pthread_join(t1, NULL);
    } else {
        sem_init(&sem, 0, 0);
        pthread_create(&t1, NULL, writer, NULL);
        pthread_create(&t2, NULL, reader, NULL);
        pthread_create(&t3, NULL, sleeper, NULL);
        pthread_join(t2, NULL);
    }
    return 0;
}
