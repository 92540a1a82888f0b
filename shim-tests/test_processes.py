"""Servers that fork: a pre-forking C server whose workers each serve their connections in
threads, workers sharing a blocking listening socket or pipe, and Python's
socketserver.ForkingTCPServer."""

import re
import socket
import subprocess
import sys
import textwrap

from conftest import REPO_ROOT, assert_ok, child_env, raise_nofile_limit, run_prog, start_prog, thread_count

CONNS = 1000
WORKERS = 4
PAYLOAD = 100


def _open_and_echo(port, conns):
    """Opens `conns` connections, sends PAYLOAD distinct bytes on each and checks the echo.
    Returns the open sockets."""
    socks = []
    for i in range(conns):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        socks.append(s)
    for i, s in enumerate(socks):
        message = bytes((i + k) % 251 for k in range(PAYLOAD))
        s.sendall(message)
        got = b""
        while len(got) < PAYLOAD:
            chunk = s.recv(PAYLOAD - len(got))
            assert chunk, f"connection {i} closed early"
            got += chunk
        assert got == message, f"connection {i}: wrong echo"
    return socks


def test_prefork_server_1000_connections(mode):
    """4 forked workers accept from one listening socket and serve each connection in a
    thread: 1000 connections held open at once, every byte echoed; greened, every worker
    is one OS thread however many connections it holds (natively, one thread per connection
    plus its main thread)."""
    raise_nofile_limit()
    server = start_prog("prefork_server", [WORKERS], mode, stdin=subprocess.PIPE, timeout=180)
    port = int(server.expect_line(r"PORT (\d+)").group(1))
    workers = [int(server.expect_line(r"WORKER (\d+)").group(1)) for _ in range(WORKERS)]
    socks = _open_and_echo(port, CONNS)
    threads = [thread_count(pid) for pid in workers]
    for s in socks:
        s.close()
    server.popen.stdin.write(b"stop\n")
    server.popen.stdin.close()
    assert server.wait() == 0, server.describe()
    served = re.findall(r"^SERVED pid=(\d+) conns=(\d+) bytes=(\d+)$", server.stdout, re.MULTILINE)
    assert sorted(int(p) for p, _, _ in served) == sorted(workers), server.describe()
    assert sum(int(c) for _, c, _ in served) == CONNS, server.describe()
    assert sum(int(b) for _, _, b in served) == CONNS * PAYLOAD, server.describe()
    assert f"ALL {' '.join(['0'] * WORKERS)}" in server.stdout, server.describe()
    if mode == "greened":
        assert threads == [1] * WORKERS, threads
    else:
        assert sum(threads) == CONNS + WORKERS, threads



SHARED_ACCEPT_EXPECTED = """\
bad flags: -1 Invalid argument
not listening: -1 Invalid argument
timeout: -1 Resource temporarily unavailable after it
accepted: family 2, length 16, same port 1, cloexec 1, nonblock 0
echoed 300
exited 8
"""


def test_shared_blocking_listener(mode):
    """A blocking listening socket the program did not make through socket(3), shared by
    8 forked workers that each have an accepting thread and a main thread waiting on a
    pipe: every connection wakes every acceptor and one gets it; the losers' accept must
    keep waiting on its own, so that every worker still answers its pipe and exits.
    Before that, accept's errors (bad flags, a socket not listening), the listener's
    SO_RCVTIMEO and an accepted socket's address and flags, with two threads alive: the
    same as natively. Three runs: a lost race is likely, not certain, in each."""
    for _ in range(3):
        r = assert_ok(run_prog("shared_accept", ["8", "300"], mode, timeout=90))
        assert r.stdout == SHARED_ACCEPT_EXPECTED, r.describe()


def test_shared_blocking_pipe(mode):
    """The same race on a blocking pipe the program did not make through pipe(2), read a
    byte at a time by a thread in each of 8 forked workers: all 3000 tokens are read, and
    every worker still answers its control pipe and exits. Three runs, as above."""
    for _ in range(3):
        r = assert_ok(run_prog("shared_pipe", ["8", "3000"], mode, timeout=90))
        assert r.stdout == "read 3000\nexited 8\n", r.describe()

FORKING_SERVER = textwrap.dedent("""
    import os, socketserver, sys

    class Echo(socketserver.StreamRequestHandler):
        def handle(self):
            for line in self.rfile:
                self.wfile.write(str(os.getpid()).encode() + b" " + line)

    class Server(socketserver.ForkingTCPServer):
        allow_reuse_address = True

    with Server(("127.0.0.1", 0), Echo) as server:
        print("PORT", server.server_address[1], flush=True)
        handled = 0
        while handled < int(sys.argv[1]):
            server.handle_request()
            handled += 1
        server.server_close()
        print("CHILDREN LEFT", len(server.active_children or ()), flush=True)
""")


def test_python_forking_tcp_server(mode):
    """socketserver.ForkingTCPServer: each of 20 connections is served by a forked child
    (the reply names its pid), the parent reaps them all, greened as natively."""
    clients = 20
    proc = subprocess.Popen([sys.executable, "-c", FORKING_SERVER, str(clients)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_env(mode), cwd=REPO_ROOT)
    try:
        port = int(proc.stdout.readline().split()[1])
        pids = set()
        socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(clients)]
        for i, s in enumerate(socks):
            s.sendall(f"hello {i}\n".encode())
        for i, s in enumerate(socks):
            reply = s.makefile().readline()
            pid, text = reply.split(" ", 1)
            assert text == f"hello {i}\n"
            pids.add(int(pid))
            s.close()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert len(pids) == clients and proc.pid not in pids
    assert out == "CHILDREN LEFT 0\n", (out, err)


def test_posix_spawn_system_and_popen_from_threads(mode):
    """10 threads posix_spawn a 200 ms shell and wait for it, 5 call system() likewise, 6
    popen one and close it with pclose or fclose (which wait for it inside libc: greened,
    that wait once blocked every thread): each thread gets its own child's exit status, the
    children overlap, a ticker keeps ticking."""
    r = assert_ok(run_prog("spawn_threads", [], mode))
    assert r.stdout == "exit statuses right: 21 of 21, overlapped: yes, ticker ran: yes\n", r.describe()


def test_popen_streams_read_written_and_closed_as_natively():
    """popen streams (shim-tests/c/popen_streams.c): lines and characters read, a thousand
    lines written, a second popen meanwhile, the exit status from pclose and from fclose,
    EPIPE from the last flush to a command that left, EINVAL for a bad mode; the same lines
    natively and greened. A slow command's output is read while a ticker keeps counting
    (glibc's own stream would block every green thread in its internal read)."""
    native = assert_ok(run_prog("popen_streams", [], "native", timeout=30))
    greened = assert_ok(run_prog("popen_streams", [], "greened", timeout=30))
    lines = native.stdout.splitlines()
    for line in ["read: pclose exit=3", "chars: rest=ef getc_at_end=-1", "write: pclose exit=4",
                 "write: command got 8890 bytes", "gone: pclose=-1 EPIPE",
                 "slow: waited=yes ticked_meanwhile=yes", "done"]:
        assert line in lines, native.describe()
    assert greened.stdout == native.stdout, greened.describe() + native.describe()
