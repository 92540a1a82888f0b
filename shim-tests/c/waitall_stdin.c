/* recv(MSG_WAITALL) of 100 bytes on stdin, a stream socket the program inherited (created
 * before libgreen started, so libgreen has not seen it before this call), in a thread.
 * Prints how many bytes the call returned. */
#include "common.h"

#include <pthread.h>
#include <sys/socket.h>

static ssize_t got;

static void *receive(void *arg) {
    (void)arg;
    char buf[100];
    got = recv(0, buf, sizeof buf, MSG_WAITALL);
    return NULL;
}

int main(void) {
    pthread_t t;
    pthread_create(&t, NULL, receive, NULL);
    pthread_join(t, NULL);
    printf("recv(MSG_WAITALL) returned %zd\n", got);
    return 0;
}
