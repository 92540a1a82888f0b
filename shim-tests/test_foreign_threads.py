"""Threads the runtime did not create (glibc's SIGEV_THREAD helper, C11 threads) meet green
threads: their condition signals and broadcasts, semaphore posts and futex wakes reach green
waiters through the hub's inbox, and they wait natively on what green threads signal."""

import pytest

from conftest import assert_ok, run_prog

SCENARIOS = ["cond_timer", "cond_main", "broadcast_timer", "cond_c11", "sem_timer", "sem_c11",
             "futex_timer", "foreign_waits"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_foreign_wakes_green_waiters(scenario):
    """The same line natively and greened, and no deadlock report while only a foreign
    thread can wake the green waiters."""
    native = assert_ok(run_prog("foreign_threads", [scenario], mode="native", timeout=20))
    greened = assert_ok(run_prog("foreign_threads", [scenario], mode="greened", timeout=20))
    assert greened.stdout == native.stdout, native.describe() + greened.describe()
    assert native.stdout.startswith(scenario + ":"), native.describe()
    assert "deadlock" not in greened.stderr, greened.describe()
