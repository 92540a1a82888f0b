/* pthread_cancel at the cancellation points of blocking calls: a request made while the
 * target is parked in the call ("parked"), and one made before the call, which then would
 * not block ("early": the call must act on it at its start and do nothing).
 *
 *   cancel_points     every scenario, one line each, in a fixed order
 *
 * For an early request the thread meets the main thread at a barrier (not a cancellation
 * point), the main thread cancels it, and they meet again; only then does the thread make
 * the call. What the main thread prints after joining shows that the call did nothing (the
 * byte still in the pipe, the unit still in the semaphore, the child still to be reaped). */
#define _GNU_SOURCE
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/msg.h>
#include <sys/wait.h>

static int handled;
static int returned;
static pthread_barrier_t barrier;
static int pipe_fds[2];
static int sock_fds[2];
static sem_t sem;
static pid_t child;
static int lock_fd;
static char pid_file[64];

static void handler(void *arg) {
    (void)arg;
    handled++;
}

static void check(int rc, const char *what) {
    if (rc != 0) {
        errno = rc;
        DIE("%s", what);
    }
}

static void meet(void) {
    int rc = pthread_barrier_wait(&barrier);
    if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD) DIE("pthread_barrier_wait");
}

/* A blocking call made with the cleanup handler pushed; `returned` says the call came back. */
#define CALL(early, call)                    \
    do {                                     \
        if (early) {                         \
            meet();                          \
            meet();                          \
        }                                    \
        pthread_cleanup_push(handler, NULL); \
        call;                                \
        returned = 1;                        \
        pthread_cleanup_pop(0);              \
    } while (0)

static void *t_read(void *arg) {
    char c;
    CALL(arg != NULL, (void)!read(pipe_fds[0], &c, 1));
    return NULL;
}

static void *t_write(void *arg) {
    char c = 'w';
    CALL(arg != NULL, (void)!write(pipe_fds[1], &c, 1));
    return NULL;
}

/* Fills the pipe; then a write of one byte parks. */
static void *t_write_full(void *arg) {
    static char buf[1 << 16];
    int flags = fcntl(pipe_fds[1], F_GETFL);
    fcntl(pipe_fds[1], F_SETFL, flags | O_NONBLOCK);
    while (write(pipe_fds[1], buf, sizeof buf) > 0) {}
    fcntl(pipe_fds[1], F_SETFL, flags);
    CALL(arg != NULL, (void)!write(pipe_fds[1], buf, 1));
    return NULL;
}

static void *t_sem_wait(void *arg) {
    CALL(arg != NULL, sem_wait(&sem));
    return NULL;
}

static void *t_sem_timedwait(void *arg) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 30;
    CALL(arg != NULL, sem_timedwait(&sem, &ts));
    return NULL;
}

static void *t_waitpid(void *arg) {
    CALL(arg != NULL, waitpid(child, NULL, 0));
    return NULL;
}

static void *t_wait(void *arg) {
    CALL(arg != NULL, wait(NULL));
    return NULL;
}

static void *t_select(void *arg) {
    fd_set set;
    FD_ZERO(&set);
    FD_SET(pipe_fds[0], &set);
    CALL(arg != NULL, select(pipe_fds[0] + 1, &set, NULL, NULL, NULL));
    return NULL;
}

static void *t_poll(void *arg) {
    struct pollfd p = {.fd = pipe_fds[0], .events = POLLIN};
    CALL(arg != NULL, poll(&p, 1, -1));
    return NULL;
}

static void *t_sendmmsg(void *arg) {
    char c = 'm';
    struct iovec iov = {&c, 1};
    struct mmsghdr m = {.msg_hdr = {.msg_iov = &iov, .msg_iovlen = 1}};
    CALL(arg != NULL, sendmmsg(sock_fds[0], &m, 1, 0));
    return NULL;
}

static void *t_recv(void *arg) {
    char c;
    CALL(arg != NULL, recv(sock_fds[1], &c, 1, 0));
    return NULL;
}

static void *t_close(void *arg) {
    CALL(arg != NULL, close(pipe_fds[0]));
    return NULL;
}

static void *t_pause(void *arg) {
    CALL(arg != NULL, pause());
    return NULL;
}

