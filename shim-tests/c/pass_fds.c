/* Descriptors passed with SCM_RIGHTS arrive with the flags the program gave them: a forked
 * receiver looks at each pipe end the moment it arrives, in the kernel's own record
 * (/proc/self/fdinfo), before anything else can touch it. Greened, the sender's pipes are
 * descriptions the runtime made non-blocking; the O_NONBLOCK must be gone before the
 * kernel hands them over, since a description has one O_NONBLOCK for all its holders.
 *
 * Both processes run on one CPU, so that the receiver often runs the moment a message is
 * sent, before the sender's next instruction.
 *
 *   pass_fds N [sendmmsg]
 *                  N pipes made and passed one by one (with sendmmsg: two messages of one
 *                  descriptor each per call); prints how many arrived non-blocking as seen
 *                  by the receiver (0), and how many a read of, blocking as the program
 *                  left it, found empty at once with EAGAIN (0); then the error of a
 *                  message whose header claims more than its control buffer holds */
#define _GNU_SOURCE
#include "common.h"

#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>

static int receive_fd(int sock) {
    char data;
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = &data, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    if (recvmsg(sock, &msg, 0) != 1) return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_type != SCM_RIGHTS) DIE("no SCM_RIGHTS");
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

/* Sends one byte with fd in an SCM_RIGHTS header that claims `claimed` descriptors, in a
 * control buffer with room for one. */
static ssize_t send_fd_claiming(int sock, int fd, size_t claimed) {
    char data = 'x';
    char control[CMSG_SPACE(sizeof(int))];
    memset(control, 0, sizeof control);
    struct iovec iov = {.iov_base = &data, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(claimed * sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return sendmsg(sock, &msg, 0);
}

static void send_fd(int sock, int fd) {
    if (send_fd_claiming(sock, fd, 1) != 1) DIE("sendmsg");
}

/* Two messages of one byte and one descriptor each, in one sendmmsg call. */
static void send_two_fds(int sock, const int fds[2]) {
    char data[2] = {'x', 'y'};
    char control[2][CMSG_SPACE(sizeof(int))];
    struct iovec iov[2];
    struct mmsghdr msgs[2];
    memset(control, 0, sizeof control);
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < 2; i++) {
        iov[i] = (struct iovec){.iov_base = &data[i], .iov_len = 1};
        struct msghdr *msg = &msgs[i].msg_hdr;
        msg->msg_iov = &iov[i];
        msg->msg_iovlen = 1;
        msg->msg_control = control[i];
        msg->msg_controllen = sizeof control[i];
        struct cmsghdr *c = CMSG_FIRSTHDR(msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fds[i], sizeof fds[i]);
    }
    if (sendmmsg(sock, msgs, 2, 0) != 2) DIE("sendmmsg");
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 200;
    int batched = argc > 2 && strcmp(argv[2], "sendmmsg") == 0;
    if (batched && n % 2) DIE("pass_fds: sendmmsg passes pairs: N must be even");
    /* One CPU for both processes: the receiver often runs the moment a message is sent. */
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) DIE("sched_getaffinity");
    CPU_ZERO(&one);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &allowed)) {
            CPU_SET(cpu, &one);
            break;
        }
    if (sched_setaffinity(0, sizeof one, &one) != 0) DIE("sched_setaffinity");
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) DIE("socketpair");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        int nonblocking = 0, empty_at_once = 0;
        for (int i = 0; i < n; i++) {
            int fd = receive_fd(sv[1]);
            if (fd < 0) break;
            nonblocking += kernel_nonblocking(fd);
            char c;
            errno = 0;
            /* The sender writes nothing: a blocking read would wait, so it is not made;
             * a non-blocking one answers EAGAIN at once. */
            if (kernel_nonblocking(fd) && read(fd, &c, 1) < 0 && errno == EAGAIN) empty_at_once++;
            close(fd);
        }
        printf("received %d: arrived non-blocking=%d, EAGAIN at once=%d\n", n, nonblocking, empty_at_once);
        fflush(stdout);
        _exit(0);
    }
    /* A second thread, so that the sender's calls are green ones. */
    ticker_start(1000);
    for (int i = 0; i < n; i += batched ? 2 : 1) {
        int p[2], q[2];
        if (pipe(p) != 0) DIE("pipe");
        if (!batched) {
            send_fd(sv[0], p[0]);
        } else {
            if (pipe(q) != 0) DIE("pipe");
            send_two_fds(sv[0], (int[2]){p[0], q[0]});
            close(q[0]);
            close(q[1]);
        }
        close(p[0]);
        close(p[1]);
    }
    ticker_stop();
    close(sv[0]);
    int status;
    waitpid(pid, &status, 0);
    /* A header that claims more than its control buffer holds: the kernel refuses it. */
    {
        int p[2];
        if (pipe(p) != 0) DIE("pipe");
        errno = 0;
        ssize_t r = send_fd_claiming(sv[1], p[0], 1000);
        printf("header longer than its buffer: sendmsg=%zd %s\n", r, errno_name(errno));
        close(p[0]);
        close(p[1]);
    }

    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
