"""Shared fixtures and helpers for the shim tests.

Every test program is a plain blocking C program from shim-tests/c, built to
$GREEN_TEST_BIN/<name>. Tests run it in one or both modes:

  native   as is;
  greened  with LD_PRELOAD=$LIBGREEN, so its threads become green threads.

Every child runs in its own process group under a hard deadline: when the deadline passes
the whole group is killed and the test fails, so a hang fails a test instead of hanging CI.
"""

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

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))

# One parser for the key=value lines the test programs and GREEN_STATS print, one way to
# raise the fd limit: the benchmark harness's.
from harness import parse_green_stats as green_stats  # noqa: E402
from harness import parse_key_values as parse_kv  # noqa: E402
from harness import raise_nofile_limit  # noqa: E402


def _path_from_env(var, default):
    value = os.environ.get(var)
    return Path(value) if value else REPO_ROOT / default


LIBGREEN = _path_from_env("LIBGREEN", "target/release/libgreen.so")
GREEN_LAUNCHER = _path_from_env("GREEN_LAUNCHER", "target/release/green")
TEST_BIN = _path_from_env("GREEN_TEST_BIN", "build/bin")

MODES = ("native", "greened")
DEFAULT_TIMEOUT = 60


@pytest.fixture(params=MODES)
def mode(request):
    """Runs the test once natively and once greened (test ids ...[native] / ...[greened])."""
    return request.param


def prog_path(name):
    path = TEST_BIN / name
    if not path.is_file():
        pytest.fail(f"test program {path} is missing: run `make progs`", pytrace=False)
    return path


def child_env(mode, env=None):
    """The environment for a child in `mode`; `env` entries are added on top."""
    result = dict(os.environ)
    # Never let a preload from the outer environment leak into a native run.
    result.pop("LD_PRELOAD", None)
    if env:
        result.update(env)
    if mode == "greened":
        if not LIBGREEN.is_file():
            pytest.fail(
                f"greened mode needs {LIBGREEN}, which is missing: run `make build` "
                "(or set LIBGREEN)",
                pytrace=False,
            )
        result["LD_PRELOAD"] = str(LIBGREEN)
    elif mode != "native":
        raise ValueError(f"unknown mode {mode!r}")
    return result


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# Every Proc started by the running test; the autouse fixture below kills what is left.
_live_procs = []


