//! Single attempts that must not block, on descriptions whose O_NONBLOCK is not ours to
//! set: readv and writev on sockets we did not create, and reads and writes of pipes and
//! devices (eventfds, timerfds, signalfds, terminals) we did not create. A poll(2) first
//! would not do: another process reading the same pipe may empty it between the poll and
//! the read, and a blocking pipe takes a large write only whole, so the plain call could
//! hold the hub until the reader drained it all.
//!
//! preadv2/pwritev2 with RWF_NOWAIT at the current position are readv/writev made
//! non-blocking for this call only, through the very same kernel path (so a zero-length
//! readv of a datagram socket consumes nothing, and a writev of a SOCK_SEQPACKET socket
//! still ends a record). Current kernels take it on sockets, pipes, and reads of eventfds,
//! timerfds and signalfds. Where the kernel refuses (EOPNOTSUPP, or ENOSYS before 4.6) we
//! remember it and fall back: recvmsg/sendmsg with MSG_DONTWAIT for sockets (which differ in
//! the two cases above), the plain call once poll(2) says it would not block for pipes and
//! devices (which, as write(2) does, may then hold the hub until a large write is taken).
//! FIFOs, terminals and inotify refuse it where pipes and eventfds take it, so pipes and
//! device reads are remembered per description (fdclass.rs, `refuses_nowait`).

use super::blocking::Route;
use crate::runtime::fdtable::{Kind, READ, WRITE};
use crate::runtime::io::{attempt_may_block, poll_now, Attempt};
use crate::sys::{errno, raw, real};
use core::ffi::{c_int, c_long, c_void};
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use libc::{iovec, msghdr};

/// Whether the kernel has refused RWF_NOWAIT on one family of descriptions.
struct NoWait {
    missing: AtomicBool,
}

static SOCKET_NOWAIT: NoWait = NoWait { missing: AtomicBool::new(false) };
static DEVICE_WRITE_NOWAIT: NoWait = NoWait { missing: AtomicBool::new(false) };

impl NoWait {
    /// preadv2/pwritev2 (`syscall`) with RWF_NOWAIT, or `fallback` where the kernel refuses.
    ///
    /// # Safety
    /// `iov` points to `count` iovecs describing memory valid for the transfer, as for the
    /// readv/writev this attempt stands for (the kernel reports a bad one as EFAULT).
    unsafe fn call(
        &self,
        syscall: c_long,
        fd: c_int,
        iov: *const iovec,
        count: c_int,
        mut fallback: impl FnMut() -> isize,
    ) -> isize {
        if self.missing.load(Relaxed) {
            return fallback();
        }
        // SAFETY: the caller's promise.
        if let Some(result) = unsafe { with_nowait(syscall, fd, iov, count) } {
            return result;
        }
        let result = fallback();
        // The file itself may answer EOPNOTSUPP to any read; only a different answer from
        // the fallback says that RWF_NOWAIT is what the kernel refused.
        if result >= 0 || errno::get() != libc::EOPNOTSUPP {
            self.missing.store(true, Relaxed);
        }
        result
    }
}

/// preadv2/pwritev2 (`syscall`) with RWF_NOWAIT at the file position: its result (-1 and
/// errno on failure), or None where the kernel refuses RWF_NOWAIT for this file (EOPNOTSUPP,
/// or ENOSYS before Linux 4.6).
///
/// # Safety
/// As for [`NoWait::call`].
unsafe fn with_nowait(syscall: c_long, fd: c_int, iov: *const iovec, count: c_int) -> Option<isize> {
    const RWF_NOWAIT: usize = libc::RWF_NOWAIT as usize;
    // Offset -1 (low word all ones, high word 0): the file position, as readv uses.
    let args = [fd as usize, iov as usize, count as usize, usize::MAX, 0, RWF_NOWAIT];
    // SAFETY: preadv2/pwritev2 with the caller's iovecs, which are valid for the transfer
    // (the caller's promise); the kernel checks every pointer it uses.
    let result = unsafe { raw::syscall6(syscall, args) };
    match -result as i32 {
        _ if result >= 0 => Some(result),
        libc::EOPNOTSUPP | libc::ENOSYS => None,
        e => Some(errno::fail(e)),
    }
}

/// A readv attempt that must not block, on a socket we did not create.
///
/// # Safety
/// As for readv(2): `iov` and `count` are the program's arguments.
pub(super) unsafe fn readv_dontwait(fd: c_int, iov: *const iovec, count: c_int) -> isize {
    let fallback = || {
        // SAFETY: msghdr is plain data; all-zero is an empty header.
        let mut msg: msghdr = unsafe { core::mem::zeroed() };
        msg.msg_iov = iov as *mut iovec;
        msg.msg_iovlen = count as usize;
        // SAFETY: the header lives across the call and carries the program's iovecs.
        unsafe { real::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) }
    };
    // SAFETY: the program's iovecs, as readv would take them.
    unsafe { SOCKET_NOWAIT.call(libc::SYS_preadv2, fd, iov, count, fallback) }
}

