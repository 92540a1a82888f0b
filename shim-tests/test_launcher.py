"""The `green` launcher: options, validation, finding libgreen.so, LD_PRELOAD, exec errors.

The launcher comes from $GREEN_LAUNCHER and the library from $LIBGREEN (both default to
target/release in the repository, which `make` builds).
"""

import ctypes.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = Path(os.environ.get("GREEN_LAUNCHER") or ROOT / "target/release/green")
LIBRARY = Path(os.environ.get("LIBGREEN") or ROOT / "target/release/libgreen.so")


def clean_env(**extra):
    """The test's environment without any GREEN_* or LD_PRELOAD of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREEN_") and k != "LD_PRELOAD"}
    env.update(extra)
    return env


def green(*args, library=True, launcher=LAUNCHER, **env):
    """Runs the launcher; with library=True it is pointed at LIBRARY through GREEN_LIBRARY."""
    if library:
        env.setdefault("GREEN_LIBRARY", str(LIBRARY))
    return subprocess.run([str(launcher), *map(str, args)], env=clean_env(**env),
                          capture_output=True, text=True, timeout=60)


def first_preload_entry(output):
    return re.split(r"[ :]", output.strip())[0]


def crate_version():
    text = (ROOT / "Cargo.toml").read_text()
    return re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE).group(1)


@pytest.fixture(autouse=True, scope="module")
def built():
    if not LAUNCHER.is_file():
        pytest.fail(f"launcher {LAUNCHER} is not built (cargo build --release)")


# --- Options ------------------------------------------------------------------------------

def test_help():
    r = green("--help")
    assert r.returncode == 0, r.stderr
    assert "Usage: green" in r.stdout
    for option in ("--log", "--stack-size", "--stats", "--disable", "--library", "--version"):
        assert option in r.stdout
    assert green("-h").stdout == r.stdout


def test_version():
    r = green("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"green {crate_version()}\n"
    assert green("-V").stdout == r.stdout


def test_unknown_option():
    r = green("--frobnicate", "true")
    assert r.returncode == 2
    assert r.stderr == "green: unrecognized option '--frobnicate'\nTry 'green --help'.\n"


def test_missing_command():
    for args in ([], ["--stats"], ["--"]):
        r = green(*args)
        assert r.returncode == 2, args
        assert r.stderr == "green: missing command\nTry 'green --help'.\n"


def test_missing_option_value():
    r = green("--log")
    assert r.returncode == 2
    assert "'--log' requires an argument" in r.stderr
    assert "Try 'green --help'." in r.stderr


def test_bad_log_option():
    r = green("--log", "loud", "true")
    assert r.returncode == 2
    assert r.stderr == ("green: --log: GREEN_LOG=loud is not valid: "
                        "expected one of off, error, warn, info, debug, trace\n")


def test_bad_stack_size_option():
    for args in (["--stack-size", "12x"], ["--stack-size=1K"], ["--stack-size", "2G"]):
        r = green(*args, "true")
        assert r.returncode == 2, args
        assert len(r.stderr.splitlines()) == 1
        assert r.stderr.startswith("green: --stack-size: GREEN_STACK_SIZE=")
        assert "is not valid: expected a byte count" in r.stderr


def test_bad_setting_in_environment():
    r = green("true", GREEN_STATS="yes")
    assert r.returncode == 2
    assert r.stderr == "green: GREEN_STATS=yes is not valid: expected 0 or 1\n"
    r = green("true", GREEN_STACK_SIZE="huge")
    assert r.returncode == 2
    assert r.stderr.startswith("green: GREEN_STACK_SIZE=huge is not valid: expected ")


def test_option_replaces_bad_environment_value():
    r = green("--log", "error", "sh", "-c", 'echo "$GREEN_LOG"', GREEN_LOG="loud")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "error\n"


def test_options_stop_at_command():
    r = green("--", "sh", "-c", 'echo "$0 $1"', "--log", "--bogus")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "--log --bogus\n"


# --- The child's environment --------------------------------------------------------------

def test_preload_is_absolute_and_first():
    r = green("sh", "-c", 'echo "$LD_PRELOAD"')
    assert r.returncode == 0, r.stderr
    assert first_preload_entry(r.stdout) == os.path.realpath(LIBRARY)
    assert os.path.isabs(first_preload_entry(r.stdout))


def test_preload_keeps_existing_entries():
    other = ctypes.util.find_library("m") or "libm.so.6"  # harmless to preload
    r = green("sh", "-c", 'echo "$LD_PRELOAD"', LD_PRELOAD=f"{other} ")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{os.path.realpath(LIBRARY)}:{other} \n"


def test_preload_not_added_twice():
    library = os.path.realpath(LIBRARY)
    r = green("sh", "-c", 'echo "$LD_PRELOAD"', LD_PRELOAD=library)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == library


def test_options_reach_child_as_environment():
    r = green("--log", "debug", "--stack-size", "64K", "--stats", "env")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    for setting in ("GREEN_LOG=debug", "GREEN_STACK_SIZE=64K", "GREEN_STATS=1"):
        assert setting in lines


def test_disable_reaches_child():
    r = green("--disable", "--stack-size=1M", "sh", "-c", 'echo "$GREEN_DISABLE $GREEN_STACK_SIZE"')
    assert r.returncode == 0, r.stderr
    assert r.stdout == "1 1M\n"


def test_exit_status_passes_through():
    assert green("sh", "-c", "exit 7").returncode == 7
    assert green("true").returncode == 0


# --- Exec errors --------------------------------------------------------------------------

def test_missing_command_path():
    r = green("/nonexistent/cmd")
    assert r.returncode == 127
    assert r.stderr == "green: /nonexistent/cmd: No such file or directory\n"


def test_command_not_in_path():
    r = green("nosuchcommand-xyz")
    assert r.returncode == 127
    assert r.stderr == "green: nosuchcommand-xyz: command not found\n"


def test_not_executable(tmp_path):
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    r = green(script)
    assert r.returncode == 126
    assert r.stderr == f"green: {script}: Permission denied\n"


def test_directory(tmp_path):
    r = green(tmp_path)
    assert r.returncode == 126
    assert r.stderr == f"green: {tmp_path}: Is a directory\n"


# --- Finding the library ------------------------------------------------------------------

def test_library_option_missing_file(tmp_path):
    missing = tmp_path / "nope" / "libgreen.so"
    r = green("--library", missing, "true")
    assert r.returncode == 1
    assert r.stderr == f"green: --library {missing}: No such file or directory\n"


def test_library_option_wins():
    r = green(f"--library={LIBRARY}", "sh", "-c", 'echo "$LD_PRELOAD"', GREEN_LIBRARY="/nope.so")
    assert r.returncode == 0, r.stderr
    assert first_preload_entry(r.stdout) == os.path.realpath(LIBRARY)


def test_green_library_missing_file():
    r = green("true", GREEN_LIBRARY="/nonexistent/libgreen.so")
    assert r.returncode == 1
    assert "GREEN_LIBRARY=/nonexistent/libgreen.so" in r.stderr


def test_library_not_found_lists_places(tmp_path):
    launcher = tmp_path / "bin" / "green"
    launcher.parent.mkdir()
    shutil.copy(LAUNCHER, launcher)
    r = green("true", library=False, launcher=launcher)
    assert r.returncode == 1
    assert "cannot find libgreen.so" in r.stderr
    assert f"\n  {tmp_path.resolve() / 'bin' / 'libgreen.so'}\n" in r.stderr
    assert f"\n  {tmp_path.resolve() / 'lib' / 'libgreen.so'}\n" in r.stderr


def test_library_beside_launcher(tmp_path):
    shutil.copy(LAUNCHER, tmp_path / "green")
    shutil.copy(LIBRARY, tmp_path / "libgreen.so")
    r = green("sh", "-c", 'echo "$LD_PRELOAD"', library=False, launcher=tmp_path / "green")
    assert r.returncode == 0, r.stderr
    assert first_preload_entry(r.stdout) == str(tmp_path.resolve() / "libgreen.so")


def test_make_install_layout(tmp_path):
    prefix = tmp_path / "prefix"
    make = subprocess.run(["make", "install", f"PREFIX={prefix}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800)
    assert make.returncode == 0, make.stdout + make.stderr
    r = green("sh", "-c", 'echo "$LD_PRELOAD"', library=False, launcher=prefix / "bin" / "green")
    assert r.returncode == 0, r.stderr
    assert first_preload_entry(r.stdout) == str(prefix.resolve() / "lib" / "libgreen.so")


# A shell that reports whether libgreen is mapped into itself and into a child it starts,
# and the LD_PRELOAD the child sees.
LOADED_HERE_AND_IN_CHILD = (
    'grep -q libgreen /proc/$$/maps && echo "shell: greened" || echo "shell: native"; '
    'sh -c \'grep -q libgreen /proc/$$/maps && echo "child: greened" || echo "child: native"; '
    'echo "child LD_PRELOAD=[$LD_PRELOAD]"\''
)


def test_children_inherit_by_default():
    r = green("sh", "-c", LOADED_HERE_AND_IN_CHILD)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:2] == ["shell: greened", "child: greened"], r.stdout
    assert lines[2] == f"child LD_PRELOAD=[{os.path.realpath(LIBRARY)}]", r.stdout


def test_no_children_greens_only_the_command():
    """--no-children: the command is greened; what it starts runs natively, with the other
    preloads the user set still in LD_PRELOAD."""
    r = green("--no-children", "sh", "-c", LOADED_HERE_AND_IN_CHILD)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["shell: greened", "child: native", "child LD_PRELOAD=[]"], r.stdout
    other = ctypes.util.find_library("m") or "libm.so.6"
    r = green("--no-children", "sh", "-c", LOADED_HERE_AND_IN_CHILD, LD_PRELOAD=other)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["shell: greened", "child: native", f"child LD_PRELOAD=[{other}]"], r.stdout


def test_bad_children_setting():
    r = green("sh", "-c", "true", GREEN_CHILDREN="no")
    assert r.returncode == 2
    assert r.stderr.strip() == "green: GREEN_CHILDREN=no is not valid: expected 0 or 1", r.stderr
    r = subprocess.run(["sh", "-c", "true"], env=clean_env(LD_PRELOAD=str(LIBRARY), GREEN_CHILDREN="2"),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "GREEN_CHILDREN=2 is not valid: expected 0 or 1" in r.stderr, r.stderr
