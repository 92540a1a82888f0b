/* What pthread_create takes from an attribute besides the stack size: the guard size that
 * pthread_getattr_np reports, an explicit scheduling policy (EINVAL for a priority that does
 * not fit it), an affinity (EINVAL for one with no usable CPU), the defaults
 * pthread_setattr_default_np set, and a stack from pthread_attr_setstack whose top is not
 * aligned. Every line is the same natively and greened.
 *
 *   thread_attrs [SCENARIO...]   (all scenarios when none is named)
 */
#define _GNU_SOURCE
#include "common.h"
#include <sched.h>

/* What the thread saw, printed by its creator after it ended (one order on every run). */
static char seen[256];

static void *report(void *arg) {
    (void)arg;
    pthread_attr_t a;
    size_t guard = 1;
    int detach = -1, inherit = -1, policy = -1;
    struct sched_param param = {0};
    pthread_getattr_np(pthread_self(), &a);
    pthread_attr_getguardsize(&a, &guard);
    pthread_attr_getdetachstate(&a, &detach);
    pthread_attr_getinheritsched(&a, &inherit);
    pthread_attr_getschedpolicy(&a, &policy);
    pthread_attr_getschedparam(&a, &param);
    pthread_attr_destroy(&a);
    snprintf(seen, sizeof seen, "  guard=%zu detached=%d explicit=%d policy=%d priority=%d\n", guard,
           detach == PTHREAD_CREATE_DETACHED, inherit == PTHREAD_EXPLICIT_SCHED, policy, param.sched_priority);
    return NULL;
}

static void run(const char *what, pthread_attr_t *attr, int join) {
    pthread_t t;
    seen[0] = 0;
    int r = pthread_create(&t, attr, report, NULL);
    if (r == 0 && join)
        pthread_join(t, NULL);
    else if (r == 0)
        usleep(100 * 1000);
    printf("%s: pthread_create=%d\n%s", what, r, seen);
}

static void s_guard(void) {
    long page = sysconf(_SC_PAGESIZE);
    size_t sizes[] = {0, (size_t)page, (size_t)(16 * page)};
    for (int i = 0; i < 3; i++) {
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setguardsize(&a, sizes[i]);
        char what[64];
        snprintf(what, sizeof what, "guard %zu pages", sizes[i] / page);
        run(what, &a, 1);
        pthread_attr_destroy(&a);
    }
}

static void s_sched(void) {
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&a, SCHED_OTHER);
    struct sched_param p = {.sched_priority = 0};
    pthread_attr_setschedparam(&a, &p);
    run("explicit SCHED_OTHER 0", &a, 1);
    /* Valid for SCHED_FIFO, not for SCHED_OTHER: set while FIFO, then switch policy. */
    pthread_attr_setschedpolicy(&a, SCHED_FIFO);
    p.sched_priority = sched_get_priority_max(SCHED_FIFO);
    pthread_attr_setschedparam(&a, &p);
    pthread_attr_setschedpolicy(&a, SCHED_OTHER);
    run("explicit SCHED_OTHER with a FIFO priority", &a, 1);
    pthread_attr_destroy(&a);
}

static void s_affinity(void) {
    int cpus = (int)sysconf(_SC_NPROCESSORS_CONF) + 1;
    cpu_set_t *set = CPU_ALLOC(cpus);
    size_t size = CPU_ALLOC_SIZE(cpus);
    CPU_ZERO_S(size, set);
    CPU_SET_S(cpus, size, set);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setaffinity_np(&a, size, set);
    run("affinity on no usable CPU", &a, 1);
    CPU_ZERO_S(size, set);
    CPU_SET_S(0, size, set);
    pthread_attr_setaffinity_np(&a, size, set);
    run("affinity on CPU 0", &a, 1);
    pthread_attr_destroy(&a);
    CPU_FREE(set);
}

static void s_defaults(void) {
    pthread_attr_t a, saved;
    pthread_getattr_default_np(&saved);
    pthread_attr_init(&a);
    pthread_attr_setguardsize(&a, 2 * sysconf(_SC_PAGESIZE));
    pthread_setattr_default_np(&a);
    run("default guard 2 pages", NULL, 1);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_setattr_default_np(&a);
    run("default detached", NULL, 0);
    pthread_setattr_default_np(&saved);
    pthread_attr_destroy(&a);
    pthread_attr_destroy(&saved);
}

static void *on_own_stack(void *arg) {
    (void)arg;
    volatile double x = 1.5; /* SSE spills want an aligned stack */
    char buf[64];
    snprintf(buf, sizeof buf, "%.1f", x * 2);
    snprintf(seen, sizeof seen, "  ran on its own stack: %s\n", buf);
    return NULL;
}

static void s_misaligned_stack(void) {
    size_t size = 256 * 1024;
    char *mem = malloc(size + 64);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstack(&a, mem + 3, size);
    pthread_t t;
    seen[0] = 0;
    int r = pthread_create(&t, &a, on_own_stack, NULL);
    if (r == 0)
        pthread_join(t, NULL);
    printf("misaligned stack: pthread_create=%d\n%s", r, seen);
    pthread_attr_destroy(&a);
    free(mem);
}

static const struct {
    const char *name;
    void (*fn)(void);
} scenarios[] = {
    {"guard", s_guard},
    {"sched", s_sched},
    {"affinity", s_affinity},
    {"defaults", s_defaults},
    {"misaligned_stack", s_misaligned_stack},
};

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc; a++)
            wanted |= strcmp(argv[a], scenarios[i].name) == 0;
        if (wanted)
            scenarios[i].fn();
    }
    printf("done\n");
    return 0;
}
