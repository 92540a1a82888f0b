/* Many threads parked in known ways, for `green ps` to list:
 *   diag_parked N [spin | offload DIR]
 * Thread i (named "w-i") waits by i % 6: 0 reads a pipe nobody writes, 1 locks a mutex the
 * main thread holds, 2 sleeps for an hour, 3 waits on a condition nobody signals, 4
 * read-locks a rwlock the main thread write-holds, 5 write-locks a rwlock the main thread
 * read-holds. With `spin`, one more thread named "spinner" computes for ever. With
 * `offload DIR`, one more thread named "reader" preads, at 6 MiB, a file in DIR
 * whose pages were dropped from the page cache, into memory registered with userfaultfd
 * that nobody serves: the read never completes (or prints "unevictable" and exits 77 where
 * the file system keeps every page in memory). Prints "ready" once every thread has
 * started (and, for `offload`, "reading FD" just before the read), then the main thread
 * reads stdin until it closes, and exits. */
#define _GNU_SOURCE
#include "common.h"
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER, cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t write_held = PTHREAD_RWLOCK_INITIALIZER, read_held = PTHREAD_RWLOCK_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static int pipefd[2];
static atomic_int started;

static void *worker(void *arg) {
    long i = (long)arg;
    char name[16], c;
    snprintf(name, sizeof name, "w-%ld", i);
    pthread_setname_np(pthread_self(), name);
    atomic_fetch_add(&started, 1);
    switch (i % 6) {
    case 0:
        (void)!read(pipefd[0], &c, 1);
        break;
    case 1:
        pthread_mutex_lock(&held);
        break;
    case 2:
        sleep(3600);
        break;
    case 3:
        pthread_mutex_lock(&cm);
        pthread_cond_wait(&never, &cm);
        pthread_mutex_unlock(&cm);
        break;
    case 4:
        pthread_rwlock_rdlock(&write_held);
        break;
    default:
        pthread_rwlock_wrlock(&read_held);
    }
    return NULL;
}

/* A file of 8 MiB in `dir`, written, synced and dropped from the page cache, so that a
 * read of its end must wait for the disk. Whether the file system lets pages go is probed at
 * its start, out of the reach of the readahead that probe starts. */
/* Far from the probe at 0 and its readahead. */
#define OFFLOAD_AT (6 << 20)

/* Whether the page of `fd` at `offset` is in the page cache. */
static int resident(int fd, off_t offset) {
    void *map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, offset);
    if (map == MAP_FAILED)
        DIE("mmap");
    unsigned char vec = 0;
    if (mincore(map, 4096, &vec) != 0)
        DIE("mincore");
    munmap(map, 4096);
    return vec & 1;
}

static int evicted_file(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/diag_parked.XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0)
        DIE("mkstemp %s", path);
    unlink(path);
    static char block[65536];
    memset(block, 'x', sizeof block);
    for (int i = 0; i < 128; i++)
        if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
            DIE("write");
    if (fsync(fd) != 0 || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0)
        DIE("fsync, fadvise");
    char probe;
    struct iovec iov = {&probe, 1};
    if (preadv2(fd, &iov, 1, 0, RWF_NOWAIT) >= 0 || errno != EAGAIN) {
        printf("unevictable\n");
        exit(77);
    }
    /* The page the reader reads must be out too, or the read is taken inline from the
     * cache, into the unserved page, on the hub thread. The kernel may keep a page that
     * was busy when it was asked to drop it: ask again. mincore on a mapping of it looks
     * without reading (no readahead). */
    for (int tries = 0; resident(fd, OFFLOAD_AT); tries++) {
        if (tries == 100) {
            printf("unevictable\n");
            exit(77);
        }
        usleep(10000);
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    }
    return fd;
}

/* A page whose first touch waits for a userfaultfd reader that never comes. */
static char *unserved_page(void) {
    int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
    if (uffd < 0)
        DIE("userfaultfd");
    struct uffdio_api api = {.api = UFFD_API};
    if (ioctl(uffd, UFFDIO_API, &api) != 0)
        DIE("UFFDIO_API");
    char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        DIE("mmap");
    struct uffdio_register reg = {.range = {(unsigned long)page, 4096}, .mode = UFFDIO_REGISTER_MODE_MISSING};
    if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0)
        DIE("UFFDIO_REGISTER");
    return page;
}

static int offload_fd;

static void *reader(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "reader");
    char *page = unserved_page();
    printf("reading %d\n", offload_fd);
    fflush(stdout);
    atomic_fetch_add(&started, 1);
    (void)!pread(offload_fd, page, 4096, OFFLOAD_AT);
    return NULL;
}

static void *spinner(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "spinner");
    atomic_fetch_add(&started, 1);
    volatile unsigned long n = 0;
    for (;;)
        n++;
    return NULL;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 8;
    int spin = argc > 2 && strcmp(argv[2], "spin") == 0;
    int offload = argc > 3 && strcmp(argv[2], "offload") == 0;
    if (pipe(pipefd) != 0)
        DIE("pipe");
    if (offload)
        offload_fd = evicted_file(argv[3]);
    pthread_mutex_lock(&held);
    pthread_rwlock_wrlock(&write_held);
    pthread_rwlock_rdlock(&read_held);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    for (long i = 0; i < n; i++)
        if (pthread_create(&t, &attr, worker, (void *)i) != 0)
            DIE("pthread_create %ld", i);
    if (spin && pthread_create(&t, &attr, spinner, NULL) != 0)
        DIE("pthread_create spinner");
    if (offload && pthread_create(&t, &attr, reader, NULL) != 0)
        DIE("pthread_create reader");
    while (atomic_load(&started) < n + spin + offload)
        usleep(1000);
    printf("ready\n");
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof buf) > 0) {
    }
    _exit(0);
}
