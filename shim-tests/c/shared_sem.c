/* Named (sem_open) and process-shared (sem_init pshared=1 in shared memory) semaphores
 * waited on by threads and posted by another process: the waiters wake, a ticker thread
 * keeps running meanwhile, timeouts and errors are glibc's. Prints the same natively and
 * greened, plus `threads_while_waiting=N` (7 natively, 1 greened). */
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAITERS 5

static sem_t *sem;
static atomic_int waiting, woke, stop_ticking, ticks_while_waiting;

static void *waiter(void *arg) {
    (void)arg;
    atomic_fetch_add(&waiting, 1);
    if (sem_wait(sem) != 0) DIE("sem_wait");
    atomic_fetch_add(&woke, 1);
    return NULL;
}

static void *ticker(void *arg) {
    (void)arg;
    while (!atomic_load(&stop_ticking)) {
        usleep(10 * 1000);
        if (atomic_load(&woke) < WAITERS) atomic_fetch_add(&ticks_while_waiting, 1);
    }
    return NULL;
}

/* The child process: posts WAITERS units, 20 ms apart, after 100 ms. */
static void poster(void) {
    usleep(100 * 1000);
    for (int i = 0; i < WAITERS; i++) {
        if (sem_post(sem) != 0) _exit(3);
        usleep(20 * 1000);
    }
    _exit(0);
}

static void run(const char *kind) {
    atomic_store(&waiting, 0);
    atomic_store(&woke, 0);
    atomic_store(&stop_ticking, 0);
    atomic_store(&ticks_while_waiting, 0);
    pthread_t t[WAITERS], tick;
    for (int i = 0; i < WAITERS; i++)
        if (pthread_create(&t[i], NULL, waiter, NULL) != 0) DIE("pthread_create");
    if (pthread_create(&tick, NULL, ticker, NULL) != 0) DIE("pthread_create");
    while (atomic_load(&waiting) < WAITERS) usleep(1000);
    usleep(20 * 1000);
    printf("threads_while_waiting=%d\n", os_thread_count());
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) DIE("fork");
    if (pid == 0) poster();
    for (int i = 0; i < WAITERS; i++) pthread_join(t[i], NULL);
    atomic_store(&stop_ticking, 1);
    pthread_join(tick, NULL);
    int status;
    if (waitpid(pid, &status, 0) != pid) DIE("waitpid");
    int value = -1;
    sem_getvalue(sem, &value);
    printf("%s: %d waiters woke, poster exit %d, ticks while waiting>=5 %s, value now %d\n", kind,
           atomic_load(&woke), WEXITSTATUS(status), atomic_load(&ticks_while_waiting) >= 5 ? "yes" : "no",
           value);

    errno = 0;
    int rc = sem_trywait(sem);
    printf("%s: trywait on 0=%d %s\n", kind, rc, errno_name(errno));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    double t0 = mono_now();
    errno = 0;
    rc = sem_timedwait(sem, &ts);
    printf("%s: timedwait 50 ms=%d %s waited>=45ms %s\n", kind, rc, errno_name(errno),
           mono_now() - t0 >= 0.045 ? "yes" : "no");
    sem_post(sem);
    sem_post(sem);
    rc = sem_wait(sem);
    sem_getvalue(sem, &value);
    printf("%s: post twice, wait=%d value=%d\n", kind, rc, value);
    sem_wait(sem);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    char name[64];
    snprintf(name, sizeof name, "/libgreen-test-%d", (int)getpid());
    sem = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
    if (sem == SEM_FAILED) DIE("sem_open");
    sem_unlink(name); /* the mapping stays; nothing lingers if we die */
    run("named");
    sem_close(sem);

    sem = mmap(NULL, sizeof(sem_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sem == MAP_FAILED) DIE("mmap");
    if (sem_init(sem, 1, 0) != 0) DIE("sem_init");
    run("pshared");
    sem_destroy(sem);

    errno = 0;
    sem_t *missing = sem_open("/libgreen-test-does-not-exist", 0);
    printf("sem_open of a missing name: %s %s\n", missing == SEM_FAILED ? "SEM_FAILED" : "ok",
           errno == ENOENT ? "ENOENT" : errno_name(errno));
    return 0;
}
