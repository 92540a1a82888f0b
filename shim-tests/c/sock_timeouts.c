/* SO_RCVTIMEO and SO_SNDTIMEO on blocking sockets, in a thread, while a ticker thread runs:
 * recv and accept give up with EAGAIN after the receive timeout, a send that cannot finish
 * returns what it queued after the send timeout, and getsockopt reads back what was set. */
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

static void set_timeout(int fd, int which, long ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (setsockopt(fd, SOL_SOCKET, which, &tv, sizeof tv) != 0) DIE("setsockopt");
}

static const char *timed(double t0, double ms) {
    double waited = (mono_now() - t0) * 1000.0;
    return waited >= ms * 0.9 && waited < 5000.0 ? "yes" : "no";
}

static void *write_later(void *arg) {
    usleep(300 * 1000);
    if (write(*(int *)arg, "late", 4) != 4) DIE("write");
    return NULL;
}

static void *checks(void *arg) {
    (void)arg;
    int sv[2];
    char buf[64];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) DIE("socketpair");
    set_timeout(sv[0], SO_RCVTIMEO, 150);
    struct timeval got;
    socklen_t len = sizeof got;
    getsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &got, &len);
    printf("getsockopt SO_RCVTIMEO: %ld.%06ld\n", (long)got.tv_sec, (long)got.tv_usec);

    int before = ticker_ticks();
    double t0 = mono_now();
    errno = 0;
    ssize_t n = recv(sv[0], buf, sizeof buf, 0);
    printf("recv after SO_RCVTIMEO 150 ms: %zd %s, waited about 150 ms: %s, ticker ran: %s\n", n, errno_name(errno),
           timed(t0, 150), ticker_ticks() - before >= 5 ? "yes" : "no");
    t0 = mono_now();
    errno = 0;
    n = read(sv[0], buf, sizeof buf);
    printf("read after SO_RCVTIMEO 150 ms: %zd %s, waited about 150 ms: %s\n", n, errno_name(errno), timed(t0, 150));
    if (write(sv[1], "abc", 3) != 3) DIE("write");
    n = recv(sv[0], buf, sizeof buf, 0);
    printf("recv with data there: %zd\n", n);

    /* A timeout changed after a wait has used it, through another descriptor of the same
     * socket: the next wait honours the new value (none, then 400 ms), not the old one. */
    int twin = dup(sv[0]);
    set_timeout(twin, SO_RCVTIMEO, 0);
    pthread_t late;
    pthread_create(&late, NULL, write_later, &sv[1]);
    t0 = mono_now();
    n = recv(sv[0], buf, sizeof buf, 0);
    printf("recv after SO_RCVTIMEO 0 on a dup, data 300 ms later: %zd, waited about 300 ms: %s\n", n,
           timed(t0, 300));
    pthread_join(late, NULL);
    set_timeout(sv[0], SO_RCVTIMEO, 400);
    t0 = mono_now();
    errno = 0;
    n = recv(twin, buf, sizeof buf, 0);
    printf("recv on the dup after SO_RCVTIMEO 400 ms: %zd %s, waited about 400 ms: %s\n", n, errno_name(errno),
           timed(t0, 400));
    close(twin);

    /* A send much larger than the socket buffer, nobody reading: partial after the timeout. */
    set_timeout(sv[1], SO_SNDTIMEO, 150);
    size_t big = 16 << 20;
    char *data = calloc(1, big);
    t0 = mono_now();
    errno = 0;
    n = send(sv[1], data, big, 0);
    printf("send of 16 MiB after SO_SNDTIMEO 150 ms: partial %s, waited about 150 ms: %s\n",
           n > 0 && (size_t)n < big ? "yes" : "no", timed(t0, 150));
    errno = 0;
    t0 = mono_now();
    n = send(sv[1], data, 1000, 0);
    printf("send to a full socket: %zd %s, waited about 150 ms: %s\n", n, errno_name(errno), timed(t0, 150));
    free(data);
    close(sv[0]);
    close(sv[1]);

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 8) != 0) DIE("listen");
    set_timeout(listener, SO_RCVTIMEO, 150);
    t0 = mono_now();
    errno = 0;
    int fd = accept(listener, NULL, NULL);
    printf("accept after SO_RCVTIMEO 150 ms: %d %s, waited about 150 ms: %s\n", fd, errno_name(errno), timed(t0, 150));
    close(listener);
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_t t;
    ticker_start(5000);
    pthread_create(&t, NULL, checks, NULL);
    pthread_join(t, NULL);
    ticker_stop();
    return 0;
}
