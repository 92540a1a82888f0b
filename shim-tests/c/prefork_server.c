/* A pre-forking server in the classic style: the parent listens, forks WORKERS processes,
 * and each accepts connections on the shared socket and serves every connection in a
 * thread of its own (blocking read and write, echo until EOF).
 *
 *   prefork_server WORKERS
 *
 * Prints "PORT <port>", then "WORKER <pid>" for each worker. A worker's main thread waits in
 * poll() for the (non-blocking) listening socket or its control pipe. A line "stop" on stdin
 * ends it: the parent closes the control pipes; a worker then waits for its connection
 * threads and prints "SERVED pid=<pid> conns=<n> bytes=<b>"; the parent reaps them and
 * prints "ALL <exit codes>". */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_done = PTHREAD_COND_INITIALIZER;
static unsigned long active, served, bytes;

static void *serve(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    unsigned long moved = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w <= 0) goto out;
            off += w;
        }
        moved += (unsigned long)n;
    }
out:
    close(fd);
    pthread_mutex_lock(&lock);
    bytes += moved;
    if (--active == 0) pthread_cond_broadcast(&all_done);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static int listener;

static void worker(int control) {
    printf("WORKER %d\n", (int)getpid());
    for (;;) {
        struct pollfd fds[2] = {{.fd = listener, .events = POLLIN}, {.fd = control, .events = POLLIN}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            DIE("poll");
        }
        if (fds[1].revents) break;
        /* Every worker wakes for a new connection; one of them gets it. */
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            DIE("accept");
        }
        pthread_mutex_lock(&lock);
        active++;
        served++;
        pthread_mutex_unlock(&lock);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, serve, (void *)(intptr_t)fd) != 0) DIE("pthread_create");
        pthread_attr_destroy(&attr);
    }
    pthread_mutex_lock(&lock);
    while (active > 0) pthread_cond_wait(&all_done, &lock);
    printf("SERVED pid=%d conns=%lu bytes=%lu\n", (int)getpid(), served, bytes);
    pthread_mutex_unlock(&lock);
    exit(0);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int workers = argc > 1 ? atoi(argv[1]) : 4;
    listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 4096) != 0) DIE("listen");
    fcntl(listener, F_SETFL, O_NONBLOCK);
    getsockname(listener, (struct sockaddr *)&addr, &len);
    printf("PORT %d\n", ntohs(addr.sin_port));
    pid_t pids[64];
    int controls[64];
    fork_workers(workers, worker, pids, controls);
    close(listener);
    char line[64];
    while (fgets(line, sizeof line, stdin) && strncmp(line, "stop", 4) != 0) {}
    for (int i = 0; i < workers; i++) close(controls[i]);
    printf("ALL");
    for (int i = 0; i < workers; i++) {
        int status;
        if (waitpid(pids[i], &status, 0) != pids[i]) DIE("waitpid");
        printf(" %d", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
    printf("\n");
    return 0;
}
