/* Ten tasks that each sleep half a second, run one after another or one thread each.
 *
 *   seq_vs_threads seq|threads
 *
 * Output: "task <i> done" per task (in completion order), then elapsed_ms=<total>.
 * seq takes about 5 s in any case. threads takes about 0.5 s natively, and must take about
 * 0.5 s as green threads too: a sleeping green thread has to let the others run. */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <unistd.h>

#define TASKS 10

static void *task(void *arg) {
    int i = (int)(long)arg;
    if (usleep(500000) != 0) DIE("usleep in task %d", i);
    printf("task %d done\n", i);
    fflush(stdout);
    return NULL;
}

int main(int argc, char **argv) {
    int threaded;
    if (argc == 2 && strcmp(argv[1], "seq") == 0) {
        threaded = 0;
    } else if (argc == 2 && strcmp(argv[1], "threads") == 0) {
        threaded = 1;
    } else {
        fprintf(stderr, "usage: seq_vs_threads seq|threads\n");
        return 2;
    }

    double start = mono_now();
    if (threaded) {
        pthread_t tids[TASKS];
        for (long i = 0; i < TASKS; i++) {
            int rc = pthread_create(&tids[i], NULL, task, (void *)i);
            if (rc != 0) { errno = rc; DIE("pthread_create"); }
        }
        for (int i = 0; i < TASKS; i++) {
            int rc = pthread_join(tids[i], NULL);
            if (rc != 0) { errno = rc; DIE("pthread_join"); }
        }
    } else {
        for (long i = 0; i < TASKS; i++) task((void *)i);
    }
    printf("elapsed_ms=%ld\n", (long)((mono_now() - start) * 1000));
    return 0;
}
