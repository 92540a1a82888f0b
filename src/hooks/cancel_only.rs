//! Calls POSIX makes cancellation points that are nothing more to us: they never wait for
//! another thread (positioned I/O, msync, tcdrain; opens are open.rs's), so they run as the
//! program made them, but a green thread's pending request is acted on at their start, as
//! glibc does at the start of its own wrappers (cancel_point.rs: glibc's own check reads
//! the OS thread's descriptor, never a green thread's request).

use super::cancel_point;
use crate::sys::real;
use core::ffi::{c_int, c_void};

/// Defines hooks that act on a pending request, then make the real call unchanged.
macro_rules! cancellation_points {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {$(
        #[doc = concat!("`", stringify!($name), "`: a cancellation point, then the real call.")]
        ///
        /// # Safety
        /// As for the C function: the arguments meet its contract.
        #[no_mangle]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> $ret {
            cancel_point::point();
            // SAFETY: the program's call as it made it.
            unsafe { real::$name($($arg),*) }
        }
    )*};
}

cancellation_points! {
    fn pwrite(fd: c_int, buf: *const c_void, count: usize, offset: libc::off_t) -> isize;
    fn pwrite64(fd: c_int, buf: *const c_void, count: usize, offset: libc::off64_t) -> isize;
    fn preadv(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off_t) -> isize;
    fn preadv64(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off64_t) -> isize;
    fn pwritev(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off_t) -> isize;
    fn pwritev64(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off64_t) -> isize;
    fn preadv2(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off_t, flags: c_int) -> isize;
    fn preadv64v2(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off64_t, flags: c_int) -> isize;
    fn pwritev2(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off_t, flags: c_int) -> isize;
    fn pwritev64v2(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off64_t, flags: c_int) -> isize;
    fn msync(addr: *mut c_void, len: usize, flags: c_int) -> c_int;
    fn tcdrain(fd: c_int) -> c_int;
}
