"""The "Raw system calls" section of `make bench` (scripts/bench.py imports it): what
GREEN_RAW_SYSCALLS=1 (Syscall User Dispatch) costs, from build/bin/bench_raw.

bench_raw runs, in one thread, a ready write+read pair on a socket pair, getppid, and a
one-byte ping-pong between two threads (each read waits), through libc and, with `raw`, as
inline system calls. Three modes, alternated round by round so that the machine's load
falls on all of them alike, median of the rounds:
  - native (raw calls included),
  - greened with the trap off (the default; raw calls would see the runtime's O_NONBLOCK,
    so they are not run),
  - greened with GREEN_RAW_SYSCALLS=1 (raw calls trapped, the blocking ones routed
    through the hooks).
Two ratios answer the two questions: what the trap costs a call that goes through libc
(trap on / trap off, libc rows), and what a trapped call costs against its libc
counterpart in the same run (raw / libc, trap on).
"""

import platform
import statistics

import harness
from harness import HarnessError

ITERS = 50_000
QUICK_ITERS = 10_000
ROUNDS = 5
QUICK_ROUNDS = 2
TIMEOUT_S = 120.0
CPU = 0
CALLS = ("pair", "getppid", "pingpong")
MODES = ("native", "off", "on")


def run_mode(mode: str, iters: int) -> dict[str, float]:
    program = [harness.program("bench_raw"), str(iters)]
    if mode == "native":
        argv = harness.pinned(CPU) + program + ["raw"]
    elif mode == "off":
        argv = harness.pinned(CPU) + harness.greened() + program
    else:
        argv = harness.pinned(CPU) + harness.greened() + ["GREEN_RAW_SYSCALLS=1"] + program + ["raw"]
    values = harness.run_program(argv, TIMEOUT_S, expect_green_stats=mode != "native")
    return {key: float(value) for key, value in values.items()}


def collect(quick: bool) -> tuple[dict[str, dict[str, float]], list[str]]:
    """{figure: {mode: median ns}} and the failures."""
    samples: dict[str, dict[str, list[float]]] = {}
    failures: list[str] = []
    for _ in range(QUICK_ROUNDS if quick else ROUNDS):
        for mode in MODES:
            try:
                values = run_mode(mode, QUICK_ITERS if quick else ITERS)
            except HarnessError as err:
                failures.append(f"bench_raw {mode}: {err}")
                continue
            for key, value in values.items():
                samples.setdefault(key, {}).setdefault(mode, []).append(value)
    medians = {key: {mode: statistics.median(values) for mode, values in by_mode.items()}
               for key, by_mode in samples.items()}
    return medians, failures


def cell(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def ratio(top: float | None, bottom: float | None) -> str:
    return "-" if top is None or not bottom else f"{top / bottom:.2f}"


def table(figures: dict[str, dict[str, float]]) -> str:
    lines = ["| call | through | native ns | greened, trap off ns | greened, trap on ns "
             "| trap on / off | raw / libc, trap on |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for call in CALLS:
        libc = figures.get(f"libc_{call}_ns", {})
        raw = figures.get(f"raw_{call}_ns", {})
        lines.append(f"| {call} | libc | {cell(libc.get('native'))} | {cell(libc.get('off'))} "
                     f"| {cell(libc.get('on'))} | {ratio(libc.get('on'), libc.get('off'))} | - |")
        lines.append(f"| {call} | inline `syscall` | {cell(raw.get('native'))} | not run "
                     f"| {cell(raw.get('on'))} | - | {ratio(raw.get('on'), libc.get('on'))} |")
    return "\n".join(lines)


def raw_syscall_section(quick: bool) -> tuple[str, list[str]]:
    """The markdown of the section and the failures."""
    if platform.machine() != "x86_64":
        return "Not measured: raw system calls are trapped on x86-64 only.", []
    figures, failures = collect(quick)
    rounds = QUICK_ROUNDS if quick else ROUNDS
    iters = QUICK_ITERS if quick else ITERS
    text = f"""`build/bin/bench_raw {iters} [raw]` natively, greened, and greened with
GREEN_RAW_SYSCALLS=1, alternated, median of {rounds} rounds, on CPU {CPU}. pair: a
64-byte write and read on a socket pair where the data is already there; getppid: a call
no hook touches; pingpong: one byte there and back between two threads over two socket
pairs (greened: each read parks, two switches per round trip). "trap on / off" is what
turning the trap on costs calls made through libc (every system call of the hub thread
takes the kernel's slower entry path once dispatch is on); "raw / libc" is what a
trapped inline call costs against the same call through libc (a SIGSYS delivered and
returned from, then the hook's path or the call made again).

{table(figures)}"""
    return text, failures
