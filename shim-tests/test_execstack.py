"""Code on thread stacks after dlopen of a module that asks for an executable stack.

glibc then makes every thread stack it knows executable, and later ones too; greened, the
green stacks must follow (runtime/execstack.rs), while every other fault still dies of
SIGSEGV, or goes to the program's handler, as natively. The module
(shim-tests/modules/execstack_mod.c) is built here, linked with -z execstack; the program is
shim-tests/c/execstack.c.
"""

import os
import signal
import subprocess

import pytest

from conftest import REPO_ROOT, run_prog

MODULE_SOURCE = REPO_ROOT / "shim-tests" / "modules" / "execstack_mod.c"

STACKS = """\
threads waiting
main: 1
after 0: 30
after 1: 31
after 2: 32
after 3: 33
after 4: 34
before 0: 10
before 1: 11
before 2: 12
before 3: 13
sized: 20
"""


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    """The module, built with an executable PT_GNU_STACK."""
    path = tmp_path_factory.mktemp("execstack") / "execstack_mod.so"
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-O2", "-g", "-fPIC", "-shared", "-Wl,-z,execstack", "-o", str(path),
                    str(MODULE_SOURCE)], check=True, capture_output=True, text=True)
    return str(path)


def both(module, args):
    runs = {mode: run_prog("execstack", [module, *args], mode, timeout=30)
            for mode in ("native", "greened")}
    native, greened = runs["native"], runs["greened"]
    assert (greened.returncode, greened.stdout) == (native.returncode, native.stdout), \
        native.describe() + greened.describe()
    return native


@pytest.mark.parametrize("handler", [[], ["handler"]], ids=["default", "handler"])
def test_trampolines_run_on_stacks_made_before_and_after(module, handler):
    """Threads created before the dlopen (waiting, one with a stack size of its own) and
    after it (one on a fresh stack, others on stacks ended threads left) all run the
    module's trampoline on their own stacks; a SIGSEGV handler of the program never runs."""
    r = both(module, ["stacks", *handler])
    assert r.returncode == 0 and r.stdout == STACKS, r.describe()


@pytest.mark.parametrize("what", ["heap", "null", "early"])
def test_other_faults_die_as_natively(module, what):
    """After the switch, code on a non-executable heap page and a null function pointer
    still fault; before any dlopen, code on a thread's own stack faults: SIGSEGV."""
    r = both(module, [what])
    assert r.returncode == -signal.SIGSEGV and "survived" not in r.stdout, r.describe()


@pytest.mark.parametrize("what", ["heap", "null", "early"])
def test_other_faults_reach_the_program_handler(module, what):
    r = both(module, [what, "handler"])
    assert r.returncode == 3 and r.stdout.endswith("SIGSEGV handler ran\n"), r.describe()
