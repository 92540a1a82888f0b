/* POSIX timers that notify by starting a thread (timer_create with SIGEV_THREAD): what a
 * program relies on, natively and greened alike. Each expiry runs the function on a new,
 * detached thread with every signal blocked; interval timers keep firing until deleted and
 * not after; timer_gettime tells the time left; the function's thread meets other threads at
 * a barrier and can be cancelled at a sleep, running its cleanup handler (glibc's
 * tst-cancel28); the timer takes no descriptor number the program would get next. */
#define _GNU_SOURCE
#include "common.h"
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>

static pthread_barrier_t barrier;
static pthread_t function_thread;
static atomic_int cleanups, all_blocked, detached;

static int os_threads(void) {
    DIR *dir = opendir("/proc/self/task");
    if (!dir)
        DIE("opendir");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)))
        n += e->d_name[0] != '.';
    closedir(dir);
    return n;
}

static void note_thread_facts(void) {
    sigset_t mask;
    pthread_sigmask(SIG_SETMASK, NULL, &mask);
    if (sigismember(&mask, SIGUSR1) && sigismember(&mask, SIGINT) && sigismember(&mask, SIGALRM))
        atomic_fetch_add(&all_blocked, 1);
    pthread_attr_t attr;
    int state = -1;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getdetachstate(&attr, &state);
        pthread_attr_destroy(&attr);
    }
    if (state == PTHREAD_CREATE_DETACHED)
        atomic_fetch_add(&detached, 1);
}

static void tick(union sigval value) {
    atomic_fetch_add((atomic_int *)value.sival_ptr, 1);
    note_thread_facts();
}

static void cleanup(void *arg) {
    (void)arg;
    atomic_fetch_add(&cleanups, 1);
    pthread_barrier_wait(&barrier);
}

static void meet_then_sleep(union sigval value) {
    (void)value;
    function_thread = pthread_self();
    pthread_barrier_wait(&barrier);
    pthread_cleanup_push(cleanup, NULL);
    for (;;)
        sleep(1);
    pthread_cleanup_pop(0);
}

static timer_t make_timer(void (*function)(union sigval), void *arg) {
    struct sigevent event;
    memset(&event, 0, sizeof event);
    event.sigev_notify = SIGEV_THREAD;
    event.sigev_notify_function = function;
    event.sigev_value.sival_ptr = arg;
    timer_t id;
    if (timer_create(CLOCK_MONOTONIC, &event, &id) != 0)
        DIE("timer_create");
    return id;
}

static void arm(timer_t id, long value_ms, long interval_ms) {
    struct itimerspec spec = {
        .it_value = { value_ms / 1000, (value_ms % 1000) * 1000000 },
        .it_interval = { interval_ms / 1000, (interval_ms % 1000) * 1000000 },
    };
    if (timer_settime(id, 0, &spec, NULL) != 0)
        DIE("timer_settime");
}

int main(void) {
    int before = dup(0);
    close(before);

    /* A function that meets main at a barrier, then is cancelled in its sleep. */
    pthread_barrier_init(&barrier, NULL, 2);
    timer_t meeting = make_timer(meet_then_sleep, NULL);
    int after = dup(0);
    close(after);
    arm(meeting, 1, 0);
    pthread_barrier_wait(&barrier);
    printf("timer: function met main at a barrier; the next descriptor is the same=%d\n", before == after);
    printf("timer: os threads while it sleeps, more than one=%d\n", os_threads() > 1);
    if (pthread_cancel(function_thread) != 0)
        DIE("pthread_cancel");
    pthread_barrier_wait(&barrier);
    printf("timer: cancelled at its sleep, cleanup handlers run=%d\n", atomic_load(&cleanups));
    timer_delete(meeting);

    /* An interval timer: fires until deleted, never after. */
    atomic_int count = 0;
    timer_t interval = make_timer(tick, &count);
    arm(interval, 20, 20);
    struct itimerspec left;
    timer_gettime(interval, &left);
    long left_ms = left.it_value.tv_sec * 1000 + left.it_value.tv_nsec / 1000000;
    printf("timer: gettime left in (0, 20] ms=%d interval=%ld ms\n", left_ms >= 0 && left_ms <= 20,
           left.it_interval.tv_nsec / 1000000);
    while (atomic_load(&count) < 10)
        usleep(5000);
    if (timer_delete(interval) != 0)
        DIE("timer_delete");
    usleep(20000); /* a notification already started may still count */
    int at_delete = atomic_load(&count);
    usleep(200000);
    printf("timer: interval fired 10 times or more=1, none 200 ms after delete=%d\n", atomic_load(&count) == at_delete);
    printf("timer: notification threads detached=%d, with every signal blocked=%d\n",
           atomic_load(&detached) == at_delete, atomic_load(&all_blocked) == at_delete);

    /* A disarmed timer tells zero; an id that is no timer is EINVAL. */
    timer_t idle = make_timer(tick, &count);
    timer_gettime(idle, &left);
    printf("timer: disarmed gettime zero=%d\n", left.it_value.tv_sec == 0 && left.it_value.tv_nsec == 0);
    /* Timers are not inherited: in a forked child the parent's id is EINVAL. */
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        struct itimerspec one = { .it_value = { 1, 0 } };
        errno = 0;
        int r = timer_settime(idle, 0, &one, NULL);
        printf("timer: in a forked child, settime of the parent's timer=%d errno=%s\n", r,
               errno == EINVAL ? "EINVAL" : strerror(errno));
        fflush(stdout);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    timer_delete(idle);
    struct itimerspec spec = { .it_value = { 1, 0 } };
    errno = 0;
    int r = timer_settime((timer_t)(long)12345, 0, &spec, NULL);
    printf("timer: settime of a bogus id=%d errno=%s\n", r, errno == EINVAL ? "EINVAL" : strerror(errno));
    return 0;
}
