#!/usr/bin/env python3
"""A Python thread-per-connection echo server natively, greened and under gevent, measured.

The server is shim-tests/py/threading_server.py, a socketserver.ThreadingTCPServer echo
server written as any Python programmer writes one. The same file runs three ways:
  - natively (one OS thread per connection, taking turns on the GIL),
  - greened (LD_PRELOAD=libgreen.so: one green thread per connection, one OS thread),
  - under gevent (`python -m gevent.monkey server.py`: monkey.patch_all() before the script
    runs, so its threads are greenlets), with gevent installed from PyPI into a virtual
    environment this script creates (build/venv-gevent) from the same interpreter.
For 100, 1000 and 5000 concurrent connections each takes the same closed-loop load of
128-byte requests from build/bin/load_client for D seconds, the server pinned to CPU 0 and
the client to CPU 1, exactly as scripts/bench.py drives the C servers. Reported: throughput,
p99 latency, server CPU per request, peak RSS (VmHWM) and peak OS threads of the server.

Prints a markdown table; a full run in which every server verified also writes it, with the
machine description, to scripts/BENCH_PYTHON.md. `--quick` is a smoke run (2 s per run,
100 and 1000 connections) that writes nothing unless --output is given. Exits non-zero if
any run failed (client errors or mismatches, a server that did not start, hung or disagreed
with the client).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import HarnessError  # noqa: E402

SERVER_CPU, CLIENT_CPU = 0, 1
REQUEST_SIZE = 128
# Connection set-up of thousands of connections to a slow server, and the last round trips.
CLIENT_TIMEOUT_SLACK_S = 90
SERVER_SCRIPT = harness.ROOT / "shim-tests/py/threading_server.py"
DEFAULT_VENV = harness.ROOT / "build/venv-gevent"
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "BENCH_PYTHON.md"
PIP_TIMEOUT_S = 600


@dataclass(frozen=True)
class Kind:
    label: str
    how: str  # "native", "greened" or "gevent"


KINDS = (
    Kind("ThreadingTCPServer, native", "native"),
    Kind("ThreadingTCPServer, greened", "greened"),
    Kind("ThreadingTCPServer, gevent", "gevent"),
)
BASELINE = KINDS[0]


def log(message: str) -> None:
    print(f"bench_python: {message}", file=sys.stderr, flush=True)


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def gevent_version(python: Path) -> str | None:
    try:
        proc = subprocess.run([str(python), "-c", "import gevent; print(gevent.__version__)"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure_gevent(venv: Path) -> str:
    """A virtual environment of this interpreter with gevent in it; returns gevent's
    version. Creates the environment and installs gevent from PyPI the first time."""
    python = venv_python(venv)
    version = gevent_version(python) if python.exists() else None
    if version:
        return version
    if not python.exists():
        log(f"creating {venv} ({sys.executable} -m venv)")
        proc = subprocess.run([sys.executable, "-m", "venv", str(venv)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise HarnessError(f"python -m venv {venv} failed: {harness.tail(proc.stderr)}")
    log("installing gevent from PyPI into it (pip install gevent)")
    try:
        proc = subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                               "--disable-pip-version-check", "gevent"],
                              capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"pip install gevent took more than {PIP_TIMEOUT_S} s")
    if proc.returncode != 0:
        raise HarnessError(f"pip install gevent failed: {harness.tail(proc.stderr)}")
    version = gevent_version(python)
    if not version:
        raise HarnessError(f"gevent was installed into {venv} but cannot be imported")
    return version


def server_argv(kind: Kind, conns: int, venv: Path) -> list[str]:
    args = [str(SERVER_SCRIPT), "--port", "0", "--max-conns", str(conns)]
    prefix = harness.pinned(SERVER_CPU)
    if kind.how == "native":
        return prefix + [sys.executable] + args
    if kind.how == "greened":
        return prefix + harness.greened() + [sys.executable] + args
    # gevent's documented way to run an unmodified script with monkey.patch_all() applied
    # before anything else is imported.
    return prefix + [str(venv_python(venv)), "-m", "gevent.monkey"] + args


def echo_benchmark(conn_counts: list[int], duration: float, venv: Path,
                   gevent_problem: str | None) -> tuple[list, list[str]]:
    """Every server at every connection count. Returns rows of (conns, Kind, EchoRun) and
    the failures."""
    rows, failures = [], []
    for conns in conn_counts:
        for kind in KINDS:
            if kind.how == "gevent" and gevent_problem:
                run = harness.EchoRun(None, None, gevent_problem)
            else:
                try:
                    argv = server_argv(kind, conns, venv)
                except HarnessError as err:
                    run = harness.EchoRun(None, None, str(err))
                else:
                    run = harness.run_echo(argv, conns, expect_green_stats=kind.how == "greened",
                                           duration=duration, size=REQUEST_SIZE, cpu=CLIENT_CPU,
                                           timeout=duration + CLIENT_TIMEOUT_SLACK_S)
            if run.failure:
                failures.append(f"{conns} conns, {kind.label}: {run.failure}")
                log(f"{conns:>5} conns  {kind.label:<28} FAILED: {run.failure}")
            else:
                log(f"{conns:>5} conns  {kind.label:<28} {run.client['rps']:>10,.0f} req/s  "
                    f"p99 {run.client['p99_us'] / 1e3:.2f} ms  "
                    f"RSS {run.server.peak_rss_mib:.1f} MiB  "
                    f"threads {run.server.peak_threads}")
            rows.append((conns, kind, run))
    return rows, failures


def echo_table(rows: list) -> str:
    baselines = {conns: run for conns, kind, run in rows if kind == BASELINE and not run.failure}
    lines = [
        "| conns | server | req/s | p99 ms | server CPU µs/req | peak RSS MiB "
        "| peak OS threads | req/s vs native |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for conns, kind, run in rows:
        if run.failure:
            lines.append(f"| {conns} | {kind.label} | FAILED | | | | | |")
            continue
        client, server, base = run.client, run.server, baselines.get(conns)
        ratio = f"{client['rps'] / base.client['rps']:.2f}" if base else "-"
        lines.append(
            f"| {conns} | {kind.label} | {client['rps']:,.0f} | {client['p99_us'] / 1e3:.2f} "
            f"| {run.cpu_us_per_request:.1f} | {server.peak_rss_mib:.1f} "
            f"| {server.peak_threads} | {ratio} |")
    return "\n".join(lines)


def report(machine: str, duration: float, gevent: str, table: str) -> str:
    return f"""# Python thread-per-connection echo server: native, libgreen, gevent

