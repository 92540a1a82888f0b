/* Small helpers shared by the test, demo and benchmark programs. Programs must stay plain
 * blocking POSIX code: they are what libgreen is meant to run unmodified. */
#ifndef GREEN_TEST_COMMON_H
#define GREEN_TEST_COMMON_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DIE(...) do { fprintf(stderr, __VA_ARGS__); fprintf(stderr, " (errno %d: %s)\n", errno, strerror(errno)); exit(99); } while (0)

static inline double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A ticker: a thread that counts a tick every `period_us` microseconds until stopped. Tests
 * read ticker_ticks() around a blocking call: greened, the count goes on only if the call
 * parked its own green thread, not the whole OS thread. */
static atomic_int ticker_count __attribute__((unused)), ticker_stopping __attribute__((unused));
static useconds_t ticker_period __attribute__((unused));
static pthread_t ticker_thread __attribute__((unused));

static inline void *ticker_main(void *arg) {
    (void)arg;
    while (!atomic_load(&ticker_stopping)) {
        usleep(ticker_period);
        atomic_fetch_add(&ticker_count, 1);
    }
    return NULL;
}

static inline void ticker_start(useconds_t period_us) {
    atomic_store(&ticker_stopping, 0);
    atomic_store(&ticker_count, 0);
    ticker_period = period_us;
    if (pthread_create(&ticker_thread, NULL, ticker_main, NULL) != 0) {
        perror("ticker: pthread_create");
        exit(99);
    }
}

static inline void ticker_stop(void) {
    atomic_store(&ticker_stopping, 1);
    pthread_join(ticker_thread, NULL);
}

static inline int ticker_ticks(void) { return atomic_load(&ticker_count); }

/* Forks `count` (at most 64) worker processes, each running worker(control) and never
 * returning, where `control` is the read end of its own pipe; pids[i] and controls[i] (the
 * write end, which the parent closes to tell that worker to end) are filled in. A worker
 * holds no other worker's control pipe. */
static inline void fork_workers(int count, void (*worker)(int control), pid_t *pids, int *controls) {
    for (int i = 0; i < count && i < 64; i++) {
        int pipefd[2];
        if (pipe(pipefd) != 0) DIE("pipe");
        pids[i] = fork();
        if (pids[i] < 0) DIE("fork");
        if (pids[i] == 0) {
            close(pipefd[1]);
            for (int j = 0; j < i; j++) close(controls[j]);
            worker(pipefd[0]);
            _exit(0);
        }
        close(pipefd[0]);
        controls[i] = pipefd[1];
    }
}

/* A worker's main thread: starts `thread`, which runs on, and returns once the parent has
 * closed `control`. */
static inline void start_and_wait(int control, void *(*thread)(void *)) {
    pthread_t t;
    if (pthread_create(&t, NULL, thread, NULL) != 0) DIE("pthread_create");
    char byte;
    if (read(control, &byte, 1) < 0) DIE("read control");
}

/* Tells the `count` workers fork_workers made to end (closes their control pipes), waits
 * up to `seconds` for them and kills the rest; returns how many exited with status 0. */
static inline int end_workers(int count, const pid_t *pids, const int *controls, double seconds) {
    for (int i = 0; i < count; i++) close(controls[i]);
    int exited = 0;
    double give_up = mono_now() + seconds;
    for (int left = count; left > 0 && mono_now() < give_up;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            left--;
            exited += WIFEXITED(status) && WEXITSTATUS(status) == 0;
        } else {
            usleep(10000);
        }
    }
    for (int i = 0; i < count; i++) kill(pids[i], SIGKILL);
    return exited;
}

/* Threads of this process, as the kernel counts them. Greened programs must say 1. */
static inline int os_thread_count(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1) break;
    fclose(f);
    return n;
}


/* Symbolic name of an errno value, so test output can be compared between native and greened
 * runs (and read by people) without depending on strerror wording. */
static inline const char *errno_name(int e) {
    switch (e) {
    case 0: return "0";
    case EAGAIN: return "EAGAIN";
    case EBUSY: return "EBUSY";
    case ECHILD: return "ECHILD";
    case EDEADLK: return "EDEADLK";
    case EPERM: return "EPERM";
    case ESRCH: return "ESRCH";
    case EBADF: return "EBADF";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EFAULT: return "EFAULT";
    case EINPROGRESS: return "EINPROGRESS";
    case EINTR: return "EINTR";
    case EINVAL: return "EINVAL";
    case EISCONN: return "EISCONN";
    case EALREADY: return "EALREADY";
    case ENOTCONN: return "ENOTCONN";
    case ENOTSOCK: return "ENOTSOCK";
    case EPIPE: return "EPIPE";
    case ETIMEDOUT: return "ETIMEDOUT";
    default: {
        static char buf[32];  /* only used on unexpected values, from one thread at a time */
        snprintf(buf, sizeof buf, "E%d", e);
        return buf;
    }
    }
}

/* The command line both echo servers share:
 *   NAME [--port P] [--max-conns N] [--bufsize B] */
#include <getopt.h>

struct server_options {
    int port;                /* 0: any free port */
    unsigned long max_conns; /* 0: serve forever */
    size_t bufsize;
};

static inline void server_usage(const char *name) {
    fprintf(stderr, "usage: %s [--port P] [--max-conns N] [--bufsize B]\n", name);
    exit(2);
}

static inline unsigned long server_number(const char *name, const char *s, unsigned long max) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || end == s || v > max) server_usage(name);
    return v;
}

static inline struct server_options parse_server_options(int argc, char **argv, const char *name) {
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},
        {"max-conns", required_argument, NULL, 'n'},
        {"bufsize", required_argument, NULL, 'b'},
        {NULL, 0, NULL, 0},
    };
    struct server_options o = {.port = 0, .max_conns = 0, .bufsize = 16384};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': o.port = (int)server_number(name, optarg, 65535); break;
        case 'n': o.max_conns = server_number(name, optarg, 100000000); break;
        case 'b': o.bufsize = server_number(name, optarg, 1UL << 30); break;
        default: server_usage(name);
        }
    }
    if (optind != argc || o.bufsize == 0) server_usage(name);
    return o;
}

/* Binds `fd` to 127.0.0.1:port (0: any free port) and listens; returns the bound port. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static inline int listen_on_loopback(int fd, int port, int backlog) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) DIE("bind");
    if (listen(fd, backlog) != 0) DIE("listen");
    socklen_t alen = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &alen) != 0) DIE("getsockname");
    return ntohs(addr.sin_port);
}

/* Whether the kernel's own record of fd's open file description (/proc/self/fdinfo, not
 * fcntl's view, which a shim keeps as the program set it) has O_NONBLOCK. */
static inline int kernel_nonblocking(int fd) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *info = fopen(path, "r");
    if (!info) DIE("fdinfo");
    unsigned flags = 0;
    while (fgets(line, sizeof line, info))
        if (sscanf(line, "flags: %o", &flags) == 1) break;
    fclose(info);
    return (flags & 04000) != 0;
}

#endif
