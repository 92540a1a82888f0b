/* Signal masks and delivery per thread. Prints the same natively and greened.
 *
 *   signal_masks helper   a helper thread blocks every signal and keeps running; the main
 *                         thread waits in read, select, sleep and sem_wait in turn, and a
 *                         child process sends SIGUSR1 to the process each time: the wait
 *                         ends with EINTR (the read restarts under SA_RESTART) and the
 *                         handler ran in the main thread.
 *   signal_masks kill     pthread_kill to a thread parked in read and to one in nanosleep:
 *                         the handler runs in the target, whose wait returns EINTR; the
 *                         caller's own sleep is not interrupted.
 *   signal_masks masks    masks are per thread: pthread_sigmask reports each thread's own,
 *                         a process SIGUSR1 runs its handler in the one thread that accepts
 *                         it, a new thread inherits its creator's mask, and
 *                         pthread_attr_setsigmask_np sets a new thread's mask.
 *   signal_masks sigwait  the main thread waits in sigwait for SIGUSR2 while another thread
 *                         accepts it (with a handler): the process signal and a pthread_kill
 *                         both go to sigwait. */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

static atomic_int handler_runs, stop_helper;
static pthread_t handled_in;

static void on_signal(int sig) {
    (void)sig;
    handled_in = pthread_self();
    atomic_fetch_add(&handler_runs, 1);
}

static void handle(int sig, int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0) DIE("sigaction");
}

static const char *ename(int e) {
    switch (e) {
    case 0: return "0";
    case EINTR: return "EINTR";
    case EAGAIN: return "EAGAIN";
    case EINVAL: return "EINVAL";
    default: return "other";
    }
}

static pthread_t spawn(void *(*fn)(void *), void *arg) {
    pthread_t t;
    if (pthread_create(&t, NULL, fn, arg) != 0) DIE("pthread_create");
    return t;
}

static int blocks(int sig) {
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, NULL, &now);
    return sigismember(&now, sig);
}

static void block(int how, int sig) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    if (pthread_sigmask(how, &s, NULL) != 0) DIE("pthread_sigmask");
}

/* ---- helper: a thread that blocks everything ---- */

static void *blocking_helper(void *arg) {
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, NULL);
    while (!atomic_load(&stop_helper)) {
        /* Mostly running: greened, it is often the running thread when a signal arrives. */
        for (int i = 0; i < 1000 && !atomic_load(&stop_helper); i++) sched_yield();
        usleep(1000);
    }
    return NULL;
}

/* A child that sends SIGUSR1 to us after 100 ms, then writes a byte to `fd` (if >= 0). */
static pid_t signal_later(int fd) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) DIE("fork");
    if (pid == 0) {
        usleep(100 * 1000);
        kill(parent, SIGUSR1);
        if (fd >= 0) {
            usleep(100 * 1000);
            if (write(fd, "x", 1) != 1) _exit(1);
        }
        _exit(0);
    }
    return pid;
}

static void reap(pid_t pid) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
}

static void report(const char *what, int rc, int e) {
    printf("%s: rc=%d %s handler runs=%d in main=%d\n", what, rc, rc < 0 ? ename(e) : "", atomic_load(&handler_runs),
           pthread_equal(handled_in, pthread_self()));
    atomic_store(&handler_runs, 0);
    handled_in = 0;
}

static int helper_mode(void) {
    int p[2];
    if (pipe(p) != 0) DIE("pipe");
    sem_t sem;
    sem_init(&sem, 0, 0);
    handle(SIGUSR1, 0);
    pthread_t helper = spawn(blocking_helper, NULL);
    usleep(20 * 1000);
    char c;

    pid_t child = signal_later(-1);
    int rc = (int)read(p[0], &c, 1);
    report("read", rc, errno);
    reap(child);

    child = signal_later(-1);
    fd_set r;
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    struct timeval five = {5, 0};
    rc = select(p[0] + 1, &r, NULL, NULL, &five);
    report("select", rc, errno);
    reap(child);

    child = signal_later(-1);
    unsigned left = sleep(5);
    report("sleep", left > 0 ? -1 : 0, EINTR);
    reap(child);

    child = signal_later(-1);
    rc = sem_wait(&sem);
    report("sem_wait", rc, errno);
    reap(child);

    handle(SIGUSR1, SA_RESTART);
    child = signal_later(p[1]);
    rc = (int)read(p[0], &c, 1);
    report("read with SA_RESTART", rc, errno);
    reap(child);

    atomic_store(&stop_helper, 1);
    pthread_join(helper, NULL);
    return 0;
}

/* ---- kill: pthread_kill to a parked thread ---- */

static int kill_pipe[2];
static char result[128];
static pthread_t target;

static void *reader(void *arg) {
    (void)arg;
    char c;
    int rc = (int)read(kill_pipe[0], &c, 1);
    int e = errno;
    snprintf(result, sizeof result, "read=%d %s handler in target=%d", rc, rc < 0 ? ename(e) : "",
             pthread_equal(handled_in, pthread_self()));
    return NULL;
}

