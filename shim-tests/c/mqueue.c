/* POSIX message queues: mq_receive, mq_send and their timed forms wait for the green thread
 * only. Each line is a fact that holds natively and greened alike.
 *
 *   mqueue threads   a thread waits in mq_receive for a message another thread sends 200 ms
 *                    later, and in mq_send on a full queue until another thread makes room
 *                    (greened: on one OS thread, which a wait in the kernel would hang);
 *                    timeouts, EINTR and SA_RESTART, a non-blocking queue, errors
 *   mqueue alone     the main thread alone: timeouts, an alarm, a child's message */
#define _GNU_SOURCE
#include "common.h"

#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <sys/wait.h>

static char name[64];
static mqd_t q;

/* "what=rc ERRNO", errno read after the call that gave rc. */
static void show(const char *what, long rc) {
    int e = errno;
    printf("%s=%ld %s\n", what, rc, rc >= 0 ? "" : errno_name(e));
    errno = 0;
}

static struct timespec in_ms(long ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (ms % 1000) * 1000000L;
    ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    return ts;
}

static void *send_later(void *arg) {
    usleep((useconds_t)(long)arg * 1000);
    if (mq_send(q, "late", 4, 3) != 0) DIE("mq_send");
    return NULL;
}

static void *receive_later(void *arg) {
    usleep((useconds_t)(long)arg * 1000);
    char buf[64];
    if (mq_receive(q, buf, sizeof buf, NULL) < 0) DIE("mq_receive");
    return NULL;
}

static void receive_line(const char *what, double at_least) {
    char buf[64] = {0};
    unsigned prio = 0;
    double start = mono_now();
    errno = 0;
    long n = (long)mq_receive(q, buf, sizeof buf, &prio);
    int e = errno;
    double took = mono_now() - start;
    errno = e;
    show(what, n);
    printf("%s: got=%s prio=%u waited=%s\n", what, n > 0 ? buf : "-", prio, took >= at_least ? "yes" : "no");
}

static void timeouts(void) {
    char buf[64];
    struct timespec ts = in_ms(100);
    double start = mono_now();
    long n = (long)mq_timedreceive(q, buf, sizeof buf, NULL, &ts);
    double took = mono_now() - start;
    show("timedreceive 100ms", n);
    printf("timedreceive waited=%s\n", took >= 0.09 ? "yes" : "no");
    /* Fill the queue (mq_maxmsg 2), then a timed send times out. */
    mq_send(q, "a", 1, 1);
    mq_send(q, "b", 1, 2);
    ts = in_ms(100);
    start = mono_now();
    n = mq_timedsend(q, "c", 1, 1, &ts);
    took = mono_now() - start;
    show("timedsend on a full queue 100ms", n);
    printf("timedsend waited=%s\n", took >= 0.09 ? "yes" : "no");
    ts = in_ms(100);
    show("timedsend bad nsec", mq_timedsend(q, "c", 1, 1, &(struct timespec){0, 1000000000}));
    show("timedreceive bad nsec with messages in", (long)mq_timedreceive(q, buf, sizeof buf, NULL, &(struct timespec){0, -1}));
    show("timedreceive negative sec", (long)mq_timedreceive(q, buf, sizeof buf, NULL, &(struct timespec){-1, 0}));
    show("receive small buffer", (long)mq_receive(q, buf, 4, NULL));
    receive_line("receive highest prio", 0);
    receive_line("receive next", 0);
    show("receive bad mqd", (long)mq_receive(9999, buf, sizeof buf, NULL));
    show("send bad mqd", mq_send(9999, "x", 1, 0));
    show("send too long", mq_send(q, buf, 64, 0));
}

static void nonblocking(void) {
    struct mq_attr attr = {.mq_flags = O_NONBLOCK};
    mq_setattr(q, &attr, NULL);
    char buf[64];
    double start = mono_now();
    show("nonblocking receive", (long)mq_receive(q, buf, sizeof buf, NULL));
    printf("nonblocking at once=%s\n", mono_now() - start < 0.05 ? "yes" : "no");
    attr.mq_flags = 0;
    mq_setattr(q, &attr, NULL);
}

static pthread_t main_thread;

static void *poke_main(void *arg) {
    usleep((useconds_t)(long)arg * 1000);
    pthread_kill(main_thread, SIGUSR1);
    return NULL;
}

static void on_signal(int sig) { (void)sig; }

static void eintr(int flags) {
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = flags};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t poker, sender;
    pthread_create(&poker, NULL, poke_main, (void *)100L);
    if (flags) pthread_create(&sender, NULL, send_later, (void *)300L);
    receive_line(flags ? "receive, handler with SA_RESTART" : "receive, handler", flags ? 0.29 : 0.09);
    pthread_join(poker, NULL);
    if (flags) pthread_join(sender, NULL);
}

/* The queue was waited on: after mq_close its number goes to a new queue (mq_open is past
 * our hooks, as mq_close is), whose receive waits and is woken like any other (a number
 * the hub still took for the old queue's would never be). */
static void reused_number(void) {
    int number = q;
    mq_close(q);
    char other[80];
    snprintf(other, sizeof other, "%s-2", name);
    struct mq_attr attr = {.mq_maxmsg = 2, .mq_msgsize = 16};
    q = mq_open(other, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    if (q == (mqd_t)-1) DIE("mq_open");
    mq_unlink(other);
    pthread_t t;
    pthread_create(&t, NULL, send_later, (void *)100L);
    receive_line("after mq_close, a new queue", 0.09);
    pthread_join(t, NULL);
    printf("after mq_close: same number=%d\n", q == number);
}

static void threads(void) {
    main_thread = pthread_self();
    ticker_start(2000);
    pthread_t t;
    pthread_create(&t, NULL, send_later, (void *)200L);
    receive_line("receive a thread's message", 0.19);
    pthread_join(t, NULL);
    mq_send(q, "a", 1, 1);
    mq_send(q, "b", 1, 1);
    pthread_create(&t, NULL, receive_later, (void *)200L);
    double start = mono_now();
    long rc = mq_send(q, "c", 1, 1);
    double took = mono_now() - start;
    pthread_join(t, NULL);
    show("send on a full queue", rc);
    printf("send waited for room=%s\n", took >= 0.19 ? "yes" : "no");
    printf("ticked meanwhile=%s\n", ticker_ticks() >= 20 ? "yes" : "no");
    ticker_stop();
    receive_line("drain 1", 0);
    receive_line("drain 2", 0);
    timeouts();
    nonblocking();
    eintr(0);
    eintr(SA_RESTART);
    reused_number();
}

static void alone(void) {
    timeouts();
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    ualarm(100000, 0);
    receive_line("receive, alarm", 0.09);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        usleep(200000);
        _exit(mq_send(q, "child", 5, 7) == 0 ? 0 : 1);
    }
    receive_line("receive a child's message", 0.19);
    int status;
    waitpid(pid, &status, 0);
    printf("sender=%d\n", status);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *what = argc > 1 ? argv[1] : "";
    snprintf(name, sizeof name, "/libgreen-test-%d", (int)getpid());
    struct mq_attr attr = {.mq_maxmsg = 2, .mq_msgsize = 16};
    q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    if (q == (mqd_t)-1) DIE("mq_open");
    mq_unlink(name);
    if (!strcmp(what, "threads")) threads();
    else if (!strcmp(what, "alone")) alone();
    else {
        fprintf(stderr, "usage: mqueue threads|alone\n");
        return 2;
    }
    printf("done\n");
    return 0;
}
