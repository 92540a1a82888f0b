//! Joining and detaching green threads (pthread_join, pthread_detach): above the scheduler
//! core, whose `finish` wakes the joiner and frees detached threads.

use super::green::{current, park, release, Green, State, WaitingOn};
use super::state::rt;
use core::ffi::c_void;

/// pthread_join: waits for `target` to end and reclaims it. Err(errno) as glibc reports.
///
/// # Safety
/// Hub thread only; `target` came from `green::lookup`.
pub unsafe fn join(target: *mut Green) -> Result<*mut c_void, i32> {
    // SAFETY: hub thread (caller).
    let me = unsafe { current() };
    // SAFETY: `me` runs and `target` is in the thread table (caller), so both are live; no
    // borrow of either is held across the parks below.
    let (my_joiner, detached, joiner) = unsafe { ((*me).joiner, (*target).detached, (*target).joiner) };
    if target == me || my_joiner == target {
        return Err(libc::EDEADLK);
    }
    if detached || !joiner.is_null() {
        return Err(libc::EINVAL);
    }
    // SAFETY: as above: `target` is not freed before it is joined (it is not detached).
    if unsafe { (*target).state } != State::Done {
        // SAFETY: as above.
        unsafe { (*target).joiner = me };
        // finish() wakes us; the loop guards against any other wake-up.
        loop {
            // SAFETY: hub thread (caller); finish() finds us through `target.joiner`, and
            // `target` is live as above.
            unsafe { park(None, WaitingOn::Join { id: (*target).id }) };
            // SAFETY: hub thread; a cancelled joiner leaves `target` first (cancel.rs).
            if unsafe { super::cancel::pending() } {
                // SAFETY: as above.
                unsafe {
                    (*target).joiner = core::ptr::null_mut();
                    super::cancel::point();
                }
            }
            // SAFETY: as above.
            if unsafe { (*target).state } == State::Done {
                break;
            }
        }
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