static void *t_sigsuspend(void *arg) {
    sigset_t none;
    sigemptyset(&none);
    CALL(arg != NULL, sigsuspend(&none));
    return NULL;
}

/* glibc marks sigpause deprecated; programs still call it, and it is a cancellation point. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void *t_sigpause(void *arg) {
    CALL(arg != NULL, sigpause(SIGUSR2));
    return NULL;
}

static int msg_queue;

static void *t_msgrcv(void *arg) {
    struct {
        long type;
        char text[16];
    } m;
    CALL(arg != NULL, (void)!msgrcv(msg_queue, &m, sizeof m.text, 0, 0));
    return NULL;
}

static void *t_open(void *arg) {
    CALL(arg != NULL, close(open("/dev/null", O_RDONLY)));
    return NULL;
}

static void *t_lockf(void *arg) {
    CALL(arg != NULL, lockf(lock_fd, F_LOCK, 0));
    return NULL;
}

static void *t_system(void *arg) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "echo $$ > %s; exec sleep 30", pid_file);
    CALL(arg != NULL, (void)!system(cmd));
    return NULL;
}

static pthread_mutex_t held_mutex = PTHREAD_MUTEX_INITIALIZER;

/* A lock wait is no cancellation point; asynchronous cancellation still ends it. */
static void *t_mutex_async(void *arg) {
    (void)arg;
    check(pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL), "pthread_setcanceltype");
    CALL(0, pthread_mutex_lock(&held_mutex));
    return NULL;
}

static void run(const char *name, void *(*fn)(void *), int early) {
    handled = returned = 0;
    pthread_t t;
    if (early) check(pthread_barrier_init(&barrier, NULL, 2), "pthread_barrier_init");
    check(pthread_create(&t, NULL, fn, early ? (void *)1 : NULL), "pthread_create");
    if (early) {
        meet();
        check(pthread_cancel(t), "pthread_cancel");
        meet();
    } else {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
        check(pthread_cancel(t), "pthread_cancel");
    }
    void *ret;
    check(pthread_join(t, &ret), "pthread_join");
    if (early) pthread_barrier_destroy(&barrier);
    printf("%s %s: canceled=%d handler=%d returned=%d", name, early ? "early" : "parked",
           ret == PTHREAD_CANCELED, handled, returned);
}

static void new_pipe(void) {
    if (pipe(pipe_fds) != 0) DIE("pipe");
}

static void close_pipe(void) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
}

/* Bytes waiting in the pipe (a non-blocking drain). */
static int pipe_bytes(void) {
    static char buf[1 << 16];
    fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
    int total = 0;
    ssize_t n;
    while ((n = read(pipe_fds[0], buf, sizeof buf)) > 0) total += (int)n;
    return total;
}

static void pipe_scenarios(void) {
    new_pipe();
    run("read", t_read, 0);
    printf(" left=%d\n", pipe_bytes());
    close_pipe();

    new_pipe();
    if (write(pipe_fds[1], "r", 1) != 1) DIE("write");
    run("read", t_read, 1);
    printf(" left=%d\n", pipe_bytes());
    close_pipe();

    new_pipe();
    run("write", t_write, 1);
    printf(" left=%d\n", pipe_bytes());
    close_pipe();

    new_pipe();
    run("write-full", t_write_full, 0);
    printf("\n");
    close_pipe();

    for (int early = 0; early <= 1; early++) {
        new_pipe();
        if (early && write(pipe_fds[1], "s", 1) != 1) DIE("write");
        run("select", t_select, early);
        printf(" left=%d\n", pipe_bytes());
        close_pipe();

        new_pipe();
        if (early && write(pipe_fds[1], "p", 1) != 1) DIE("write");
        run("poll", t_poll, early);
        printf(" left=%d\n", pipe_bytes());
        close_pipe();
    }

    new_pipe();
    run("close", t_close, 1);
    printf(" still-open=%d\n", fcntl(pipe_fds[0], F_GETFD) >= 0);
    close_pipe();
}

static void sem_scenarios(void) {
    for (int early = 0; early <= 1; early++) {
        sem_init(&sem, 0, early);
        run("sem_wait", t_sem_wait, early);
        int value;
        sem_getvalue(&sem, &value);
        printf(" value=%d\n", value);
        sem_destroy(&sem);

        sem_init(&sem, 0, early);
        run("sem_timedwait", t_sem_timedwait, early);
        sem_getvalue(&sem, &value);
        printf(" value=%d\n", value);
        sem_destroy(&sem);
    }
}

