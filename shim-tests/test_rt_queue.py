"""Realtime signals queue greened as natively: every instance is delivered with its own
si_value, in the order sent, whether the hub keeps them for the process or a green thread
keeps them pending while it blocks the signal (runtime/signals_kept.rs)."""

import pytest

from conftest import assert_ok, run_prog

VALUES = "100,101,102,103,104,105,106,107"


@pytest.mark.parametrize("case", ["process", "thread"])
def test_rt_queue(case, mode):
    """Eight sigqueue'd (or pthread_sigqueue'd) instances of one realtime signal."""
    r = assert_ok(run_prog("rt_queue", [case], mode, timeout=30))
    assert r.stdout == f"{case}: got=8 values={VALUES}\n", r.describe()
