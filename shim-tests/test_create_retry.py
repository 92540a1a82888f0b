"""pthread_create that fails for want of memory lets the threads that would free it run."""

from conftest import assert_ok, run_prog


def test_creators_retrying_under_an_address_space_limit(mode):
    """Two creators retry pthread_create of detached threads with 16 MiB stacks under a
    400 MiB address space limit until 3,000 exist in all: natively the detached threads end
    meanwhile and give their stacks back; greened, a failed creation must let them run (it
    used to loop for ever)."""
    r = assert_ok(run_prog("create_retry", [], mode, timeout=120))
    assert r.stdout == "created at least 3000\n", r.describe()
