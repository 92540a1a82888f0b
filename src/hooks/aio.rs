//! POSIX AIO: aio_read, aio_write, aio_fsync and lio_listio (and their 64-bit names).
//!
//! glibc runs each request on helper threads of its own, real OS threads that make the
//! request's read or write with glibc's internal calls, which no hook sees. On a
//! description we made non-blocking that call fails at once with EAGAIN (or writes only
//! what fits), where the program asked for a read or write that waits. So before a request
//! reaches glibc, its descriptor's description goes back to blocking for good
//! (`release_passed`, as for a descriptor passed with SCM_RIGHTS), and the helper thread
//! waits as natively; the program's own calls on it wait green as they do on a description
//! we did not create (ARCHITECTURE.md, Promised semantics). Waiting for completion with
//! aio_suspend is a green wait (aio_suspend.rs); aio_error and aio_return are glibc's.
//!
//! `struct aiocb64` is `struct aiocb` on the 64-bit targets we support (off64_t is off_t).

use crate::runtime::io as green_io;
use crate::sys::real;
use core::ffi::c_int;

type Aiocb = *mut libc::aiocb;

/// Gives the description of the request's descriptor back to blocking.
///
/// # Safety
/// `cb` is null or points to a readable aiocb.
unsafe fn release(cb: Aiocb) {
    // SAFETY: the caller's promise; a null request is left to the real call to refuse.
    if let Some(cb) = unsafe { cb.as_ref() } {
        // SAFETY: the program holds the request's number while it submits the request (the
        // table's rule for release_passed).
        unsafe { green_io::release_passed(cb.aio_fildes) };
    }
}

/// # Safety
/// Called as libc's aio_read, with its arguments.
#[no_mangle]
pub unsafe extern "C" fn aio_read(cb: Aiocb) -> c_int {
    // SAFETY: the caller's arguments, unchanged.
    unsafe {
        release(cb);
        real::aio_read(cb)
    }
}

/// # Safety
/// Called as libc's aio_read64, with its arguments.
#[no_mangle]
pub unsafe extern "C" fn aio_read64(cb: Aiocb) -> c_int {
    // SAFETY: the caller's arguments, unchanged.
    unsafe {
        release(cb);
        real::aio_read64(cb)
    }
}

/// # Safety
/// Called as libc's aio_write, with its arguments.
#[no_mangle]
pub unsafe extern "C" fn aio_write(cb: Aiocb) -> c_int {
    // SAFETY: the caller's arguments, unchanged.
    unsafe {
        release(cb);
        real::aio_write(cb)
    }
}

/// # Safety
/// Called as libc's aio_write64, with its arguments.
#[no_mangle]
pub unsafe extern "C" fn aio_write64(cb: Aiocb) -> c_int {
    // SAFETY: the caller's arguments, unchanged.
    unsafe {
        release(cb);
        real::aio_write64(cb)
    }
}

/// # Safety
/// Called as libc's aio_fsync, with its arguments.
#[no_mangle]
pub unsafe extern "C" fn aio_fsync(op: c_int, cb: Aiocb) -> c_int {
    // SAFETY: the caller's arguments, unchanged.
    unsafe {
        release(cb);
        real::aio_fsync(op, cb)
    }
}

/// # Safety
/// Called as libc's aio_fsync64, with its arguments.
#[no_mangle]
pub unsafe extern "C" fn aio_fsync64(op: c_int, cb: Aiocb) -> c_int {
    // SAFETY: the caller's arguments, unchanged.
    unsafe {
        release(cb);
        real::aio_fsync64(op, cb)
    }
}

/// Releases the descriptor of every read and write in `list` (glibc skips LIO_NOP and null
/// entries, and so do we).
///
/// # Safety
/// `list` is null or holds `count` entries, each null or a readable aiocb.
unsafe fn release_list(list: *const Aiocb, count: c_int) {
    if list.is_null() {
        return;
    }
    for i in 0..usize::try_from(count).unwrap_or(0) {
        // SAFETY: `i` < `count`, the length of the caller's list.
        let cb = unsafe { *list.add(i) };
        // SAFETY: each entry is null or a readable aiocb (the caller's promise).
        let opcode = unsafe { cb.as_ref() }.map(|cb| cb.aio_lio_opcode);
        if matches!(opcode, Some(libc::LIO_READ | libc::LIO_WRITE)) {
            // SAFETY: as above.
            unsafe { release(cb) };
        }
    }
}

/// # Safety
/// Called as libc's lio_listio, with its arguments.
#[no_mangle]
pub unsafe extern "C" fn lio_listio(mode: c_int, list: *const Aiocb, count: c_int, sig: *mut libc::sigevent) -> c_int {
    // SAFETY: the caller's arguments, unchanged.
    unsafe {
        release_list(list, count);
        real::lio_listio(mode, list, count, sig)
    }
}

/// # Safety
/// Called as libc's lio_listio64, with its arguments.
#[no_mangle]
pub unsafe extern "C" fn lio_listio64(mode: c_int, list: *const Aiocb, count: c_int, sig: *mut libc::sigevent) -> c_int {
    // SAFETY: the caller's arguments, unchanged.
    unsafe {
        release_list(list, count);
        real::lio_listio64(mode, list, count, sig)
    }
}
