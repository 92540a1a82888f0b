//! What the vectored and message calls (io_vec.rs, io_msg.rs) share: how a blocking-mode
//! call on an fd is made from this thread (its Route), the wait between attempts, iovec
//! arithmetic for completing partial writes, and reads and writes of the caller's memory
//! that answer EFAULT instead of faulting.
//!
//! The policy is runtime/io.rs's; io_msg.rs's header gives the rules that keep results
//! native.

use super::off_hub;
use crate::runtime::fdtable::{self, Kind, WRITE};
use crate::runtime::io::{self as green_io, Attempt, Plan};
use crate::runtime::on_hub;
use crate::sys::{errno, raw};
use core::ffi::{c_int, c_long, c_void};
use libc::iovec;

pub(super) const MSG_DONTWAIT: c_int = libc::MSG_DONTWAIT;
/// Receive flags with which the kernel never waits: the call passes straight through.
pub(super) const NEVER_WAITS: c_int = libc::MSG_DONTWAIT | libc::MSG_OOB | libc::MSG_ERRQUEUE;
/// The kernel's UIO_MAXIOV: readv and writev refuse more iovecs with EINVAL, and sendmmsg
/// sends at most this many messages per call.
pub(super) const UIO_MAXIOV: usize = 1024;

pub(super) fn dontwait_flag(dontwait: bool) -> c_int {
    if dontwait {
        MSG_DONTWAIT
    } else {
        0
    }
}

/// How a blocking-mode call on an fd is made from this thread.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    /// The program's call, as it made it (DESIGN.md section 2).
    Real,
    /// On the hub: non-blocking attempts, parking the green thread in between.
    Green(Attempt, Kind),
    /// Another OS thread, on a description we made non-blocking: attempts, blocking in
    /// poll(2) in between, so that thread still sees blocking semantics.
    OffHub(Kind),
}

impl Route {
    pub(super) fn kind(self) -> Option<Kind> {
        match self {
            Route::Real => None,
            Route::Green(_, kind) | Route::OffHub(kind) => Some(kind),
        }
    }

    /// Whether a blocking write goes on after a partial one (streams, pipes, terminals; not
    /// message sockets, whose sends are atomic).
    pub(super) fn completes_writes(self) -> bool {
        matches!(self.kind(), Some(Kind::StreamSocket | Kind::Pipe | Kind::CharDevice))
    }

    pub(super) fn is_stream_socket(self) -> bool {
        self.kind() == Some(Kind::StreamSocket)
    }
}

pub(super) fn kind_of(fd: c_int) -> Option<Kind> {
    fdtable::kind(fd)
}

pub(super) fn route(fd: c_int) -> Route {
    if on_hub() {
        // SAFETY: on the hub thread (just checked).
        match unsafe { green_io::plan(fd) } {
            Plan::Passthrough => Route::Real,
            Plan::Green(mode) => kind_of(fd).map_or(Route::Real, |kind| Route::Green(mode, kind)),
        }
    } else if fdtable::needs_blocking_emulation(fd) {
        kind_of(fd).map_or(Route::Real, Route::OffHub)
    } else {
        Route::Real
    }
}

/// The route of a call that only sockets accept: anything else gets the real call's
/// ENOTSOCK at once.
pub(super) fn socket_route(fd: c_int) -> Route {
    let route = route(fd);
    match route.kind() {
        Some(Kind::StreamSocket | Kind::MessageSocket) => route,
        _ => Route::Real,
    }
}

/// One blocking-mode step: repeats `call(dontwait)` (which must add MSG_DONTWAIT, or
/// otherwise not block, when `dontwait`) until it does not fail with EAGAIN, waiting for
/// `interest` in between as `route` says.
pub(super) unsafe fn wait_call(
    fd: c_int,
    interest: u8,
    route: Route,
    mut call: impl FnMut(bool) -> isize,
) -> isize {
    match route {
        Route::Real => call(false),
        Route::Green(mode, _) => green_io::drive(fd, interest, None, mode, || {
            let mut attempt = || call(mode == Attempt::DontWait);
            if interest == WRITE {
                super::keeping_own_sigpipe(attempt)
            } else {
                attempt()
            }
        }),
        Route::OffHub(_) => off_hub(fd, interest, || call(false)),
    }
}

/// The short-read rule of read(2) (`note_read`), for green calls only: other threads do not
/// touch the hub's readiness bits.
pub(super) fn note_read(route: Route, fd: c_int, got: isize, wanted: impl FnOnce() -> usize) {
    if matches!(route, Route::Green(..)) && got > 0 {
        // SAFETY: a Green route is only planned on the hub thread.
        unsafe { green_io::note_read(fd, got, wanted()) };
    }
}