/* A child that exits at once (early) or only when killed (parked). */
static void start_child(int early) {
    child = fork();
    if (child < 0) DIE("fork");
    if (child == 0) {
        if (!early) pause();
        _exit(0);
    }
    if (early) {
        /* Until it is a zombie: waitid with WNOWAIT leaves it to be reaped. */
        siginfo_t info;
        if (waitid(P_PID, (id_t)child, &info, WEXITED | WNOWAIT) != 0) DIE("waitid");
    }
}

/* Whether the child was still there for the main thread to reap. */
static int reap_child(void) {
    kill(child, SIGKILL);
    return waitpid(child, NULL, 0) == child;
}

static void child_scenarios(void) {
    for (int early = 0; early <= 1; early++) {
        start_child(early);
        run("waitpid", t_waitpid, early);
        printf(" reaped-by-main=%d\n", reap_child());

        start_child(early);
        run("wait", t_wait, early);
        printf(" reaped-by-main=%d\n", reap_child());
    }

    snprintf(pid_file, sizeof pid_file, "/tmp/cancel_points.%d", (int)getpid());
    run("system", t_system, 0);
    FILE *f = fopen(pid_file, "r");
    int shell = 0;
    if (f == NULL || fscanf(f, "%d", &shell) != 1) DIE("no shell pid");
    fclose(f);
    unlink(pid_file);
    /* glibc kills the shell and reaps it before the thread unwinds. */
    printf(" shell-reaped=%d\n", kill(shell, 0) != 0 && errno == ESRCH);
}

static void socket_scenarios(void) {
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sock_fds) != 0) DIE("socketpair");
    run("sendmmsg", t_sendmmsg, 1);
    char c;
    printf(" sent=%d\n", recv(sock_fds[1], &c, 1, MSG_DONTWAIT) == 1);
    run("recv", t_recv, 0);
    printf("\n");
    close(sock_fds[0]);
    close(sock_fds[1]);
}

static void signal_scenarios(void) {
    for (int early = 0; early <= 1; early++) {
        run("pause", t_pause, early);
        printf("\n");
        run("sigsuspend", t_sigsuspend, early);
        printf("\n");
        run("sigpause", t_sigpause, early);
        printf("\n");
    }
}

/* An empty System V message queue: msgrcv waits; open only acts on an early request. */
static void other_scenarios(void) {
    msg_queue = msgget(IPC_PRIVATE, 0600 | IPC_CREAT);
    if (msg_queue < 0) DIE("msgget");
    for (int early = 0; early <= 1; early++) {
        run("msgrcv", t_msgrcv, early);
        printf("\n");
    }
    msgctl(msg_queue, IPC_RMID, NULL);
    run("open", t_open, 1);
    printf("\n");
}

/* A lock another process holds until told to let go. */
static void lock_scenario(void) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/cancel_points.lock.%d", (int)getpid());
    lock_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (lock_fd < 0) DIE("open");
    unlink(path);
    int held[2], release[2];
    if (pipe(held) != 0 || pipe(release) != 0) DIE("pipe");
    pid_t holder = fork();
    if (holder < 0) DIE("fork");
    char c = 'x';
    if (holder == 0) {
        if (lockf(lock_fd, F_LOCK, 0) != 0) _exit(1);
        if (write(held[1], &c, 1) != 1 || read(release[0], &c, 1) != 1) _exit(1);
        _exit(0);
    }
    if (read(held[0], &c, 1) != 1) DIE("read");
    run("lockf", t_lockf, 0);
    printf("\n");
    check(pthread_mutex_lock(&held_mutex), "pthread_mutex_lock");
    run("pthread_mutex_lock, asynchronous", t_mutex_async, 0);
    printf("\n");
    check(pthread_mutex_unlock(&held_mutex), "pthread_mutex_unlock");
    if (write(release[1], &c, 1) != 1) DIE("write");
    waitpid(holder, NULL, 0);
    close(lock_fd);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    pipe_scenarios();
    sem_scenarios();
    child_scenarios();
    socket_scenarios();
    signal_scenarios();
    other_scenarios();
    lock_scenario();
    return 0;
}
