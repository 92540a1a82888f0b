"""System V semaphores (shim-tests/c/sysv_sem.c): semop and semtimedop park only the calling
green thread, time out, end with EINTR for a handler and fail as the kernel says, the same
natively and greened. A green wait in the kernel would block the one OS thread, and the
thread that was to post would never run."""

import pytest

from conftest import assert_ok, run_prog


@pytest.mark.parametrize("how", ["threads", "alone"])
def test_semaphore_waits_same_natively_and_greened(how):
    native = assert_ok(run_prog("sysv_sem", [how], "native", timeout=30))
    greened = assert_ok(run_prog("sysv_sem", [how], "greened", timeout=30))
    lines = native.stdout.splitlines()
    assert lines[-1] == "done", native.describe()
    assert "semtimedop 100ms=-1 EAGAIN waited=yes" in lines, native.describe()
    if how == "threads":
        assert "ticked meanwhile=yes" in lines, native.describe()
        assert "eintr SA_RESTART=-1 EINTR waited=yes" in lines, native.describe()
        assert "undo: child=0 value_after=0" in lines, native.describe()
    else:
        assert "alarm=-1 EINTR waited=yes" in lines, native.describe()
    assert greened.stdout == native.stdout, greened.describe() + native.describe()