/// The caller's iovec array as a slice. Only for arrays a real call has accepted.
pub(super) unsafe fn iov_slice<'a>(iov: *const iovec, count: usize) -> &'a [iovec] {
    if count == 0 || iov.is_null() {
        &[]
    } else {
        core::slice::from_raw_parts(iov, count)
    }
}

pub(super) unsafe fn iov_total(iov: *const iovec, count: usize) -> usize {
    iov_slice(iov, count).iter().fold(0usize, |sum, v| sum.saturating_add(v.iov_len))
}

/// The most one read or write call moves (the kernel's MAX_RW_COUNT, INT_MAX rounded down
/// to a page): a blocking write of more returns this much, having queued exactly that.
pub(super) fn max_rw_count() -> usize {
    (i32::MAX as usize) & !(rustix::param::page_size() - 1)
}

/// Fills `out` with the part of `iov` between byte `done` and byte `total`.
pub(super) fn remaining(iov: &[iovec], done: usize, total: usize, out: &mut Vec<iovec>) {
    out.clear();
    let mut start = 0usize;
    for v in iov {
        if start >= total {
            break;
        }
        let end = start.saturating_add(v.iov_len).min(total);
        if end > done {
            let skip = done.saturating_sub(start);
            out.push(iovec {
                // SAFETY (of the add): skip < iov_len, inside the caller's buffer.
                iov_base: unsafe { (v.iov_base as *mut u8).add(skip) } as *mut c_void,
                iov_len: end - start - skip,
            });
        }
        start = end;
    }
}

/// Goes on with a blocking-mode vectored write after its first attempt queued `done` of
/// `iov`'s bytes: `send(array, count, dontwait)` writes from a local array that starts where
/// the last attempt stopped. Returns the bytes queued in all; when an error (or a signal)
/// stops it after progress, that count, with errno as the caller had it.
pub(super) unsafe fn finish_write(
    fd: c_int,
    route: Route,
    iov: &[iovec],
    done: usize,
    mut send: impl FnMut(*const iovec, usize, bool) -> isize,
) -> isize {
    let total = iov.iter().fold(0usize, |sum, v| sum.saturating_add(v.iov_len)).min(max_rw_count());
    let saved = errno::get();
    let mut done = done;
    let mut rest = Vec::new();
    while done < total {
        if matches!(route, Route::Green(..)) {
            green_io::note_short_write(fd);
        }
        remaining(iov, done, total, &mut rest);
        let result =
            wait_call(fd, WRITE, route, |dontwait| send(rest.as_ptr(), rest.len(), dontwait));
        if result <= 0 {
            errno::set(saved);
            break;
        }
        done += result as usize;
    }
    done as isize
}

// ---- Reading and writing the caller's memory without faulting.

/// process_vm_readv/process_vm_writev on ourselves: the kernel checks the caller's pointer
/// and answers EFAULT where a plain access would fault. Returns None for EFAULT; where the
/// syscall is not allowed (some seccomp filters), Some(false), and the caller accesses the
/// memory directly.
pub(super) unsafe fn copy_self(
    nr: c_long,
    local: *mut c_void,
    remote: *mut c_void,
    size: usize,
) -> Option<bool> {
    let pid = rustix::process::getpid().as_raw_nonzero().get() as usize;
    let local = iovec { iov_base: local, iov_len: size };
    let remote = iovec { iov_base: remote, iov_len: size };
    let result = raw::syscall6(
        nr,
        [pid, &local as *const iovec as usize, 1, &remote as *const iovec as usize, 1, 0],
    );
    if result == size as isize {
        Some(true)
    } else if result >= 0 || result == -(libc::EFAULT as isize) {
        None
    } else {
        Some(false)
    }
}

/// A copy of the caller's `*src`, or None where the real call would say EFAULT.
pub(super) unsafe fn read_user<T: Copy>(src: *const T) -> Option<T> {
    let mut value = core::mem::MaybeUninit::<T>::uninit();
    let size = core::mem::size_of::<T>();
    match copy_self(
        libc::SYS_process_vm_readv,
        value.as_mut_ptr() as *mut c_void,
        src as *mut c_void,
        size,
    )? {
        true => Some(value.assume_init()),
        false => Some(src.read()),
    }
}

/// Stores `value` at the caller's `dst`; false where the kernel would say EFAULT.
pub(super) unsafe fn write_user<T: Copy>(dst: *mut T, value: T) -> bool {
    let mut value = value;
    let size = core::mem::size_of::<T>();
    match copy_self(
        libc::SYS_process_vm_writev,
        &mut value as *mut T as *mut c_void,
        dst as *mut c_void,
        size,
    ) {
        None => false,
        Some(true) => true,
        Some(false) => {
            dst.write(value);
            true
        }
    }
}
