/* A module whose PT_GNU_STACK asks for an executable stack (linked with -z execstack):
   shim-tests/test_execstack.py builds it and shim-tests/c/execstack.c dlopens it. tryme
   calls a GCC nested function through a pointer that escapes, so GCC builds a trampoline
   on the caller's stack and the call executes code there (as glibc's tst-execstack-mod). */

int callme(int (*callback)(int), int x);

int tryme(int x)
{
    int seen = -1;
    int callback(int y) { seen = y; return y + 1; }
    int r = callme(callback, x);
    return seen == x && r == x + 1 ? x : -1;
}

/* Exported, hence interposable in a shared object: not inlined into tryme, so the
   trampoline's address really escapes. */
int callme(int (*callback)(int), int x)
{
    return callback(x);
}
