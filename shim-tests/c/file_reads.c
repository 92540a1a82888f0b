/* Reads of a regular file from threads, with its pages in the page cache and evicted from
 * it (posix_fadvise DONTNEED): read() returns everything up to end of file and moves the
 * file position, pread() reads at its offset and leaves the position alone, and errors are
 * the kernel's. Prints the same natively and greened.
 *
 *   file_reads            the checks
 *   file_reads direct     reads through an O_DIRECT descriptor instead: in aligned 1 MiB
 *                         blocks, into a misaligned buffer (EINVAL), then with O_DIRECT
 *                         cleared by F_SETFL
 *   file_reads MIB        also: read a MIB-MiB file cold in 1 MiB reads while a ticker
 *                         thread ticks every millisecond; print how long the reads took and
 *                         the longest gap between ticks (a measurement, not a check) */
#define _GNU_SOURCE
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_BYTES (3 * 1024 * 1024 + 123)

static char path[] = "/tmp/libgreen-file-XXXXXX";
static atomic_int stop;
static double longest_gap;

static unsigned char pattern(size_t i) { return (unsigned char)(i * 13 + i / 7919); }

static void *ticker(void *arg) {
    (void)arg;
    double last = mono_now();
    while (!atomic_load(&stop)) {
        usleep(1000);
        double now = mono_now();
        if (now - last > longest_gap) longest_gap = now - last;
        last = now;
    }
    return NULL;
}

static void evict(int fd) {
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

/* Reads the whole file with read() in `chunk`-byte calls; checks every byte. */
static void read_all(const char *label, int fd, size_t chunk) {
    unsigned char *buf = malloc(chunk);
    size_t total = 0, calls = 0, short_reads = 0;
    int in_order = 1;
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        ssize_t n = read(fd, buf, chunk);
        if (n < 0) DIE("read");
        if (n == 0) break;
        calls++;
        if ((size_t)n < chunk && total + (size_t)n < FILE_BYTES) short_reads++;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pattern(total + (size_t)i)) in_order = 0;
        total += (size_t)n;
    }
    printf("%s: read %zu bytes in %zu calls, short reads before EOF %zu, in order %d, position %ld\n", label,
           total, calls, short_reads, in_order, (long)lseek(fd, 0, SEEK_CUR));
    free(buf);
}

static void *checks(void *arg) {
    int fd = (int)(intptr_t)arg;
    read_all("cached", fd, 65536);
    evict(fd);
    read_all("evicted", fd, 1 << 20);
    evict(fd);
    unsigned char buf[100];
    lseek(fd, 5, SEEK_SET);
    ssize_t n = pread(fd, buf, sizeof buf, 2 * 1024 * 1024);
    int right = n == 100;
    for (int i = 0; i < 100 && right; i++) right = buf[i] == pattern(2 * 1024 * 1024 + (size_t)i);
    printf("pread at 2 MiB: %zd right %d, position still %ld\n", n, right, (long)lseek(fd, 0, SEEK_CUR));
    n = pread(fd, buf, sizeof buf, FILE_BYTES - 10);
    printf("pread across EOF: %zd; at EOF: %zd\n", n, pread(fd, buf, sizeof buf, FILE_BYTES + 10));
    errno = 0;
    n = pread(fd, buf, sizeof buf, -1);
    printf("pread at -1: %zd %s\n", n, errno_name(errno));
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
    errno = 0;
    n = read(dir, buf, sizeof buf);
    printf("read of a directory: %zd %s\n", n, errno == EISDIR ? "EISDIR" : errno_name(errno));
    close(dir);
    int wronly = open(path, O_WRONLY);
    errno = 0;
    n = read(wronly, buf, sizeof buf);
    printf("read of a write-only fd: %zd %s\n", n, errno_name(errno));
    printf("fsync=%d fdatasync=%d\n", fsync(fd), fdatasync(fd));
    errno = 0;
    int rc = dup2(-1, wronly);
    printf("dup2(-1, fd)=%d %s, fd still open: %d\n", rc, errno_name(errno), fcntl(wronly, F_GETFD) >= 0);
    close(wronly);
    return NULL;
}

/* O_DIRECT reads go to the device every time (greened: on an offload worker, as RWF_NOWAIT
 * cannot make them wait less). */
static void *direct_checks(void *arg) {
    (void)arg;
    int fd = open(path, O_RDONLY | O_DIRECT);
    if (fd < 0) DIE("open O_DIRECT");
    unsigned char *block;
    if (posix_memalign((void **)&block, 4096, (1 << 20) + 4096) != 0) DIE("posix_memalign");
    size_t total = 0, calls = 0;
    int in_order = 1;
    for (;;) {
        ssize_t n = read(fd, block, 1 << 20);
        if (n < 0) DIE("read O_DIRECT");
        if (n == 0) break;
        calls++;
        for (ssize_t i = 0; i < n; i++)
            if (block[i] != pattern(total + (size_t)i)) in_order = 0;
        total += (size_t)n;
    }
    printf("direct: read %zu bytes in %zu calls, in order %d, position %ld\n", total, calls, in_order,
           (long)lseek(fd, 0, SEEK_CUR));
    errno = 0;
    ssize_t n = pread(fd, block + 1, 4096, 0);
    printf("direct, misaligned buffer: %zd %s\n", n, errno_name(errno));
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_DIRECT) != 0) DIE("F_SETFL");
    n = pread(fd, block + 1, 100, 2 * 1024 * 1024);
    int right = n == 100;
    for (int i = 0; i < 100 && right; i++) right = block[1 + i] == pattern(2 * 1024 * 1024 + (size_t)i);
    printf("O_DIRECT cleared, misaligned pread: %zd right %d\n", n, right);
    free(block);
    close(fd);
    return NULL;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int direct = argc > 1 && strcmp(argv[1], "direct") == 0;
    long measure_mib = argc > 1 && !direct ? atol(argv[1]) : 0;
    int fd = mkstemp(path);
    if (fd < 0) DIE("mkstemp");
    size_t size = measure_mib ? (size_t)measure_mib << 20 : FILE_BYTES;
    unsigned char *data = malloc(size);
    for (size_t i = 0; i < size; i++) data[i] = pattern(i);
    if (write(fd, data, size) != (ssize_t)size) DIE("write");
    free(data);
    pthread_t tick, t;
    pthread_create(&tick, NULL, ticker, NULL);
    if (measure_mib) {
        evict(fd);
        usleep(20 * 1000);
        longest_gap = 0;
        unsigned char *buf = malloc(1 << 20);
        lseek(fd, 0, SEEK_SET);
        double t0 = mono_now();
        while (read(fd, buf, 1 << 20) > 0) {}
        double took = mono_now() - t0;
        atomic_store(&stop, 1);
        pthread_join(tick, NULL);
        printf("cold read of %ld MiB: %.1f ms, longest ticker gap %.1f ms\n", measure_mib, took * 1e3,
               longest_gap * 1e3);
        free(buf);
        unlink(path);
        return 0;
    } else if (direct) {
        if (fsync(fd) != 0) DIE("fsync");
        pthread_create(&t, NULL, direct_checks, NULL);
        pthread_join(t, NULL);
    } else {
        pthread_create(&t, NULL, checks, (void *)(intptr_t)fd);
        pthread_join(t, NULL);
    }
    atomic_store(&stop, 1);
    pthread_join(tick, NULL);
    unlink(path);
    return 0;
}
