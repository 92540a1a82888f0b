/* sigaltstack is per thread: each line is a fact that holds natively and greened alike.
 * A thread's alternate stack is its own (a new thread has none, another thread's setting
 * does not show), the kernel's errors, and inside a handler that runs on the alternate
 * stack: SS_ONSTACK reported, EPERM for a change. */
#define _GNU_SOURCE
#include "common.h"

#include <signal.h>

#define SIZE (1 << 16)
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31) /* linux/signal.h */
#endif

static char stacks[2][SIZE];
static pthread_barrier_t both_set;

static const char *mode_of(const stack_t *ss) {
    int mode = ss->ss_flags & ~SS_AUTODISARM;
    return mode == SS_DISABLE ? "disabled" : mode == SS_ONSTACK ? "onstack" : mode == 0 ? "set" : "?";
}

static void show(const char *who, const stack_t *ss, int mine) {
    printf("%s: %s mine=%d size=%zu\n", who, mode_of(ss), ss->ss_sp == stacks[mine] && ss->ss_size == SIZE, ss->ss_size);
}

/* What each thread saw, printed by the main thread once both have ended. */
static stack_t at_start[2], after_both[2];

/* Thread 0 sets its stack, then thread 1 sets its own; then each asks what it has. */
static void *sets_its_own(void *arg) {
    long i = (long)arg;
    sigaltstack(NULL, &at_start[i]);
    stack_t ss = {.ss_sp = stacks[i], .ss_size = SIZE};
    if (i == 1) pthread_barrier_wait(&both_set);
    if (sigaltstack(&ss, NULL) != 0) DIE("sigaltstack");
    if (i == 0) pthread_barrier_wait(&both_set);
    pthread_barrier_wait(&both_set);
    sigaltstack(NULL, &after_both[i]);
    return NULL;
}

static void errors(void) {
    stack_t ss = {.ss_sp = stacks[0], .ss_size = SIZE, .ss_flags = 123};
    errno = 0;
    int rc = sigaltstack(&ss, NULL);
    printf("bad flags=%d %s\n", rc, errno_name(errno));
    ss.ss_flags = 0;
    ss.ss_size = 100;
    errno = 0;
    rc = sigaltstack(&ss, NULL);
    printf("too small=%d %s\n", rc, errno_name(errno));
    errno = 0;
    rc = sigaltstack((stack_t *)8, NULL);
    printf("bad new=%d %s\n", rc, errno_name(errno));
    errno = 0;
    rc = sigaltstack(NULL, (stack_t *)8);
    printf("bad old=%d %s\n", rc, errno_name(errno));
    ss = (stack_t){.ss_flags = SS_DISABLE};
    stack_t old;
    rc = sigaltstack(&ss, &old);
    printf("disable=%d old=%s\n", rc, mode_of(&old));
    sigaltstack(NULL, &old);
    printf("after disable: %s size=%zu\n", mode_of(&old), old.ss_size);
}

static volatile sig_atomic_t in_handler_flags, in_handler_change, in_handler_errno;

static void on_usr1(int sig) {
    (void)sig;
    stack_t now;
    sigaltstack(NULL, &now);
    in_handler_flags = now.ss_flags;
    stack_t other = {.ss_sp = stacks[1], .ss_size = SIZE};
    errno = 0;
    in_handler_change = sigaltstack(&other, NULL);
    in_handler_errno = errno;
}

static void handler_on_the_stack(void) {
    stack_t ss = {.ss_sp = stacks[0], .ss_size = SIZE};
    sigaltstack(&ss, NULL);
    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_ONSTACK};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    stack_t flags = {.ss_flags = in_handler_flags};
    printf("in handler: %s change=%d %s\n", mode_of(&flags), (int)in_handler_change, errno_name(in_handler_errno));
    stack_t now;
    sigaltstack(NULL, &now);
    show("main after the handler", &now, 0);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_barrier_init(&both_set, NULL, 2);
    pthread_t t[2];
    /* A thread of its own for each, so that the main thread's setting does not leak into them. */
    for (long i = 0; i < 2; i++) pthread_create(&t[i], NULL, sets_its_own, (void *)i);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
        char who[32];
        printf("thread %d at start: %s\n", i, mode_of(&at_start[i]));
        snprintf(who, sizeof who, "thread %d after both set", i);
        show(who, &after_both[i], i);
    }
    stack_t now;
    sigaltstack(NULL, &now);
    printf("main after the threads: %s\n", mode_of(&now));
    errors();
    handler_on_the_stack();
    printf("done\n");
    return 0;
}
