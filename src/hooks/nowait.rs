//! Single attempts that must not block, on descriptions whose O_NONBLOCK is not ours to
//! set: readv and writev on sockets we did not create, and writes to pipes and terminals
//! we did not create (poll(2) said there is room, but a blocking pipe takes a large write
//! only whole: the plain call could hold the hub until the reader drained it all).
//!
//! preadv2/pwritev2 with RWF_NOWAIT at the current position are readv/writev made
//! non-blocking for this call only, through the very same kernel path (so a zero-length
//! readv of a datagram socket consumes nothing, and a writev of a SOCK_SEQPACKET socket
//! still ends a record). Current kernels take it on sockets and pipes; where the kernel
//! refuses (EOPNOTSUPP, or ENOSYS before 4.6) we remember it and fall back: recvmsg/sendmsg
//! with MSG_DONTWAIT for sockets (which differ in the two cases above), the plain call for
//! pipes (which, as write(2) does, may then hold the hub until a large write is taken).

use crate::sys::{errno, raw, real};
use core::ffi::{c_int, c_long, c_void};
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use libc::{iovec, msghdr};

/// Whether the kernel has refused RWF_NOWAIT on one family of descriptions.
struct NoWait {
    missing: AtomicBool,
}

static SOCKET_NOWAIT: NoWait = NoWait { missing: AtomicBool::new(false) };
static PIPE_NOWAIT: NoWait = NoWait { missing: AtomicBool::new(false) };

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
        const RWF_NOWAIT: usize = libc::RWF_NOWAIT as usize;
        // Offset -1 (low word all ones, high word 0): the file position, as readv uses.
        let args = [fd as usize, iov as usize, count as usize, usize::MAX, 0, RWF_NOWAIT];
        // SAFETY: preadv2/pwritev2 with the caller's iovecs, which are valid for the
        // transfer (the caller's promise); the kernel checks every pointer it uses.
        let result = unsafe { raw::syscall6(syscall, args) };
        if result >= 0 {
            return result;
        }
        let e = -result as i32;
        if e != libc::EOPNOTSUPP && e != libc::ENOSYS {
            return errno::fail(e);
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

/// A writev attempt that must not block, on a pipe or terminal we did not create.
///
/// # Safety
/// As for [`writev_dontwait`].
pub(super) unsafe fn writev_nowait(fd: c_int, iov: *const iovec, count: c_int) -> isize {
    // SAFETY: the caller's iovecs, as writev would take them.
    let fallback = || unsafe { real::writev(fd, iov, count) };
    if crate::runtime::io::attempt_may_block() {
        // A lone thread: the plain call blocks only this thread, as natively.
        return fallback();
    }
    // SAFETY: as above.
    unsafe { PIPE_NOWAIT.call(libc::SYS_pwritev2, fd, iov, count, fallback) }
}

/// A write attempt that must not block, on a pipe or terminal we did not create.
///
/// # Safety
/// As for write(2): `buf` is readable for `len` bytes, or the program's own argument.
pub(super) unsafe fn write_nowait(fd: c_int, buf: *const c_void, len: usize) -> isize {
    let iov = iovec { iov_base: buf as *mut c_void, iov_len: len };
    // SAFETY: the caller's buffer, as write would take it.
    let fallback = || unsafe { real::write(fd, buf, len) };
    if crate::runtime::io::attempt_may_block() {
        // A lone thread: the plain call blocks only this thread, as natively.
        return fallback();
    }
    // SAFETY: one iovec, alive across the call, describing the caller's buffer.
    unsafe { PIPE_NOWAIT.call(libc::SYS_pwritev2, fd, &iov, 1, fallback) }
}
