//! aio_suspend (and aio_suspend64): waiting for POSIX AIO requests as a green wait.
//!
//! glibc's aio_suspend waits on a futex inside libc (rt/aio_suspend.c, AIO_MISC_WAIT) that
//! its helper threads wake with inline system calls no hook sees: natively that blocks the
//! calling thread, greened it would block the OS thread and every green thread with it. So
//! on the hub thread the hook waits itself: while every listed request is still in progress
//! it parks for a short nap that grows from 50 us to 10 ms (deadline.rs, as for a lock a
//! foreign thread holds: the helper threads are foreign and cannot wake a green thread),
//! and looks again. Once one has finished, or the list has nothing to wait for, glibc's own
//! call answers, which then returns at once, with its result and errno.
//!
//! As glibc's: a cancellation point once it waits (its futex wait is cancellable); the
//! timeout is relative, measured on CLOCK_MONOTONIC, and gives EAGAIN; a handler that runs
//! meanwhile gives EINTR, or the wait goes on under SA_RESTART when there is no timeout
//! (the kernel restarts an untimed futex wait, never a timed one). A completion is seen up
//! to one nap late. Arguments glibc refuses or answers without waiting (a negative count, a
//! zero, negative or malformed timeout) go to glibc's call at once.

use super::deadline::{passed, recheck_deadline, FIRST_NAP_NS};
use super::hub::Hub;
use crate::runtime::green::{Wake, WaitingOn};
use crate::sys::{clock, errno, real};
use core::ffi::c_int;

type List = *const *const libc::aiocb;

/// Whether glibc's aio_suspend would wait now: some entry is not null and every one that
/// is not null is still in progress.
///
/// # Safety
/// `list` holds `nent` entries, each null or a readable aiocb (aio_suspend's contract).
unsafe fn would_wait(list: List, nent: usize) -> bool {
    let mut any = false;
    for i in 0..nent {
        // SAFETY: `i` < `nent`, the list's length (caller).
        let cb = unsafe { *list.add(i) };
        if cb.is_null() {
            continue;
        }
        // SAFETY: a readable aiocb (caller). aio_error only reads the request's error code;
        // it is glibc's own (not a symbol this library exports), so nothing re-enters.
        if unsafe { libc::aio_error(cb) } != libc::EINPROGRESS {
            return false;
        }
        any = true;
    }
    any
}

/// The wait's deadline (CLOCK_MONOTONIC ns), or Err(()) when glibc answers `timeout` at once.
///
/// # Safety
/// `timeout` is null or readable.
unsafe fn deadline(timeout: *const libc::timespec) -> Result<Option<u64>, ()> {
    // SAFETY: the caller's promise.
    let Some(ts) = (unsafe { timeout.as_ref() }) else { return Ok(None) };
    match clock::timespec_ns(ts) {
        Some(ns) if ns > 0 => Ok(Some(clock::monotonic_ns().saturating_add(ns))),
        _ => Err(()),
    }
}

/// Naps green until a request has finished (or the list needs no wait), the deadline passes
/// (EAGAIN) or a handler interrupts (EINTR); then glibc's call, which no longer waits.
///
/// # Safety
/// As aio_suspend's; `nent` is not negative and `until` came from `deadline(timeout)`.
unsafe fn wait_green(hub: Hub, list: List, nent: c_int, timeout: *const libc::timespec, until: Option<u64>) -> c_int {
    let count = nent as usize;
    let mut nap = FIRST_NAP_NS;
    // SAFETY: the caller's list (aio_suspend's contract).
    while unsafe { would_wait(list, count) } {
        // glibc's futex wait acts on a pending request as it starts, and while it waits.
        super::cancel_point::point();
        if passed(until) {
            return errno::fail(libc::EAGAIN);
        }
        // Sleep: interruptible by a handler, never reported as a deadlock (it has a deadline).
        let wake = hub.park(recheck_deadline(until, true, &mut nap), WaitingOn::Sleep);
        super::cancel_point::point();
        if let Wake::Interrupted { restart } = wake {
            if !restart || until.is_some() {
                return errno::fail(libc::EINTR);
            }
        }
    }
    // SAFETY: the caller's arguments, unchanged; nothing is in progress any more, or there
    // was nothing to wait for, so glibc answers at once.
    unsafe { real::aio_suspend(list, nent, timeout) }
}

/// # Safety
/// Called as libc's aio_suspend, with its arguments.
#[no_mangle]
pub unsafe extern "C" fn aio_suspend(list: List, nent: c_int, timeout: *const libc::timespec) -> c_int {
    // SAFETY: the caller's timeout.
    let until = unsafe { deadline(timeout) };
    match (Hub::here(), until) {
        // SAFETY: the caller's arguments (aio_suspend's contract).
        (Some(hub), Ok(until)) if nent >= 0 => unsafe { wait_green(hub, list, nent, timeout, until) },
        // SAFETY: the caller's arguments, unchanged.
        _ => unsafe { real::aio_suspend(list, nent, timeout) },
    }
}

/// # Safety
/// Called as libc's aio_suspend64, with its arguments (`struct aiocb64` is `struct aiocb`
/// on the targets we support, aio.rs).
#[no_mangle]
pub unsafe extern "C" fn aio_suspend64(list: List, nent: c_int, timeout: *const libc::timespec) -> c_int {
    // SAFETY: the caller's arguments, unchanged.
    unsafe { aio_suspend(list, nent, timeout) }
}
