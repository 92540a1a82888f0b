"""Plumbing shared by scripts/bench.py and scripts/demo.py.

Starts an echo server and reads its PORT line, samples its OS thread count and memory
high-water mark from /proc, reaps it with os.wait4 for its CPU time, drives it with
build/bin/load_client and parses both the client's JSON line and the libgreen stats line.

Peak RSS is VmHWM from /proc/<pid>/status, not wait4's ru_maxrss: the kernel carries the
high-water mark across exec, and a child forked from this Python process starts out with
Python's resident pages, so ru_maxrss would report Python's size (~15 MiB) for a server
that never uses more than 2.

Paths come from the environment the Makefile exports (LIBGREEN, GREEN_LAUNCHER,
GREEN_TEST_BIN), falling back to the default build locations under the repository root.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import resource
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIBGREEN = Path(os.environ.get("LIBGREEN") or ROOT / "target/release/libgreen.so")
LAUNCHER = Path(os.environ.get("GREEN_LAUNCHER") or ROOT / "target/release/green")
BIN = Path(os.environ.get("GREEN_TEST_BIN") or ROOT / "build/bin")

THREAD_SAMPLE_INTERVAL_S = 0.1
SERVER_START_TIMEOUT_S = 10.0
# Once the client has closed every connection a healthy server exits within milliseconds.
SERVER_EXIT_TIMEOUT_S = 30.0
# After a failed client the server is usually still waiting for connections that will never
# come; no point waiting long for it.
SERVER_EXIT_TIMEOUT_AFTER_CLIENT_FAILURE_S = 5.0
# Slack on top of the client's own --timeout before the client itself is killed.
CLIENT_KILL_SLACK_S = 15.0


class HarnessError(Exception):
    """A run could not be carried out or did not verify; the message says why."""


def raise_nofile_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit, for this process and every child (which
    inherit it), so they can hold thousands of sockets. Returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def pinned(cpu: int) -> list[str]:
    """Command prefix running a program on one CPU, or nothing where that is impossible
    (no taskset, or no such CPU): the numbers are then less clean but still produced."""
    if shutil.which("taskset") and cpu in os.sched_getaffinity(0):
        return ["taskset", "-c", str(cpu)]
    return []


def greened(stats: bool = True) -> list[str]:
    """Command prefix running a program with libgreen preloaded. `env` execs the program,
    so the program keeps the pid it was started with and nothing else gets the library."""
    require(LIBGREEN, "libgreen.so (run `make build`)")
    preload = ":".join(filter(None, [str(LIBGREEN), os.environ.get("LD_PRELOAD")]))
    prefix = ["env", f"LD_PRELOAD={preload}"]
    return prefix + (["GREEN_STATS=1"] if stats else [])


def machine_description() -> str:
    """The machine and the time, for a benchmark report's header."""
    uname = subprocess.run(["uname", "-srm"], capture_output=True, text=True).stdout.strip()
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return (f"{uname}; {model}; {os.cpu_count()} cores; "
            f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")


def require(path: Path, what: str) -> None:
    if not path.exists():
        raise HarnessError(f"missing {what}: {path}")


def program(name: str) -> str:
    path = BIN / name
    require(path, f"test program {name} (run `make progs`)")
    return str(path)


def parse_key_values(text: str) -> dict[str, float | int | str]:
    """Every `key=value` token in `text` (later ones win); numbers become int or float."""
    values: dict[str, float | int | str] = {}
    for key, raw in re.findall(r"(\w+)=(\S+)", text):
        for kind in (int, float):
            try:
                values[key] = kind(raw)
                break
            except ValueError:
                pass
        else:
            values[key] = raw
    return values


def parse_green_stats(stderr: str) -> dict[str, float | int | str] | None:
    """The `libgreen: stats k=v ...` line a greened process prints at exit (the last one
    if there are several), or None."""
    lines = [line for line in stderr.splitlines() if line.startswith("libgreen: stats ")]
    return parse_key_values(lines[-1][len("libgreen: stats "):]) if lines else None


def tail(text: str, lines: int = 5) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


@dataclass
class ServerResult:
    exit_code: int            # negative: killed by that signal
    killed_after_timeout: bool
    stdout: str               # everything after the PORT line
    stderr: str
    cpu_s: float              # user + system
    peak_rss_mib: float       # last VmHWM sampled
    peak_threads: int         # highest /proc Threads: value sampled
    served: dict              # the SERVED line, parsed ({} if none)
    green_stats: dict | None  # the libgreen stats line, parsed (None if none)


class Server:
    """A server process that prints `PORT <n>` on stdout once it listens.

    Use as a context manager: leaving the block kills and reaps a server that is still
    running, so no run leaves a process behind.
    """

    def __init__(self, argv: list[str], start_timeout: float = SERVER_START_TIMEOUT_S):
        self.argv = argv
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._stderr)
        self.peak_threads = 0
        self.peak_rss_kib = 0
        self._stdout_buf = b""
        self._sampler = threading.Thread(target=self._sample_status, daemon=True)
        self._sampler.start()
        self.port = self._read_port(start_timeout)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.returncode is None:
            self._kill()
            self._reap(killed=True)

    def _sample_status(self) -> None:
        """Until the process exits, track the peak of its kernel thread count and its
        memory high-water mark. Exit is detected with WNOWAIT so the pid stays ours
        (unreaped) while we read its /proc; once it is a zombie its status has no VmHWM
        any more, so the last value seen is kept."""
        status = Path(f"/proc/{self.proc.pid}/status")
        while True:
            try:
                text = status.read_text()
            except OSError:
                text = ""
            threads = re.search(r"^Threads:\s+(\d+)", text, re.M)
            if threads:
                self.peak_threads = max(self.peak_threads, int(threads.group(1)))
            hwm = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
            if hwm:
                self.peak_rss_kib = max(self.peak_rss_kib, int(hwm.group(1)))
            if os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                return
            time.sleep(THREAD_SAMPLE_INTERVAL_S)

    def _read_port(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._stdout_buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self._fail_start(f"no PORT line within {timeout:.0f} s")
            chunk = os.read(fd, 4096)
            if not chunk:
                self._fail_start("exited before printing its PORT line")
            self._stdout_buf += chunk
        line, _, self._stdout_buf = self._stdout_buf.partition(b"\n")
        match = re.fullmatch(rb"PORT (\d+)", line.strip())
        if not match:
            self._fail_start(f"first stdout line is not `PORT <n>`: {line!r}")
        return int(match.group(1))

    def _fail_start(self, why: str) -> None:
        self._kill()
        result = self._reap(killed=True)
        raise HarnessError(f"server {' '.join(self.argv)} failed to start: {why}; "
                           f"exit {result.exit_code}; stderr: {tail(result.stderr)}")

    def _kill(self) -> None:
        try:
            os.kill(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def finish(self, timeout: float) -> ServerResult:
        """Wait up to `timeout` for the server to exit on its own, SIGKILL it otherwise,
        then reap it and collect what it printed and what it cost."""
        self._sampler.join(timeout)
        killed = self._sampler.is_alive()
        if killed:
            self._kill()
        return self._reap(killed)

    def _reap(self, killed: bool) -> ServerResult:
        self._sampler.join()
        _, status, usage = os.wait4(self.proc.pid, 0)
        # Tell Popen the child is gone so it never waits for it again.
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        rest = self._stdout_buf + self.proc.stdout.read()
        self.proc.stdout.close()
        self._stderr.seek(0)
        stderr = self._stderr.read().decode(errors="replace")
        self._stderr.close()
        stdout = rest.decode(errors="replace")
        served = [line for line in stdout.splitlines() if line.startswith("SERVED ")]
        return ServerResult(
            exit_code=self.proc.returncode,
            killed_after_timeout=killed,
            stdout=stdout,
            stderr=stderr,
            cpu_s=usage.ru_utime + usage.ru_stime,
            peak_rss_mib=self.peak_rss_kib / 1024,
            peak_threads=self.peak_threads,
            served=parse_key_values(served[-1][len("SERVED "):]) if served else {},
            green_stats=parse_green_stats(stderr),
        )


def run_client(port: int, conns: int, *, requests: int | None = None,
               duration: float | None = None, size: int = 128, hold_ms: int = 0,
               cpu: int | None = None, timeout: float = 120.0) -> dict:
    """Run load_client to completion and return its JSON result, plus `exit_code` and
    `reason` (its stderr, which says why when it failed)."""
    argv = (pinned(cpu) if cpu is not None else []) + [
        program("load_client"), "--port", str(port), "--conns", str(conns),
        "--size", str(size), "--hold-ms", str(hold_ms), "--timeout", str(timeout)]
    argv += ["--requests", str(requests)] if requests else ["--duration", str(duration)]
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout + CLIENT_KILL_SLACK_S)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"load_client ignored its own --timeout {timeout} s and was killed")
    lines = proc.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise HarnessError(f"load_client printed no JSON line (exit {proc.returncode}); "
                           f"stderr: {tail(proc.stderr)}")
    result["exit_code"] = proc.returncode
    result["reason"] = proc.stderr.strip()
    return result


