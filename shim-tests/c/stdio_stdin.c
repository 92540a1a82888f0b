/* A thread that reads its standard input through stdio while another thread works: the
 * line arrives half a second later, and the other thread (a ticker) must have run
 * meanwhile, as it does natively. glibc's stdio reads with its internal read, which no
 * hook of the program's own read sees.
 *
 *   stdio_stdin SOURCE HOW [SIGNAL]
 *     SOURCE  given: standard input as it came (the test fills a pipe or a terminal late)
 *             own:   a pipe the program makes and dup2s onto 0 (greened, a description the
 *                    runtime made non-blocking), filled by a forked child half a second later
 *     HOW     fgets | getchar | scanf | fread | fread-large | getline | fgetws
 *             (fread-large asks for more than the stream's buffer holds: for pipes that
 *             end after the line, not terminals)
 *     SIGNAL  interrupt | restart: a SIGALRM handler installed without or with SA_RESTART
 *             runs 300 ms into the wait (without: the read fails with EINTR, the stream's
 *             error flag set; with: the wait goes on)
 *   prints what it read (and the errno of a failure) and whether the ticker ran while the
 *   read waited
 *
 *   stdio_stdin pool
 *     four threads take lines from one stdin with fgets until it ends, while a forked child
 *     writes 300 numbered lines in bursts: every line must reach exactly one thread
 *
 *   stdio_stdin prompt [rw]
 *     prints a prompt without a newline, reads a name, greets it: run on a terminal, the
 *     prompt must show before the read waits (line-buffered stdout is flushed first; with
 *     rw, on one stream that opens the terminal "r+", its own pending output is) */
#define _GNU_SOURCE
#include "common.h"

#include <sys/time.h>
#include <wchar.h>

/* Makes standard input a pipe the program made, whose other end a forked child hands to
 * `writer` and then leaves; returns the child's pid. */
static pid_t feed_stdin(void (*writer)(int fd)) {
    int p[2];
    if (pipe(p) != 0) DIE("pipe");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) DIE("fork");
    if (pid == 0) {
        close(p[0]);
        writer(p[1]);
        _exit(0);
    }
    close(p[1]);
    if (dup2(p[0], 0) != 0) DIE("dup2");
    close(p[0]);
    return pid;
}

/* The writer of `own`: one line, half a second from now. */
static void one_line_late(int fd) {
    usleep(500 * 1000);
    static const char line[] = "hello world\n";
    if (write(fd, line, sizeof line - 1) != (ssize_t)(sizeof line - 1)) _exit(1);
}

/* Reads one line of standard input the way `how` says, into `out`. */
static void read_line(const char *how, char *out, size_t size) {
    out[0] = 0;
    if (strcmp(how, "fgets") == 0) {
        if (!fgets(out, (int)size, stdin))
            snprintf(out, size, "fgets: NULL (%s, errno %s)\n", ferror(stdin) ? "error" : "end", errno_name(errno));
    } else if (strcmp(how, "getchar") == 0) {
        size_t n = 0;
        int c;
        while (n + 1 < size && (c = getchar()) != EOF) {
            out[n++] = (char)c;
            if (c == '\n') break;
        }
        out[n] = 0;
        if (n == 0) snprintf(out, size, "getchar: EOF (%s)\n", ferror(stdin) ? "error" : "end");
    } else if (strcmp(how, "scanf") == 0) {
        char first[64], second[64];
        int got = scanf("%63s %63s", first, second);
        if (got == 2) snprintf(out, size, "%s %s\n", first, second);
        else snprintf(out, size, "scanf: %d (%s)\n", got, ferror(stdin) ? "error" : "end");
    } else if (strcmp(how, "fread") == 0) {
        /* Exactly the line's length: fread returns once it has that many. */
        size_t got = fread(out, 1, 12, stdin);
        out[got] = 0;
        if (got != 12) snprintf(out, size, "fread: %zu (%s)\n", got, ferror(stdin) ? "error" : "end");
    } else if (strcmp(how, "fread-large") == 0) {
        /* More than a buffer's worth: glibc reads straight into our memory, until it has
         * them all or the input ends (the writer leaves after its line). */
        static char big[3 * 8192];
        size_t got = fread(big, 1, sizeof big, stdin);
        if (got == 0) snprintf(out, size, "fread: 0 (%s)\n", ferror(stdin) ? "error" : "end");
        else snprintf(out, size, "%.*s", (int)got, big);
    } else if (strcmp(how, "getline") == 0) {
        char *line = NULL;
        size_t cap = 0;
        if (getline(&line, &cap, stdin) < 0) snprintf(out, size, "getline: -1 (%s)\n", ferror(stdin) ? "error" : "end");
        else snprintf(out, size, "%s", line);
        free(line);
    } else if (strcmp(how, "fgetws") == 0) {
        wchar_t wide[64];
        if (!fgetws(wide, 64, stdin)) snprintf(out, size, "fgetws: NULL (%s)\n", ferror(stdin) ? "error" : "end");
        else if (wcstombs(out, wide, size) == (size_t)-1) DIE("wcstombs");
    } else {
        DIE("stdio_stdin: unknown way %s", how);
    }
}

