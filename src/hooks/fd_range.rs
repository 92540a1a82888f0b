//! close_range and closefrom: closes the fd table must hear of, and that must spare the
//! runtime's own descriptors.
//!
//! glibc makes close_range a plain system call, and closefrom its own internal close_range,
//! past our close hook: the fd table would go on taking the closed numbers for what they
//! were (a number that came back as a new queue or a file glibc opened would be taken for
//! the old epoll registration, and a green wait on it would never wake). And a program that
//! closes everything from 3 up, as daemons and spawners do, would close the hub's epoll
//! instance and eventfd with the rest. So the table forgets every number in the range, and
//! the range is closed around the runtime's own numbers, which stay open as close leaves
//! them (hooks/fd.rs). CLOSE_RANGE_CLOEXEC closes nothing and passes straight through.

use crate::runtime::{self, io as green_io, on_hub};
use crate::sys::real;
use core::ffi::{c_int, c_uint};

/// # Safety
/// None beyond close_range(2)'s (it takes no pointers).
#[no_mangle]
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    let known = (libc::CLOSE_RANGE_UNSHARE | libc::CLOSE_RANGE_CLOEXEC) as c_int;
    if flags & !known != 0 || flags & libc::CLOSE_RANGE_CLOEXEC as c_int != 0 || first > last || !runtime::started() {
        // SAFETY: the program's call as it made it (its errors included).
        return unsafe { real::close_range(first, last, flags) };
    }
    // SAFETY: the caller is closing every number in the range.
    unsafe { green_io::closing_range(first, last, on_hub()) };
    let mut start = first;
    let mut ours = runtime::internal_fds();
    ours.sort_unstable();
    for fd in ours {
        let Ok(fd) = c_uint::try_from(fd) else { continue };
        if fd < start || fd > last {
            continue;
        }
        // SAFETY: numbers of the program's range, below one of ours.
        if fd > start && unsafe { real::close_range(start, fd - 1, flags) } != 0 {
            return -1;
        }
        start = fd + 1;
    }
    if start > last {
        return 0;
    }
    // SAFETY: what is left of the program's range, above our numbers.
    unsafe { real::close_range(start, last, flags) }
}

/// glibc's closefrom: close_range from `low` (0 if negative) to the top; on a kernel
/// without it, every number up to the descriptor limit through our close.
///
/// # Safety
/// None (as closefrom(3)).
#[no_mangle]
pub unsafe extern "C" fn closefrom(low: c_int) {
    let low = low.max(0) as c_uint;
    // SAFETY: as the caller's.
    if unsafe { close_range(low, c_uint::MAX, 0) } == 0 {
        return;
    }
    let top = {
        let _own = crate::sys::own_calls::own_calls();
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(1 << 20)
    };
    for fd in u64::from(low)..top.min(1 << 20) {
        if !runtime::is_internal_fd(fd as c_int) {
            // SAFETY: a number the program is closing (EBADF for one not open, ignored).
            unsafe { super::fd::close_nocancel(fd as c_int) };
        }
    }
}
