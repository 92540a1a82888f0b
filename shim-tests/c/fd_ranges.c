/* close_range and closefrom with green threads about: each line is a fact that holds
 * natively and greened alike. A number a green thread waited on, closed by close_range and
 * given to a queue made past our hooks, is waited on like any other; after closefrom(3) and
 * close_range(3, ~0U) (what daemons and spawners do) threads still sleep, and pipes made
 * anew still wake their readers; the calls' own errors and CLOSE_RANGE_CLOEXEC. */
#define _GNU_SOURCE
#include "common.h"

#include <fcntl.h>
#include <mqueue.h>
#include <sys/syscall.h>

static int ends[2];
static mqd_t q;

static void *write_later(void *arg) {
    (void)arg;
    usleep(100000);
    if (write(ends[1], "x", 1) != 1) DIE("write");
    return NULL;
}

static void *send_later(void *arg) {
    (void)arg;
    usleep(100000);
    if (mq_send(q, "m", 1, 0) != 0) DIE("mq_send");
    return NULL;
}

/* A pipe made now, read while another thread writes to it 100 ms later. */
static ssize_t fresh_pipe_read(void) {
    if (pipe(ends) != 0) DIE("pipe");
    pthread_t t;
    pthread_create(&t, NULL, write_later, NULL);
    char c;
    ssize_t n = read(ends[0], &c, 1);
    pthread_join(t, NULL);
    close(ends[0]);
    close(ends[1]);
    return n;
}

static void *sleeper(void *arg) {
    (void)arg;
    for (int i = 0; i < 20; i++) usleep(20000);
    return NULL;
}

static void reused_by_a_queue(void) {
    printf("pipe read=%zd\n", fresh_pipe_read());
    if (pipe(ends) != 0) DIE("pipe");
    pthread_t t;
    pthread_create(&t, NULL, write_later, NULL);
    char c;
    if (read(ends[0], &c, 1) != 1) DIE("read");
    pthread_join(t, NULL);
    int number = ends[0];
    printf("close_range one=%d\n", close_range(ends[0], ends[0], 0));
    close(ends[1]);
    char name[64];
    snprintf(name, sizeof name, "/libgreen-ranges-%d", (int)getpid());
    struct mq_attr attr = {.mq_maxmsg = 2, .mq_msgsize = 16};
    q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    if (q == (mqd_t)-1) DIE("mq_open");
    mq_unlink(name);
    pthread_create(&t, NULL, send_later, NULL);
    char buf[16];
    ssize_t n = mq_receive(q, buf, sizeof buf, NULL);
    pthread_join(t, NULL);
    printf("queue on the closed number: same=%d received=%zd\n", q == number, n);
    mq_close(q);
}

static void errors_and_cloexec(void) {
    errno = 0;
    int rc = close_range(5, 3, 0);
    printf("first above last=%d %s\n", rc, errno_name(errno));
    errno = 0;
    rc = close_range(3, 4, 0x100);
    printf("unknown flag=%d %s\n", rc, errno_name(errno));
    if (pipe(ends) != 0) DIE("pipe");
    rc = close_range(ends[0], ends[1], CLOSE_RANGE_CLOEXEC);
    printf("cloexec=%d flags=%d,%d\n", rc, fcntl(ends[0], F_GETFD), fcntl(ends[1], F_GETFD));
    close(ends[0]);
    close(ends[1]);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    reused_by_a_queue();
    errors_and_cloexec();
    pthread_t t;
    pthread_create(&t, NULL, sleeper, NULL);
    closefrom(3);
    printf("after closefrom(3): pipe read=%zd\n", fresh_pipe_read());
    printf("close_range(3, ~0U)=%d\n", close_range(3, ~0U, 0));
    printf("after close_range: pipe read=%zd\n", fresh_pipe_read());
    pthread_join(t, NULL);
    printf("sleeper joined\ndone\n");
    return 0;
}
