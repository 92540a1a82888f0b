/* The short ways of installing a handler, which glibc builds on its internal sigaction and
 * sigprocmask: signal, bsd_signal, ssignal, sysv_signal, sigset, sigignore, siginterrupt.
 * Each case prints a line; the output is the same natively and greened.
 *
 *   legacy_handlers alone     the main thread is the only thread
 *   legacy_handlers threads   a second thread sleeps in read() throughout, so that every
 *                             blocking call of the main thread waits as a green thread
 *
 * The classic timeout: siginterrupt(SIGALRM, 1) (or sysv_signal, or sigset), an alarm,
 * then a read of a pipe nobody writes must fail with EINTR when the alarm's handler has
 * run, not wait forever. With SA_RESTART the read goes on and returns the byte a forked
 * child writes later. */
#define _GNU_SOURCE
#include "common.h"
#include <signal.h>
#include <sys/wait.h>

/* The calls are what the test is about, deprecated or not. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

extern __sighandler_t bsd_signal(int, __sighandler_t);
extern __sighandler_t ssignal(int, __sighandler_t);

static volatile sig_atomic_t handled;
static void on_signal(int sig) { (void)sig; handled++; }

static const char *name_of(__sighandler_t h) {
    if (h == SIG_DFL) return "dfl";
    if (h == SIG_IGN) return "ign";
    if (h == SIG_ERR) return "err";
    if (h == SIG_HOLD) return "hold";
    if (h == on_signal) return "handler";
    return "other";
}

static const char *err_name(int e) {
    return e == EINTR ? "EINTR" : e == EINVAL ? "EINVAL" : e == 0 ? "0" : strerror(e);
}

/* A call's answer and errno, read after the call (printf's arguments have no order). */
static void show_refusal(const char *label, __sighandler_t answer) {
    int e = errno;
    printf("%s=%s errno=%s\n", label, name_of(answer), err_name(e));
}

static void show_status(const char *label, int answer) {
    int e = errno;
    printf("%s=%d errno=%s\n", label, answer, err_name(e));
}

/* The action the program sees for `sig`: handler, SA_RESTART, SA_RESETHAND, SA_NODEFER, and
 * whether the signal blocks itself while its handler runs. */
static void show_action(const char *label, int sig) {
    struct sigaction sa;
    if (sigaction(sig, NULL, &sa) != 0) DIE("sigaction");
    printf("%s: handler=%s restart=%d resethand=%d nodefer=%d masks_itself=%d\n", label,
           name_of(sa.sa_handler), !!(sa.sa_flags & SA_RESTART), !!(sa.sa_flags & SA_RESETHAND),
           !!(sa.sa_flags & SA_NODEFER), sigismember(&sa.sa_mask, sig));
}

static int blocked(int sig) {
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, NULL, &now);
    return sigismember(&now, sig);
}

/* A read of an empty pipe while SIGALRM comes 100 ms in; a forked child writes a byte at
 * 600 ms (if `writer`), so that a restarted read ends too. */
static void timed_read(const char *label, int writer) {
    int p[2];
    if (pipe(p) != 0) DIE("pipe");
    pid_t child = -1;
    if (writer) {
        child = fork();
        if (child < 0) DIE("fork");
        if (child == 0) {
            usleep(600000);
            if (write(p[1], "x", 1) != 1) _exit(1);
            _exit(0);
        }
    }
    handled = 0;
    ualarm(100000, 0);
    char c;
    errno = 0;
    ssize_t r = read(p[0], &c, 1);
    int e = r < 0 ? errno : 0;
    printf("%s: read=%zd errno=%s handled=%d\n", label, r, err_name(e), handled);
    if (child > 0) {
        int status;
        if (waitpid(child, &status, 0) != child || status != 0) DIE("writer");
    }
    close(p[0]);
    close(p[1]);
}

static void siginterrupt_cases(void) {
    signal(SIGALRM, on_signal);
    show_action("signal", SIGALRM);
    timed_read("signal, alarm", 1);
    printf("siginterrupt(1)=%d\n", siginterrupt(SIGALRM, 1));
    show_action("after siginterrupt(1)", SIGALRM);
    timed_read("siginterrupt(1), alarm", 0);
    /* signal() remembers siginterrupt's choice for the signal. */
    signal(SIGALRM, SIG_DFL);
    signal(SIGALRM, on_signal);
    show_action("signal again", SIGALRM);
    printf("siginterrupt(0)=%d\n", siginterrupt(SIGALRM, 0));
    show_action("after siginterrupt(0)", SIGALRM);
    timed_read("siginterrupt(0), alarm", 1);
    errno = 0;
    show_status("siginterrupt(bad)", siginterrupt(0, 1));
}

