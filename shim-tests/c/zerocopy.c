/* sendfile and splice with a blocking socket or pipe end, in threads, while a slow reader
 * drains the other side and a ticker thread keeps running: every byte arrives in order, the
 * offsets advance as natively, errors are the kernel's. Run twice: on sockets the program
 * just made, and again after a fork (which hands every inheritable description back to
 * blocking mode; greened, those take the look-before-you-leap path). */
#define _GNU_SOURCE
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILE_BYTES (4 << 20)

static int file_fd;

static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 + i / 4096); }

struct reader { int fd; size_t expect; size_t got; int in_order; };

/* Reads slowly (small reads, a pause every 256 KiB) until EOF, checking the pattern. */
static void *slow_reader(void *arg) {
    struct reader *r = arg;
    unsigned char buf[16384];
    size_t next_pause = 256 << 10;
    r->in_order = 1;
    for (;;) {
        ssize_t n = read(r->fd, buf, sizeof buf);
        if (n < 0) DIE("reader read");
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pattern(r->got + (size_t)i)) r->in_order = 0;
        r->got += (size_t)n;
        if (r->got >= next_pause) {
            usleep(2000);
            next_pause += 256 << 10;
        }
    }
    return NULL;
}

/* Sends "hello" on the socket *arg 50 ms from now. */
static void *late_send(void *arg) {
    usleep(50 * 1000);
    if (write(*(int *)arg, "hello", 5) != 5) DIE("write");
    return NULL;
}

static void run(const char *when) {
    int sv[2];
    pthread_t rd;
    ticker_start(5000);

    /* sendfile with an offset pointer: the file position stays put. */
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) DIE("socketpair");
    struct reader r = {sv[1], FILE_BYTES, 0, 0};
    pthread_create(&rd, NULL, slow_reader, &r);
    off_t offset = 0;
    lseek(file_fd, 1234, SEEK_SET);
    ssize_t sent = sendfile(sv[0], file_fd, &offset, FILE_BYTES);
    close(sv[0]);
    pthread_join(rd, NULL);
    close(sv[1]);
    printf("%s: sendfile(offset) sent=%zd offset=%ld file position=%ld received=%zu in order=%d\n", when, sent,
           (long)offset, (long)lseek(file_fd, 0, SEEK_CUR), r.got, r.in_order);

    /* sendfile without an offset, past the end: the file position moves, the count stops at EOF. */
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) DIE("socketpair");
    struct reader r2 = {sv[1], FILE_BYTES, 0, 0};
    pthread_create(&rd, NULL, slow_reader, &r2);
    lseek(file_fd, 0, SEEK_SET);
    sent = sendfile(sv[0], file_fd, NULL, FILE_BYTES + 5000);
    close(sv[0]);
    pthread_join(rd, NULL);
    close(sv[1]);
    printf("%s: sendfile(NULL, past EOF) sent=%zd file position=%ld received=%zu in order=%d\n", when, sent,
           (long)lseek(file_fd, 0, SEEK_CUR), r2.got, r2.in_order);

    /* splice file -> pipe -> socket, pipe filled by this thread, drained by splice. */
    int p[2];
    if (pipe(p) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) DIE("pipe/socketpair");
    struct reader r3 = {sv[1], FILE_BYTES, 0, 0};
    pthread_create(&rd, NULL, slow_reader, &r3);
    loff_t in_off = 0;
    size_t moved = 0;
    int calls = 0;
    while (moved < FILE_BYTES) {
        ssize_t in = splice(file_fd, &in_off, p[1], NULL, 65536, 0);
        if (in <= 0) DIE("splice file->pipe");
        ssize_t left = in;
        while (left > 0) {
            ssize_t out = splice(p[0], NULL, sv[0], NULL, (size_t)left, 0);
            if (out <= 0) DIE("splice pipe->socket");
            left -= out;
            calls++;
        }
        moved += (size_t)in;
    }
    close(sv[0]);
    pthread_join(rd, NULL);
    close(sv[1]);
    printf("%s: splice moved=%zu in_off=%ld received=%zu in order=%d\n", when, moved, (long)in_off, r3.got, r3.in_order);

    /* splice from an empty socket blocks until data comes (a thread sends it 50 ms later). */
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) DIE("socketpair");
    int before = ticker_ticks();
    pthread_t late;
    pthread_create(&late, NULL, late_send, &sv[1]);
    ssize_t got = splice(sv[0], NULL, p[1], NULL, 100, 0);
    char buf[16] = {0};
    ssize_t r5 = read(p[0], buf, sizeof buf - 1);
    pthread_join(late, NULL);
    printf("%s: splice from an empty socket=%zd then read %zd '%s', ticks meanwhile>=3 %s\n", when, got, r5, buf,
           ticker_ticks() - before >= 3 ? "yes" : "no");
    close(sv[0]);
    close(sv[1]);
    close(p[0]);
    close(p[1]);

    int ticks = ticker_ticks();
    ticker_stop();
    printf("%s: ticks while copying>=10 %s\n", when, ticks >= 10 ? "yes" : "no");
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    char path[] = "/tmp/libgreen-zerocopy-XXXXXX";
    file_fd = mkstemp(path);
    if (file_fd < 0) DIE("mkstemp");
    unlink(path);
    unsigned char *data = malloc(FILE_BYTES);
    for (size_t i = 0; i < FILE_BYTES; i++) data[i] = pattern(i);
    if (write(file_fd, data, FILE_BYTES) != FILE_BYTES) DIE("write file");
    free(data);

    run("fresh");
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    waitpid(pid, NULL, 0);
    run("after fork");

    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    errno = 0;
    ssize_t rc = sendfile(sv[0], 999, NULL, 10);
    printf("errors: sendfile(bad in_fd)=%zd %s", rc, errno_name(errno));
    errno = 0;
    rc = splice(sv[0], NULL, sv[1], NULL, 10, 0);
    printf(" splice(no pipe)=%zd %s\n", rc, errno_name(errno));
    return 0;
}
