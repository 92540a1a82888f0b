#!/usr/bin/env python3
"""`make demo`: the point of libgreen in one table.

The same unmodified thread-per-connection echo server (build/bin/echo_server) serves 1000
concurrent connections twice: under the launcher (`green --stats`), where its 1000 pthreads
are green threads on one OS thread, and natively, where they are 1000 kernel threads. Each
connection makes 20 verified round trips of 512 bytes. Exits non-zero if either run fails
verification.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import HarnessError  # noqa: E402

CONNS = 1000
REQUESTS = 20
SIZE = 512
# Keep every connection open a little while after the warm-up so the 100 ms /proc sampler
# sees the server at its peak however fast the requests go.
HOLD_MS = 300
SERVER_CPU, CLIENT_CPU = 0, 1
ROW_NAMES = ["OS threads (peak)", "green threads", "requests", "bytes verified",
             "throughput", "p99 latency", "peak RSS"]


def serve(greened: bool) -> harness.EchoRun:
    try:
        server = [harness.program("echo_server"), "--max-conns", str(CONNS)]
        if greened:
            harness.require(harness.LAUNCHER, "green launcher (run `make build`)")
            server = [str(harness.LAUNCHER), "--stats", "--"] + server
    except HarnessError as err:
        return harness.EchoRun(None, None, str(err))
    # The launcher execs the server, so the pid measured is the server's either way.
    return harness.run_echo(harness.pinned(SERVER_CPU) + server, CONNS,
                            expect_green_stats=greened, requests=REQUESTS, size=SIZE,
                            hold_ms=HOLD_MS, cpu=CLIENT_CPU)


def column(run: harness.EchoRun, greened: bool) -> list[str]:
    """The table column for one run, one cell per row of ROW_NAMES."""
    if run.failure:
        return ["FAILED"] * len(ROW_NAMES)
    client, server = run.client, run.server
    stats = server.green_stats
    green = f"{stats.get('peak_green', '?')} peak, {stats.get('green_threads', '?')} created" \
        if greened else "-"
    return [
        str(server.peak_threads),
        green,
        f"{client['requests']:,}",
        f"{client['bytes_verified']:,}",
        f"{client['rps']:,.0f} req/s",
        f"{client['p99_us'] / 1e3:.2f} ms",
        f"{server.peak_rss_mib:.1f} MiB",
    ]


def main() -> int:
    harness.raise_nofile_limit()
    print(f"echo_server, {CONNS} concurrent connections x {REQUESTS} round trips of "
          f"{SIZE} bytes, every byte verified\n")
    greened, native = serve(greened=True), serve(greened=False)

    columns = [ROW_NAMES, column(greened, True), column(native, False)]
    header = ["", "greened (green --stats)", "native"]
    widths = [max(len(cell) for cell in [title] + col) for title, col in zip(header, columns)]
    print("  ".join(title.ljust(w) if j == 0 else title.rjust(w)
                    for j, (title, w) in enumerate(zip(header, widths))))
    print("  ".join("-" * w for w in widths))
    for i in range(len(ROW_NAMES)):
        print("  ".join(col[i].ljust(w) if j == 0 else col[i].rjust(w)
                        for j, (col, w) in enumerate(zip(columns, widths))))

    failed = [(name, result) for name, result in (("greened", greened), ("native", native))
              if result.failure]
    for name, result in failed:
        print(f"\ndemo: {name} run FAILED: {result.failure}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
