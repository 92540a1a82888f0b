/* The classic thread-per-connection echo server, written the way it would be without
 * libgreen in mind: blocking accept() on the main thread, one detached pthread per
 * connection doing blocking read() and write(). Greened, every connection becomes a green
 * thread and every blocking call a wait on the hub.
 *
 *   echo_server [--port P] [--max-conns N] [--bufsize B]
 *
 * Listens on 127.0.0.1:P (0: any free port) and prints "PORT <port>". With N > 0 it stops
 * accepting after N connections, waits for their handlers to finish and prints
 * "SERVED conns=<n> bytes=<b> peak_active=<p>" before exiting 0. */
#include "common.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 4096

struct options {
    int port;
    unsigned long max_conns; /* 0: serve forever */
    size_t bufsize;
};

/* Shared between main and the handlers, always under lock. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t handler_done;
    unsigned long served;   /* connections accepted */
    unsigned long finished; /* handlers that returned */
    unsigned long active, peak_active;
    unsigned long long bytes;
} stats = {.lock = PTHREAD_MUTEX_INITIALIZER, .handler_done = PTHREAD_COND_INITIALIZER};

static size_t bufsize;

static void usage(void) {
    fprintf(stderr, "usage: echo_server [--port P] [--max-conns N] [--bufsize B]\n");
    exit(2);
}

static unsigned long parse_number(const char *s, unsigned long max) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || end == s || v > max) usage();
    return v;
}

static struct options parse_options(int argc, char **argv) {
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},
        {"max-conns", required_argument, NULL, 'n'},
        {"bufsize", required_argument, NULL, 'b'},
        {NULL, 0, NULL, 0},
    };
    struct options o = {.port = 0, .max_conns = 0, .bufsize = 16384};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': o.port = (int)parse_number(optarg, 65535); break;
        case 'n': o.max_conns = parse_number(optarg, 100000000); break;
        case 'b': o.bufsize = parse_number(optarg, 1UL << 30); break;
        default: usage();
        }
    }
    if (optind != argc || o.bufsize == 0) usage();
    return o;
}

/* Echo until the client closes (or the connection breaks), then account for it. */
static void *handle_connection(void *arg) {
    int fd = (int)(intptr_t)arg;
    char *buf = malloc(bufsize);
    unsigned long long echoed = 0;
    if (!buf) DIE("echo_server: malloc");
    for (;;) {
        ssize_t n = read(fd, buf, bufsize);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        ssize_t off = 0;
        while (off < n) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) goto done;
            off += w;
        }
        echoed += (unsigned long long)n;
    }
done:
    close(fd);
    free(buf);
    pthread_mutex_lock(&stats.lock);
    stats.bytes += echoed;
    stats.active--;
    stats.finished++;
    pthread_cond_signal(&stats.handler_done);
    pthread_mutex_unlock(&stats.lock);
    return NULL;
}

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) DIE("echo_server: socket");
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        DIE("echo_server: SO_REUSEADDR");
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) DIE("echo_server: bind port %d", port);
    if (listen(fd, LISTEN_BACKLOG) < 0) DIE("echo_server: listen");
    return fd;
}

static int bound_port(int fd) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0) DIE("echo_server: getsockname");
    return ntohs(addr.sin_port);
}

int main(int argc, char **argv) {
    struct options opt = parse_options(argc, argv);
    bufsize = opt.bufsize;
    /* A client that resets its connection must cost one handler, not the whole server. */
    signal(SIGPIPE, SIG_IGN);

    int listen_fd = listen_on(opt.port);
    printf("PORT %d\n", bound_port(listen_fd));
    fflush(stdout);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);

    for (unsigned long accepted = 0; opt.max_conns == 0 || accepted < opt.max_conns;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0) {
            /* A connection reset while queued is the client's problem, not ours. */
            if (errno == EINTR || errno == ECONNABORTED) continue;
            DIE("echo_server: accept");
        }
        accepted++;
        pthread_mutex_lock(&stats.lock);
        stats.served++;
        stats.active++;
        if (stats.active > stats.peak_active) stats.peak_active = stats.active;
        pthread_mutex_unlock(&stats.lock);
        pthread_t tid;
        int err = pthread_create(&tid, &attr, handle_connection, (void *)(intptr_t)fd);
        if (err) {
            errno = err;
            DIE("echo_server: pthread_create for connection %lu", accepted);
        }
    }
    close(listen_fd);
    pthread_attr_destroy(&attr);

    pthread_mutex_lock(&stats.lock);
    while (stats.finished < stats.served) pthread_cond_wait(&stats.handler_done, &stats.lock);
    printf("SERVED conns=%lu bytes=%llu peak_active=%lu\n", stats.served, stats.bytes,
           stats.peak_active);
    pthread_mutex_unlock(&stats.lock);
    return 0;
}
