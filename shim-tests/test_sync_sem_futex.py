"""Semaphores and raw futexes: sem_* (CPython's locks) and syscall(SYS_futex) (Rust's std)
must park only the calling green thread, with the native results, errors and timeouts."""

import subprocess
import sys
import textwrap
import time

import pytest

from conftest import assert_ok, child_env, run_prog, start_prog


def _facts(stdout):
    """The output without its thread-count line, which is the one line allowed to differ."""
    return [line for line in stdout.splitlines() if not line.startswith("threads_while_blocked=")]


def _thread_count(stdout):
    for line in stdout.splitlines():
        if line.startswith("threads_while_blocked="):
            return int(line.split("=", 1)[1])
    return None


def test_sem_futex_same_results_natively_and_greened():
    """Counts, EAGAIN/EINVAL/EOVERFLOW/ETIMEDOUT, wake-ups, a bounded buffer of 6000 items
    and futex bitsets: the greened run prints what the native one prints, on one OS thread
    while five threads are blocked (four in sem_wait, one in FUTEX_WAIT)."""
    native = assert_ok(run_prog("sem_futex", mode="native"))
    greened = assert_ok(run_prog("sem_futex", mode="greened"))
    assert _facts(greened.stdout) == _facts(native.stdout), native.describe() + greened.describe()
    assert native.stdout.rstrip().endswith("done"), native.describe()
    assert _thread_count(native.stdout) == 6, native.describe()
    assert _thread_count(greened.stdout) == 1, greened.describe()


@pytest.mark.parametrize("what,report", [
    ("hang-sem", "waiting on semaphore 0x"),
    ("hang-futex", "futex wait on 0x"),
])
def test_deadlock_report_names_the_wait(what, report):
    """The only thread waits on a semaphore (a futex) nobody can post (wake): greened, the
    deadlock report says so instead of hanging silently."""
    with start_prog("sem_futex", [what], mode="greened", timeout=20) as proc:
        proc.expect_line(r"waiting")
        deadline = time.monotonic() + 10
        while report not in proc.stderr and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "deadlock: all 1 green threads are blocked" in proc.stderr, proc.describe()
        assert report in proc.stderr, proc.describe()


PY_THREADING = textwrap.dedent(r"""
    import os, queue, threading, time

    greened = "libgreen" in os.environ.get("LD_PRELOAD", "")

    def os_threads():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])

    # 20 threads sleep at once; each says it started through a Semaphore.
    lock = threading.Lock()
    started = threading.Semaphore(0)
    woke = []
    def sleeper(i):
        started.release()
        time.sleep(0.3)
        with lock:
            woke.append(i)
    threads = [threading.Thread(target=sleeper, args=(i,)) for i in range(20)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for _ in threads:
        started.acquire()
    during = os_threads()
    print("threads_while_blocked=%d" % during)
    if greened:
        assert during == 1, during
    print("active_count while sleeping:", threading.active_count())
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    print("sleepers:", sorted(woke) == list(range(20)), "overlapped:", 0.3 <= elapsed < 3.0)
    print("active_count after joins:", threading.active_count())

    # Lock: a held lock times out (sem_clockwait), a non-blocking try fails.
    lock.acquire()
    t0 = time.monotonic()
    got = lock.acquire(timeout=0.05)
    print("lock timeout:", got, time.monotonic() - t0 >= 0.05)
    print("lock try:", lock.acquire(blocking=False))
    def releaser():
        time.sleep(0.05)
        lock.release()
    t = threading.Thread(target=releaser)
    t.start()
    print("lock acquired after release by another thread:", lock.acquire(timeout=10))
    lock.release()
    t.join()

    # RLock: nested acquisition from 10 threads.
    rlock = threading.RLock()
    counter = [0]
    def bump():
        for i in range(500):
            with rlock:
                with rlock:
                    counter[0] += 1
            if i % 100 == 0:
                time.sleep(0.001)
    threads = [threading.Thread(target=bump) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("rlock counter:", counter[0])
    print("rlock owned by nobody:", rlock.acquire(blocking=False))
    rlock.release()

    # Condition: wait_for a count that 8 threads raise one by one.
    cond = threading.Condition()
    arrived = [0]
    def arrive(i):
        time.sleep(0.01 * (i % 3))
        with cond:
            arrived[0] += 1
            cond.notify_all()
    threads = [threading.Thread(target=arrive, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    with cond:
        ok = cond.wait_for(lambda: arrived[0] == 8, timeout=10)
    for t in threads:
        t.join()
    with cond:
        t0 = time.monotonic()
        timed_out = not cond.wait(timeout=0.05)
    print("condition:", ok, arrived[0], "wait timeout:", timed_out, time.monotonic() - t0 >= 0.05)

    # Semaphore(3): never more than 3 inside at once, and 3 do get in together.
    gate = threading.Semaphore(3)
    inside = [0, 0]
    def visit():
        with gate:
            with lock:
                inside[0] += 1
                inside[1] = max(inside[1], inside[0])
            time.sleep(0.02)
            with lock:
                inside[0] -= 1
    threads = [threading.Thread(target=visit) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("semaphore max inside:", inside[1])
    bounded = threading.BoundedSemaphore(1)
    try:
        bounded.release()
        print("bounded semaphore: no error")
    except ValueError:
        print("bounded semaphore: ValueError")

    # Event: 5 waiters released together; a wait with a timeout expires.
    event = threading.Event()
    seen = []
    def await_event(i):
        if event.wait(timeout=10):
            with lock:
                seen.append(i)
    threads = [threading.Thread(target=await_event, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    print("event waiters before set:", len(seen))
    event.set()
    for t in threads:
        t.join()
    print("event waiters after set:", sorted(seen))
    event.clear()
    t0 = time.monotonic()
    print("event wait timeout:", event.wait(timeout=0.05), time.monotonic() - t0 >= 0.05)

    # queue.Queue: 4 producers, 3 consumers, a bounded queue.
    q = queue.Queue(maxsize=5)
    results = queue.Queue()
    def produce(p):
        for i in range(250):
            q.put(p * 1000 + i)
    def consume():
        total = count = 0
        while True:
            item = q.get()
            if item is None:
                break
            total += item
            count += 1
        results.put((count, total))
    producers = [threading.Thread(target=produce, args=(p,)) for p in range(4)]
    consumers = [threading.Thread(target=consume) for _ in range(3)]
    for t in consumers + producers:
        t.start()
    for t in producers:
        t.join()
    for _ in consumers:
        q.put(None)
    for t in consumers:
        t.join()
    counts = [results.get() for _ in consumers]
    expected = sum(p * 1000 + i for p in range(4) for i in range(250))
    print("queue items:", sum(c for c, _ in counts), "sum ok:", sum(s for _, s in counts) == expected)
    try:
        q.get(timeout=0.05)
    except queue.Empty:
        print("queue get timeout: Empty")
    print("done")
""")


