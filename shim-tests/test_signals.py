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


def test_siglongjmp_out_of_handlers(mode):
    """siglongjmp out of a handler three times: the mask sigsetjmp saved comes back (the
    signal is not left blocked) and the handler is left for good: 20 threads made
    afterwards are green threads sleeping together on one OS thread. A worker's read with
    an alarm() timeout, jumped out of by its SIGALRM handler, leaves nothing behind: its
    next read gets the bytes. A jump with no saved mask leaves the handler's mask, as
    natively."""
    r = assert_ok(run_prog("sigjmp", [], mode, timeout=60))
    more_os_threads = 1 if mode == "native" else 0
    assert r.stdout == (
        "main: handler left by siglongjmp 3 times, SIGUSR1 blocked after=0\n"
        f"main: 20 sleepers overlapped=1 sum=190, more than one os thread={more_os_threads}\n"
        "worker: first read timed out, SIGALRM blocked after=0\n"
        "worker: next read got 4 bytes: late\n"
        "main: after a jump without a saved mask, SIGUSR1 blocked=1\n"
    ), r.describe()
