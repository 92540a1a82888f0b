/* glibc's functions that take a pthread_t, beyond create/join/detach: the joins with a
 * timeout or none, scheduling parameters, CPU affinity, the CPU clock, the default
 * attributes. Greened, a pthread_t is a green thread's handle, which glibc must never read
 * as its own descriptor.
 *
 *   pthread_np tryjoin | timedjoin | clockjoin | sched | sched-unprivileged | affinity |
 *              cpuclock | defattr
 *
 * Every line printed is a fact that holds natively and greened alike (results, errno
 * names, "waited>=100ms yes"), so the test compares the outputs verbatim. */
#define _GNU_SOURCE
#include "common.h"

#include <linux/capability.h>
#include <sched.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;

/* Waits until the main thread opens the gate, then returns 42. */
static void *gated(void *arg) {
    (void)arg;
    pthread_mutex_lock(&gate);
    pthread_mutex_unlock(&gate);
    return (void *)42L;
}

static void *nap_then_42(void *arg) {
    usleep((useconds_t)(intptr_t)arg);
    return (void *)42L;
}

static const char *en(int rc) { return errno_name(rc); }

static struct timespec abs_in(clockid_t clock, long ns) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    long long total = (long long)ts.tv_nsec + ns;
    ts.tv_sec += (time_t)(total / 1000000000LL);
    ts.tv_nsec = (long)(total % 1000000000LL);
    if (ts.tv_nsec < 0) {
        ts.tv_nsec += 1000000000L;
        ts.tv_sec -= 1;
    }
    return ts;
}

static const char *between(double start, double lo, double hi) {
    double took = mono_now() - start;
    return took >= lo && took < hi ? "yes" : "no";
}

static void do_tryjoin(void) {
    pthread_t t;
    void *value = NULL;
    pthread_mutex_lock(&gate);
    pthread_create(&t, NULL, gated, NULL);
    usleep(20000);
    printf("tryjoin running=%s self=%s\n", en(pthread_tryjoin_np(t, &value)),
           en(pthread_tryjoin_np(pthread_self(), NULL)));
    pthread_mutex_unlock(&gate);
    int rc, tries = 0;
    while ((rc = pthread_tryjoin_np(t, &value)) == EBUSY && tries++ < 5000) usleep(1000);
    printf("tryjoin ended=%s value=%ld\n", en(rc), (long)(intptr_t)value);
    /* A thread that has ended but is not joined yet. */
    pthread_create(&t, NULL, nap_then_42, (void *)(intptr_t)1000);
    usleep(50000);
    value = NULL;
    printf("tryjoin done_before=%s value=%ld\n", en(pthread_tryjoin_np(t, &value)),
           (long)(intptr_t)value);
}

static pthread_t joinee;
static int joiner_rc;

static void *join_joinee(void *arg) {
    (void)arg;
    joiner_rc = pthread_join(joinee, NULL);
    return NULL;
}

/* One timed join family: timedjoin (clock -1) or clockjoin on `clock`. */
static int timed(pthread_t t, void **value, clockid_t clock, const struct timespec *abstime) {
    if (clock == (clockid_t)-1) return pthread_timedjoin_np(t, value, abstime);
    return pthread_clockjoin_np(t, value, clock, abstime);
}

