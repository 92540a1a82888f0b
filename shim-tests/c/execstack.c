/* Code run on thread stacks after dlopen of a module that asks for an executable stack
 * (shim-tests/modules/execstack_mod.c, built by shim-tests/test_execstack.py, whose path is
 * argv[1]). glibc then makes every thread stack executable, those of threads made before the
 * dlopen included; greened, the same must hold for green stacks. Natively and greened the
 * output must be the same.
 *
 *   execstack MODULE stacks    threads made before the dlopen (waiting, one with a stack
 *                              size of its own, stacks of ended threads that get reused)
 *                              and after it run the module's trampoline on their stacks
 *   execstack MODULE heap      after the switch, a thread calls code on a non-executable
 *                              heap page: SIGSEGV
 *   execstack MODULE null      after the switch, a thread calls a null function pointer:
 *                              SIGSEGV
 *   execstack MODULE early     no dlopen: a thread calls code copied onto its own stack,
 *                              which is not executable: SIGSEGV
 *
 * With a third argument "handler" a SIGSEGV handler is installed that says it ran and exits
 * with status 3: it never runs in "stacks", and runs for the faults of the others.
 */
#define _GNU_SOURCE
#include "common.h"
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>

#define WAITERS 4
#define ENDED 3

typedef int (*tryme_fn)(int);

static tryme_fn tryme;
static pthread_barrier_t started, go;

/* The bytes of a function that returns at once. */
#if defined(__x86_64__)
static const unsigned char RET[] = {0xc3};
#elif defined(__aarch64__)
static const unsigned char RET[] = {0xc0, 0x03, 0x5f, 0xd6};
#endif

static void *waiter(void *arg)
{
    pthread_barrier_wait(&started);
    pthread_barrier_wait(&go);
    return (void *)(intptr_t)tryme((int)(intptr_t)arg);
}

static void *runner(void *arg)
{
    return (void *)(intptr_t)tryme((int)(intptr_t)arg);
}

static void *ender(void *arg)
{
    return arg;
}

static void *jump_to(void *code)
{
    ((void (*)(void))code)();
    return NULL;
}

/* Copies RET onto this thread's stack and calls it there. */
static void *run_on_own_stack(void *arg)
{
    (void)arg;
    unsigned char code[64] __attribute__((aligned(16)));
    memcpy(code, RET, sizeof RET);
    __builtin___clear_cache((char *)code, (char *)code + sizeof RET);
    jump_to(code);
    return NULL;
}

static int join_value(pthread_t t)
{
    void *value;
    if (pthread_join(t, &value) != 0)
        DIE("pthread_join");
    return (int)(intptr_t)value;
}

static void load(const char *module)
{
    void *h = dlopen(module, RTLD_NOW);
    if (h == NULL) {
        printf("cannot load: %s\n", dlerror());
        exit(1);
    }
    tryme = (tryme_fn)dlsym(h, "tryme");
    if (tryme == NULL)
        DIE("dlsym tryme");
}

static void on_segv(int sig)
{
    (void)sig;
    static const char msg[] = "SIGSEGV handler ran\n";
    write(1, msg, sizeof msg - 1);
    _exit(3);
}

/* The waiters and the sized one keep their stacks; then ended threads leave theirs for
 * reuse after the switch. */
static void before(pthread_t *waiters, pthread_t *sized)
{
    pthread_barrier_init(&started, NULL, WAITERS + 2);
    pthread_barrier_init(&go, NULL, WAITERS + 2);
    for (int i = 0; i < WAITERS; i++)
        if (pthread_create(&waiters[i], NULL, waiter, (void *)(intptr_t)(10 + i)) != 0)
            DIE("pthread_create");
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 << 10);
    if (pthread_create(sized, &attr, waiter, (void *)(intptr_t)20) != 0)
        DIE("pthread_create");
    pthread_attr_destroy(&attr);
    pthread_barrier_wait(&started);
    puts("threads waiting");

    pthread_t ended[ENDED];
    for (int i = 0; i < ENDED; i++)
        if (pthread_create(&ended[i], NULL, ender, (void *)(intptr_t)i) != 0)
            DIE("pthread_create");
    for (int i = 0; i < ENDED; i++)
        join_value(ended[i]);
}

static void stacks(const char *module)
{
    pthread_t waiters[WAITERS], sized, after[ENDED + 2];
    before(waiters, &sized);
    load(module);
    printf("main: %d\n", tryme(1));
    /* The first runs alone; the next ones reuse the stacks of ended threads. */
    for (int i = 0; i < ENDED + 2; i++) {
        if (pthread_create(&after[i], NULL, runner, (void *)(intptr_t)(30 + i)) != 0)
            DIE("pthread_create");
        if (i == 0)
            printf("after 0: %d\n", join_value(after[0]));
    }
    for (int i = 1; i < ENDED + 2; i++)
        printf("after %d: %d\n", i, join_value(after[i]));
    pthread_barrier_wait(&go);
    for (int i = 0; i < WAITERS; i++)
        printf("before %d: %d\n", i, join_value(waiters[i]));
    printf("sized: %d\n", join_value(sized));
}

static void crash(const char *module, const char *what)
{
    void *code = NULL;
    if (strcmp(what, "heap") == 0) {
        code = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (code == MAP_FAILED)
            DIE("mmap");
        memcpy(code, RET, sizeof RET);
    }
    load(module);
    pthread_t t;
    if (pthread_create(&t, NULL, runner, (void *)(intptr_t)5) != 0)
        DIE("pthread_create");
    printf("switched: %d\n", join_value(t));
    fflush(stdout);
    if (pthread_create(&t, NULL, jump_to, code) != 0)
        DIE("pthread_create");
    join_value(t);
    puts("survived");
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "handler") != 0)) {
        fprintf(stderr, "usage: execstack MODULE stacks|heap|null|early [handler]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 4)
        signal(SIGSEGV, on_segv);
    const char *what = argv[2];
    if (strcmp(what, "stacks") == 0) {
        stacks(argv[1]);
    } else if (strcmp(what, "early") == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, run_on_own_stack, NULL) != 0)
            DIE("pthread_create");
        join_value(t);
        puts("survived");
    } else {
        crash(argv[1], what);
    }
    return 0;
}
