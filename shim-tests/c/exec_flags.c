/* A program started by exec (execv, posix_spawn, system) must see exactly the file status
 * flags its parent asked for: the shim makes pipes and sockets O_NONBLOCK for itself, and
 * must lift that before the new program runs.
 *
 *   exec_flags            the parent: makes a pipe, a socketpair, and a pipe it sets
 *                         O_NONBLOCK itself, starts itself as "report" three ways, and
 *                         checks that its own reads still block properly afterwards.
 *                         Then a posix_spawn whose dup2 actions hand the child
 *                         close-on-exec descriptors, and three forked children that
 *                         each make such descriptors of their own (which no fork has
 *                         released) and become "report" through execl, execlp, execle.
 *   exec_flags report A B C   prints the O_NONBLOCK bit of fds A, B, C (the child). */
#define _GNU_SOURCE
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 ? -1 : (flags & O_NONBLOCK) != 0;
}

static void *late_writer(void *arg) {
    int fd = *(int *)arg;
    usleep(100 * 1000);
    if (write(fd, "x", 1) != 1) DIE("late write");
    return NULL;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "report") == 0) {
        printf("%s child: pipe=%d socket=%d own_nonblocking_pipe=%d\n", getenv("HOW"),
               nonblocking(atoi(argv[2])), nonblocking(atoi(argv[3])), nonblocking(atoi(argv[4])));
        return 0;
    }
    int pipe_fds[2], sock_fds[2], own_fds[2];
    if (pipe(pipe_fds) || socketpair(AF_UNIX, SOCK_STREAM, 0, sock_fds) || pipe(own_fds))
        DIE("setup");
    if (fcntl(own_fds[0], F_SETFL, O_NONBLOCK) != 0) DIE("F_SETFL");
    char a[16], b[16], c[16];
    snprintf(a, sizeof a, "%d", pipe_fds[0]);
    snprintf(b, sizeof b, "%d", sock_fds[0]);
    snprintf(c, sizeof c, "%d", own_fds[0]);
    char *child_argv[] = {argv[0], "report", a, b, c, NULL};
    fflush(stdout);

    setenv("HOW", "execv", 1);
    pid_t pid = fork();
    if (pid == 0) {
        execv("/proc/self/exe", child_argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);

    setenv("HOW", "posix_spawn", 1);
    if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, child_argv, environ) != 0) DIE("spawn");
    waitpid(pid, &status, 0);

    /* Close-on-exec descriptions handed to the child by the spawn's own dup2 actions. */
    int cp[2], cs[2], co[2];
    if (pipe2(cp, O_CLOEXEC) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cs) || pipe2(co, O_CLOEXEC))
        DIE("cloexec setup");
    if (fcntl(co[0], F_SETFL, O_NONBLOCK) != 0) DIE("F_SETFL");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, cp[0], 40);
    posix_spawn_file_actions_adddup2(&actions, cs[0], 41);
    posix_spawn_file_actions_adddup2(&actions, co[0], 42);
    char *dup_argv[] = {argv[0], "report", "40", "41", "42", NULL};
    setenv("HOW", "posix_spawn_file_actions", 1);
    if (posix_spawn(&pid, "/proc/self/exe", &actions, NULL, dup_argv, environ) != 0) DIE("spawn dup2");
    waitpid(pid, &status, 0);
    posix_spawn_file_actions_destroy(&actions);

    const char *variadic[] = {"execl", "execlp", "execle"};
    for (int how = 0; how < 3; how++) {
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            int p[2], s[2], o[2];
            if (pipe(p) || socketpair(AF_UNIX, SOCK_STREAM, 0, s) || pipe(o)) DIE("child setup");
            if (fcntl(o[0], F_SETFL, O_NONBLOCK) != 0) DIE("child F_SETFL");
            char x[16], y[16], z[16];
            snprintf(x, sizeof x, "%d", p[0]);
            snprintf(y, sizeof y, "%d", s[0]);
            snprintf(z, sizeof z, "%d", o[0]);
            setenv("HOW", variadic[how], 1);
            if (how == 0) {
                execl("/proc/self/exe", argv[0], "report", x, y, z, (char *)NULL);
            } else if (how == 1) {
                execlp("/proc/self/exe", argv[0], "report", x, y, z, (char *)NULL);
            } else {
                char *env[] = {"HOW=execle", NULL};
                execle("/proc/self/exe", argv[0], "report", x, y, z, (char *)NULL, env);
            }
            _exit(127);
        }
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) DIE("%s child", variadic[how]);
    }

    setenv("HOW", "system", 1);
    char command[256];
    snprintf(command, sizeof command, "/proc/%d/exe report %s %s %s", (int)getpid(), a, b, c);
    fflush(stdout);
    if (system(command) != 0) DIE("system");

    /* Our own view is unchanged, and a blocking read still waits for the writer. */
    printf("parent: pipe=%d socket=%d own_nonblocking_pipe=%d\n", nonblocking(pipe_fds[0]),
           nonblocking(sock_fds[0]), nonblocking(own_fds[0]));
    pthread_t writer;
    pthread_create(&writer, NULL, late_writer, &pipe_fds[1]);
    char byte;
    printf("parent blocking read=%zd\n", read(pipe_fds[0], &byte, 1));
    pthread_join(writer, NULL);
    return 0;
}
