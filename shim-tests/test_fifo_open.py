"""Opening a FIFO (shim-tests/c/fifo_open.c) waits for its other end, and greened that wait
parks only the calling green thread: the other end may be opened by another thread of the
same process. A handler ends the wait or lets it go on with SA_RESTART, a cancelled opener
leaves no descriptor behind, and what never waits natively does not wait greened; the same
lines natively and greened."""

import pytest

from conftest import assert_ok, run_prog


@pytest.mark.parametrize("how", ["threads", "alone"])
def test_fifo_opens_same_natively_and_greened(how):
    native = assert_ok(run_prog("fifo_open", [how], "native", timeout=30))
    greened = assert_ok(run_prog("fifo_open", [how], "greened", timeout=30))
    lines = native.stdout.splitlines()
    assert lines[-1] == "done", native.describe()
    assert "O_RDONLY|O_NONBLOCK=ok nonblock=1" in lines, native.describe()
    if how == "threads":
        for line in ["reader first: read=5 hello waited=yes", "writer first: reader got=3 abc",
                     "silent writer: read=0", "handler: open=-1 EINTR",
                     "handler with SA_RESTART: open read=4 late",
                     "cancelled opener: cancelled=1 descriptor_left=no"]:
            assert line in lines, native.describe()
    else:
        assert "child writer: read=5 child waited=yes" in lines, native.describe()
    assert greened.stdout == native.stdout, greened.describe() + native.describe()