@dataclass
class EchoRun:
    client: dict | None
    server: ServerResult | None
    failure: str | None       # None: the run verified end to end

    @property
    def cpu_us_per_request(self) -> float:
        return self.server.cpu_s * 1e6 / self.client["requests"]


def run_echo(server_argv: list[str], conns: int, *, expect_green_stats: bool,
             **client_args) -> EchoRun:
    """Start an echo server built to stop after `conns` connections, load it with
    load_client, let it exit and cross-check both sides. Never raises for a failed run:
    the failure is in the result, so a benchmark can carry on and report it."""
    try:
        with Server(server_argv) as server:
            try:
                client = run_client(server.port, conns, **client_args)
            except HarnessError as err:
                server.finish(SERVER_EXIT_TIMEOUT_AFTER_CLIENT_FAILURE_S)
                return EchoRun(None, None, str(err))
            client_ok = client["exit_code"] == 0
            result = server.finish(SERVER_EXIT_TIMEOUT_S if client_ok
                                   else SERVER_EXIT_TIMEOUT_AFTER_CLIENT_FAILURE_S)
    except HarnessError as err:
        return EchoRun(None, None, str(err))
    return EchoRun(client, result, echo_failure(client, result, conns, expect_green_stats))


def echo_failure(client: dict, server: ServerResult, conns: int,
                 expect_green_stats: bool) -> str | None:
    """Why a finished echo run does not count, or None if it verified."""
    if client["exit_code"] != 0 or client["errors"] or client["mismatches"]:
        return (f"client: exit {client['exit_code']}, {client['errors']} errors, "
                f"{client['mismatches']} mismatches: {client['reason']}; server: exit "
                f"{server.exit_code}, stderr: {tail(server.stderr)}")
    if server.killed_after_timeout:
        return f"server hung after the client finished; killed. stderr: {tail(server.stderr)}"
    if server.exit_code != 0:
        return f"server exit {server.exit_code}; stderr: {tail(server.stderr)}"
    if server.served.get("conns") != conns or server.served.get("bytes") != client["bytes_verified"]:
        return (f"server SERVED line {server.served} disagrees with the client "
                f"({conns} conns, {client['bytes_verified']} bytes verified)")
    if expect_green_stats and server.green_stats is None:
        return ("no `libgreen: stats` line on the server's stderr: was libgreen loaded? "
                f"stderr: {tail(server.stderr)}")
    return None


def run_checked(argv: list[str], timeout: float,
                shown: str | None = None) -> subprocess.CompletedProcess:
    """Run a program to completion; a timeout or a non-zero exit raises HarnessError naming
    it as `shown` (default: its command line)."""
    shown = shown or " ".join(argv)
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"{shown} did not finish within {timeout:.0f} s")
    if proc.returncode != 0:
        raise HarnessError(f"{shown}: exit {proc.returncode}; stderr: {tail(proc.stderr)}")
    return proc


def run_program(argv: list[str], timeout: float,
                expect_green_stats: bool = False) -> dict[str, float | int | str]:
    """Run a micro-benchmark and return the key=value pairs of its stdout."""
    proc = run_checked(argv, timeout)
    if expect_green_stats and parse_green_stats(proc.stderr) is None:
        raise HarnessError(f"{' '.join(argv)}: no `libgreen: stats` line on stderr: "
                           "was libgreen loaded?")
    return parse_key_values(proc.stdout)