static void timed_family(const char *name, clockid_t clock) {
    clockid_t now_clock = clock == (clockid_t)-1 ? CLOCK_REALTIME : clock;
    pthread_t t;
    void *value = NULL;
    pthread_mutex_lock(&gate);
    pthread_create(&t, NULL, gated, NULL);
    double start = mono_now();
    struct timespec ts = abs_in(now_clock, 100000000L);
    int rc = timed(t, &value, clock, &ts);
    printf("%s running=%s waited_100ms=%s\n", name, en(rc), between(start, 0.095, 2.0));
    ts.tv_sec = -1;
    ts.tv_nsec = 0;
    start = mono_now();
    printf("%s negative=%s at_once=%s\n", name, en(timed(t, &value, clock, &ts)),
           between(start, 0, 0.05));
    ts = abs_in(now_clock, -1000000L);
    printf("%s past=%s\n", name, en(timed(t, &value, clock, &ts)));
    printf("%s self=%s\n", name, en(timed(pthread_self(), NULL, clock, NULL)));
    /* Somebody else joins it already: EINVAL. */
    joinee = t;
    pthread_t other;
    pthread_create(&other, NULL, join_joinee, NULL);
    usleep(30000);
    ts = abs_in(now_clock, 20000000L);
    printf("%s second_joiner=%s\n", name, en(timed(t, &value, clock, &ts)));
    pthread_mutex_unlock(&gate);
    pthread_join(other, NULL);
    printf("%s first_joiner=%s\n", name, en(joiner_rc));
    /* Ends within the timeout. */
    pthread_create(&t, NULL, nap_then_42, (void *)(intptr_t)50000);
    ts = abs_in(now_clock, 2000000000L);
    value = NULL;
    rc = timed(t, &value, clock, &ts);
    printf("%s in_time=%s value=%ld\n", name, en(rc), (long)(intptr_t)value);
    /* No timeout: waits for ever. */
    pthread_create(&t, NULL, nap_then_42, (void *)(intptr_t)50000);
    value = NULL;
    start = mono_now();
    rc = timed(t, &value, clock, NULL);
    printf("%s null=%s value=%ld waited=%s\n", name, en(rc), (long)(intptr_t)value,
           between(start, 0.045, 5.0));
    /* A tv_nsec out of range: glibc waits until the thread ends. */
    pthread_create(&t, NULL, nap_then_42, (void *)(intptr_t)50000);
    ts = abs_in(now_clock, 0);
    ts.tv_nsec = 2000000000L;
    value = NULL;
    rc = timed(t, &value, clock, &ts);
    printf("%s bad_nsec=%s value=%ld\n", name, en(rc), (long)(intptr_t)value);
}

static void do_timedjoin(void) { timed_family("timedjoin", (clockid_t)-1); }

static void do_clockjoin(void) {
    timed_family("clockjoin_realtime", CLOCK_REALTIME);
    timed_family("clockjoin_monotonic", CLOCK_MONOTONIC);
    pthread_t t;
    pthread_create(&t, NULL, nap_then_42, (void *)(intptr_t)1000);
    struct timespec ts = abs_in(CLOCK_MONOTONIC, 100000000L);
    printf("clockjoin cputime_clock=%s\n", en(pthread_clockjoin_np(t, NULL, CLOCK_PROCESS_CPUTIME_ID, &ts)));
    printf("clockjoin boottime_clock=%s\n", en(pthread_clockjoin_np(t, NULL, CLOCK_BOOTTIME, &ts)));
    printf("clockjoin then=%s\n", en(pthread_join(t, NULL)));
}

static void show_sched(const char *what, pthread_t t) {
    int policy = -1;
    struct sched_param p = {.sched_priority = -1};
    int rc = pthread_getschedparam(t, &policy, &p);
    printf("%s get=%s policy=%d priority=%d\n", what, en(rc), policy, p.sched_priority);
}

static int set(pthread_t t, int policy, int priority) {
    struct sched_param p = {.sched_priority = priority};
    return pthread_setschedparam(t, policy, &p);
}

/* Errors that need no privilege to see (a null param too: hidden from the nonnull check). */
static const struct sched_param *volatile null_param;

static void sched_errors(pthread_t t) {
    printf("sched fifo_0=%s other_5=%s fifo_100=%s fifo_neg=%s policy_42=%s deadline=%s null=%s\n",
           en(set(t, SCHED_FIFO, 0)), en(set(t, SCHED_OTHER, 5)), en(set(t, SCHED_FIFO, 100)),
           en(set(t, SCHED_FIFO, -1)), en(set(t, 42, 0)), en(set(t, 6, 0)),
           en(pthread_setschedparam(t, SCHED_OTHER, null_param)));
}

static void *sched_worker(void *arg) {
    int privileged = *(int *)arg;
    pthread_t me = pthread_self();
    show_sched("sched initial", me);
    sched_errors(me);
    printf("sched batch=%s\n", en(set(me, SCHED_BATCH, 0)));
    show_sched("sched after_batch", me);
    printf("sched prio_on_batch_5=%s\n", en(pthread_setschedprio(me, 5)));
    printf("sched other=%s\n", en(set(me, SCHED_OTHER, 0)));
    if (privileged) {
        printf("sched fifo_5=%s\n", en(set(me, SCHED_FIFO, 5)));
        show_sched("sched after_fifo", me);
        printf("sched prio_10=%s\n", en(pthread_setschedprio(me, 10)));
        printf("sched prio_0=%s\n", en(pthread_setschedprio(me, 0)));
        printf("sched prio_100=%s\n", en(pthread_setschedprio(me, 100)));
        show_sched("sched after_prio", me);
        printf("sched rr_3=%s\n", en(set(me, SCHED_RR, 3)));
        show_sched("sched after_rr", me);
        printf("sched back_to_other=%s\n", en(set(me, SCHED_OTHER, 0)));
    }
    show_sched("sched final", me);
    return NULL;
}

