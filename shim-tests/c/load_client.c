/* Load generator for the echo servers. It is never greened: one thread, nonblocking sockets
 * and its own epoll loop, so that what it measures is the server and not itself.
 *
 *   load_client --port P [--host 127.0.0.1] --conns N (--requests R | --duration SECS)
 *               [--size BYTES] [--hold-ms MS] [--timeout SECS]
 *
 * Phases:
 *   1. connect: N nonblocking connects, at most MAX_CONNECTS_IN_FLIGHT at a time; refused or
 *      resource-starved attempts are retried every CONNECT_RETRY_DELAY_NS for up to
 *      CONNECT_RETRY_WINDOW_NS. Waits until all N are connected.
 *   2. warm-up: one round trip on every connection, then a barrier until all N completed it.
 *      Past the barrier the server holds all N connections at once.
 *   3. hold: sleep --hold-ms with every connection idle and open, so a test can look at the
 *      server in that state.
 *   4. load: closed loop on every connection (send SIZE bytes, read SIZE bytes back, verify,
 *      repeat) until each did R round trips counting the warm-up, or until --duration seconds
 *      have passed since the end of the hold (in-flight round trips are then completed).
 *   5. shutdown and close every connection.
 *
 * Each request's bytes are a function of (connection id, request number), so bytes echoed on
 * the wrong connection, or out of order, fail the byte-for-byte check.
 *
 * Output: one JSON line on stdout:
 *   {"conns":N,"connected":n,"requests":r,"bytes_verified":b,"errors":e,"mismatches":m,
 *    "elapsed_s":t,"rps":x,"p50_us":..,"p99_us":..,"max_us":..}
 * requests and bytes_verified include the warm-up round trips; elapsed_s, rps and the
 * latency percentiles cover the load phase only (the warm-up also measures connection
 * set-up on the server, which is not what the percentiles are about).
 * Exit status 0 iff every connection connected, nothing failed or mismatched and, with
 * --requests, exactly N*R round trips were made; otherwise 1 with a reason on stderr. */
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define NS_PER_SEC 1000000000ULL
/* Enough connects in flight to keep a server's accept loop busy, few enough not to overflow
 * its SYN queue (tcp_max_syn_backlog is often 1024..4096) and fall into 1 s SYN retries. */
#define MAX_CONNECTS_IN_FLIGHT 256
#define CONNECT_RETRY_DELAY_NS (20 * 1000 * 1000ULL)
#define CONNECT_RETRY_WINDOW_NS (5 * NS_PER_SEC)
#define MAX_EVENTS 1024
/* epoll_wait never sleeps longer than this, so timers (retries, the overall timeout) are
 * checked at least this often. */
#define POLL_SLICE_MS 50

enum conn_state {
    CONN_UNSTARTED,  /* no connect attempted yet, or waiting for a retry */
    CONN_CONNECTING, /* nonblocking connect in flight */
    CONN_IDLE,       /* connected, no request outstanding */
    CONN_BUSY,       /* a request is being sent and/or its echo received */
    CONN_FAILED,     /* closed because of an error or a mismatch */
};

enum phase { PHASE_CONNECT, PHASE_WARMUP, PHASE_LOAD };

struct conn {
    int fd;
    uint32_t id;
    enum conn_state state;
    uint32_t request;        /* number of the request in progress or last completed */
    size_t sent, received;   /* progress of the current request */
    uint64_t request_start;  /* monotonic ns when the current request started */
    uint64_t first_attempt;  /* monotonic ns of the first connect attempt (0: none yet) */
    uint64_t retry_at;       /* monotonic ns before which no new attempt is made */
    uint8_t *payload;        /* the current request's bytes, which are also the expected echo */
};

struct options {
    const char *host;
    int port;
    uint32_t conns;
    uint32_t requests;  /* 0: duration mode */
    double duration_s;  /* 0: requests mode */
    size_t size;
    long hold_ms;
    double timeout_s;
};

struct latencies {
    uint64_t *ns;
    size_t len, cap;
};

