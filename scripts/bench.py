#!/usr/bin/env python3
"""`make bench`: what libgreen costs and saves, measured. A benchmark, not a test.

Echo benchmark: for 100, 1000 and 5000 concurrent connections, four servers take the same
closed-loop load of 128-byte requests from load_client for D seconds, three times over,
round by round (the report shows each server's median run):
  - echo_server natively (one OS thread per connection),
  - the same binary greened (LD_PRELOAD=libgreen.so: one green thread per connection),
  - epoll_echo_server (hand-written single-threaded epoll loop: the ceiling),
  - scripts/gevent_echo_server.py, natively (a gevent StreamServer, one greenlet per
    connection: the same model in Python's green-thread library). It needs gevent in the
    Python running this script (`pip install gevent`); without it its rows say "not run".
The server runs on CPU 0 and the client on CPU 1 (taskset). Server CPU time comes from
wait4's rusage, peak OS threads and peak RSS (VmHWM) from sampling /proc/<pid>/status.
Throughput and p99 latency against connections are also drawn (scripts/bench_chart.py)
to echo_chart.svg beside the report, which shows it.

Micro-benchmarks, natively and greened: sched_yield round trip (natively on one core, so
each yield is a real context switch), pthread_create+join, mutex/condvar costs, and the
fair path's cost on calls that cannot block (poll with timeout 0, a failed trylock), and
a SIGURG delivered through the preemption tick's handler (what a tick costs at most).

The greened echo server also runs with GREEN_PREEMPT=0 in the same run, so the table shows
what preemption costs.

Prints markdown tables; a full run that verified everywhere also writes them, with the
machine description, to scripts/BENCHMARKS.md (and the chart to scripts/echo_chart.svg).
`--quick` is a smoke run (fewer seconds, 100 and 1000 connections) that writes nothing
unless --output or --chart is given. Exits non-zero if
any run failed: a client that saw errors or mismatches, a server that did not start or
hung (it is killed), a micro-benchmark that crashed or miscounted.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_chart  # noqa: E402
from bench_raw import raw_syscall_section  # noqa: E402
import harness  # noqa: E402
from harness import HarnessError  # noqa: E402

SERVER_CPU, CLIENT_CPU = 0, 1
REQUEST_SIZE = 128
# The client's own overall timeout on top of the load duration: connection set-up of
# thousands of connections against a slow server, and the last round trips.
CLIENT_TIMEOUT_SLACK_S = 60
MICRO_TIMEOUT_S = 120
SCRIPTS = Path(__file__).resolve().parent
DEFAULT_OUTPUT = SCRIPTS / "BENCHMARKS.md"
# Beside the report, which refers to it by this name.
CHART_NAME = "echo_chart.svg"
# Echo runs per server and connection count; the report shows the median one.
ECHO_ROUNDS = 3


@dataclass(frozen=True)
class ServerKind:
    label: str
    program: str
    greened: bool
    env: tuple[str, ...] = ()
    # Set for a Python server: scripts/<program>, run by this interpreter, needs this module.
    python_needs: str | None = None
    charted: bool = True


SERVERS = (
    ServerKind("echo_server, native", "echo_server", False),
    ServerKind("echo_server, greened", "echo_server", True),
    # The same with preemption off, in the same run: what preemption costs. In the table
    # only: a fifth line close to the greened one would make the chart harder to read.
    ServerKind("echo_server, greened, no preemption", "echo_server", True, ("GREEN_PREEMPT=0",),
               charted=False),
    ServerKind("epoll_echo_server", "epoll_echo_server", False),
    ServerKind("gevent StreamServer (Python)", "gevent_echo_server.py", False,
               python_needs="gevent"),
)
BASELINE = SERVERS[3]


@dataclass(frozen=True)
class NotRun:
    """A server that could not be run here for a known, benign reason (unlike a failure,
    it does not fail the benchmark); the table says why."""
    reason: str


@dataclass(frozen=True)
class Micro:
    program: str
    iters: int
    quick_iters: int
    pin_native: bool  # natively on one core, so the threads have to take turns


MICROS = (
    Micro("bench_yield", 200_000, 50_000, pin_native=True),
    Micro("bench_spawn_join", 20_000, 5_000, pin_native=False),
    Micro("bench_mutex", 100_000, 20_000, pin_native=False),
    Micro("bench_fastpath", 200_000, 50_000, pin_native=True),
    Micro("bench_fair", 1_000_000, 200_000, pin_native=False),
    Micro("bench_tick", 300_000, 50_000, pin_native=True),
)
# How each micro-benchmark figure is compared: "native/greened" reads as "greened is N
# times faster", "greened/native" as "greened costs N times native".
MICRO_RATIOS = {
    "yield_round_trip_ns": "native/greened",
    "spawn_join_ns": "native/greened",
    "mutex_uncontended_ns": "greened/native",
    "mutex_contended_ns": "greened/native",
    "cond_pingpong_ns": "greened/native",
    "io_ready_pair_ns": "greened/native",
    "poll_zero_ns": "greened/native",
    "trylock_busy_ns": "greened/native",
    "sigurg_handled_ns": "greened/native",
}


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def not_run_reason(kind: ServerKind) -> str | None:
    if kind.python_needs and importlib.util.find_spec(kind.python_needs) is None:
        return f"not run: {kind.python_needs} not installed (`pip install {kind.python_needs}`)"
    return None


def server_argv(kind: ServerKind, conns: int) -> list[str]:
    prefix = (harness.pinned(SERVER_CPU) + (harness.greened() if kind.greened else [])
              + list(kind.env))
    if kind.python_needs:
        # This interpreter: the one the module was found in.
        command = [sys.executable, str(SCRIPTS / kind.program)]
    else:
        command = [harness.program(kind.program)]
    return prefix + command + ["--max-conns", str(conns)]


def echo_benchmark(conn_counts: list[int], duration: float,
                   rounds: int) -> tuple[list, list[str]]:
    """Run every server at every connection count, `rounds` times over, round by round
    (so that a slow spell of a shared machine falls on every server alike). Returns rows of
    (conns, ServerKind, EchoRun or NotRun), each the run with the median CPU µs/request of
    its server and connection count (a failed run if any failed); each one's ratios to the
    baseline by (conns, ServerKind) (`paired_ratios`); and the failures."""
    runs: dict[tuple[int, ServerKind], list] = {}
    failures = []
    for round_ in range(rounds):
        for conns in conn_counts:
            for kind in SERVERS:
                if reason := not_run_reason(kind):
                    runs[(conns, kind)] = [NotRun(reason)]
                    continue
                run = echo_run(kind, conns, duration)
                label = f"{conns:>5} conns  {kind.label:<36} round {round_ + 1}"
                if run.failure:
                    failures.append(f"{conns} conns, {kind.label}: {run.failure}")
                    log(f"{label} FAILED: {run.failure}")
                else:
                    log(f"{label} {run.client['rps']:>10,.0f} req/s  p99 "
                        f"{run.client['p99_us'] / 1e3:.2f} ms  {run.cpu_us_per_request:.2f} µs/req")
                runs.setdefault((conns, kind), []).append(run)
    rows = [(conns, kind, median_run(runs[(conns, kind)]))
            for conns in conn_counts for kind in SERVERS]
    ratios = {(conns, kind): paired_ratios(runs[(conns, kind)], runs[(conns, BASELINE)])
              for conns in conn_counts for kind in SERVERS}
    return rows, ratios, failures


def paired_ratios(runs: list, baseline_runs: list) -> tuple[float, float] | None:
    """req/s and CPU µs/req against the baseline's run of the same round, the median of
    each over the rounds: runs minutes apart on a shared machine differ more than two
    servers run one after the other. None unless every run of both verified."""
    if len(runs) != len(baseline_runs) or not all(map(verified, runs + baseline_runs)):
        return None
    rps = [run.client["rps"] / base.client["rps"] for run, base in zip(runs, baseline_runs)]
    cpu = [run.cpu_us_per_request / base.cpu_us_per_request
           for run, base in zip(runs, baseline_runs)]
    return statistics.median(rps), statistics.median(cpu)


def echo_run(kind: ServerKind, conns: int, duration: float) -> harness.EchoRun:
    try:
        argv = server_argv(kind, conns)
    except HarnessError as err:
        return harness.EchoRun(None, None, str(err))
    return harness.run_echo(argv, conns, expect_green_stats=kind.greened, duration=duration,
                            size=REQUEST_SIZE, cpu=CLIENT_CPU,
                            timeout=duration + CLIENT_TIMEOUT_SLACK_S)


def median_run(runs: list) -> harness.EchoRun | NotRun:
    """The run with the median CPU µs/request (the lower middle one of an even count), or
    the first failed or not-run one."""
    if bad := [run for run in runs if not verified(run)]:
        return bad[0]
    ordered = sorted(runs, key=lambda run: run.cpu_us_per_request)
    return ordered[(len(ordered) - 1) // 2]


def echo_table(rows: list, ratios: dict) -> str:
    lines = [
        "| conns | server | req/s | p99 ms | server CPU µs/req | peak RSS MiB "
        "| peak OS threads | peak green threads | req/s vs epoll | CPU/req vs epoll |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for conns, kind, run in rows:
        if isinstance(run, NotRun):
            lines.append(f"| {conns} | {kind.label} | {run.reason} | | | | | | | |")
            continue
        if run.failure:
            lines.append(f"| {conns} | {kind.label} | FAILED | | | | | | | |")
            continue
        client, server, paired = run.client, run.server, ratios.get((conns, kind))
        green_peak = server.green_stats.get("peak_green", "?") if server.green_stats else "-"
        rps_ratio, cpu_ratio = (f"{paired[0]:.2f}", f"{paired[1]:.2f}") if paired else ("-", "-")
        lines.append(
            f"| {conns} | {kind.label} | {client['rps']:,.0f} | {client['p99_us'] / 1e3:.2f} "
            f"| {run.cpu_us_per_request:.1f} | {server.peak_rss_mib:.1f} | {server.peak_threads} "
            f"| {green_peak} | {rps_ratio} | {cpu_ratio} |")
    return "\n".join(lines)


def verified(run: harness.EchoRun | NotRun) -> bool:
    return isinstance(run, harness.EchoRun) and run.failure is None


def write_chart(rows: list, duration: float, path: Path) -> None:
    """Throughput and p99 of every charted server's verified runs; servers without one
    stay in the legend, marked as having no data."""
    charted = [kind for kind in SERVERS if kind.charted]
    points = [bench_chart.Point(kind.label, conns, run.client["rps"], run.client["p99_us"] / 1e3)
              for conns, kind, run in rows if kind in charted and verified(run)]
    title = (f"Echo benchmark: {REQUEST_SIZE}-byte requests, closed loop, {duration:g} s per "
             "run, server on one CPU")
    bench_chart.write_echo_chart([kind.label for kind in charted], points, title, path)
    log(f"wrote {path}")


def micro_benchmarks(quick: bool) -> tuple[dict, list[str]]:
    """Returns {figure: {"native": ns, "greened": ns}} and the failures."""
    figures: dict[str, dict[str, float]] = {}
    failures = []
    for micro in MICROS:
        iters = str(micro.quick_iters if quick else micro.iters)
        for mode in ("native", "greened"):
            try:
                if mode == "native":
                    prefix = harness.pinned(SERVER_CPU) if micro.pin_native else []
                else:
                    # One OS thread either way; pinning only spares it migrations.
                    prefix = harness.pinned(SERVER_CPU) + harness.greened()
                argv = prefix + [harness.program(micro.program), iters]
                values = harness.run_program(argv, MICRO_TIMEOUT_S,
                                             expect_green_stats=mode == "greened")
            except HarnessError as err:
                failures.append(f"{micro.program} {mode}: {err}")
                log(f"{micro.program} {mode} FAILED: {err}")
                continue
            for key, value in values.items():
                figures.setdefault(key, {})[mode] = value
            log(f"{micro.program} {mode}: {values}")
    return figures, failures


# `green ps` figures: how long it takes on many parked threads, and what the introspection
# costs the switch path (the micro-benchmarks greened with this libgreen.so and with
# another build given by --compare-lib, alternated in one run, best of each).
PS_THREADS = 100_000
PS_MICROS = (("bench_mutex", 200_000), ("bench_yield", 200_000))
PS_ROUNDS = 7


def green_ps_figures(compare_lib: Path | None) -> tuple[str, list[str]]:
    """Returns the markdown of the `green ps` section and the failures."""
    failures: list[str] = []
    lines = [f"`green ps` on {PS_THREADS:,} parked threads (diag_parked), best of 3:"]
    ready = None
    proc = subprocess.Popen(["env", f"LD_PRELOAD={harness.LIBGREEN}", harness.program("diag_parked"),
                             str(PS_THREADS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ready = proc.stdout.readline().strip() if proc.stdout else None
        times = []
        for _ in range(3 if ready == "ready" else 0):
            start = time.monotonic()
            r = subprocess.run([str(harness.LAUNCHER), "ps", str(proc.pid)], capture_output=True, text=True)
            times.append(time.monotonic() - start)
            if r.returncode != 0 or f"{PS_THREADS + 1} green threads" not in r.stdout:
                failures.append(f"green ps: {r.stderr.strip()[:200]}")
                break
        lines.append(f"{min(times):.2f} s" if times and not failures else "FAILED")
    finally:
        proc.kill()
        proc.wait()
    if ready != "ready":
        failures.append("green ps: diag_parked did not start")
    if compare_lib:
        lines += ["", micro_comparison(compare_lib)]
    return "\n".join(lines), failures


def micro_comparison(compare_lib: Path) -> str:
    """Micro-benchmarks greened with this build and with `compare_lib`, alternated."""
    best: dict[str, dict[str, float]] = {}
    for _ in range(PS_ROUNDS):
        for label, lib in (("this", harness.LIBGREEN), ("compared", compare_lib)):
            for name, iters in PS_MICROS:
                argv = harness.pinned(SERVER_CPU) + ["env", f"LD_PRELOAD={lib}", harness.program(name), str(iters)]
                out = subprocess.run(argv, capture_output=True, text=True, timeout=MICRO_TIMEOUT_S).stdout
                for key, value in harness.parse_key_values(out).items():
                    if isinstance(value, (int, float)):
                        slot = best.setdefault(key, {})
                        slot[label] = min(slot.get(label, float("inf")), float(value))
    rows = [f"The switch-path micro-benchmarks greened with this build and with the build given by "
            f"--compare-lib, alternated, best of {PS_ROUNDS}:", "",
            "| benchmark | this build ns | compared build ns | this/compared |", "|---|---:|---:|---:|"]
    for key, pair in best.items():
        if "this" in pair and "compared" in pair:
            rows.append(f"| {key} | {pair['this']:.1f} | {pair['compared']:.1f} | {pair['this'] / pair['compared']:.3f} |")
    return "\n".join(rows)


def ns_cell(value: float | None) -> str:
    return f"{value:,.1f}" if value is not None else "FAILED"


def micro_table(figures: dict) -> str:
    lines = ["| benchmark | native ns | greened ns | ratio |", "|---|---:|---:|---:|"]
    for key, how in MICRO_RATIOS.items():
        native, green = figures.get(key, {}).get("native"), figures.get(key, {}).get("greened")
        ratio = "-"
        if native and green:
            ratio = f"{native / green if how == 'native/greened' else green / native:.3g}× ({how})"
        lines.append(f"| {key} | {ns_cell(native)} | {ns_cell(green)} | {ratio} |")
    return "\n".join(lines)


def gevent_description() -> str:
    try:
        version = f"gevent {importlib.metadata.version('gevent')}"
    except importlib.metadata.PackageNotFoundError:
        version = "gevent (not installed here, so its rows were not run)"
    return f"{version} on Python {platform.python_version()}"


def report(machine: str, duration: float, rounds: int, echo: str, micro: str) -> str:
    return f"""# libgreen benchmarks

