"""POSIX timers that notify by starting a thread (SIGEV_THREAD). Greened, each expiry's
function runs on a green thread, so it can wait for green threads at a barrier and be
cancelled as one, all on the one OS thread."""

from conftest import assert_ok, run_prog


def test_sigev_thread_timers(mode):
    """A timer's function meets main at a barrier, sleeps, is cancelled there and runs its
    cleanup handler (which meets main again); an interval timer fires until deleted and
    never after; its notification threads are detached with every signal blocked;
    timer_gettime tells the time left (zero when disarmed); a bogus id, or the parent's in a
    forked child, is EINVAL; creating a
    timer does not take the descriptor number the program gets next. Natively glibc runs the
    function on OS threads of its own; greened there is one OS thread."""
    r = assert_ok(run_prog("timer_thread", [], mode, timeout=60))
    more_os_threads = 1 if mode == "native" else 0
    assert r.stdout == (
        "timer: function met main at a barrier; the next descriptor is the same=1\n"
        f"timer: os threads while it sleeps, more than one={more_os_threads}\n"
        "timer: cancelled at its sleep, cleanup handlers run=1\n"
        "timer: gettime left in (0, 20] ms=1 interval=20 ms\n"
        "timer: interval fired 10 times or more=1, none 200 ms after delete=1\n"
        "timer: notification threads detached=1, with every signal blocked=1\n"
        "timer: disarmed gettime zero=1\n"
        "timer: in a forked child, settime of the parent's timer=-1 errno=EINVAL\n"
        "timer: settime of a bogus id=-1 errno=EINVAL\n"
    ), r.describe()
