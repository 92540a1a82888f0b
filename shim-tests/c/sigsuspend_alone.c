/* sigsuspend in a process with one thread, whose only wait is sigsuspend: signals from a
 * child process. The handler runs inside the call with the call's mask (plus its own
 * signal), the call returns -1 EINTR, the mask comes back, and a signal the call's mask
 * blocked stays pending until a later sigsuspend unblocks it. Last, a handler leaves a
 * sigsuspend with siglongjmp: the mask sigsetjmp saved is back, and a signal it does not
 * block (but the call's did) is handled at once when raised. Prints the same natively and
 * greened. */
#define _GNU_SOURCE
#include "common.h"

#include <setjmp.h>
#include <signal.h>
#include <sys/wait.h>

static sigjmp_buf out;
static volatile sig_atomic_t jump_out;

static volatile sig_atomic_t usr1_runs, usr2_runs, usr1_saw_usr1_blocked, usr1_saw_usr2_blocked;

static void on_usr1(int sig) {
    (void)sig;
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    usr1_saw_usr1_blocked = sigismember(&now, SIGUSR1);
    usr1_saw_usr2_blocked = sigismember(&now, SIGUSR2);
    usr1_runs = usr1_runs + 1;
    if (jump_out)
        siglongjmp(out, 1);
}

/* A child that sends `sig` to the parent after 50 ms. */
static pid_t send_later(int sig) {
    pid_t parent = getpid(), child = fork();
    if (child < 0) DIE("fork");
    if (child == 0) {
        usleep(50 * 1000);
        kill(parent, sig);
        _exit(0);
    }
    return child;
}

static void on_usr2(int sig) {
    (void)sig;
    usr2_runs = usr2_runs + 1;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    if (sigaction(SIGUSR1, &sa, NULL) != 0) DIE("sigaction");
    sa.sa_handler = on_usr2;
    if (sigaction(SIGUSR2, &sa, NULL) != 0) DIE("sigaction");
    sigset_t both, only_usr2, none, now;
    sigemptyset(&both);
    sigaddset(&both, SIGUSR1);
    sigaddset(&both, SIGUSR2);
    sigemptyset(&only_usr2);
    sigaddset(&only_usr2, SIGUSR2);
    sigemptyset(&none);
    if (sigprocmask(SIG_BLOCK, &both, NULL) != 0) DIE("sigprocmask");
    pid_t parent = getpid(), child = fork();
    if (child < 0) DIE("fork");
    if (child == 0) {
        usleep(50 * 1000);
        kill(parent, SIGUSR2);
        usleep(20 * 1000);
        kill(parent, SIGUSR1);
        _exit(0);
    }
    errno = 0;
    int rc = sigsuspend(&only_usr2);
    int e = errno;
    sigprocmask(SIG_BLOCK, NULL, &now);
    sigset_t pending;
    sigpending(&pending);
    printf("first sigsuspend=%d %s usr1 runs=%d usr2 runs=%d; in the handler usr1 blocked=%d usr2 blocked=%d\n", rc,
           errno_name(e), usr1_runs, usr2_runs, usr1_saw_usr1_blocked, usr1_saw_usr2_blocked);
    printf("after: usr1 blocked=%d usr2 blocked=%d usr2 pending=%d\n", sigismember(&now, SIGUSR1),
           sigismember(&now, SIGUSR2), sigismember(&pending, SIGUSR2));
    errno = 0;
    rc = sigsuspend(&none);
    e = errno;
    sigpending(&pending);
    printf("second sigsuspend=%d %s usr1 runs=%d usr2 runs=%d usr2 pending=%d\n", rc, errno_name(e), usr1_runs,
           usr2_runs, sigismember(&pending, SIGUSR2));
    int status;
    if (waitpid(child, &status, 0) != child) DIE("waitpid");

    sigset_t only_usr1;
    sigemptyset(&only_usr1);
    sigaddset(&only_usr1, SIGUSR1);
    if (sigprocmask(SIG_SETMASK, &only_usr1, NULL) != 0) DIE("sigprocmask");
    jump_out = 1;
    child = send_later(SIGUSR1);
    if (sigsetjmp(out, 1) == 0) {
        sigsuspend(&only_usr2);
        printf("sigsuspend returned instead of jumping\n");
    }
    jump_out = 0;
    sigprocmask(SIG_BLOCK, NULL, &now);
    int before = usr2_runs;
    raise(SIGUSR2);
    int at_once = usr2_runs - before;
    printf("jumped out: usr1 blocked=%d usr2 blocked=%d; usr2 raised, handled at once=%d\n",
           sigismember(&now, SIGUSR1), sigismember(&now, SIGUSR2), at_once);
    if (waitpid(child, &status, 0) != child) DIE("waitpid");
    return 0;
}
