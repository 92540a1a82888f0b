"""Signal handlers: plain libc calls inside them, and sigaction reports the program's own."""

from conftest import assert_ok, run_prog

EXPECTED = """\
reported_handler_is_ours=1 siginfo=1
previous_usr2_default=1
reported_usr2=1 siginfo=0
bytes=5 handled_info=5 handled_plain=1
back_to_default=1
"""


def test_handlers_run_and_are_reported_as_installed(mode):
    """A green thread raises signals whose handler blocks briefly and writes to a pipe the
    main thread reads; every signal is handled exactly once and sigaction/signal give back
    the handlers the program installed, with their own flags."""
    r = assert_ok(run_prog("signal_handlers", [], mode, timeout=30))
    assert r.stdout == EXPECTED, r.describe()