static void on_alarm(int sig) { (void)sig; }

/* SIGALRM in 300 ms, its handler installed with `flags`. */
static void alarm_soon(int flags) {
    struct sigaction action = {.sa_handler = on_alarm, .sa_flags = flags};
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGALRM, &action, NULL) != 0) DIE("sigaction");
    struct itimerval soon = {.it_value = {.tv_sec = 0, .tv_usec = 300 * 1000}};
    if (setitimer(ITIMER_REAL, &soon, NULL) != 0) DIE("setitimer");
}

enum { POOL_LINES = 300, POOL_READERS = 4 };
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static int pool_seen[POOL_LINES + 1], pool_strays;

static void *pool_reader(void *arg) {
    (void)arg;
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        int number = atoi(line);
        pthread_mutex_lock(&pool_lock);
        if (number >= 1 && number <= POOL_LINES && strchr(line, '\n')) pool_seen[number]++;
        else pool_strays++;
        pthread_mutex_unlock(&pool_lock);
    }
    return NULL;
}

/* The writer of `pool`: POOL_LINES numbered lines, ten at a time. */
static void lines_in_bursts(int fd) {
    for (int burst = 0; burst < POOL_LINES / 10; burst++) {
        char text[256];
        int len = 0;
        for (int i = 1; i <= 10; i++) len += snprintf(text + len, sizeof text - (size_t)len, "%d\n", burst * 10 + i);
        if (write(fd, text, (size_t)len) != len) _exit(1);
        usleep(10 * 1000);
    }
}

static int pool(void) {
    pid_t pid = feed_stdin(lines_in_bursts);
    pthread_t readers[POOL_READERS];
    for (int i = 0; i < POOL_READERS; i++)
        if (pthread_create(&readers[i], NULL, pool_reader, NULL) != 0) DIE("pthread_create");
    for (int i = 0; i < POOL_READERS; i++) pthread_join(readers[i], NULL);
    int once = 0;
    for (int n = 1; n <= POOL_LINES; n++) once += pool_seen[n] == 1;
    printf("pool: %d of %d lines reached exactly one thread, %d stray\n", once, POOL_LINES, pool_strays);
    int status;
    waitpid(pid, &status, 0);
    return 0;
}

static int prompt(int one_stream) {
    ticker_start(10 * 1000);
    FILE *in = stdin, *out = stdout;
    if (one_stream) {
        const char *terminal = ttyname(0);
        if (!terminal || !(in = out = fopen(terminal, "r+"))) DIE("fopen terminal");
    }
    fprintf(out, "name? ");
    char name[64];
    if (!fgets(name, sizeof name, in)) DIE("fgets");
    fprintf(out, "hello %s", name);
    fflush(out);
    ticker_stop();
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "prompt") == 0) return prompt(argc == 3 && strcmp(argv[2], "rw") == 0);
    if (argc == 2 && strcmp(argv[1], "pool") == 0) return pool();
    if (argc != 3 && argc != 4) DIE("usage: stdio_stdin given|own fgets|getchar|scanf|fread|fread-large|getline|fgetws [interrupt|restart]");
    if (strcmp(argv[1], "own") != 0 && strcmp(argv[1], "given") != 0) DIE("stdio_stdin: unknown source %s", argv[1]);
    pid_t writer = strcmp(argv[1], "own") == 0 ? feed_stdin(one_line_late) : 0;
    ticker_start(10 * 1000);
    if (argc == 4) alarm_soon(strcmp(argv[3], "restart") == 0 ? SA_RESTART : 0);
    char line[256];
    read_line(argv[2], line, sizeof line);
    /* About 50 ticks natively in the half second the line takes; none if the read held every
     * thread up. */
    int ticks = ticker_ticks();
    ticker_stop();
    printf("read: %s", line);
    printf("ticker ran while it waited: %s\n", ticks >= 10 ? "yes" : "no");
    if (writer > 0) {
        int status;
        waitpid(writer, &status, 0);
    }
    return 0;
}
