/* Opening a FIFO waits for its other end; greened, it waits for the green thread only. Each
 * line is a fact that holds natively and greened alike.
 *
 *   fifo_open threads   the other end is opened by another thread of this process (greened:
 *                       on the same OS thread, which a wait in the kernel would hang); a
 *                       handler ends the wait (EINTR) or, with SA_RESTART, lets it go on;
 *                       a cancelled opener leaves no descriptor behind
 *   fifo_open alone     the main thread alone: the other end comes from a child process */
#define _GNU_SOURCE
#include "common.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char path[64];

/* "what=ok|-1 ERRNO", errno read after the call that gave fd. */
static void show(const char *what, int fd) {
    int e = errno;
    if (fd >= 0)
        printf("%s=ok nonblock=%d\n", what, (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
    else
        printf("%s=-1 %s\n", what, errno_name(e));
    errno = 0;
}

struct other_end {
    int flags, delay_ms, fd;
    const char *data;
};

static void *open_other_end(void *arg) {
    struct other_end *o = arg;
    usleep((useconds_t)o->delay_ms * 1000);
    o->fd = open(path, o->flags);
    if (o->fd >= 0 && o->data) {
        if (write(o->fd, o->data, strlen(o->data)) < 0) DIE("write");
        close(o->fd);
    }
    return NULL;
}

static void reader_first(void) {
    struct other_end w = {.flags = O_WRONLY, .delay_ms = 100, .data = "hello"};
    pthread_t t;
    pthread_create(&t, NULL, open_other_end, &w);
    double start = mono_now();
    int fd = open(path, O_RDONLY);
    double took = mono_now() - start;
    show("reader first: open", fd);
    char buf[16] = {0};
    printf("reader first: read=%zd %s waited=%s\n", read(fd, buf, sizeof buf - 1), buf, took >= 0.09 ? "yes" : "no");
    pthread_join(t, NULL);
    close(fd);
}

static void writer_first(void) {
    struct other_end r = {.flags = O_RDONLY, .delay_ms = 100};
    pthread_t t;
    pthread_create(&t, NULL, open_other_end, &r);
    double start = mono_now();
    int fd = open(path, O_WRONLY);
    double took = mono_now() - start;
    show("writer first: open", fd);
    pthread_join(t, NULL);
    printf("writer first: write=%zd waited=%s\n", write(fd, "abc", 3), took >= 0.09 ? "yes" : "no");
    close(fd);
    char buf[8] = {0};
    printf("writer first: reader got=%zd %s\n", read(r.fd, buf, sizeof buf - 1), buf);
    close(r.fd);
}

static void writer_leaves_without_writing(void) {
    struct other_end w = {.flags = O_WRONLY, .delay_ms = 100, .data = ""};
    pthread_t t;
    pthread_create(&t, NULL, open_other_end, &w);
    int fd = open(path, O_RDONLY);
    show("silent writer: open", fd);
    pthread_join(t, NULL);
    char c;
    printf("silent writer: read=%zd\n", read(fd, &c, 1));
    close(fd);
}

static void never_wait(void) {
    int fd = open(path, O_RDWR);
    show("O_RDWR", fd);
    close(fd);
    fd = open(path, O_RDONLY | O_NONBLOCK);
    show("O_RDONLY|O_NONBLOCK", fd);
    close(fd);
    show("O_WRONLY|O_NONBLOCK, no reader", open(path, O_WRONLY | O_NONBLOCK));
    show("missing path", open("/nonexistent/fifo", O_RDONLY));
    fd = open("/dev/null", O_WRONLY);
    show("/dev/null", fd);
    close(fd);
}

static pthread_t main_thread;
static void on_signal(int sig) { (void)sig; }

static void *poke_main(void *arg) {
    usleep((useconds_t)(long)arg * 1000);
    pthread_kill(main_thread, SIGUSR1);
    return NULL;
}

static void interrupted(int flags) {
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = flags};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    struct other_end w = {.flags = O_WRONLY, .delay_ms = 300, .data = "late"};
    pthread_t poker, writer;
    pthread_create(&poker, NULL, poke_main, (void *)100L);
    if (flags) pthread_create(&writer, NULL, open_other_end, &w);
    const char *what = flags ? "handler with SA_RESTART: open" : "handler: open";
    int fd = open(path, O_RDONLY);
    show(what, fd);
    pthread_join(poker, NULL);
    if (flags) {
        char buf[8] = {0};
        printf("%s read=%zd %s\n", what, read(fd, buf, sizeof buf - 1), buf);
        pthread_join(writer, NULL);
    }
    if (fd >= 0) close(fd);
}

static void *cancelled_opener(void *arg) {
    (void)arg;
    open(path, O_RDONLY);
    return (void *)1;
}

static void cancelled(void) {
    int before = dup(0);
    close(before);
    pthread_t t;
    pthread_create(&t, NULL, cancelled_opener, NULL);
    usleep(100000);
    pthread_cancel(t);
    void *ret;
    pthread_join(t, &ret);
    int after = dup(0);
    close(after);
    printf("cancelled opener: cancelled=%d descriptor_left=%s\n", ret == PTHREAD_CANCELED, after != before ? "yes" : "no");
}

static void threads(void) {
    main_thread = pthread_self();
    reader_first();
    writer_first();
    writer_leaves_without_writing();
    never_wait();
    interrupted(0);
    interrupted(SA_RESTART);
    cancelled();
}

static void alone(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        usleep(200000);
        int fd = open(path, O_WRONLY);
        _exit(fd >= 0 && write(fd, "child", 5) == 5 ? 0 : 1);
    }
    double start = mono_now();
    int fd = open(path, O_RDONLY);
    double took = mono_now() - start;
    show("child writer: open", fd);
    char buf[16] = {0};
    printf("child writer: read=%zd %s waited=%s\n", read(fd, buf, sizeof buf - 1), buf, took >= 0.19 ? "yes" : "no");
    int status;
    waitpid(pid, &status, 0);
    printf("child writer: status=%d\n", status);
    close(fd);
    never_wait();
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *what = argc > 1 ? argv[1] : "";
    snprintf(path, sizeof path, "/tmp/libgreen-fifo-%d", (int)getpid());
    if (mkfifo(path, 0600) != 0) DIE("mkfifo");
    if (!strcmp(what, "threads")) threads();
    else if (!strcmp(what, "alone")) alone();
    else {
        unlink(path);
        fprintf(stderr, "usage: fifo_open threads|alone\n");
        return 2;
    }
    unlink(path);
    printf("done\n");
    return 0;
}
