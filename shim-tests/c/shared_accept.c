/* Pre-forked workers sharing one blocking listening socket that the process did not make
 * through socket(3) (one inherited from a master, as here, or made by a raw system call):
 * each worker has a thread accepting in a loop and its main thread waiting on a control
 * pipe. Every connection wakes every worker's acceptor; one gets it. A worker whose accept
 * lost the race must still answer its control pipe.
 *
 *   shared_accept WORKERS CONNECTIONS
 *
 * First, with a second thread alive (so that a greened process does not make the calls
 * as a lone thread would), prints what accept does on such sockets: bad flags, a socket
 * not listening, the listener's SO_RCVTIMEO, and the address and flags of an accepted
 * socket. Then prints "echoed <n>" once every connection was served (one byte each way),
 * and "exited <n>" for the workers that ended within 20 s of being told to. */
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int listener;

static void *acceptor(void *arg) {
    (void)arg;
    for (;;) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR) continue;
            DIE("accept");
        }
        char byte;
        if (read(fd, &byte, 1) == 1 && write(fd, &byte, 1) != 1) DIE("write");
        close(fd);
    }
    return NULL;
}

static void worker(int control) {
    /* The acceptor stays in accept; the process ends here. */
    start_and_wait(control, acceptor);
    _exit(0);
}

static void *idle(void *arg) {
    int *stop = arg;
    while (!atomic_load((atomic_int *)stop)) usleep(1000);
    return NULL;
}

static int raw_socket(void) {
    int fd = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
    if (fd < 0) DIE("socket");
    return fd;
}

static void check_accept(struct sockaddr_in *addr) {
    int stop = 0;
    pthread_t other;
    if (pthread_create(&other, NULL, idle, &stop) != 0) DIE("pthread_create");
    int r = accept4(listener, NULL, NULL, 0x1);
    printf("bad flags: %d %s\n", r, strerror(errno));
    int unlistened = raw_socket();
    r = accept(unlistened, NULL, NULL);
    printf("not listening: %d %s\n", r, strerror(errno));
    close(unlistened);
    struct timeval timeout = {.tv_usec = 100000};
    setsockopt(listener, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    double started = mono_now();
    r = accept(listener, NULL, NULL);
    printf("timeout: %d %s %s\n", r, strerror(errno), mono_now() - started >= 0.09 ? "after it" : "too soon");
    timeout.tv_usec = 0;
    setsockopt(listener, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    int client = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(client, (struct sockaddr *)addr, sizeof *addr) != 0) DIE("connect");
    struct sockaddr_in mine, peer;
    socklen_t mine_len = sizeof mine, peer_len = sizeof peer + 4;
    getsockname(client, (struct sockaddr *)&mine, &mine_len);
    int fd = accept4(listener, (struct sockaddr *)&peer, &peer_len, SOCK_CLOEXEC);
    if (fd < 0) DIE("accept4");
    printf("accepted: family %d, length %u, same port %d, cloexec %d, nonblock %d\n", peer.sin_family,
           (unsigned)peer_len, peer.sin_port == mine.sin_port, (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0,
           (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
    close(fd);
    close(client);
    atomic_store((atomic_int *)&stop, 1);
    pthread_join(other, NULL);
}

static void echo_once(struct sockaddr_in *addr, int i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)addr, sizeof *addr) != 0) DIE("connect %d", i);
    char byte = (char)('a' + i % 26), back = 0;
    if (write(fd, &byte, 1) != 1 || read(fd, &back, 1) != 1 || back != byte) DIE("echo %d", i);
    close(fd);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int workers = argc > 1 ? atoi(argv[1]) : 4, connections = argc > 2 ? atoi(argv[2]) : 40;
    listener = raw_socket();
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 64) != 0)
        DIE("listen");
    getsockname(listener, (struct sockaddr *)&addr, &len);
    check_accept(&addr);
    pid_t pids[64];
    int controls[64];
    fork_workers(workers, worker, pids, controls);
    for (int i = 0; i < connections; i++) echo_once(&addr, i);
    printf("echoed %d\n", connections);
    printf("exited %d\n", end_workers(workers, pids, controls, 20));
    return 0;
}
