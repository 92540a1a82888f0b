/* stdio streams and POSIX AIO on the pipes and sockets a program creates, written the way a
 * plain blocking program would use them. Greened, these descriptions are non-blocking
 * underneath, and glibc's stdio and AIO helpers do their I/O with calls no hook sees: the
 * streams must still wait (never fail with EAGAIN) and lose no byte.
 *
 *   stdio_streams server N   thread-per-connection line server: prints "PORT <port>", serves N
 *                            connections (fdopen + fgets + fprintf + fflush; the reply to
 *                            line k of a connection is "<k>:<line>"), then prints
 *                            "SERVED conns=<n> lines=<l> errors=<e>"
 *   stdio_streams pipe       a slow writer thread (fwrite/fputs/fflush, then fclose with data
 *                            still buffered) and a reader thread (fgets, getline, getc, ungetc,
 *                            fread) on fdopen'd pipe ends: what each read got, EOF, errors
 *   stdio_streams flags      fdopen's errors and flags, seeking, buffering, wide I/O, freopen
 *   stdio_streams aio        aio_read, aio_write and lio_listio on pipes, the peer 100 ms late
 */
#define _GNU_SOURCE
#include "common.h"

#include <aio.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio_ext.h>
#include <sys/socket.h>
#include <wchar.h>

static const char *ename(int e) { return e ? strerrorname_np(e) : "0"; }

/* ---- server ---------------------------------------------------------------------------- */

static struct {
    pthread_mutex_t lock;
    unsigned long lines, errors;
} totals = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *serve_connection(void *arg) {
    int fd = (int)(intptr_t)arg;
    FILE *in = fdopen(fd, "r");
    FILE *out = fdopen(dup(fd), "w");
    unsigned long lines = 0, errors = 0;
    char line[512];
    if (!in || !out) DIE("stdio_streams: fdopen");
    while (fgets(line, sizeof line, in)) {
        lines++;
        if (fprintf(out, "%lu:%s", lines, line) < 0 || fflush(out) != 0) {
            errors++;
            break;
        }
    }
    if (ferror(in)) errors++;
    if (fclose(out) != 0) errors++;
    if (fclose(in) != 0) errors++;
    pthread_mutex_lock(&totals.lock);
    totals.lines += lines;
    totals.errors += errors;
    pthread_mutex_unlock(&totals.lock);
    return NULL;
}

static int run_server(unsigned long conns) {
    int listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    if (listen_fd < 0) DIE("stdio_streams: socket");
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    printf("PORT %d\n", listen_on_loopback(listen_fd, 0, 1024));
    fflush(stdout);
    pthread_t *threads = calloc(conns, sizeof *threads);
    for (unsigned long i = 0; i < conns; i++) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0) DIE("stdio_streams: accept");
        if (pthread_create(&threads[i], NULL, serve_connection, (void *)(intptr_t)fd) != 0)
            DIE("stdio_streams: pthread_create");
    }
    for (unsigned long i = 0; i < conns; i++) pthread_join(threads[i], NULL);
    printf("SERVED conns=%lu lines=%lu errors=%lu\n", conns, totals.lines, totals.errors);
    free(threads);
    return 0;
}

/* ---- pipe ------------------------------------------------------------------------------ */

#define TEXT_LINES 40
#define BLOCK (300 * 1024)
#define TAIL 1000

static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 + i / 251); }

/* Writes every piece through stdio: lines in small flushed pieces, then a block larger than
 * the pipe holds (the reader is slow), then a tail left in the buffer for fclose to flush. */
static void *slow_writer(void *arg) {
    FILE *out = fdopen((int)(intptr_t)arg, "w");
    if (!out) DIE("stdio_streams: fdopen w");
    for (int i = 0; i < TEXT_LINES; i++) {
        char line[64];
        int len = snprintf(line, sizeof line, "line %d of the text\n", i);
        fwrite(line, 1, (size_t)len / 2, out);
        fflush(out);
        usleep(500);
        fputs(line + len / 2, out);
        if (i % 3 == 0) fflush(out);
    }
    unsigned char *block = malloc(BLOCK + TAIL);
    for (size_t i = 0; i < BLOCK + TAIL; i++) block[i] = pattern(i);
    size_t put = fwrite(block, 1, BLOCK, out);
    put += fwrite(block + BLOCK, 1, TAIL, out);
    int bad = ferror(out);
    int closed = fclose(out);
    printf("writer: put=%zu error=%d fclose=%d\n", put, bad, closed);
    free(block);
    return NULL;
}

