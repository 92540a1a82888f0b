"""close_range and closefrom (shim-tests/c/fd_ranges.c), which glibc makes past our close
hook: a number a green thread waited on and close_range closed, given anew to a queue, is
waited on like any other; after closefrom(3) and close_range(3, ~0U) threads still sleep
and fresh pipes still wake their readers (the hub's own descriptors survive); errors and
CLOSE_RANGE_CLOEXEC as natively. The same lines natively and greened."""

from conftest import assert_ok, run_prog


def test_range_closes_same_natively_and_greened():
    native = assert_ok(run_prog("fd_ranges", [], "native", timeout=30))
    greened = assert_ok(run_prog("fd_ranges", [], "greened", timeout=30))
    lines = native.stdout.splitlines()
    for line in ["queue on the closed number: same=1 received=1", "after closefrom(3): pipe read=1",
                 "after close_range: pipe read=1", "sleeper joined", "done"]:
        assert line in lines, native.describe()
    assert greened.stdout == native.stdout, greened.describe() + native.describe()
