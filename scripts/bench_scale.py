#!/usr/bin/env python3
"""Thread scaling and stress-ng ratios: a Markdown section for BENCHMARKS.md.

Part 1, thread creation scaling and memory per thread: build/bin/bench_threads N creates N
threads that all block on one condition variable, and prints the wall time of the creation
loop alone and the VmRSS and VmPTE growth per idle thread. Greened it runs for 100,000 and
1,000,000 threads, with the default stack size and with GREEN_STACK_SIZE=64K; natively for
10,000 threads (native OS threads hit the system's limits well before 100,000), for
reference. The figure of merit is create(1M) / create(100k): linear scaling makes it 10;
the program also times the first and the last tenth of the creations, which tells whether a
creation gets dearer as threads accumulate.

Part 2, stress-ng single-instance ratios: `stress-ng --STRESSOR 1 --timeout 3s` for a few
scheduling-heavy stressors, natively and greened, alternated round by round; bogo ops/s
(real time) from stress-ng's --yaml file. While each run is under way every process of its
tree (stress-ng forks its workers) is checked for libgreen in its /proc/PID/maps: mapped in
every one greened, in none natively. Unpinned by default, as a program runs; --pin-stress
CPU runs both sides on one CPU, which steadies the figures. Skipped, with a line saying so,
if stress-ng is not installed.

Prints the section on stdout (and writes it with --out). Exits non-zero if any run failed:
a program that crashed or timed out, a greened run without libgreen, stress-ng exiting
non-zero or reporting no figure. The 1M-thread runs with default stacks need about 9 GB of
memory; the runs are strictly one at a time.
"""

from __future__ import annotations

import argparse
import datetime
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import HarnessError  # noqa: E402

GREEN_CPU = 0  # greened runs are one OS thread: pinned, spared migrations
THREADS_SMALL, THREADS_LARGE, THREADS_NATIVE = 100_000, 1_000_000, 10_000
SMALL_RUNS = 3
SCALING_GOAL = 10.0  # create(1M) / create(100k) at most this: linear
# Refuse to start a run that would not fit in MemAvailable (an idle green thread with a
# default stack costs about 9 KiB of RSS and page tables; this leaves some margin).
KIB_PER_THREAD_BUDGET = 12
THREADS_TIMEOUT_S = 600

STRESS_NG = "stress-ng"
STRESSORS = ("pipe", "switch", "eventfd", "signal", "sigsuspend")
STRESS_SECONDS = 3
STRESS_TIMEOUT_S = STRESS_SECONDS + 60
STRESS_RATIO_GOAL = 0.97
# When the process tree of a stress-ng run is inspected: its workers are running by then.
TREE_CHECK_AFTER_S = 1.0


def log(message: str) -> None:
    print(f"bench_scale: {message}", file=sys.stderr, flush=True)


def display(argv: list[str]) -> str:
    """A command line as a reader can type it from the repository root."""
    def short(arg: str) -> str:
        for prefix in ("", "LD_PRELOAD="):
            if arg.startswith(prefix + str(harness.ROOT) + "/"):
                return prefix + arg[len(prefix) + len(str(harness.ROOT)) + 1:]
        return arg
    return shlex.join(short(arg) for arg in argv)


def median(values: list[float]) -> float:
    return statistics.median(values)


def prose(text: str) -> str:
    """A paragraph of the report, reflowed (the source wraps it before substitutions)."""
    return textwrap.fill(" ".join(text.split()), width=92, break_on_hyphens=False)


# ---------------------------------------------------------------- part 1: bench_threads


@dataclass(frozen=True)
class ThreadsConfig:
    label: str
    greened: bool
    env: tuple[str, ...] = ()
    program: str = "bench_threads"
    args: tuple[str, ...] = ()


GREEN_DEFAULT = ThreadsConfig("greened, default stack", True)
GREEN_64K = ThreadsConfig("greened, GREEN_STACK_SIZE=64K", True, ("GREEN_STACK_SIZE=64K",))
NATIVE = ThreadsConfig("native", False)
# The kernel's part alone (bench_stack_maps: map, guard and touch N stacks, no threads):
# how creation would scale if the runtime cost nothing.
KERNEL_DEFAULT = ThreadsConfig("kernel alone: 8 MiB stacks mapped and touched, no threads", False,
                               program="bench_stack_maps", args=("8192",))
