//! Joining and detaching green threads (pthread_join, pthread_detach): above the scheduler
//! core, whose `finish` wakes the joiner and frees detached threads.

use super::green::{current, park, release, Green, State, WaitingOn};
use super::state::rt;
use crate::sys::clock;
use core::ffi::c_void;

/// pthread_join: waits for `target` to end and reclaims it. Err(errno) as glibc reports.
///
/// # Safety
/// Hub thread only; `target` came from `green::lookup`.
pub unsafe fn join(target: *mut Green) -> Result<*mut c_void, i32> {
    // SAFETY: the caller's contract is join_until's.
    unsafe { join_until(target, None) }
}

/// pthread_timedjoin_np and pthread_clockjoin_np: as `join`, but Err(ETIMEDOUT) once
/// CLOCK_MONOTONIC reaches `deadline` (ns) with `target` still running; it is then no
/// longer anyone's to wake, and another join may follow (glibc clears its joinid so).
///
/// # Safety
/// Hub thread only; `target` came from `green::lookup`.
pub unsafe fn join_until(target: *mut Green, deadline: Option<u64>) -> Result<*mut c_void, i32> {
    // SAFETY: hub thread (caller).
    let me = unsafe { current() };
    // SAFETY: `me` runs and `target` is in the thread table (caller), so both are live; no
    // borrow of either is held across the parks below.
    let (my_joiner, detached, joiner) = unsafe { ((*me).joiner, (*target).detached, (*target).joiner) };
    // glibc's test: joining a thread that joins us is a deadlock only while that thread is
    // neither cancelled nor ending (a cancelled joiner leaves us once it runs again), and
    // only while we ourselves have no cancellation to act on.
    // SAFETY: hub thread (caller); `target` is live (see above).
    let deadlock = my_joiner == target && !unsafe { leaving(target) || super::cancel::pending() };
    if target == me || deadlock {
        return Err(libc::EDEADLK);
    }
    if detached || (!joiner.is_null() && deadline.is_none()) {
        return Err(libc::EINVAL);
    }
    if !joiner.is_null() {
        // glibc lets a second timed joiner wait; it learns nothing before its deadline.
        // SAFETY: hub thread (caller).
        unsafe { sleep_until(deadline) };
        return Err(libc::ETIMEDOUT);
    }
    // SAFETY: as above: `target` is not freed before it is joined (it is not detached).
    if unsafe { (*target).state } != State::Done {
        // SAFETY: hub thread (caller); `target` is live as above.
        unsafe { wait_for_end(me, target, deadline) }?;
    }
    // SAFETY: as above; an ended thread is not freed until joined (it is not detached).
    let retval = unsafe { (*target).retval };
    // SAFETY: hub thread; nobody refers to a joined thread any more.
    if target != unsafe { rt() }.root {
        // SAFETY: as above.
        unsafe { release(target) };
    }
    Ok(retval)
}

/// Whether `g` was asked to end (cancelled) or is ending: glibc's CANCELED, EXITING and
/// TERMINATED bits.
///
/// # Safety
/// `g` is live.
unsafe fn leaving(g: *mut Green) -> bool {
    // SAFETY: `g` is live (caller); plain fields are read.
    unsafe { (*g).cancel.requested || (*g).cancel.exiting || (*g).state == State::Done }
}

/// Parks `me` as `target`'s joiner until it has ended, or Err(ETIMEDOUT) at `deadline`.
///
/// # Safety
/// Hub thread only; `me` is the running thread and `target` a live, joinable thread that
/// has not ended and has no joiner.
unsafe fn wait_for_end(me: *mut Green, target: *mut Green, deadline: Option<u64>) -> Result<(), i32> {
    // SAFETY: `target` is live (caller).
    unsafe { (*target).joiner = me };
    // finish() wakes us; the loop guards against any other wake-up.
    loop {
        if deadline.is_some_and(|d| clock::monotonic_ns() >= d) {
            // SAFETY: as above; it has not ended, so it is not freed.
            unsafe { (*target).joiner = core::ptr::null_mut() };
            return Err(libc::ETIMEDOUT);
        }
        // SAFETY: hub thread (caller); finish() finds us through `target.joiner`, and
        // `target` is live as above.
        unsafe { park(deadline, WaitingOn::Join { id: (*target).id }) };
        // SAFETY: hub thread; a cancelled joiner leaves `target` first (cancel.rs).
        if unsafe { super::cancel::pending() } {
            // SAFETY: as above.
            unsafe {
                (*target).joiner = core::ptr::null_mut();
                super::cancel::point();
            }
        }
        // SAFETY: as above: not freed before it is joined.
        if unsafe { (*target).state } == State::Done {
            return Ok(());
        }
    }
}

/// Parks the running thread until CLOCK_MONOTONIC reaches `deadline`: glibc's second
/// joiner, which nothing wakes (finish() wakes the first joiner only).
///
/// # Safety
/// Hub thread only.
unsafe fn sleep_until(deadline: Option<u64>) {
    while deadline.is_none_or(|d| clock::monotonic_ns() < d) {
        // SAFETY: hub thread (caller); only the deadline wakes this park.
        unsafe { park(deadline, WaitingOn::Sleep) };
    }
}

/// pthread_detach: Err(errno) as glibc reports.
///
/// # Safety
/// Hub thread only; `target` came from `green::lookup`.
pub unsafe fn detach(target: *mut Green) -> Result<(), i32> {
    // SAFETY: `target` is in the thread table, hence live.
    let (detached, done) = unsafe { ((*target).detached, (*target).state == State::Done) };
    if detached {
        return Err(libc::EINVAL);
    }
    // SAFETY: as above.
    unsafe { (*target).detached = true };
    // SAFETY: hub thread (caller).
    if done && target != unsafe { rt() }.root {
        // SAFETY: hub thread; an ended, detached thread is nobody's any more.
        unsafe { release(target) };
    }
    Ok(())
}
