"""Signal masks and delivery per green thread: each thread's mask is its own, a process
signal runs its handler in a thread that accepts it, and pthread_kill runs the handler in
its target (shim-tests/c/signal_masks.c; ARCHITECTURE.md, Signals)."""

import subprocess
import sys

from conftest import assert_ok, child_env, run_prog

HELPER = """\
read: rc=-1 EINTR handler runs=1 in main=1
select: rc=-1 EINTR handler runs=1 in main=1
sleep: rc=-1 EINTR handler runs=1 in main=1
sem_wait: rc=-1 EINTR handler runs=1 in main=1
read with SA_RESTART: rc=1  handler runs=1 in main=1
"""

KILL = """\
read=-1 EINTR handler in target=1 handler runs=1, main's sleep=complete
nanosleep=-1 EINTR handler in target=1 handler runs=1, main's sleep=complete
"""

MASKS = """\
A: usr1 blocked=1
B: usr1 blocked=0
A's new thread: usr1 blocked=1 usr2 blocked=0
B: nanosleep=-1 EINTR handler runs=1 in B=1; B's new thread: usr1 blocked=0 usr2 blocked=0
main: usr1 blocked=1
thread with an attribute mask: usr1 blocked=0 usr2 blocked=1
"""

SIGWAIT = """\
sigwait=0 sig=SIGUSR2 handler runs=0
sigwait=0 sig=SIGUSR2 handler runs=0
"""


def test_a_helper_that_blocks_every_signal_blocks_them_for_itself_only(mode):
    """A helper thread blocks every signal and keeps running; the main thread's read,
    select, sleep and sem_wait are each interrupted by a SIGUSR1 a child process sends to
    the process (the read restarts under SA_RESTART), and the handler runs in the main
    thread."""
    r = assert_ok(run_prog("signal_masks", ["helper"], mode, timeout=30))
    assert r.stdout == HELPER, r.describe()


def test_pthread_kill_runs_the_handler_in_its_target(mode):
    """pthread_kill to a thread parked in read, then to one in nanosleep: the handler runs
    in the target (pthread_self), its wait returns EINTR, the main thread's sleep goes on."""
    r = assert_ok(run_prog("signal_masks", ["kill"], mode, timeout=30))
    assert r.stdout == KILL, r.describe()


def test_masks_are_per_thread(mode):
    """Each thread's pthread_sigmask reports its own mask; a process SIGUSR1 runs in the one
    thread that accepts it; new threads inherit their creator's mask, or the one
    pthread_attr_setsigmask_np put in their attribute."""
    r = assert_ok(run_prog("signal_masks", ["masks"], mode, timeout=30))
    assert r.stdout == MASKS, r.describe()


def test_sigwait_gets_the_signal_another_thread_accepts(mode):
    """The main thread waits for SIGUSR2 in sigwait while another thread accepts it with a
    handler: a process SIGUSR2 and a pthread_kill both go to sigwait."""
    r = assert_ok(run_prog("signal_masks", ["sigwait"], mode, timeout=30))
    assert r.stdout == SIGWAIT, r.describe()


ALARM_IN_SELECT = r"""
import faulthandler, os, select, signal
faulthandler.dump_traceback_later(60)   # its watchdog thread blocks every signal
class Alarm(Exception):
    pass
def on_alarm(signum, frame):
    raise Alarm()
signal.signal(signal.SIGALRM, on_alarm)
r, w = os.pipe()
signal.setitimer(signal.ITIMER_REAL, 0.2)
try:
    select.select([r], [], [], 10)
    print("select returned")
except Alarm:
    print("Alarm raised")
faulthandler.cancel_dump_traceback_later()
"""


def test_cpython_alarm_interrupts_select_beside_faulthandler_watchdog(mode):
    """CPython's faulthandler.dump_traceback_later starts a watchdog thread that blocks
    every signal (as `--timeout` does in CPython's regression tests); SIGALRM from
    setitimer still interrupts select.select in the main thread, whose handler raises."""
    p = subprocess.run([sys.executable, "-c", ALARM_IN_SELECT], env=child_env(mode),
                       capture_output=True, text=True, timeout=30)
    assert (p.returncode, p.stdout) == (0, "Alarm raised\n"), p.stderr


def test_sigurg_from_a_signalfd_in_a_single_threaded_program(mode):
    """SIGURG is also the preemption tick's signal, but a program that never had a second
    thread has no tick: blocked by the program, a SIGURG it is sent waits in the kernel and
    its signalfd reads it, as natively (PostgreSQL's backends wake each other so; greened they
    slept for ever)."""
    r = assert_ok(run_prog("sigurg_signalfd", [], mode))
    assert r.stdout == "".join(f"round {i}: ready 1, read 128, SIGURG\n" for i in range(3)), r.describe()
