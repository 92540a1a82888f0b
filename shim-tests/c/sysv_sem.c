/* System V semaphores: semop and semtimedop wait for the green thread only. Each line is a
 * fact that holds natively and greened alike.
 *
 *   sysv_sem threads   a thread waits in semop for a count that another thread adds 200 ms
 *                      later (greened: on the same OS thread, which a wait in the kernel
 *                      would hang); a semtimedop times out with EAGAIN; a handler ends a
 *                      wait with EINTR, SA_RESTART or not; errors as the kernel gives them
 *   sysv_sem alone     the main thread alone: the timeout, EINTR from an alarm, and a count
 *                      a forked child adds 200 ms later */
#define _GNU_SOURCE
#include "common.h"

#include <signal.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/wait.h>

static int set_id;

static void op(int id, short delta, short flags, int *rc, int *err) {
    struct sembuf b = {.sem_num = 0, .sem_op = delta, .sem_flg = flags};
    errno = 0;
    *rc = semop(id, &b, 1);
    *err = errno;
}

static void *post_later(void *arg) {
    usleep((useconds_t)(long)arg * 1000);
    int rc, e;
    op(set_id, 1, 0, &rc, &e);
    return NULL;
}

static void on_signal(int sig) { (void)sig; }

static void report(const char *what, int rc, int e, double took, double at_least) {
    printf("%s=%d %s waited=%s\n", what, rc, rc == 0 ? "" : errno_name(e), took >= at_least ? "yes" : "no");
}

static void timeout_case(void) {
    struct sembuf b = {.sem_num = 0, .sem_op = -1, .sem_flg = 0};
    struct timespec ts = {0, 100000000};
    double start = mono_now();
    errno = 0;
    int rc = semtimedop(set_id, &b, 1, &ts);
    int e = errno;
    report("semtimedop 100ms", rc, e, mono_now() - start, 0.1);
}

/* "what=rc ERRNO", errno read after the call that gave rc. */
static void show(const char *what, int rc) {
    int e = errno;
    printf("%s=%d %s\n", what, rc, rc == 0 ? "" : errno_name(e));
    errno = 0;
}

static void errors(void) {
    struct sembuf b = {.sem_num = 0, .sem_op = -1, .sem_flg = 0};
    struct timespec bad = {0, 1000000000};
    show("bad id", semop(-1, &b, 1));
    show("no ops", semop(set_id, &b, 0));
    show("ops NULL", semop(set_id, NULL, 1));
    show("bad timeout", semtimedop(set_id, &b, 1, &bad));
    show("timeout NULL ptr", semtimedop(set_id, &b, 1, (struct timespec *)8));
    b.sem_num = 5;
    show("bad sem_num", semop(set_id, &b, 1));
    b.sem_num = 0;
    b.sem_flg = IPC_NOWAIT;
    show("nowait empty", semop(set_id, &b, 1));
}

/* A child adds 1 with SEM_UNDO and exits: the kernel takes it back. */
static void undo_case(void) {
    pid_t pid = fork();
    if (pid == 0) {
        struct sembuf b = {.sem_num = 0, .sem_op = 1, .sem_flg = SEM_UNDO};
        _exit(semop(set_id, &b, 1) == 0 ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("undo: child=%d value_after=%d\n", status, semctl(set_id, 0, GETVAL));
}

static pthread_t main_thread;

static void *poke_main(void *arg) {
    usleep((useconds_t)(long)arg * 1000);
    pthread_kill(main_thread, SIGUSR1);
    return NULL;
}

static void eintr_case(int flags) {
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = flags};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t t;
    pthread_create(&t, NULL, poke_main, (void *)100L);
    double start = mono_now();
    int rc, e;
    op(set_id, -1, 0, &rc, &e);
    report(flags ? "eintr SA_RESTART" : "eintr", rc, e, mono_now() - start, 0.1);
    pthread_join(t, NULL);
}

static void threads(void) {
    main_thread = pthread_self();
    ticker_start(2000);
    pthread_t t;
    pthread_create(&t, NULL, post_later, (void *)200L);
    double start = mono_now();
    int rc, e;
    op(set_id, -1, 0, &rc, &e);
    double took = mono_now() - start;
    pthread_join(t, NULL);
    int ticks = ticker_ticks();
    report("wait for a thread's post", rc, e, took, 0.19);
    printf("ticked meanwhile=%s\n", ticks >= 20 ? "yes" : "no");
    timeout_case();
    eintr_case(0);
    eintr_case(SA_RESTART);
    ticker_stop();
    errors();
    undo_case();
}

static void on_alarm(int sig) { (void)sig; }

static void alone(void) {
    timeout_case();
    struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    ualarm(100000, 0);
    double start = mono_now();
    int rc, e;
    op(set_id, -1, 0, &rc, &e);
    report("alarm", rc, e, mono_now() - start, 0.1);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        usleep(200000);
        op(set_id, 1, 0, &rc, &e);
        _exit(rc == 0 ? 0 : 1);
    }
    start = mono_now();
    op(set_id, -1, 0, &rc, &e);
    double took = mono_now() - start;
    int status;
    waitpid(pid, &status, 0);
    report("wait for a child's post", rc, e, took, 0.19);
    printf("poster=%d\n", status);
    errors();
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *what = argc > 1 ? argv[1] : "";
    set_id = semget(IPC_PRIVATE, 1, 0600);
    if (set_id < 0) DIE("semget");
    if (!strcmp(what, "threads")) threads();
    else if (!strcmp(what, "alone")) alone();
    else {
        semctl(set_id, 0, IPC_RMID);
        fprintf(stderr, "usage: sysv_sem threads|alone\n");
        return 2;
    }
    semctl(set_id, 0, IPC_RMID);
    printf("done\n");
    return 0;
}
