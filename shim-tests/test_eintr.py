"""Signals interrupt the main thread's blocking call, as natively."""

import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import assert_ok, child_env, run_prog

EXPECTED = """\
sleep(5) left=4
nanosleep=-1 EINTR left_between_1.5_and_2s=1
usleep=-1 EINTR
clock_nanosleep=EINTR
read without SA_RESTART=-1 EINTR
poll=-1 EINTR
read with SA_RESTART=1 byte=z
poll with SA_RESTART=-1 EINTR
alarms=8
"""


def test_handler_interrupts_blocked_main_thread(mode):
    """SIGALRM 100 ms into each blocking call: sleeps return EINTR with the time left, a
    read returns EINTR without SA_RESTART and is restarted with it, poll never restarts."""
    r = assert_ok(run_prog("eintr", [], mode, timeout=60))
    assert r.stdout == EXPECTED, r.describe()


def test_ctrl_c_interrupts_python_sleep(mode):
    """SIGINT raises KeyboardInterrupt out of time.sleep(30) promptly (a thread is running
    too, so greened the main thread sleeps on the hub, not in the kernel)."""
    script = Path(__file__).parent / "py" / "ctrl_c_sleep.py"
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_env(mode),
                            start_new_session=True)
    try:
        assert proc.stdout.readline() == "sleeping\n"
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        waited = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out.startswith("interrupted after "), (out, err)
    assert waited < 5, f"KeyboardInterrupt took {waited:.1f} s"
