/* bench_raw ITERS [raw]: what a raw system call (an inline `syscall` instruction, not libc's)
 * costs against the same call through libc, for GREEN_RAW_SYSCALLS. In a thread (a green
 * thread when greened), ITERS times each:
 *   libc_pair_ns=     write 64 bytes to one end of a socket pair and read them from the
 *                     other, where they already are, through libc (the hooks' fast path)
 *   raw_pair_ns=      the same two calls as inline system calls (greened with the trap
 *                     on: trapped, and routed through the same hooks)
 *   libc_getppid_ns=  getppid through libc (no hook: the kernel's own cost)
 *   raw_getppid_ns=   getppid inline (greened with the trap on: trapped and made again)
 *   libc_pingpong_ns= one byte there and back between two threads over two socket pairs,
 *                     each read waiting for the other thread's write (greened: two parks
 *                     and two switches per round trip), through libc
 *   raw_pingpong_ns=  the same with inline reads and writes
 * The raw_ rows only with `raw`, and on x86-64: greened without the trap a raw call sees
 * the O_NONBLOCK the runtime set on the socket, so it would fail with EAGAIN. Exits 1 if a
 * byte is wrong. */
#include "common.h"

#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static unsigned long iters;
static int wrong, with_raw;

#if defined(__x86_64__)
static long raw3(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}

static ssize_t raw_write(int fd, const void *buf, size_t n) { return raw3(SYS_write, fd, (long)buf, (long)n); }
static ssize_t raw_read(int fd, void *buf, size_t n) { return raw3(SYS_read, fd, (long)buf, (long)n); }
static long raw_getppid(void) { return raw3(SYS_getppid, 0, 0, 0); }
#endif

static double pairs(int raw, int sv[2]) {
    char out[64], in[64];
    for (int i = 0; i < 64; i++) out[i] = (char)i;
    double start = mono_now();
    for (unsigned long i = 0; i < iters; i++) {
        out[0] = (char)i;
#if defined(__x86_64__)
        ssize_t w = raw ? raw_write(sv[0], out, sizeof out) : write(sv[0], out, sizeof out);
        ssize_t r = raw ? raw_read(sv[1], in, sizeof in) : read(sv[1], in, sizeof in);
#else
        (void)raw;
        ssize_t w = write(sv[0], out, sizeof out), r = read(sv[1], in, sizeof in);
#endif
        if (w != (ssize_t)sizeof out || r != (ssize_t)sizeof in) DIE("write/read");
        wrong |= in[0] != out[0];
    }
    return (mono_now() - start) * 1e9 / (double)iters;
}

static double getppids(int raw) {
    long parent = getppid(), seen = 0;
    double start = mono_now();
    for (unsigned long i = 0; i < iters; i++) {
#if defined(__x86_64__)
        seen = raw ? raw_getppid() : getppid();
#else
        (void)raw;
        seen = getppid();
#endif
        wrong |= seen != parent;
    }
    return (mono_now() - start) * 1e9 / (double)iters;
}

struct pong {
    int in, out, raw;
};

static ssize_t io(int raw, int write_it, int fd, char *byte) {
#if defined(__x86_64__)
    if (raw) return write_it ? raw_write(fd, byte, 1) : raw_read(fd, byte, 1);
#endif
    (void)raw;
    return write_it ? write(fd, byte, 1) : read(fd, byte, 1);
}

static void *ponger(void *arg) {
    struct pong *p = arg;
    char byte;
    for (unsigned long i = 0; i < iters; i++) {
        if (io(p->raw, 0, p->in, &byte) != 1 || io(p->raw, 1, p->out, &byte) != 1) DIE("pong");
    }
    return NULL;
}

static double pingpong(int raw) {
    int there[2], back[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, there) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, back) != 0) DIE("socketpair");
    struct pong p = {there[1], back[0], raw};
    pthread_t t;
    if (pthread_create(&t, NULL, ponger, &p) != 0) DIE("pthread_create");
    double start = mono_now();
    for (unsigned long i = 0; i < iters; i++) {
        char byte = (char)i, echo = 0;
        if (io(raw, 1, there[0], &byte) != 1 || io(raw, 0, back[1], &echo) != 1) DIE("ping");
        wrong |= echo != byte;
    }
    double ns = (mono_now() - start) * 1e9 / (double)iters;
    if (pthread_join(t, NULL) != 0) DIE("pthread_join");
    close(there[0]), close(there[1]), close(back[0]), close(back[1]);
    return ns;
}

static void *run(void *arg) {
    (void)arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) DIE("socketpair");
    printf("libc_pair_ns=%.1f\n", pairs(0, sv));
    printf("libc_getppid_ns=%.1f\n", getppids(0));
    printf("libc_pingpong_ns=%.1f\n", pingpong(0));
#if defined(__x86_64__)
    if (with_raw) {
        printf("raw_pair_ns=%.1f\n", pairs(1, sv));
        printf("raw_getppid_ns=%.1f\n", getppids(1));
        printf("raw_pingpong_ns=%.1f\n", pingpong(1));
    }
#endif
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

int main(int argc, char **argv) {
    char *end;
    if (argc < 2 || argc > 3 || (iters = strtoul(argv[1], &end, 10)) == 0 || *end ||
        (argc == 3 && strcmp(argv[2], "raw") != 0)) {
        fprintf(stderr, "usage: bench_raw ITERS [raw]\n");
        return 2;
    }
    with_raw = argc == 3;
    pthread_t t;
    if (pthread_create(&t, NULL, run, NULL) != 0) DIE("pthread_create");
    if (pthread_join(t, NULL) != 0) DIE("pthread_join");
    return wrong;
}
