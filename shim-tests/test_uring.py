"""io_uring waits park the green thread (src/hooks/uring.rs): a thread waits for completions
of reads on pipes that another thread fills after a sleep, through liburing's
io_uring_wait_cqe, io_uring_wait_cqe_timeout (expiring: -ETIME), io_uring_wait_cqes,
io_uring_submit_and_wait(_timeout), io_uring_enter2, and syscall(SYS_io_uring_enter);
a signal makes the wait return -EINTR; a DEFER_TASKRUN ring. Greened, every line is the
native one and one OS thread ran it all (without the hooks the first wait would put that
thread to sleep in the kernel and hang).

The program links liburing (liburing-dev), so it is built here rather than by `make progs`.
A kernel that refuses io_uring fails the test, saying so: it is never skipped."""

import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT, TEST_BIN, assert_ok, run_prog

SOURCE = REPO_ROOT / "shim-tests" / "uring" / "uring_wait.c"


@pytest.fixture(scope="module")
def uring_wait():
    """Builds build/bin/uring_wait from its source when missing or older."""
    target = Path(TEST_BIN) / "uring_wait"
    if not target.exists() or target.stat().st_mtime < SOURCE.stat().st_mtime:
        target.parent.mkdir(parents=True, exist_ok=True)
        build = subprocess.run(
            ["cc", "-O2", "-g", "-Wall", "-Wextra", "-pthread", "-o", str(target), str(SOURCE), "-luring"],
            capture_output=True, text=True,
        )
        if build.returncode != 0:
            pytest.fail("cannot build uring_wait (is liburing-dev installed?):\n" + build.stderr, pytrace=False)
    return "uring_wait"


def io_uring_usable(result):
    if result.returncode == 98:
        disabled = Path("/proc/sys/kernel/io_uring_disabled")
        setting = disabled.read_text().strip() if disabled.exists() else "absent"
        pytest.fail(
            f"the kernel refuses io_uring (io_uring_disabled={setting}):" + result.describe(), pytrace=False
        )


def os_threads(result):
    found = re.search(r"os_threads=(\d+)", result.stderr)
    assert found, result.describe()
    return int(found.group(1))


def test_waits_park_green_and_match_native(uring_wait):
    native = run_prog(uring_wait, mode="native", timeout=30)
    io_uring_usable(native)
    assert_ok(native)
    assert native.stdout.rstrip().endswith("done"), native.describe()
    assert "early" not in native.stdout and "ticked=no" not in native.stdout, native.describe()
    assert os_threads(native) > 1, native.describe()
    greened = assert_ok(run_prog(uring_wait, mode="greened", timeout=30))
    assert greened.stdout == native.stdout, native.describe() + greened.describe()
    assert os_threads(greened) == 1, greened.describe()


@pytest.mark.parametrize("scenario", ["wait_cqe_thread", "wait_cqe_main", "raw_syscall", "raw_two", "defer_taskrun"])
def test_each_wait_alone(uring_wait, scenario):
    """Each scenario on a fresh process: a ring made first in the process, fd and all."""
    native = run_prog(uring_wait, args=(scenario,), mode="native", timeout=30)
    io_uring_usable(native)
    assert_ok(native)
    greened = assert_ok(run_prog(uring_wait, args=(scenario,), mode="greened", timeout=30))
    assert greened.stdout == native.stdout, native.describe() + greened.describe()
    assert os_threads(greened) == 1, greened.describe()
