// C++ destructors run when a thread ends with pthread_exit or is cancelled (glibc's forced
// unwind), and a catch (...) that rethrows sees the unwind pass. One line per scenario,
// printed by the main thread after joining.
#include <pthread.h>
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>

static std::string trace;

struct Guard {
    const char *name;
    explicit Guard(const char *n) : name(n) {}
    ~Guard() { trace += name; trace += ";"; }
};

static void deep_exit() {
    Guard g("inner");
    pthread_exit(reinterpret_cast<void *>(7));
}

static void *exiter(void *) {
    Guard g("outer");
    try {
        deep_exit();
    } catch (...) {
        trace += "caught-and-rethrown;";
        throw;
    }
    return nullptr;
}

static int fds[2];

static void *reader(void *) {
    Guard g("reader");
    pthread_cleanup_push([](void *) { trace += "cleanup-class;"; }, nullptr);
    char c;
    if (read(fds[0], &c, 1) < 0) trace += "read-failed;";
    pthread_cleanup_pop(0);
    return nullptr;
}

static void run(const char *name, void *(*fn)(void *), bool cancel) {
    trace.clear();
    pthread_t t;
    pthread_create(&t, nullptr, fn, nullptr);
    if (cancel) {
        usleep(20000);
        pthread_cancel(t);
    }
    void *ret;
    pthread_join(t, &ret);
    std::printf("%s: result=%s trace=%s\n", name,
                ret == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : std::to_string(reinterpret_cast<long>(ret)).c_str(),
                trace.c_str());
}

int main() {
    setvbuf(stdout, nullptr, _IOLBF, 0);
    if (pipe(fds) != 0) return 99;
    run("exit", exiter, false);
    run("cancel-read", reader, true);
    return 0;
}
