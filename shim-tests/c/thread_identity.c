/* Thread identity and lifetime: pthread_self per thread, pthread keys with destructors,
 * pthread_exit and join return values, detach, join errors, and pthread_getattr_np
 * reporting the stack the thread really runs on. Every line printed is deterministic, so
 * the greened output must equal the native one. */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#define THREADS 8

static pthread_key_t key;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int destructor_calls;
static pthread_t selves[THREADS];

static void destroy(void *value) {
    pthread_mutex_lock(&lock);
    destructor_calls++;
    pthread_mutex_unlock(&lock);
    free(value);
}

/* 1 if the address of a local variable lies inside the stack pthread_getattr_np reports. */
static int stack_is_reported(void) {
    pthread_attr_t attr;
    void *low;
    size_t size;
    int local = 0;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return 0;
    pthread_attr_getstack(&attr, &low, &size);
    pthread_attr_destroy(&attr);
    uintptr_t here = (uintptr_t)&local;
    return here >= (uintptr_t)low && here < (uintptr_t)low + size;
}

static void *worker(void *arg) {
    long index = (long)arg;
    selves[index] = pthread_self();
    long *mine = malloc(sizeof *mine);
    *mine = index * 100;
    if (pthread_setspecific(key, mine) != 0) DIE("pthread_setspecific");
    usleep(1000 * (THREADS - index)); /* let the others set theirs meanwhile */
    long *seen = pthread_getspecific(key);
    int stack_ok = stack_is_reported();
    pthread_mutex_lock(&lock);
    printf("thread %ld key=%ld stack_reported=%d\n", index, seen ? *seen : -1, stack_ok);
    pthread_mutex_unlock(&lock);
    if (index % 2) pthread_exit((void *)(index + 1000)); /* destructors run here too */
    return (void *)(index + 2000);
}

static void *detached_worker(void *arg) {
    (void)arg;
    return NULL;
}

static void *join_self(void *arg) {
    (void)arg;
    return (void *)(long)pthread_join(pthread_self(), NULL);
}

int main(void) {
    if (pthread_key_create(&key, destroy) != 0) DIE("pthread_key_create");
    if (pthread_setspecific(key, (void *)0x1) != 0) DIE("pthread_setspecific main");
    pthread_t threads[THREADS];
    for (long i = 0; i < THREADS; i++)
        if (pthread_create(&threads[i], NULL, worker, (void *)i) != 0) DIE("pthread_create");
    for (long i = 0; i < THREADS; i++) {
        void *result;
        if (pthread_join(threads[i], &result) != 0) DIE("pthread_join");
        printf("joined %ld returned %ld same_self=%d\n", i, (long)result,
               pthread_equal(threads[i], selves[i]));
    }
    int distinct = 1;
    for (int i = 0; i < THREADS; i++)
        for (int j = i + 1; j < THREADS; j++)
            if (pthread_equal(selves[i], selves[j])) distinct = 0;
    for (int i = 0; i < THREADS; i++)
        if (pthread_equal(selves[i], pthread_self())) distinct = 0;
    printf("distinct_selves=%d destructor_calls=%d main_key=%p\n", distinct, destructor_calls,
           pthread_getspecific(key));

    pthread_t detached;
    pthread_create(&detached, NULL, detached_worker, NULL);
    printf("detach=%d\n", pthread_detach(detached));
    printf("join_self_main=%s\n", errno_name(pthread_join(pthread_self(), NULL)));
    pthread_t selfish;
    void *selfish_result;
    pthread_create(&selfish, NULL, join_self, NULL);
    pthread_join(selfish, &selfish_result);
    printf("join_self_thread=%s\n", errno_name((int)(long)selfish_result));
    printf("key_delete=%d\n", pthread_key_delete(key));
    printf("setspecific_deleted=%s\n", errno_name(pthread_setspecific(key, (void *)1)));
    return 0;
}