static void *sleeper(void *arg) {
    (void)arg;
    struct timespec two = {2, 0};
    int rc = nanosleep(&two, NULL);
    int e = errno;
    snprintf(result, sizeof result, "nanosleep=%d %s handler in target=%d", rc, rc < 0 ? ename(e) : "",
             pthread_equal(handled_in, pthread_self()));
    return NULL;
}

static void *killer(void *arg) {
    (void)arg;
    usleep(50 * 1000);
    int rc = pthread_kill(target, SIGUSR2);
    if (rc != 0) DIE("pthread_kill: %d", rc);
    return NULL;
}

static void kill_one(void *(*fn)(void *)) {
    atomic_store(&handler_runs, 0);
    handled_in = 0;
    target = spawn(fn, NULL);
    pthread_t k = spawn(killer, NULL);
    int slept = usleep(150 * 1000);
    pthread_join(k, NULL);
    pthread_join(target, NULL);
    printf("%s handler runs=%d, main's sleep=%s\n", result, atomic_load(&handler_runs), slept == 0 ? "complete" : ename(errno));
}

static int kill_mode(void) {
    if (pipe(kill_pipe) != 0) DIE("pipe");
    handle(SIGUSR2, 0);
    kill_one(reader);
    kill_one(sleeper);
    return 0;
}

/* ---- masks: per thread ---- */

static atomic_int b_ready;
static char a_line[2][128], b_line[2][128];

static void *report_mask(void *arg) {
    snprintf((char *)arg, 64, "usr1 blocked=%d usr2 blocked=%d", blocks(SIGUSR1), blocks(SIGUSR2));
    return NULL;
}

static void *thread_a(void *arg) {
    (void)arg;
    block(SIG_BLOCK, SIGUSR1);
    snprintf(a_line[0], sizeof a_line[0], "A: usr1 blocked=%d", blocks(SIGUSR1));
    while (!atomic_load(&b_ready)) usleep(1000);
    usleep(20 * 1000);
    /* To the process: only B accepts it. */
    kill(getpid(), SIGUSR1);
    char inherited[64];
    pthread_join(spawn(report_mask, inherited), NULL);
    snprintf(a_line[1], sizeof a_line[1], "A's new thread: %s", inherited);
    return NULL;
}

static void *thread_b(void *arg) {
    (void)arg;
    block(SIG_UNBLOCK, SIGUSR1);
    snprintf(b_line[0], sizeof b_line[0], "B: usr1 blocked=%d", blocks(SIGUSR1));
    atomic_store(&b_ready, 1);
    struct timespec two = {2, 0};
    int rc = nanosleep(&two, NULL);
    int e = errno;
    char inherited[64];
    pthread_join(spawn(report_mask, inherited), NULL);
    snprintf(b_line[1], sizeof b_line[1], "B: nanosleep=%d %s handler runs=%d in B=%d; B's new thread: %s", rc,
             rc < 0 ? ename(e) : "", atomic_load(&handler_runs), pthread_equal(handled_in, pthread_self()), inherited);
    return NULL;
}

static int masks_mode(void) {
    handle(SIGUSR1, 0);
    block(SIG_BLOCK, SIGUSR1);
    pthread_t b = spawn(thread_b, NULL);
    pthread_t a = spawn(thread_a, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("%s\n%s\n%s\n%s\n", a_line[0], b_line[0], a_line[1], b_line[1]);
    printf("main: usr1 blocked=%d\n", blocks(SIGUSR1));

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    sigset_t only_usr2;
    sigemptyset(&only_usr2);
    sigaddset(&only_usr2, SIGUSR2);
    pthread_attr_setsigmask_np(&attr, &only_usr2);
    char with_attr[64];
    pthread_t e;
    if (pthread_create(&e, &attr, report_mask, with_attr) != 0) DIE("pthread_create");
    pthread_join(e, NULL);
    pthread_attr_destroy(&attr);
    printf("thread with an attribute mask: %s\n", with_attr);
    return 0;
}

/* ---- sigwait while another thread accepts the signal ---- */

static pthread_t main_thread;

static void *accepting_sender(void *arg) {
    (void)arg;
    usleep(50 * 1000);
    kill(getpid(), SIGUSR2);
    usleep(50 * 1000);
    pthread_kill(main_thread, SIGUSR2);
    return NULL;
}

static int sigwait_mode(void) {
    handle(SIGUSR2, 0);
    main_thread = pthread_self();
    pthread_t t = spawn(accepting_sender, NULL); /* accepts SIGUSR2: its mask is empty */
    block(SIG_BLOCK, SIGUSR2);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    for (int i = 0; i < 2; i++) {
        int sig = 0;
        int rc = sigwait(&s, &sig);
        printf("sigwait=%d sig=%s handler runs=%d\n", rc, sig == SIGUSR2 ? "SIGUSR2" : "?", atomic_load(&handler_runs));
    }
    pthread_join(t, NULL);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "helper")) return helper_mode();
    if (!strcmp(mode, "kill")) return kill_mode();
    if (!strcmp(mode, "masks")) return masks_mode();
    if (!strcmp(mode, "sigwait")) return sigwait_mode();
    fprintf(stderr, "usage: signal_masks helper|kill|masks|sigwait\n");
    return 2;
}
