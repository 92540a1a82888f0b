/* Creators that retry pthread_create of detached threads until it succeeds, under an address
 * space limit that only a few of their large stacks fit in (glibc's tst-create-detached):
 * creation fails with EAGAIN until detached threads that ended give their stacks back.
 *
 *   create_retry      prints how many threads the creators made in all */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>

enum { TO_CREATE = 3000, CREATORS = 2 };

static atomic_int created;
static pthread_attr_t detached;

static void *do_nothing(void *arg) { return arg; }

static void *creator(void *arg) {
    (void)arg;
    while (atomic_load(&created) < TO_CREATE) {
        pthread_t t;
        if (pthread_create(&t, &detached, do_nothing, NULL) == 0) atomic_fetch_add(&created, 1);
    }
    return NULL;
}

int main(void) {
    struct rlimit limit = {400u << 20, 400u << 20};
    if (getrlimit(RLIMIT_AS, &limit) != 0) DIE("getrlimit");
    if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur > (400u << 20)) limit.rlim_cur = 400u << 20;
    if (setrlimit(RLIMIT_AS, &limit) != 0) DIE("setrlimit");
    pthread_attr_init(&detached);
    pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&detached, 16 << 20);
    pthread_t creators[CREATORS];
    for (int i = 0; i < CREATORS; i++)
        if (pthread_create(&creators[i], NULL, creator, NULL) != 0) DIE("pthread_create");
    for (int i = 0; i < CREATORS; i++) pthread_join(creators[i], NULL);
    printf("created at least %d\n", atomic_load(&created) >= TO_CREATE ? TO_CREATE : -1);
    return 0;
}
