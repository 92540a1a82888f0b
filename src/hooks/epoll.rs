//! epoll_wait(2), epoll_pwait(2) and epoll_pwait2(2) on the program's own epoll instance as
//! green waits.
//!
//! An epoll fd is itself pollable: it is readable while its ready list has events, and
//! Linux lets one epoll instance watch another. So the wait is the usual one: ask the
//! program's epoll with a zero timeout (exact native answers, errors included); if it has
//! nothing, park on its readability in the hub (which registers it once, edge-triggered,
//! like any fd) until the deadline, then ask again.
//!
//! Why no wake-up is lost to the edge-triggered registration: an edge only fires when an
//! event is queued on the program's epoll, so a program that took fewer events than were
//! ready (maxevents smaller than the ready count), or whose level-triggered fds stay ready,
//! leaves events queued that will raise no new edge. But every wait starts with the
//! zero-timeout call, and only a call that found the ready list empty parks: from then on
//! any event is new and does raise an edge. The ones already queued are simply returned by
//! the next call without parking (three ready fds and maxevents 1: three calls, three
//! events, no wait).
//!
//! A program that nests its own epoll instances as deep as Linux allows has an outermost
//! one that no further instance may watch (ELOOP): waits on that one ask again after short
//! naps instead.
//!
//! The signal mask of epoll_pwait and epoll_pwait2 is handled as sigmask.rs says.
//!
//! Every hook here has the contract of the libc function it replaces.

use super::hub::fair_turn;
use super::sigmask::masked_wait;
use super::user_mem::read_user;
use crate::runtime::fdtable::READ;
use crate::runtime::green::{self, Wake, WaitingOn};
use crate::runtime::{io as green_io, on_hub};
use crate::sys::{clock, errno, real};
use core::ffi::c_int;

/// # Safety
/// As for epoll_wait(2): `events` is writable for `maxevents` events (the kernel reports
/// EFAULT if not).
#[no_mangle]
pub unsafe extern "C" fn epoll_wait(
    epfd: c_int,
    events: *mut libc::epoll_event,
    maxevents: c_int,
    timeout: c_int,
) -> c_int {
    super::cancel_point::point();
    if timeout == 0 {
        fair_turn();
    }
    if !on_hub() || timeout == 0 {
        // SAFETY: the program's call as it made it.
        return unsafe { real::epoll_wait(epfd, events, maxevents, timeout) };
    }
    let deadline = ms_deadline(timeout);
    // SAFETY: the hub thread; the program's call as it made it.
    if let Some(ready) = unsafe { green_io::call_alone(|| real::epoll_wait(epfd, events, maxevents, timeout) as isize) } {
        return ready as c_int;
    }
    // SAFETY: the hub thread; the program's arguments.
    unsafe { wait_events(epfd, events, maxevents, deadline) }
}

/// # Safety
/// As for epoll_pwait(2): `events` as for epoll_wait, `sigmask` null or a sigset_t.
#[no_mangle]
pub unsafe extern "C" fn epoll_pwait(
    epfd: c_int,
    events: *mut libc::epoll_event,
    maxevents: c_int,
    timeout: c_int,
    sigmask: *const libc::sigset_t,
) -> c_int {
    super::cancel_point::point();
    // SAFETY: the program's call as it made it.
    let pass = || unsafe { real::epoll_pwait(epfd, events, maxevents, timeout, sigmask) };
    if timeout == 0 {
        fair_turn();
    }
    if !on_hub() || timeout == 0 {
        return pass();
    }
    let deadline = ms_deadline(timeout);
    // SAFETY: the hub thread; the program's arguments.
    unsafe { masked_wait(sigmask, pass, || wait_events(epfd, events, maxevents, deadline)) }
}

