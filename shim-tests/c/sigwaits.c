/* sigwait, sigwaitinfo, sigtimedwait, sigsuspend and pause in threads, while a ticker thread
 * keeps running: the right signal and siginfo, EAGAIN after a timeout, EINVAL for a bad one,
 * EINTR when a handler runs. Prints the same natively and greened. */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

static atomic_int alarms, usr1_handled, usr2_handled;
static pthread_t target;

static void on_alarm(int sig) { (void)sig; atomic_fetch_add(&alarms, 1); }
static void on_usr1(int sig) { (void)sig; atomic_fetch_add(&usr1_handled, 1); }
static void on_usr2(int sig) { (void)sig; atomic_fetch_add(&usr2_handled, 1); }

static void handle(int sig, void (*fn)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0) DIE("sigaction");
}

/* After 50 ms: kill(getpid(), sig) when thread is 0, else pthread_kill(target, sig). */
struct later { int sig; int to_thread; int queue_value; };

static void *send_later(void *arg) {
    struct later *l = arg;
    usleep(50 * 1000);
    if (l->to_thread)
        pthread_kill(target, l->sig);
    else if (l->queue_value) {
        union sigval v = {.sival_int = l->queue_value};
        sigqueue(getpid(), l->sig, v);
    } else
        kill(getpid(), l->sig);
    return NULL;
}

static pthread_t spawn(void *(*fn)(void *), void *arg) {
    pthread_t t;
    if (pthread_create(&t, NULL, fn, arg) != 0) DIE("pthread_create");
    return t;
}

static sigset_t just(int sig) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    return s;
}

static char result[256];

static void *do_sigwait(void *arg) {
    (void)arg;
    sigset_t s = just(SIGUSR1);
    int sig = 0;
    int before = ticker_ticks();
    int rc = sigwait(&s, &sig);
    snprintf(result, sizeof result, "sigwait=%d sig=%s ticks meanwhile>=3 %s", rc, sig == SIGUSR1 ? "SIGUSR1" : "?",
             ticker_ticks() - before >= 3 ? "yes" : "no");
    return NULL;
}

static void *do_sigwaitinfo(void *arg) {
    (void)arg;
    sigset_t s = just(SIGUSR2);
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int rc = sigwaitinfo(&s, &info);
    snprintf(result, sizeof result, "sigwaitinfo=%s si_code=%s value=%d pid ok=%d", rc == SIGUSR2 ? "SIGUSR2" : "?",
             info.si_code == SI_QUEUE ? "SI_QUEUE" : "?", info.si_value.sival_int, info.si_pid == getpid());
    return NULL;
}

static void *do_interrupted_wait(void *arg) {
    (void)arg;
    sigset_t s = just(SIGUSR2);
    struct timespec two_s = {2, 0};
    errno = 0;
    double t0 = mono_now();
    int rc = sigtimedwait(&s, NULL, &two_s);
    snprintf(result, sizeof result, "sigtimedwait interrupted by a handler=%d %s alarms=%d early %s", rc,
             errno_name(errno), atomic_load(&alarms), mono_now() - t0 < 1.5 ? "yes" : "no");
    return NULL;
}

static void *do_sigsuspend(void *arg) {
    (void)arg;
    sigset_t none;
    sigemptyset(&none);
    errno = 0;
    int rc = sigsuspend(&none);
    int e = errno;
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, NULL, &now);
    snprintf(result, sizeof result, "thread sigsuspend=%d %s usr2 handled=%d mask restored=%d", rc, errno_name(e),
             atomic_load(&usr2_handled), sigismember(&now, SIGUSR2));
    return NULL;
}

static void *do_pause(void *arg) {
    (void)arg;
    errno = 0;
    int rc = pause();
    snprintf(result, sizeof result, "pause=%d %s alarms=%d", rc, errno_name(errno), atomic_load(&alarms));
    return NULL;
}

static void in_thread(void *(*fn)(void *), struct later *l) {
    target = spawn(fn, NULL);
    pthread_t sender = spawn(send_later, l);
    pthread_join(sender, NULL);
    pthread_join(target, NULL);
    printf("%s\n", result);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGUSR1);
    sigaddset(&blocked, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &blocked, NULL);
    handle(SIGALRM, on_alarm);
    handle(SIGUSR1, on_usr1);
    handle(SIGUSR2, on_usr2);
    ticker_start(5000);

    in_thread(do_sigwait, &(struct later){SIGUSR1, 0, 0});
    in_thread(do_sigwaitinfo, &(struct later){SIGUSR2, 0, 42});
    in_thread(do_interrupted_wait, &(struct later){SIGALRM, 1, 0});

    sigset_t s = just(SIGUSR2);
    struct timespec t100 = {0, 100 * 1000000L}, bad = {0, 2000000000L};
    errno = 0;
    double t0 = mono_now();
    int rc = sigtimedwait(&s, NULL, &t100);
    printf("sigtimedwait 100 ms=%d %s waited>=95ms %s\n", rc, errno_name(errno), mono_now() - t0 >= 0.095 ? "yes" : "no");
    errno = 0;
    rc = sigtimedwait(&s, NULL, &bad);
    printf("sigtimedwait bad timeout=%d %s\n", rc, errno_name(errno));
    raise(SIGUSR1);
    int sig = 0;
    sigset_t u1 = just(SIGUSR1);
    rc = sigwait(&u1, &sig);
    printf("sigwait with SIGUSR1 already pending=%d sig=%s\n", rc, sig == SIGUSR1 ? "SIGUSR1" : "?");

    /* sigsuspend on the main thread: a SIGUSR1 sent to the process 50 ms later. */
    pthread_t sender = spawn(send_later, &(struct later){SIGUSR1, 0, 0});
    sigset_t none;
    sigemptyset(&none);
    errno = 0;
    rc = sigsuspend(&none);
    int e = errno;
    pthread_join(sender, NULL);
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, NULL, &now);
    printf("main sigsuspend=%d %s usr1 handled=%d mask restored=%d\n", rc, errno_name(e), atomic_load(&usr1_handled),
           sigismember(&now, SIGUSR1));

    in_thread(do_sigsuspend, &(struct later){SIGUSR2, 1, 0});
    in_thread(do_pause, &(struct later){SIGALRM, 1, 0});

    ticker_stop();
    return 0;
}
