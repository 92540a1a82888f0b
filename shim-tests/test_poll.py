"""poll(): timeouts, readiness, hang-ups, ignored and invalid entries, and wake-ups from
another thread. Greened output must be exactly the native one, elapsed times aside."""

import re

from conftest import assert_ok, parse_kv, run_prog

# What Linux reports for each case (events POLLIN unless the case name says otherwise):
# POLLIN 0x1, POLLOUT 0x4, POLLHUP 0x10, POLLNVAL 0x20.
NATIVE_EXPECTED = """\
zero_timeout_idle ret=0 revents=0x0
timeout_50ms_idle ret=0 revents=0x0 elapsed_ms=*
writable ret=1 revents=0x4 elapsed_ms=*
data_present ret=1 revents=0x1 elapsed_ms=*
data_present_in_out ret=1 revents=0x5
negative_fd_skipped ret=1 revents=0x0,0x1
peer_closed_data_left ret=1 revents=0x11
peer_closed_drained ret=1 revents=0x11
peer_closed_drained_in_out ret=1 revents=0x15
closed_fd ret=1 revents=0x20
only_negative_fd_50ms ret=0 revents=0x0 elapsed_ms=*
nfds_zero_50ms ret=0 revents=- elapsed_ms=*
nfds_over_rlimit ret=-1 errno=EINVAL
wake_by_write ret=1 revents=0x1 elapsed_ms=*
wake_by_peer_close ret=1 revents=0x11 elapsed_ms=*
"""

# Bounds on elapsed_ms per case: (at least, below). Generous upper bounds: they only have to
# tell "returned at once / after the timeout" from "hung" or "waited for the wrong thing".
ELAPSED_BOUNDS = {
    "timeout_50ms_idle": (50, 5000),
    "writable": (0, 1000),
    "data_present": (0, 1000),
    "only_negative_fd_50ms": (50, 5000),
    "nfds_zero_50ms": (50, 5000),
    "wake_by_write": (100, 5000),
    "wake_by_peer_close": (100, 5000),
}


def _without_elapsed(text):
    return re.sub(r"elapsed_ms=\d+", "elapsed_ms=*", text)


def _check_elapsed(r):
    seen = set()
    for line in r.stdout.splitlines():
        name = line.split()[0]
        if name in ELAPSED_BOUNDS:
            low, high = ELAPSED_BOUNDS[name]
            elapsed = parse_kv(line)["elapsed_ms"]
            assert low <= elapsed < high, f"{name}: elapsed_ms={elapsed}" + r.describe()
            seen.add(name)
    assert seen == set(ELAPSED_BOUNDS), r.describe()


def test_poll_cases(mode):
    r = assert_ok(run_prog("poll_timeouts", [], mode, timeout=30))
    _check_elapsed(r)
    if mode == "native":
        assert _without_elapsed(r.stdout) == NATIVE_EXPECTED, r.describe()
    else:
        native = assert_ok(run_prog("poll_timeouts", [], "native", timeout=30))
        assert _without_elapsed(r.stdout) == _without_elapsed(native.stdout), (
            "greened output differs from native:" + native.describe() + r.describe())


def test_poll_select_many_fds(mode):
    # More fds than the wait list keeps on the stack, and a few: woken by a write from
    # another thread, every call reports exactly the one pipe written to.
    r = assert_ok(run_prog("poll_many", [], mode, timeout=30))
    assert r.stdout == (
        "poll_few ret=1 ready=3:0x1,\n"
        "poll_many ret=1 ready=29:0x1,\n"
        "poll_many_last ret=1 ready=39:0x1,\n"
        "select_few ret=1 ready=2,\n"
        "select_many ret=1 ready=31,\n"
        "done\n"
    )


def test_lone_thread_waits(mode):
    # A single-threaded process waits in the kernel directly: data from another process,
    # EINTR without SA_RESTART, a restarted read, and a thread created by a handler.
    r = assert_ok(run_prog("lone_wait", [], mode, timeout=30))
    assert r.stdout == (
        "from_child ret=1 data=c handled=0\n"
        "no_restart ret=-1 errno=Interrupted system call handled=1\n"
        "restart ret=1 data=r handled=1\n"
        "spawned_by_handler ret=1 data=t handled=1\n"
        "big_write ret=262144 drained=1\n"
        "full_pipe_no_restart ret=-1 errno=Interrupted system call handled=1\n"
        "interrupted_big_write ret=65536 pipe_size=65536 handled=1\n"
    )


LONE_CALLS_EXPECTED = """\
poll_woken ret=1 revents=0x1
select_woken ret=1 isset=1
epoll_woken ret=1 data=42
epoll_timeout ret=0 handled=0
poll_interrupted ret=-1 errno=Interrupted system call handled=1
socket_timeout ret=-1 errno=Resource temporarily unavailable handled=0
eventfd_rounds good=1000 of 1000
eventfd_short_read ret=-1 errno=Invalid argument handled=0
eventfd_no_restart ret=-1 errno=Interrupted system call handled=1
eventfd_restart ret=8 value=7 handled=1
"""


def test_lone_thread_calls(mode):
    # A single-threaded process's poll, select, epoll_wait, a read that times out by the
    # socket's own SO_RCVTIMEO and an eventfd hand-off with a child, ended as natively;
    # greened, every one waits in the kernel itself: the hub never waits (GREEN_STATS).
    env = {"GREEN_STATS": "1"} if mode == "greened" else None
    r = assert_ok(run_prog("lone_calls", [], mode, timeout=60, env=env))
    assert r.stdout == LONE_CALLS_EXPECTED, r.describe()
    if mode == "greened":
        stats = re.search(r"switches=(\d+) hub_waits=(\d+)", r.stderr)
        assert stats and stats.groups() == ("0", "0"), r.describe()
