"""POSIX message queues (shim-tests/c/mqueue.c): mq_receive, mq_send and their timed forms
park only the calling green thread, time out, end with EINTR for a handler or go on with
SA_RESTART, and fail as the kernel says, the same natively and greened. A wait in the kernel
would block the one OS thread, and the thread that was to send would never run."""

import pytest

from conftest import assert_ok, run_prog


@pytest.mark.parametrize("how", ["threads", "alone"])
def test_queue_waits_same_natively_and_greened(how):
    native = assert_ok(run_prog("mqueue", [how], "native", timeout=30))
    greened = assert_ok(run_prog("mqueue", [how], "greened", timeout=30))
    lines = native.stdout.splitlines()
    assert lines[-1] == "done", native.describe()
    for line in ["timedreceive 100ms=-1 ETIMEDOUT", "timedsend on a full queue 100ms=-1 ETIMEDOUT",
                 "timedreceive bad nsec with messages in=-1 EINVAL"]:
        assert line in lines, native.describe()
    if how == "threads":
        for line in ["receive a thread's message: got=late prio=3 waited=yes", "send waited for room=yes",
                     "ticked meanwhile=yes", "receive, handler=-1 EINTR", "nonblocking receive=-1 EAGAIN",
                     "receive, handler with SA_RESTART: got=late prio=3 waited=yes",
                     "after mq_close, a new queue: got=late prio=3 waited=yes",
                     "after mq_close: same number=1"]:
            assert line in lines, native.describe()
    else:
        assert "receive a child's message: got=child prio=7 waited=yes" in lines, native.describe()
    assert greened.stdout == native.stdout, greened.describe() + native.describe()
