/* Signal handlers under the shim: a handler runs on whatever stack it interrupted, so the
 * blocking calls it makes (write, usleep) must be the plain libc calls, and sigaction must
 * report the program's own handlers back, not a wrapper. */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

static int pipe_fds[2];
static volatile sig_atomic_t handled_info, handled_plain;

static void on_usr1(int sig, siginfo_t *info, void *context) {
    (void)context;
    usleep(1000); /* blocking call inside a handler */
    char byte = (char)sig;
    if (write(pipe_fds[1], &byte, 1) == 1 && info->si_signo == sig) handled_info++;
}

static void on_usr2(int sig) {
    (void)sig;
    handled_plain++;
}

static void *raiser(void *arg) {
    (void)arg;
    for (int i = 0; i < 5; i++) {
        raise(SIGUSR1);
        usleep(2000);
    }
    raise(SIGUSR2);
    return NULL;
}

int main(void) {
    if (pipe(pipe_fds) != 0) DIE("pipe");
    struct sigaction action = {0}, old = {0};
    action.sa_sigaction = on_usr1;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGUSR1, &action, NULL) != 0) DIE("sigaction");
    if (sigaction(SIGUSR1, NULL, &old) != 0) DIE("sigaction query");
    printf("reported_handler_is_ours=%d siginfo=%d\n", old.sa_sigaction == on_usr1,
           (old.sa_flags & SA_SIGINFO) != 0);
    void (*previous)(int) = signal(SIGUSR2, on_usr2);
    printf("previous_usr2_default=%d\n", previous == SIG_DFL);
    if (sigaction(SIGUSR2, NULL, &old) != 0) DIE("sigaction query 2");
    printf("reported_usr2=%d siginfo=%d\n", old.sa_handler == on_usr2, (old.sa_flags & SA_SIGINFO) != 0);

    pthread_t thread;
    if (pthread_create(&thread, NULL, raiser, NULL) != 0) DIE("pthread_create");
    char bytes[5];
    size_t got = 0;
    while (got < sizeof bytes) {
        ssize_t n = read(pipe_fds[0], bytes + got, sizeof bytes - got);
        if (n <= 0) DIE("read");
        got += (size_t)n;
    }
    pthread_join(thread, NULL);
    printf("bytes=%zu handled_info=%d handled_plain=%d\n", got, (int)handled_info, (int)handled_plain);
    signal(SIGUSR2, SIG_DFL);
    printf("back_to_default=%d\n", signal(SIGUSR2, SIG_IGN) == SIG_DFL);
    return 0;
}
