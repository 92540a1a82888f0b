"""Waiting for children parks only the waiting thread, with native results."""

import subprocess
import sys
from pathlib import Path

from conftest import assert_ok, child_env, run_prog

EXPECTED = """\
waitpid WNOHANG=0
ticked=1 waitpid=1 exit=7
ticked=1 wait=1 exit=8
ticked=1 wait4=1 exit=9
ticked=1 waitid=0 pid_ok=1 status=10 code_exited=1
ticked=1 system=5
system(NULL)=1
waitpid no child=-1 ECHILD
waitpid interrupted=-1 EINTR
waitpid restarted=1 exit=11
"""


def test_wait_family(mode):
    """waitpid, wait, wait4, waitid and system return the child's status while a ticker
    thread keeps ticking; WNOHANG, ECHILD, EINTR and SA_RESTART behave as natively."""
    r = assert_ok(run_prog("wait_family", [], mode, timeout=60))
    assert r.stdout == EXPECTED, r.describe()


def test_python_subprocess_from_20_threads(mode):
    """subprocess.run from 20 threads at once and os.system: every result right, the runs
    overlap (20 x 0.3 s finish well under the 6 s a serial run takes), and greened the
    whole thing stays on one OS thread."""
    script = Path(__file__).parent / "py" / "subprocess_threads.py"
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       timeout=60, env=child_env(mode))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "results_ok=True", r.stdout
    assert float(lines[1].split("=")[1]) < 3.0, r.stdout
    assert lines[2] == "system_exit=3", r.stdout
    if mode == "greened":
        assert lines[3] == "threads=1", r.stdout
