/* popen streams, read, written and closed as glibc's are: each line is a fact that holds
 * natively and greened alike. A second thread is alive throughout, so that greened every
 * blocking call of the main thread waits as a green thread; one case reads a slow command
 * while a ticker thread counts. */
#define _GNU_SOURCE
#include "common.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

/* fclose of a popen stream is one of the two ways glibc closes it: a case of its own. */
#pragma GCC diagnostic ignored "-Wmismatched-dealloc"

static char path[64];

static int exit_code(int status) {
    return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void read_lines(void) {
    FILE *f = popen("printf 'one\\ntwo\\n'; printf three; exit 3", "r");
    if (!f) DIE("popen");
    int fd = fileno(f);
    printf("read: fileno_ok=%d nonblock=%d cloexec=%d\n", fd > 2, (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0,
           (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    char line[32];
    while (fgets(line, sizeof line, f)) printf("read: line=%s%s", line, strchr(line, '\n') ? "" : "\n");
    printf("read: eof=%d error=%d\n", feof(f) != 0, ferror(f) != 0);
    printf("read: pclose exit=%d\n", exit_code(pclose(f)));
}

static void read_chars(void) {
    FILE *f = popen("printf abcdef", "re");
    if (!f) DIE("popen");
    printf("chars: cloexec=%d\n", (fcntl(fileno(f), F_GETFD) & FD_CLOEXEC) != 0);
    int c = getc(f);
    ungetc(c, f);
    char buf[8] = {0};
    size_t n = fread(buf, 1, 4, f);
    printf("chars: first=%c fread=%zu %s ftell=%ld\n", c, n, buf, ftell(f));
    int fifth = getc(f), sixth = getc(f), after = getc(f);
    printf("chars: rest=%c%c getc_at_end=%d\n", fifth, sixth, after);
    printf("chars: pclose exit=%d\n", exit_code(pclose(f)));
}

static void write_lines(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "cat > %s; exit 4", path);
    FILE *w = popen(cmd, "w");
    if (!w) DIE("popen");
    for (int i = 0; i < 1000; i++) fprintf(w, "line %d\n", i);
    /* A second popen meanwhile: its shell must not hold the first one's pipe open. */
    FILE *r = popen("echo second", "r");
    char line[32] = {0};
    if (!r || !fgets(line, sizeof line, r)) DIE("second popen");
    printf("write: second=%s", line);
    printf("write: pclose exit=%d\n", exit_code(pclose(w)));
    printf("write: second pclose exit=%d\n", exit_code(pclose(r)));
    FILE *back = fopen(path, "r");
    long size = -1;
    if (back) {
        fseek(back, 0, SEEK_END);
        size = ftell(back);
        fclose(back);
    }
    printf("write: command got %ld bytes\n", size);
}

/* The command exits without reading: the last flush fails with EPIPE (SIGPIPE ignored). */
static void write_to_a_gone_command(void) {
    signal(SIGPIPE, SIG_IGN);
    FILE *w = popen("exit 0", "w");
    if (!w) DIE("popen");
    usleep(200000);
    for (int i = 0; i < 100; i++) fputs("never read\n", w);
    errno = 0;
    int status = pclose(w);
    int e = errno;
    printf("gone: pclose=%d %s\n", status, status == 0 ? "" : errno_name(e));
    signal(SIGPIPE, SIG_DFL);
}

static void bad_calls(void) {
    errno = 0;
    FILE *f = popen("true", "x");
    int e = errno;
    printf("bad mode: stream=%s %s\n", f ? "yes" : "null", errno_name(e));
    f = popen("true", "r");
    printf("fclose instead of pclose: exit=%d\n", exit_code(fclose(f)));
}

static void slow_command(void) {
    ticker_start(5000);
    double start = mono_now();
    FILE *f = popen("sleep 0.3; echo late", "r");
    char line[16] = {0};
    if (!f || !fgets(line, sizeof line, f)) DIE("slow popen");
    double took = mono_now() - start;
    int ticks = ticker_ticks();
    printf("slow: line=%s", line);
    printf("slow: waited=%s ticked_meanwhile=%s\n", took >= 0.25 ? "yes" : "no", ticks >= 20 ? "yes" : "no");
    printf("slow: pclose exit=%d\n", exit_code(pclose(f)));
    ticker_stop();
}

static int quit[2];

static void *idler(void *arg) {
    (void)arg;
    char c;
    while (read(quit[0], &c, 1) < 0 && errno == EINTR) {
    }
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    snprintf(path, sizeof path, "/tmp/libgreen-popen-%d", (int)getpid());
    if (pipe(quit) != 0) DIE("pipe");
    pthread_t t;
    pthread_create(&t, NULL, idler, NULL);
    read_lines();
    read_chars();
    write_lines();
    write_to_a_gone_command();
    bad_calls();
    slow_command();
    close(quit[1]);
    pthread_join(t, NULL);
    unlink(path);
    printf("done\n");
    return 0;
}