static void spelling_cases(void) {
    printf("bsd_signal old=%s\n", name_of(bsd_signal(SIGALRM, on_signal)));
    show_action("bsd_signal", SIGALRM);
    timed_read("bsd_signal, alarm", 1);
    printf("ssignal old=%s\n", name_of(ssignal(SIGALRM, on_signal)));
    show_action("ssignal", SIGALRM);
    printf("sysv_signal old=%s\n", name_of(sysv_signal(SIGALRM, on_signal)));
    show_action("sysv_signal", SIGALRM);
    timed_read("sysv_signal, alarm", 0);
    /* The handler ran once: the disposition is back to SIG_DFL. */
    show_action("sysv_signal after it ran", SIGALRM);
}

static void sigset_cases(void) {
    __sighandler_t first = sigset(SIGUSR1, on_signal);
    printf("sigset(handler) old=%s blocked=%d\n", name_of(first), blocked(SIGUSR1));
    show_action("sigset", SIGUSR1);
    __sighandler_t held = sigset(SIGUSR1, SIG_HOLD);
    printf("sigset(hold) old=%s blocked=%d\n", name_of(held), blocked(SIGUSR1));
    handled = 0;
    raise(SIGUSR1);
    sigset_t pending;
    sigpending(&pending);
    printf("raised while held: handled=%d pending=%d\n", handled, sigismember(&pending, SIGUSR1));
    printf("sigset(hold) again old=%s\n", name_of(sigset(SIGUSR1, SIG_HOLD)));
    __sighandler_t old = sigset(SIGUSR1, on_signal); /* the held signal is delivered here */
    printf("sigset(handler) old=%s blocked=%d handled=%d\n", name_of(old), blocked(SIGUSR1), handled);
    sigset(SIGALRM, on_signal);
    timed_read("sigset, alarm", 0);
    errno = 0;
    show_refusal("sigset(33) old", sigset(33, on_signal));
}

static void ignore_and_error_cases(void) {
    printf("sigignore=%d\n", sigignore(SIGUSR2));
    show_action("sigignore", SIGUSR2);
    raise(SIGUSR2); /* ignored: the process lives on */
    errno = 0;
    show_status("sigignore(SIGKILL)", sigignore(SIGKILL));
    errno = 0;
    show_refusal("signal(0)", signal(0, on_signal));
    errno = 0;
    show_refusal("signal(32)", signal(32, on_signal));
    errno = 0;
    show_refusal("signal(65)", signal(65, on_signal));
    errno = 0;
    show_refusal("signal(SIG_ERR)", signal(SIGUSR1, SIG_ERR));
    errno = 0;
    show_refusal("signal(SIGKILL)", signal(SIGKILL, on_signal));
    errno = 0;
    show_refusal("bsd_signal(32)", bsd_signal(32, on_signal));
    errno = 0;
    show_refusal("sysv_signal(0)", sysv_signal(0, on_signal));
}

static int quit_pipe[2];

static void *sleeper(void *arg) {
    (void)arg;
    char c;
    while (read(quit_pipe[0], &c, 1) < 0 && errno == EINTR) {
    }
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 && strcmp(argv[1], "threads") == 0;
    if (argc != 2 || (!threads && strcmp(argv[1], "alone") != 0)) {
        fprintf(stderr, "usage: legacy_handlers alone|threads\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_t t;
    if (threads) {
        /* The signals are the main thread's: the sleeper never takes them. */
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, NULL);
        if (pipe(quit_pipe) != 0) DIE("pipe");
        if (pthread_create(&t, NULL, sleeper, NULL) != 0) DIE("pthread_create");
        pthread_sigmask(SIG_UNBLOCK, &all, NULL);
    }
    siginterrupt_cases();
    spelling_cases();
    sigset_cases();
    ignore_and_error_cases();
    if (threads) {
        close(quit_pipe[1]);
        pthread_join(t, NULL);
    }
    return 0;
}
