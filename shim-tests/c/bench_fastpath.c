/* bench_fastpath ITERS: the cost of hooked I/O calls that succeed at once. In a thread (a
 * green thread when greened), ITERS times: write 64 bytes to one end of a socket pair and
 * read them from the other, where they already are. Prints
 *   io_ready_pair_ns=  one write + one read, per pair
 * Greened, both calls go through the hooks' fast path (the fd is ready: no wait); the
 * difference to native is the hooks' own cost. Exits 1 if a byte is wrong. */
#include "common.h"

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned long iters;
static double per_pair_ns;
static int wrong;

static void *run(void *arg) {
    (void)arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) DIE("socketpair");
    char out[64], in[64];
    for (int i = 0; i < 64; i++) out[i] = (char)i;
    double start = mono_now();
    for (unsigned long i = 0; i < iters; i++) {
        out[0] = (char)i;
        if (write(sv[0], out, sizeof out) != (ssize_t)sizeof out) DIE("write");
        if (read(sv[1], in, sizeof in) != (ssize_t)sizeof in) DIE("read");
        wrong |= in[0] != out[0];
    }
    per_pair_ns = (mono_now() - start) * 1e9 / (double)iters;
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

int main(int argc, char **argv) {
    char *end;
    if (argc != 2 || (iters = strtoul(argv[1], &end, 10)) == 0 || *end) {
        fprintf(stderr, "usage: bench_fastpath ITERS\n");
        return 2;
    }
    pthread_t t;
    if ((errno = pthread_create(&t, NULL, run, NULL))) DIE("pthread_create");
    if ((errno = pthread_join(t, NULL))) DIE("pthread_join");
    printf("io_ready_pair_ns=%.1f\n", per_pair_ns);
    return wrong;
}
