"""Diagnostics (ARCHITECTURE.md, Diagnostics): a green thread that overflows its stack is
named before the process dies of SIGSEGV as natively; the deadlock report names holders and
cycles; `green ps` / `green top` list every green thread of a running process from outside;
GREEN_STATS=1 adds waits, offload latencies, the longest run and peak stack memory."""

import re
import subprocess
import sys
import threading
import http.client
import time

import pytest

from conftest import (GREEN_LAUNCHER, LIBGREEN, child_env, open_fd_count, prog_path,
                      raise_nofile_limit, run_prog, start_prog, thread_count)
from test_py_threading import PY_DIR, Script

OVERFLOW = re.compile(r'libgreen: green thread (\d+) "recurser" overflowed its stack of (\S+) '
                      r'\(fault at 0x[0-9a-f]+, in its guard page\)\. (.*)$', re.MULTILINE)


@pytest.mark.parametrize("how", ["default", "sized", "after-altstacks"])
def test_overflow_names_the_thread_and_dies_of_sigsegv(mode, how):
    """Natively a bare SIGSEGV; greened the same death (-11), after one line naming the
    thread, its stack size and how to give it more: GREEN_STACK_SIZE for a default stack,
    pthread_attr_setstacksize for one the program sized. Also after other threads set
    alternate signal stacks of their own and ended (greened they once took the hub's
    away, and the overflow died without the line)."""
    args = ["sized", 128] if how == "sized" else [how]
    r = run_prog("diag_overflow", args, mode, env={"GREEN_STACK_SIZE": "64K"})
    assert r.returncode == -11, r.describe()
    assert "not reached" not in r.stdout
    m = OVERFLOW.search(r.stderr)
    if mode == "native":
        assert m is None, r.describe()
        return
    assert m, r.describe()
    if how == "sized":
        assert m.group(2) == "128K" and "pthread_attr_setstacksize" in m.group(3), r.describe()
    else:
        assert m.group(2) == "64K" and "GREEN_STACK_SIZE=128K" in m.group(3), r.describe()
    assert len(OVERFLOW.findall(r.stderr)) == 1, r.describe()


def test_overflow_runs_the_programs_own_handler(mode):
    """A program with its own SIGSEGV handler on its own alternate stack gets it called, as
    natively (it exits 3); greened, the overflow message comes first."""
    r = run_prog("diag_overflow", ["handler"], mode, env={"GREEN_STACK_SIZE": "64K"})
    assert r.returncode == 3 and "program handler ran" in r.stdout, r.describe()
    assert (OVERFLOW.search(r.stderr) is not None) == (mode == "greened"), r.describe()


def test_a_plain_fault_dies_natively():
    """A fault that is not an overflow (a write through NULL in the main thread's code)
    still dies of SIGSEGV, with no overflow message."""
    code = "import ctypes; ctypes.string_at(0)"
    env = child_env("greened")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == -11, r.stderr
    assert "overflowed" not in r.stderr


def deadlock_report(how):
    """The stderr of diag_deadlock HOW greened, killed after its report."""
    argv = ["timeout", "-s", "KILL", "3", str(prog_path("diag_deadlock")), how]
    r = subprocess.run(argv, env=child_env("greened"), capture_output=True, text=True, timeout=30)
    return r.stderr


def test_deadlock_report_names_holders_and_the_cycle():
    err = deadlock_report("cycle")
    assert re.search(r'thread 2 "alice": locking mutex (0x[0-9a-f]+), held by thread 3 "bob"', err), err
    assert re.search(r'thread 3 "bob": locking mutex (0x[0-9a-f]+), held by thread 2 "alice"', err), err
    assert re.search(r'thread 1 \(main\): pthread_join\(thread 2\) "alice"', err), err
    cycle = re.findall(r'deadlock cycle: thread 2 "alice" waits for mutex 0x[0-9a-f]+ held by thread 3 "bob", '
                       r'which waits for mutex 0x[0-9a-f]+ held by thread 2 "alice"', err)
    assert len(cycle) == 1, err


def test_deadlock_report_main_holds_what_its_joinee_needs():
    err = deadlock_report("held")
    assert re.search(r'thread 2 "waiter": locking mutex 0x[0-9a-f]+, held by thread 1 \(main\)', err), err
    assert re.search(r'deadlock cycle: thread 1 \(main\) joins thread 2 "waiter", which waits for mutex '
                     r'0x[0-9a-f]+ held by thread 1 \(main\)', err), err


def test_deadlock_report_rwlock_semaphore_condition():
    err = deadlock_report("rwlock")
    assert re.search(r'"reader": locking rwlock 0x[0-9a-f]+ for read, held by thread 2 "writer"', err), err
    assert re.search(r'"writer": waiting on semaphore 0x[0-9a-f]+: no thread is left to post it', err), err
    assert re.search(r'"cond-waiter": waiting on condition 0x[0-9a-f]+: no thread is left to signal it', err), err
    assert "deadlock cycle" not in err, err


# ---------------------------------------------------------------------------------------------
# green ps / green top

LINE = re.compile(r"^\s*(\d+)  (.{16}) (\S+)\s+(\S+)  (.*)$")


