//! poll(2) and ppoll(2) as green waits: ask the kernel first (exact native results, POLLNVAL
//! and all), and only if nothing is ready park on every fd's readiness, then ask again.
//! ppoll's signal mask is handled as sigmask.rs says.
//!
//! Every hook here has the contract of the libc function it replaces.

use super::cancel_point;
use super::fortify::fortify_fail;
use super::hub::fair_turn;
use super::sigmask::masked_wait;
use crate::runtime::fdtable::{READ, WRITE};
use crate::runtime::green::Wake;
use crate::runtime::{io as green_io, on_hub};
use crate::sys::{clock, errno, real};
use core::ffi::c_int;

/// # Safety
/// As for poll(2): `fds` holds `nfds` pollfds (the kernel reports EFAULT if not).
#[no_mangle]
pub unsafe extern "C" fn poll(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: c_int) -> c_int {
    cancel_point::point();
    if timeout == 0 {
        fair_turn();
    }
    if !on_hub() || timeout == 0 {
        // SAFETY: the program's call as it made it.
        return unsafe { real::poll(fds, nfds, timeout) };
    }
    let deadline = (timeout > 0).then(|| clock::monotonic_ns().saturating_add(timeout as u64 * 1_000_000));
    // SAFETY: the hub thread; the program's call as it made it.
    if let Some(result) = unsafe { green_io::call_alone(|| real::poll(fds, nfds, timeout) as isize) } {
        return result as c_int;
    }
    // SAFETY: the hub thread; the program's pollfds.
    let result = unsafe { poll_until(fds, nfds, deadline) };
    // A request that ended the wait is acted on now that its fd list is dropped.
    cancel_point::point();
    result
}

/// Which readiness edges can change a pollfd's answer. Errors and hang-ups are always
/// reported and arrive with the read edge, so every fd listens for that one.
fn interest_of(events: libc::c_short) -> u8 {
    let mut interest = READ;
    if events & libc::POLLOUT != 0 {
        interest |= WRITE;
    }
    interest
}

/// poll's green wait with a nanosecond deadline (None: forever). A cancellation request
/// ends it (the caller acts on it once the fd list is dropped).
///
/// # Safety
/// Hub thread only; `fds` and `nfds` are the program's poll arguments.
unsafe fn poll_until(fds: *mut libc::pollfd, nfds: libc::nfds_t, deadline: Option<u64>) -> c_int {
    // SAFETY: the program's pollfds, checked by the kernel.
    let ready = unsafe { real::poll(fds, nfds, 0) };
    if ready != 0 {
        return ready;
    }
    // The kernel has read every pollfd without complaint: they are ours to read too.
    let interests = (0..nfds as usize).map(|i| {
        // SAFETY: i < nfds, within the array the kernel accepted.
        let pfd = unsafe { &*fds.add(i) };
        (pfd.fd, interest_of(pfd.events))
    });
    loop {
        // SAFETY: the hub thread (the caller's promise).
        let wake = unsafe { green_io::wait_any(interests.clone(), deadline) };
        // SAFETY: as for the first call.
        let ready = unsafe { real::poll(fds, nfds, 0) };
        if ready != 0 || wake == Wake::Timeout || cancel_point::pending() {
            return ready;
        }
        if let Wake::Interrupted { .. } = wake {
            // poll is never restarted after a handler, SA_RESTART or not.
            return errno::fail(libc::EINTR);
        }
    }
}

/// # Safety
/// As for poll(2); `fds_size` is the size of the object at `fds`.
#[no_mangle]
pub unsafe extern "C" fn __poll_chk(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    timeout: c_int,
    fds_size: usize,
) -> c_int {
    if fds_size / core::mem::size_of::<libc::pollfd>() < nfds as usize {
        fortify_fail();
    }
    // SAFETY: the program's arguments, checked as glibc checks them.
    unsafe { poll(fds, nfds, timeout) }
}

/// ppoll(2): poll with a timespec (NULL: forever) and a signal mask. The timespec is
/// const: glibc gives the kernel a copy.
///
/// # Safety
/// As for ppoll(2): `fds` holds `nfds` pollfds, `timeout` and `sigmask` are null or valid.
#[no_mangle]
pub unsafe extern "C" fn ppoll(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    timeout: *const libc::timespec,
    sigmask: *const libc::sigset_t,
) -> c_int {
    cancel_point::point();
    // SAFETY: the program's call as it made it.
    let pass = || unsafe { real::ppoll(fds, nfds, timeout, sigmask) };
    if !on_hub() {
        return pass();
    }
    // SAFETY: the program's timespec, null or readable (its contract).
    let Some(wait_ns) = (unsafe { timespec_wait(timeout) }) else { return pass() };
    let deadline = wait_ns.map(|ns| clock::monotonic_ns().saturating_add(ns));
    // SAFETY: the hub thread; the program's pollfds and mask.
    let result = unsafe { masked_wait(sigmask, pass, || poll_until(fds, nfds, deadline)) };
    // A request that ended the wait is acted on with the caller's mask back.
    cancel_point::point();
    result
}

/// The wait a ppoll or pselect timespec asks for: Some(None) for ever (a null timespec),
/// Some(Some(ns)), or None when the real call is to be made at once: an invalid timespec
/// (EINVAL, as natively) or a zero one (a plain look, after a fair turn).
///
/// # Safety
/// `timeout` is null or readable.
pub(super) unsafe fn timespec_wait(timeout: *const libc::timespec) -> Option<Option<u64>> {
    // SAFETY: null or readable (the caller's promise).
    let Some(ts) = (unsafe { timeout.as_ref() }) else { return Some(None) };
    let ns = clock::timespec_ns(ts)?;
    if ns == 0 {
        fair_turn();
        return None;
    }
    Some(Some(ns))
}

/// # Safety
/// As for ppoll(2); `fds_size` is the size of the object at `fds`.
#[no_mangle]
pub unsafe extern "C" fn __ppoll_chk(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    timeout: *const libc::timespec,
    sigmask: *const libc::sigset_t,
    fds_size: usize,
) -> c_int {
    if fds_size / core::mem::size_of::<libc::pollfd>() < nfds as usize {
        fortify_fail();
    }
    // SAFETY: the program's arguments, checked as glibc checks them.
    unsafe { ppoll(fds, nfds, timeout, sigmask) }
}