struct client {
    struct options opt;
    struct sockaddr_in addr;
    int epfd;
    struct conn *conns;
    uint8_t *scratch;  /* receive buffer shared by all connections */
    enum phase phase;
    uint64_t deadline;       /* overall timeout, monotonic ns */
    uint64_t load_end;       /* duration mode: no new request starts after this */
    uint32_t connecting;     /* connects in flight */
    uint32_t connected;      /* connections that completed their connect */
    uint32_t settled;        /* connections done with the current phase (or failed) */
    uint64_t round_trips, warmup_round_trips, bytes_verified, errors, mismatches;
    char first_error[160];   /* first failure seen, for the stderr reason */
    struct latencies lat;
};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void usage(void) {
    fprintf(stderr,
            "usage: load_client --port P [--host 127.0.0.1] --conns N "
            "(--requests R | --duration SECS) [--size BYTES] [--hold-ms MS] [--timeout SECS]\n");
    exit(2);
}

static unsigned long parse_count(const char *s, const char *what, unsigned long max) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || end == s || v > max) {
        fprintf(stderr, "load_client: bad %s: %s\n", what, s);
        usage();
    }
    return v;
}

static double parse_seconds(const char *s, const char *what) {
    char *end;
    double v = strtod(s, &end);
    if (*end || end == s || !(v > 0)) {
        fprintf(stderr, "load_client: bad %s: %s\n", what, s);
        usage();
    }
    return v;
}

static struct options parse_options(int argc, char **argv) {
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},     {"host", required_argument, NULL, 'H'},
        {"conns", required_argument, NULL, 'c'},    {"requests", required_argument, NULL, 'r'},
        {"duration", required_argument, NULL, 'd'}, {"size", required_argument, NULL, 's'},
        {"hold-ms", required_argument, NULL, 'h'},  {"timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    struct options o = {.host = "127.0.0.1", .port = -1, .size = 128, .timeout_s = 120};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': o.port = (int)parse_count(optarg, "port", 65535); break;
        case 'H': o.host = optarg; break;
        case 'c': o.conns = (uint32_t)parse_count(optarg, "conns", 1000000); break;
        case 'r': o.requests = (uint32_t)parse_count(optarg, "requests", UINT32_MAX); break;
        case 'd': o.duration_s = parse_seconds(optarg, "duration"); break;
        case 's': o.size = parse_count(optarg, "size", 1UL << 30); break;
        case 'h': o.hold_ms = (long)parse_count(optarg, "hold-ms", 86400000); break;
        case 't': o.timeout_s = parse_seconds(optarg, "timeout"); break;
        default: usage();
        }
    }
    if (optind != argc || o.port <= 0 || o.conns == 0 || o.size == 0 ||
        (o.requests == 0) == (o.duration_s == 0))
        usage();
    return o;
}

/* The soft limit is often 1024; thousands of connections need the hard limit. */
static void raise_nofile_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* splitmix64: a cheap, well-mixed function of its input, so every (connection, request)
 * pair gets its own byte stream. */
static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void fill_payload(uint8_t *buf, size_t size, uint32_t conn_id, uint32_t request) {
    uint64_t seed = ((uint64_t)conn_id << 32 | request) * 0x100000001b3ULL;
    for (size_t off = 0; off < size; off += 8) {
        uint64_t word = mix64(seed + off);
        size_t n = size - off < 8 ? size - off : 8;
        memcpy(buf + off, &word, n);
    }
}

