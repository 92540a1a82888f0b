//! readv and writev. The caller's iovec array goes to the real call untouched, and we read
//! it ourselves only once a real call has accepted it: a bad pointer gets EFAULT from the
//! kernel, never SIGSEGV from us. An iovec count the kernel refuses at once (EINVAL) is
//! passed straight through. writev completes partial writes (write_all.rs) from a local
//! copy of the rest of the array.
//!
//! Every hook here has the contract of the libc function it replaces.

use super::blocking::{note_read, route, wait_call, Route};
use super::iov::{iov_slice, iov_total, max_rw_count, remaining, UIO_MAXIOV};
use super::nowait::{readv_dontwait, readv_nowait, writev_dontwait, writev_nowait};
use super::write_all::write_all;
use crate::runtime::fdtable::{Kind, READ};
use crate::runtime::io::{plain_now, Attempt};
use crate::sys::real;
use core::ffi::c_int;
use libc::iovec;

fn valid_iovcnt(iovcnt: c_int) -> bool {
    (0..=UIO_MAXIOV as c_int).contains(&iovcnt)
}

/// # Safety
/// As for readv(2): `iov` holds `iovcnt` iovecs describing writable memory (the kernel
/// reports EFAULT if not).
#[no_mangle]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, iovcnt: c_int) -> isize {
    if plain_now(fd) {
        // SAFETY: the program's call as it made it.
        return unsafe { real::readv(fd, iov, iovcnt) };
    }
    // SAFETY: the program's arguments, passed on as it gave them.
    unsafe { readv_routed(fd, iov, iovcnt) }
}

/// [`readv`] past its shortcut (blocking.rs, Shortcut); its safety contract is the hook's.
#[inline(never)]
unsafe fn readv_routed(fd: c_int, iov: *const iovec, iovcnt: c_int) -> isize {
    super::cancel_point::point();
    let route = if valid_iovcnt(iovcnt) { route(fd) } else { Route::Real };
    let call = |attempt| match attempt {
        // SAFETY: the program's iovecs, as readv takes them.
        Attempt::DontWait => unsafe { readv_dontwait(fd, iov, iovcnt) },
        // SAFETY: as above.
        Attempt::NoWait => unsafe { readv_nowait(route, fd, iov, iovcnt) },
        // SAFETY: the program's call as it made it.
        Attempt::Direct | Attempt::PollFirst => unsafe { real::readv(fd, iov, iovcnt) },
    };
    // SAFETY: fd's route for this call; `call` makes readv with the program's arguments.
    let result = unsafe { wait_call(fd, READ, route, None, call) };
    // A successful call read the iovec array: it is ours to read too. The rule is read(2)'s,
    // with read(2)'s caveat: on an AF_UNIX stream the kernel also ends a read early at a
    // message that carried descriptors, with more queued behind it.
    // SAFETY: asked only after a success, which validated the array.
    note_read(route, fd, result, || unsafe { iov_total(iov, iovcnt as usize) });
    result
}

/// One writev attempt on `route`.
///
/// # Safety
/// As for writev(2): `iov` and `count` are the program's, or describe part of its buffers.
unsafe fn writev_attempt(route: Route, fd: c_int, iov: *const iovec, count: c_int, attempt: Attempt) -> isize {
    if attempt == Attempt::DontWait {
        // SAFETY: the caller's promise about the iovecs.
        unsafe { writev_dontwait(fd, iov, count) }
    } else if attempt == Attempt::NoWait || (attempt == Attempt::PollFirst && route.kind() == Some(Kind::Pipe)) {
        // A blocking pipe takes a large write only whole: after a poll the plain call
        // would block the hub until the reader drained it all. A NoWait route has not
        // polled at all.
        // SAFETY: as above.
        unsafe { writev_nowait(route, fd, iov, count) }
    } else {
        // SAFETY: as above.
        unsafe { real::writev(fd, iov, count) }
    }
}

/// # Safety
/// As for writev(2): `iov` holds `iovcnt` iovecs describing readable memory (the kernel
/// reports EFAULT if not).
#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> isize {
    if plain_now(fd) {
        // SAFETY: the program's call as it made it.
        return unsafe { real::writev(fd, iov, iovcnt) };
    }
    // SAFETY: the program's arguments, passed on as it gave them.
    unsafe { writev_routed(fd, iov, iovcnt) }
}

/// [`writev`] past its shortcut (blocking.rs, Shortcut); its safety contract is the hook's.
#[inline(never)]
unsafe fn writev_routed(fd: c_int, iov: *const iovec, iovcnt: c_int) -> isize {
    super::cancel_point::point();
    let route = if valid_iovcnt(iovcnt) { route(fd) } else { Route::Real };
    let mut rest = Vec::new();
    let send = |done: usize, attempt| {
        if done == 0 {
            // SAFETY: the program's call with its own arguments.
            return unsafe { writev_attempt(route, fd, iov, iovcnt, attempt) };
        }
        // SAFETY: the first attempt succeeded: the kernel accepted the array.
        let all = unsafe { iov_slice(iov, iovcnt as usize) };
        remaining(all, done, max_rw_count(), &mut rest);
        // SAFETY: `rest` describes the unwritten part of the program's buffers.
        unsafe { writev_attempt(route, fd, rest.as_ptr(), rest.len() as c_int, attempt) }
    };
    // SAFETY: asked only after a success, which validated the array.
    let total = || unsafe { iov_total(iov, iovcnt as usize) };
    // SAFETY: fd's route for this call; `send` writes the program's buffers.
    unsafe { write_all(fd, route, total, send) }
}
