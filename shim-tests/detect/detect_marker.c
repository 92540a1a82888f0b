/* Stands in for a program whose runtime libgreen cannot green, carrying only the marker the
 * start-up detection reads (src/runtime/detect.rs), so the suite needs no JDK or Go:
 *   -DGO_NOTE     the Go linker's build-ID note (owner "Go", type 4) in a PT_NOTE segment,
 *                 as every Go binary built with cgo has;
 *   -DJVM_SYMBOL  an exported JNI_CreateJavaVM (built with -rdynamic), as libjvm exports;
 *   neither       a plain program, which is greened.
 * Two threads report whether they ran on kernel threads of their own (natively yes;
 * greened no; detected, natively again). Built by shim-tests/test_detect.py. */
#define _GNU_SOURCE
#include "../c/common.h"
#include <stdint.h>
#include <sys/syscall.h>

#ifdef GO_NOTE
struct go_note {
    uint32_t name_size, desc_size, type;
    char name[4];
    char desc[12];
};
__attribute__((section(".note.go.buildid"), aligned(4), used))
static const struct go_note go_build_id = {3, 12, 4, "Go", "stand-in/id"};
#endif

#ifdef JVM_SYMBOL
int JNI_CreateJavaVM(void **vm, void **env, void *args) {
    (void)vm, (void)env, (void)args;
    return -1;
}
#endif

static pid_t main_tid;

static void *report(void *arg) {
    int *own = arg;
    *own = (pid_t)syscall(SYS_gettid) != main_tid;
    return NULL;
}

int main(void) {
    main_tid = (pid_t)syscall(SYS_gettid);
    int own[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, report, &own[i]) != 0)
            DIE("pthread_create");
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("kernel_threads=%s\n", own[0] && own[1] ? "yes" : "no");
    return 0;
}
