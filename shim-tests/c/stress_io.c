/* Stress: 1000 threads made with pthread_create (500 channels, one writer and one reader
 * each) do random mixes of blocking I/O over AF_UNIX socket pairs, pipes and TCP loopback
 * connections for a bounded time, and every byte is accounted for.
 *
 *   stress_io SECONDS [SEED]
 *
 * Each channel carries a stream whose byte at offset p is a function of the channel and p,
 * so the reader checks every byte it receives; at the end the bytes sent and received must
 * match per channel. Writers pick among write, send, writev, poll-then-write,
 * select-then-write (only for fds below FD_SETSIZE), short sleeps and a mutex/condition
 * variable hand-off of numbered notes to their reader; readers among read, recv, readv,
 * poll-then-read, select-then-read, short sleeps and taking notes (which must arrive in
 * increasing order). The choices come from a PRNG seeded by SEED (default: from the clock),
 * which is printed first so a failing run can be repeated.
 *
 * When SECONDS have passed the writers stop and close their ends; the readers read to EOF.
 * The program prints the OS thread count it sees while the threads run (a greened run
 * must say 1), then one line of totals, and exits 0 only if every check passed.
 *
 * test_stress.py runs it for a few seconds in each mode. For a long run by hand, e.g. 300 s:
 *   make build progs
 *   STRESS_SECONDS=300 python3 -m pytest shim-tests/test_stress.py -q     (both modes)
 * or directly, greened (drop LD_PRELOAD for the native run):
 *   LD_PRELOAD=$PWD/target/release/libgreen.so build/bin/stress_io 300 */
#define _GNU_SOURCE
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define CHANNELS 500
#define MAX_CHUNK 8192

enum kind { UNIX_STREAM, PIPE, TCP, KINDS };
static const char *kind_names[KINDS] = {"socketpair", "pipe", "tcp"};

