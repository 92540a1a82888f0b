"""The small example programs the project started from: sleeping tasks, a ping-pong over a
socketpair, and a ticker that keeps running while the main thread serves TCP clients."""

import re
import socket
import time

from conftest import assert_ok, parse_kv, run_prog, start_prog, thread_count

TASKS = 10


def _task_numbers(stdout):
    return sorted(int(n) for n in re.findall(r"^task (\d+) done$", stdout, re.MULTILINE))


def test_tasks_in_threads_overlap(mode):
    """Ten 0.5 s sleeps in ten threads take about 0.5 s, not 5 s."""
    r = assert_ok(run_prog("seq_vs_threads", ["threads"], mode))
    assert _task_numbers(r.stdout) == list(range(TASKS)), r.describe()
    elapsed = parse_kv(r.stdout)["elapsed_ms"]
    assert 500 <= elapsed < 2500, r.describe()


def test_tasks_in_sequence_do_not_overlap(mode):
    """Called one after another in one thread, the same tasks take the full 5 s: a sleep
    must not return early just because there is nothing else to run."""
    r = assert_ok(run_prog("seq_vs_threads", ["seq"], mode))
    assert _task_numbers(r.stdout) == list(range(TASKS)), r.describe()
    assert re.findall(r"^task (\d+) done$", r.stdout, re.MULTILINE) == [
        str(i) for i in range(TASKS)], "sequential tasks finish in order" + r.describe()
    elapsed = parse_kv(r.stdout)["elapsed_ms"]
    assert 4900 <= elapsed < 15000, r.describe()


def test_pingpong_strict_interleaving(mode):
    """Two threads passing a token over a blocking socketpair print in a fixed order."""
    r = assert_ok(run_prog("pingpong", [], mode, timeout=30))
    assert r.stdout == "12\n56\n34\n78\n", r.describe()
    m = re.search(r"^os_threads=(\d+)$", r.stderr, re.MULTILINE)
    assert m, r.describe()
    # Counted while both threads were alive: main + A + B natively, only main greened.
    assert int(m.group(1)) == (1 if mode == "greened" else 3), r.describe()


CLIENTS = 5
CLIENT_PAUSE_S = 0.3
TICK_MS = 100


def test_ticker_runs_while_main_blocks_in_accept_and_read(mode):
    """A thread printing every 100 ms keeps doing so while the main thread waits in blocking
    accept() and read() for clients that arrive 0.3 s apart."""
    with start_prog("periodic_server", [CLIENTS], mode, timeout=60) as proc:
        port = int(proc.expect_line(r"PORT (\d+)$").group(1))
        samples = []
        for i in range(CLIENTS):
            time.sleep(CLIENT_PAUSE_S)
            samples.append(thread_count(proc.pid))  # main thread blocked in accept()
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                time.sleep(CLIENT_PAUSE_S / 2)
                samples.append(thread_count(proc.pid))  # main thread blocked in read()
                line = f"hello from client {i}\n".encode()
                s.sendall(line)
                reply = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
            assert reply == line.upper(), proc.describe()
        assert proc.wait() == 0, proc.describe()

    out = proc.stdout
    ticks = [(int(n), int(ms)) for n, ms in re.findall(r"^tick (\d+) (\d+)$", out, re.MULTILINE)]
    summary = parse_kv(out)
    run_ms = summary["run_ms"]
    assert summary["ticks"] == len(ticks), proc.describe()
    assert [n for n, _ in ticks] == list(range(1, len(ticks) + 1)), proc.describe()
    # The clients alone keep the server busy for 5 x 0.45 s.
    assert run_ms >= CLIENTS * CLIENT_PAUSE_S * 1.5 * 1000, proc.describe()
    expected = run_ms / TICK_MS
    assert len(ticks) >= 0.7 * expected - 1, (
        f"only {len(ticks)} ticks in {run_ms} ms" + proc.describe())
    times = [0] + [ms for _, ms in ticks] + [run_ms]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) <= 1000, f"tick gaps {gaps}" + proc.describe()

    samples = [s for s in samples if s is not None]
    assert samples, "could not sample the thread count"
    if mode == "greened":
        assert set(samples) == {1}, f"threads sampled: {samples}"
    else:
        assert set(samples) == {2}, f"threads sampled: {samples}"
