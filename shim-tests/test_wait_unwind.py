"""A signal handler that runs inside a blocked read and never returns to it (it acts on a
cancellation, calls pthread_exit, or siglongjmps out; on a green thread and on the main
thread): the read's fd waiter is unlinked before the handler runs, so closing the fd,
reusing its number and overwriting the old stack afterwards find nothing stale
(runtime/wait_leave.rs). Natively and greened, the same output."""

import pytest

from conftest import assert_ok, run_prog

EXPECTED = {
    "cancel": "cancel: result=PTHREAD_CANCELED\ncancel: value=-1\ncancel: reused=1 read=1\n",
    "exit": "exit: result=value\nexit: value=7\nexit: reused=1 read=1\n",
    "longjmp": "longjmp: result=value\nlongjmp: value=2\nlongjmp: reused=1 read=1\n",
    "main-longjmp": "main-longjmp: jumped=1\nmain-longjmp: reused=1 read=1\n",
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_wait_unwind(case, mode):
    """The handler leaves the read for good; the fd's number is then reused cleanly."""
    r = assert_ok(run_prog("wait_unwind", [case], mode, timeout=30))
    assert r.stdout == EXPECTED[case], r.describe()
