/* Raw system calls: `syscall` instructions in the program's own code, not through libc.
 * Greened with GREEN_RAW_SYSCALLS=1, the blocking ones park only their green thread (the
 * ticker goes on, one OS thread); natively each thread blocks on its own and the ticker
 * ticks too, so the outputs are the same. Every line is built from values that are the
 * same on every run; stderr gets the OS thread count at the end (the test checks it).
 *
 *   raw_syscalls */
#define _GNU_SOURCE
#include "common.h"

#include <signal.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
/* The kernel's convention: the value, or -errno; errno is never touched. */
static long raw3(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}
#else
#error "raw_syscalls: x86-64 only"
#endif

static int pipe_fds[2];

static void *write_later(void *arg) {
    usleep(150000);
    if (write(pipe_fds[1], arg, strlen(arg)) < 0) DIE("write");
    return NULL;
}

static void pipe_read(void) {
    char buf[64] = {0};
    pthread_t t;
    if (pipe(pipe_fds) != 0) DIE("pipe");
    pthread_create(&t, NULL, write_later, "hello");
    int before = ticker_ticks();
    long n = raw3(SYS_read, pipe_fds[0], (long)buf, sizeof buf);
    int ticked = ticker_ticks() - before;
    pthread_join(t, NULL);
    printf("raw read n=%ld data=%s ticked=%s\n", n, n > 0 ? buf : "", ticked >= 5 ? "yes" : "no");
}

static void *raw_sleep(void *arg) {
    struct timespec ts = {0, 200000000};
    long r = raw3(SYS_nanosleep, (long)&ts, 0, 0);
    *(long *)arg = r;
    return NULL;
}

static void sleeps_overlap(void) {
    pthread_t a, b;
    long ra = 1, rb = 1;
    double t0 = mono_now();
    pthread_create(&a, NULL, raw_sleep, &ra);
    pthread_create(&b, NULL, raw_sleep, &rb);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    double took = mono_now() - t0;
    printf("raw nanosleep x2 r=%ld,%ld overlapped=%s\n", ra, rb, took < 0.35 ? "yes" : "no");
}

static void plain_calls(void) {
    long pid = raw3(SYS_getpid, 0, 0, 0);
    printf("raw getpid same=%s\n", pid == getpid() ? "yes" : "no");
    errno = 0;
    char c;
    long r = raw3(SYS_read, 999, (long)&c, 1);
    printf("raw read bad fd r=%s errno_untouched=%s\n", r == -EBADF ? "-EBADF" : "other", errno == 0 ? "yes" : "no");
    struct timespec bad = {0, -1};
    r = raw3(SYS_nanosleep, (long)&bad, 0, 0);
    printf("raw nanosleep bad r=%s\n", r == -EINVAL ? "-EINVAL" : "other");
    r = raw3(SYS_write, pipe_fds[1], (long)"x", 1);
    printf("raw write pipe r=%ld\n", r);
}

static long in_handler_pid;

static void raw_in_handler(int signal) {
    (void)signal;
    in_handler_pid = raw3(SYS_getpid, 0, 0, 0);
}

/* A trapped call's SIGSYS is forced: were SIGSYS blocked in the kernel at that moment, the
 * process would die. A program that blocks every signal, or a handler whose mask has them
 * all, must still make raw calls, and read back the masks it set. */
static void every_signal_blocked(void) {
    struct sigaction action = {0}, old;
    action.sa_handler = raw_in_handler;
    sigfillset(&action.sa_mask);
    if (sigaction(SIGUSR1, &action, NULL) != 0 || sigaction(SIGUSR1, NULL, &old) != 0) DIE("sigaction");
    raise(SIGUSR1);
    printf("raw call in a handler blocking every signal same=%s sa_mask_has_sigsys=%s\n",
           in_handler_pid == getpid() ? "yes" : "no", sigismember(&old.sa_mask, SIGSYS) == 1 ? "yes" : "no");
    sigset_t all, was, now;
    sigfillset(&all);
    if (sigprocmask(SIG_SETMASK, &all, &was) != 0) DIE("sigprocmask");
    long pid = raw3(SYS_getpid, 0, 0, 0);
    if (sigprocmask(SIG_SETMASK, &was, &now) != 0) DIE("sigprocmask");
    printf("raw call with every signal blocked same=%s mask_has_sigsys=%s\n", pid == getpid() ? "yes" : "no",
           sigismember(&now, SIGSYS) == 1 ? "yes" : "no");
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    ticker_start(10000);
    pipe_read();
    sleeps_overlap();
    plain_calls();
    every_signal_blocked();
    ticker_stop();
    fprintf(stderr, "os_threads=%d\n", os_thread_count());
    printf("done\n");
    return 0;
}