def green(*args, timeout=30):
    return subprocess.run([str(GREEN_LAUNCHER), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=child_env("native"))


def ps_threads(pid):
    r = green("ps", pid)
    assert r.returncode == 0, r.stderr
    rows = {}
    for line in r.stdout.splitlines()[2:-1]:
        m = LINE.match(line)
        assert m, line
        rows[int(m.group(1))] = (m.group(2).strip(), m.group(3), m.group(5))
    return r.stdout, rows


def test_green_ps_lists_2000_parked_threads():
    """Every thread of a C server with 2,000 parked threads, each in the state and wait its
    number gives it; the program's descriptors and OS threads are the same before and after."""
    n = 2000
    raise_nofile_limit()
    p = start_prog("diag_parked", [n], "greened", stdin=subprocess.PIPE)
    p.expect_line(r"ready$")
    fds, os_threads = open_fd_count(p.pid), thread_count(p.pid)
    out, rows = ps_threads(p.pid)
    assert out.startswith(f"process {p.pid} (diag_parked): {n + 1} green threads"), out[:200]
    assert len(rows) == n + 1
    assert rows[1][0] == "(main)" and rows[1][1] == "parked" and rows[1][2] == "read fd 0", rows[1]
    expected = [r"read fd \d+$", r"mutex 0x[0-9a-f]+, held by thread 1 \(main\)$", r"sleep \(deadline in ",
                r"cond 0x[0-9a-f]+$", r"rwlock 0x[0-9a-f]+ for read, held by thread 1 \(main\)$",
                r"rwlock 0x[0-9a-f]+ for write, read-held by 1 green thread$"]
    for i in range(n):
        name, state, waits = rows[i + 2]
        assert name == f"w-{i}" and state == "parked", rows[i + 2]
        assert re.match(expected[i % 6], waits), rows[i + 2]
    assert re.search(r"^switches=\d+ hub_waits=\d+ offloaded=\d+ green_threads_created=2000 peak_green=2001 "
                     r"stack_mapped_kib=\d+", out, re.MULTILINE), out[-300:]
    assert (open_fd_count(p.pid), thread_count(p.pid)) == (fds, os_threads)
    p.popen.stdin.close()
    p.wait()
    assert p.returncode == 0, p.describe()


def test_green_ps_names_an_offloaded_call():
    """A read of a file that must wait for the disk runs on an offload worker (here it never
    ends: its buffer is a userfaultfd page nobody serves); `green ps` names the call and its
    fd, and the reading thread is parked."""
    build = prog_path("diag_parked").parent
    p = start_prog("diag_parked", [2, "offload", build], "greened", stdin=subprocess.PIPE)
    first = p.expect_line(r"(reading (\d+)|unevictable)$")
    if first.group(1) == "unevictable":
        p.wait()
        pytest.skip(f"{build}'s file system keeps every page in memory")
    fd = first.group(2)
    p.expect_line(r"ready$")
    deadline = time.monotonic() + 10
    while True:
        _, rows = ps_threads(p.pid)
        reader = [r for r in rows.values() if r[0] == "reader"]
        if reader and reader[0][1] == "parked" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert reader and reader[0][1:] == ("parked", f"pread fd {fd} (offloaded to a worker thread)"), rows
    p.popen.stdin.close()
    p.wait()
    assert p.returncode == 0, p.describe()


def test_green_ps_shows_the_running_spinner_and_top_refreshes():
    p = start_prog("diag_parked", [4, "spin"], "greened", stdin=subprocess.PIPE)
    p.expect_line(r"ready$")
    _, rows = ps_threads(p.pid)
    spinner = [r for r in rows.values() if r[0] == "spinner"]
    assert spinner and spinner[0][1] in ("running", "runnable"), rows
    top = green("top", "-n", 2, p.pid)
    assert top.returncode == 0 and top.stdout.count("\x1b[H\x1b[2J") == 2, top.stderr
    assert "switches_per_s=" in top.stdout
    p.popen.stdin.close()
    p.wait()


def test_green_ps_time_parked():
    """The FOR column: a thread parked for about a second shows about a second, though a
    park reads no clock (it copies the scheduler's last look at it)."""
    p = start_prog("diag_parked", [4], "greened", stdin=subprocess.PIPE)
    p.expect_line(r"ready$")
    time.sleep(1.5)
    out, rows = ps_threads(p.pid)
    for i in range(4):
        line = next(line for line in out.splitlines() if re.match(rf"\s+{i + 2}\s", line))
        seconds = float(re.search(r"parked\s+([\d.]+)s", line).group(1))
        assert 1.3 <= seconds <= 5, line
    p.popen.stdin.close()
    p.wait()


def test_green_ps_lines_are_one_moment_of_a_busy_program():
    """On two threads passing a turn back and forth millions of times a second, every line
    is one moment of its thread: a parked one names what it waits on, a running or runnable
    one shows no wait and no time, or the line says the thread switched too fast to read."""
    p = start_prog("bench_mutex", [30_000_000], "greened")
    time.sleep(0.3)
    seen = 0
    for _ in range(20):
        r = green("ps", p.pid)
        if r.returncode != 0:
            break
        for line in r.stdout.splitlines()[2:-1]:
            m = LINE.match(line)
            assert m, line
            state, wait_text = m.group(3), m.group(5)
            if "switching too fast" in wait_text:
                continue
            assert (state == "parked") == (wait_text != ""), line
            seen += 1
    assert seen > 0
    p.popen.kill()
    p.wait()


def test_prctl_names_as_natively():
    """prctl(PR_SET_NAME) names the calling green thread (read back with PR_GET_NAME and
    pthread_getname_np, cut to 15 bytes, EFAULT for a bad pointer) without renaming the
    process; the main thread renames the process, as natively."""
    native, greened = run_prog("diag_names"), run_prog("diag_names", mode="greened")
    assert native.returncode == 0 and greened.returncode == 0, greened.stderr
    assert "prctl=pr-worker-long- np=pr-worker-long- (0) bad_pointer=-1 errno=14" in native.stdout
    assert greened.stdout == native.stdout


def test_green_ps_shows_a_prctl_name():
    p = start_prog("diag_names", ["park"], "greened", stdin=subprocess.PIPE)
    p.expect_line(r"ready$")
    _, rows = ps_threads(p.pid)
    assert rows[2][0] == "pr-parked" and rows[2][1] == "parked", rows
    p.popen.stdin.close()
    p.wait()


def test_green_ps_refuses_what_it_cannot_read():
    p = start_prog("diag_parked", [2], "native", stdin=subprocess.PIPE)
    p.expect_line(r"ready$")
    r = green("ps", p.pid)
    assert r.returncode == 1 and "does not run libgreen" in r.stderr, r.stderr
    p.popen.stdin.close()
    p.wait()
    r = green("ps", 999999999)
    assert r.returncode == 1 and "no process" in r.stderr, r.stderr


def test_green_ps_on_a_threading_http_server_under_load():
    """A greened ThreadingHTTPServer (shim-tests/py/http_periodic.py) with 50 requests in
    flight: every handler thread, the ticker and the main thread are listed, parked."""
    requests = 50
    argv = [GREEN_LAUNCHER, sys.executable, PY_DIR / "http_periodic.py", "--requests", requests, "--hold", 3]
    with Script(argv, child_env("native"), timeout=60) as server:
        port = int(server.expect_line(r"PORT (\d+)$").group(1))

        def fetch(i):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=40)
            conn.request("GET", f"/req/{i}")
            conn.getresponse().read()
            conn.close()

        clients = [threading.Thread(target=fetch, args=(i,)) for i in range(requests)]
        for t in clients:
            t.start()
        time.sleep(1.5)
        out, rows = ps_threads(server.pid)
        for t in clients:
            t.join(timeout=50)
        assert server.wait(timeout=20) == 0, server.describe()
    assert len(rows) >= requests + 2, out
    parked = [r for r in rows.values() if r[1] == "parked"]
    assert len(parked) >= requests, out
    assert rows[1][0] == "(main)", out


