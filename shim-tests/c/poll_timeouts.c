/* poll() corner cases on AF_UNIX stream socketpairs, one output line per case:
 *
 *   <case> ret=<poll's return> [errno=<name>] revents=<hex>[,<hex>...] [elapsed_ms=<n>]
 *
 * Everything except the elapsed_ms values must be identical natively and as a green thread;
 * elapsed_ms is printed for the cases whose duration matters and is checked against bounds
 * by the test. No case depends on scheduling luck: the "wake" cases start their helper thread
 * before polling, and the helper acts only after 100 ms of sleep. */
#define _GNU_SOURCE
#include "common.h"

#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define HELPER_DELAY_US 100000

static void make_pair(int sv[2]) {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) DIE("socketpair");
}

static void put_byte(int fd) {
    if (write(fd, "x", 1) != 1) DIE("write");
}

static void report(const char *name, int ret, int err, const struct pollfd *fds, int nfds,
                   double started, int show_elapsed) {
    printf("%s ret=%d", name, ret);
    if (ret < 0) printf(" errno=%s", errno_name(err));
    printf(" revents=");
    for (int i = 0; i < nfds; i++) printf("%s0x%x", i ? "," : "", (unsigned)fds[i].revents);
    if (nfds == 0) printf("-");
    if (show_elapsed) printf(" elapsed_ms=%ld", (long)((mono_now() - started) * 1000));
    printf("\n");
    fflush(stdout);
}

/* Runs one poll() call and reports it. */
static void poll_case(const char *name, struct pollfd *fds, int nfds, int timeout_ms,
                      int show_elapsed) {
    for (int i = 0; i < nfds; i++) fds[i].revents = (short)0x7777;  /* must be overwritten */
    double started = mono_now();
    int ret = poll(fds, (nfds_t)nfds, timeout_ms);
    int err = errno;
    report(name, ret, err, fds, nfds, started, show_elapsed);
}

struct delayed {
    int fd;
    int close_it;  /* 0: write one byte; 1: close the fd */
};

static void *delayed_action(void *arg) {
    struct delayed *d = arg;
    if (usleep(HELPER_DELAY_US) != 0) DIE("usleep");
    if (d->close_it) {
        if (close(d->fd) != 0) DIE("close");
    } else {
        put_byte(d->fd);
    }
    return NULL;
}

/* poll(-1) on sv[0] while a thread started just before acts on sv[1] after 100 ms. */
static void wake_case(const char *name, int close_peer) {
    int sv[2];
    make_pair(sv);
    struct delayed d = {.fd = sv[1], .close_it = close_peer};
    struct pollfd p = {.fd = sv[0], .events = POLLIN};
    pthread_t tid;
    double started = mono_now();
    int rc = pthread_create(&tid, NULL, delayed_action, &d);
    if (rc != 0) { errno = rc; DIE("pthread_create"); }
    p.revents = (short)0x7777;
    int ret = poll(&p, 1, -1);
    int err = errno;
    report(name, ret, err, &p, 1, started, 1);
    if ((rc = pthread_join(tid, NULL)) != 0) { errno = rc; DIE("pthread_join"); }
    close(sv[0]);
    if (!close_peer) close(sv[1]);
}

int main(void) {
    int sv[2];

    /* Nothing to read and timeout 0: returns 0 at once. */
    make_pair(sv);
    struct pollfd p = {.fd = sv[0], .events = POLLIN};
    poll_case("zero_timeout_idle", &p, 1, 0, 0);

    /* Nothing to read and 50 ms: returns 0, no sooner than 50 ms. */
    poll_case("timeout_50ms_idle", &p, 1, 50, 1);

    /* A connected socket with buffer space is writable at once. */
    p.events = POLLOUT;
    poll_case("writable", &p, 1, 5000, 1);

    /* Data already queued: ready at once even with a long timeout. */
    put_byte(sv[1]);
    p.events = POLLIN;
    poll_case("data_present", &p, 1, 5000, 1);
    p.events = POLLIN | POLLOUT;
    poll_case("data_present_in_out", &p, 1, 5000, 0);

    /* An fd of -1 is skipped (revents 0) while the other entry is ready. */
    struct pollfd two[2] = {{.fd = -1, .events = POLLIN}, {.fd = sv[0], .events = POLLIN}};
    poll_case("negative_fd_skipped", two, 2, 5000, 0);

    /* Peer closed while one byte is still unread, then after it was read: POLLIN|POLLHUP. */
    close(sv[1]);
    p.events = POLLIN;
    poll_case("peer_closed_data_left", &p, 1, 5000, 0);
    char c;
    if (read(sv[0], &c, 1) != 1) DIE("read");
    poll_case("peer_closed_drained", &p, 1, 5000, 0);
    p.events = POLLIN | POLLOUT;
    poll_case("peer_closed_drained_in_out", &p, 1, 5000, 0);
    close(sv[0]);

    /* A closed descriptor number: POLLNVAL, counted in the return value. */
    make_pair(sv);
    int stale = sv[0];
    close(sv[0]);
    struct pollfd bad = {.fd = stale, .events = POLLIN};
    poll_case("closed_fd", &bad, 1, 5000, 0);
    close(sv[1]);

    /* Only ignored entries, or none at all: poll is a plain 50 ms sleep. */
    struct pollfd ignored = {.fd = -1, .events = POLLIN};
    poll_case("only_negative_fd_50ms", &ignored, 1, 50, 1);
    poll_case("nfds_zero_50ms", NULL, 0, 50, 1);

    /* More entries than RLIMIT_NOFILE allows: EINVAL. The array really is that long (all
     * entries ignored), so nothing reads past its end. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) DIE("getrlimit");
    nfds_t too_many = (nfds_t)rl.rlim_cur + 1;
    struct pollfd *many = calloc(too_many, sizeof *many);
    if (!many) DIE("calloc");
    for (nfds_t i = 0; i < too_many; i++) many[i].fd = -1;
    errno = 0;
    int ret = poll(many, too_many, 0);
    printf("nfds_over_rlimit ret=%d errno=%s\n", ret, errno_name(ret < 0 ? errno : 0));
    fflush(stdout);
    free(many);

    /* Blocking poll(-1), woken by another thread's write, then by its close. */
    wake_case("wake_by_write", 0);
    wake_case("wake_by_peer_close", 1);
    return 0;
}