class Proc:
    """A running test program.

    stdout and stderr are drained continuously by threads (so a chatty child never blocks on
    a full pipe); stdout lines can be consumed one at a time with readline()/expect_line(),
    and the complete output is available after wait(). A watchdog kills the process group
    when `timeout` seconds have passed since the start.
    """

    def __init__(self, name, args=(), mode="native", stdin=None, timeout=DEFAULT_TIMEOUT,
                 env=None):
        self.name = name
        self.mode = mode
        self.argv = [str(prog_path(name))] + [str(a) for a in args]
        self.timeout = timeout
        self.timed_out = False
        input_bytes = None
        if isinstance(stdin, str):
            stdin = stdin.encode()
        if isinstance(stdin, bytes):
            input_bytes, stdin = stdin, subprocess.PIPE
        elif stdin is None:
            stdin = subprocess.DEVNULL  # never let a child read the test runner's stdin
        self.started = time.monotonic()
        self.popen = subprocess.Popen(
            self.argv,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(mode, env),
            start_new_session=True,
        )
        self.pid = self.popen.pid
        _live_procs.append(self)
        self._watchdog = threading.Timer(timeout, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()
        self._lines = queue.Queue()
        self._out = []
        self._err = []
        self._threads = [
            threading.Thread(target=self._drain, args=(self.popen.stdout, self._out, True),
                             daemon=True),
            threading.Thread(target=self._drain, args=(self.popen.stderr, self._err, False),
                             daemon=True),
        ]
        if input_bytes is not None:
            self._threads.append(threading.Thread(target=self._feed, args=(input_bytes,),
                                                  daemon=True))
        for t in self._threads:
            t.start()

    def _expire(self):
        if self.popen.poll() is None:
            self.timed_out = True
            _kill_group(self.pid)

    def _drain(self, pipe, chunks, queue_lines):
        for line in iter(pipe.readline, b""):
            chunks.append(line)
            if queue_lines:
                self._lines.put(line.decode(errors="replace"))
        pipe.close()
        if queue_lines:
            self._lines.put(None)  # EOF marker

    def _feed(self, data):
        try:
            self.popen.stdin.write(data)
            self.popen.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def describe(self):
        """Command line and output so far, for failure messages."""
        killed = f" [killed: hard timeout of {self.timeout} s]" if self.timed_out else ""
        return (f"\n  command: {' '.join(self.argv)} ({self.mode}){killed}"
                f"\n  stdout: {b''.join(self._out).decode(errors='replace')[-3000:]!r}"
                f"\n  stderr: {b''.join(self._err).decode(errors='replace')[-3000:]!r}")

    def _remaining(self):
        return self.started + self.timeout - time.monotonic()

    def readline(self, timeout=10):
        """Next stdout line (with its newline), or "" at EOF. Fails the test on timeout."""
        timeout = max(0.0, min(timeout, self._remaining() + 1))
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no stdout line from {self.name} within {timeout:.1f} s"
                        + self.describe(), pytrace=False)
        if line is None:
            self._lines.put(None)  # keep reporting EOF
            return ""
        return line

    def expect_line(self, pattern, timeout=10):
        """Consumes stdout lines until one matches `pattern` (re.match); returns the match."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.readline(max(0.0, deadline - time.monotonic()))
            if line == "":
                pytest.fail(f"{self.name} closed stdout before printing a line matching "
                            f"{pattern!r}" + self.describe(), pytrace=False)
            m = re.match(pattern, line)
            if m:
                return m

    def poll(self):
        return self.popen.poll()

    def wait(self, timeout=None):
        """Waits for exit (at most `timeout` s, and never past the hard deadline); returns the
        exit status. On timeout the process group is killed and the test fails."""
        limit = self._remaining() if timeout is None else min(timeout, self._remaining())
        try:
            self.popen.wait(timeout=max(0.0, limit))
        except subprocess.TimeoutExpired:
            self.timed_out = True
            _kill_group(self.pid)
            self.popen.wait()
        self._watchdog.cancel()
        for t in self._threads:
            t.join(timeout=10)
        if self.timed_out:
            pytest.fail(f"{self.name} did not finish in time and was killed" + self.describe(),
                        pytrace=False)
        return self.popen.returncode

    def kill(self):
        if self.popen.poll() is None:
            _kill_group(self.pid)
        self.popen.wait()
        self._watchdog.cancel()

    @property
    def returncode(self):
        return self.popen.returncode

    @property
    def stdout(self):
        return b"".join(self._out).decode(errors="replace")

    @property
    def stderr(self):
        return b"".join(self._err).decode(errors="replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        return False


@pytest.fixture(autouse=True)
def _kill_leftover_procs():
    """Whatever a test started and did not wait for dies with the test."""
    yield
    while _live_procs:
        _live_procs.pop().kill()


def start_prog(name, args=(), mode="native", stdin=None, timeout=DEFAULT_TIMEOUT, env=None):
    """Starts test program `name` in `mode` and returns its Proc without waiting.

    stdin: None (/dev/null), bytes/str (written, then closed), or anything Popen accepts
    (a file descriptor, a file object, subprocess.PIPE)."""
    return Proc(name, args, mode=mode, stdin=stdin, timeout=timeout, env=env)


class Result:
    def __init__(self, proc, elapsed):
        self.argv = proc.argv
        self.mode = proc.mode
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.elapsed = elapsed  # seconds, as seen by the test

    def describe(self):
        return (f"\n  command: {' '.join(self.argv)} ({self.mode}), exit {self.returncode}"
                f"\n  stdout: {self.stdout[-3000:]!r}\n  stderr: {self.stderr[-3000:]!r}")


def run_prog(name, args=(), mode="native", stdin=None, timeout=DEFAULT_TIMEOUT, env=None):
    """Runs test program `name` to completion in `mode`; returns a Result with returncode,
    stdout, stderr (text) and elapsed (s). A run longer than `timeout` s is killed (with its
    whole process group) and fails the test."""
    proc = start_prog(name, args, mode=mode, stdin=stdin, timeout=timeout, env=env)
    proc.wait()
    return Result(proc, time.monotonic() - proc.started)


def assert_ok(result):
    """Asserts a clean exit, showing the program's output if not."""
    assert result.returncode == 0, "program failed" + result.describe()
    return result


def thread_count(pid):
    """Threads of process `pid` per /proc/<pid>/status, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def open_fd_count(pid):
    """Open file descriptors of process `pid` (entries of /proc/<pid>/fd), or None if it is
    gone."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return None
