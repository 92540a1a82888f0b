/* Signal cases glibc's own tests check (nptl/tst-eintr5, tst-exec4, tst-signal3,
 * tst-pthread-attr-sigmask), small enough to compare natively and greened.
 *
 *   sig_cases cond-eintr         a thread waits once in pthread_cond_wait while another
 *                                sends it SIGUSR1 five times, then signals the condition:
 *                                the wait returns only then. Prints handled=5 flag_set=1.
 *   sig_cases cond-eintr-signal  SIGUSR1 to the waiter and, at once after, a signal of the
 *                                condition: the signal is not lost. Prints woken=1.
 *   sig_cases exec-mask          a thread blocks SIGUSR2 and execs this program, which
 *                                reports its mask (nptl/tst-exec4). Prints usr2_blocked=1.
 *   sig_cases legacy-mask        sigblock, sigsetmask, sighold and sigrelse
 *                                change the mask pthread_sigmask reports.
 *   sig_cases handler-self       a process signal every thread blocks becomes pending; a
 *                                thread unblocks it, and its handler's pthread_self is that
 *                                thread (nptl/tst-signal3). Prints in_thread=1.
 *   sig_cases default-attr-mask  a thread created without an attribute takes the mask of
 *                                the default one (pthread_setattr_default_np;
 *                                nptl/tst-pthread-attr-sigmask). Prints hup=1 usr1=0. */
#define _GNU_SOURCE /* sighold, sigrelse */
#include "common.h"
#include <signal.h>

/* sigblock and sigsetmask are what the test is about, deprecated or not. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static volatile sig_atomic_t handled;
static void on_usr1(int sig) { (void)sig; handled++; }

static void install_usr1(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0) DIE("sigaction");
}

/* ---- cond-eintr, cond-eintr-signal ---- */
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int flag, waiting, woken;

static void *cond_waiter(void *arg) {
    (void)arg;
    pthread_mutex_lock(&m);
    waiting = 1;
    pthread_cond_wait(&c, &m); /* once: a return before the flag is set would be spurious */
    woken = 1;
    int seen = flag;
    pthread_mutex_unlock(&m);
    return (void *)(long)seen;
}

static pthread_t start_waiter(void) {
    install_usr1();
    pthread_t t;
    if (pthread_create(&t, NULL, cond_waiter, NULL) != 0) DIE("pthread_create");
    for (;;) { /* until it waits (it holds the mutex until then) */
        pthread_mutex_lock(&m);
        int w = waiting;
        pthread_mutex_unlock(&m);
        if (w) break;
        usleep(1000);
    }
    return t;
}

static int cond_eintr(void) {
    pthread_t t = start_waiter();
    for (int i = 0; i < 5; i++) {
        pthread_kill(t, SIGUSR1);
        usleep(20 * 1000);
    }
    pthread_mutex_lock(&m);
    flag = 1;
    pthread_cond_signal(&c);
    pthread_mutex_unlock(&m);
    void *seen;
    pthread_join(t, &seen);
    printf("handled=%d flag_set=%ld\n", (int)handled, (long)seen);
    return 0;
}

static int cond_eintr_signal(void) {
    pthread_t t = start_waiter();
    pthread_mutex_lock(&m);
    pthread_kill(t, SIGUSR1);
    flag = 1;
    pthread_cond_signal(&c);
    pthread_mutex_unlock(&m);
    void *seen;
    pthread_join(t, &seen);
    printf("woken=%d flag_set=%ld\n", woken, (long)seen);
    return 0;
}

/* ---- exec-mask, legacy-mask ---- */
static int blocked(int sig) {
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, NULL, &now);
    return sigismember(&now, sig);
}

static void *exec_self(void *arg) {
    (void)arg;
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &usr2, NULL);
    char *argv[] = {"sig_cases", "exec-report", NULL};
    execv("/proc/self/exe", argv); /* execl is beyond a preload's reach (README, Limits) */
    DIE("execv");
}

static int exec_mask(void) {
    pthread_t t;
    if (pthread_create(&t, NULL, exec_self, NULL) != 0) DIE("pthread_create");
    pthread_join(t, NULL);
    return 1;
}

/* The old-style mask bit (glibc's sigmask macro, deprecated). */
#define OLD(sig) (1 << ((sig) - 1))

static int legacy_mask(void) {
    int old = sigblock(OLD(SIGUSR1));
    printf("sigblock: usr1=%d old_usr1=%d\n", blocked(SIGUSR1), (old & OLD(SIGUSR1)) != 0);
    printf("sigblock(0): usr1=%d\n", (sigblock(0) & OLD(SIGUSR1)) != 0);
    old = sigsetmask(OLD(SIGUSR2));
    printf("sigsetmask: usr1=%d usr2=%d old_usr1=%d\n", blocked(SIGUSR1), blocked(SIGUSR2),
           (old & OLD(SIGUSR1)) != 0);
    sighold(SIGHUP);
    printf("sighold: hup=%d\n", blocked(SIGHUP));
    sigrelse(SIGHUP);
    printf("sigrelse: hup=%d\n", blocked(SIGHUP));
    errno = 0;
    int r = sighold(0);
    printf("sighold(0)=%d errno=%d\n", r, errno);
    return 0;
}

/* ---- handler-self, default-attr-mask ---- */
static pthread_t unblocker;
static volatile sig_atomic_t in_thread = -1;
static void on_usr1_self(int sig) { (void)sig; in_thread = pthread_equal(pthread_self(), unblocker); }

static void *unblock_usr1(void *arg) {
    (void)arg;
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
    return NULL;
}

static int handler_self(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1_self;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0) DIE("sigaction");
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, NULL);
    kill(getpid(), SIGUSR1); /* pending: every thread blocks it */
    if (pthread_create(&unblocker, NULL, unblock_usr1, NULL) != 0) DIE("pthread_create");
    pthread_join(unblocker, NULL);
    printf("in_thread=%d\n", (int)in_thread);
    return 0;
}

static void *report_mask(void *arg) {
    (void)arg;
    printf("hup=%d usr1=%d\n", blocked(SIGHUP), blocked(SIGUSR1));
    return NULL;
}

static int default_attr_mask(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_SETMASK, &set, NULL); /* what a thread would inherit */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    if (pthread_attr_setsigmask_np(&attr, &set) != 0) DIE("pthread_attr_setsigmask_np");
    if (pthread_setattr_default_np(&attr) != 0) DIE("pthread_setattr_default_np");
    pthread_attr_destroy(&attr);
    pthread_t t;
    if (pthread_create(&t, NULL, report_mask, NULL) != 0) DIE("pthread_create");
    pthread_join(t, NULL);
    return 0;
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "cond-eintr")) return cond_eintr();
    if (!strcmp(what, "cond-eintr-signal")) return cond_eintr_signal();
    if (!strcmp(what, "exec-mask")) return exec_mask();
    if (!strcmp(what, "exec-report")) return printf("usr2_blocked=%d\n", blocked(SIGUSR2)) < 0;
    if (!strcmp(what, "legacy-mask")) return legacy_mask();
    if (!strcmp(what, "handler-self")) return handler_self();
    if (!strcmp(what, "default-attr-mask")) return default_attr_mask();
    fprintf(stderr, "usage: sig_cases CASE\n");
    return 2;
}