struct channel {
    int id;
    enum kind kind;
    int rfd, wfd;
    /* Writer side. */
    uint64_t sent;
    uint64_t writer_ops;
    /* Reader side. */
    uint64_t received;
    uint64_t reader_ops;
    int bad_byte; /* 1 if any byte differed from the stream's content */
    uint64_t bad_at;
    /* The note hand-off: one slot, guarded by mu, signalled with cv. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int slot_full;
    uint64_t slot;
    uint64_t notes_posted, notes_dropped, notes_taken, last_taken;
    int notes_out_of_order;
};

static struct channel channels[CHANNELS];
static atomic_int stop;

/* Threads wait here until all of them exist, so the run's length is the one asked for. */
static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t start_cv = PTHREAD_COND_INITIALIZER;
static int started;

static void wait_for_start(void) {
    pthread_mutex_lock(&start_mu);
    while (!started) pthread_cond_wait(&start_cv, &start_mu);
    pthread_mutex_unlock(&start_mu);
}
static uint64_t seed;

static uint8_t stream_byte(int channel, uint64_t pos) {
    uint64_t x = pos * 0x9E3779B97F4A7C15ull + (uint64_t)channel * 0xBF58476D1CE4E5B9ull;
    return (uint8_t)(x >> 56);
}

/* xorshift64* */
static uint64_t next_random(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static uint64_t random_below(uint64_t *state, uint64_t n) {
    return next_random(state) % n;
}

static int is_socket(const struct channel *c) {
    return c->kind != PIPE;
}

/* Waits until fd is ready for `events`: poll, or select when the fd fits an fd_set. */
static int wait_ready(int fd, short events, int use_select, int timeout_ms) {
    if (use_select && fd < FD_SETSIZE) {
        fd_set set;
        FD_ZERO(&set);
        FD_SET(fd, &set);
        struct timeval tv = {0, timeout_ms * 1000};
        int n = select(fd + 1, events == POLLIN ? &set : NULL, events == POLLOUT ? &set : NULL, NULL, &tv);
        if (n < 0) DIE("select");
        return n;
    }
    struct pollfd p = {fd, events, 0};
    int n = poll(&p, 1, timeout_ms);
    if (n < 0) DIE("poll");
    return n;
}

/* ---- Writer */

static void fill(const struct channel *c, uint8_t *buf, size_t n) {
    for (size_t i = 0; i < n; i++) buf[i] = stream_byte(c->id, c->sent + i);
}

/* One blocking write of n stream bytes in the way `how` says; returns what was written. */
static ssize_t write_some(struct channel *c, uint8_t *buf, size_t n, int how, uint64_t *rng) {
    fill(c, buf, n);
    ssize_t w;
    switch (how) {
    case 0:
        w = write(c->wfd, buf, n);
        break;
    case 1:
        w = is_socket(c) ? send(c->wfd, buf, n, MSG_NOSIGNAL) : write(c->wfd, buf, n);
        break;
    default: {
        struct iovec iov[4];
        int count = 1 + (int)random_below(rng, 4);
        size_t at = 0;
        for (int i = 0; i < count; i++) {
            size_t len = i == count - 1 ? n - at : random_below(rng, n - at + 1);
            iov[i] = (struct iovec){buf + at, len};
            at += len;
        }
        w = writev(c->wfd, iov, count);
    }
    }
    if (w < 0) DIE("channel %d (%s): write", c->id, kind_names[c->kind]);
    /* Blocking writes are complete. */
    if ((size_t)w != n) DIE("channel %d: short blocking write %zd of %zu", c->id, w, n);
    c->sent += (uint64_t)w;
    return w;
}

static void post_note(struct channel *c, uint64_t *rng) {
    pthread_mutex_lock(&c->mu);
    if (c->slot_full) {
        /* Wait a little for the reader to take the last one; give up if it is busy. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)(1 + random_below(rng, 3)) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        while (c->slot_full) {
            int rc = pthread_cond_timedwait(&c->cv, &c->mu, &until);
            if (rc == ETIMEDOUT) break;
            if (rc != 0) { errno = rc; DIE("pthread_cond_timedwait"); }
        }
    }
    c->notes_posted++;
    if (c->slot_full) {
        c->notes_dropped++;
    } else {
        c->slot = c->notes_posted;
        c->slot_full = 1;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

static void *writer(void *arg) {
    struct channel *c = arg;
    uint64_t rng = seed ^ ((uint64_t)c->id * 0x9E3779B97F4A7C15ull) ^ 0x57;
    uint8_t buf[MAX_CHUNK];
    wait_for_start();
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        size_t n = 1 + random_below(&rng, random_below(&rng, 4) ? 512 : MAX_CHUNK);
        switch (random_below(&rng, 10)) {
        case 0: case 1: case 2:
            write_some(c, buf, n, 0, &rng);
            break;
        case 3: case 4:
            write_some(c, buf, n, 1, &rng);
            break;
        case 5: case 6:
            write_some(c, buf, n, 2, &rng);
            break;
        case 7:
            if (wait_ready(c->wfd, POLLOUT, (int)random_below(&rng, 2), 10) > 0)
                write_some(c, buf, n, (int)random_below(&rng, 3), &rng);
            break;
        case 8:
            usleep((useconds_t)random_below(&rng, 300));
            break;
        case 9:
            post_note(c, &rng);
            break;
        }
        c->writer_ops++;
    }
    if (is_socket(c)) {
        if (shutdown(c->wfd, SHUT_WR) != 0) DIE("shutdown");
    } else {
        close(c->wfd);
        c->wfd = -1;
    }
    return NULL;
}

/* ---- Reader */

static void check(struct channel *c, const uint8_t *buf, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != stream_byte(c->id, c->received + i) && !c->bad_byte) {
            c->bad_byte = 1;
            c->bad_at = c->received + i;
        }
    }
    c->received += n;
}

static void take_note(struct channel *c) {
    pthread_mutex_lock(&c->mu);
    if (c->slot_full) {
        if (c->slot <= c->last_taken) c->notes_out_of_order++;
        c->last_taken = c->slot;
        c->slot_full = 0;
        c->notes_taken++;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

/* One blocking read in the way `how` says: bytes read, 0 at EOF. */
static ssize_t read_some(struct channel *c, uint8_t *buf, size_t n, int how, uint64_t *rng) {
    ssize_t r;
    switch (how) {
    case 0:
        r = read(c->rfd, buf, n);
        break;
    case 1:
        r = is_socket(c) ? recv(c->rfd, buf, n, 0) : read(c->rfd, buf, n);
        break;
    default: {
        struct iovec iov[3];
        int count = 1 + (int)random_below(rng, 3);
        size_t at = 0;
        for (int i = 0; i < count; i++) {
            size_t len = i == count - 1 ? n - at : random_below(rng, n - at + 1);
            iov[i] = (struct iovec){buf + at, len};
            at += len;
        }
        r = readv(c->rfd, iov, count);
    }
    }
    if (r < 0) DIE("channel %d (%s): read", c->id, kind_names[c->kind]);
    check(c, buf, (size_t)r);
    return r;
}

static void *reader(void *arg) {
    struct channel *c = arg;
    uint64_t rng = seed ^ ((uint64_t)c->id * 0xD6E8FEB86659FD93ull) ^ 0x52;
    uint8_t buf[MAX_CHUNK];
    wait_for_start();
    for (;;) {
        size_t n = 1 + random_below(&rng, random_below(&rng, 4) ? 1024 : MAX_CHUNK);
        ssize_t r = 1;
        switch (random_below(&rng, 10)) {
        case 0: case 1: case 2:
            r = read_some(c, buf, n, 0, &rng);
            break;
        case 3: case 4:
            r = read_some(c, buf, n, 1, &rng);
            break;
        case 5: case 6:
            r = read_some(c, buf, n, 2, &rng);
            break;
        case 7:
            if (wait_ready(c->rfd, POLLIN, (int)random_below(&rng, 2), 10) > 0)
                r = read_some(c, buf, n, (int)random_below(&rng, 3), &rng);
            break;
        case 8:
            usleep((useconds_t)random_below(&rng, 300));
            break;
        case 9:
            take_note(c);
            break;
        }
        c->reader_ops++;
        if (r == 0) break; /* EOF: the writer is done */
    }
    take_note(c);
    return NULL;
}

/* ---- Setup */

static void tcp_connections(int listener, struct sockaddr_in *addr, int fds[2]) {
    fds[1] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[1] < 0) DIE("socket");
    if (connect(fds[1], (struct sockaddr *)addr, sizeof *addr) != 0) DIE("connect");
    fds[0] = accept(listener, NULL, NULL);
    if (fds[0] < 0) DIE("accept");
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: stress_io SECONDS [SEED]\n");
        return 2;
    }
    double seconds = atof(argv[1]);
    seed = argc == 3 ? strtoull(argv[2], NULL, 10) : (uint64_t)(mono_now() * 1e9) ^ (uint64_t)getpid();
    printf("seed=%llu channels=%d threads=%d seconds=%g\n", (unsigned long long)seed, CHANNELS, 2 * CHANNELS,
           seconds);
    fflush(stdout);
    signal(SIGPIPE, SIG_IGN);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) DIE("getrlimit");
    if (rl.rlim_cur < 4096 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) DIE("setrlimit");
    }

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((unsigned short)listen_on_loopback(listener, 0, 64));
    for (int i = 0; i < CHANNELS; i++) {
        struct channel *c = &channels[i];
        c->id = i;
        c->kind = (enum kind)(i % KINDS);
        int fds[2];
        switch (c->kind) {
        case UNIX_STREAM:
            if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) DIE("socketpair");
            break;
        case PIPE:
            if (pipe(fds) != 0) DIE("pipe");
            break;
        default:
            tcp_connections(listener, &addr, fds);
        }
        c->rfd = fds[0];
        c->wfd = fds[1];
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cv, NULL);
    }
    close(listener);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t *threads = malloc(sizeof(pthread_t) * 2 * CHANNELS);
    for (int i = 0; i < CHANNELS; i++) {
        int rc = pthread_create(&threads[2 * i], &attr, reader, &channels[i]);
        if (rc == 0) rc = pthread_create(&threads[2 * i + 1], &attr, writer, &channels[i]);
        if (rc != 0) { errno = rc; DIE("pthread_create %d", i); }
    }

    /* Let them run; look at the OS thread count while they do. */
    pthread_mutex_lock(&start_mu);
    started = 1;
    pthread_cond_broadcast(&start_cv);
    pthread_mutex_unlock(&start_mu);
    double start = mono_now(), end = start + seconds;
    int os_threads = -1;
    while (mono_now() < end) {
        usleep(20000);
        if (os_threads < 0 && mono_now() - start >= seconds / 3) os_threads = os_thread_count();
    }
    if (os_threads < 0) os_threads = os_thread_count();
    printf("os_threads_while_running=%d\n", os_threads);
    fflush(stdout);
    atomic_store(&stop, 1);
    for (int i = 0; i < 2 * CHANNELS; i++) {
        int rc = pthread_join(threads[i], NULL);
        if (rc != 0) { errno = rc; DIE("pthread_join"); }
    }

    uint64_t sent[KINDS] = {0}, received[KINDS] = {0}, ops = 0;
    uint64_t posted = 0, taken = 0, dropped = 0;
    int failures = 0;
    for (int i = 0; i < CHANNELS; i++) {
        struct channel *c = &channels[i];
        sent[c->kind] += c->sent;
        received[c->kind] += c->received;
        ops += c->writer_ops + c->reader_ops;
        posted += c->notes_posted;
        taken += c->notes_taken;
        dropped += c->notes_dropped;
        const char *why = NULL;
        if (c->sent != c->received) why = "sent != received";
        else if (c->bad_byte) why = "wrong content";
        else if (c->notes_out_of_order) why = "notes out of order";
        else if (c->notes_posted != c->notes_taken + c->notes_dropped) why = "notes lost";
        if (why) {
            failures++;
            printf("channel %d (%s): %s: sent=%llu received=%llu bad_at=%llu notes=%llu/%llu/%llu\n", i,
                   kind_names[c->kind], why, (unsigned long long)c->sent, (unsigned long long)c->received,
                   (unsigned long long)c->bad_at, (unsigned long long)c->notes_posted,
                   (unsigned long long)c->notes_taken, (unsigned long long)c->notes_dropped);
        }
        close(c->rfd);
        if (c->wfd >= 0) close(c->wfd);
    }
    uint64_t all_sent = 0, all_received = 0;
    for (int k = 0; k < KINDS; k++) {
        all_sent += sent[k];
        all_received += received[k];
    }
    printf("totals sent=%llu received=%llu socketpair=%llu/%llu pipe=%llu/%llu tcp=%llu/%llu ops=%llu "
           "notes_posted=%llu notes_taken=%llu notes_dropped=%llu failed_channels=%d\n",
           (unsigned long long)all_sent, (unsigned long long)all_received, (unsigned long long)sent[UNIX_STREAM],
           (unsigned long long)received[UNIX_STREAM], (unsigned long long)sent[PIPE],
           (unsigned long long)received[PIPE], (unsigned long long)sent[TCP], (unsigned long long)received[TCP],
           (unsigned long long)ops, (unsigned long long)posted, (unsigned long long)taken,
           (unsigned long long)dropped, failures);
    printf("elapsed=%.2f\n", mono_now() - start);
    return failures ? 1 : 0;
}
