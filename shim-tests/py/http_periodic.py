"""A daemon written as plain threaded Python: a periodic thread ticking every 100 ms and an
http.server.ThreadingHTTPServer, each request on a thread of its own.

    http_periodic.py [--requests N] [--hold S]

Prints "PORT <port>" once it listens, then "tick <n>" every 100 ms. GET /req/<i> answers
200 with a body made from <i>. The request handlers meet at a Barrier of N parties, so all N
requests are in flight at once (the barrier's action records the OS thread count at that
moment, when the other N-1 handlers are blocked in it), then each sleeps S seconds before it
answers. After N answers the server stops and prints one summary line:

    SUMMARY answered=<n> broken=<b> threads_at_barrier=<t> burst_s=<s> ticks_in_burst=<k>
            max_tick_gap_ms=<g> ticks=<total>

where the burst runs from the first request's arrival to the last answer, and the largest
gap is between consecutive ticks from the start until the server stopped.
"""

import argparse
import http.server
import sys
import threading
import time

TICK_S = 0.1


def os_threads():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


def body_for(i):
    return (f"response to request {i}\n" * 50).encode()


class State:
    def __init__(self, requests, hold):
        self.requests = requests
        self.hold = hold
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(requests, action=self.all_in_flight, timeout=30)
        self.threads_at_barrier = None
        self.first_arrival = None
        self.last_answer = None
        self.answered = 0
        self.broken = 0
        self.ticks = []
        self.stop = False

    def all_in_flight(self):
        self.threads_at_barrier = os_threads()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        state = self.server.state
        prefix = "/req/"
        if not self.path.startswith(prefix):
            self.send_error(404)
            return
        i = int(self.path[len(prefix):])
        with state.lock:
            if state.first_arrival is None:
                state.first_arrival = time.monotonic()
        try:
            state.barrier.wait()
            time.sleep(state.hold)
            status, body = 200, body_for(i)
        except threading.BrokenBarrierError:
            status, body = 503, b"barrier broken: not all requests arrived\n"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        with state.lock:
            state.last_answer = time.monotonic()
            state.answered += 1
            state.broken += status != 200
            last = state.answered == state.requests
        if last:
            threading.Thread(target=self.server.shutdown).start()

    def log_message(self, format, *args):
        pass  # one stderr line per request is noise here


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024  # every request connects at once


def ticker(state):
    n = 0
    while not state.stop:
        time.sleep(TICK_S)
        n += 1
        state.ticks.append(time.monotonic())
        print(f"tick {n}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--hold", type=float, default=0.5)
    args = parser.parse_args()
    state = State(args.requests, args.hold)
    start = time.monotonic()
    tick_thread = threading.Thread(target=ticker, args=(state,), name="ticker")
    tick_thread.start()
    with Server(("127.0.0.1", 0), Handler) as server:
        server.state = state
        print(f"PORT {server.server_address[1]}", flush=True)
        server.serve_forever()
    stopped = time.monotonic()
    state.stop = True
    tick_thread.join()
    times = [start] + [t for t in state.ticks if t <= stopped] + [stopped]
    max_gap = max(b - a for a, b in zip(times, times[1:]))
    burst = (state.last_answer or 0) - (state.first_arrival or 0)
    in_burst = sum(1 for t in state.ticks
                   if state.first_arrival is not None and state.first_arrival <= t <= state.last_answer)
    print(f"SUMMARY answered={state.answered} broken={state.broken} "
          f"threads_at_barrier={state.threads_at_barrier} burst_s={burst:.3f} "
          f"ticks_in_burst={in_burst} max_tick_gap_ms={max_gap * 1000:.0f} ticks={len(state.ticks)}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
