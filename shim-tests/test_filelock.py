"""File locks wait green: flock, lockf, fcntl(F_SETLKW) and F_OFD_SETLKW, and
syscall(SYS_flock), contended with a child process that holds the lock for 300 ms, while a
ticker thread keeps counting (greened, it ticks only if the wait parked one green thread
instead of the OS thread). Errors and EINTR / SA_RESTART as natively."""

import pytest

from conftest import assert_ok, run_prog

CASES = ["flock", "lockf", "fcntl", "ofd", "syscall-flock", "errors", "eintr", "alone"]


@pytest.mark.parametrize("case", CASES)
def test_same_results_natively_and_greened(case):
    native = assert_ok(run_prog("filelock", [case], mode="native", timeout=30))
    greened = assert_ok(run_prog("filelock", [case], mode="greened", timeout=30))
    assert native.stdout.rstrip().endswith("done"), native.describe()
    assert "ticked_meanwhile=no" not in native.stdout, native.describe()
    assert greened.stdout == native.stdout, native.describe() + greened.describe()
