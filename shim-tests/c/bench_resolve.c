/* bench_resolve N [NAME [ROUNDS]]: getaddrinfo(NAME, default "localhost") once in a
 * thread, then in N threads at once (ROUNDS times each, default 20; the best round counts).
 * Prints
 *   resolve_one_us=   one lookup, alone
 *   resolve_many_us=  N lookups started together, until the last finishes
 * Exits 1 if a lookup fails. */
#include "common.h"

#include <netdb.h>
#include <sys/socket.h>

static int failed;
static const char *name = "localhost";

static void *lookup(void *arg) {
    (void)arg;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(name, "80", &hints, &res) != 0) failed = 1;
    if (res) freeaddrinfo(res);
    return NULL;
}

static double round_of(int n) {
    pthread_t t[1024];
    double start = mono_now();
    for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, lookup, NULL);
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    return mono_now() - start;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 50;
    if (argc > 2) name = argv[2];
    int rounds = argc > 3 ? atoi(argv[3]) : 20;
    if (n < 1 || n > 1024 || rounds < 1) {
        fprintf(stderr, "usage: bench_resolve N [NAME [ROUNDS]] (N 1..1024)\n");
        return 2;
    }
    double one = 1e9, many = 1e9;
    round_of(1); /* warm up: NSS modules, workers */
    for (int r = 0; r < rounds; r++) {
        double a = round_of(1), b = round_of(n);
        if (a < one) one = a;
        if (b < many) many = b;
    }
    printf("resolve_one_us=%.1f\nresolve_many_us=%.1f\n", one * 1e6, many * 1e6);
    return failed;
}
