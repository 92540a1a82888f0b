#!/usr/bin/env python3
"""Concurrent name resolution against a slow DNS server: 50 getaddrinfo calls at once
against one alone, natively and greened.

A lookup of a name in /etc/hosts costs microseconds of CPU; what makes name resolution
block a server is a DNS server that takes its time. This script runs a DNS server on
127.0.0.1:53 that answers every A query with 127.0.0.1 after DELAY ms (each query on its
own timer, so it answers many at once), and runs bench_resolve in a private mount
namespace whose /etc/resolv.conf names that server. Needs root (port 53, unshare -m,
mount --bind); without it the script says so and exits 0 without a table.

  python3 scripts/bench_resolve.py [--delay MS] [--lookups N]
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

NAME = "slow.libgreen.test"


def answer(query: bytes) -> bytes:
    """An A record 127.0.0.1 for the query's (single) question."""
    question_end = 12
    while query[question_end] != 0:
        question_end += 1 + query[question_end]
    question_end += 5  # the root label, QTYPE, QCLASS
    header = query[:2] + b"\x81\x80" + b"\x00\x01\x00\x01\x00\x00\x00\x00"
    record = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([127, 0, 0, 1])
    return header + query[12:question_end] + record


def serve_dns(sock: socket.socket, delay: float, stop: threading.Event) -> None:
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            query, peer = sock.recvfrom(512)
        except socket.timeout:
            continue
        threading.Timer(delay, sock.sendto, (answer(query), peer)).start()


def run(argv: list[str], resolv_conf: str) -> dict:
    script = f'mount --bind "{resolv_conf}" /etc/resolv.conf && exec "$@"'
    result = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", *argv], capture_output=True,
                            text=True, timeout=300)
    if result.returncode != 0:
        raise harness.HarnessError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return harness.parse_key_values(result.stdout.replace("\n", " "))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=50.0, help="DNS answer delay, ms")
    parser.add_argument("--lookups", type=int, default=50, help="concurrent lookups")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_resolve: needs root (DNS port 53, a private mount namespace); skipped")
        return 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 53))
    except OSError as err:
        print(f"bench_resolve: cannot serve DNS on 127.0.0.1:53 ({err}); skipped")
        return 0
    stop = threading.Event()
    server = threading.Thread(target=serve_dns, args=(sock, args.delay / 1000, stop), daemon=True)
    server.start()
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as conf:
        conf.write("nameserver 127.0.0.1\noptions timeout:5 attempts:1\n")
        conf.flush()
        bench = [harness.program("bench_resolve"), str(args.lookups), NAME, "3"]
        rows = [("native", run(bench, conf.name)), ("greened", run(harness.greened(stats=False) + bench, conf.name))]
    stop.set()
    print(f"getaddrinfo of a name whose DNS answer takes {args.delay:.0f} ms, {args.lookups} at once vs one\n")
    print("| mode | one lookup ms | all at once ms | ratio |")
    print("|---|---:|---:|---:|")
    for mode, values in rows:
        one, many = values["resolve_one_us"] / 1000, values["resolve_many_us"] / 1000
        print(f"| {mode} | {one:.1f} | {many:.1f} | {many / one:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
