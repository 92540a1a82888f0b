/* Name resolution from many threads at once: every call gets the native answer (including
 * the native error codes, errno and h_errno), and greened the calls run on offload workers
 * while the hub keeps serving green threads. */
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#define RESOLVERS 50

static void *resolve_localhost(void *arg) {
    (void)arg;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo("localhost", "80", &hints, &res);
    long ok = rc == 0 && res && ((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK)
              && ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port) == 80;
    if (res) freeaddrinfo(res);
    return (void *)ok;
}

int main(void) {
    pthread_t threads[RESOLVERS];
    for (long i = 0; i < RESOLVERS; i++) pthread_create(&threads[i], NULL, resolve_localhost, NULL);
    long ok = 0;
    for (int i = 0; i < RESOLVERS; i++) {
        void *result;
        pthread_join(threads[i], &result);
        ok += (long)result;
    }
    printf("getaddrinfo localhost ok=%ld of %d\n", ok, RESOLVERS);

    struct addrinfo *res = NULL;
    int rc = getaddrinfo("no-such-host.invalid", NULL, NULL, &res);
    printf("getaddrinfo invalid=%s\n", rc == EAI_NONAME ? "EAI_NONAME" : rc == EAI_AGAIN ? "EAI_AGAIN" : gai_strerror(rc));

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(22)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char host[256], serv[64];
    rc = getnameinfo((struct sockaddr *)&addr, sizeof addr, host, sizeof host, serv, sizeof serv, NI_NUMERICSERV);
    printf("getnameinfo=%d host=%s serv=%s\n", rc, host, serv);

    struct hostent *he = gethostbyname("localhost");
    printf("gethostbyname localhost=%s\n", he ? "found" : "null");
    he = gethostbyname("no-such-host.invalid");
    printf("gethostbyname invalid=%s h_errno=%s\n", he ? "found" : "null",
           h_errno == HOST_NOT_FOUND ? "HOST_NOT_FOUND" : h_errno == TRY_AGAIN ? "TRY_AGAIN" : "other");

    struct hostent result, *found = NULL;
    char buf[4096];
    int herr = 0;
    rc = gethostbyname_r("localhost", &result, buf, sizeof buf, &found, &herr);
    printf("gethostbyname_r=%d found=%d\n", rc, found != NULL);
    return 0;
}
