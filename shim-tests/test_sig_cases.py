"""Signal cases from glibc's own NPTL tests (shim-tests/c/sig_cases.c), each run natively and
greened with the same output."""

import pytest

from conftest import assert_ok, run_prog


@pytest.mark.parametrize("case,expected", [
    # nptl/tst-eintr5: a handler that runs for a thread waiting on a condition does not end
    # the wait; only the signal of the condition does.
    ("cond-eintr", "handled=5 flag_set=1"),
    # A signal of the condition right after the handler's signal is not lost.
    ("cond-eintr-signal", "woken=1 flag_set=1"),
])
def test_signal_case(mode, case, expected):
    r = assert_ok(run_prog("sig_cases", [case], mode, timeout=30))
    assert r.stdout.strip() == expected, r.describe()
