"""Programs started by exec see the file status flags their parent asked for, never ours."""

from conftest import assert_ok, run_prog

EXPECTED = """\
execv child: pipe=0 socket=0 own_nonblocking_pipe=1
posix_spawn child: pipe=0 socket=0 own_nonblocking_pipe=1
posix_spawn_file_actions child: pipe=0 socket=0 own_nonblocking_pipe=1
execl child: pipe=0 socket=0 own_nonblocking_pipe=1
execlp child: pipe=0 socket=0 own_nonblocking_pipe=1
execle child: pipe=0 socket=0 own_nonblocking_pipe=1
system child: pipe=0 socket=0 own_nonblocking_pipe=1
parent: pipe=0 socket=0 own_nonblocking_pipe=1
parent blocking read=1
"""


def test_exec_family_sees_program_flags(mode):
    """Children started by execv, posix_spawn and system see a pipe and a socketpair the
    parent made in blocking mode as blocking, and a pipe the parent made O_NONBLOCK as
    non-blocking; afterwards the parent's blocking read still waits for its writer."""
    r = assert_ok(run_prog("exec_flags", [], mode, timeout=30))
    assert r.stdout == EXPECTED, r.describe()


def test_shell_pipeline_moves_every_byte(mode):
    """A greened shell's pipeline children write into pipes the shell created: each must be
    blocking for them, so no byte is lost to EAGAIN."""
    import subprocess

    from conftest import child_env

    r = subprocess.run(["sh", "-c", "yes | head -c 20000000 | wc -c"], capture_output=True,
                       text=True, timeout=60, env=child_env(mode))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "20000000", r.stderr
    assert "Resource temporarily unavailable" not in r.stderr