static void *idle_forever(void *arg) {
    (void)arg;
    pthread_mutex_lock(&gate);
    pthread_mutex_unlock(&gate);
    return NULL;
}

static void do_sched(void) {
    int privileged = 1;
    pthread_t t;
    pthread_create(&t, NULL, sched_worker, &privileged);
    pthread_join(t, NULL);
    /* One thread's values are its own: set another thread's, read both. */
    pthread_mutex_lock(&gate);
    pthread_create(&t, NULL, idle_forever, NULL);
    printf("sched other_thread_fifo_7=%s\n", en(set(t, SCHED_FIFO, 7)));
    show_sched("sched other_thread", t);
    show_sched("sched main_thread", pthread_self());
    pthread_mutex_unlock(&gate);
    pthread_join(t, NULL);
}

/* Without CAP_SYS_NICE: the kernel's permission rules. Run in a child that drops the
 * capability, so the parent keeps it. */
static void drop_sys_nice(void) {
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data) != 0) DIE("capget");
    data[0].effective &= ~(1u << CAP_SYS_NICE);
    if (syscall(SYS_capset, &header, data) != 0) DIE("capset");
}

static void *unprivileged_worker(void *arg) {
    (void)arg;
    pthread_t me = pthread_self();
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_RTPRIO, &rl);
    printf("unpriv rtprio0_fifo_1=%s\n", en(set(me, SCHED_FIFO, 1)));
    show_sched("unpriv after", me);
    printf("unpriv other=%s\n", en(set(me, SCHED_OTHER, 0)));
    rl.rlim_cur = rl.rlim_max = 0;
    setrlimit(RLIMIT_NICE, &rl);
    printf("unpriv batch=%s\n", en(set(me, SCHED_BATCH, 0)));
    printf("unpriv idle=%s\n", en(set(me, SCHED_IDLE, 0)));
    printf("unpriv leave_idle=%s\n", en(set(me, SCHED_OTHER, 0)));
    printf("unpriv reset_on_fork=%s\n", en(set(me, SCHED_IDLE | SCHED_RESET_ON_FORK, 0)));
    printf("unpriv clear_it=%s\n", en(set(me, SCHED_IDLE, 0)));
    printf("unpriv keep_it=%s\n", en(set(me, SCHED_IDLE | SCHED_RESET_ON_FORK, 0)));
    show_sched("unpriv final", me);
    return NULL;
}

static void do_sched_unprivileged(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        drop_sys_nice();
        pthread_t t;
        pthread_create(&t, NULL, unprivileged_worker, NULL);
        pthread_join(t, NULL);
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("unpriv child_status=%d\n", status);
}

static int count(const cpu_set_t *set) { return CPU_COUNT(set); }

static void *report_affinity(void *arg);

static void *affinity_worker(void *arg) {
    (void)arg;
    pthread_t me = pthread_self();
    cpu_set_t process, set;
    sched_getaffinity(0, sizeof process, &process);
    CPU_ZERO(&set);
    int rc = pthread_getaffinity_np(me, sizeof set, &set);
    printf("affinity initial=%s same_as_process=%s\n", en(rc), CPU_EQUAL(&set, &process) ? "yes" : "no");
    CPU_ZERO(&set);
    printf("affinity empty=%s\n", en(pthread_setaffinity_np(me, sizeof set, &set)));
    CPU_SET(CPU_SETSIZE - 1, &set);
    printf("affinity offline_only=%s\n", en(pthread_setaffinity_np(me, sizeof set, &set)));
    printf("affinity bad_pointer=%s\n", en(pthread_setaffinity_np(me, sizeof set, (cpu_set_t *)8)));
    int first = -1;
    for (int i = 0; i < CPU_SETSIZE && first < 0; i++)
        if (CPU_ISSET(i, &process)) first = i;
    CPU_SET(first, &set);
    printf("affinity one_cpu=%s\n", en(pthread_setaffinity_np(me, sizeof set, &set)));
    memset(&set, 0xff, sizeof set);
    rc = pthread_getaffinity_np(me, sizeof set, &set);
    printf("affinity now=%s count=%d first_set=%s\n", en(rc), count(&set), CPU_ISSET(first, &set) ? "yes" : "no");
    printf("affinity get_size_3=%s get_size_0=%s\n", en(pthread_getaffinity_np(me, 3, &set)),
           en(pthread_getaffinity_np(me, 0, &set)));
    printf("affinity get_bad_pointer=%s\n", en(pthread_getaffinity_np(me, sizeof set, (cpu_set_t *)8)));
    CPU_ZERO(&set);
    CPU_SET(first, &set);
    printf("affinity small_size=%s\n", en(pthread_setaffinity_np(me, 8, &set)));
    pthread_t child;
    pthread_create(&child, NULL, report_affinity, NULL);
    pthread_join(child, NULL);
    printf("affinity restore=%s\n", en(pthread_setaffinity_np(me, sizeof process, &process)));
    return NULL;
}

