/* Thread-local variables (__thread) per thread: every new thread starts from the variable's
 * initial value, keeps its own value across sleeps and switches while 19 others change
 * theirs, and a large thread-local array stays intact. Prints the same natively and greened,
 * plus `threads_while_sleeping=N` (OS threads while all 20 sleep: 21 natively, 1 greened). */
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#define THREADS 20

static __thread int counter = 42;
static __thread char scratch[8192];
static __thread const char *label = "unset";

static atomic_int asleep;
/* Set once main has counted the OS threads: until then no worker may end, or a loaded
 * machine could let some finish before the count. */
static atomic_int counted;
static int initial_seen[THREADS];
static uintptr_t address_of_counter[THREADS];
static int kept[THREADS];

static void *worker(void *arg) {
    int id = (int)(intptr_t)arg;
    initial_seen[id] = counter == 42 && scratch[100] == 0 && strcmp(label, "unset") == 0;
    address_of_counter[id] = (uintptr_t)&counter;
    counter = 1000 + id;
    memset(scratch, 'a' + id, sizeof scratch);
    label = id % 2 ? "odd" : "even";
    atomic_fetch_add(&asleep, 1);
    while (!atomic_load(&counted)) usleep(1000);
    for (int round = 0; round < 5; round++) {
        usleep(10 * 1000);
        sched_yield();
        counter += 1;
    }
    int scratch_ok = 1;
    for (size_t i = 0; i < sizeof scratch; i++)
        if (scratch[i] != 'a' + id) scratch_ok = 0;
    kept[id] = counter == 1005 + id && scratch_ok && strcmp(label, id % 2 ? "odd" : "even") == 0;
    return (void *)(intptr_t)counter;
}

int main(void) {
    counter = 7;
    label = "main";
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) != 0) DIE("pthread_create");
    while (atomic_load(&asleep) < THREADS) usleep(1000);
    printf("threads_while_sleeping=%d\n", os_thread_count());
    atomic_store(&counted, 1);
    long sum = 0;
    int initial = 0, kept_count = 0;
    for (int i = 0; i < THREADS; i++) {
        void *ret;
        if (pthread_join(t[i], &ret) != 0) DIE("pthread_join");
        sum += (long)(intptr_t)ret;
        initial += initial_seen[i];
        kept_count += kept[i];
    }
    printf("tls: %d threads started from the initial values, %d kept their own, returned sum=%ld\n",
           initial, kept_count, sum);
    printf("tls: main still has counter=%d label=%s\n", counter, label);
    int distinct = 0;
    for (int i = 0; i < THREADS; i++) {
        int seen_before = address_of_counter[i] == (uintptr_t)&counter;
        for (int j = 0; j < i; j++) seen_before |= address_of_counter[j] == address_of_counter[i];
        distinct += !seen_before;
    }
    printf("tls: threads whose variable has an address of its own: %d\n", distinct);
    return 0;
}