Machine: {machine}

Produced by `make bench` (scripts/bench.py).

## Echo server, {REQUEST_SIZE}-byte requests, closed loop, {duration:g} s per run

Every connection sends a request, waits for its echo, verifies it byte for byte and sends
the next. Every server runs {rounds} time(s) at every connection count, round by round
(all servers and counts, then again), and each row is its run with the median server CPU
µs/req, with that run's other figures; its ratios to epoll_echo_server are the median of
the ratios within each round. Server on CPU 0, load_client on CPU 1. Server CPU time covers the whole server
process (accepting, warm-up, load), divided by all verified round trips; peak RSS is the
server's VmHWM, peak OS threads the highest Threads: count sampled every 100 ms from
/proc, peak green threads libgreen's own count (main included). Ratios are against
epoll_echo_server at the same connection count: req/s above 1 is faster than the
hand-written epoll loop, CPU/req above 1 costs more per request. The load generator is a
single thread too: wherever a server's CPU µs/req times its req/s stays well below one
CPU-second per second, the client set the pace, and CPU µs/req is the figure that compares
the servers.

The gevent row is scripts/gevent_echo_server.py, run natively with
{gevent_description()}: a StreamServer with one greenlet per connection doing
blocking-style recv() and sendall(), the model libgreen gives an unmodified C program, as
Python's best-known green-thread library does it. Its CPU µs/req includes the
interpreter's own cost per request.

