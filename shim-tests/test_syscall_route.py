"""syscall() with the number of a blocking call we hook (read, readv, poll, ppoll, select,
pselect6, epoll_wait, epoll_pwait, nanosleep, clock_nanosleep, pause, wait4, waitid,
accept4, connect, recvfrom, sendto, recvmsg, sendmsg, ...) takes the libc function's green
path: a ticker thread keeps counting while the main thread waits, and the results and
errno values are the native ones."""

from conftest import assert_ok, run_prog


def test_same_results_natively_and_greened():
    native = assert_ok(run_prog("syscall_green", mode="native", timeout=30))
    greened = assert_ok(run_prog("syscall_green", mode="greened", timeout=30))
    assert native.stdout.rstrip().endswith("done"), native.describe()
    assert "ticked=no" not in native.stdout, native.describe()
    assert greened.stdout == native.stdout, native.describe() + greened.describe()
