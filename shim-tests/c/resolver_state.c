/* glibc's resolver state (_res) is per thread: each thread's _res is its own, starts zeroed
 * (not initialised), keeps the options the thread sets across calls that switch threads,
 * and the main thread's survives the others. What a program that tunes the resolver per
 * thread (_res.retry, _res.options) relies on. */
#include "common.h"
#include <arpa/nameser.h>
#include <dirent.h>
#include <resolv.h>

#define THREADS 8

static struct __res_state *main_state;
static int distinct_from_main, started_blank, kept_own, initialised;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t all_set;

static int open_fds(void) {
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        DIE("opendir");
    int n = 0;
    while (readdir(dir))
        n++;
    closedir(dir);
    return n;
}

static void *worker(void *arg) {
    int id = (int)(long)arg;
    int blank = !(_res.options & RES_INIT) && _res.retry == 0;
    if (res_init() != 0)
        DIE("res_init");
    int ok_init = !!(_res.options & RES_INIT);
    _res.retry = 10 + id;
    _res.options |= RES_USEVC;
    pthread_barrier_wait(&all_set); /* every thread has set its own before any checks */
    usleep(1000 * (THREADS - id));  /* switch threads in a different order */
    int own = _res.retry == 10 + id && (_res.options & RES_USEVC);
    pthread_mutex_lock(&lock);
    distinct_from_main += __res_state() != main_state;
    started_blank += blank;
    kept_own += own;
    initialised += ok_init;
    pthread_mutex_unlock(&lock);
    return NULL;
}

int main(void) {
    if (res_init() != 0)
        DIE("res_init");
    _res.retry = 3;
    main_state = __res_state();
    int fds_before = open_fds();
    pthread_barrier_init(&all_set, NULL, THREADS);
    pthread_t threads[THREADS];
    for (long i = 0; i < THREADS; i++)
        if (pthread_create(&threads[i], NULL, worker, (void *)i) != 0)
            DIE("pthread_create");
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    printf("resolver: %d threads, state of their own=%d started blank=%d initialised=%d kept own options=%d\n",
           THREADS, distinct_from_main, started_blank, initialised, kept_own);
    printf("resolver: main keeps its own: retry=%d same state=%d usevc=%d\n", _res.retry,
           __res_state() == main_state, !!(_res.options & RES_USEVC));
    printf("resolver: descriptors left open by ended threads=%d\n", open_fds() - fds_before);
    return 0;
}
