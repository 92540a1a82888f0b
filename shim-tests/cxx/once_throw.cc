// A C++ exception thrown out of a pthread_once routine passes on to the caller and leaves the
// control "not run": the next call runs the routine again (glibc's pthread_once, and so
// std::call_once). It throws on the main thread, then on another thread, then succeeds.
#include <pthread.h>
#include <cstdio>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int attempts;

struct Failed {};

static void routine() {
    attempts++;
    if (attempts < 3) throw Failed();
}

static const char *try_once() {
    try {
        pthread_once(&once, routine);
        return "returned";
    } catch (Failed &) {
        return "threw";
    }
}

static void report(const char *who) {
    const char *how = try_once();
    std::printf("%s: %s attempts=%d\n", who, how, attempts);
}

static void *in_thread(void *) {
    report("thread");
    return nullptr;
}

int main() {
    report("main");
    std::fflush(stdout);
    pthread_t t;
    if (pthread_create(&t, nullptr, in_thread, nullptr) != 0) return 99;
    pthread_join(t, nullptr);
    report("main");
    report("main");
    return 0;
}
