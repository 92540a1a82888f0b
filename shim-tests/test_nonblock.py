"""O_NONBLOCK as the program sees it, and as the processes it shares descriptions with see it.

A runtime that parks blocking calls on an epoll hub is tempted to make descriptors
nonblocking under the hood. The program must not be able to tell: F_GETFL shows exactly the
flags it set, descriptors it made nonblocking fail with EAGAIN at once, and ones it did not
(or made blocking again) block. A description inherited from outside (stdin from a pipe) is
shared with other processes and must never gain O_NONBLOCK at all.
"""

import fcntl
import os
import time

from conftest import assert_ok, parse_kv, run_prog, start_prog, thread_count

NATIVE_EXPECTED = """\
socketpair_0 flags=0x2 nonblock=0
socketpair_1 flags=0x2 nonblock=0
socketpair_blocking_read ret=1 errno=0 waited=1
socketpair_fcntl_set flags=0x802 nonblock=1
socketpair_other_end_untouched flags=0x2 nonblock=0
read_nonblock_empty ret=-1 errno=EAGAIN at_once=1
recv_nonblock_empty ret=-1 errno=EAGAIN at_once=1
write_nonblock_until_full wrote_some=1 ret=-1 errno=EAGAIN at_once=1
dup_of_nonblocking flags=0x802 nonblock=1
original_after_dup_cleared flags=0x2 nonblock=0
socketpair_fcntl_cleared flags=0x2 nonblock=0
read_after_clear ret=1 errno=0 waited=1
socketpair_fionbio_set flags=0x802 nonblock=1
read_fionbio_empty ret=-1 errno=EAGAIN at_once=1
socketpair_fionbio_cleared flags=0x2 nonblock=0
read_after_fionbio_clear ret=1 errno=0 waited=1
socketpair_sock_nonblock_0 flags=0x802 nonblock=1
socketpair_sock_nonblock_1 flags=0x802 nonblock=1
read_sock_nonblock_empty ret=-1 errno=EAGAIN at_once=1
pipe_read_end flags=0x0 nonblock=0
pipe_write_end flags=0x1 nonblock=0
pipe_blocking_read ret=1 errno=0 waited=1
pipe_read_end_fcntl_set flags=0x800 nonblock=1
pipe_read_nonblock_empty ret=-1 errno=EAGAIN at_once=1
pipe_read_end_fcntl_cleared flags=0x0 nonblock=0
pipe2_nonblock_read_end flags=0x800 nonblock=1
pipe2_nonblock_write_end flags=0x801 nonblock=1
tcp_socket_default flags=0x2 nonblock=0
tcp_listener_fcntl_set flags=0x802 nonblock=1
accept_nonblock_no_client ret=-1 errno=EAGAIN at_once=1
tcp_socket_sock_nonblock flags=0x802 nonblock=1
connect_nonblock ret=-1 errno=EINPROGRESS at_once=1
connect_nonblock_completed so_error=0
accepted_from_nonblocking_listener flags=0x2 nonblock=0
read_nonblock_tcp_empty ret=-1 errno=EAGAIN at_once=1
read_blocking_tcp ret=1 errno=0 waited=1
tcp_client_blocking_connected flags=0x2 nonblock=0
accept4_sock_nonblock flags=0x802 nonblock=1
recv_accept4_nonblock_empty ret=-1 errno=EAGAIN at_once=1
accept4_no_flags flags=0x2 nonblock=0
tcp_listener_fcntl_cleared flags=0x2 nonblock=0
accept_blocking_listener ok=1 errno=0 waited=1
accepted_from_blocking_listener flags=0x2 nonblock=0
"""


def test_nonblocking_flags_and_calls(mode):
    r = assert_ok(run_prog("nonblock", ["flags"], mode, timeout=30))
    if mode == "native":
        assert r.stdout == NATIVE_EXPECTED, r.describe()
    else:
        native = assert_ok(run_prog("nonblock", ["flags"], "native", timeout=30))
        assert r.stdout == native.stdout, (
            "greened output differs from native:" + native.describe() + r.describe())


CHUNKS = 6
CHUNK_BYTES = 10000  # all chunks together stay below the 64 KiB pipe buffer
CHUNK_PAUSE_S = 0.25
TICK_MS = 50


def _nonblock(fd):
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK)


def test_stdin_pipe_stays_blocking(mode):
    """The program reads its stdin pipe with blocking read() in one thread while another
    ticks. The test writes the data slowly; the pipe's read side, whose file description the
    test shares with the program, must never show O_NONBLOCK, during the run or after."""
    rfd, wfd = os.pipe()
    try:
        assert not _nonblock(rfd)
        with start_prog("nonblock", ["stdin"], mode, stdin=rfd, timeout=60) as proc:
            flag_samples, thread_samples = [], []
            for i in range(CHUNKS):
                time.sleep(CHUNK_PAUSE_S)  # the reader is blocked in read() meanwhile
                flag_samples.append(_nonblock(rfd))
                thread_samples.append(thread_count(proc.pid))
                os.write(wfd, bytes([65 + i]) * CHUNK_BYTES)
            time.sleep(CHUNK_PAUSE_S)
            flag_samples.append(_nonblock(rfd))
            os.close(wfd)
            wfd = -1
            assert proc.wait() == 0, proc.describe()
        after_exit = _nonblock(rfd)
    finally:
        os.close(rfd)
        if wfd >= 0:
            os.close(wfd)

    out = parse_kv(proc.stdout)
    assert out["stdin_bytes"] == CHUNKS * CHUNK_BYTES, proc.describe()
    assert out["stdin_nonblock_seen"] == 0, proc.describe()
    assert not any(flag_samples), f"O_NONBLOCK seen on the shared pipe: {flag_samples}"
    assert not after_exit, "the shared pipe was left with O_NONBLOCK"
    # The ticker kept running while the reader was blocked.
    assert out["run_ms"] >= CHUNKS * CHUNK_PAUSE_S * 1000, proc.describe()
    assert out["ticks"] >= 0.7 * out["run_ms"] / TICK_MS - 1, proc.describe()
    thread_samples = [t for t in thread_samples if t is not None]
    assert thread_samples, "could not sample the thread count"
    assert set(thread_samples) == ({1} if mode == "greened" else {3}), thread_samples


def test_connect_on_a_socket_we_did_not_make(mode):
    """A blocking connect on a socket made by a raw system call (as an inherited one would
    be), to a listener whose accept queue is full, waits about a second for the SYN's
    retransmission once the main thread accepted: it returns 0, and meanwhile a ticker
    thread ticked and the main thread got to accept (greened, the handshake does not hold
    the hub)."""
    r = assert_ok(run_prog("foreign_connect", [], mode, timeout=60))
    assert r.stdout == "connect 0\nticked during the connect: yes\n", r.describe()
