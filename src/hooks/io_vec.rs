//! readv and writev, and the non-blocking single-call forms (preadv2/pwritev2 with
//! RWF_NOWAIT) that write() also uses on pipes that are not ours. See io_msg.rs for the
//! rules that keep results native.

use crate::runtime::fdtable::{Kind, READ, WRITE};
use crate::runtime::io::Attempt;
use crate::sys::{errno, raw, real};
use core::ffi::{c_int, c_long, c_void};
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use libc::{iovec, msghdr};
use super::io_route::*;

// ---- Non-blocking readv and writev on descriptions whose O_NONBLOCK is not ours to set.

/// preadv2/pwritev2 with RWF_NOWAIT at the current position are readv/writev made
/// non-blocking for this call only, through the very same kernel path (so a zero-length
/// readv of a datagram socket consumes nothing, and a writev of a SOCK_SEQPACKET socket
/// still ends a record). Current kernels take it on sockets and pipes; where the kernel
/// refuses (EOPNOTSUPP, or ENOSYS before 4.6) we remember it and fall back: recvmsg/sendmsg
/// with MSG_DONTWAIT for sockets (which differ in the two cases above), a plain writev for
/// pipes (which, as write(2) does, may then hold the hub until a large write is taken).
struct NoWait {
    missing: AtomicBool,
}

static SOCKET_NOWAIT: NoWait = NoWait { missing: AtomicBool::new(false) };
static PIPE_NOWAIT: NoWait = NoWait { missing: AtomicBool::new(false) };

impl NoWait {
    unsafe fn call(
        &self,
        syscall: c_long,
        fd: c_int,
        iov: *const iovec,
        count: c_int,
        mut fallback: impl FnMut() -> isize,
    ) -> isize {
        if !self.missing.load(Relaxed) {
            const RWF_NOWAIT: usize = libc::RWF_NOWAIT as usize;
            // Offset -1 (low word all ones, high word 0): the file position, as readv uses.
            let result = raw::syscall6(
                syscall,
                [fd as usize, iov as usize, count as usize, usize::MAX, 0, RWF_NOWAIT],
            );
            if result >= 0 {
                return result;
            }
            let e = -result as i32;
            if e != libc::EOPNOTSUPP && e != libc::ENOSYS {
                return errno::fail(e);
            }
            let result = fallback();
            // The file itself may answer EOPNOTSUPP to any read; only a different answer
            // from the fallback says that RWF_NOWAIT is what the kernel refused.
            if result >= 0 || errno::get() != libc::EOPNOTSUPP {
                self.missing.store(true, Relaxed);
            }
            return result;
        }
        fallback()
    }
}

/// A readv attempt that must not block (sockets we did not create).
unsafe fn readv_dontwait(fd: c_int, iov: *const iovec, count: c_int) -> isize {
    SOCKET_NOWAIT.call(libc::SYS_preadv2, fd, iov, count, || {
        let mut msg: msghdr = core::mem::zeroed();
        msg.msg_iov = iov as *mut iovec;
        msg.msg_iovlen = count as usize;
        real::recvmsg(fd, &mut msg, MSG_DONTWAIT)
    })
}

/// One writev attempt on `route`.
unsafe fn writev_attempt(
    route: Route,
    fd: c_int,
    iov: *const iovec,
    count: c_int,
    dontwait: bool,
) -> isize {
    if dontwait {
        SOCKET_NOWAIT.call(libc::SYS_pwritev2, fd, iov, count, || {
            let mut msg: msghdr = core::mem::zeroed();
            msg.msg_iov = iov as *mut iovec;
            msg.msg_iovlen = count as usize;
            real::sendmsg(fd, &msg, MSG_DONTWAIT)
        })
    } else if route == Route::Green(Attempt::PollFirst, Kind::Pipe) {
        // poll(2) said there is room, but a blocking pipe takes a large write only whole:
        // without RWF_NOWAIT the call would block the hub until the reader drained it all.
        PIPE_NOWAIT.call(libc::SYS_pwritev2, fd, iov, count, || real::writev(fd, iov, count))
    } else {
        real::writev(fd, iov, count)
    }
}

/// A write attempt that must not block, on a pipe or terminal we did not create.
pub(crate) unsafe fn write_nowait(fd: c_int, buf: *const c_void, len: usize) -> isize {
    let iov = iovec { iov_base: buf as *mut c_void, iov_len: len };
    PIPE_NOWAIT.call(libc::SYS_pwritev2, fd, &iov, 1, || real::write(fd, buf, len))
}

fn valid_iovcnt(iovcnt: c_int) -> bool {
    (0..=UIO_MAXIOV as c_int).contains(&iovcnt)
}

#[no_mangle]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, iovcnt: c_int) -> isize {
    let route = if valid_iovcnt(iovcnt) { route(fd) } else { Route::Real };
    let result = wait_call(fd, READ, route, |dontwait| {
        if dontwait {
            readv_dontwait(fd, iov, iovcnt)
        } else {
            real::readv(fd, iov, iovcnt)
        }
    });
    // A successful call read the iovec array: it is ours to read too. The rule is read(2)'s,
    // with read(2)'s caveat: on an AF_UNIX stream the kernel also ends a read early at a
    // message that carried descriptors, with more queued behind it.
    note_read(route, fd, result, || iov_total(iov, iovcnt as usize));
    result
}

#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> isize {
    let route = if valid_iovcnt(iovcnt) { route(fd) } else { Route::Real };
    let first =
        wait_call(fd, WRITE, route, |dontwait| writev_attempt(route, fd, iov, iovcnt, dontwait));
    if first < 0 || !route.completes_writes() {
        return first;
    }
    finish_write(
        fd,
        route,
        iov_slice(iov, iovcnt as usize),
        first as usize,
        |rest, count, dontwait| writev_attempt(route, fd, rest, count as c_int, dontwait),
    )
}
