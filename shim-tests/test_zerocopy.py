"""sendfile and splice whose socket or pipe end blocks, and large writes to pipes that are not
ours: the copy parks only its green thread."""

import subprocess
import sys
from pathlib import Path

from conftest import assert_ok, child_env, run_prog

PY_DIR = Path(__file__).parent / "py"

EXPECTED = "".join(
    f"{when}: sendfile(offset) sent=4194304 offset=4194304 file position=1234 received=4194304 in order=1\n"
    f"{when}: sendfile(NULL, past EOF) sent=4194304 file position=4194304 received=4194304 in order=1\n"
    f"{when}: splice moved=4194304 in_off=4194304 received=4194304 in order=1\n"
    f"{when}: splice from an empty socket=5 then read 5 'hello', ticks meanwhile>=3 yes\n"
    f"{when}: ticks while copying>=10 yes\n"
    for when in ("fresh", "after fork")
) + "errors: sendfile(bad in_fd)=-1 EBADF splice(no pipe)=-1 EINVAL\n"


def test_sendfile_and_splice(mode):
    """A 4 MiB file goes through sendfile (with and without an offset pointer, and asking
    past EOF) and through splice file -> pipe -> socket to a slow reader thread; splice
    from an empty socket waits for data a thread sends later. Every byte in order, offsets
    and file positions as natively, and a ticker thread runs throughout (a copy that held the
    OS thread would starve the reader and never finish). Done on fresh sockets and again after
    a fork has handed the descriptions back to blocking mode."""
    r = assert_ok(run_prog("zerocopy", [], mode))
    assert r.stdout == EXPECTED, r.describe()


def test_big_write_to_a_pipe_not_ours(mode):
    """A 4 MiB write() to a blocking pipe handed back to blocking mode by a fork, drained
    by a slow reader thread: write returns the full count, every byte arrives in order, a
    ticker keeps running, and the pipe is still blocking for the program."""
    r = assert_ok(run_prog("pipe_big_write", [], mode))
    assert r.stdout == "write returned 4194304, received 4194304, in order 1, ticker ran yes, O_NONBLOCK 0\n", r.describe()


def test_python_sendfile_with_offset(mode):
    """Python's socket.sendfile over TCP from an offset (CPython's own test_socket case):
    the kernel sendfile ends short at end of input, which must not be taken for a full
    socket buffer."""
    r = subprocess.run([sys.executable, str(PY_DIR / "sendfile_offset.py")], capture_output=True, text=True,
                       env=child_env(mode), timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"sent={1024 * 1024 + 123 - 5000} received right=True position={1024 * 1024 + 123}\n"
