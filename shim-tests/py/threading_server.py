"""A socketserver.ThreadingTCPServer echo server, as any Python programmer writes one: a
thread per connection doing blocking recv() and sendall().

    threading_server.py [--port P] [--max-conns N]

Listens on 127.0.0.1:P (0: any free port) and prints "PORT <port>". The first time N
connections are being served at once it prints "ACTIVE <n> threads=<OS threads>" (the
count read from /proc/self/status at that moment). Once N connections have been served
and closed it stops and prints "SERVED conns=<n> bytes=<b> peak_active=<p>", then exits 0:
the protocol of the C echo_server, so the same load client and harness drive both.
"""

import argparse
import socketserver
import sys
import threading


def os_threads():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


class Stats:
    def __init__(self, max_conns):
        self.lock = threading.Lock()
        self.max_conns = max_conns
        self.active = 0
        self.peak_active = 0
        self.served = 0
        self.bytes = 0
        self.reported_active = False


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        stats = self.server.stats
        with stats.lock:
            stats.active += 1
            stats.peak_active = max(stats.peak_active, stats.active)
            report = stats.active == stats.max_conns and not stats.reported_active
            stats.reported_active = stats.reported_active or report
        if report:
            print(f"ACTIVE {stats.active} threads={os_threads()}", flush=True)
        echoed = 0
        try:
            while True:
                data = self.request.recv(65536)
                if not data:
                    break
                self.request.sendall(data)
                echoed += len(data)
        finally:
            with stats.lock:
                stats.active -= 1
                stats.served += 1
                stats.bytes += echoed
                last = stats.max_conns and stats.served == stats.max_conns
            if last:
                # shutdown() waits for serve_forever() in the main thread to return.
                threading.Thread(target=self.server.shutdown).start()


class EchoServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    # The default backlog of 5 would make thousands of simultaneous connects retry SYNs.
    request_queue_size = 4096


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-conns", type=int, default=0)
    args = parser.parse_args()
    with EchoServer(("127.0.0.1", args.port), EchoHandler) as server:
        server.stats = Stats(args.max_conns)
        print(f"PORT {server.server_address[1]}", flush=True)
        server.serve_forever()
        stats = server.stats
    print(f"SERVED conns={stats.served} bytes={stats.bytes} peak_active={stats.peak_active}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
