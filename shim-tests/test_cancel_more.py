"""Cancellation and thread exit around pthread_once, pthread_join and the main thread,
natively and greened with the same output (runtime/root_exit.rs, hooks/sync_once.rs,
runtime/join.rs)."""

import pytest

from conftest import assert_ok, run_prog

EXPECTED = {
    # The cancelled runner's cleanup handler ran and its routine never finished; the
    # waiter then ran its own routine (2 runs), and the control is done after that.
    "once": "once: first=PTHREAD_CANCELED cleanup=1 runs=2\nonce: after=2\n",
    # The cancelled joiner of the main thread left no trace: main joins it (no EDEADLK).
    "join": "join: rc=0 result=PTHREAD_CANCELED\njoin: self=EDEADLK\n",
    # The main thread's handlers (newest first), then its key destructor; its joiner sees
    # PTHREAD_CANCELED, the other threads go on and the process exits 0 after the last.
    "main-cancel": (
        "main-cancel: cleanup inner\n"
        "main-cancel: cleanup outer\n"
        "main-cancel: key destructor main\n"
        "main-cancel: joined main result=PTHREAD_CANCELED\n"
        "main-cancel: canceller ends\n"
        "main-cancel: bystander still ran, the last thread\n"
    ),
    # pthread_exit of main runs its key destructor, which unlocks the waiter's mutex.
    "main-exit": (
        "main-exit: main exits\n"
        "main-exit: key destructor\n"
        "main-exit: lock taken after main's exit\n"
    ),
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_cancel_more(case, mode):
    """Cancelled inside a pthread_once routine, another thread runs it; a cancelled join
    leaves no trace; the main thread cancelled by another thread, and ended with
    pthread_exit, runs its cleanup handlers and key destructors while the others go on."""
    r = assert_ok(run_prog("cancel_more", [case], mode, timeout=30))
    assert r.stdout == EXPECTED[case], r.describe()


def test_once_exception(mode):
    """A C++ exception out of a pthread_once routine reaches the caller and leaves the
    control not run, on the main thread and on another: the next call runs it again."""
    r = assert_ok(run_prog("once_throw", [], mode, timeout=30))
    assert r.stdout == (
        "main: threw attempts=1\n"
        "thread: threw attempts=2\n"
        "main: returned attempts=3\n"
        "main: returned attempts=3\n"
    ), r.describe()


def test_cancel_at_glibc_internal_points(mode):
    """A thread that only loops in fprintf to /dev/null (glibc writes with its internal
    write, which no hook sees) is cancelled there, with or without a cleanup handler; one
    that disabled cancellation goes on past the request and is cancelled at
    pthread_testcancel once it enabled it again. The process counts as multi-threaded once
    a thread exists (__libc_single_threaded), as natively."""
    r = assert_ok(run_prog("cancel_glibc_points", [], mode, timeout=60))
    assert r.stdout == (
        "single-threaded before any thread=1\n"
        "single-threaded after one=0\n"
        "fprintf loop with a cleanup handler: PTHREAD_CANCELED, handlers run=1\n"
        "fprintf loop without one: PTHREAD_CANCELED\n"
        "loop with cancellation disabled: PTHREAD_CANCELED at pthread_testcancel, after 20000 iterations past the request\n"
    ), r.describe()
