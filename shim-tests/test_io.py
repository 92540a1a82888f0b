"""Blocking reads and writes of stream sockets under back-pressure."""

import pytest

from conftest import assert_ok, run_prog

TOTAL = 16 * 1024 * 1024


@pytest.mark.parametrize("transport", ["tcp", "socketpair"])
def test_single_blocking_write_of_16_mib(transport, mode):
    """One blocking write() of 16 MiB to a slowly drained socket returns the full count, and
    the reader gets every byte, in order, then EOF."""
    r = assert_ok(run_prog("bigwrite", [transport], mode, timeout=120))
    assert r.stdout == (f"write_returned={TOTAL}\n"
                        f"read_total={TOTAL} ok=1\n"), r.describe()
