"""Signal cases from glibc's own NPTL tests (shim-tests/c/sig_cases.c), each run natively and
greened with the same output."""

import subprocess

import pytest

from conftest import assert_ok, child_env, run_prog


@pytest.mark.parametrize("case,expected", [
    # nptl/tst-eintr5: a handler that runs for a thread waiting on a condition does not end
    # the wait; only the signal of the condition does.
    ("cond-eintr", "handled=5 flag_set=1"),
    # A signal of the condition right after the handler's signal is not lost.
    ("cond-eintr-signal", "woken=1 flag_set=1"),
])
def test_signal_case(mode, case, expected):
    r = assert_ok(run_prog("sig_cases", [case], mode, timeout=30))
    assert r.stdout.strip() == expected, r.describe()


def test_exec_from_a_thread_keeps_its_mask(mode):
    """nptl/tst-exec4: the program a thread execs starts with that thread's own mask."""
    r = assert_ok(run_prog("sig_cases", ["exec-mask"], mode, timeout=30))
    assert r.stdout.strip() == "usr2_blocked=1", r.describe()


def test_legacy_mask_calls(mode):
    """sigblock, sigsetmask, sighold and sigrelse change the caller's mask as
    pthread_sigmask sees it (glibc makes them on its internal sigprocmask)."""
    r = assert_ok(run_prog("sig_cases", ["legacy-mask"], mode, timeout=30))
    assert r.stdout.splitlines() == [
        "sigblock: usr1=1 old_usr1=0",
        "sigblock(0): usr1=1",
        "sigsetmask: usr1=0 usr2=1 old_usr1=1",
        "sighold: hup=1",
        "sigrelse: hup=0",
        "sighold(0)=-1 errno=22",
    ], r.describe()


def test_a_shell_started_by_a_shell_can_kill_itself(mode):
    """dash blocks every signal around vfork and clears its mask with sigsetmask in the
    child before exec: the inner shell must not inherit a mask that blocks SIGTERM."""
    env = child_env(mode)
    r = subprocess.run(["sh", "-c", 'sh -c "kill -TERM \\$\\$"; echo "status $?"'], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.stdout == "status 143\n", (r.stdout, r.stderr)


@pytest.mark.parametrize("case,expected", [
    # nptl/tst-signal3: a handler asks which thread it runs in.
    ("handler-self", "in_thread=1"),
    # nptl/tst-pthread-attr-sigmask: the default attribute's mask.
    ("default-attr-mask", "hup=1 usr1=0"),
])
def test_thread_identity_and_default_mask(mode, case, expected):
    r = assert_ok(run_prog("sig_cases", [case], mode, timeout=30))
    assert r.stdout.strip() == expected, r.describe()


@pytest.mark.parametrize("threads", ["alone", "threads"])
def test_short_handler_calls(threads):
    """signal, bsd_signal, ssignal, sysv_signal, sigset, sigignore and siginterrupt, which
    glibc builds on its internal sigaction and sigprocmask: the same lines natively and
    greened, alone and with a second thread. The classic timeout (siginterrupt(SIGALRM, 1),
    an alarm, a read of a silent pipe) hung greened: the read restarted after the handler."""
    native = assert_ok(run_prog("legacy_handlers", [threads], "native", timeout=30))
    greened = assert_ok(run_prog("legacy_handlers", [threads], "greened", timeout=30))
    for line in [
        "siginterrupt(1), alarm: read=-1 errno=EINTR handled=1",
        "signal again: handler=handler restart=0 resethand=0 nodefer=0 masks_itself=1",
        "siginterrupt(0), alarm: read=1 errno=0 handled=1",
        "sysv_signal, alarm: read=-1 errno=EINTR handled=1",
        "sysv_signal after it ran: handler=dfl restart=0 resethand=1 nodefer=1 masks_itself=0",
        "raised while held: handled=0 pending=1",
        "sigset(handler) old=hold blocked=0 handled=1",
        "sigset, alarm: read=-1 errno=EINTR handled=1",
    ]:
        assert line in native.stdout.splitlines(), native.describe()
    assert greened.stdout == native.stdout, greened.describe() + native.describe()


def test_alternate_signal_stacks_per_thread():
    """sigaltstack (shim-tests/c/alt_stacks.c): a thread's alternate stack is its own (a new
    thread has none, another's setting does not show through), the kernel's errors, and a
    handler on the alternate stack sees SS_ONSTACK and EPERM; the same lines natively and
    greened, where every green thread once shared (and overwrote) the hub's one."""
    native = assert_ok(run_prog("alt_stacks", [], "native", timeout=30))
    greened = assert_ok(run_prog("alt_stacks", [], "greened", timeout=30))
    for line in ["thread 1 at start: disabled", "thread 0 after both set: set mine=1 size=65536",
                 "main after the threads: disabled", "bad new=-1 EFAULT",
                 "in handler: onstack change=-1 EPERM"]:
        assert line in native.stdout.splitlines(), native.describe()
    assert greened.stdout == native.stdout, greened.describe() + native.describe()