static void record_latency(struct latencies *lat, uint64_t ns) {
    if (lat->len == lat->cap) {
        lat->cap = lat->cap ? lat->cap * 2 : 65536;
        lat->ns = realloc(lat->ns, lat->cap * sizeof *lat->ns);
        if (!lat->ns) DIE("load_client: out of memory for latency samples");
    }
    lat->ns[lat->len++] = ns;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples, in microseconds. */
static double percentile_us(const struct latencies *lat, double p) {
    if (lat->len == 0) return 0;
    size_t rank = (size_t)ceil(p * (double)lat->len);
    if (rank < 1) rank = 1;
    if (rank > lat->len) rank = lat->len;
    return (double)lat->ns[rank - 1] / 1e3;
}

static void note_error(struct client *cl, const char *fmt, ...) {
    if (cl->first_error[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cl->first_error, sizeof cl->first_error, fmt, ap);
    va_end(ap);
}

/* A connection is settled for the current phase once it has nothing more to do in it. */
static void settle(struct client *cl) { cl->settled++; }

/* Give up on a connection. A connection that never connected shows up in the "connected"
 * count; one that broke after connecting is an error or, if it echoed wrong bytes, a
 * mismatch. */
static void fail_conn(struct client *cl, struct conn *c, bool mismatch, const char *what) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    if (c->state == CONN_CONNECTING) cl->connecting--;
    if (c->state == CONN_BUSY) {
        if (mismatch)
            cl->mismatches++;
        else
            cl->errors++;
    }
    c->state = CONN_FAILED;
    settle(cl);
    note_error(cl, "connection %u: %s", c->id, what);
}

static void begin_request(struct client *cl, struct conn *c, uint32_t request, uint64_t now) {
    c->request = request;
    c->sent = c->received = 0;
    fill_payload(c->payload, cl->opt.size, c->id, request);
    c->state = CONN_BUSY;
    c->request_start = now;
}

/* The echo of the current request is complete and verified: count it, then either begin the
 * next request or settle the connection for this phase. */
static void finish_request(struct client *cl, struct conn *c) {
    uint64_t now = now_ns();
    cl->round_trips++;
    cl->bytes_verified += cl->opt.size;
    c->state = CONN_IDLE;
    if (cl->phase == PHASE_WARMUP) {
        cl->warmup_round_trips++;
        settle(cl);
        return;
    }
    record_latency(&cl->lat, now - c->request_start);
    bool more = cl->opt.requests ? c->request + 1 < cl->opt.requests : now < cl->load_end;
    if (more)
        begin_request(cl, c, c->request + 1, now);
    else
        settle(cl);
}

/* Push the current request out and, if the socket may have something to read, pull its
 * echo in as far as the socket allows; returns true once the whole echo arrived and
 * matched. Both directions are driven together: with requests larger than the socket
 * buffers the server can only keep reading if we keep reading its echo. Edge-triggered
 * epoll requires going until EAGAIN, which both loops do (the receive loop stops early only
 * when everything sent has come back, and then nothing more can arrive until more is sent,
 * and that arrival is a new edge). */
static bool transfer(struct client *cl, struct conn *c, bool readable) {
    size_t size = cl->opt.size;
    while (c->sent < size) {
        ssize_t n = send(c->fd, c->payload + c->sent, size - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
        } else if (errno == EAGAIN) {
            break;
        } else if (errno != EINTR) {
            fail_conn(cl, c, false, strerror(errno));
            return false;
        }
    }
    while (readable && c->received < c->sent) {
        ssize_t n = recv(c->fd, cl->scratch, size - c->received, 0);
        if (n > 0) {
            if ((size_t)n > c->sent - c->received ||
                memcmp(cl->scratch, c->payload + c->received, (size_t)n) != 0) {
                fail_conn(cl, c, true, "echoed bytes differ from the bytes sent");
                return false;
            }
            c->received += (size_t)n;
        } else if (n == 0) {
            fail_conn(cl, c, false, "EOF before the whole echo arrived");
            return false;
        } else if (errno == EAGAIN) {
            break;
        } else if (errno != EINTR) {
            fail_conn(cl, c, false, strerror(errno));
            return false;
        }
    }
    return c->received == size;
}

/* Run a busy connection as far as it goes without waiting: a completed request is
 * immediately followed by the next one (closed loop). A request just sent cannot have its
 * echo back yet, so its first recv() is left to the EPOLLIN edge its echo will raise: an
 * eager recv() would almost always be a wasted EAGAIN system call, and the client must stay
 * cheaper than the servers it measures. */
static void drive(struct client *cl, struct conn *c, bool readable) {
    while (c->state == CONN_BUSY && transfer(cl, c, readable)) {
        finish_request(cl, c);
        readable = false;
    }
}

static bool retryable_connect_error(int err) {
    return err == ECONNREFUSED || err == EAGAIN || err == EADDRNOTAVAIL || err == ECONNRESET;
}

/* A connect attempt failed with err: schedule another one or give up on the connection. */
static void connect_failed(struct client *cl, struct conn *c, int err, uint64_t now) {
    if (retryable_connect_error(err) && now - c->first_attempt < CONNECT_RETRY_WINDOW_NS) {
        close(c->fd);
        c->fd = -1;
        if (c->state == CONN_CONNECTING) cl->connecting--;
        c->state = CONN_UNSTARTED;
        c->retry_at = now + CONNECT_RETRY_DELAY_NS;
        return;
    }
    fail_conn(cl, c, false, strerror(err));
}

static void connect_succeeded(struct client *cl, struct conn *c) {
    if (c->state == CONN_CONNECTING) cl->connecting--;
    c->state = CONN_IDLE;
    cl->connected++;
    settle(cl);
}

static void start_connect(struct client *cl, struct conn *c, uint64_t now) {
    if (!c->first_attempt) c->first_attempt = now;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        if (errno == EMFILE || errno == ENFILE)
            DIE("load_client: out of file descriptors at connection %u; raise the hard limit "
                "(ulimit -Hn)", c->id);
        DIE("load_client: socket");
    }
    /* Request/response with small messages: Nagle would add delayed-ACK stalls. */
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Registered once for both directions, edge-triggered: no epoll_ctl per request. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET,
                             .data.u32 = c->id};
    if (epoll_ctl(cl->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) DIE("load_client: epoll_ctl");
    if (connect(c->fd, (struct sockaddr *)&cl->addr, sizeof cl->addr) == 0) {
        connect_succeeded(cl, c);
    } else if (errno == EINPROGRESS) {
        c->state = CONN_CONNECTING;
        cl->connecting++;
    } else {
        connect_failed(cl, c, errno, now);
    }
}