def _run_python(mode):
    proc = subprocess.run([sys.executable, "-c", PY_THREADING], env=child_env(mode),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    info = (f"\n  mode: {mode}, exit {proc.returncode}"
            f"\n  stdout: {proc.stdout[-3000:]!r}\n  stderr: {proc.stderr[-3000:]!r}")
    assert proc.returncode == 0, "python script failed" + info
    return proc.stdout, info


def test_python_threading_greened_matches_native():
    """CPython's threading (Lock, RLock, Condition, Semaphore, Event, queue.Queue, sleeps,
    joins) on green threads: same output as natively, with 20 sleeping threads on one OS
    thread."""
    native, native_info = _run_python("native")
    greened, greened_info = _run_python("greened")
    assert _facts(greened) == _facts(native), native_info + greened_info
    assert native.rstrip().endswith("done"), native_info
    assert _thread_count(native) == 21, native_info
    assert _thread_count(greened) == 1, greened_info


SHARED_SEM_EXPECTED = "".join(
    f"{kind}: 5 waiters woke, poster exit 0, ticks while waiting>=5 yes, value now 0\n"
    f"{kind}: trywait on 0=-1 EAGAIN\n"
    f"{kind}: timedwait 50 ms=-1 ETIMEDOUT waited>=45ms yes\n"
    f"{kind}: post twice, wait=0 value=1\n"
    for kind in ("named", "pshared")
) + "sem_open of a missing name: SEM_FAILED ENOENT\n"


def test_semaphores_posted_by_another_process(mode):
    """A named semaphore (sem_open) and a process-shared one (sem_init pshared=1 in shared
    memory): 5 threads wait, a forked child posts 5 units; every waiter wakes and a ticker
    thread kept running meanwhile (greened, a sem_wait that blocked the OS thread would stop
    it). trywait, timedwait and getvalue as natively."""
    r = assert_ok(run_prog("shared_sem", [], mode))
    lines = r.stdout.splitlines(keepends=True)
    counts = [int(line.split("=")[1]) for line in lines if line.startswith("threads_while_waiting=")]
    facts = "".join(line for line in lines if not line.startswith("threads_while_waiting="))
    assert facts == SHARED_SEM_EXPECTED, r.describe()
    assert counts == ([1, 1] if mode == "greened" else [7, 7]), r.describe()
