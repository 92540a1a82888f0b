/* flockfile between threads: a thread that asks for a stream another thread holds waits for
 * its funlockfile (the holder sleeps meanwhile, so greened the waiter must park); ftrylockfile
 * fails while it is held; holds are recursive. The same lines natively and greened. */
#define _GNU_SOURCE
#include "common.h"

#include <mcheck.h>

static atomic_int order;
static int got_at;

static void *taker(void *arg) {
    FILE *f = arg;
    flockfile(f);
    got_at = atomic_fetch_add(&order, 1);
    funlockfile(f);
    return NULL;
}

static void *trier(void *arg) {
    return (void *)(long)(ftrylockfile((FILE *)arg) != 0);
}

int main(void) {
    /* Traces every allocation to $MALLOC_TRACE when glibc's libc_malloc_debug is preloaded
     * (it locks its log stream on each one); nothing otherwise. */
    mtrace();
    FILE *f = tmpfile();
    if (!f)
        DIE("tmpfile");
    flockfile(f);
    flockfile(f); /* recursive */
    pthread_t t, u;
    pthread_create(&t, NULL, taker, f);
    pthread_create(&u, NULL, trier, f);
    void *busy;
    pthread_join(u, &busy);
    printf("ftrylockfile while held elsewhere fails: %ld\n", (long)busy);
    usleep(100 * 1000);
    int released_at = atomic_fetch_add(&order, 1);
    funlockfile(f);
    funlockfile(f);
    pthread_join(t, NULL);
    printf("holder released at %d, waiter got it at %d\n", released_at, got_at);
    printf("ftrylockfile when free: %d\n", ftrylockfile(f));
    funlockfile(f);
    printf("done\n");
    return 0;
}