/* Start connects on unstarted connections whose retry time has come, within the in-flight
 * cap. A linear scan is fine: it runs once per loop iteration of the connect phase only. */
static void pump_connects(struct client *cl) {
    uint64_t now = now_ns();
    for (uint32_t i = 0; i < cl->opt.conns && cl->connecting < MAX_CONNECTS_IN_FLIGHT; i++) {
        struct conn *c = &cl->conns[i];
        if (c->state == CONN_UNSTARTED && c->retry_at <= now) start_connect(cl, c, now);
    }
}

static void handle_event(struct client *cl, const struct epoll_event *ev) {
    struct conn *c = &cl->conns[ev->data.u32];
    if (c->state == CONN_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        if (err)
            connect_failed(cl, c, err, now_ns());
        else if (ev->events & EPOLLOUT)
            connect_succeeded(cl, c);
    } else if (c->state == CONN_BUSY) {
        drive(cl, c, true);
    }
    /* Events on idle connections are left for their next request, which reads whatever is
     * pending: extra bytes then fail verification, an EOF fails the connection. */
}

/* Run the event loop until every connection settled in the current phase, or the overall
 * deadline passes. Returns false on timeout. */
static bool run_phase(struct client *cl) {
    struct epoll_event events[MAX_EVENTS];
    while (cl->settled < cl->opt.conns) {
        if (cl->phase == PHASE_CONNECT) pump_connects(cl);
        uint64_t now = now_ns();
        if (now >= cl->deadline) return false;
        uint64_t left_ms = (cl->deadline - now) / 1000000 + 1;
        int timeout = left_ms < POLL_SLICE_MS ? (int)left_ms : POLL_SLICE_MS;
        int n = epoll_wait(cl->epfd, events, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR) DIE("load_client: epoll_wait");
        for (int i = 0; i < n; i++) handle_event(cl, &events[i]);
    }
    return true;
}

static void begin_phase(struct client *cl, enum phase phase) {
    cl->phase = phase;
    cl->settled = 0;
    for (uint32_t i = 0; i < cl->opt.conns; i++)
        if (cl->conns[i].state == CONN_FAILED) settle(cl);
}

/* The overall timeout hit: every connection still at work in this phase has failed. */
static void fail_unsettled(struct client *cl) {
    for (uint32_t i = 0; i < cl->opt.conns; i++) {
        struct conn *c = &cl->conns[i];
        if (c->state == CONN_CONNECTING || c->state == CONN_UNSTARTED || c->state == CONN_BUSY)
            fail_conn(cl, c, false, "overall timeout");
    }
}

/* Close every connection. A byte still readable at this point is an echo nobody asked for. */
static void close_all(struct client *cl) {
    for (uint32_t i = 0; i < cl->opt.conns; i++) {
        struct conn *c = &cl->conns[i];
        if (c->fd < 0) continue;
        uint8_t extra;
        if (recv(c->fd, &extra, 1, MSG_DONTWAIT) > 0) {
            cl->mismatches++;
            note_error(cl, "connection %u: server sent bytes beyond the echo", c->id);
        }
        shutdown(c->fd, SHUT_RDWR);
        close(c->fd);
        c->fd = -1;
    }
}

