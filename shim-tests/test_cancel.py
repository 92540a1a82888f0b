"""pthread_exit with cleanup handlers and pthread_cancel at cancellation points, natively and
greened with the same output (README, "Per green thread, and shared"; runtime/cancel.rs)."""

from conftest import assert_ok, run_prog

EXPECTED_C = (
    # Handlers newest first (3, 2, 1), one popped with execute=1 before (p), then the key
    # destructor (K); join returns pthread_exit's value.
    "exit-nested: cancel=0 result=42 trace=p231K\n"
    "cancel-read: cancel=0 result=PTHREAD_CANCELED trace=reading;read-handler\n"
    "cancel-sleep: cancel=0 result=PTHREAD_CANCELED trace=sleeping;sleep-handler\n"
    # The handler runs with the mutex taken back (an errorcheck unlock succeeds).
    "cancel-cond: cancel=0 result=PTHREAD_CANCELED trace=waiting;unlocked-held-mutex\n"
    "cancel-sem: cancel=0 result=PTHREAD_CANCELED trace=waiting;sem-handler\n"
    "cancel-join: cancel=0 result=PTHREAD_CANCELED trace=joining;join-handler\n"
    "cancel-join-target: result=PTHREAD_CANCELED\n"
    "disable-enable: cancel=0 result=PTHREAD_CANCELED trace=was-enabled;slept;re-enabled;handler\n"
    "async: cancel=0 result=PTHREAD_CANCELED trace=was-deferred;async-handler\n"
    "self: cancel=0 result=PTHREAD_CANCELED trace=requested;self-handler\n"
    "detached: cancel=0 handler-ran=1\n"
    "cancel-before-start: result=PTHREAD_CANCELED\n"
)

EXPECTED_CXX = (
    "exit: result=7 trace=inner;caught-and-rethrown;outer;\n"
    "cancel-read: result=PTHREAD_CANCELED trace=cleanup-class;reader;\n"
)


def test_exit_and_cancel(mode):
    """pthread_exit runs nested pthread_cleanup_push handlers newest first, then key
    destructors; a thread cancelled while parked in read, nanosleep, pthread_cond_wait,
    sem_wait or pthread_join runs its handlers and joins as PTHREAD_CANCELED; a request made
    while cancellation is disabled waits for pthread_testcancel after it is enabled; an
    asynchronous request reaches a thread that yields without a cancellation point; a thread
    cancels itself; a detached thread is cancelled; a thread cancelled before it first runs."""
    r = assert_ok(run_prog("cancel", [], mode))
    assert r.stdout == EXPECTED_C, r.describe()
    assert r.stderr == "", r.describe()


def test_cxx_destructors(mode):
    """C++ destructors run on pthread_exit and on cancellation (a catch (...) that rethrows
    sees the unwind pass), and so does C++'s pthread_cleanup_push."""
    r = assert_ok(run_prog("cancel_cxx", [], mode))
    assert r.stdout == EXPECTED_CXX, r.describe()


# "parked": cancelled while parked in the call; "early": cancelled before the call, which
# then would not block: it acts at its start and does nothing (the byte stays in the pipe,
# the unit in the semaphore, the child is left for the main thread to reap).
EXPECTED_POINTS = (
    "read parked: canceled=1 handler=1 returned=0 left=0\n"
    "read early: canceled=1 handler=1 returned=0 left=1\n"
    "write early: canceled=1 handler=1 returned=0 left=0\n"
    "write-full parked: canceled=1 handler=1 returned=0\n"
    "select parked: canceled=1 handler=1 returned=0 left=0\n"
    "poll parked: canceled=1 handler=1 returned=0 left=0\n"
    "select early: canceled=1 handler=1 returned=0 left=1\n"
    "poll early: canceled=1 handler=1 returned=0 left=1\n"
    "close early: canceled=1 handler=1 returned=0 still-open=1\n"
    "sem_wait parked: canceled=1 handler=1 returned=0 value=0\n"
    "sem_timedwait parked: canceled=1 handler=1 returned=0 value=0\n"
    "sem_wait early: canceled=1 handler=1 returned=0 value=1\n"
    "sem_timedwait early: canceled=1 handler=1 returned=0 value=1\n"
    "waitpid parked: canceled=1 handler=1 returned=0 reaped-by-main=1\n"
    "wait parked: canceled=1 handler=1 returned=0 reaped-by-main=1\n"
    "waitpid early: canceled=1 handler=1 returned=0 reaped-by-main=1\n"
    "wait early: canceled=1 handler=1 returned=0 reaped-by-main=1\n"
    "system parked: canceled=1 handler=1 returned=0 shell-reaped=1\n"
    "sendmmsg early: canceled=1 handler=1 returned=0 sent=0\n"
    "recv parked: canceled=1 handler=1 returned=0\n"
    "pause parked: canceled=1 handler=1 returned=0\n"
    "sigsuspend parked: canceled=1 handler=1 returned=0\n"
    "sigpause parked: canceled=1 handler=1 returned=0\n"
    "pause early: canceled=1 handler=1 returned=0\n"
    "sigsuspend early: canceled=1 handler=1 returned=0\n"
    "sigpause early: canceled=1 handler=1 returned=0\n"
    "msgrcv parked: canceled=1 handler=1 returned=0\n"
    "msgrcv early: canceled=1 handler=1 returned=0\n"
    "open early: canceled=1 handler=1 returned=0\n"
    "lockf parked: canceled=1 handler=1 returned=0\n"
    "pthread_mutex_lock, asynchronous parked: canceled=1 handler=1 returned=0\n"
)


def test_cancellation_points(mode):
    """Every hooked blocking call that POSIX makes a cancellation point acts on a request,
    both one made while the thread is parked in it and one pending when it is called
    (read, write, select, poll, close, sem_wait, sem_timedwait, waitpid, wait, sendmmsg,
    recv, pause, sigsuspend, sigpause, msgrcv, lockf; open only early), and an asynchronously cancelled thread parked in
    pthread_mutex_lock; system() kills its shell and reaps it first."""
    r = assert_ok(run_prog("cancel_points", [], mode))
    assert r.stdout == EXPECTED_POINTS, r.describe()
    assert r.stderr == "", r.describe()
