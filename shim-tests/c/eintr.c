/* A signal handler that runs while the main thread is blocked interrupts that call as the
 * kernel does: EINTR (with the time left, for sleeps) without SA_RESTART, a transparent
 * restart with it for reads, never a restart for poll and sleeps. A second thread keeps
 * running meanwhile, so greened the main thread is not the only one. */
#define _GNU_SOURCE
#include "common.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t alarms;
static int pipe_fds[2];

static void on_alarm(int sig) {
    (void)sig;
    alarms++;
}

static void handle_alarm(int flags) {
    struct sigaction action = {0};
    action.sa_handler = on_alarm;
    action.sa_flags = flags;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGALRM, &action, NULL) != 0) DIE("sigaction");
}

/* SIGALRM once, after `ms` milliseconds. */
static void alarm_in(int ms) {
    struct itimerval timer = {.it_value = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000}};
    if (setitimer(ITIMER_REAL, &timer, NULL) != 0) DIE("setitimer");
}

static void *ticker(void *arg) {
    (void)arg;
    for (int i = 0; i < 20; i++) usleep(20 * 1000);
    return NULL;
}

static void *late_writer(void *arg) {
    (void)arg;
    usleep(300 * 1000);
    if (write(pipe_fds[1], "z", 1) != 1) DIE("write");
    return NULL;
}

int main(void) {
    if (pipe(pipe_fds) != 0) DIE("pipe");
    pthread_t tick, writer;
    pthread_create(&tick, NULL, ticker, NULL);
    handle_alarm(0);

    alarm_in(100);
    printf("sleep(5) left=%u\n", sleep(5));

    struct timespec request = {.tv_sec = 2}, left = {0};
    alarm_in(100);
    int r = nanosleep(&request, &left);
    printf("nanosleep=%d %s left_between_1.5_and_2s=%d\n", r, errno_name(errno),
           left.tv_sec == 1 && left.tv_nsec >= 500000000);

    alarm_in(100);
    r = usleep(2000000);
    printf("usleep=%d %s\n", r, errno_name(errno));

    alarm_in(100);
    r = clock_nanosleep(CLOCK_MONOTONIC, 0, &request, &left);
    printf("clock_nanosleep=%s\n", errno_name(r));

    char byte;
    alarm_in(100);
    ssize_t n = read(pipe_fds[0], &byte, 1);
    printf("read without SA_RESTART=%zd %s\n", n, errno_name(errno));

    struct pollfd pfd = {.fd = pipe_fds[0], .events = POLLIN};
    alarm_in(100);
    r = poll(&pfd, 1, -1);
    printf("poll=%d %s\n", r, errno_name(errno));

    handle_alarm(SA_RESTART);
    pthread_create(&writer, NULL, late_writer, NULL);
    alarm_in(100);
    n = read(pipe_fds[0], &byte, 1);
    printf("read with SA_RESTART=%zd byte=%c\n", n, byte);

    alarm_in(100);
    r = poll(&pfd, 1, -1);
    printf("poll with SA_RESTART=%d %s\n", r, errno_name(errno));

    pthread_join(writer, NULL);
    pthread_join(tick, NULL);
    printf("alarms=%d\n", (int)alarms);
    return 0;
}
