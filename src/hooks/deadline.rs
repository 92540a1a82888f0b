//! Deadlines of green waits: pthread absolute timeouts turned into CLOCK_MONOTONIC
//! deadlines, and the recheck naps of waiters that a foreign OS thread may have to wake
//! (it must not touch the runtime, so it cannot wake a parked green thread: the waiter
//! looks again after a short, growing nap).

use crate::sys::clock;
use core::ffi::c_int;

/// The first recheck nap; each one after doubles, up to RECHECK_MAX_NS.
pub(crate) const FIRST_NAP_NS: u64 = 50_000;
const RECHECK_MAX_NS: u64 = 10_000_000;

/// When to wake up next: the caller's deadline, or sooner when `foreign` wakers may exist
/// (then `nap` grows for the next time).
pub(crate) fn recheck_deadline(deadline: Option<u64>, foreign: bool, nap: &mut u64) -> Option<u64> {
    if !foreign {
        return deadline;
    }
    let at = clock::monotonic_ns().saturating_add(*nap);
    *nap = (*nap * 2).min(RECHECK_MAX_NS);
    Some(deadline.map_or(at, |d| d.min(at)))
}

/// Whether `deadline` (CLOCK_MONOTONIC ns; None: never) has passed.
pub(crate) fn passed(deadline: Option<u64>) -> bool {
    deadline.is_some_and(|d| clock::monotonic_ns() >= d)
}

/// A pthread absolute timeout on `clock_id` as a CLOCK_MONOTONIC deadline, or the error
/// number glibc gives: EINVAL for no timespec or a bad tv_nsec. A negative tv_sec is a
/// deadline long past.
pub(crate) fn abs_deadline(clock_id: libc::clockid_t, abstime: Option<&libc::timespec>) -> Result<u64, c_int> {
    let Some(ts) = abstime else { return Err(libc::EINVAL) };
    if !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(libc::EINVAL);
    }
    if ts.tv_sec < 0 {
        return Ok(clock::monotonic_ns());
    }
    clock::timespec_ns(ts)
        .and_then(|ns| clock::deadline_from_abs(clock_id, ns))
        .ok_or(libc::EINVAL)
}
