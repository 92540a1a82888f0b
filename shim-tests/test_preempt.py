"""Preemption and fairness: a green thread that never makes a call that parks must not keep
the OS thread from the others (shim-tests/c/preempt.c). Every program runs natively and
greened with the same result; bounds are generous, since the machine may be loaded: they
prove the mechanism, not a latency."""

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import (GREEN_LAUNCHER, LIBGREEN, assert_ok, child_env, green_stats, parse_kv,
                      run_prog)

SLICE_MS = 10


@pytest.mark.parametrize("who", ["main", "thread"])
def test_spin_wait_on_a_flag_ends(mode, who):
    """A spin-wait on an atomic flag that another thread sets after 100 ms: natively the
    setter runs on another CPU; greened, the spinner is preempted and the setter gets its
    turn. The spinner gives up after 5 s, which would mean it never saw the flag."""
    r = assert_ok(run_prog("preempt", ["spin", who, 5], mode))
    assert parse_kv(r.stdout)["seen"] == 1, r.describe()


def test_no_preempt_is_honoured():
    """With GREEN_PREEMPT=0 the spinner keeps the OS thread: the setter never runs before it
    gives up (2 s), so the flag is not seen; with preemption on (the default) it is."""
    off = assert_ok(run_prog("preempt", ["spin", "thread", 2], "greened", env={"GREEN_PREEMPT": "0"}))
    assert parse_kv(off.stdout)["seen"] == 0, off.describe()
    on = assert_ok(run_prog("preempt", ["spin", "thread", 2], "greened", env={"GREEN_PREEMPT": "1"}))
    assert parse_kv(on.stdout)["seen"] == 1, on.describe()


def test_ticker_beside_busy_threads(mode):
    """A 1 ms ticker beside 8 threads that compute: all finish, and greened the ticker's
    worst gap, in the CPU time the process used meanwhile (wall time on a loaded machine
    measures the machine), stays within 10 slices."""
    env = {"GREEN_STATS": "1"} if mode == "greened" else None
    r = assert_ok(run_prog("preempt", ["ticker", 8], mode, env=env))
    out = parse_kv(r.stdout)
    assert out["finished"] == 8, r.describe()
    if mode == "greened":
        assert out["worst_gap_cpu_ms"] < 10 * SLICE_MS, r.describe()
        stats = green_stats(r.stderr)
        assert stats["preemptions"] > 0, r.describe()


@pytest.mark.parametrize("preempt", ["1", "0"])
def test_event_loop_polling_with_zero_timeout(mode, preempt):
    """An event loop that polls with timeout 0 while its workers compute: the workers get
    their turns, by preemption or, with GREEN_PREEMPT=0, by the zero-timeout poll itself
    once the loop has used its slice."""
    r = assert_ok(run_prog("preempt", ["eventloop"], mode, env={"GREEN_PREEMPT": preempt}))
    assert parse_kv(r.stdout)["results"] == 4, r.describe()


@pytest.mark.parametrize("preempt", ["1", "0"])
def test_trylock_loop_lets_the_holder_run(mode, preempt):
    """A loop of failing pthread_mutex_trylock while the holder sleeps with the lock: the
    failed tries give the holder its turn once the loop has used its slice."""
    r = assert_ok(run_prog("preempt", ["trylock"], mode, env={"GREEN_PREEMPT": preempt}))
    assert parse_kv(r.stdout)["acquired"] == 1, r.describe()


def test_new_thread_runs_while_its_creator_computes(mode):
    """pthread_create returns at once; greened, the new thread runs when its creator is
    preempted, not only when the creator blocks."""
    r = assert_ok(run_prog("preempt", ["create"], mode))
    assert parse_kv(r.stdout)["child_ran_during_busy"] == 1, r.describe()


def test_preemption_signal_never_shows(mode):
    """The program's own SIGURG handler gets exactly the SIGURGs kill() sent (none of the
    ticks), sigaction reports the program's handler, and parked calls (read on a pipe,
    nanosleep, sem_wait, poll) return as natively, never EINTR, while busy threads are
    being preempted."""
    env = {"GREEN_STATS": "1"} if mode == "greened" else None
    r = assert_ok(run_prog("preempt", ["quiet"], mode, env=env))
    out = parse_kv(r.stdout)
    assert (out["read"], out["nanosleep"], out["sem_wait"], out["poll"]) == (0, 0, 0, 0), r.describe()
    assert out["handler_calls"] == out["sent"] == 5, r.describe()
    assert out["handler_kept"] == 1, r.describe()
    if mode == "greened":
        assert green_stats(r.stderr)["preemptions"] > 0, r.describe()


