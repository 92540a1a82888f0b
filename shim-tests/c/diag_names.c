/* Thread names set with prctl(PR_SET_NAME), the other common way C programs name threads:
 *   diag_names          prints what each way of reading a name sees, natively and greened
 *   diag_names park     a thread named with prctl waits on stdin (for `green ps`)
 * A thread reads its inherited name, names itself with a name longer than 15 bytes (the
 * kernel cuts it), reads it back with prctl(PR_GET_NAME) and pthread_getname_np, and tries
 * PR_GET_NAME into a bad pointer (EFAULT). The main thread then prints the process's comm,
 * renames itself with prctl as daemons do, and prints it again. */
#define _GNU_SOURCE
#include "common.h"

#include <sys/prctl.h>

static int park;

static void read_comm(const char *label) {
    char comm[64] = "";
    FILE *f = fopen("/proc/self/comm", "r");
    if (!f || !fgets(comm, sizeof comm, f))
        DIE("/proc/self/comm");
    fclose(f);
    comm[strcspn(comm, "\n")] = 0;
    printf("%s: comm=%s\n", label, comm);
}

static void *named(void *arg) {
    (void)arg;
    char inherited[16] = "", via_prctl[16] = "", via_np[16] = "";
    if (prctl(PR_GET_NAME, inherited) != 0)
        DIE("PR_GET_NAME");
    if (prctl(PR_SET_NAME, park ? "pr-parked" : "pr-worker-long-name") != 0)
        DIE("PR_SET_NAME");
    if (park) {
        printf("ready\n");
        fflush(stdout);
        char buf[64];
        while (read(0, buf, sizeof buf) > 0) {
        }
        return NULL;
    }
    if (prctl(PR_GET_NAME, via_prctl) != 0)
        DIE("PR_GET_NAME");
    int np = pthread_getname_np(pthread_self(), via_np, sizeof via_np);
    errno = 0;
    int bad = prctl(PR_GET_NAME, (char *)8);
    printf("thread: inherited=%s prctl=%s np=%s (%d) bad_pointer=%d errno=%d\n", inherited, via_prctl,
           via_np, np, bad, errno);
    return NULL;
}

int main(int argc, char **argv) {
    park = argc > 1 && strcmp(argv[1], "park") == 0;
    pthread_t t;
    if (pthread_create(&t, NULL, named, NULL) != 0)
        DIE("pthread_create");
    pthread_join(t, NULL);
    read_comm("after the thread");
    if (prctl(PR_SET_NAME, "renamed-main") != 0)
        DIE("PR_SET_NAME main");
    char name[16] = "";
    prctl(PR_GET_NAME, name);
    read_comm("after main renamed itself");
    printf("main: prctl=%s\n", name);
    return 0;
}