# ---------------------------------------------------------------------------------------------
# GREEN_STATS=1

def test_green_stats_extras():
    code = ("import socket, threading\n"
            "def work():\n"
            "    for _ in range(5): socket.getaddrinfo('localhost', 80)\n"
            "ts = [threading.Thread(target=work, name='resolver') for _ in range(4)]\n"
            "[t.start() for t in ts]; [t.join() for t in ts]\n")
    env = child_env("greened", {"GREEN_STATS": "1"})
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.startswith("libgreen: stats ")]
    assert lines[-1].startswith("libgreen: stats green_threads="), r.stderr
    text = "\n".join(lines)
    assert re.search(r"^libgreen: stats waits:( \w+=\d+)+", text, re.MULTILINE), text
    m = re.search(r"offloaded_calls=(\d+) p50=(\d+)us p90=(\d+)us p99=(\d+)us max=(\d+)us", text)
    assert m and int(m.group(1)) >= 1, text
    p50, p90, p99, top = map(int, m.groups()[1:])
    assert p50 <= p90 <= p99 <= top, text
    assert re.search(r"longest_run=\d+us thread=\d+ .*peak_green=5 peak_stack_kib=\d+", text), text


@pytest.mark.parametrize("ended_kib, live_kib", [(300, 40), (40, 500)])
def test_green_stats_deepest_stack(ended_kib, live_kib):
    """deepest_stack_kib, what a user reads to choose GREEN_STACK_SIZE: the deepest use of a
    thread that ended and of one still alive at exit both count, to the page."""
    r = run_prog("stack_depth", [str(ended_kib), str(live_kib)], "greened", env={"GREEN_STATS": "1"})
    assert r.returncode == 0 and r.stdout == "done\n", r.describe()
    m = re.search(r"deepest_stack_kib=(\d+)", r.stderr)
    assert m, r.stderr
    deepest = max(ended_kib, live_kib)
    # The frames of the thread's start and of fill() add a page or two, never 16 KiB.
    assert deepest <= int(m.group(1)) <= deepest + 16, r.stderr