static void sleep_ms(long ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

int main(int argc, char **argv) {
    struct client cl = {.opt = parse_options(argc, argv)};
    const struct options *o = &cl.opt;
    raise_nofile_limit();
    signal(SIGPIPE, SIG_IGN);

    cl.addr.sin_family = AF_INET;
    cl.addr.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, o->host, &cl.addr.sin_addr) != 1) {
        fprintf(stderr, "load_client: bad host (IPv4 address expected): %s\n", o->host);
        return 2;
    }
    cl.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (cl.epfd < 0) DIE("load_client: epoll_create1");
    cl.conns = calloc(o->conns, sizeof *cl.conns);
    uint8_t *payloads = malloc((size_t)o->conns * o->size);
    cl.scratch = malloc(o->size);
    if (!cl.conns || !payloads || !cl.scratch) DIE("load_client: out of memory");
    for (uint32_t i = 0; i < o->conns; i++) {
        cl.conns[i].fd = -1;
        cl.conns[i].id = i;
        cl.conns[i].payload = payloads + (size_t)i * o->size;
    }

    cl.deadline = now_ns() + (uint64_t)(o->timeout_s * 1e9);
    uint64_t load_start = 0, load_stop = 0;

    begin_phase(&cl, PHASE_CONNECT);
    bool in_time = run_phase(&cl);
    if (in_time && cl.connected == o->conns) {
        begin_phase(&cl, PHASE_WARMUP);
        uint64_t now = now_ns();
        for (uint32_t i = 0; i < o->conns; i++) begin_request(&cl, &cl.conns[i], 0, now);
        for (uint32_t i = 0; i < o->conns; i++) drive(&cl, &cl.conns[i], false);
        in_time = run_phase(&cl);
    }
    if (in_time && cl.connected == o->conns && cl.errors == 0 && cl.mismatches == 0) {
        sleep_ms(o->hold_ms);
        begin_phase(&cl, PHASE_LOAD);
        load_start = now_ns();
        cl.load_end = load_start + (uint64_t)(o->duration_s * 1e9);
        bool any_left = o->duration_s > 0 || o->requests > 1;
        for (uint32_t i = 0; i < o->conns; i++) {
            if (any_left)
                begin_request(&cl, &cl.conns[i], 1, load_start);
            else
                settle(&cl);
        }
        for (uint32_t i = 0; i < o->conns; i++) drive(&cl, &cl.conns[i], false);
        in_time = run_phase(&cl);
        load_stop = now_ns();
    }
    if (!in_time) fail_unsettled(&cl);
    close_all(&cl);

    qsort(cl.lat.ns, cl.lat.len, sizeof *cl.lat.ns, cmp_u64);
    double elapsed = (double)(load_stop - load_start) / 1e9;
    uint64_t load_round_trips = cl.round_trips - cl.warmup_round_trips;
    printf("{\"conns\":%u,\"connected\":%u,\"requests\":%llu,\"bytes_verified\":%llu,"
           "\"errors\":%llu,\"mismatches\":%llu,\"elapsed_s\":%.3f,\"rps\":%.1f,"
           "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
           o->conns, cl.connected, (unsigned long long)cl.round_trips,
           (unsigned long long)cl.bytes_verified, (unsigned long long)cl.errors,
           (unsigned long long)cl.mismatches, elapsed,
           elapsed > 0 ? (double)load_round_trips / elapsed : 0.0, percentile_us(&cl.lat, 0.50),
           percentile_us(&cl.lat, 0.99), percentile_us(&cl.lat, 1.0));
    fflush(stdout);

    if (cl.connected != o->conns) {
        fprintf(stderr, "load_client: only %u of %u connections connected; first failure: %s\n",
                cl.connected, o->conns, cl.first_error);
        return 1;
    }
    if (cl.errors || cl.mismatches) {
        fprintf(stderr, "load_client: %llu errors, %llu mismatches; first: %s\n",
                (unsigned long long)cl.errors, (unsigned long long)cl.mismatches, cl.first_error);
        return 1;
    }
    if (o->requests && cl.round_trips != (uint64_t)o->conns * o->requests) {
        fprintf(stderr, "load_client: %llu round trips, expected %llu\n",
                (unsigned long long)cl.round_trips, (unsigned long long)o->conns * o->requests);
        return 1;
    }
    return 0;
}
