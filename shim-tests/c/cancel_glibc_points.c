/* Cancellation at glibc's own cancellation points: calls no hook sees, such as the write
 * inside fprintf to a file (glibc's nptl tst-cancel9). A thread that only loops in fprintf
 * is cancelled there, with its cleanup handler (or, without one, plainly); a thread that
 * disabled cancellation is not cancelled in the loop, only at pthread_testcancel after it
 * enabled it again; and the process counts as multi-threaded once a thread exists. */
#include "common.h"
#include <fcntl.h>
#include <sys/single_threaded.h>

static atomic_int cleanups, loops_after_request, requested;
static atomic_int started;

static FILE *dev_null(void) {
    int fd = open("/dev/null", O_WRONLY);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
    if (!f)
        DIE("open /dev/null");
    return f;
}

static void cleanup(void *arg) {
    (void)arg;
    atomic_fetch_add(&cleanups, 1);
}

static void *loop_with_handler(void *arg) {
    FILE *f = dev_null();
    pthread_cleanup_push(cleanup, NULL);
    atomic_fetch_add(&started, 1);
    for (;;)
        fprintf(f, "%p", arg);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *loop_plain(void *arg) {
    FILE *f = dev_null();
    atomic_fetch_add(&started, 1);
    for (;;)
        fprintf(f, "%p", arg);
    return NULL;
}

static void *loop_disabled(void *arg) {
    FILE *f = dev_null();
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    atomic_fetch_add(&started, 1);
    /* Goes on well past the request: every fflush is a cancellation point glibc makes. */
    while (atomic_load(&loops_after_request) < 20000) {
        fprintf(f, "%p", arg);
        fflush(f);
        if (atomic_load(&requested))
            atomic_fetch_add(&loops_after_request, 1);
    }
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
    pthread_testcancel();
    return (void *)1;
}

static const char *run(void *(*body)(void *)) {
    pthread_t t;
    atomic_store(&started, 0);
    atomic_store(&requested, 0);
    if (pthread_create(&t, NULL, body, NULL) != 0)
        DIE("pthread_create");
    while (!atomic_load(&started))
        usleep(1000);
    usleep(50000);
    pthread_cancel(t);
    atomic_store(&requested, 1);
    void *result;
    pthread_join(t, &result);
    return result == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "not cancelled";
}

int main(void) {
    printf("single-threaded before any thread=%d\n", __libc_single_threaded);
    const char *with_handler = run(loop_with_handler);
    printf("single-threaded after one=%d\n", __libc_single_threaded);
    printf("fprintf loop with a cleanup handler: %s, handlers run=%d\n", with_handler, atomic_load(&cleanups));
    printf("fprintf loop without one: %s\n", run(loop_plain));
    const char *disabled = run(loop_disabled);
    printf("loop with cancellation disabled: %s at pthread_testcancel, after %d iterations past the request\n",
           disabled, atomic_load(&loops_after_request));
    return 0;
}