static void *report_affinity(void *arg) {
    (void)arg;
    cpu_set_t set;
    pthread_getaffinity_np(pthread_self(), sizeof set, &set);
    printf("affinity child_count=%d\n", count(&set));
    return NULL;
}

static void do_affinity(void) {
    pthread_t t;
    pthread_create(&t, NULL, affinity_worker, NULL);
    pthread_join(t, NULL);
    /* A thread that set its own affinity changed nobody else's. */
    cpu_set_t process, main_set;
    sched_getaffinity(0, sizeof process, &process);
    pthread_getaffinity_np(pthread_self(), sizeof main_set, &main_set);
    printf("affinity main_same_as_process=%s\n", CPU_EQUAL(&main_set, &process) ? "yes" : "no");
}

static void *spin_a_little(void *arg) {
    (void)arg;
    pthread_mutex_lock(&gate);
    pthread_mutex_unlock(&gate);
    return NULL;
}

static void do_cpuclock(void) {
    pthread_t t;
    pthread_mutex_lock(&gate);
    pthread_create(&t, NULL, spin_a_little, NULL);
    clockid_t clock;
    struct timespec ts;
    int rc = pthread_getcpuclockid(t, &clock);
    printf("cpuclock other=%s gettime=%d\n", en(rc), clock_gettime(clock, &ts));
    rc = pthread_getcpuclockid(pthread_self(), &clock);
    printf("cpuclock self=%s gettime=%d\n", en(rc), clock_gettime(clock, &ts));
    pthread_mutex_unlock(&gate);
    pthread_join(t, NULL);
}

static void *report_stack(void *arg) {
    (void)arg;
    pthread_attr_t attr;
    size_t size = 0;
    pthread_getattr_np(pthread_self(), &attr);
    pthread_attr_getstacksize(&attr, &size);
    pthread_attr_destroy(&attr);
    printf("defattr stack_kib_at_most_512=%s at_least_256=%s\n", size <= 512 * 1024 ? "yes" : "no",
           size >= 256 * 1024 ? "yes" : "no");
    return NULL;
}

static void do_defattr(void) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512 * 1024);
    printf("defattr set=%s\n", en(pthread_setattr_default_np(&attr)));
    pthread_attr_destroy(&attr);
    pthread_t t;
    pthread_create(&t, NULL, report_stack, NULL);
    pthread_join(t, NULL);
    pthread_attr_init(&attr);
    pthread_create(&t, &attr, report_stack, NULL);
    pthread_join(t, NULL);
    pthread_attr_destroy(&attr);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 100);
    printf("defattr tiny=%s\n", en(pthread_setattr_default_np(&attr)));
    pthread_attr_destroy(&attr);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "tryjoin")) do_tryjoin();
    else if (!strcmp(what, "timedjoin")) do_timedjoin();
    else if (!strcmp(what, "clockjoin")) do_clockjoin();
    else if (!strcmp(what, "sched")) do_sched();
    else if (!strcmp(what, "sched-unprivileged")) do_sched_unprivileged();
    else if (!strcmp(what, "affinity")) do_affinity();
    else if (!strcmp(what, "cpuclock")) do_cpuclock();
    else if (!strcmp(what, "defattr")) do_defattr();
    else {
        fprintf(stderr, "usage: pthread_np tryjoin|timedjoin|clockjoin|sched|sched-unprivileged|affinity|cpuclock|defattr\n");
        return 2;
    }
    printf("done\n");
    return 0;
}
