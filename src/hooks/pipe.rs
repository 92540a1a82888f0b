//! Pipes and eventfds: the descriptors other than sockets that we create. Made on the hub
//! thread they are O_NONBLOCK for us (the program's view stays what it asked for), so their
//! calls can be retried on EAGAIN instead of blocking the OS thread; made elsewhere they
//! are left as they are, and forgotten.
//!
//! Every hook here has the contract of the libc function it replaces.

use super::blocking::note_new_fd;
use crate::runtime::fdtable::Kind;
use crate::runtime::on_hub;
use crate::sys::real;
use core::ffi::{c_int, c_uint};

/// # Safety
/// As for pipe(2): `fds` is writable for two ints (the kernel reports EFAULT if not).
#[no_mangle]
pub unsafe extern "C" fn pipe(fds: *mut c_int) -> c_int {
    // SAFETY: the program's argument; pipe is pipe2 without flags.
    unsafe { pipe2(fds, 0) }
}

/// # Safety
/// As for pipe2(2): `fds` is writable for two ints (the kernel reports EFAULT if not).
#[no_mangle]
pub unsafe extern "C" fn pipe2(fds: *mut c_int, flags: c_int) -> c_int {
    let green = on_hub();
    let extra = if green { libc::O_NONBLOCK } else { 0 };
    // SAFETY: the program's call, with O_NONBLOCK added on the hub.
    let result = unsafe { real::pipe2(fds, flags | extra) };
    if result == 0 {
        // SAFETY: the call succeeded: the kernel wrote both ends there.
        let ends = unsafe { [*fds, *fds.add(1)] };
        for fd in ends {
            note_new_fd(fd, green, Kind::Pipe, flags & libc::O_NONBLOCK != 0);
        }
    }
    result
}

/// An eventfd made on the hub is ours, as a pipe is: non-blocking underneath, so a read of
/// an empty counter and a write that would overflow it both wait green (poll's POLLOUT
/// only promises room for a write of 1).
///
/// # Safety
/// None beyond eventfd(2)'s (it takes no pointers).
#[no_mangle]
pub unsafe extern "C" fn eventfd(initval: c_uint, flags: c_int) -> c_int {
    let green = on_hub();
    let extra = if green { libc::EFD_NONBLOCK } else { 0 };
    // SAFETY: the program's call, with EFD_NONBLOCK added on the hub.
    let fd = unsafe { real::eventfd(initval, flags | extra) };
    if fd >= 0 {
        note_new_fd(fd, green, Kind::CharDevice, flags & libc::EFD_NONBLOCK != 0);
    }
    fd
}
