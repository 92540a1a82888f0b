//! poll(2) as a green wait: ask the kernel first (exact native results, POLLNVAL and all),
//! and only if nothing is ready park on every fd's readiness, then ask again.

use super::fortify_fail;
use crate::runtime::fdtable::{READ, WRITE};
use crate::runtime::green::Wake;
use crate::runtime::{io as green_io, on_hub};
use crate::sys::{clock, errno, real};
use core::ffi::c_int;

#[no_mangle]
pub unsafe extern "C" fn poll(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: c_int) -> c_int {
    if !on_hub() || timeout == 0 {
        return real::poll(fds, nfds, timeout);
    }
    let ready = real::poll(fds, nfds, 0);
    if ready != 0 {
        return ready;
    }
    let deadline = (timeout > 0)
        .then(|| clock::monotonic_ns().saturating_add(timeout as u64 * 1_000_000));
    let interests: Vec<(i32, u8)> = (0..nfds as usize)
        .map(|i| {
            let pfd = &*fds.add(i);
            (pfd.fd, interest_of(pfd.events))
        })
        .collect();
    loop {
        let wake = green_io::wait_any(&interests, deadline);
        let ready = real::poll(fds, nfds, 0);
        if ready != 0 || wake == Wake::Timeout {
            return ready;
        }
        if let Wake::Interrupted { .. } = wake {
            // poll is never restarted after a handler, SA_RESTART or not.
            return errno::fail(libc::EINTR);
        }
    }
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
    poll(fds, nfds, timeout)
}

/// ppoll(2): poll with a timespec (NULL: forever) and a signal mask, which is handled as
/// pselect's is (`select::masked_wait`). The timespec is const: glibc gives the kernel a copy.
#[no_mangle]
pub unsafe extern "C" fn ppoll(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    timeout: *const libc::timespec,
    sigmask: *const libc::sigset_t,
) -> c_int {
    let pass = || real::ppoll(fds, nfds, timeout, sigmask);
    if !on_hub() {
        return pass();
    }
    let wait_ns = match timeout.as_ref() {
        None => None,
        Some(ts) => match clock::timespec_ns(ts) {
            Some(ns) => Some(ns),
            None => return pass(), // EINVAL, as natively
        },
    };
    if wait_ns == Some(0) {
        return pass();
    }
    let deadline = wait_ns.map(|ns| clock::monotonic_ns().saturating_add(ns));
    super::select::masked_wait(sigmask, pass, || poll_until(fds, nfds, deadline))
}

/// poll's green wait with a nanosecond deadline (None: forever).
unsafe fn poll_until(fds: *mut libc::pollfd, nfds: libc::nfds_t, deadline: Option<u64>) -> c_int {
    let ready = real::poll(fds, nfds, 0);
    if ready != 0 {
        return ready;
    }
    let interests: Vec<(i32, u8)> = (0..nfds as usize)
        .map(|i| {
            let pfd = &*fds.add(i);
            (pfd.fd, interest_of(pfd.events))
        })
        .collect();
    loop {
        let wake = green_io::wait_any(&interests, deadline);
        let ready = real::poll(fds, nfds, 0);
        if ready != 0 || wake == Wake::Timeout {
            return ready;
        }
        if let Wake::Interrupted { .. } = wake {
            return errno::fail(libc::EINTR);
        }
    }
}

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
    ppoll(fds, nfds, timeout, sigmask)
}
