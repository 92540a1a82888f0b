"""Plain threaded Python programs (shim-tests/py) greened: CPython's threading primitives,
queue and concurrent.futures give the native results on green threads, and
thread-per-connection servers built from the standard library (socketserver,
http.server) hold hundreds of connections on one OS thread."""

import http.client
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import (GREEN_LAUNCHER, child_env, green_stats, open_fd_count, parse_kv,
                      raise_nofile_limit, start_prog, thread_count)

PY_DIR = Path(__file__).parent / "py"


class Script:
    """A Python script running as a child in its own process group, stdout lines queued with their
    arrival time, stderr collected, killed with its group if it outlives `timeout` or the
    test."""

    def __init__(self, argv, env, timeout):
        self.argv = [str(a) for a in argv]
        self.timeout = timeout
        self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      env=env, start_new_session=True)
        self.pid = self.popen.pid
        self.lines = queue.Queue()
        self.out, self.err = [], []
        self.timed_out = False
        self._watchdog = threading.Timer(timeout, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()
        self._drains = [threading.Thread(target=self._drain_out, daemon=True),
                        threading.Thread(target=self._drain_err, daemon=True)]
        for t in self._drains:
            t.start()

    def _expire(self):
        self.timed_out = True
        self.kill()

    def _drain_out(self):
        for raw in iter(self.popen.stdout.readline, b""):
            line = raw.decode(errors="replace")
            self.out.append(line)
            self.lines.put((time.monotonic(), line))
        self.lines.put((time.monotonic(), None))

    def _drain_err(self):
        for raw in iter(self.popen.stderr.readline, b""):
            self.err.append(raw.decode(errors="replace"))

    def describe(self):
        killed = f" [killed after {self.timeout} s]" if self.timed_out else ""
        return (f"\n  command: {' '.join(self.argv)}{killed}, exit {self.popen.returncode}"
                f"\n  stdout: {''.join(self.out)[-3000:]!r}"
                f"\n  stderr: {''.join(self.err)[-3000:]!r}")

    def expect_line(self, pattern, timeout=20):
        """Consumes stdout lines until one matches `pattern` (re.match); returns the match."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                _, line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no line matching {pattern!r} within {timeout} s" + self.describe(),
                            pytrace=False)
            if line is None:
                self.lines.put((time.monotonic(), None))
                pytest.fail(f"stdout closed before a line matching {pattern!r}"
                            + self.describe(), pytrace=False)
            m = re.match(pattern, line)
            if m:
                return m

    def wait(self, timeout):
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"did not exit within {timeout} s" + self.describe(), pytrace=False)
        self._watchdog.cancel()
        for t in self._drains:
            t.join(timeout=10)
        return self.popen.returncode

    def kill(self):
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.popen.wait()
        self._watchdog.cancel()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        return False


# ---------------------------------------------------------------------------------------------
# threading, queue and concurrent.futures: the same output natively and greened.

SEMANTICS_EXPECTED = """\
lock: acquire True locked True
lock: try while held False
lock: timed acquire while held False waited about 0.2 s True
lock: acquire after another thread released it True
lock: release of an unlocked lock: RuntimeError
lock: counter 20000
rlock: re-entered 3 times, count 3
rlock: other thread try False timed False True
rlock: release by a thread that does not own it: RuntimeError
rlock: release once too often: RuntimeError
rlock: other thread after full release [True]
rlock: counter 4000
condition: notify(1) woke someone True
condition: woken after notify(1): 1
condition: woken after notify_all: 3
condition: wait timeout returns False about 0.2 s True
condition: wait_for timeout returns False about 0.2 s True
condition: wait_for satisfied by another thread True
condition: notify without the lock: RuntimeError
condition: ping-pong moves 1000
semaphore(3): at most inside at once 3
semaphore(0): try False
semaphore(0): timed acquire False about 0.2 s True
semaphore: release(2) let through 2
semaphore: after release(2) again [0, 1, 2, 3]
bounded semaphore: over-release: ValueError
bounded semaphore: third acquire False
event: initially False
event: wait timeout returns False about 0.2 s True
event: waiters through before set 0
event: waiters through after set [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
event: wait on a set event True at once True
event: after clear False False
barrier: parties 4 waiting 0
barrier: 3 generations, indices [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3] actions [0, 1, 2]
barrier: waiting before abort 2
barrier: abort -> ['BrokenBarrierError', 'BrokenBarrierError'] broken True
barrier: wait on a broken barrier: BrokenBarrierError
barrier: after reset broken False
barrier: lone wait with timeout: BrokenBarrierError about 0.2 s True broken True
barrier: raising action -> ['BrokenBarrierError', 'KeyError']
timer: fired 1 times with ((1, 2), {'k': 'v'}) after about 0.2 s True
timer: cancelled one fired 0 times; alive False
local: a new thread sees the main thread's attribute False
local: subclass __init__ ran per thread with [100]
local: threads that saw another thread's value []
local: main keeps main 101
queue: join returned with 2000 items consumed, unfinished 0
queue: every item exactly once True duplicates 0
queue: each producer's items in order True
queue: get timeout on empty: Empty about 0.2 s True
queue: put timeout on full: Full about 0.2 s True
queue: blocked get woken by put: late
queue: priority order [1, 2, 3, 4, 5]
pool: all requests arrived before any echo True
pool: no task done while the server holds the echoes True
pool: results 20 all verified True bytes 1310720
pool: in submission order True
pool: map [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
pool: exception carried to result(): ZeroDivisionError
threads alive at the end 1
done
"""

THREADS_LINE = re.compile(r"^threads_while_blocked=(\d+)$", re.MULTILINE)


def _run_semantics(mode):
    proc = subprocess.run([sys.executable, str(PY_DIR / "threading_semantics.py")],
                          env=child_env(mode), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60)
    info = (f"\n  mode: {mode}, exit {proc.returncode}"
            f"\n  stdout: {proc.stdout[-4000:]!r}\n  stderr: {proc.stderr[-3000:]!r}")
    assert proc.returncode == 0, "threading_semantics.py failed" + info
    counts = THREADS_LINE.findall(proc.stdout)
    assert len(counts) == 1, info
    facts = "".join(line for line in proc.stdout.splitlines(keepends=True)
                    if not line.startswith("threads_while_blocked="))
    return facts, int(counts[0]), info


def test_threading_primitives_greened_print_what_native_prints():
    """Lock, RLock (re-entry; release by a non-owner and over-release raise RuntimeError),
    Condition (notify(1) wakes exactly one of three waiters, notify_all the rest, wait and
    wait_for time out after ~0.2 s), Semaphore (never more than 3 inside; release(2) lets
    exactly two through), BoundedSemaphore (over-release ValueError), Event, Barrier (indices,
    action once per generation, abort/timeout/raising action -> BrokenBarrierError), Timer
    (fires once with its arguments; a cancelled one never fires), threading.local (values
    per thread, subclass __init__ per thread), queue.Queue (4 producers x 500 items to 3
    consumers, each item exactly once, join/task_done, Empty/Full timeouts), and a
    ThreadPoolExecutor whose 20 tasks echo 64 KiB each through a thread-per-connection server
    in the same process. Every printed fact is checked against the expected text natively,
    and the greened output must be the native output verbatim. While 20 pool workers are
    blocked in recv and 20 handlers in Event.wait the native process has 41 OS threads and
    the greened one exactly 1."""
    native, native_threads, native_info = _run_semantics("native")
    assert native == SEMANTICS_EXPECTED, native_info
    # main + 20 pool workers + 20 handlers (+ the acceptor if it has not ended yet).
    assert native_threads >= 41, native_info
    greened, greened_threads, greened_info = _run_semantics("greened")
    assert greened == native, native_info + greened_info
    assert greened_threads == 1, greened_info


# ---------------------------------------------------------------------------------------------
# socketserver.ThreadingTCPServer with 500 concurrent connections.

TCP_CONNS = 500
TCP_REQUESTS = 6
TCP_SIZE = 1000


def test_threading_tcp_server_500_connections(mode):
    """shim-tests/py/threading_server.py (a socketserver.ThreadingTCPServer echo server)
    against load_client with 500 connections, all connected at once and held for a second,
    each then doing 6 round trips of 1000 bytes verified byte for byte (the bytes depend on
    the connection and the request number, so a cross-wired echo fails). The server reports
    500 handlers active at once; natively that is 500+ OS threads, greened exactly one, both
    as the server reads it itself at that moment and as sampled from outside while it holds
    every connection."""
    limit = raise_nofile_limit()
    assert limit >= TCP_CONNS + 100, f"RLIMIT_NOFILE hard limit {limit} is too low"
    argv = [sys.executable, PY_DIR / "threading_server.py", "--port", 0,
            "--max-conns", TCP_CONNS]
    with Script(argv, child_env(mode), timeout=90) as server:
        port = int(server.expect_line(r"PORT (\d+)$").group(1))
        client = start_prog("load_client",
                            ["--port", port, "--conns", TCP_CONNS, "--requests", TCP_REQUESTS,
                             "--size", TCP_SIZE, "--hold-ms", 1000, "--timeout", 60],
                            "native", timeout=80)
        with client:
            samples = []
            while client.poll() is None:
                threads, fds = thread_count(server.pid), open_fd_count(server.pid)
                if threads is not None and fds is not None:
                    samples.append((threads, fds))
                time.sleep(0.05)
            client_rc = client.wait()
        assert client_rc == 0, "load client failed" + client.describe() + server.describe()
        server_rc = server.wait(timeout=30)

    report = json.loads(client.stdout.strip().splitlines()[-1])
    assert report["connected"] == TCP_CONNS, report
    assert report["errors"] == 0 and report["mismatches"] == 0, report
    assert report["requests"] == TCP_CONNS * TCP_REQUESTS, report
    assert report["bytes_verified"] == TCP_CONNS * TCP_REQUESTS * TCP_SIZE, report

    assert server_rc == 0, server.describe()
    out = "".join(server.out)
    active = re.search(r"^ACTIVE (\d+) threads=(\d+)$", out, re.MULTILINE)
    served = re.search(r"^SERVED .*$", out, re.MULTILINE)
    assert active and served, server.describe()
    assert int(active.group(1)) == TCP_CONNS, server.describe()
    assert parse_kv(served.group(0)) == {
        "conns": TCP_CONNS, "bytes": TCP_CONNS * TCP_REQUESTS * TCP_SIZE,
        "peak_active": TCP_CONNS}, server.describe()

    inside = int(active.group(2))
    during_hold = [threads for threads, fds in samples if fds >= TCP_CONNS]
    assert during_hold, f"no sample with {TCP_CONNS} connections open: {samples[-20:]}"
    if mode == "greened":
        assert inside == 1, server.describe()
        assert max(t for t, _ in samples) == 1, f"greened server OS threads: {samples}"
    else:
        assert inside > TCP_CONNS, server.describe()
        assert max(during_hold) > TCP_CONNS, f"native server threads: {during_hold}"


# ---------------------------------------------------------------------------------------------
# A ticking daemon with an http.server.ThreadingHTTPServer, under the launcher.

HTTP_REQUESTS = 200
HTTP_HOLD_S = 0.5


def _expected_body(i):
    return (f"response to request {i}\n" * 50).encode()


def test_http_daemon_ticks_while_serving_200_requests(mode):
    """shim-tests/py/http_periodic.py, unmodified: a thread ticking every 100 ms and a
    ThreadingHTTPServer. 200 clients (threads of this test) each GET /req/<i>; the handlers
    meet at a Barrier(200), so all 200 requests are in flight at once, then each sleeps
    0.5 s before answering. Every answer must be 200 with its own body; the ticks must keep
    coming meanwhile (at least 3 inside the burst, which lasts at least 0.5 s, both as the
    script counts them and as tick lines reaching this test while the clients waited; no gap
    between ticks over 1 s); and at the barrier the process has 200+ OS threads natively and,
    greened, one OS thread running every Python thread (plus, at most, libgreen's resolver
    worker that HTTPServer's getfqdn() call started). Greened it runs as
    `green --stats python3 script`, and libgreen's exit line must show the 200 handlers were
    green threads."""
    limit = raise_nofile_limit()
    assert limit >= HTTP_REQUESTS + 100, f"RLIMIT_NOFILE hard limit {limit} is too low"
    script = [sys.executable, PY_DIR / "http_periodic.py", "--requests", HTTP_REQUESTS,
              "--hold", HTTP_HOLD_S]
    if mode == "greened":
        if not GREEN_LAUNCHER.is_file():
            pytest.fail(f"{GREEN_LAUNCHER} is missing: run `make build`", pytrace=False)
        argv = [GREEN_LAUNCHER, "--stats"] + script
    else:
        argv = script
    # The launcher puts libgreen in LD_PRELOAD itself: start from an environment without it.
    with Script(argv, child_env("native"), timeout=60) as server:
        port = int(server.expect_line(r"PORT (\d+)$").group(1))
        server.expect_line(r"tick 1$")

        results = [None] * HTTP_REQUESTS

        def fetch(i):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=40)
                conn.request("GET", f"/req/{i}")
                resp = conn.getresponse()
                results[i] = (resp.status, resp.read())
                conn.close()
            except Exception as exc:  # reported with the others below
                results[i] = ("error", repr(exc))

        burst_start = time.monotonic()
        clients = [threading.Thread(target=fetch, args=(i,)) for i in range(HTTP_REQUESTS)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(timeout=50)
        burst_end = time.monotonic()
        rc = server.wait(timeout=20)

    assert rc == 0, server.describe()
    bad = [(i, r) for i, r in enumerate(results) if r != (200, _expected_body(i))]
    assert not bad, f"{len(bad)} wrong answers, first: {bad[:3]}" + server.describe()

    out = "".join(server.out)
    m = re.search(r"^SUMMARY (.*)$", out, re.MULTILINE)
    assert m, server.describe()
    summary = parse_kv(m.group(1))
    assert summary["answered"] == HTTP_REQUESTS and summary["broken"] == 0, server.describe()
    assert float(summary["burst_s"]) >= HTTP_HOLD_S * 0.95, server.describe()
    assert summary["ticks_in_burst"] >= 3, server.describe()
    assert summary["max_tick_gap_ms"] < 1000, server.describe()

    # Tick lines that reached us while the clients were waiting for their answers.
    ticks_seen = []
    while not server.lines.empty():
        when, line = server.lines.get()
        if line and line.startswith("tick ") and burst_start <= when <= burst_end:
            ticks_seen.append(line)
    assert len(ticks_seen) >= 3, f"tick lines during the burst: {ticks_seen}" + server.describe()

    threads = summary["threads_at_barrier"]
    if mode == "greened":
        stats = green_stats("".join(server.err))
        assert stats is not None, "no libgreen stats line: was it loaded?" + server.describe()
        assert stats["peak_green"] >= HTTP_REQUESTS + 2, server.describe()
        # Every Python thread is a green thread on the hub's OS thread. The one other OS
        # thread allowed is libgreen's name-resolution worker: HTTPServer.server_bind calls
        # socket.getfqdn(), i.e. gethostbyaddr(), which libgreen runs on its offload pool
        # (a real thread, idle for 30 s before it ends). There is at most one worker per
        # offloaded call, and the stats line counts those calls.
        workers = min(stats.get("offloaded", 0), 8)
        assert 1 <= threads <= 1 + workers, (
            f"{threads} OS threads at the barrier, {workers} possible resolver workers"
            + server.describe())
    else:
        assert threads >= HTTP_REQUESTS + 1, server.describe()
