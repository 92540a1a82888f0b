/* A process with one thread waiting for a pipe: data from another process, a handler
 * without SA_RESTART (EINTR), one with SA_RESTART (the read goes on), and a handler that
 * creates the thread that writes; then writes: one larger than the pipe holds, taken whole
 * as another process drains it, and one into a full pipe that a handler without
 * SA_RESTART interrupts (EINTR). The same natively and greened. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static int p[2];
static volatile sig_atomic_t handled;

static void arm(void) {
    struct itimerval it = {{0, 0}, {0, 30000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static void on_alarm(int sig) { (void)sig; handled++; }

static void *writer(void *arg) { (void)arg; if (write(p[1], "t", 1) != 1) perror("write"); return NULL; }

static void on_alarm_spawn(int sig) {
    (void)sig;
    handled++;
    pthread_t t;
    pthread_create(&t, NULL, writer, NULL);
    pthread_detach(t);
}

static void handler(void (*f)(int), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = f;
    sa.sa_flags = flags;
    sigaction(SIGALRM, &sa, NULL);
}

static void report(const char *name, ssize_t n, char c) {
    if (n < 0) printf("%s ret=-1 errno=%s handled=%d\n", name, strerror(errno), (int)handled);
    else printf("%s ret=%zd data=%c handled=%d\n", name, n, c, (int)handled);
}

int main(void) {
    char c = '-';
    if (pipe(p) != 0) return 1;
    pid_t child = fork();
    if (child == 0) { usleep(30000); if (write(p[1], "c", 1) != 1) return 1; _exit(0); }
    ssize_t n = read(p[0], &c, 1);
    report("from_child", n, c);
    waitpid(child, NULL, 0);

    handled = 0; c = '-';
    handler(on_alarm, 0);
    arm();
    n = read(p[0], &c, 1);
    report("no_restart", n, c);

    handled = 0; c = '-';
    handler(on_alarm, SA_RESTART);
    arm();
    child = fork();
    if (child == 0) { usleep(200000); if (write(p[1], "r", 1) != 1) return 1; _exit(0); }
    n = read(p[0], &c, 1);
    report("restart", n, c);
    waitpid(child, NULL, 0);

    handled = 0; c = '-';
    handler(on_alarm_spawn, SA_RESTART);
    arm();
    n = read(p[0], &c, 1);
    report("spawned_by_handler", n, c);

    static char big[256 * 1024];
    child = fork();
    if (child == 0) {
        char buf[4096];
        size_t got = 0;
        ssize_t r;
        usleep(30000);
        while (got < sizeof big && (r = read(p[0], buf, sizeof buf)) > 0) got += (size_t)r;
        _exit(got == sizeof big ? 0 : 1);
    }
    n = write(p[1], big, sizeof big);
    int status;
    waitpid(child, &status, 0);
    printf("big_write ret=%zd drained=%d\n", n, WIFEXITED(status) && WEXITSTATUS(status) == 0);

    handled = 0;
    int flags = fcntl(p[1], F_GETFL);
    fcntl(p[1], F_SETFL, flags | O_NONBLOCK);
    while (write(p[1], big, sizeof big) > 0) {}
    fcntl(p[1], F_SETFL, flags);
    handler(on_alarm, 0);
    arm();
    n = write(p[1], "x", 1);
    report("full_pipe_no_restart", n, 'x');

    /* A write larger than an empty pipe holds, that nobody reads, cut short by a handler
     * with SA_RESTART: the kernel returns what it wrote (the pipe's capacity). The pipe is
     * made by the kernel's call, as one inherited would be: blocking, and not the
     * runtime's (greened, the write is then the plain blocking call). */
    int q[2];
    if (syscall(SYS_pipe2, q, 0) != 0) return 1;
    handled = 0;
    handler(on_alarm, SA_RESTART);
    arm();
    n = write(q[1], big, sizeof big);
    printf("interrupted_big_write ret=%zd pipe_size=%d handled=%d\n", n, fcntl(q[1], F_GETPIPE_SZ), (int)handled);
    return 0;
}