Machine: {machine}; Python {platform.python_version()}; gevent {gevent}

Produced by `python3 scripts/bench_python.py` (after `make build progs`).

## socketserver.ThreadingTCPServer, {REQUEST_SIZE}-byte requests, closed loop, {duration:g} s per run

The server is shim-tests/py/threading_server.py, unmodified in every row: natively (an OS
thread per connection), greened (`LD_PRELOAD=libgreen.so`: a green thread per connection)
and under gevent (`python -m gevent.monkey`, i.e. `monkey.patch_all()` first: a greenlet per
connection). Every connection sends a request, waits for its echo, verifies it byte for byte
and sends the next. Server on CPU 0, load_client on CPU 1. Server CPU time covers the whole
server process (start-up, accepting, warm-up, load) divided by all verified round trips;
peak RSS is the server's VmHWM (the interpreter's own ~10 MiB included), peak OS threads
the highest Threads: count sampled every 100 ms from /proc. req/s vs native compares with
the native run at the same connection count.

Memory: natively and greened, a connection's thread waits inside `recv(65536)`, holding the
64 KiB result buffer CPython allocates before making the call (with 5000 connections that
is about 90 MiB of the peak), and each Python thread has a thread state of its own. gevent's
socket waits for readiness first and calls recv only when data is there, so a waiting
greenlet holds no buffer.

{table}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 s per run, 100 and 1000 connections, no report file")
    parser.add_argument("--duration", type=float, help="seconds of load per run (default 5)")
    parser.add_argument("--output", type=Path,
                        help=f"report file (default {DEFAULT_OUTPUT.name}, none with --quick)")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV,
                        help="virtual environment holding gevent (created if missing)")
    args = parser.parse_args()
    duration = args.duration or (2.0 if args.quick else 5.0)
    conn_counts = [100, 1000] if args.quick else [100, 1000, 5000]
    output = args.output or (None if args.quick else DEFAULT_OUTPUT)

    try:
        harness.program("load_client")
        harness.require(SERVER_SCRIPT, "the echo server script")
    except HarnessError as err:
        log(str(err))
        return 1
    gevent, gevent_problem = "(not installed)", None
    try:
        gevent = ensure_gevent(args.venv)
    except HarnessError as err:
        gevent_problem = f"no gevent: {err}"
        log(gevent_problem)

    harness.raise_nofile_limit()
    rows, failures = echo_benchmark(conn_counts, duration, args.venv, gevent_problem)
    text = report(harness.machine_description(), duration, gevent, echo_table(rows))
    print(text)
    if failures:
        print("bench_python: FAILED runs:", file=sys.stderr)
        for failure in failures:
            print(f"  - {failure}", file=sys.stderr)
        if output:
            print(f"bench_python: {output} left unchanged", file=sys.stderr)
        return 1
    if output:
        output.write_text(text)
        log(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
