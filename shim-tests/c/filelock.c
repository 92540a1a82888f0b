/* File locks contended between two processes: a child holds the lock for 300 ms while the
 * parent asks for it with the blocking form, and a ticker thread counts meanwhile. Greened,
 * the ticker keeps ticking during the wait (the OS thread was not blocked); natively it
 * ticks too (it is a thread of its own), so the outputs are the same.
 *
 *   filelock flock | lockf | fcntl | ofd | syscall-flock | errors | eintr
 *   filelock alone     the main thread alone (no ticker): lockf, fcntl and flock wait for
 *                      the holder; an alarm's handler ends an F_SETLKW (EINTR) or, with
 *                      SA_RESTART, lets it go on; two processes that each hold a byte the
 *                      other waits for: the kernel reports EDEADLK to exactly one of them
 *
 * Every line is a fact that holds natively and greened alike. */
#define _GNU_SOURCE
#include "common.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/wait.h>

enum kind { FLOCK, LOCKF, FCNTL, OFD, SYSCALL_FLOCK };

static int take(enum kind kind, int fd, int wait) {
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    switch (kind) {
    case FLOCK: return flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
    case LOCKF: return lockf(fd, wait ? F_LOCK : F_TLOCK, 0);
    case FCNTL: return fcntl(fd, wait ? F_SETLKW : F_SETLK, &fl);
    case OFD: return fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
    case SYSCALL_FLOCK: return (int)syscall(SYS_flock, fd, LOCK_EX | (wait ? 0 : LOCK_NB));
    }
    return -1;
}

/* "what=rc ERRNO", errno read after the call that gave rc. */
static void line(const char *what, int rc) {
    int e = errno;
    printf("%s=%d %s\n", what, rc, rc == 0 ? "" : errno_name(e));
    errno = 0;
}

static char path[] = "/tmp/libgreen-filelock-XXXXXX";

/* A child that opens the file itself, takes the lock, says so on `ready`, holds it for
 * `hold_ms` and exits (which releases it). */
static pid_t holder(enum kind kind, int hold_ms) {
    int ready[2];
    if (pipe(ready) != 0) DIE("pipe");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(path, O_RDWR);
        if (fd < 0 || take(kind, fd, 1) != 0) _exit(3);
        if (write(ready[1], "x", 1) != 1) _exit(4);
        usleep((useconds_t)hold_ms * 1000);
        _exit(0);
    }
    char c;
    if (read(ready[0], &c, 1) != 1) DIE("holder did not lock");
    close(ready[0]);
    close(ready[1]);
    return pid;
}

static int reap(pid_t pid) {
    int status = -1;
    waitpid(pid, &status, 0);
    return status;
}

static void contended(const char *name, enum kind kind) {
    int fd = open(path, O_RDWR);
    pid_t pid = holder(kind, 300);
    printf("%s ", name);
    line("try_while_held", take(kind, fd, 0));
    ticker_start(2000);
    double start = mono_now();
    int rc = take(kind, fd, 1);
    double took = mono_now() - start;
    int ticks = ticker_ticks();
    ticker_stop();
    printf("%s wait=%d waited_250ms=%s ticked_meanwhile=%s\n", name, rc, took >= 0.25 ? "yes" : "no",
           ticks >= 20 ? "yes" : "no");
    printf("%s holder_status=%d\n", name, reap(pid));
    close(fd);
}

static void errors(void) {
    int fd = open(path, O_RDONLY);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    line("errors flock_badfd", flock(9999, LOCK_EX));
    line("errors flock_both", flock(fd, LOCK_EX | LOCK_SH));
    line("errors flock_zero", flock(fd, 0));
    line("errors lockf_badfd", lockf(9999, F_LOCK, 0));
    line("errors lockf_readonly", lockf(fd, F_LOCK, 0));
    line("errors setlkw_readonly", fcntl(fd, F_SETLKW, &fl));
    fl.l_type = 99;
    line("errors setlkw_bad_type", fcntl(fd, F_SETLKW, &fl));
    line("errors ofd_setlkw_nonzero_pid", fcntl(fd, F_OFD_SETLKW, &(struct flock){.l_type = F_RDLCK, .l_pid = 1}));
    fl.l_type = F_RDLCK;
    line("errors setlkw_read", fcntl(fd, F_SETLKW, &fl));
    fl.l_type = F_UNLCK;
    line("errors setlkw_unlock", fcntl(fd, F_SETLKW, &fl));
    line("errors flock_sh", flock(fd, LOCK_SH));
    line("errors flock_un", flock(fd, LOCK_UN));
    close(fd);
}

static void on_usr1(int sig) { (void)sig; }

static pthread_t main_thread;
static atomic_int main_returned;

/* Signals the main thread after `arg` ms, then every 20 ms until it has returned from its
 * wait (at most 10 times): one signal could come while the waiter is between two tries. */
static void *poke_main(void *arg) {
    usleep((useconds_t)(long)arg * 1000);
    for (int i = 0; i < 10 && !atomic_load(&main_returned); i++) {
        pthread_kill(main_thread, SIGUSR1);
        usleep(20000);
    }
    return NULL;
}

