"""Thread-local variables per green thread, and a Rust std program written for native
threads (which keeps each thread's identity in thread-locals)."""

import platform

import pytest

from conftest import assert_ok, run_prog

# On x86-64 every green thread has a thread pointer of its own; elsewhere thread-locals are
# swapped in place and share one address (README, Limits).
OWN_ADDRESSES = platform.machine() == "x86_64"

SLEEPING = "threads_while_sleeping="


def _split(stdout):
    """(the output without the OS-thread line, the OS threads it reported)."""
    facts, threads = [], None
    for line in stdout.splitlines(keepends=True):
        if line.startswith(SLEEPING):
            threads = int(line[len(SLEEPING):])
        else:
            facts.append(line)
    return "".join(facts), threads


def test_thread_local_variables(mode):
    """20 threads start from __thread initial values (an int, an 8 KiB array, a pointer),
    keep their own values across sleeps and yields, and the main thread keeps its own; each
    thread's variable has an address of its own."""
    r = assert_ok(run_prog("tls_vars", [], mode))
    facts, threads = _split(r.stdout)
    own = 20 if mode == "native" or OWN_ADDRESSES else 0
    assert facts == (
        "tls: 20 threads started from the initial values, 20 kept their own, returned sum=20290\n"
        "tls: main still has counter=7 label=main\n"
        f"tls: threads whose variable has an address of its own: {own}\n"
    ), r.describe()
    assert threads == (1 if mode == "greened" else 21), r.describe()


RUST_EXPECTED = """\
tcp: 1000 of 1000 replies right, server echoed 100000 bytes
mutex: counter=16000
condvar: items=1000 sum matches=true
condvar: wait_timeout timed out=true
rwlock: final=(1000, 1000) torn reads=0
barrier: leaders=3 left early=0
mpsc: received=1000 sum=499500
sync_channel(0): sent ok=50 sum=1225
sync_channel(4): received=200 sum=19900
mpsc: recv_timeout on an empty channel=Err(Timeout)
sleep: 100 x 200 ms overlapped=true
thread_local: initial values all 7=true kept own value=true destructors run by join=8 main's value=7 unique ids=9
name: Some("worker-7") main=Some("main")
scope: data=[10, 20, 30, 40] total=100
panic: join is_err=true payload=Some("boom") main still runs=true
done
"""


@pytest.mark.skipif(not OWN_ADDRESSES, reason="sync_channel needs own thread pointers (x86-64); see README Limits")
def test_rust_std_threads(mode):
    """Rust std, unmodified: thread-per-connection TcpListener (50 clients x 20 echoes),
    Mutex, Condvar (bounded queue, wait_timeout), RwLock, Barrier, mpsc (channel and
    sync_channel, whose blocking paths tell threads apart by a thread-local's address), thread::sleep
    (100 threads overlap), thread_local! with Drop run at thread exit, named and scoped
    threads, a panic caught by join. The native result, on one OS thread."""
    r = assert_ok(run_prog("std_threads", [], mode, timeout=120))
    facts, threads = _split(r.stdout)
    assert facts == RUST_EXPECTED, r.describe()
    assert threads == (1 if mode == "greened" else 101), r.describe()


def test_fork_from_a_thread_with_its_own_thread_locals(mode):
    """fork from a green thread whose thread-locals are its own: the child sees the forking
    thread's values, starts a thread with fresh ones, and gettid() is its pid."""
    r = assert_ok(run_prog("tls_fork", [], mode))
    assert r.stdout == (
        "child: mine=77, its new thread saw 509, gettid is its pid: 1\n"
        "parent thread: mine=77, child exit 4\n"
        "main: mine=5\n"
    ), r.describe()


def test_resolver_state_per_thread(mode):
    """glibc's resolver state (_res) is per thread: 8 threads each start with a blank one of
    their own, initialise it, keep the retry count and options they set across switches,
    and the main thread's settings survive theirs. Ended threads leave no descriptor open."""
    r = assert_ok(run_prog("resolver_state", [], mode))
    assert r.stdout == (
        "resolver: 8 threads, state of their own=8 started blank=8 initialised=8 kept own options=8\n"
        "resolver: main keeps its own: retry=3 same state=1 usevc=0\n"
        "resolver: descriptors left open by ended threads=0\n"
    ), r.describe()
