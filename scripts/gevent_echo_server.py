#!/usr/bin/env python3
"""The echo benchmark's gevent server: what the same one-(green)thread-per-connection model
costs in Python with gevent, the best-known green-thread library, run natively (no libgreen).

A gevent StreamServer whose handler does blocking-style recv() and sendall() on gevent's
cooperative socket, one greenlet per connection. Same command line and output as
shim-tests/c/echo_server.c, so scripts/harness.py drives it the same way:

    gevent_echo_server.py [--port P] [--max-conns N] [--bufsize B]

Listens on 127.0.0.1:P (0: any free port) and prints "PORT <port>". With N > 0 it stops
accepting after N connections, waits for their handlers to finish and prints
"SERVED conns=<n> bytes=<b> peak_active=<p>" before exiting 0.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

try:
    from gevent.event import Event
    from gevent.server import StreamServer
    from gevent.socket import socket
except ImportError:
    sys.exit("gevent_echo_server: gevent is not installed: pip install gevent")

# As echo_server.c: thousands of connects arrive at once, and gevent's default of 128 would
# overflow the accept queue into the client's 1 s SYN retries.
LISTEN_BACKLOG = 4096


@dataclass
class Stats:
    served: int = 0       # connections accepted
    finished: int = 0     # handlers that returned
    active: int = 0
    peak_active: int = 0
    bytes: int = 0


class EchoServer:
    """Echoes every connection until the client closes it; with max_conns > 0, stops
    accepting after that many and sets `done` once all their handlers have returned."""

    def __init__(self, port: int, max_conns: int, bufsize: int) -> None:
        self.max_conns = max_conns
        self.bufsize = bufsize
        self.stats = Stats()
        self.done = Event()
        self.server = StreamServer(("127.0.0.1", port), self.handle, backlog=LISTEN_BACKLOG)

    def start(self) -> int:
        """Bind and listen; returns the bound port."""
        self.server.start()
        return self.server.server_port

    def handle(self, sock: socket, _address: tuple) -> None:
        # All greenlets run on one OS thread and only switch inside gevent calls, so the
        # counters need no lock.
        stats = self.stats
        stats.served += 1
        stats.active += 1
        stats.peak_active = max(stats.peak_active, stats.active)
        if stats.served == self.max_conns:
            self.server.close()
        echoed = 0
        try:
            # Not `stats.bytes += self.echo(sock)`: that reads stats.bytes before echo()
            # switches to other greenlets and would write back a stale sum.
            echoed = self.echo(sock)
        finally:
            stats.bytes += echoed
            stats.active -= 1
            stats.finished += 1
            if stats.finished == self.max_conns:
                self.done.set()

    def echo(self, sock: socket) -> int:
        """Echo until the client closes (or the connection breaks); returns the bytes
        echoed. StreamServer closes the socket once the handler returns."""
        echoed = 0
        try:
            while data := sock.recv(self.bufsize):
                sock.sendall(data)
                echoed += len(data)
        except OSError:
            # A client that resets its connection costs one handler, not the server.
            pass
        return echoed


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-conns", type=int, default=0)
    parser.add_argument("--bufsize", type=int, default=16384)
    args = parser.parse_args()
    if not 0 <= args.port <= 65535 or args.max_conns < 0 or args.bufsize <= 0:
        parser.error("port out of range, negative --max-conns or non-positive --bufsize")
    return args


def main() -> int:
    args = parse_args()
    server = EchoServer(args.port, args.max_conns, args.bufsize)
    print(f"PORT {server.start()}", flush=True)
    if args.max_conns == 0:
        server.server.serve_forever()
        return 0
    server.done.wait()
    stats = server.stats
    print(f"SERVED conns={stats.served} bytes={stats.bytes} peak_active={stats.peak_active}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
