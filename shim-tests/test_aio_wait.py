"""aio_suspend waits green (hooks/aio_suspend.rs): other green threads run meanwhile, and
it ends as glibc's does: a finished request, its timeout (EAGAIN), a handler (EINTR, or it
goes on under SA_RESTART without a timeout), a cancellation, and nothing to wait for.
Natively and greened, the same output."""

import pytest

from conftest import assert_ok, run_prog

EXPECTED = {
    "complete": "complete: rc=0 error=0 return=1 byte=y\n",
    "timeout": "timeout: rc=-1 EAGAIN waited=1 others_ran=1\n",
    "eintr": "eintr: rc=-1 EINTR handled=1\n",
    "restart": "restart: rc=0 handled=1\n",
    "cancel": "cancel: result=PTHREAD_CANCELED\n",
    "done": "done: none=0 finished=0\n",
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_aio_wait(case, mode):
    """One way an aio_suspend wait ends."""
    r = assert_ok(run_prog("aio_wait", [case], mode, timeout=30))
    assert r.stdout == EXPECTED[case], r.describe()