/// A writev attempt that must not block, on a socket we did not create.
///
/// # Safety
/// As for writev(2): `iov` and `count` describe readable memory or are the program's own.
pub(super) unsafe fn writev_dontwait(fd: c_int, iov: *const iovec, count: c_int) -> isize {
    let fallback = || {
        // SAFETY: msghdr is plain data; all-zero is an empty header.
        let mut msg: msghdr = unsafe { core::mem::zeroed() };
        msg.msg_iov = iov as *mut iovec;
        msg.msg_iovlen = count as usize;
        // SAFETY: the header lives across the call and carries the caller's iovecs.
        unsafe { real::sendmsg(fd, &msg, libc::MSG_DONTWAIT) }
    };
    // SAFETY: the caller's iovecs, as writev would take them.
    unsafe { SOCKET_NOWAIT.call(libc::SYS_pwritev2, fd, iov, count, fallback) }
}

/// The one-call attempt of a pipe or device we did not create, for `route` (Green: the hub
/// thread), made with RWF_NOWAIT by `syscall` (preadv2 or pwritev2) on `iov`. Where the
/// kernel refuses that, `plain` is the program's call, made only once poll(2) has said it
/// would not block (a PollFirst route has just polled). A description whose reads, or a
/// pipe whose writes, refused is remembered (its later calls poll first); device writes
/// all together, since a device may take RWF_NOWAIT for reads only (an eventfd). A lone
/// thread makes the plain call, which blocks only itself.
///
/// # Safety
/// As for [`NoWait::call`], and `plain` is the same call without the flag.
unsafe fn pipe_attempt(
    route: Route,
    fd: c_int,
    syscall: c_long,
    (iov, count): (*const iovec, c_int),
    mut plain: impl FnMut() -> isize,
) -> isize {
    if attempt_may_block() {
        return plain();
    }
    let interest = if syscall == libc::SYS_preadv2 { READ } else { WRITE };
    let polled = matches!(route, Route::Green(Attempt::PollFirst, _));
    let mut fallback = || if polled || poll_now(fd, interest) { plain() } else { errno::fail(libc::EAGAIN) };
    if interest == WRITE && route.kind() != Some(Kind::Pipe) {
        // SAFETY: the caller's promise.
        return unsafe { DEVICE_WRITE_NOWAIT.call(syscall, fd, iov, count, fallback) };
    }
    // SAFETY: the caller's promise.
    unsafe { with_nowait(syscall, fd, iov, count) }.unwrap_or_else(|| {
        // SAFETY: a Green route: this is the hub thread.
        unsafe { crate::runtime::io::refuses_nowait(fd) };
        fallback()
    })
}

/// A read attempt that must not block, on a pipe or device we did not create.
///
/// # Safety
/// As for read(2): `buf` is writable for `len` bytes, or the program's own argument.
pub(super) unsafe fn read_nowait(route: Route, fd: c_int, buf: *mut c_void, len: usize) -> isize {
    let iov = iovec { iov_base: buf, iov_len: len };
    // SAFETY: one iovec, alive across the call, describing the caller's buffer; `plain` is
    // read(2) as the program made it.
    unsafe { pipe_attempt(route, fd, libc::SYS_preadv2, (&iov, 1), || real::read(fd, buf, len)) }
}

/// A readv attempt that must not block, on a pipe or device we did not create.
///
/// # Safety
/// As for readv(2): `iov` and `count` are the program's arguments.
pub(super) unsafe fn readv_nowait(route: Route, fd: c_int, iov: *const iovec, count: c_int) -> isize {
    // SAFETY: the program's iovecs; `plain` is readv(2) as the program made it.
    unsafe { pipe_attempt(route, fd, libc::SYS_preadv2, (iov, count), || real::readv(fd, iov, count)) }
}

/// A writev attempt that must not block, on a pipe or device we did not create.
///
/// # Safety
/// As for [`writev_dontwait`].
pub(super) unsafe fn writev_nowait(route: Route, fd: c_int, iov: *const iovec, count: c_int) -> isize {
    // SAFETY: the caller's iovecs; `plain` is writev(2) on them.
    unsafe { pipe_attempt(route, fd, libc::SYS_pwritev2, (iov, count), || real::writev(fd, iov, count)) }
}

/// A write attempt that must not block, on a pipe or device we did not create.
///
/// # Safety
/// As for write(2): `buf` is readable for `len` bytes, or the program's own argument.
pub(super) unsafe fn write_nowait(route: Route, fd: c_int, buf: *const c_void, len: usize) -> isize {
    let iov = iovec { iov_base: buf as *mut c_void, iov_len: len };
    // SAFETY: one iovec, alive across the call, describing the caller's buffer; `plain` is
    // write(2) on it.
    unsafe { pipe_attempt(route, fd, libc::SYS_pwritev2, (&iov, 1), || real::write(fd, buf, len)) }
}
