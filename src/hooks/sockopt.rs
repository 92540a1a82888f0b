//! setsockopt: seen only so that the socket timeouts blocking calls honour can be cached
//! (runtime/fdclass.rs, socket timeouts): a wait asks the kernel for SO_RCVTIMEO or
//! SO_SNDTIMEO once per description, and again only after some setsockopt may have
//! changed one. The call itself is always the program's, unchanged.

use crate::runtime::io as green_io;
use crate::sys::real;
use core::ffi::{c_int, c_void};

/// SO_RCVTIMEO and SO_SNDTIMEO in both their old (timeval of the ABI) and new (64-bit
/// time) forms; the numbers are the same on x86-64 and aarch64 (asm-generic/socket.h).
const TIMEOUT_OPTIONS: [c_int; 4] = [20, 21, 66, 67];

/// # Safety
/// As for setsockopt(2): `value` is readable for `len` bytes (the kernel reports EFAULT if
/// not).
#[no_mangle]
pub unsafe extern "C" fn setsockopt(fd: c_int, level: c_int, name: c_int, value: *const c_void, len: libc::socklen_t) -> c_int {
    // SAFETY: the program's call as it made it.
    let result = unsafe { real::setsockopt(fd, level, name, value, len) };
    if result == 0 && level == libc::SOL_SOCKET && TIMEOUT_OPTIONS.contains(&name) {
        green_io::socket_timeouts_changed();
    }
    result
}
