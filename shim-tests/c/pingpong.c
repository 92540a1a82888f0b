/* Two threads hand a one-byte token back and forth over a blocking socketpair, and each
 * prints only while it holds the token, so the output order is fixed:
 *
 *   A: prints 12, sends the token, waits for it
 *   B: waits for the token, prints 56, sends it back, waits again
 *   A: prints 34, sends the token
 *   B: prints 78
 *
 * stdout is exactly "12\n56\n34\n78\n". On stderr, "os_threads=<n>" is the number of OS
 * threads counted while both A and B were alive (3 natively, 1 when A and B are green
 * threads). Any failed or short read/write ends the program with status 99. */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

static int os_threads_while_both_alive = -1;

static void say(const char *line) {
    printf("%s\n", line);
    fflush(stdout);
}

static void pass_token(int fd) {
    char token = 't';
    ssize_t n = write(fd, &token, 1);
    if (n != 1) DIE("write token returned %zd", n);
}

static void wait_token(int fd) {
    char token;
    ssize_t n = read(fd, &token, 1);
    if (n != 1 || token != 't') DIE("read token returned %zd", n);
}

static void *thread_a(void *arg) {
    int fd = *(int *)arg;
    say("12");
    pass_token(fd);
    wait_token(fd);
    say("34");
    pass_token(fd);
    return NULL;
}

static void *thread_b(void *arg) {
    int fd = *(int *)arg;
    wait_token(fd);
    /* A is blocked in its read right now, and main in pthread_join. */
    os_threads_while_both_alive = os_thread_count();
    say("56");
    pass_token(fd);
    wait_token(fd);
    say("78");
    return NULL;
}

int main(void) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) DIE("socketpair");

    /* B is started first so that, if threads ran in creation order, B would be the one to
     * block first: the order of the output must come from the token alone. */
    pthread_t a, b;
    int rc = pthread_create(&b, NULL, thread_b, &sv[1]);
    if (rc != 0) { errno = rc; DIE("pthread_create B"); }
    rc = pthread_create(&a, NULL, thread_a, &sv[0]);
    if (rc != 0) { errno = rc; DIE("pthread_create A"); }

    if ((rc = pthread_join(a, NULL)) != 0) { errno = rc; DIE("pthread_join A"); }
    if ((rc = pthread_join(b, NULL)) != 0) { errno = rc; DIE("pthread_join B"); }

    fprintf(stderr, "os_threads=%d\n", os_threads_while_both_alive);
    close(sv[0]);
    close(sv[1]);
    return 0;
}
