/* bench_tick ITERS: a bound on what the preemption tick costs. While a second thread sleeps
 * (greened, the tick is armed only while another green thread exists), the main thread,
 * with an empty SIGURG handler installed, sends itself SIGURG ITERS times with tgkill:
 *   sigurg_handled_ns=  one SIGURG sent, delivered and handled
 * Greened, every SIGURG reaches the runtime's tick handler first, which tells a tick from
 * the program's signal by its siginfo and passes the program's on to its handler. A tick
 * is such a delivery without the tgkill and the program's handler (plus, when it preempts,
 * one yield), and comes at most once per time slice of CPU (10 ms by default). */
#define _GNU_SOURCE
#include "common.h"

#include <signal.h>
#include <sys/syscall.h>

static atomic_int done;
static volatile sig_atomic_t handled;

static void on_sigurg(int sig) {
    (void)sig;
    handled = handled + 1;
}

static void *sleeper(void *arg) {
    (void)arg;
    while (!atomic_load(&done)) usleep(10 * 1000);
    return NULL;
}

int main(int argc, char **argv) {
    char *end;
    unsigned long iters;
    if (argc != 2 || (iters = strtoul(argv[1], &end, 10)) == 0 || *end) {
        fprintf(stderr, "usage: bench_tick ITERS\n");
        return 2;
    }
    struct sigaction action = {.sa_handler = on_sigurg};
    if (sigaction(SIGURG, &action, NULL) != 0) DIE("sigaction");
    pthread_t s;
    if ((errno = pthread_create(&s, NULL, sleeper, NULL))) DIE("pthread_create");
    pid_t pid = getpid(), tid = (pid_t)syscall(SYS_gettid);
    double start = mono_now();
    for (unsigned long i = 0; i < iters; i++)
        if (syscall(SYS_tgkill, pid, tid, SIGURG) != 0) DIE("tgkill");
    double ns = (mono_now() - start) * 1e9 / (double)iters;
    atomic_store(&done, 1);
    if ((errno = pthread_join(s, NULL))) DIE("pthread_join");
    if ((unsigned long)handled != iters) {
        fprintf(stderr, "bench_tick: %lu signals sent, %lu handled\n", iters, (unsigned long)handled);
        return 1;
    }
    printf("sigurg_handled_ns=%.1f\n", ns);
    return 0;
}
