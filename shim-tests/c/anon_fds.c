/* Blocking reads of an eventfd, a timerfd, a signalfd and an inotify descriptor, each
 * satisfied 100 ms later (by another thread, the timer, a signal, a file created), while a
 * ticker thread runs: the read returns what it natively returns, and the ticker kept
 * ticking (greened, the read parks only its green thread). */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

static int efd;
static char dir[] = "/tmp/libgreen-anon-XXXXXX";

static void *later(void *arg) {
    int what = (int)(intptr_t)arg;
    usleep(100 * 1000);
    if (what == 0) {
        uint64_t v = 3;
        if (write(efd, &v, 8) != 8) DIE("eventfd write");
    } else if (what == 1) {
        kill(getpid(), SIGUSR1);
    } else {
        char path[64];
        snprintf(path, sizeof path, "%s/new", dir);
        FILE *f = fopen(path, "w");
        if (!f) DIE("fopen");
        fclose(f);
        unlink(path);
    }
    return NULL;
}

static const char *ticked(int before) { return ticker_ticks() - before >= 10 ? "yes" : "no"; }

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, NULL);
    pthread_t t;
    ticker_start(5000);

    efd = eventfd(0, 0);
    pthread_create(&t, NULL, later, (void *)0);
    int before = ticker_ticks();
    uint64_t v = 0;
    ssize_t n = read(efd, &v, 8);
    pthread_join(t, NULL);
    printf("eventfd: read %zd value %lu, ticker ran %s\n", n, (unsigned long)v, ticked(before));

    int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec its = {{0, 0}, {0, 100 * 1000000L}};
    timerfd_settime(tfd, 0, &its, NULL);
    before = ticker_ticks();
    n = read(tfd, &v, 8);
    printf("timerfd: read %zd expirations %lu, ticker ran %s\n", n, (unsigned long)v, ticked(before));

    int sfd = signalfd(-1, &usr1, 0);
    pthread_create(&t, NULL, later, (void *)1);
    before = ticker_ticks();
    struct signalfd_siginfo info;
    n = read(sfd, &info, sizeof info);
    pthread_join(t, NULL);
    printf("signalfd: read %zd signal %s, ticker ran %s\n", n, info.ssi_signo == SIGUSR1 ? "SIGUSR1" : "?",
           ticked(before));

    if (!mkdtemp(dir)) DIE("mkdtemp");
    int ifd = inotify_init();
    inotify_add_watch(ifd, dir, IN_CREATE);
    pthread_create(&t, NULL, later, (void *)2);
    before = ticker_ticks();
    char events[4096] __attribute__((aligned(8)));
    n = read(ifd, events, sizeof events);
    pthread_join(t, NULL);
    struct inotify_event *ev = (struct inotify_event *)events;
    printf("inotify: read %s event %s name %s, ticker ran %s\n", n > 0 ? "ok" : "failed",
           ev->mask & IN_CREATE ? "IN_CREATE" : "?", ev->name, ticked(before));
    rmdir(dir);

    ticker_stop();
    return 0;
}