static void *slow_reader(void *arg) {
    FILE *in = fdopen((int)(intptr_t)arg, "r");
    char line[128];
    int lines = 0, bad_lines = 0;
    if (!in) DIE("stdio_streams: fdopen r");
    for (int i = 0; i < TEXT_LINES / 2; i++) {
        char want[64];
        snprintf(want, sizeof want, "line %d of the text\n", i);
        if (!fgets(line, sizeof line, in)) break;
        lines++;
        bad_lines += strcmp(line, want) != 0;
    }
    char *got = NULL;
    size_t cap = 0;
    for (int i = TEXT_LINES / 2; i < TEXT_LINES; i++) {
        char want[64];
        snprintf(want, sizeof want, "line %d of the text\n", i);
        if (getline(&got, &cap, in) < 0) break;
        lines++;
        bad_lines += strcmp(got, want) != 0;
    }
    free(got);
    int c = getc(in);
    int pushed = ungetc(c, in);
    unsigned char *block = malloc(BLOCK + TAIL + 100);
    size_t n = 0;
    while (n < BLOCK + TAIL + 100) {
        size_t want = 4096 + (n % 3) * 10000;
        if (want > BLOCK + TAIL + 100 - n) want = BLOCK + TAIL + 100 - n;
        size_t r = fread(block + n, 1, want, in);
        n += r;
        if (r < want) break;
        usleep(1000);
    }
    size_t bad_bytes = 0;
    for (size_t i = 0; i < n && i < BLOCK + TAIL; i++) bad_bytes += block[i] != pattern(i);
    printf("reader: lines=%d bad_lines=%d first=%d pushed=%d block=%zu bad_bytes=%zu "
           "eof=%d error=%d getc_after=%d\n",
           lines, bad_lines, c, pushed, n, bad_bytes, feof(in) != 0, ferror(in) != 0, getc(in));
    fclose(in);
    free(block);
    return NULL;
}

static int run_pipe(void) {
    int p[2];
    pthread_t w, r;
    if (pipe(p) != 0) DIE("stdio_streams: pipe");
    pthread_create(&r, NULL, slow_reader, (void *)(intptr_t)p[0]);
    pthread_create(&w, NULL, slow_writer, (void *)(intptr_t)p[1]);
    pthread_join(w, NULL);
    pthread_join(r, NULL);
    return 0;
}

/* ---- flags ----------------------------------------------------------------------------- */

static void try_fdopen(const char *what, int fd, const char *mode) {
    errno = 0;
    FILE *f = fdopen(fd, mode);
    printf("%s: %s errno=%s\n", what, f ? "stream" : "NULL", ename(errno));
    if (f) fclose(f);
}

/* Whether `fd` has input waiting, without consuming it. */
static int readable(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

static void check_errors(void) {
    int p[2];
    if (pipe(p) != 0) DIE("pipe");
    try_fdopen("read end as w", p[0], "w");
    try_fdopen("write end as r", p[1], "r");
    try_fdopen("write end as r+", p[1], "r+");
    try_fdopen("bad mode", p[0], "q");
    close(p[0]);
    close(p[1]);
    try_fdopen("closed fd", p[0], "r");
}

static void *write_late(void *arg) {
    usleep(50000);
    write((int)(intptr_t)arg, "xyz\n", 4);
    return NULL;
}

static void check_flags(void) {
    int s[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) != 0) DIE("socketpair");
    FILE *f = fdopen(s[0], "a+e");
    if (!f) DIE("fdopen a+e");
    int fl = fcntl(s[0], F_GETFL);
    printf("a+e: fileno_ok=%d append=%d cloexec=%d nonblock=%d rdwr=%d fwide=%d\n",
           fileno(f) == s[0], (fl & O_APPEND) != 0, (fcntl(s[0], F_GETFD) & FD_CLOEXEC) != 0,
           (fl & O_NONBLOCK) != 0, (fl & O_ACCMODE) == O_RDWR, fwide(f, 0));
    errno = 0;
    long pos = ftell(f);
    printf("ftell=%ld errno=%s\n", pos, ename(errno));
    errno = 0;
    int sk = fseek(f, 0, SEEK_SET);
    printf("fseek=%d errno=%s\n", sk, ename(errno));
    setvbuf(f, NULL, _IOLBF, 0);
    fputs("abc", f);
    int early = readable(s[1]);
    fputs("def\n", f);
    char buf[64] = {0};
    ssize_t n = read(s[1], buf, sizeof buf - 1);
    printf("line buffered: early=%d got=%zd %s", early, n, buf);
    pthread_t late;
    pthread_create(&late, NULL, write_late, (void *)(intptr_t)s[1]);
    fflush(f);
    int c = fgetc(f); /* waits for the late writer */
    pthread_join(late, NULL);
    ungetc('Q', f);
    char line[16];
    fgets(line, sizeof line, f);
    printf("read back: first=%c line=%s", c, line);
    printf("bufsize after use=%zu\n", __fbufsize(f));
    int fd = s[0];
    printf("fclose=%d\n", fclose(f));
    errno = 0;
    int after = fcntl(fd, F_GETFD);
    printf("after fclose: F_GETFD=%d errno=%s\n", after, ename(errno));
    close(s[1]);
}

