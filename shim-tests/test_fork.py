"""fork: the child keeps only its caller and gets a hub of its own; the parent is untouched."""

import pytest

from conftest import assert_ok, run_prog


@pytest.mark.parametrize("caller", ["thread", "main"])
def test_fork_while_others_block(caller, mode):
    """Forked from a thread or from main while 100 threads block in reads: the child runs
    5 threads of its own concurrently (greened: on one OS thread, so its hub works), exits
    0, and the parent's blocked readers still get every byte afterwards."""
    r = assert_ok(run_prog("fork_green", [caller], mode, timeout=60))
    threads = 1 if mode == "greened" else 6
    assert r.stdout == (f"child: sleepers=5 concurrent=1 threads_during={threads}\n"
                        "parent: child_exit=0 readers_ok=100\n"), r.describe()
