"""Standard input read through stdio while other threads work.

glibc's stdio reads stdin with its internal read, which no hook of `read` sees: greened, a
thread waiting in fgets, scanf, std::getline and the rest must park only itself, as natively
only that thread waits. Each program starts a ticker thread, waits for a line the test
writes half a second later, and says whether the ticker ran meanwhile; natively and
greened the output is the same.
"""

import os
import pty
import select
import subprocess
import sys
import time

import pytest
from conftest import assert_ok, child_env, prog_path, run_prog, start_prog

WAYS = ["fgets", "getchar", "scanf", "fread", "getline", "fgetws"]
EXPECTED = "read: hello world\nticker ran while it waited: yes\n"
LINE = b"hello world\n"


def run_fed_late(name, args, mode, source):
    """Runs `name` with its stdin a pipe or a terminal (`source`) that gets LINE half a second
    after the start (a pipe then ends); returns the result."""
    if source == "pipe":
        read_end, write_end = os.pipe()
    else:
        write_end, read_end = pty.openpty()
    try:
        proc = start_prog(name, args, mode, stdin=read_end, timeout=60)
    finally:
        os.close(read_end)
    try:
        time.sleep(0.5)
        try:
            os.write(write_end, LINE)
        except BrokenPipeError:
            pass  # it has ended already (a read that failed)
        if source == "pipe":
            # The input ends after the line (a terminal stays open: a hang-up would drop it).
            os.close(write_end)
            write_end = None
        proc.wait()
    finally:
        if write_end is not None:
            os.close(write_end)
    return proc


@pytest.mark.parametrize("source", ["pipe", "terminal"])
@pytest.mark.parametrize("way", WAYS)
def test_stdin_from_the_caller(way, source, mode):
    """stdin as the caller gave it: a pipe or a terminal the process did not make."""
    proc = run_fed_late("stdio_stdin", ["given", way], mode, source)
    assert proc.returncode == 0 and proc.stdout == EXPECTED, (proc.stdout, proc.stderr)


def test_large_fread_from_a_pipe(mode):
    """fread of more than the stream's buffer holds, which glibc reads straight into the
    caller's memory, from a pipe that ends after the line."""
    proc = run_fed_late("stdio_stdin", ["given", "fread-large"], mode, "pipe")
    assert proc.returncode == 0 and proc.stdout == EXPECTED, (proc.stdout, proc.stderr)


@pytest.mark.parametrize("way", WAYS + ["fread-large"])
def test_stdin_the_program_made(way, mode):
    """stdin a pipe the program made and dup2'd onto 0 (greened, a description the runtime
    made non-blocking: stdio must wait, not report EAGAIN as an error)."""
    r = assert_ok(run_prog("stdio_stdin", ["own", way], mode, timeout=60))
    assert r.stdout == EXPECTED, r.describe()


@pytest.mark.parametrize("source", ["pipe", "terminal"])
def test_cin_getline(source, mode):
    """C++: std::getline(std::cin, ...) while a std::thread ticks."""
    proc = run_fed_late("cin_getline", [], mode, source)
    assert proc.returncode == 0 and proc.stdout == EXPECTED, (proc.stdout, proc.stderr)


@pytest.mark.parametrize("signal_kind", ["interrupt", "restart"])
def test_signal_during_the_wait(signal_kind, mode):
    """A SIGALRM handler runs 300 ms into fgets' wait: without SA_RESTART the read fails with
    EINTR (stream error flag set), with it the wait goes on to the line."""
    proc = run_fed_late("stdio_stdin", ["given", "fgets", signal_kind], mode, "pipe")
    first = ("read: fgets: NULL (error, errno EINTR)\n" if signal_kind == "interrupt"
             else "read: hello world\n")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert proc.stdout == first + "ticker ran while it waited: yes\n", (proc.stdout, proc.stderr)


def test_threads_take_turns_on_one_stream(mode):
    """Four threads read one stdin with fgets while lines come in bursts: each line reaches
    exactly one of them (glibc's stream lock lets every green thread in, so a reader must
    wait only where the stream is consistent)."""
    r = assert_ok(run_prog("stdio_stdin", ["pool"], mode, timeout=60))
    assert r.stdout == "pool: 300 of 300 lines reached exactly one thread, 0 stray\n", r.describe()


def read_until(fd, marker, seconds):
    """Reads the terminal's master side until `marker` shows; returns what was read."""
    seen = b""
    end = time.monotonic() + seconds
    while marker not in seen and time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    return seen


def answer_on_a_terminal(argv, mode, expected, pause=0.0, stderr_too=False):
    """Runs `argv` in `mode` with a terminal for stdin and stdout (and stderr if
    `stderr_too`), answers "bob" once its prompt "name? " shows (after `pause` s), and
    asserts that `expected` follows and that it exits with 0."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave,
                            stderr=slave if stderr_too else subprocess.PIPE,
                            env=child_env(mode), start_new_session=True)
    os.close(slave)
    try:
        seen = read_until(master, b"name? ", 20)
        assert b"name? " in seen, seen
        time.sleep(pause)
        os.write(master, b"bob\n")
        seen = read_until(master, expected, 20)
        assert expected in seen, seen
        assert proc.wait(timeout=20) == 0, proc.stderr and proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


@pytest.mark.parametrize("streams", ["stdin-stdout", "one-rw"])
def test_prompt_shows_before_the_wait(streams, mode):
    """On a terminal, stdout is line buffered: a prompt printed without a newline must show
    before fgets waits for the answer (glibc flushes it first), or nobody would answer. The
    same on one stream that opens the terminal "r+", whose reads write its output first."""
    args = ["prompt"] + (["rw"] if streams == "one-rw" else [])
    answer_on_a_terminal([str(prog_path("stdio_stdin"))] + args, mode, b"hello bob")


PY_INPUT = """
import threading, time
ticks, stop = 0, False
def tick():
    global ticks
    while not stop:
        time.sleep(0.01)
        ticks += 1
ticker = threading.Thread(target=tick)
ticker.start()
name = input("name? ")
seen = ticks
stop = True
ticker.join()
print("hello", name, "- ticker ran while input() waited:", seen >= 10)
"""


def test_python_input_on_a_terminal(mode):
    """Python's input() on a terminal (without the readline module) reads with fgets(stdin),
    its prompt on stderr: a thread of the program must go on running while it waits, as
    natively."""
    answer_on_a_terminal([sys.executable, "-c", PY_INPUT], mode,
                         b"hello bob - ticker ran while input() waited: True", pause=0.5, stderr_too=True)
