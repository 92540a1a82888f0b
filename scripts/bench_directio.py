#!/usr/bin/env python3
"""nginx with `aio threads` + `directio` natively and greened, several rounds: the file
serving figure of `make bench`, appended to BENCHMARKS.md.

nginx reads 4 MiB files with O_DIRECT on its thread pool (`aio threads`), so that a read from
the device blocks a pool thread, never the event loop; greened, the pool threads are green
threads and their O_DIRECT reads go to libgreen's offload workers whole. wrk (10
connections, 5 s) checks every reply's body. The run itself is compat_programs.py's
`nginx_directio`; this script repeats it round by round (native, then greened) and reports
the median throughput of each side and the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compat_programs as programs  # noqa: E402  (the scripts directory is not a package)

NEEDED = {"nginx": "nginx-light", "wrk": "wrk"}


def install_missing() -> None:
    missing = sorted({pkg for cmd, pkg in NEEDED.items() if not shutil.which(cmd)})
    if missing:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(sudo + ["apt-get", "update", "-q"], check=True, env=env)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + missing,
                       check=True, env=env)


def section(rounds: list[tuple[programs.Result, programs.Result]], version: str, started: str) -> str:
    native = [n.throughput for n, _ in rounds]
    greened = [g.throughput for _, g in rounds]
    ratios = [g.throughput / n.throughput for n, g in rounds]
    ratio = statistics.median(ratios)
    p99 = [(n.p99_ms, g.p99_ms) for n, g in rounds]
    listed = ", ".join(f"{r:.2f}" for r in ratios)
    return f"""
## File serving: nginx with `aio threads` + `directio`

nginx {version}, {started} UTC. `python3 scripts/bench_directio.py --rounds {len(rounds)}`: nginx
serves a 4 MiB file read with O_DIRECT on its thread pool (`{programs.DIRECTIO_LOCATION}`),
wrk loads it for 5 s with 10 connections and checks every body (scripts/compat_programs.py,
`nginx_directio`), natively and then greened, round by round. Greened, the O_DIRECT reads go
to libgreen's offload workers (RWF_NOWAIT cannot make them non-blocking). The ratio is the
median of the per-round ratios (each: {listed}).

| server | req/s, median (min–max) | p99 ms per round | greened/native (goal ≥ 0.9) |
|---|---:|---|---:|
| nginx, native | {statistics.median(native):,.1f} ({min(native):,.1f}–{max(native):,.1f}) | {", ".join(f"{n:.1f}" for n, _ in p99 if n is not None)} | |
| nginx, greened | {statistics.median(greened):,.1f} ({min(greened):,.1f}–{max(greened):,.1f}) | {", ".join(f"{g:.1f}" for _, g in p99 if g is not None)} | {ratio:.2f}{"" if ratio >= 0.9 else " (below goal)"} |
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--append", type=Path, help="append the section to this report (not if a run failed)")
    args = ap.parse_args()
    if not programs.LIBGREEN.exists():
        sys.exit(f"missing {programs.LIBGREEN} (run `make build`)")
    install_missing()
    programs.WORK.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    rounds = []
    for i in range(args.rounds):
        pair = tuple(programs.run_one("nginx_directio", mode, {}) for mode in programs.MODES)
        for r in pair:
            print(f"round {i + 1} {r.mode:8} {r.throughput:,.1f} req/s p99 {r.p99_ms} ms errors {r.errors}"
                  f"{'  FAILED: ' + r.failure if r.failure else ''}", flush=True)
        if any(r.failure or r.errors for r in pair):
            return 1
        rounds.append(pair)
    text = section(rounds, programs.versions().get("nginx_directio", "?"), started)
    print(text)
    if args.append:
        with args.append.open("a") as report:
            report.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
