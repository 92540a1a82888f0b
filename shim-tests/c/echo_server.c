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

/* A listening socket on 127.0.0.1:port; *bound_port says which port it got. */
static int listen_on(int port, int *bound_port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) DIE("echo_server: socket");
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        DIE("echo_server: SO_REUSEADDR");
    *bound_port = listen_on_loopback(fd, port, LISTEN_BACKLOG);
    return fd;
}

int main(int argc, char **argv) {
    struct server_options opt = parse_server_options(argc, argv, "echo_server");
    bufsize = opt.bufsize;
    /* A client that resets its connection must cost one handler, not the whole server. */
    signal(SIGPIPE, SIG_IGN);

    int port;
    int listen_fd = listen_on(opt.port, &port);
    printf("PORT %d\n", port);
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
