/* Two threads blocked reading one pipe (close-on-exec, or not with "inheritable") when the
 * main thread forks a child that exits at once: a fork gives the pipe's description back
 * to blocking. Then one byte is written: both readers may wake, one gets it, and the other
 * must go back to waiting without holding up the others (greened: without blocking the
 * one OS thread in the kernel), for the main thread writes the second byte 200 ms later
 * while a ticker runs.
 *
 * Prints what the readers got and whether the ticker ticked meanwhile. */
#define _GNU_SOURCE
#include "common.h"

#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>

static int ends[2];
static atomic_int got;

static void *reader(void *arg) {
    (void)arg;
    char byte;
    if (read(ends[0], &byte, 1) != 1) DIE("read");
    atomic_fetch_add(&got, 1);
    return NULL;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int inheritable = argc > 1 && strcmp(argv[1], "inheritable") == 0;
    if (pipe2(ends, inheritable ? 0 : O_CLOEXEC) != 0) DIE("pipe2");
    pthread_t readers[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&readers[i], NULL, reader, NULL) != 0) DIE("pthread_create");
    usleep(100000);
    pid_t child = fork();
    if (child < 0) DIE("fork");
    if (child == 0) _exit(0);
    if (waitpid(child, NULL, 0) != child) DIE("waitpid");
    ticker_start(10000);
    if (write(ends[1], "a", 1) != 1) DIE("write");
    usleep(200000);
    int first = atomic_load(&got), ticks = ticker_ticks();
    if (write(ends[1], "b", 1) != 1) DIE("write");
    for (int i = 0; i < 2; i++) pthread_join(readers[i], NULL);
    ticker_stop();
    printf("after one byte: %d read; after two: %d read; ticked: %s\n", first, atomic_load(&got),
           ticks >= 5 ? "yes" : "no");
    return 0;
}
