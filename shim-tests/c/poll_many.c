/* poll and select over many fds (more than fit in the runtime's on-stack wait list) and
 * over a few, woken by a write from another thread to one pipe in the middle. Prints what
 * each call reported: the same natively and greened. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#define PIPES 40

static int fds[PIPES][2];

static void *writer(void *arg) {
    int which = *(int *)arg;
    usleep(20000);
    if (write(fds[which][1], "x", 1) != 1) perror("write");
    return NULL;
}

static void drain(int which) {
    char c;
    if (read(fds[which][0], &c, 1) != 1) perror("read");
}

static void poll_case(const char *name, int count, int which) {
    struct pollfd p[PIPES];
    for (int i = 0; i < count; i++) p[i] = (struct pollfd){.fd = fds[i][0], .events = POLLIN};
    pthread_t t;
    pthread_create(&t, NULL, writer, &which);
    int n = poll(p, count, 10000);
    printf("%s ret=%d ready=", name, n);
    for (int i = 0; i < count; i++)
        if (p[i].revents) printf("%d:0x%x,", i, p[i].revents);
    printf("\n");
    pthread_join(t, NULL);
    drain(which);
}

static void select_case(const char *name, int count, int which) {
    fd_set rd;
    FD_ZERO(&rd);
    int maxfd = -1;
    for (int i = 0; i < count; i++) {
        FD_SET(fds[i][0], &rd);
        if (fds[i][0] > maxfd) maxfd = fds[i][0];
    }
    pthread_t t;
    pthread_create(&t, NULL, writer, &which);
    struct timeval tv = {10, 0};
    int n = select(maxfd + 1, &rd, NULL, NULL, &tv);
    printf("%s ret=%d ready=", name, n);
    for (int i = 0; i < count; i++)
        if (FD_ISSET(fds[i][0], &rd)) printf("%d,", i);
    printf("\n");
    pthread_join(t, NULL);
    drain(which);
}

int main(void) {
    for (int i = 0; i < PIPES; i++)
        if (pipe(fds[i]) != 0) { perror("pipe"); return 1; }
    poll_case("poll_few", 5, 3);
    poll_case("poll_many", PIPES, 29);
    poll_case("poll_many_last", PIPES, PIPES - 1);
    select_case("select_few", 5, 2);
    select_case("select_many", PIPES, 31);
    printf("done\n");
    return 0;
}
