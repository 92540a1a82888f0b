"""Read-write locks, barriers, pthread_once, spin locks, thread names, pthread_kill and
pthread_cancel: green waits that park only the calling green thread, with the native
results, errors and timeouts."""

import time

from conftest import assert_ok, run_prog, start_prog

EXPECTED = """\
rwlock prefer-reader: readers together=2, writer saw readers inside=0, order=late-reader(try ok),writer, elapsed>=150ms yes
rwlock prefer-writer: readers together=2, writer saw readers inside=0, order=writer,late-reader(try EBUSY), elapsed>=150ms yes
rwlock exclusion: counter=8000 violations=0
rwlock free: timedrdlock(bad nsec)=EINVAL timedwrlock(bad nsec)=EINVAL clockrdlock(CPU clock)=EINVAL
rwlock free: timedrdlock(past)=0
rwlock main holds write: rdlock=EDEADLK wrlock=EDEADLK tryrdlock=EBUSY trywrlock=EBUSY timedwrlock(bad nsec)=EINVAL
rwlock other thread while main holds write: tryrdlock=EBUSY trywrlock=EBUSY timedwrlock=ETIMEDOUT waited>=50ms yes clockrdlock=ETIMEDOUT waited>=50ms yes timedrdlock(past)=ETIMEDOUT
rwlock other thread while main holds read twice: tryrdlock=0 trywrlock=EBUSY timedwrlock=ETIMEDOUT waited>=50ms yes
rwlock timedwrlock while another thread holds it briefly: 0 waited<1s yes
rwlock unlock of an unlocked lock=0
barrier cycle 0: serial=1 left before all arrived=0
barrier cycle 1: serial=1 left before all arrived=0
barrier cycle 2: serial=1 left before all arrived=0
barrier destroy=0
barrier of 1: wait=SERIAL wait=SERIAL
barrier init count 0=EINVAL
once: routine ran 1 time(s), 10 threads saw it done, elapsed>=100ms yes
once: a later call ran it again: no
once: routine that exits its thread ran 2 time(s)
spin: counter=2000 trylock while held=EBUSY
name 0: set by main=worker-0 set by itself=self-0
name 1: set by main=worker-1 set by itself=self-1
name 2: set by main=worker-2 set by itself=self-2
name errors: 16-byte name=ERANGE 8-byte buffer=ERANGE
name: unnamed thread=sync_more main=sync_more
kill: running thread, signal 0=0
kill: SIGUSR1 to a thread blocked in read: handler runs=1 read=-1 EINTR main's sleep=complete
kill: ended thread not yet joined, signal 0=0 SIGUSR1=0 handler runs=1
kill: joined it, returned 42
kill: self SIGUSR1=0 handler runs=2, signal 9999=EINVAL, signal 32=EINVAL
done
"""

BLOCKED = "threads_while_blocked="


def _facts(stdout):
    """The output without its thread-count line, which is the one line allowed to differ."""
    return "".join(line for line in stdout.splitlines(keepends=True) if not line.startswith(BLOCKED))


def _thread_count(stdout):
    for line in stdout.splitlines():
        if line.startswith(BLOCKED):
            return int(line[len(BLOCKED):])
    return None


def test_sync_more_results(mode):
    """Readers share an rwlock while a writer waits (and a late reader gets in first or
    after the writer, by the lock's kind); writers exclude everyone under 8 threads that
    yield inside; try* EBUSY, EDEADLK, ETIMEDOUT after >= 50 ms, EINVAL for bad timespecs;
    a 5-thread barrier over 3 cycles with one serial thread each; pthread_once whose routine
    sleeps 100 ms while 9 threads wait (and one whose routine ends its thread); a spin lock
    held across a yield; per-thread names; pthread_kill of a running, a blocked and an ended
    thread. The same output natively and greened."""
    r = assert_ok(run_prog("sync_more", [], mode))
    assert _facts(r.stdout) == EXPECTED, r.describe()
    # The main thread and the ten threads calling pthread_once, of which nine are waiting.
    assert _thread_count(r.stdout) == (1 if mode == "greened" else 11), r.describe()


def test_cancel(mode):
    """pthread_cancel of a sleeping thread cancels it (join returns PTHREAD_CANCELED),
    natively and greened; for an ended thread not yet joined both say 0."""
    r = assert_ok(run_prog("sync_more", ["cancel"], mode))
    assert r.stdout == "cancel: pthread_cancel=0 thread was cancelled\n" "cancel: ended thread not yet joined=0\n", (
        r.describe()
    )


def test_deadlock_report_names_rwlock():
    """The main thread holds a write lock and joins a thread that wants to read it: greened,
    the deadlock report names both waits instead of hanging silently."""
    with start_prog("sync_more", ["hang-rwlock"], mode="greened", timeout=20) as proc:
        proc.expect_line(r"waiting")
        deadline = time.monotonic() + 10
        while "locking rwlock 0x" not in proc.stderr and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "deadlock: all 2 green threads are blocked" in proc.stderr, proc.describe()
        assert "pthread_join(thread 2)" in proc.stderr, proc.describe()
        assert "locking rwlock 0x" in proc.stderr and "for read" in proc.stderr, proc.describe()
