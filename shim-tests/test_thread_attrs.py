"""pthread_create's attribute beyond the stack size: guard size as reported, explicit
scheduling and affinity checked as glibc checks them (EINVAL), the defaults
pthread_setattr_default_np set (guard size, detach state), and a misaligned stack from
pthread_attr_setstack."""

import pytest

from conftest import assert_ok, run_prog

SCENARIOS = ["guard", "sched", "affinity", "defaults", "misaligned_stack"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_attributes_as_natively(scenario):
    native = assert_ok(run_prog("thread_attrs", [scenario], mode="native"))
    greened = assert_ok(run_prog("thread_attrs", [scenario], mode="greened"))
    assert greened.stdout == native.stdout, native.describe() + greened.describe()
    assert native.stdout.rstrip().endswith("done"), native.describe()
