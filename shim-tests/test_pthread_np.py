"""glibc's functions that take a pthread_t (tryjoin, timedjoin, clockjoin, scheduling
parameters, affinity, the CPU clock) and pthread_setattr_default_np: greened, a pthread_t is
a green thread's handle, which glibc must never read as its own thread descriptor (before
these were answered for green threads, the joins crashed and pthread_setschedparam could
hang on a lock word inside the runtime's heap). Results and errors are the native ones."""

import pytest

from conftest import assert_ok, run_prog

CASES = ["tryjoin", "timedjoin", "clockjoin", "sched", "sched-unprivileged", "affinity",
         "cpuclock", "defattr"]


@pytest.mark.parametrize("case", CASES)
def test_same_results_natively_and_greened(case):
    native = assert_ok(run_prog("pthread_np", [case], mode="native", timeout=30))
    greened = assert_ok(run_prog("pthread_np", [case], mode="greened", timeout=30))
    assert native.stdout.rstrip().endswith("done"), native.describe()
    assert greened.stdout == native.stdout, native.describe() + greened.describe()
