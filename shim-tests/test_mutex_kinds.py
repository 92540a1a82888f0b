"""Robust, priority-inheritance and priority-protect mutexes: owner death and recovery,
errors of non-owners and relocks, a contended PI lock that parks only its thread (a
counter thread keeps running), a condition wait whose mutex comes back owner-dead, and
priority ceilings. The same output natively and greened."""

from conftest import assert_ok, run_prog

EXPECTED = """\
robust owner returned: lock=EOWNERDEAD consistent=0 unlock=0 lock=0 consistent=EINVAL unlock=0
robust owner exited, not made consistent: lock=EOWNERDEAD unlock=0 lock=ENOTRECOVERABLE trylock=ENOTRECOVERABLE
robust PI owner returned: lock=EOWNERDEAD consistent=0 unlock=0 lock=0 consistent=EINVAL unlock=0
robust PI owner exited, not made consistent: lock=EOWNERDEAD unlock=0 lock=ENOTRECOVERABLE trylock=ENOTRECOVERABLE
robust waiter while the owner ends: lock=EOWNERDEAD
robust PI cond wait, signaller ended holding the mutex: cond_wait=EOWNERDEAD
PI errorcheck: first lock=0 relock=EDEADLK trylock=EDEADLK other thread unlock=EPERM trylock=EBUSY unlock=0 unlock again=EPERM
PI recursive: lock=0 lock=0 trylock=0 unlock=0 unlock=0 other thread unlock=EPERM unlock=0 unlock=EPERM
robust errorcheck: first lock=0 relock=EDEADLK trylock=EDEADLK other thread unlock=EPERM trylock=EBUSY unlock=0 unlock again=EPERM
robust recursive: lock=0 lock=0 trylock=0 unlock=0 unlock=0 other thread unlock=EPERM unlock=0 unlock=EPERM
PP errorcheck: first lock=EINVAL relock=EDEADLK trylock=EDEADLK other thread unlock=EPERM trylock=EINVAL unlock=0 unlock again=EPERM
PP recursive: lock=0 lock=0 trylock=0 unlock=0 unlock=0 other thread unlock=EPERM unlock=0 unlock=EPERM
PI contended: counter while a thread waits=100 it had the lock=0 after unlock it got it=1
PP: get=0 ceiling=5 set=0 old=5 now=7 set 1000=EINVAL set 0=EINVAL
PP: getprioceiling of a plain mutex=EINVAL setprioceiling=EINVAL
done
"""


def test_mutex_kinds(mode):
    """Every line as natively (the PP lines assume SCHED_OTHER, where glibc cannot raise a
    thread's priority to a ceiling: a thread's first PP lock is EINVAL)."""
    r = assert_ok(run_prog("mutex_kinds", [], mode))
    assert r.stdout == EXPECTED, r.describe()
