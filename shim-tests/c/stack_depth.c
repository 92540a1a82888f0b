/* How deep threads go into their stacks, for GREEN_STATS's deepest_stack_kib:
 *   stack_depth ENDED_KIB LIVE_KIB
 * One thread fills ENDED_KIB of its stack and ends (it is joined); another fills LIVE_KIB
 * and is still blocked in read() when main returns, as a server's connection threads are
 * when it exits. Greened with GREEN_STATS=1, deepest_stack_kib is at least the larger of
 * the two and at most a few pages more. */
#include "common.h"

#include <stdint.h>
#include <unistd.h>

static int never[2], ready[2];

/* Fills `kib` KiB below this frame; noinline so the array lives on this thread's stack. */
static __attribute__((noinline)) int fill(size_t kib) {
    volatile char area[kib * 1024];
    memset((char *)area, 1, sizeof area);
    return area[0] + area[sizeof area - 1];
}

static void *ended(void *arg) {
    return (void *)(intptr_t)fill((size_t)(intptr_t)arg);
}

static void *live(void *arg) {
    fill((size_t)(intptr_t)arg);
    if (write(ready[1], "r", 1) != 1) DIE("write");
    char c;
    if (read(never[0], &c, 1) != 0) DIE("read");
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: stack_depth ENDED_KIB LIVE_KIB\n");
        return 2;
    }
    if (pipe(never) != 0 || pipe(ready) != 0) DIE("pipe");
    pthread_t a, b;
    if (pthread_create(&a, NULL, ended, (void *)(intptr_t)atoi(argv[1])) != 0) DIE("pthread_create");
    if (pthread_join(a, NULL) != 0) DIE("pthread_join");
    if (pthread_create(&b, NULL, live, (void *)(intptr_t)atoi(argv[2])) != 0) DIE("pthread_create");
    char c;
    if (read(ready[0], &c, 1) != 1) DIE("read");
    printf("done\n");
    return 0;
}