KERNEL_64K = ThreadsConfig("kernel alone: 64 KiB stacks mapped and touched, no threads", False,
                           program="bench_stack_maps", args=("64",))


@dataclass
class ThreadsRow:
    config: ThreadsConfig
    threads: int
    argv: list[str]
    runs: list[dict] = field(default_factory=list)  # bench_threads's key=value pairs

    def median_of(self, key: str) -> float:
        return median([float(run[key]) for run in self.runs])


def threads_argv(config: ThreadsConfig, threads: int) -> list[str]:
    prefix = (harness.pinned(GREEN_CPU) + harness.greened() + list(config.env)
              if config.greened else [])
    return prefix + [harness.program(config.program), str(threads)] + list(config.args)


def require_memory(threads: int) -> None:
    need_kib = threads * KIB_PER_THREAD_BUDGET
    match = re.search(r"^MemAvailable:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
    if match and int(match.group(1)) < need_kib:
        raise HarnessError(f"{threads:,} threads need about {need_kib / 2**20:.1f} GiB but "
                           f"MemAvailable is {int(match.group(1)) / 2**20:.1f} GiB")


def run_threads(config: ThreadsConfig, threads: int, argv: list[str]) -> dict:
    """One bench_threads run, verified: its key=value pairs. Greened, every thread must have
    been created, as a green thread (libgreen's stats line counts them)."""
    require_memory(threads)
    proc = harness.run_checked(argv, THREADS_TIMEOUT_S, display(argv))
    values = harness.parse_key_values(proc.stdout)
    if "create_s" not in values or "threads" not in values:
        raise HarnessError(f"{display(argv)}: no result line; stdout: {harness.tail(proc.stdout)}")
    if config.greened:
        stats = harness.parse_green_stats(proc.stderr)
        if stats is None:
            raise HarnessError(f"{display(argv)}: no `libgreen: stats` line on stderr: "
                               "was libgreen loaded?")
        if values["threads"] != threads or stats.get("peak_green") != threads + 1:
            raise HarnessError(f"{display(argv)}: created {values['threads']} threads "
                               f"({values.get('create_errno')}), libgreen counted "
                               f"peak_green={stats.get('peak_green')}; expected {threads} "
                               "green threads plus main")
    return values


def large_run_count(quick: bool) -> int:
    return 1 if quick else 2


def threads_plan(quick: bool) -> list[tuple[ThreadsConfig, int, int]]:
    """(config, threads, runs) in the order they run."""
    large_runs = large_run_count(quick)
    return [
        (NATIVE, THREADS_NATIVE, SMALL_RUNS),
        (GREEN_DEFAULT, THREADS_SMALL, SMALL_RUNS),
        (GREEN_DEFAULT, THREADS_LARGE, large_runs),
        (KERNEL_DEFAULT, THREADS_SMALL, SMALL_RUNS),
        (KERNEL_DEFAULT, THREADS_LARGE, 1),
        (GREEN_64K, THREADS_SMALL, SMALL_RUNS),
        (GREEN_64K, THREADS_LARGE, large_runs),
        (KERNEL_64K, THREADS_SMALL, SMALL_RUNS),
        (KERNEL_64K, THREADS_LARGE, 1),
    ]


def threads_benchmark(quick: bool) -> tuple[list[ThreadsRow], list[str]]:
    rows: list[ThreadsRow] = []
    failures: list[str] = []
    for config, threads, runs in threads_plan(quick):
        try:
            row = ThreadsRow(config, threads, threads_argv(config, threads))
        except HarnessError as err:
            failures.append(f"bench_threads {threads} {config.label}: {err}")
            continue
        rows.append(row)
        for _ in range(runs):
            try:
                values = run_threads(config, threads, row.argv)
            except HarnessError as err:
                failures.append(str(err))
                log(f"FAILED: {err}")
                break
            row.runs.append(values)
            log(f"{config.label}, {threads:,} threads: create {values['create_s']} s "
                f"(first tenth {values['create_first_tenth_s']} s, "
                f"last {values['create_last_tenth_s']} s), "
                f"RSS {values['rss_kib_per_thread']} KiB/thread, "
                f"page tables {values['pte_kib_per_thread']} KiB/thread, "
                f"join {values['join_s']} s, created {values['threads']} "
                f"(errno {values['create_errno']})")
    return rows, failures


def scaling_ratio(rows: list[ThreadsRow], row: ThreadsRow) -> str:
    """create(1M) / create(100k) of the same configuration, on the 1M row."""
    if row.threads != THREADS_LARGE or not row.runs:
        return ""
    small = next((r for r in rows if r.config == row.config and r.threads == THREADS_SMALL
                  and r.runs), None)
    if small is None:
        return "-"
    ratio = row.median_of("create_s") / small.median_of("create_s")
    verdict = "met" if ratio <= SCALING_GOAL else "not met"
    return f"{ratio:.2f}× (goal ≤ {SCALING_GOAL:g}×: {verdict})"


def tenths_cell(row: ThreadsRow) -> str:
    """How much dearer the last tenth of the creations was than the first (medians)."""
    runs = [run for run in row.runs
            if float(run.get("create_first_tenth_s", -1)) > 0
            and float(run.get("create_last_tenth_s", -1)) > 0]
    if not runs:
        return "-"
    first = median([float(run["create_first_tenth_s"]) for run in runs])
    last = median([float(run["create_last_tenth_s"]) for run in runs])
    return f"{last:.3g} / {first:.3g} = {last / first:.2f}"


def created_cell(row: ThreadsRow) -> str:
    """How many threads were created: all of them, or how far creation got and why not."""
    created = [int(run["threads"]) for run in row.runs]
    if all(c == row.threads for c in created):
        return f"{row.threads:,}"
    errnos = sorted({str(run["create_errno"]) for run in row.runs})
    span = (f"{min(created):,}" if min(created) == max(created)
            else f"{min(created):,}–{max(created):,}")
    return f"{span} of {row.threads:,} (pthread_create: {', '.join(errnos)})"


def threads_table(rows: list[ThreadsRow]) -> str:
    lines = [
        "| configuration | threads created | create s (median; runs) | 1M/100k create "
        "| last / first tenth of create, s | RSS KiB/thread | page tables KiB/thread | join s "
        "| command |",
        "|---|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        if not row.runs:
            lines.append(f"| {row.config.label} | FAILED | | | | | | | `{display(row.argv)}` |")
            continue
        runs = ", ".join(f"{float(run['create_s']):.2f}" for run in row.runs)
        lines.append(
            f"| {row.config.label} | {created_cell(row)} "
            f"| {row.median_of('create_s'):.2f} ({runs}) | {scaling_ratio(rows, row)} "
            f"| {tenths_cell(row)} "
            f"| {row.median_of('rss_kib_per_thread'):.2f} "
            f"| {row.median_of('pte_kib_per_thread'):.3f} | {row.median_of('join_s'):.2f} "
            f"| `{display(row.argv)}` |")
    return "\n".join(lines)


def threads_section(rows: list[ThreadsRow], quick: bool) -> str:
    large_runs = large_run_count(quick)
    large_how = ("one run" if large_runs == 1
                 else f"median of {large_runs} runs (with two runs: their mean)")
    intro = prose(f"""
`bench_threads N` (shim-tests/c/bench_threads.c) creates N threads that all block on one
condition variable, then releases and joins them. *create s* is the wall time
(CLOCK_MONOTONIC) of the creation loop alone; *RSS* and *page tables* are the growth of
VmRSS and VmPTE (/proc/self/status) from before the first pthread_create to the moment
every thread is parked, divided by the threads created; *join s* runs from the release
broadcast to the last pthread_join. Greened runs are pinned to CPU {GREEN_CPU} and use
GREEN_STATS=1 (its stats line proves every thread was a green thread).
{THREADS_SMALL:,}-thread and native figures are the median of {SMALL_RUNS} runs,
{THREADS_LARGE:,}-thread figures the {large_how}; every run's creation time is listed.
The 1M/100k column is create({THREADS_LARGE:,}) / create({THREADS_SMALL:,}) for the same
configuration, from those medians: 10× is linear. *last / first tenth* compares the time
of the last N/10 creations with the first N/10 in the same run (medians over the runs):
near 1 when a creation costs the same however many threads exist already. Native threads
run {THREADS_NATIVE:,} only, for reference: each is a kernel task with its own mapped
stack, and system limits (threads-max, vm.max_map_count, memory) stop native creation long
before a million. The *kernel alone* rows are `bench_stack_maps N SIZE_KIB`
(shim-tests/c/bench_stack_maps.c): no thread at all, only what the kernel does for each
green stack (map it with its guard page, touch its top), one run at {THREADS_LARGE:,}:
where their 1M/100k ratio is as far above 10× as the greened one, the growth is the
kernel's memory management on this machine, not the runtime's.""")
    return f"## Thread creation scaling and memory per thread\n\n{intro}\n\n{threads_table(rows)}\n"


# ---------------------------------------------------------------- part 2: stress-ng


@dataclass
class StressRun:
    ops_per_s: float
    processes: int  # processes of its tree seen while it ran


@dataclass
class StressRow:
    stressor: str
    native_argv: list[str]
    greened_argv: list[str]
    native: list[StressRun] = field(default_factory=list)
    greened: list[StressRun] = field(default_factory=list)


def stress_argv(stressor: str, greened: bool, cpu: int | None) -> list[str]:
    """The command line, with FILE for the YAML file's path (as the report shows it)."""
    prefix = (harness.pinned(cpu) if cpu is not None else []) + (
        harness.greened() if greened else [])
    return prefix + [STRESS_NG, f"--{stressor}", "1", "--timeout", f"{STRESS_SECONDS}s",
                     "--metrics-brief", "--yaml", "FILE"]


def process_tree(root: int) -> list[int]:
    """`root` and every process descended from it, from the ppid field of /proc/*/stat."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        parents[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
    tree, frontier = [root], [root]
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier]
        tree += children
        frontier = children
    return tree


def maps_libgreen(pid: int) -> bool | None:
    """Whether libgreen.so is mapped in `pid`, or None if the process is gone."""
    try:
        return str(harness.LIBGREEN.resolve()) in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return None


def check_tree(pid: int, greened: bool) -> tuple[int, str | None]:
    """Processes seen in `pid`'s tree, and what is wrong with their libgreen mappings."""
    seen = {p: maps_libgreen(p) for p in process_tree(pid)}
    seen = {p: mapped for p, mapped in seen.items() if mapped is not None}
    if len(seen) < 2:
        return len(seen), (f"only {len(seen)} process(es) found {TREE_CHECK_AFTER_S:g} s into "
                           "the run: no stress-ng worker to check")
    wrong = sorted(p for p, mapped in seen.items() if mapped != greened)
    if wrong:
        how = "without" if greened else "with"
        return len(seen), f"processes {wrong} of {sorted(seen)} run {how} libgreen mapped"
    return len(seen), None


def parse_stress_yaml(text: str, stressor: str) -> float | None:
    """bogo-ops-per-second-real-time of `stressor` in a stress-ng --yaml file."""
    block = re.search(rf"- stressor: {re.escape(stressor)}\n((?:\s+[\w-]+: .*\n?)*)", text)
    if not block:
        return None
    value = re.search(r"bogo-ops-per-second-real-time: ([\d.eE+-]+)", block.group(1))
    return float(value.group(1)) if value else None


def run_stress(stressor: str, template: list[str], greened: bool, workdir: Path) -> StressRun:
    """One run of stress_argv's `template`, its process tree checked while it runs."""
    yaml_path = workdir / f"{stressor}-{'greened' if greened else 'native'}.yaml"
    yaml_path.unlink(missing_ok=True)
    argv = [str(yaml_path) if arg == "FILE" else arg for arg in template]
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=workdir)
        try:
            time.sleep(TREE_CHECK_AFTER_S)
            processes, wrong = check_tree(proc.pid, greened)
            code = proc.wait(timeout=STRESS_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"{display(argv)} did not finish within {STRESS_TIMEOUT_S} s")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        out.seek(0)
        output = out.read().decode(errors="replace")
    if code != 0:
        raise HarnessError(f"{display(argv)}: exit {code}; output: {harness.tail(output)}")
    if wrong:
        raise HarnessError(f"{display(argv)}: {wrong}")
    if greened and harness.parse_green_stats(output) is None:
        raise HarnessError(f"{display(argv)}: no `libgreen: stats` line: was libgreen loaded?")
    ops = parse_stress_yaml(yaml_path.read_text() if yaml_path.exists() else "", stressor)
    if not ops:
        raise HarnessError(f"{display(argv)}: no bogo-ops-per-second-real-time for {stressor} "
                           f"in {yaml_path.name}; output: {harness.tail(output)}")
    return StressRun(ops, processes)


def stress_benchmark(rounds: int, cpu: int | None) -> tuple[list[StressRow], list[str]]:
    """Every stressor natively then greened, `rounds` times over, stressor by stressor;
    pinned to `cpu` unless it is None."""
    rows: list[StressRow] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench_scale-") as tmp:
        workdir = Path(tmp)
        for stressor in STRESSORS:
            row = StressRow(stressor, stress_argv(stressor, False, cpu),
                            stress_argv(stressor, True, cpu))
            rows.append(row)
            for round_ in range(rounds):
                for greened in (False, True):
                    mode = "greened" if greened else "native"
                    try:
                        argv = row.greened_argv if greened else row.native_argv
                        run = run_stress(stressor, argv, greened, workdir)
                    except HarnessError as err:
                        failures.append(str(err))
                        log(f"{stressor} {mode} FAILED: {err}")
                        continue
                    (row.greened if greened else row.native).append(run)
                    log(f"{stressor} round {round_ + 1} {mode}: {run.ops_per_s:,.0f} bogo ops/s "
                        f"({run.processes} processes checked)")
    return rows, failures


def ops_cell(runs: list[StressRun]) -> str:
    if not runs:
        return "FAILED"
    values = [run.ops_per_s for run in runs]
    return f"{median(values):,.0f} ({min(values):,.0f}–{max(values):,.0f})"


def stress_table(rows: list[StressRow]) -> str:
    lines = [
        "| stressor | native bogo ops/s, median (min–max) "
        "| greened bogo ops/s, median (min–max) "
        f"| greened/native (goal ≥ {STRESS_RATIO_GOAL:g}) | native command | greened command |",
        "|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        ratio = "-"
        if row.native and row.greened:
            value = (median([r.ops_per_s for r in row.greened])
                     / median([r.ops_per_s for r in row.native]))
            ratio = f"{value:.2f}" + ("" if value >= STRESS_RATIO_GOAL else " (below goal)")
        lines.append(f"| {row.stressor} | {ops_cell(row.native)} | {ops_cell(row.greened)} "
                     f"| {ratio} | `{display(row.native_argv)}` | `{display(row.greened_argv)}` |")
    return "\n".join(lines)


def stress_version() -> str:
    proc = subprocess.run([STRESS_NG, "--version"], capture_output=True, text=True)
    return proc.stdout.strip() or proc.stderr.strip()


def stress_section(rows: list[StressRow] | None, rounds: int, cpu: int | None) -> str:
    header = "## stress-ng, one instance, native and greened\n\n"
    if rows is None:
        return header + "Skipped: stress-ng is not installed.\n"
    placement = (f"Pinned to CPU {cpu} (taskset): stress-ng's processes share one CPU, and "
                 "every hand-off between them is a context switch on it." if cpu is not None
                 else "Not pinned: a stressor's two processes may share one CPU or run on two, "
                 "which can change its rate several times over from one run to the next "
                 "(--pin-stress CPU gives steadier figures).")
    intro = prose(f"""
{stress_version()}. Each stressor runs one instance for {STRESS_SECONDS} s, natively and
then greened, for {rounds} rounds; the figure is stress-ng's bogo ops/s (real time) from its
--yaml file, the median over the rounds with the range in parentheses. {placement}
stress-ng forks its workers (and some stressors a child of their own), which inherit
LD_PRELOAD; {TREE_CHECK_AFTER_S:g} s into every run each process of the tree was checked for
libgreen.so in /proc/PID/maps (mapped in all of them greened, in none natively). FILE in
the commands stands for a temporary file.""")
    return f"{header}{intro}\n\n{stress_table(rows)}\n"


# ---------------------------------------------------------------- report


def library_description() -> str:
    """Which libgreen.so ran: when it was built, and the source tree's commit."""
    built = datetime.datetime.fromtimestamp(harness.LIBGREEN.stat().st_mtime,
                                             datetime.timezone.utc)
    commit = subprocess.run(["git", "-C", str(harness.ROOT), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip() or "unknown commit"
    return f"{display([str(harness.LIBGREEN)])} built {built:%Y-%m-%d %H:%M} UTC, tree {commit}"


def library_identity() -> tuple[int, int]:
    """What tells a rebuilt libgreen.so from the one a run started with."""
    stat = harness.LIBGREEN.stat()
    return stat.st_mtime_ns, stat.st_size


def load_average() -> str:
    """The 1-minute load average: other work on the machine makes the figures noisier."""
    return Path("/proc/loadavg").read_text().split()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="1M-thread runs once instead of twice, 3 stress-ng rounds not 7")
    parser.add_argument("--pin-stress", type=int, metavar="CPU",
                        help="run stress-ng pinned to this CPU (steadier figures, one core)")
    parser.add_argument("--out", type=Path,
                        help="also write the Markdown section to this file (not if a run failed)")
    parser.add_argument("--append", type=Path, metavar="REPORT",
                        help="also append the section, under its own heading, to this report "
                             "(make bench: scripts/BENCHMARKS.md; not if a run failed)")
    args = parser.parse_args()
    if args.pin_stress is not None and not harness.pinned(args.pin_stress):
        parser.error(f"cannot pin to CPU {args.pin_stress}: no taskset, or no such CPU here")
    rounds = 3 if args.quick else 7
    try:
        harness.require(harness.LIBGREEN, "libgreen.so (run `make build`)")
    except HarnessError as err:
        log(f"FAILED: {err}")
        return 1
    started, load_before, library = time.monotonic(), load_average(), library_description()
    library_stat = library_identity()

    rows, failures = threads_benchmark(args.quick)
    if shutil.which(STRESS_NG):
        stress_rows, stress_failures = stress_benchmark(rounds, args.pin_stress)
        failures += stress_failures
    else:
        log("stress-ng is not installed: its part is skipped")
        stress_rows = None

    command = shlex.join(["python3", "scripts/bench_scale.py"] + sys.argv[1:])
    if library_identity() != library_stat:
        library += " (rebuilt during the run: the figures mix two builds)"
        log("libgreen.so was rebuilt during the run")
    summary = prose(f"Machine: {harness.machine_description()}. Library: {library}. "
                    f"Produced by `{command}` in "
                    f"{time.monotonic() - started:.0f} s; 1-minute load average "
                    f"{load_before} before the runs, {load_average()} after.")
    text = (f"{summary}\n\n{threads_section(rows, args.quick)}\n"
            f"{stress_section(stress_rows, rounds, args.pin_stress)}")
    print(text)
    if failures:
        print("bench_scale: FAILED runs:", file=sys.stderr)
        for failure in failures:
            print(f"  - {failure}", file=sys.stderr)
        for path in filter(None, (args.out, args.append)):
            log(f"{path} not written")
        return 1
    if args.out:
        args.out.write_text(text)
        log(f"wrote {args.out}")
    if args.append:
        with args.append.open("a") as report:
            # Under a heading of its own, its sections one level down.
            nested = text.replace("\n## ", "\n### ")
            report.write(f"\n## Thread creation scaling, memory per thread, stress-ng\n\n{nested}\n")
        log(f"appended to {args.append}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