/// # Safety
/// As for epoll_pwait2(2): `events` as for epoll_wait, `timeout` and `sigmask` null or valid
/// (the kernel reports EFAULT if not).
#[no_mangle]
pub unsafe extern "C" fn epoll_pwait2(
    epfd: c_int,
    events: *mut libc::epoll_event,
    maxevents: c_int,
    timeout: *const libc::timespec,
    sigmask: *const libc::sigset_t,
) -> c_int {
    super::cancel_point::point();
    // SAFETY: the program's call as it made it.
    let pass = || unsafe { real::epoll_pwait2(epfd, events, maxevents, timeout, sigmask) };
    if !on_hub() {
        return pass();
    }
    let wait_ns = if timeout.is_null() {
        None
    } else {
        // A bad pointer: the real call answers EFAULT, as natively.
        // SAFETY: read_user checks the pointer itself.
        let Some(ts) = (unsafe { read_user(timeout) }) else { return pass() };
        match clock::timespec_ns(&ts) {
            Some(ns) => Some(ns),
            None => return pass(), // EINVAL, as natively
        }
    };
    if wait_ns == Some(0) {
        fair_turn();
        return pass();
    }
    let deadline = wait_ns.map(|ns| clock::monotonic_ns().saturating_add(ns));
    // SAFETY: the hub thread; the program's arguments.
    unsafe { masked_wait(sigmask, pass, || wait_events(epfd, events, maxevents, deadline)) }
}

/// A millisecond timeout (negative: forever) as a monotonic deadline.
fn ms_deadline(timeout: c_int) -> Option<u64> {
    (timeout > 0).then(|| clock::monotonic_ns().saturating_add(timeout as u64 * 1_000_000))
}

/// The green epoll wait: see the top of this file.
///
/// # Safety
/// Hub thread only; the arguments are the program's epoll_wait arguments.
unsafe fn wait_events(
    epfd: c_int,
    events: *mut libc::epoll_event,
    maxevents: c_int,
    deadline: Option<u64>,
) -> c_int {
    // SAFETY: the program's arguments, with a zero timeout.
    let ask = || unsafe { real::epoll_wait(epfd, events, maxevents, 0) };
    loop {
        let ready = ask();
        if ready != 0 {
            return ready;
        }
        // SAFETY: the hub thread (the caller's promise).
        match unsafe { green_io::wait_fd(epfd, READ, deadline) } {
            Ok(Wake::Timeout) => return ask(),
            // epoll_wait is never restarted after a handler, SA_RESTART or not.
            Ok(Wake::Interrupted { .. }) => return errno::fail(libc::EINTR),
            // Ready, or closed under us (the next call says EBADF).
            Ok(_) => {}
            // The hub cannot watch this instance: the program nests epoll instances as deep
            // as the kernel allows (ELOOP at one more level).
            // SAFETY: the caller's promises.
            Err(_) => return unsafe { nap_until_ready(epfd, events, maxevents, deadline) },
        }
    }
}

/// The wait for an instance the hub cannot watch: ask again after short naps (1 ms,
/// doubling up to 16 ms), so that the other green threads keep running meanwhile; blocking
/// in the real call would stop the very threads that would make it ready.
///
/// # Safety
/// As for [`wait_events`].
unsafe fn nap_until_ready(
    epfd: c_int,
    events: *mut libc::epoll_event,
    maxevents: c_int,
    deadline: Option<u64>,
) -> c_int {
    const MAX_NAP_NS: u64 = 16_000_000;
    let mut nap = 1_000_000;
    loop {
        let wake_at = clock::monotonic_ns().saturating_add(nap);
        let wake_at = deadline.map_or(wake_at, |d| d.min(wake_at));
        // SAFETY: the hub thread (the caller's promise).
        if let Wake::Interrupted { .. } = unsafe { green::park(Some(wake_at), WaitingOn::Sleep) } {
            return errno::fail(libc::EINTR);
        }
        // SAFETY: the program's arguments, with a zero timeout.
        let ready = unsafe { real::epoll_wait(epfd, events, maxevents, 0) };
        if ready != 0 || deadline.is_some_and(|d| clock::monotonic_ns() >= d) {
            return ready;
        }
        nap = (nap * 2).min(MAX_NAP_NS);
    }
}
