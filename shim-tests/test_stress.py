"""Stress: 1000 threads doing random mixes of blocking I/O over socket pairs, pipes and TCP
loopback connections (shim-tests/c/stress_io.c), natively and greened.

Every byte is accounted for: each of the 500 channels carries a stream whose content the
reader checks byte by byte, and at the end the bytes sent and received must match per
channel (and per transport); notes handed from writer to reader through a mutex and a
condition variable must arrive in order, none lost. The program prints the seed of its
random choices first, so a failure can be repeated with `stress_io SECONDS SEED`.

Greened, all 1000 threads are green threads on the one OS thread: the program reads
"Threads:" from /proc/self/status while they run and must see 1. A hang is caught by the
harness's watchdog, well past the run's own length.

The run is short here (STRESS_SECONDS, default 3 s per mode). For a long run, e.g. 300 s
in both modes:

    make build progs
    STRESS_SECONDS=300 python3 -m pytest shim-tests/test_stress.py -q
"""

import os
import re

from conftest import parse_kv, raise_nofile_limit, run_prog

SECONDS = float(os.environ.get("STRESS_SECONDS", "3"))
THREADS = 1000
# Setup, the run, the readers draining what is in flight, and the joins take a few seconds
# beyond the run itself even on a loaded machine; a hang is anything far past that.
WATCHDOG = SECONDS + 60


def test_stress_io(mode):
    raise_nofile_limit()
    r = run_prog("stress_io", [f"{SECONDS:g}"], mode, timeout=WATCHDOG)
    assert r.returncode == 0, "stress_io failed" + r.describe()
    assert re.search(r"^seed=\d+ channels=500 threads=1000 ", r.stdout, re.M), r.describe()

    running = re.search(r"^os_threads_while_running=(\d+)$", r.stdout, re.M)
    assert running, r.describe()
    os_threads = int(running.group(1))
    if mode == "greened":
        assert os_threads == 1, "greened threads must share one OS thread" + r.describe()
    else:
        assert os_threads == THREADS + 1, r.describe()

    line = re.search(r"^totals (.*)$", r.stdout, re.M)
    assert line, r.describe()
    totals = parse_kv(line.group(1))
    assert totals["failed_channels"] == 0, r.describe()
    assert totals["sent"] == totals["received"] > 0, r.describe()
    for kind in ("socketpair", "pipe", "tcp"):
        sent, received = (int(n) for n in totals[kind].split("/"))
        assert sent == received > 0, f"{kind}: {sent} sent, {received} received" + r.describe()
    assert totals["ops"] > THREADS, r.describe()
    assert totals["notes_taken"] > 0, r.describe()
    assert totals["notes_posted"] == totals["notes_taken"] + totals["notes_dropped"], r.describe()
