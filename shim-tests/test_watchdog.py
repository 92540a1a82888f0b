"""The watchdog (GREEN_WATCHDOG_MS): a green thread that runs longer than the limit without a
switch is named on stderr, with how long and where (shim-tests/c/watchdog.c, built with
frame pointers and -rdynamic), at most once per thread per second; nothing is said when the
limit is not exceeded or the variable is unset."""

import re
import subprocess

import pytest

from conftest import GREEN_LAUNCHER, LIBGREEN, assert_ok, child_env, run_prog

HEADER = re.compile(r'^libgreen: watchdog: thread (\d+)( "worker"| \(main\))? has run (\d+) ms '
                    r'without a switch, at:$')
FRAME = re.compile(r"^libgreen:   #(\d+) 0x[0-9a-f]+ ")


def reports(stderr):
    """[(thread, label, ms, [frame lines])] from the watchdog's lines."""
    found = []
    for line in stderr.splitlines():
        header = HEADER.match(line)
        if header:
            found.append((int(header[1]), header[2], int(header[3]), []))
        elif FRAME.match(line) and found:
            found[-1][3].append(line)
        else:
            assert "watchdog" not in line, line
    return found


def run(who, spin_ms, env, mode="greened"):
    r = assert_ok(run_prog("watchdog", [who, spin_ms], mode, env=env))
    assert r.stdout == "spun=1\n", r.describe()
    return r


@pytest.mark.parametrize("who,thread,label", [("thread", 2, ' "worker"'), ("main", 1, " (main)")])
def test_a_spinning_thread_is_named_with_its_backtrace(who, thread, label):
    """Preemption off: the spinner keeps the OS thread for 1.5 s. It is named (number and
    the name it set, or main), for at least the limit, with spin_forever as the first frame;
    at most once a second, so twice at most in 1.5 s."""
    r = run(who, 1500, {"GREEN_PREEMPT": "0", "GREEN_WATCHDOG_MS": "200"})
    found = reports(r.stderr)
    assert 1 <= len(found) <= 2, r.describe()
    for number, name, ms, frames in found:
        assert (number, name) == (thread, label), r.describe()
        assert ms >= 200, r.describe()
        assert frames and frames[0].startswith("libgreen:   #0 "), r.describe()
        assert " spin_forever+0x" in frames[0], r.describe()
    if len(found) == 2:
        assert found[1][2] - found[0][2] >= 900, "a second report within a second" + r.describe()


def test_native_run_is_the_same():
    """The program itself behaves as natively (the report is only on stderr)."""
    r = run("thread", 300, {"GREEN_WATCHDOG_MS": "200"}, mode="native")
    assert r.stderr == "", r.describe()


@pytest.mark.parametrize("env", [
    {"GREEN_PREEMPT": "0", "GREEN_WATCHDOG_MS": "1000"},  # under the limit
    {"GREEN_PREEMPT": "0"},                               # unset: off
    {"GREEN_PREEMPT": "0", "GREEN_WATCHDOG_MS": "0"},     # off
    {"GREEN_WATCHDOG_MS": "200"},  # preemption on: the spinner switches every slice or two
])
def test_nothing_is_said_within_the_limit(env):
    r = run("thread", 600 if "GREEN_WATCHDOG_MS" in env else 1500, env)
    assert "watchdog" not in r.stderr, r.describe()


def test_a_bad_value_stops_the_program():
    """One line naming the variable and what it accepts, exit status 2, from the library and
    from the launcher alike."""
    line = ("GREEN_WATCHDOG_MS=soon is not valid: expected 0 (off) or a whole number of "
            "milliseconds, from 1 to 3600000")
    env = child_env("native", {"GREEN_WATCHDOG_MS": "soon"})
    lib = subprocess.run(["true"], env=dict(env, LD_PRELOAD=str(LIBGREEN)), capture_output=True,
                         text=True, timeout=30)
    assert lib.returncode == 2 and lib.stderr.strip() == f"libgreen: {line}", lib.stderr
    launcher = subprocess.run([str(GREEN_LAUNCHER), "true"], env=env, capture_output=True,
                              text=True, timeout=30)
    assert launcher.returncode == 2, launcher.stderr
    assert line in launcher.stderr and len(launcher.stderr.strip().splitlines()) == 1, launcher.stderr