{echo}

![echo throughput and p99]({CHART_NAME})

The chart leaves out the no-preemption variant, to stay readable; the table has it.

## Micro-benchmarks

yield: two threads alternating with sched_yield (natively pinned to one core), per round
trip. spawn_join: pthread_create + pthread_join of a trivial thread. Mutex: lock+unlock
pair uncontended, and two threads contending (each yields inside the lock every 64
iterations so green threads really contend); cond_pingpong: one hand-off between two
threads through a mutex and condvars. io_ready_pair: a 64-byte write and read on a socket
pair where the read finds its data already there (the hooks' fast path). poll_zero and
trylock_busy: the fair path on calls that cannot block. sigurg_handled: a SIGURG sent with
tgkill and handled by an empty handler (greened, through the preemption tick's handler: a
tick costs at most that, twice per slice of busy CPU).

{micro}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 s per run, 100 and 1000 connections, no report file")
    parser.add_argument("--duration", type=float, help="seconds of load per run (default 5)")
    parser.add_argument("--output", type=Path,
                        help=f"report file (default {DEFAULT_OUTPUT.name}, none with --quick)")
    parser.add_argument("--chart", type=Path,
                        help=f"echo chart file (default {CHART_NAME} beside the report, "
                             "none with --quick)")
    parser.add_argument("--compare-lib", type=Path,
                        help="another libgreen.so: the micro-benchmarks run with both, alternated")
    args = parser.parse_args()
    duration = args.duration or (2.0 if args.quick else 5.0)
    conn_counts = [100, 1000] if args.quick else [100, 1000, 5000]
    output = args.output or (None if args.quick else DEFAULT_OUTPUT)
    chart = args.chart or (output.parent / CHART_NAME if output else None)

    harness.raise_nofile_limit()
    rounds = 1 if args.quick else ECHO_ROUNDS
    rows, ratios, failures = echo_benchmark(conn_counts, duration, rounds)
    figures, micro_failures = micro_benchmarks(args.quick)
    failures += micro_failures

    ps_text, ps_failures = green_ps_figures(args.compare_lib)
    failures += ps_failures
    raw_text, raw_failures = raw_syscall_section(args.quick)
    failures += raw_failures

    text = report(harness.machine_description(), duration, rounds, echo_table(rows, ratios), micro_table(figures))
    text += f"\n## green ps\n\n{ps_text}\n"
    text += f"\n## Raw system calls (GREEN_RAW_SYSCALLS=1)\n\n{raw_text}\n"
    print(text)
    if failures:
        print("bench: FAILED runs:", file=sys.stderr)
        for failure in failures:
            print(f"  - {failure}", file=sys.stderr)
        for path in filter(None, (output, chart)):
            print(f"bench: {path} left unchanged", file=sys.stderr)
        return 1
    if chart:
        write_chart(rows, duration, chart)
    if output:
        output.write_text(text)
        log(f"wrote {output}")
    # Not a failure, but not to be missed at the end of a long run either.
    for label, reason in sorted({(kind.label, run.reason) for _, kind, run in rows
                                 if isinstance(run, NotRun)}):
        log(f"{label}: {reason}; its rows in the table say so")
    return 0


if __name__ == "__main__":
    sys.exit(main())
