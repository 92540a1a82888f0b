"""fork: the child keeps only its caller and gets a hub of its own; the parent is untouched."""

import subprocess
import sys

import pytest

from conftest import assert_ok, child_env, run_prog


@pytest.mark.parametrize("caller", ["thread", "main"])
def test_fork_while_others_block(caller, mode):
    """Forked from a thread or from main while 100 threads block in reads: the child runs
    5 threads of its own concurrently (greened: on one OS thread, so its hub works), exits
    0, and the parent's blocked readers still get every byte afterwards."""
    r = assert_ok(run_prog("fork_green", [caller], mode, timeout=60))
    threads = 1 if mode == "greened" else 6
    assert r.stdout == (f"child: sleepers=5 concurrent=1 threads_during={threads}\n"
                        "parent: child_exit=0 readers_ok=100\n"), r.describe()


def test_pipe_a_forked_child_keeps_across_exec(mode):
    """A close-on-exec pipe the program made, made inheritable by a forked child that then
    execs (Python's multiprocessing spawns its workers so): greened, the exec gives the
    pipe's O_NONBLOCK back, and the parent's blocking read must still wait green, not in
    the kernel with the hub, where the thread that writes 200 ms later could never run."""
    r = assert_ok(run_prog("fork_exec_shared", [], mode, timeout=60))
    assert r.stdout == "read 1 'x', ticked while waiting: yes\n", r.describe()


def test_multiprocessing_spawn_pool(mode, tmp_path):
    """Python's multiprocessing Pool with the spawn start method: its workers inherit the
    pool's pipes across fork and exec, and the pool's results come back."""
    script = tmp_path / "pool.py"
    script.write_text("import multiprocessing as mp\n"
                      "def square(x):\n    return x * x\n"
                      "if __name__ == '__main__':\n"
                      "    mp.set_start_method('spawn')\n"
                      "    with mp.Pool(3) as pool:\n"
                      "        print(pool.map(square, [1, 2, 3]))\n")
    r = subprocess.run([sys.executable, str(script)], env=child_env(mode), capture_output=True, text=True,
                       timeout=120)
    assert (r.returncode, r.stdout) == (0, "[1, 4, 9]\n"), r.stderr[-2000:]


def test_close_on_exec_descriptions_a_fork_shares(mode):
    """Close-on-exec descriptions the program made blocking (eventfd, pipe, socket pair),
    shared by fork: both sides find them blocking in the kernel's own record, a lone thread
    on either side waits in its blocking calls on them, and the parent's blocking read with
    a second thread and a ticker still waits green."""
    r = assert_ok(run_prog("fork_cloexec", [], mode, timeout=60))
    assert r.stdout == ("child: eventfd blocking, pipe blocking, socket blocking\n"
                        "child: pipe read 1 'p', socket recv 1 's'\n"
                        "parent: eventfd read 8 = 1, child status 0\n"
                        "parent: eventfd blocking, pipe blocking, socket blocking\n"
                        "parent: eventfd read 8 = 1, ticked while waiting: yes\n"), r.describe()


@pytest.mark.parametrize("pipe", ["close-on-exec", "inheritable"])
def test_readers_waiting_when_a_fork_gives_their_pipe_back(pipe, mode):
    """Two threads wait to read one pipe the program made when the main thread forks: the
    fork gives the description back to blocking. One byte wakes the readers and one gets
    it; the other must wait again without blocking the hub, for the main thread writes the
    second byte 200 ms later while a ticker runs (a hang before)."""
    args = ["inheritable"] if pipe == "inheritable" else []
    r = assert_ok(run_prog("fork_inflight", args, mode, timeout=60))
    assert r.stdout == "after one byte: 1 read; after two: 2 read; ticked: yes\n", r.describe()
