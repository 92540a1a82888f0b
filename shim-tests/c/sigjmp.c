/* siglongjmp and longjmp out of signal handlers: the handler is left for good, the mask the
 * jump restores is the thread's (or, without a saved mask, the handler's stays), and every
 * blocking call afterwards still behaves: threads made afterwards are threads, a read that
 * a SIGALRM timeout jumped out of leaves nothing behind and the next read gets its bytes. */
#include "common.h"
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>

static sigjmp_buf main_env, worker_env;
static volatile sig_atomic_t hits;
static int pipe_fds[2];

static void jump_main(int signal) {
    (void)signal;
    hits++;
    siglongjmp(main_env, 1);
}

static void jump_worker(int signal) {
    (void)signal;
    siglongjmp(worker_env, 1);
}

static int os_threads(void) {
    DIR *dir = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    while (dir && (e = readdir(dir)))
        n += e->d_name[0] != '.';
    if (dir)
        closedir(dir);
    return n;
}

static int blocked(int signal) {
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, NULL, &now);
    return sigismember(&now, signal);
}

static void *sleeper(void *arg) {
    usleep(200000);
    return arg;
}

/* A read with an alarm() timeout, the classic way: the handler jumps out of the read. */
static void *timed_reader(void *arg) {
    (void)arg;
    sigset_t alarm_only;
    sigemptyset(&alarm_only);
    sigaddset(&alarm_only, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &alarm_only, NULL); /* main blocks it: ours alone */
    char buf[16] = { 0 };
    const char *volatile how = "not run";
    if (sigsetjmp(worker_env, 1) == 0) {
        alarm(1);
        ssize_t n = read(pipe_fds[0], buf, sizeof buf);
        alarm(0);
        how = n < 0 ? "read failed" : "read returned";
    } else {
        how = "timed out";
    }
    printf("worker: first read %s, SIGALRM blocked after=%d\n", how, blocked(SIGALRM));
    fflush(stdout);
    if (write(pipe_fds[1], "late", 4) != 4)
        DIE("write");
    ssize_t n = read(pipe_fds[0], buf, sizeof buf);
    printf("worker: next read got %zd bytes: %.4s\n", n, buf);
    return NULL;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = jump_main;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = jump_worker;
    sigaction(SIGALRM, &sa, NULL);

    for (volatile int i = 0; i < 3; i++)
        if (sigsetjmp(main_env, 1) == 0)
            raise(SIGUSR1);
    printf("main: handler left by siglongjmp %d times, SIGUSR1 blocked after=%d\n", (int)hits, blocked(SIGUSR1));

    /* After the jumps, blocking calls and thread creation are as before. */
    pthread_t threads[20];
    double start = mono_now();
    for (long i = 0; i < 20; i++)
        if (pthread_create(&threads[i], NULL, sleeper, (void *)i) != 0)
            DIE("pthread_create");
    int extra_os_threads = os_threads() > 1;
    long sum = 0;
    for (int i = 0; i < 20; i++) {
        void *r;
        pthread_join(threads[i], &r);
        sum += (long)r;
    }
    printf("main: 20 sleepers overlapped=%d sum=%ld, more than one os thread=%d\n", mono_now() - start < 2.0, sum,
           extra_os_threads);

    if (pipe(pipe_fds) != 0)
        DIE("pipe");
    sigset_t alarm_only;
    sigemptyset(&alarm_only);
    sigaddset(&alarm_only, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &alarm_only, NULL);
    pthread_t reader;
    pthread_create(&reader, NULL, timed_reader, NULL);
    pthread_join(reader, NULL);

    /* longjmp out of a handler without a saved mask: the handler's mask stays. */
    if (sigsetjmp(main_env, 0) == 0)
        raise(SIGUSR1);
    printf("main: after a jump without a saved mask, SIGUSR1 blocked=%d\n", blocked(SIGUSR1));
    return 0;
}
