/* A thread named "recurser" that recurses until it runs off its stack: natively the process
 * dies of SIGSEGV with nothing naming the thread; greened, one message names it first.
 *   diag_overflow default      the thread gets the default stack size
 *   diag_overflow sized KIB    the program asks for KIB KiB with pthread_attr_setstacksize
 *   diag_overflow handler      as default, with a SIGSEGV handler of the program's own on the
 *                              thread's own alternate stack, which says so and exits with status 3
 *   diag_overflow after-altstacks  as default, after two threads that each set an alternate
 *                              signal stack of their own and ended: one freed it still set, one
 *                              took it down first (as Rust's std does) */
#define _GNU_SOURCE
#include "common.h"
#include <signal.h>

static volatile unsigned long depth;

static unsigned long recurse(unsigned long n) {
    volatile char frame[512];
    frame[0] = (char)n;
    depth = n;
    if (n == (unsigned long)-1)
        return 0;
    return recurse(n + 1) + frame[0];
}

static int own_handler;

static void *recurser(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "recurser");
    if (own_handler) {
        /* An alternate stack is per thread: the one that overflows needs its own. */
        static char alt[1 << 16];
        stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
        sigaltstack(&ss, NULL);
    }
    return (void *)recurse(0);
}

static void *sets_an_alt_stack(void *arg) {
    stack_t ss = {.ss_sp = malloc(1 << 16), .ss_size = 1 << 16};
    if (!ss.ss_sp || sigaltstack(&ss, NULL) != 0) DIE("sigaltstack");
    if (arg) {
        stack_t off = {.ss_flags = SS_DISABLE};
        sigaltstack(&off, NULL);
    }
    free(ss.ss_sp);
    return NULL;
}

static void on_segv(int sig) {
    (void)sig;
    static const char msg[] = "program handler ran\n";
    write(1, msg, sizeof msg - 1);
    _exit(3);
}

int main(int argc, char **argv) {
    const char *how = argc > 1 ? argv[1] : "default";
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (strcmp(how, "sized") == 0)
        pthread_attr_setstacksize(&attr, (size_t)atoi(argv[2]) * 1024);
    if (strcmp(how, "handler") == 0) {
        own_handler = 1;
        struct sigaction sa = {.sa_handler = on_segv, .sa_flags = SA_ONSTACK};
        sigaction(SIGSEGV, &sa, NULL);
    }
    if (strcmp(how, "after-altstacks") == 0) {
        for (long takes_it_down = 0; takes_it_down <= 1; takes_it_down++) {
            pthread_t t;
            pthread_create(&t, NULL, sets_an_alt_stack, (void *)takes_it_down);
            pthread_join(t, NULL);
        }
    }
    printf("started\n");
    fflush(stdout);
    pthread_t t;
    if (pthread_create(&t, &attr, recurser, NULL) != 0)
        DIE("pthread_create");
    pthread_join(t, NULL);
    printf("not reached\n");
    return 0;
}
