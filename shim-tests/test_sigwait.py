"""sigwait, sigwaitinfo, sigtimedwait, sigsuspend and pause park only their green thread."""

from conftest import assert_ok, run_prog

EXPECTED = """\
sigwait=0 sig=SIGUSR1 ticks meanwhile>=3 yes
sigwaitinfo=SIGUSR2 si_code=SI_QUEUE value=42 pid ok=1
sigtimedwait interrupted by a handler=-1 EINTR alarms=1 early yes
sigtimedwait 100 ms=-1 EAGAIN waited>=95ms yes
sigtimedwait bad timeout=-1 EINVAL
sigwait with SIGUSR1 already pending=0 sig=SIGUSR1
main sigsuspend=-1 EINTR usr1 handled=1 mask restored=1
thread sigsuspend=-1 EINTR usr2 handled=1 mask restored=1
pause=-1 EINTR alarms=2
"""


def test_signal_waits(mode):
    """A thread in sigwait gets the SIGUSR1 sent to the process 50 ms later while a ticker
    thread keeps ticking; sigwaitinfo returns sigqueue's value and SI_QUEUE; sigtimedwait
    gives EINTR when a handler runs for a signal sent to its thread, EAGAIN after 100 ms,
    EINVAL for a bad timeout; a pending signal is taken at once; sigsuspend (main thread
    and another) and pause return EINTR after the handler ran, with the old mask back."""
    r = assert_ok(run_prog("sigwaits", [], mode))
    assert r.stdout == EXPECTED, r.describe()


SIGSUSPEND_ALONE = """\
first sigsuspend=-1 EINTR usr1 runs=1 usr2 runs=0; in the handler usr1 blocked=1 usr2 blocked=1
after: usr1 blocked=1 usr2 blocked=1 usr2 pending=1
second sigsuspend=-1 EINTR usr1 runs=1 usr2 runs=1 usr2 pending=0
jumped out: usr1 blocked=1 usr2 blocked=0; usr2 raised, handled at once=1
"""


def test_sigsuspend_of_a_lone_thread(mode):
    """A process with one thread waits in sigsuspend for signals from a child: the handler
    runs inside the call with the call's mask (and its own signal) blocked, the call returns
    EINTR, the mask comes back, and a signal the call's mask blocked stays pending until the
    next sigsuspend lets it in; a handler that leaves the call with siglongjmp brings back the
    mask sigsetjmp saved, under which a signal the call blocked is handled at once. Greened,
    the lone thread waits in the kernel's own sigsuspend; the results are the native ones."""
    r = assert_ok(run_prog("sigsuspend_alone", [], mode))
    assert r.stdout == SIGSUSPEND_ALONE, r.describe()
