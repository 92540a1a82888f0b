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
