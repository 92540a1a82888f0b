/* Signal cases glibc's own tests check (nptl/tst-eintr5, tst-exec4, tst-signal3,
 * tst-pthread-attr-sigmask), small enough to compare natively and greened.
 *
 *   sig_cases cond-eintr         a thread waits once in pthread_cond_wait while another
 *                                sends it SIGUSR1 five times, then signals the condition:
 *                                the wait returns only then. Prints handled=5 flag_set=1.
 *   sig_cases cond-eintr-signal  SIGUSR1 to the waiter and, at once after, a signal of the
 *                                condition: the signal is not lost. Prints woken=1. */
#include "common.h"
#include <signal.h>

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

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "cond-eintr")) return cond_eintr();
    if (!strcmp(what, "cond-eintr-signal")) return cond_eintr_signal();
    fprintf(stderr, "usage: sig_cases CASE\n");
    return 2;
}
