"""Thread identity and lifetime: what each green thread must have of its own."""

from conftest import assert_ok, run_prog

EXPECTED_TAIL = """\
distinct_selves=1 destructor_calls=8 main_key=0x1
detach=0
join_self_main=EDEADLK
join_self_thread=EDEADLK
key_delete=0
setspecific_deleted=EINVAL
"""


def test_identity_keys_exit_and_join(mode):
    """pthread_self is unique per thread and matches what pthread_create returned; key values
    are per thread and their destructors run at thread exit (return and pthread_exit alike);
    join returns the thread's value; joining oneself is EDEADLK; pthread_getattr_np reports
    the stack the thread runs on. Greened output equals the native one."""
    r = assert_ok(run_prog("thread_identity", [], mode))
    lines = r.stdout.splitlines(keepends=True)
    # The workers print in whatever order they finish; everything else is in program order.
    workers = sorted(line for line in lines if line.startswith("thread "))
    assert workers == [f"thread {i} key={i * 100} stack_reported=1\n" for i in range(8)], r.describe()
    joined = [line for line in lines if line.startswith("joined ")]
    assert joined == [
        f"joined {i} returned {i + (1000 if i % 2 else 2000)} same_self=1\n" for i in range(8)
    ], r.describe()
    assert "".join(lines[16:]) == EXPECTED_TAIL, r.describe()
