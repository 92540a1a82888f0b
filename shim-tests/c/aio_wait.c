/* aio_suspend as a green wait: other threads run while it waits, and it ends as glibc's
 * does: a finished request (0), its timeout (EAGAIN), a signal handler (EINTR, or the wait
 * goes on under SA_RESTART without a timeout), a cancellation (hooks/aio_suspend.rs).
 *
 * Usage: aio_wait CASE   (complete, timeout, eintr, restart, cancel, done)
 */
#include <aio.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int p[2];
static char byte;
static struct aiocb cb;
static volatile int ticks, handled;

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long ms_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static const char *err(int rc) {
    static char buf[32];
    if (rc == 0)
        return "0";
    snprintf(buf, sizeof buf, "-1 %s", errno == EAGAIN ? "EAGAIN" : errno == EINTR ? "EINTR" : strerror(errno));
    return buf;
}

/* A read of the pipe, in progress until someone writes. */
static void start_read(void) {
    if (pipe(p) != 0)
        exit(1);
    memset(&cb, 0, sizeof cb);
    cb.aio_fildes = p[0];
    cb.aio_buf = &byte;
    cb.aio_nbytes = 1;
    if (aio_read(&cb) != 0)
        exit(1);
}

static void finish_read(void) {
    if (aio_error(&cb) == EINPROGRESS && write(p[1], "x", 1) != 1)
        exit(1);
    const struct aiocb *l[1] = {&cb};
    while (aio_error(&cb) == EINPROGRESS)
        aio_suspend(l, 1, NULL);
}

static void *ticker(void *arg) {
    (void)arg;
    for (int i = 0; i < 5; i++) {
        sleep_ms(10);
        ticks++;
    }
    return NULL;
}

static void *writer(void *arg) {
    (void)arg;
    sleep_ms(50);
    if (write(p[1], "y", 1) != 1)
        exit(1);
    return NULL;
}

/* The restart case's byte comes only once the handler has run, whatever the machine's load:
 * the wait must have gone on past the signal to see it. */
static void *writer_after_signal(void *arg) {
    (void)arg;
    while (!handled)
        sleep_ms(5);
    sleep_ms(20);
    if (write(p[1], "y", 1) != 1)
        exit(1);
    return NULL;
}

static void on_usr1(int sig) {
    (void)sig;
    handled++;
}

static void *kill_after(void *arg) {
    sleep_ms(50);
    pthread_kill(*(pthread_t *)arg, SIGUSR1);
    return NULL;
}

static void handle(int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = flags;
    sigaction(SIGUSR1, &sa, NULL);
}

static void *suspend_forever(void *arg) {
    (void)arg;
    const struct aiocb *l[1] = {&cb};
    aio_suspend(l, 1, NULL);
    return NULL;
}

static int run(const char *name) {
    const struct aiocb *l[2] = {NULL, &cb};
    struct timespec t0, limit = {0, 100 * 1000000L};
    pthread_t helper, self = pthread_self();
    start_read();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!strcmp(name, "complete")) {
        pthread_create(&helper, NULL, writer, NULL);
        int rc = aio_suspend(l, 2, NULL);
        printf("complete: rc=%s error=%d return=%zd byte=%c\n", err(rc), aio_error(&cb), aio_return(&cb), byte);
    } else if (!strcmp(name, "timeout")) {
        pthread_create(&helper, NULL, ticker, NULL);
        int rc = aio_suspend(l, 2, &limit);
        long ms = ms_since(&t0);
        printf("timeout: rc=%s waited=%d others_ran=%d\n", err(rc), ms >= 90 && ms < 1000, ticks > 0);
    } else if (!strcmp(name, "eintr") || !strcmp(name, "restart")) {
        int restart = !strcmp(name, "restart");
        handle(restart ? SA_RESTART : 0);
        pthread_create(&helper, NULL, kill_after, &self);
        pthread_t w;
        if (restart)
            pthread_create(&w, NULL, writer_after_signal, NULL);
        int rc = aio_suspend(l, 2, NULL);
        printf("%s: rc=%s handled=%d\n", name, err(rc), handled);
        if (restart) {
            pthread_join(w, NULL);
        }
    } else if (!strcmp(name, "cancel")) {
        pthread_t t;
        pthread_create(&t, NULL, suspend_forever, NULL);
        sleep_ms(50);
        pthread_cancel(t);
        void *result;
        pthread_join(t, &result);
        printf("cancel: result=%s\n", result == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "value");
        helper = self;
    } else if (!strcmp(name, "done")) {
        const struct aiocb *none[2] = {NULL, NULL};
        int rc_none = aio_suspend(none, 2, NULL);
        finish_read();
        int rc = aio_suspend(l, 2, NULL);
        printf("done: none=%s finished=%s\n", err(rc_none), err(rc));
        helper = self;
    } else {
        fprintf(stderr, "unknown case %s\n", name);
        return 2;
    }
    if (!pthread_equal(helper, self))
        pthread_join(helper, NULL);
    finish_read();
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    return run(argc > 1 ? argv[1] : "");
}
