"""stdio streams (fdopen) and POSIX AIO on the pipes and sockets a program creates.

Greened, those descriptions are non-blocking underneath, and glibc's stdio and AIO helper
threads do their I/O with internal calls no hook sees: the streams and requests must still
wait as natively, never fail with EAGAIN, and lose no byte. Every program runs natively and
greened with the same output.
"""

import asyncio
import os
import subprocess
import time

import pytest
from conftest import LIBGREEN, TEST_BIN, assert_ok, parse_kv, run_prog, start_prog, thread_count

CLIENTS = 200
LINES = 50


async def _client(port, index, failures):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for k in range(1, LINES + 1):
            line = f"client {index} line {k} " + "x" * ((index * 7 + k * 13) % 300) + "\n"
            data = line.encode()
            # Several pieces with pauses: the server's fgets must wait for the rest.
            cuts = sorted({len(data) // 3, 2 * len(data) // 3})
            for start, end in zip([0] + cuts, cuts + [len(data)]):
                writer.write(data[start:end])
                await writer.drain()
                if k % 5 == 0:
                    await asyncio.sleep(0.002)
            reply = await asyncio.wait_for(reader.readline(), 60)
            expected = f"{k}:{line}".encode()
            if reply != expected:
                failures.append((index, k, reply[:80], expected[:80]))
                return
        writer.write_eof()
        rest = await asyncio.wait_for(reader.read(), 60)
        if rest:
            failures.append((index, "after end", rest[:80]))
    finally:
        writer.close()


async def _all_clients(port, failures, sample):
    tasks = [asyncio.create_task(_client(port, i, failures)) for i in range(CLIENTS)]
    while not all(t.done() for t in tasks):
        sample()
        await asyncio.sleep(0.05)
    await asyncio.gather(*tasks)


def test_line_server_fdopen_fgets_fprintf(mode):
    """A thread-per-connection line server using fdopen, fgets, fprintf and fflush serves
    200 clients whose lines arrive in pieces: every reply is exact, no stream reports an
    error, and greened the server is one OS thread."""
    server = start_prog("stdio_streams", ["server", CLIENTS], mode, timeout=180)
    with server:
        port = int(server.expect_line(r"PORT (\d+)$", timeout=30).group(1))
        failures, counts = [], []

        def sample():
            n = thread_count(server.pid)
            if n is not None:
                counts.append(n)

        asyncio.run(_all_clients(port, failures, sample))
        rc = server.wait(timeout=60)
    assert not failures, f"{len(failures)} clients got wrong replies, first: {failures[:3]}"
    assert rc == 0, server.describe()
    served = [line for line in server.stdout.splitlines() if line.startswith("SERVED ")]
    assert served, server.describe()
    assert parse_kv(served[0]) == {"conns": CLIENTS, "lines": CLIENTS * LINES, "errors": 0}, (
        server.describe())
    assert counts, "could not sample the server"
    if mode == "greened":
        assert max(counts) == 1, f"greened server had up to {max(counts)} OS threads"


def test_pipe_streams_slow_writer(mode):
    """A writer thread writing slowly through stdio (and leaving bytes buffered for fclose)
    and a reader thread using fgets, getline, getc, ungetc and fread: exact bytes, EOF seen,
    no error flag on either side."""
    r = assert_ok(run_prog("stdio_streams", ["pipe"], mode, timeout=60))
    lines = sorted(r.stdout.splitlines())
    assert lines == [
        "reader: lines=40 bad_lines=0 first=0 pushed=0 block=308200 bad_bytes=0 eof=1 "
        "error=0 getc_after=-1",
        "writer: put=308200 error=0 fclose=0",
    ], r.describe()


def test_fdopen_errors_and_flags(mode):
    """fdopen's errors and flags as natively: EINVAL for a mode the access mode does not
    allow, EBADF for a closed fd, O_APPEND for "a", no FD_CLOEXEC for "e" (glibc's fdopen
    ignores it), fileno, ESPIPE from ftell and fseek, line buffering, a read that waits,
    ungetc, glibc's buffer size, fclose closing the fd, wide I/O and freopen."""
    r = assert_ok(run_prog("stdio_streams", ["flags"], mode, timeout=60))
    assert r.stdout.splitlines() == [
        "read end as w: NULL errno=EINVAL",
        "write end as r: NULL errno=EINVAL",
        "write end as r+: NULL errno=EINVAL",
        "bad mode: NULL errno=EINVAL",
        "closed fd: NULL errno=EBADF",
        "a+e: fileno_ok=1 append=1 cloexec=0 nonblock=0 rdwr=1 fwide=0",
        "ftell=-1 errno=ESPIPE",
        "fseek=-1 errno=ESPIPE",
        "line buffered: early=0 got=7 abcdef",
        "read back: first=x line=Qyz",
        "bufsize after use=4096",
        "fclose=0",
        "after fclose: F_GETFD=-1 errno=EBADF",
        "wide: ok=1 same=1 fwide=1",
        "freopen: stream same_fd=1",
        "freopen fclose=0",
        "read end after freopen: eof_pending=1",
        "fgetwc at eof=1 eof=1 error=0",
    ], r.describe()


def test_aio_on_pipes(mode):
    """aio_read and lio_listio on a pipe whose writer writes 100 ms later complete with the
    bytes, and a 256 KiB aio_write to a pipe drained late is written whole: glibc's helper
    threads see a blocking description, and the program's view of its flags is unchanged."""
    started = time.monotonic()
    r = assert_ok(run_prog("stdio_streams", ["aio"], mode, timeout=60))
    assert r.stdout.splitlines() == [
        "aio_read: error=0 return=10",
        "  got=aaaaaaaaaa nonblock=0",
        "lio_listio read: error=0 return=10",
        "  got=aaaaaaaaaa nonblock=0",
        f"aio_write: error=0 return={256 * 1024}",
        f"  drained={256 * 1024}",
    ], r.describe()
    assert time.monotonic() - started >= 0.3, r.describe()


def test_flockfile_holds_off_other_threads():
    """A thread's flockfile waits while another thread holds the stream (greened: parks
    until the holder's last funlockfile), ftrylockfile fails meanwhile, holds nest."""
    native = assert_ok(run_prog("flockfile_green", mode="native"))
    greened = assert_ok(run_prog("flockfile_green", mode="greened"))
    assert greened.stdout == native.stdout, native.describe() + greened.describe()
    assert "holder released at 0, waiter got it at 1" in native.stdout, native.describe()


def malloc_debug_library():
    """glibc's malloc debugging library (part of libc since 2.34), as ldconfig knows it."""
    listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        if line.strip().startswith("libc_malloc_debug.so") and ("x86-64" in line or "AArch64" in line):
            return line.split("=>")[-1].strip()
    pytest.fail("libc_malloc_debug.so is not installed (glibc 2.34 or later ships it)")


def test_flockfile_under_malloc_tracing(tmp_path):
    """glibc's malloc tracing (MALLOC_TRACE with libc_malloc_debug preloaded) locks its log
    stream with flockfile on every allocation, including allocations our own flockfile makes:
    the nested call must not trip over the stream table it is called from (it crashed)."""
    env = dict(os.environ, MALLOC_TRACE=str(tmp_path / "trace"))
    results = {}
    for mode, preload in (("native", [malloc_debug_library()]),
                          ("greened", [malloc_debug_library(), str(LIBGREEN)])):
        env["LD_PRELOAD"] = ":".join(preload)
        results[mode] = subprocess.run([str(TEST_BIN / "flockfile_green")], env=env, capture_output=True,
                                       text=True, timeout=60)
        assert results[mode].returncode == 0, (mode, results[mode].stderr)
    assert results["greened"].stdout == results["native"].stdout
    assert (tmp_path / "trace").stat().st_size > 0, "malloc tracing wrote nothing: was it on?"
