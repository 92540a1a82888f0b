/* bench_stack_maps N SIZE_KIB: the kernel's part of a green thread's creation, alone, with
 * no thread at all: N times, map a stack of SIZE_KIB plus a guard page as libgreen maps one
 * (private, anonymous, MAP_NORESERVE|MAP_STACK, the guard by MADV_GUARD_INSTALL where the
 * kernel has it, else mprotect) and touch its top byte, as a thread's first frame does.
 * Prints bench_threads's keys (threads=, create_s=, the first and last tenths, RSS and page
 * tables per stack), so that bench_scale.py can set the kernel's own scaling beside a
 * greened creation's: if mapping N stacks grows faster than N here too, it is the kernel's
 * memory management (and the machine under it), not the runtime's bookkeeping. */
#include "common.h"

#include <sys/mman.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

static long status_kib(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) DIE("fopen /proc/self/status");
    char line[256];
    long value = -1;
    size_t len = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, len) == 0 && line[len] == ':') value = atol(line + len + 1);
    fclose(f);
    return value;
}

int main(int argc, char **argv) {
    if (argc != 3 || atol(argv[1]) < 10 || atol(argv[2]) < 16) {
        fprintf(stderr, "usage: bench_stack_maps N SIZE_KIB (N >= 10, SIZE_KIB >= 16)\n");
        return 2;
    }
    long n = atol(argv[1]), tenth = n / 10;
    size_t page = (size_t)sysconf(_SC_PAGESIZE), len = (size_t)atol(argv[2]) * 1024 + page;
    long rss_before = status_kib("VmRSS"), pte_before = status_kib("VmPTE");
    double start = mono_now(), first_tenth = 0, last_tenth_start = 0;
    for (long i = 0; i < n; i++) {
        if (i == n - tenth) last_tenth_start = mono_now();
        char *low = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (low == MAP_FAILED) DIE("mmap");
        if (madvise(low, page, MADV_GUARD_INSTALL) != 0 && mprotect(low, page, PROT_NONE) != 0) DIE("guard");
        low[len - 64] = 1;
        if (i == tenth - 1) first_tenth = mono_now() - start;
    }
    double end = mono_now();
    long rss_after = status_kib("VmRSS"), pte_after = status_kib("VmPTE");
    printf("threads=%ld create_s=%.3f create_first_tenth_s=%.4f create_last_tenth_s=%.4f "
           "rss_kib_per_thread=%.3f pte_kib_per_thread=%.3f join_s=0 create_errno=0\n",
           n, end - start, first_tenth, end - last_tenth_start, (double)(rss_after - rss_before) / (double)n,
           (double)(pte_after - pte_before) / (double)n);
    return 0;
}