static void eintr(void) {
    main_thread = pthread_self();
    struct sigaction sa = {.sa_handler = on_usr1};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    int fd = open(path, O_RDWR);
    pid_t pid = holder(FCNTL, 400);
    pthread_t t;
    pthread_create(&t, NULL, poke_main, (void *)100L);
    double start = mono_now();
    errno = 0;
    atomic_store(&main_returned, 0);
    int rc = take(FCNTL, fd, 1);
    int e = errno;
    atomic_store(&main_returned, 1);
    printf("eintr no_restart=%d %s early=%s\n", rc, errno_name(e), mono_now() - start < 0.3 ? "yes" : "no");
    pthread_join(t, NULL);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    atomic_store(&main_returned, 0);
    pthread_create(&t, NULL, poke_main, (void *)50L);
    rc = take(FCNTL, fd, 1);
    atomic_store(&main_returned, 1);
    printf("eintr restart=%d after_holder=%s\n", rc, mono_now() - start >= 0.35 ? "yes" : "no");
    pthread_join(t, NULL);
    printf("eintr holder_status=%d\n", reap(pid));
    close(fd);
}

/* The main thread is the only thread: greened, it may wait in the kernel itself. */
static void alone_contended(const char *name, enum kind kind) {
    int fd = open(path, O_RDWR);
    pid_t pid = holder(kind, 300);
    double start = mono_now();
    int rc = take(kind, fd, 1);
    double took = mono_now() - start;
    printf("alone %s wait=%d waited_250ms=%s holder_status=%d\n", name, rc, took >= 0.25 ? "yes" : "no",
           reap(pid));
    close(fd);
}

static void alone_alarm(int flags) {
    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = flags};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    int fd = open(path, O_RDWR);
    pid_t pid = holder(FCNTL, 400);
    double start = mono_now();
    ualarm(100000, 0);
    errno = 0;
    int rc = take(FCNTL, fd, 1);
    int e = errno;
    double took = mono_now() - start;
    printf("alone alarm restart=%d: wait=%d %s after_holder=%s holder_status=%d\n", flags != 0, rc,
           rc == 0 ? "" : errno_name(e), took >= 0.35 ? "yes" : "no", reap(pid));
    close(fd);
}

/* Write-locks the byte at `at` (waiting with `wait`): 0, or the errno. */
static int lock_byte(int fd, int at, int wait) {
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = at, .l_len = 1};
    return fcntl(fd, wait ? F_SETLKW : F_SETLK, &fl) == 0 ? 0 : errno;
}

/* The parent holds byte 0 and the child byte 1; each then waits for the other's. Whoever
 * closes the cycle gets EDEADLK and lets go of its byte, so the other's wait ends. */
static void alone_deadlock(void) {
    int fd = open(path, O_RDWR);
    if (lock_byte(fd, 0, 0) != 0) DIE("lock byte 0");
    int ready[2], verdict[2];
    if (pipe(ready) != 0 || pipe(verdict) != 0) DIE("pipe");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int own = open(path, O_RDWR);
        if (own < 0 || lock_byte(own, 1, 0) != 0) _exit(3);
        if (write(ready[1], "x", 1) != 1) _exit(4);
        char got = (char)lock_byte(own, 0, 1);
        if (write(verdict[1], &got, 1) != 1) _exit(5);
        _exit(0);
    }
    char c;
    if (read(ready[0], &c, 1) != 1) DIE("child did not lock");
    usleep(100000); /* the child is, most likely, asleep on byte 0 by now */
    int mine = lock_byte(fd, 1, 1);
    if (mine == EDEADLK) {
        struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
        fcntl(fd, F_SETLK, &fl);
    }
    char theirs;
    if (read(verdict[0], &theirs, 1) != 1) DIE("child verdict");
    int deadlocks = (mine == EDEADLK) + (theirs == EDEADLK);
    int granted = (mine == 0) + (theirs == 0);
    printf("alone deadlock: EDEADLK to %d, granted to %d, child_status=%d\n", deadlocks, granted, reap(pid));
    close(fd);
}

static void alone(void) {
    alone_contended("lockf", LOCKF);
    alone_contended("fcntl", FCNTL);
    alone_contended("flock", FLOCK);
    alone_alarm(0);
    alone_alarm(SA_RESTART);
    alone_deadlock();
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *what = argc > 1 ? argv[1] : "";
    int fd = mkstemp(path);
    if (fd < 0) DIE("mkstemp");
    close(fd);
    if (!strcmp(what, "flock")) contended("flock", FLOCK);
    else if (!strcmp(what, "lockf")) contended("lockf", LOCKF);
    else if (!strcmp(what, "fcntl")) contended("fcntl", FCNTL);
    else if (!strcmp(what, "ofd")) contended("ofd", OFD);
    else if (!strcmp(what, "syscall-flock")) contended("syscall_flock", SYSCALL_FLOCK);
    else if (!strcmp(what, "errors")) errors();
    else if (!strcmp(what, "eintr")) eintr();
    else if (!strcmp(what, "alone")) alone();
    else {
        unlink(path);
        fprintf(stderr, "usage: filelock flock|lockf|fcntl|ofd|syscall-flock|errors|eintr|alone\n");
        return 2;
    }
    unlink(path);
    printf("done\n");
    return 0;
}
