/* A periodic thread that must keep ticking while the main thread sits in blocking accept()
 * and read() calls of a tiny TCP server.
 *
 *   periodic_server K
 *
 * Prints "PORT <p>" (127.0.0.1, ephemeral port) first. The ticker thread prints
 * "tick <n> <ms since start>" every 100 ms (a usleep loop). The main thread serves K clients
 * one at a time: blocking accept, read one line, write it back in upper case, close. Then it
 * stops the ticker and prints "ticks=<n>" and "run_ms=<ms since start>".
 * If blocking in accept/read stalled the whole process, the ticks would stop while the
 * server waits for clients, which shows as missing ticks and long gaps between them. */
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#define TICK_US 100000
#define MAX_LINE 4096

static atomic_int stop_ticking;
static double start_time;
static int ticks;

static long ms_since_start(void) {
    return (long)((mono_now() - start_time) * 1000);
}

static void *ticker(void *arg) {
    (void)arg;
    while (!atomic_load(&stop_ticking)) {
        if (usleep(TICK_US) != 0) DIE("usleep");
        ticks++;
        printf("tick %d %ld\n", ticks, ms_since_start());
        fflush(stdout);
    }
    return NULL;
}

/* Reads up to and including the first newline (or to EOF); returns the length. */
static size_t read_line(int fd, char *buf, size_t cap) {
    size_t len = 0;
    while (len < cap) {
        ssize_t n = read(fd, buf + len, 1);
        if (n < 0) DIE("read");
        if (n == 0) break;
        len++;
        if (buf[len - 1] == '\n') break;
    }
    return len;
}

static void write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) DIE("write");
        buf += n;
        len -= (size_t)n;
    }
}

int main(int argc, char **argv) {
    if (argc != 2 || atoi(argv[1]) <= 0) {
        fprintf(stderr, "usage: periodic_server K\n");
        return 2;
    }
    int clients = atoi(argv[1]);
    start_time = mono_now();

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0) DIE("socket");
    int one = 1;
    if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) DIE("setsockopt");
    printf("PORT %d\n", listen_on_loopback(lfd, 0, 16));
    fflush(stdout);

    pthread_t tid;
    int rc = pthread_create(&tid, NULL, ticker, NULL);
    if (rc != 0) { errno = rc; DIE("pthread_create"); }

    for (int i = 0; i < clients; i++) {
        int cfd = accept(lfd, NULL, NULL);
        if (cfd < 0) DIE("accept");
        char line[MAX_LINE];
        size_t len = read_line(cfd, line, sizeof line);
        for (size_t j = 0; j < len; j++) line[j] = (char)toupper((unsigned char)line[j]);
        write_all(cfd, line, len);
        close(cfd);
    }
    close(lfd);

    atomic_store(&stop_ticking, 1);
    if ((rc = pthread_join(tid, NULL)) != 0) { errno = rc; DIE("pthread_join"); }
    printf("ticks=%d\n", ticks);
    printf("run_ms=%ld\n", ms_since_start());
    return 0;
}
