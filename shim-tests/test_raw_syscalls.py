"""Raw system calls (inline `syscall` instructions, not through libc) with
GREEN_RAW_SYSCALLS=1: a blocking one parks only its green thread (the ticker goes on, one
OS thread), two raw sleeps overlap, a non-blocking one gives its native value, and errors
come back as -errno with errno untouched; the output is the native one."""

import pytest

from conftest import assert_ok, run_prog

ON = {"GREEN_RAW_SYSCALLS": "1"}


def test_same_results_natively_and_greened():
    native = assert_ok(run_prog("raw_syscalls", mode="native", timeout=30))
    greened = assert_ok(run_prog("raw_syscalls", mode="greened", timeout=30, env=ON))
    assert native.stdout.rstrip().endswith("done"), native.describe()
    assert "=no" not in native.stdout, native.describe()
    assert greened.stdout == native.stdout, native.describe() + greened.describe()
    assert "os_threads=1" in greened.stderr, greened.describe()


def test_off_by_default_raw_read_is_not_green():
    # Without the trap the raw read sees the description the runtime made non-blocking.
    greened = assert_ok(run_prog("raw_syscalls", mode="greened", timeout=30))
    assert "raw read n=5 data=hello ticked=yes" not in greened.stdout, greened.describe()


def test_said_at_info():
    greened = assert_ok(run_prog("raw_syscalls", mode="greened", timeout=30, env={**ON, "GREEN_LOG": "info"}))
    assert "raw system calls are covered" in greened.stderr, greened.describe()


@pytest.mark.parametrize("value", ["yes", "2"])
def test_bad_value(value):
    result = run_prog("raw_syscalls", mode="greened", timeout=30, env={"GREEN_RAW_SYSCALLS": value})
    assert result.returncode == 2, result.describe()
    assert f"GREEN_RAW_SYSCALLS={value} is not valid: expected 0 or 1" in result.stderr, result.describe()


def test_shells_and_spawns_with_the_trap_on():
    # Shells block every signal around fork, and our fork hook makes system calls of its
    # own there: neither may trap (a trap with SIGSYS blocked kills the process).
    greened = assert_ok(run_prog("spawn_threads", mode="greened", timeout=60, env=ON))
    assert "exit statuses right: 21 of 21" in greened.stdout, greened.describe()
