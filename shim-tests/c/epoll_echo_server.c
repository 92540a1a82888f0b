/* The hand-written ceiling for the echo benchmark: one thread, nonblocking sockets, one
 * epoll set. Same command line and output as echo_server:
 *
 *   epoll_echo_server [--port P] [--max-conns N] [--bufsize B]
 *
 * Prints "PORT <port>"; with N > 0 stops accepting after N connections and, once all of
 * them closed, prints "SERVED conns=<n> bytes=<b> peak_active=<p>" and exits 0.
 *
 * Edge-triggered, so epoll does not re-poll every socket it reported on the next
 * epoll_wait as it does for level-triggered ones. Edge-triggered usually means reading until
 * EAGAIN, but a TCP read() shorter than the buffer has taken everything queued, and data
 * arriving afterwards raises a new edge: so a wake-up normally costs one read(), as with
 * level-triggered. Echoes are written straight from one shared read buffer; only when the
 * socket takes less than everything does the rest go to a per-connection pending buffer,
 * and the connection then waits for EPOLLOUT (and stops reading, which pushes back on a
 * client that sends faster than it reads). */
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 4096
#define MAX_EVENTS 1024

struct conn {
    int fd;
    char *pending;      /* echo bytes the socket did not take yet (NULL: none) */
    size_t pending_off, pending_len;
    unsigned long long echoed;
};

struct server {
    int epfd, listen_fd;  /* listen_fd is -1 once max_conns were accepted */
    unsigned long max_conns;
    char *buf;
    size_t bufsize;
    unsigned long served, finished, active, peak_active;
    unsigned long long bytes;
};

static void set_interest(struct server *s, struct conn *c, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) DIE("epoll_echo_server: epoll_ctl");
}

static void close_conn(struct server *s, struct conn *c) {
    close(c->fd); /* also removes it from the epoll set: the fd is never duplicated */
    s->bytes += c->echoed;
    s->active--;
    s->finished++;
    free(c->pending);
    free(c);
}

/* Write as much of data as the socket takes now. Returns bytes written, or -1 if the
 * connection is broken. */
static ssize_t write_some(int fd, const char *data, size_t len) {
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n > 0) {
            off += (size_t)n;
        } else if (errno == EAGAIN) {
            break;
        } else if (errno != EINTR) {
            return -1;
        }
    }
    return (ssize_t)off;
}

/* Echo what the client sent until the socket is drained (see the top of the file for why a
 * short read counts as drained) or a write does not go through completely. */
static void on_readable(struct server *s, struct conn *c) {
    for (;;) {
        ssize_t n = read(c->fd, s->buf, s->bufsize);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) {
            close_conn(s, c);
            return;
        }
        ssize_t w = write_some(c->fd, s->buf, (size_t)n);
        if (w < 0) {
            close_conn(s, c);
            return;
        }
        c->echoed += (unsigned long long)n;
        if (w < n) {
            c->pending_len = (size_t)(n - w);
            c->pending_off = 0;
            c->pending = malloc(c->pending_len);
            if (!c->pending) DIE("epoll_echo_server: malloc");
            memcpy(c->pending, s->buf + w, c->pending_len);
            set_interest(s, c, EPOLLOUT | EPOLLET);
            return;
        }
        if ((size_t)n < s->bufsize) return;
    }
}

static void on_writable(struct server *s, struct conn *c) {
    ssize_t w = write_some(c->fd, c->pending + c->pending_off, c->pending_len - c->pending_off);
    if (w < 0) {
        close_conn(s, c);
        return;
    }
    c->pending_off += (size_t)w;
    if (c->pending_off == c->pending_len) {
        free(c->pending);
        c->pending = NULL;
        set_interest(s, c, EPOLLIN | EPOLLET);
    }
}

static void stop_accepting(struct server *s) {
    close(s->listen_fd);
    s->listen_fd = -1;
}

/* Take every queued connection. The listen socket is level-triggered, so this is not needed
 * for correctness, but it saves epoll round trips under a connect storm. */
static void accept_all(struct server *s) {
    while (s->listen_fd >= 0) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN) return;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            DIE("epoll_echo_server: accept4");
        }
        struct conn *c = calloc(1, sizeof *c);
        if (!c) DIE("epoll_echo_server: calloc");
        c->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = c};
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) DIE("epoll_echo_server: epoll_ctl");
        s->served++;
        s->active++;
        if (s->active > s->peak_active) s->peak_active = s->active;
        if (s->max_conns && s->served == s->max_conns) stop_accepting(s);
    }
}

/* A listening socket on 127.0.0.1:port; *bound_port says which port it got. */
static int listen_on(int port, int *bound_port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) DIE("epoll_echo_server: socket");
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        DIE("epoll_echo_server: SO_REUSEADDR");
    *bound_port = listen_on_loopback(fd, port, LISTEN_BACKLOG);
    return fd;
}

int main(int argc, char **argv) {
    struct server_options opt = parse_server_options(argc, argv, "epoll_echo_server");
    signal(SIGPIPE, SIG_IGN);
    struct server s = {.max_conns = opt.max_conns, .bufsize = opt.bufsize};
    s.buf = malloc(s.bufsize);
    if (!s.buf) DIE("epoll_echo_server: malloc");
    s.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s.epfd < 0) DIE("epoll_echo_server: epoll_create1");

    int port;
    s.listen_fd = listen_on(opt.port, &port);
    /* The listen socket is the one entry whose data is NULL. */
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(s.epfd, EPOLL_CTL_ADD, s.listen_fd, &lev) < 0) DIE("epoll_echo_server: epoll_ctl");
    printf("PORT %d\n", port);
    fflush(stdout);

    struct epoll_event events[MAX_EVENTS];
    while (s.max_conns == 0 || s.finished < s.max_conns) {
        int n = epoll_wait(s.epfd, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            DIE("epoll_echo_server: epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (!c)
                accept_all(&s);
            else if (c->pending)
                on_writable(&s, c); /* also how EPOLLERR/EPOLLHUP surface while draining */
            else
                on_readable(&s, c); /* EPOLLHUP/EPOLLERR show up as EOF or an error here */
        }
    }
    printf("SERVED conns=%lu bytes=%llu peak_active=%lu\n", s.served, s.bytes, s.peak_active);
    return 0;
}