static void check_wide_and_freopen(void) {
    int p[2];
    if (pipe(p) != 0) DIE("pipe");
    FILE *in = fdopen(p[0], "r"), *out = fdopen(p[1], "w");
    fwprintf(out, L"wide %d\n", 42);
    fflush(out);
    wchar_t wbuf[32];
    int ok = fgetws(wbuf, 32, in) != NULL;
    printf("wide: ok=%d same=%d fwide=%d\n", ok, ok && wcscmp(wbuf, L"wide 42\n") == 0,
           fwide(in, 0));
    FILE *again = freopen("/dev/null", "w", out);
    printf("freopen: %s same_fd=%d\n", again ? "stream" : "NULL", again && fileno(again) == p[1]);
    if (again) {
        fputs("into the void\n", again);
        printf("freopen fclose=%d\n", fclose(again));
    }
    printf("read end after freopen: eof_pending=%d\n", readable(p[0]));
    clearerr(in);
    wint_t c = fgetwc(in);
    printf("fgetwc at eof=%d eof=%d error=%d\n", c == WEOF, feof(in) != 0, ferror(in) != 0);
    fclose(in);
}

static int run_flags(void) {
    check_errors();
    check_flags();
    check_wide_and_freopen();
    return 0;
}

/* ---- aio ------------------------------------------------------------------------------- */

struct late_peer {
    int fd;
    size_t bytes; /* write this many after 100 ms, or (fd is a read end) drain everything */
    int drain;
    size_t drained;
};

static void *late_peer_main(void *arg) {
    struct late_peer *p = arg;
    usleep(100000);
    if (p->drain) {
        char buf[4096];
        ssize_t n;
        while ((n = read(p->fd, buf, sizeof buf)) > 0) {
            p->drained += (size_t)n;
            usleep(200);
        }
    } else {
        char *buf = malloc(p->bytes);
        memset(buf, 'a', p->bytes);
        write(p->fd, buf, p->bytes);
        free(buf);
    }
    return NULL;
}

/* Waits for `cb` by asking aio_error, sleeping between looks (so other threads run). */
static void await_aio(const char *what, struct aiocb *cb) {
    int err;
    for (int i = 0; (err = aio_error(cb)) == EINPROGRESS && i < 5000; i++) usleep(1000);
    printf("%s: error=%s return=%zd\n", what, ename(err), aio_return(cb));
}

static void aio_one_read(int use_lio) {
    int p[2];
    char buf[64] = {0};
    if (pipe(p) != 0) DIE("pipe");
    struct late_peer peer = {.fd = p[1], .bytes = 10};
    pthread_t t;
    pthread_create(&t, NULL, late_peer_main, &peer);
    struct aiocb cb = {.aio_fildes = p[0], .aio_buf = buf, .aio_nbytes = sizeof buf - 1,
                       .aio_lio_opcode = LIO_READ};
    struct aiocb *list[] = {&cb};
    int rc = use_lio ? lio_listio(LIO_NOWAIT, list, 1, NULL) : aio_read(&cb);
    if (rc != 0) DIE("aio submit");
    await_aio(use_lio ? "lio_listio read" : "aio_read", &cb);
    printf("  got=%s nonblock=%d\n", buf, (fcntl(p[0], F_GETFL) & O_NONBLOCK) != 0);
    pthread_join(t, NULL);
    close(p[0]);
    close(p[1]);
}

static void aio_big_write(void) {
    int p[2];
    size_t size = 256 * 1024;
    char *buf = malloc(size);
    memset(buf, 'b', size);
    if (pipe(p) != 0) DIE("pipe");
    struct late_peer peer = {.fd = p[0], .drain = 1};
    pthread_t t;
    pthread_create(&t, NULL, late_peer_main, &peer);
    struct aiocb cb = {.aio_fildes = p[1], .aio_buf = buf, .aio_nbytes = size};
    if (aio_write(&cb) != 0) DIE("aio_write");
    await_aio("aio_write", &cb);
    close(p[1]);
    pthread_join(t, NULL);
    printf("  drained=%zu\n", peer.drained);
    close(p[0]);
    free(buf);
}

static int run_aio(void) {
    aio_one_read(0);
    aio_one_read(1);
    aio_big_write();
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "server") == 0) return run_server(strtoul(argv[2], NULL, 10));
    if (argc == 2 && strcmp(argv[1], "pipe") == 0) return run_pipe();
    if (argc == 2 && strcmp(argv[1], "flags") == 0) return run_flags();
    if (argc == 2 && strcmp(argv[1], "aio") == 0) return run_aio();
    fprintf(stderr, "usage: stdio_streams server N | pipe | flags | aio\n");
    return 2;
}
