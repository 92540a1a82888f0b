/* bench_threads N: creates N threads that all block on one condition variable (N idle
 * threads), then releases and joins them. Prints one line of key=value pairs:
 *
 *   threads=<created> create_s=<wall time of the creation loop alone>
 *   create_first_tenth_s=<the first N/10 creations> create_last_tenth_s=<the last N/10>
 *   rss_kib_per_thread=<(VmRSS after - before) / created>
 *   pte_kib_per_thread=<(VmPTE after - before) / created>
 *   rss_kib_before=... rss_kib_after=... pte_kib_before=... pte_kib_after=...
 *   join_s=<wall time from the release broadcast to the last join>
 *   create_errno=<0, or the symbolic errno pthread_create failed with>
 *
 * It measures what scaling to many threads costs: how creation time grows with N (greened,
 * a coroutine record and a stack mapping each; natively a clone() and a kernel task each)
 * and what an idle thread costs in resident memory and in page tables. The two tenths tell
 * whether a creation gets dearer as threads accumulate (last/first well above 1) or whether
 * a large N is slower for another reason. "After" is sampled
 * once every created thread has reached the condition variable, so each has touched its
 * stack. Natively the system's limits (threads-max, pid_max, vm.max_map_count, memory) stop
 * creation early: that is not a failure here; the program reports how many it created and
 * the errno, and the per-thread figures cover those. It exits 0 unless something other than
 * creation fails. */
#include "common.h"

#include <pthread.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t release_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t all_waiting = PTHREAD_COND_INITIALIZER;
static unsigned long waiting;
static unsigned long target = (unsigned long)-1; /* set once creation is over */
static int released;

static void *idle_thread(void *arg) {
    (void)arg;
    pthread_mutex_lock(&lock);
    if (++waiting == target) pthread_cond_signal(&all_waiting);
    while (!released) pthread_cond_wait(&release_cond, &lock);
    pthread_mutex_unlock(&lock);
    return NULL;
}

/* The value in kB of the "NAME:" line of /proc/self/status, or -1. */
static long status_kib(const char *name) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t len = strlen(name);
    long kib = -1;
    if (!f) DIE("bench_threads: /proc/self/status");
    while (fgets(line, sizeof line, f))
        if (strncmp(line, name, len) == 0 && line[len] == ':') {
            kib = strtol(line + len + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}

int main(int argc, char **argv) {
    char *end;
    unsigned long n;
    if (argc != 2 || (n = strtoul(argv[1], &end, 10)) == 0 || *end) {
        fprintf(stderr, "usage: bench_threads N\n");
        return 2;
    }
    pthread_t *threads = calloc(n, sizeof *threads);
    if (!threads) DIE("bench_threads: calloc %lu thread ids", n);
    /* Fault the id array in now so its pages are not counted as the threads' memory. */
    memset(threads, 0xff, n * sizeof *threads);

    long rss_before = status_kib("VmRSS"), pte_before = status_kib("VmPTE");

    unsigned long created = 0, tenth = n / 10;
    int create_errno = 0;
    double start = mono_now(), first_tenth_end = 0, last_tenth_start = 0;
    for (; created < n; created++) {
        if (created == tenth) first_tenth_end = mono_now();
        if (created == n - tenth) last_tenth_start = mono_now();
        if ((create_errno = pthread_create(&threads[created], NULL, idle_thread, NULL))) break;
    }
    double stop = mono_now(), create_s = stop - start;
    /* -1: creation stopped (or N < 10) before that tenth was complete. */
    double first_tenth_s = tenth && created > tenth ? first_tenth_end - start : -1;
    double last_tenth_s = tenth && created == n ? stop - last_tenth_start : -1;

    /* Wait until every created thread is parked on the condition variable. */
    pthread_mutex_lock(&lock);
    target = created;
    while (waiting < created) pthread_cond_wait(&all_waiting, &lock);
    pthread_mutex_unlock(&lock);

    long rss_after = status_kib("VmRSS"), pte_after = status_kib("VmPTE");

    double join_start = mono_now();
    pthread_mutex_lock(&lock);
    released = 1;
    pthread_cond_broadcast(&release_cond);
    pthread_mutex_unlock(&lock);
    for (unsigned long i = 0; i < created; i++)
        if ((errno = pthread_join(threads[i], NULL))) DIE("bench_threads: pthread_join #%lu", i);
    double join_s = mono_now() - join_start;

    double per = created ? (double)created : 1.0;
    printf("threads=%lu create_s=%.4f create_first_tenth_s=%.4f create_last_tenth_s=%.4f "
           "rss_kib_per_thread=%.2f pte_kib_per_thread=%.3f "
           "rss_kib_before=%ld rss_kib_after=%ld pte_kib_before=%ld pte_kib_after=%ld "
           "join_s=%.4f create_errno=%s\n",
           created, create_s, first_tenth_s, last_tenth_s, (double)(rss_after - rss_before) / per,
           (double)(pte_after - pte_before) / per, rss_before, rss_after, pte_before, pte_after,
           join_s, errno_name(create_errno));
    free(threads);
    return 0;
}
