/* Waiting for children parks only the waiting thread: a ticker thread keeps running while
 * waitpid, wait, wait4, waitid and system wait, and every call reports what it does
 * natively (statuses, WNOHANG, ECHILD, EINTR without SA_RESTART, restart with it). */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int ticks;
static volatile int stop_ticking;

static void *ticker(void *arg) {
    (void)arg;
    while (!stop_ticking) {
        usleep(10 * 1000);
        ticks++;
    }
    return NULL;
}

/* A child that sleeps `ms` and exits with `code`. */
static pid_t child(int ms, int code) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) DIE("fork");
    if (pid == 0) {
        usleep(ms * 1000);
        _exit(code);
    }
    return pid;
}

/* Ticks seen during `what`: at least 5 over 200 ms proves the waiter did not block them. */
#define TICKING(what) do { int before = ticks; what; printf("ticked=%d ", ticks - before >= 5); } while (0)

static void on_alarm(int sig) { (void)sig; }

int main(void) {
    pthread_t tick;
    pthread_create(&tick, NULL, ticker, NULL);
    int status;

    pid_t pid = child(200, 7);
    printf("waitpid WNOHANG=%d\n", waitpid(pid, &status, WNOHANG));
    pid_t got;
    TICKING(got = waitpid(pid, &status, 0));
    printf("waitpid=%d exit=%d\n", got == pid, WEXITSTATUS(status));

    child(200, 8);
    TICKING(got = wait(&status));
    printf("wait=%d exit=%d\n", got > 0, WEXITSTATUS(status));

    pid = child(200, 9);
    struct rusage usage;
    TICKING(got = wait4(pid, &status, 0, &usage));
    printf("wait4=%d exit=%d\n", got == pid, WEXITSTATUS(status));

    pid = child(200, 10);
    siginfo_t info = {0};
    int result;
    TICKING(result = waitid(P_PID, (id_t)pid, &info, WEXITED));
    printf("waitid=%d pid_ok=%d status=%d code_exited=%d\n", result, info.si_pid == pid,
           info.si_status, info.si_code == CLD_EXITED);

    TICKING(result = system("sleep 0.2; exit 5"));
    printf("system=%d\n", WEXITSTATUS(result));
    printf("system(NULL)=%d\n", system(NULL) != 0);

    got = waitpid(-1, &status, 0);
    printf("waitpid no child=%d %s\n", got, errno_name(errno));

    struct sigaction action = {0};
    action.sa_handler = on_alarm;
    sigemptyset(&action.sa_mask);
    sigaction(SIGALRM, &action, NULL);
    pid = child(300, 11);
    struct itimerval timer = {.it_value = {.tv_usec = 100 * 1000}};
    setitimer(ITIMER_REAL, &timer, NULL);
    got = waitpid(pid, &status, 0);
    printf("waitpid interrupted=%d %s\n", got, errno_name(errno));
    action.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &action, NULL);
    setitimer(ITIMER_REAL, &timer, NULL);
    got = waitpid(pid, &status, 0);
    printf("waitpid restarted=%d exit=%d\n", got == pid, WEXITSTATUS(status));

    stop_ticking = 1;
    pthread_join(tick, NULL);
    return 0;
}