def test_registers_survive_preemption():
    """Two threads sum long series in SSE and AVX registers while preempted again and again:
    the sums are bit for bit the native ones (every register, the upper halves of the AVX
    ones included, is saved and restored around the preempting yield)."""
    native = assert_ok(run_prog("preempt", ["fpu"], "native"))
    greened = assert_ok(run_prog("preempt", ["fpu"], "greened", env={"GREEN_STATS": "1"}))
    assert greened.stdout == native.stdout, native.describe() + greened.describe()
    assert green_stats(greened.stderr)["preemptions"] > 0, greened.describe()


PY_TICKER = textwrap.dedent("""
    import threading, time
    stop = False
    ticks = 0
    def ticker():
        global ticks
        while not stop:
            time.sleep(0.005)
            ticks += 1
    def compute():
        x = 0
        end = time.process_time() + 0.5
        while time.process_time() < end:
            for i in range(10000):
                x += i
    t = threading.Thread(target=ticker)
    t.start()
    c = threading.Thread(target=compute)
    c.start()
    c.join()
    stop = True
    t.join()
    print(f"ticks={ticks}")
""")


def test_python_ticker_beside_a_cpu_bound_thread(mode):
    """Under `green python3`, a ticker thread keeps ticking while another thread computes
    for half a second of CPU: the computing thread holds the GIL, and only preemption lets
    the ticker's GIL request through."""
    argv = [sys.executable, "-c", PY_TICKER]
    if mode == "greened":
        argv = [str(GREEN_LAUNCHER)] + argv
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                       env=child_env("native"))
    assert r.returncode == 0, r.stderr
    assert parse_kv(r.stdout)["ticks"] >= 5, r.stdout + r.stderr


@pytest.mark.parametrize("variable,value,accepted", [
    ("GREEN_PREEMPT", "2", "0 or 1"),
    ("GREEN_TIMESLICE_US", "abc", "a whole number of microseconds, from 100 to 1000000"),
    ("GREEN_TIMESLICE_US", "50", "a whole number of microseconds, from 100 to 1000000"),
])
def test_invalid_settings_stop_the_program(variable, value, accepted):
    """An invalid value: one line naming the variable and what it accepts, exit status 2,
    from the library and from the launcher alike."""
    line = f"{variable}={value} is not valid: expected {accepted}"
    env = child_env("native", {variable: value})
    lib = subprocess.run(["true"], env=dict(env, LD_PRELOAD=str(LIBGREEN)), capture_output=True,
                         text=True, timeout=30)
    assert lib.returncode == 2, lib.stderr
    assert lib.stderr.strip() == f"libgreen: {line}", lib.stderr
    launcher = subprocess.run([str(GREEN_LAUNCHER), "true"], env=env, capture_output=True,
                              text=True, timeout=30)
    assert launcher.returncode == 2, launcher.stderr
    assert line in launcher.stderr and len(launcher.stderr.strip().splitlines()) == 1, launcher.stderr


def test_launcher_options():
    """--no-preempt and --timeslice set the variables the library reads."""
    r = subprocess.run([str(GREEN_LAUNCHER), "--no-preempt", "--timeslice", "2000", "env"],
                       env=child_env("native"), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "GREEN_PREEMPT=0" in r.stdout.splitlines(), r.stdout
    assert "GREEN_TIMESLICE_US=2000" in r.stdout.splitlines(), r.stdout
    r = subprocess.run([str(GREEN_LAUNCHER), "--timeslice", "5", "true"],
                       env=child_env("native"), capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "GREEN_TIMESLICE_US=5 is not valid" in r.stderr, r.stderr


def test_timeslice_setting_is_used():
    """A shorter slice preempts more often: the spinner still sees the flag."""
    r = assert_ok(run_prog("preempt", ["spin", "thread", 5], "greened",
                           env={"GREEN_TIMESLICE_US": "1000"}))
    assert parse_kv(r.stdout)["seen"] == 1, r.describe()


@pytest.mark.parametrize("preempt", ["1", "0"])
def test_yielders_leave_room_for_fds_and_timers(mode, preempt):
    # Threads that only call sched_yield never let the run queue empty: a reader woken by a
    # child's write and a sleeper's naps must still be served while they spin.
    env = {"GREEN_PREEMPT": preempt} if mode == "greened" else None
    r = assert_ok(run_prog("yield_fairness", [], mode, timeout=60, env=env))
    assert r.stdout == "read=w naps=10 naps_while_spinning=1 yielders_ran=1 child_ok=1\n", r.describe()
