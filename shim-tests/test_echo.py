"""2000 concurrent connections to the thread-per-connection echo server.

The load client (never greened) opens all connections, does one round trip on each, and
then holds them all open for a second, so the server has 2000 live connections at once:
natively that is 2000+ OS threads, greened it must still be one.
"""

import json
import re
import time

from conftest import open_fd_count, parse_kv, raise_nofile_limit, start_prog, thread_count

CONNS = 2000
REQUESTS = 5
SIZE = 1000
HOLD_MS = 1000
SAMPLE_INTERVAL_S = 0.05


def test_echo_server_2000_connections(mode):
    limit = raise_nofile_limit()
    # The server needs a descriptor per connection, plus a few of its own.
    assert limit >= CONNS + 100, f"RLIMIT_NOFILE hard limit {limit} is too low"

    server = start_prog("echo_server", ["--port", 0, "--max-conns", CONNS], mode, timeout=180)
    with server:
        port = int(server.expect_line(r"PORT (\d+)$", timeout=30).group(1))
        client = start_prog(
            "load_client",
            ["--port", port, "--conns", CONNS, "--requests", REQUESTS, "--size", SIZE,
             "--hold-ms", HOLD_MS],
            "native", timeout=150)
        with client:
            # Sample the server for as long as the client runs. Each sample is (OS threads,
            # open descriptors); one with at least CONNS descriptors open was taken while the
            # server held every connection, which is when the two modes differ most.
            samples = []
            while client.poll() is None:
                threads, fds = thread_count(server.pid), open_fd_count(server.pid)
                if threads is not None and fds is not None:
                    samples.append((threads, fds))
                time.sleep(SAMPLE_INTERVAL_S)
            client_rc = client.wait()
        # A failed client leaves the server waiting for connections that never come: report
        # the client's failure rather than the server's timeout.
        assert client_rc == 0, "load client failed" + client.describe() + server.describe()
        server_rc = server.wait(timeout=60)

    report = json.loads(client.stdout.strip().splitlines()[-1])
    assert report["connected"] == CONNS, report
    assert report["errors"] == 0 and report["mismatches"] == 0, report
    assert report["requests"] == CONNS * REQUESTS, report
    assert report["bytes_verified"] == CONNS * REQUESTS * SIZE, report

    assert server_rc == 0, server.describe()
    m = re.search(r"^SERVED .*$", server.stdout, re.MULTILINE)
    assert m, server.describe()
    served = parse_kv(m.group(0))
    assert served == {"conns": CONNS, "bytes": CONNS * REQUESTS * SIZE, "peak_active": CONNS}, (
        server.describe())

    assert samples, "could not sample the server"
    counts = [threads for threads, _ in samples]
    during_hold = [threads for threads, fds in samples if fds >= CONNS]
    # The hold alone lasts a second; sampling every 50 ms must have caught the server in it.
    assert during_hold, f"no sample with {CONNS} connections open: {samples[-20:]}"
    if mode == "greened":
        assert max(counts) == 1, f"greened server had up to {max(counts)} OS threads"
    else:
        # Thread per connection: the greened check can only pass because of the shim.
        assert max(during_hold) > CONNS, f"native server threads while holding: {during_hold}"
