/* Leaving a blocked read through a signal handler that does not return: the handler
 * cancels the thread, calls pthread_exit, or siglongjmps out of the read. Afterwards the
 * fd is closed, its number reused, and the stack the read ran on is overwritten: nothing
 * of the abandoned read may still be reachable (runtime/wait_leave.rs).
 *
 * Usage: wait_unwind CASE   (cancel, exit, longjmp, main-longjmp)
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check(int ok, const char *what) {
    if (!ok) {
        perror(what);
        exit(1);
    }
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int outer[2];  /* the read the handler leaves */
static int inner[2];  /* a read inside the handler (cancel case) */
static volatile int in_handler;
static sigjmp_buf env;

/* Overwrites a good part of the calling thread's stack below its caller's frame. */
static void __attribute__((noinline)) scribble(void) {
    volatile char junk[32768];
    memset((char *)junk, 0xa5, sizeof junk);
}

/* Closes the pipes, makes new ones (reusing the numbers) and moves a byte through them,
 * with a reader blocked on the new read end first. */
static void *reader(void *arg) {
    char c;
    return (void *)(long)read(*(int *)arg, &c, 1);
}

static void reuse_numbers(const char *name) {
    close(outer[0]);
    close(outer[1]);
    int again[2];
    check(pipe(again) == 0, "pipe");
    pthread_t t;
    check(pthread_create(&t, NULL, reader, &again[0]) == 0, "create");
    sleep_ms(50);
    check(write(again[1], "x", 1) == 1, "write");
    void *got;
    pthread_join(t, &got);
    printf("%s: reused=%d read=%ld\n", name, again[0] == outer[0], (long)got);
    close(again[0]);
    close(again[1]);
}

static void on_hup_cancel(int sig) {
    (void)sig;
    char c;
    in_handler = 1;
    (void)read(inner[0], &c, 1);  /* cancelled here */
}

static void on_hup_exit(int sig) {
    (void)sig;
    pthread_exit((void *)7L);
}

static void on_hup_jump(int sig) {
    (void)sig;
    siglongjmp(env, 1);
}

static void *blocked_read(void *arg) {
    (void)arg;
    char c;
    (void)read(outer[0], &c, 1);
    return (void *)1L;
}

static void *jumping_read(void *arg) {
    (void)arg;
    char c;
    if (sigsetjmp(env, 1) == 0) {
        (void)read(outer[0], &c, 1);
        return (void *)1L;
    }
    scribble();
    return (void *)2L;
}

static void *scribbler(void *arg) {
    (void)arg;
    scribble();
    return NULL;
}

static void handle(void (*fn)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    check(sigaction(SIGHUP, &sa, NULL) == 0, "sigaction");
}

/* A thread blocked in a read gets SIGHUP; its handler leaves the read for good. */
static void run_thread_case(const char *name, void (*fn)(int), void *(*body)(void *)) {
    handle(fn);
    check(pipe(outer) == 0 && pipe(inner) == 0, "pipe");
    pthread_t t;
    check(pthread_create(&t, NULL, body, NULL) == 0, "create");
    sleep_ms(100);
    pthread_kill(t, SIGHUP);
    if (fn == on_hup_cancel) {
        while (!in_handler)
            sleep_ms(10);
        sleep_ms(50);
        pthread_cancel(t);
    }
    void *result;
    pthread_join(t, &result);
    /* A new thread gets the pooled stack the read ran on, and overwrites it. */
    pthread_t s;
    check(pthread_create(&s, NULL, scribbler, NULL) == 0, "create");
    pthread_join(s, NULL);
    printf("%s: result=%s\n", name, result == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "value");
    printf("%s: value=%ld\n", name, result == PTHREAD_CANCELED ? -1L : (long)result);
    close(inner[0]);
    close(inner[1]);
    reuse_numbers(name);
}

static void *kill_main(void *arg) {
    sleep_ms(100);
    pthread_kill(*(pthread_t *)arg, SIGHUP);
    return NULL;
}

/* The main thread's read, left by siglongjmp out of its handler. */
static void run_main_longjmp(void) {
    handle(on_hup_jump);
    check(pipe(outer) == 0, "pipe");
    pthread_t self = pthread_self(), t;
    check(pthread_create(&t, NULL, kill_main, &self) == 0, "create");
    char c;
    int jumped = sigsetjmp(env, 1);
    if (!jumped)
        (void)read(outer[0], &c, 1);
    scribble();
    pthread_join(t, NULL);
    printf("main-longjmp: jumped=%d\n", jumped);
    reuse_numbers("main-longjmp");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *which = argc > 1 ? argv[1] : "";
    if (!strcmp(which, "cancel"))
        run_thread_case(which, on_hup_cancel, blocked_read);
    else if (!strcmp(which, "exit"))
        run_thread_case(which, on_hup_exit, blocked_read);
    else if (!strcmp(which, "longjmp"))
        run_thread_case(which, on_hup_jump, jumping_read);
    else if (!strcmp(which, "main-longjmp"))
        run_main_longjmp();
    else {
        fprintf(stderr, "unknown case %s\n", which);
        return 2;
    }
    return 0;
}
