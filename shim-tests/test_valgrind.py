"""Greened programs under Valgrind: a user debugging a greened program runs it under
memcheck (`green valgrind ./prog`, or LD_PRELOAD set for valgrind) and expects what the
same command gives natively: the program's own output, no memcheck errors, and its threads
still green."""

import re
import subprocess

from conftest import child_env, green_stats, parse_kv, prog_path

VALGRIND = ["valgrind", "-q", "--error-exitcode=99"]


def run_under_valgrind(name, args, mode, env=None):
    cmd = VALGRIND + [str(prog_path(name)), *map(str, args)]
    r = subprocess.run(cmd, env=child_env(mode, env), capture_output=True, text=True, timeout=300)
    describe = f"\n  command: {' '.join(cmd)} ({mode}), exit {r.returncode}\n  stdout: {r.stdout[-3000:]!r}\n  stderr: {r.stderr[-3000:]!r}"
    # 99: memcheck found errors; a signal: the program or Valgrind itself died.
    assert r.returncode == 0, describe
    assert "client switching stacks" not in r.stderr, describe
    return r, describe


def test_sleeping_threads_under_memcheck(mode):
    """20 threads sleep 200 ms through every sleep call: under memcheck, no thread wakes
    early, and greened they still share one OS thread (Valgrind once died of a SIGSEGV at
    start-up greened, then at the first switch to a green stack)."""
    r, describe = run_under_valgrind("sleepers", [20, "mixed"], mode, env={"GREEN_STATS": "1"})
    out = parse_kv(r.stdout)
    assert out["short_sleeps"] == 0, describe
    if mode == "greened":
        assert out["threads_during"] == 1, describe
        stats = green_stats(r.stderr)
        assert stats is not None and stats["green_threads"] == 20, describe
    else:
        # Valgrind runs one thread at a time: some may not have started when counted.
        assert out["threads_during"] > 1, describe


def test_sync_checks_same_under_memcheck():
    """sync_more's checks (mutexes, rwlocks, barriers, once, condition variables, joins)
    give the same lines under memcheck natively and greened, but for the count of OS
    threads while nine threads wait in pthread_once: 1 greened; natively up to 11, as many
    as Valgrind, which runs one thread at a time, has started by then."""
    native, _ = run_under_valgrind("sync_more", [], "native")
    greened, describe = run_under_valgrind("sync_more", [], "greened")
    blocked = re.compile(r"^threads_while_blocked=(\d+)\n", re.M)
    assert blocked.search(greened.stdout).group(1) == "1", describe
    assert blocked.sub("", greened.stdout) == blocked.sub("", native.stdout), describe
