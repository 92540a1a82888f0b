/* A blocking connect on a socket the process did not make through socket(3) (one made by
 * a raw system call, as an inherited one would be), to a listener whose accept queue is
 * full: the kernel drops the SYN and the connect waits for the retransmission, about a
 * second, once the main thread has accepted the connection that filled the queue. A ticker
 * thread runs meanwhile.
 *
 * Prints "connect 0" and whether the ticker ticked at least 20 times during the connect.
 * Greened, the main thread must get to run meanwhile too: until it accepts, no SYN gets
 * through. */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>

static struct sockaddr_in addr;
static atomic_int connected = 0, ticks_during = 0;

static void *connector(void *arg) {
    (void)arg;
    int fd = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
    if (fd < 0) DIE("socket");
    int before = ticker_ticks();
    int r = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    atomic_store(&ticks_during, ticker_ticks() - before);
    printf("connect %d%s%s\n", r, r ? " " : "", r ? strerror(errno) : "");
    atomic_store(&connected, 1);
    close(fd);
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 0) != 0) DIE("listen");
    getsockname(listener, (struct sockaddr *)&addr, &len);
    /* One connection fills a queue of length 0 (the kernel allows backlog + 1). */
    int filler = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(filler, (struct sockaddr *)&addr, sizeof addr) != 0) DIE("connect filler");
    ticker_start(10000);
    pthread_t t;
    if (pthread_create(&t, NULL, connector, NULL) != 0) DIE("pthread_create");
    usleep(200000);
    int first = accept(listener, NULL, NULL);
    if (first < 0) DIE("accept");
    int second = accept(listener, NULL, NULL);
    if (second < 0) DIE("accept");
    pthread_join(t, NULL);
    ticker_stop();
    printf("ticked during the connect: %s\n", atomic_load(&ticks_during) >= 20 ? "yes" : "no");
    return 0;
}
