/* fork from a thread whose thread-local variables are its own: the child keeps the forking
 * thread's values, can start threads of its own (each with fresh thread-locals), and the
 * kernel agrees it is a new process; the parent's threads keep their values. */
#define _GNU_SOURCE
#include "common.h"

#include <sys/syscall.h>
#include <sys/wait.h>

static __thread int mine = 5;

static void *child_thread(void *arg) {
    (void)arg;
    int initial = mine;
    mine = 9;
    return (void *)(intptr_t)(initial * 100 + mine);
}

static void *forker(void *arg) {
    (void)arg;
    mine = 77;
    pid_t pid = fork();
    if (pid < 0) DIE("fork");
    if (pid == 0) {
        pthread_t t;
        void *ret;
        pthread_create(&t, NULL, child_thread, NULL);
        pthread_join(t, &ret);
        printf("child: mine=%d, its new thread saw %ld, gettid is its pid: %d\n", mine, (long)(intptr_t)ret,
               (int)syscall(SYS_gettid) == getpid());
        fflush(stdout);
        _exit(4);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) DIE("waitpid");
    printf("parent thread: mine=%d, child exit %d\n", mine, WEXITSTATUS(status));
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_t t;
    pthread_create(&t, NULL, forker, NULL);
    pthread_join(t, NULL);
    printf("main: mine=%d\n", mine);
    return 0;
}
