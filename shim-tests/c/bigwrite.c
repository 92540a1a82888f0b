/* One blocking write() of 16 MiB into a stream socket whose reader is slow.
 *
 *   bigwrite tcp|socketpair
 *
 * tcp: a connection over 127.0.0.1; socketpair: an AF_UNIX stream socketpair.
 * The writer thread makes a single write() call for the whole buffer. On a blocking socket
 * that call returns only once every byte is queued, however small the socket buffer, so
 * it must return 16777216: a partial count (or EAGAIN) means the blocking semantics were
 * lost. The reader thread drains 64 KiB at a time, sleeping 1 ms between reads to keep the
 * writer waiting for buffer space, and checks every byte against the position-dependent
 * pattern, so lost, duplicated or reordered chunks are caught.
 *
 * Output, printed by main after both threads are done:
 *   write_returned=<n>   (and " errno=<name>" if it failed)
 *   read_total=<bytes read before EOF> ok=<1 if every byte matched, else 0> */
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#define TOTAL_BYTES (16u * 1024 * 1024)
#define READ_CHUNK (64 * 1024)

/* A multiplicative hash of the position: neighbouring bytes and equal offsets in different
 * chunks all differ. */
static uint8_t pattern_byte(uint64_t pos) {
    return (uint8_t)((pos * 2654435761u) >> 13);
}

struct writer_result {
    int fd;
    ssize_t returned;
    int err;
};

struct reader_result {
    int fd;
    uint64_t total;
    int ok;
};

static void *writer(void *arg) {
    struct writer_result *w = arg;
    uint8_t *buf = malloc(TOTAL_BYTES);
    if (!buf) DIE("malloc");
    for (uint64_t i = 0; i < TOTAL_BYTES; i++) buf[i] = pattern_byte(i);
    w->returned = write(w->fd, buf, TOTAL_BYTES);
    w->err = w->returned < 0 ? errno : 0;
    /* Closing gives the reader its EOF, so it counts exactly what was sent. */
    close(w->fd);
    free(buf);
    return NULL;
}

static void *reader(void *arg) {
    struct reader_result *r = arg;
    static uint8_t buf[READ_CHUNK];
    r->ok = 1;
    for (;;) {
        ssize_t n = read(r->fd, buf, sizeof buf);
        if (n < 0) DIE("read after %llu bytes", (unsigned long long)r->total);
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++) {
            if (r->ok && buf[i] != pattern_byte(r->total + (uint64_t)i)) {
                fprintf(stderr, "mismatch at byte %llu\n",
                        (unsigned long long)(r->total + (uint64_t)i));
                r->ok = 0;
            }
        }
        r->total += (uint64_t)n;
        if (usleep(1000) != 0) DIE("usleep");
    }
    close(r->fd);
    return NULL;
}

/* A connected TCP pair over loopback: fds[0] the client end, fds[1] the accepted end. */
static void tcp_pair(int fds[2]) {
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0) DIE("socket");
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((unsigned short)listen_on_loopback(lfd, 0, 1));

    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[0] < 0) DIE("socket");
    /* The kernel completes the handshake from the listen backlog, so connecting before
     * accepting does not deadlock a single thread. */
    if (connect(fds[0], (struct sockaddr *)&addr, sizeof addr) != 0) DIE("connect");
    fds[1] = accept(lfd, NULL, NULL);
    if (fds[1] < 0) DIE("accept");
    close(lfd);
}

int main(int argc, char **argv) {
    int fds[2];
    if (argc == 2 && strcmp(argv[1], "tcp") == 0) {
        tcp_pair(fds);
    } else if (argc == 2 && strcmp(argv[1], "socketpair") == 0) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) DIE("socketpair");
    } else {
        fprintf(stderr, "usage: bigwrite tcp|socketpair\n");
        return 2;
    }

    struct writer_result w = {.fd = fds[0]};
    struct reader_result r = {.fd = fds[1]};
    pthread_t wt, rt;
    int rc = pthread_create(&rt, NULL, reader, &r);
    if (rc != 0) { errno = rc; DIE("pthread_create reader"); }
    rc = pthread_create(&wt, NULL, writer, &w);
    if (rc != 0) { errno = rc; DIE("pthread_create writer"); }
    if ((rc = pthread_join(wt, NULL)) != 0) { errno = rc; DIE("pthread_join writer"); }
    if ((rc = pthread_join(rt, NULL)) != 0) { errno = rc; DIE("pthread_join reader"); }

    if (w.returned < 0)
        printf("write_returned=%zd errno=%s\n", w.returned, errno_name(w.err));
    else
        printf("write_returned=%zd\n", w.returned);
    printf("read_total=%llu ok=%d\n", (unsigned long long)r.total, r.ok);
    return 0;
}
