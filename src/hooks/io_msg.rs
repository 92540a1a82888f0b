//! The vectored and message calls: readv, writev, recvfrom, sendto, recvmsg, sendmsg,
//! recvmmsg, sendmmsg and the fortified __recvfrom_chk.
//!
//! The policy is io.rs's: a blocking-mode call parks the green thread between non-blocking
//! attempts; MSG_DONTWAIT, an fd the program made non-blocking, and everything DESIGN.md
//! section 2 lists pass straight through. Three rules keep the results those of the native
//! call:
//!
//! * The caller's structures (iovec arrays, msghdr, mmsghdr vectors) go to the real call
//!   untouched, and we read them ourselves only once a real call has accepted them: a bad
//!   pointer gets EFAULT from the kernel, never SIGSEGV from us. The two reads we need before
//!   any call (recvmsg with MSG_WAITALL, recvmmsg's timeout) go through `read_user`, which
//!   also answers EFAULT instead of faulting (unless a seccomp filter forbids
//!   process_vm_readv: then we read directly, and a bad pointer there faults).
//! * Calls that never block natively are made as the program made them: MSG_DONTWAIT;
//!   MSG_OOB and MSG_ERRQUEUE receives (the kernel never waits for urgent data or queued
//!   errors); an iovec count readv/writev refuse at once; zero-length vectors; socket calls
//!   on anything that is not a socket (ENOTSOCK at once, even where we would otherwise have
//!   polled first).
//! * The in/out fields need no restoring between attempts. The kernel writes msg_namelen,
//!   msg_controllen and msg_flags (`____sys_recvmsg`), `*addrlen` (`__sys_recvfrom`), an
//!   mmsghdr's msg_len and recvmmsg's timeout only when the call succeeds: an attempt that
//!   failed with EAGAIN leaves every one of them as the caller set it.
//!
//! Blocking writes are complete (DESIGN.md section 3): writev, and sendto/sendmsg/sendmmsg
//! on a stream socket, go on after a partial write from a local copy of the iovec array
//! (the caller's is never modified) until every byte is queued, or return the count queued
//! so far when an error or signal stops them after progress. Like the kernel, a blocking
//! write never queues more than MAX_RW_COUNT bytes per call. On datagram and seqpacket
//! sockets each message is one attempt: atomic, as natively.

use super::off_hub;
use crate::runtime::fdtable::{self, Kind, READ, WRITE};
use crate::runtime::io::{self as green_io, Attempt, Plan};
use crate::runtime::on_hub;
use crate::sys::{clock, errno, raw, real};
use core::ffi::{c_int, c_long, c_uint, c_void};
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use libc::{iovec, mmsghdr, msghdr, sockaddr, socklen_t};

const MSG_DONTWAIT: c_int = libc::MSG_DONTWAIT;
/// Receive flags with which the kernel never waits: the call passes straight through.
const NEVER_WAITS: c_int = libc::MSG_DONTWAIT | libc::MSG_OOB | libc::MSG_ERRQUEUE;
/// The kernel's UIO_MAXIOV: readv and writev refuse more iovecs with EINVAL, and sendmmsg
/// sends at most this many messages per call.
const UIO_MAXIOV: usize = 1024;

fn dontwait_flag(dontwait: bool) -> c_int {
    if dontwait {
        MSG_DONTWAIT
    } else {
        0
    }
}

/// How a blocking-mode call on an fd is made from this thread.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    /// The program's call, as it made it (DESIGN.md section 2).
    Real,
    /// On the hub: non-blocking attempts, parking the green thread in between.
    Green(Attempt, Kind),
    /// Another OS thread, on a description we made non-blocking: attempts, blocking in
    /// poll(2) in between, so that thread still sees blocking semantics.
    OffHub(Kind),
}

impl Route {
    fn kind(self) -> Option<Kind> {
        match self {
            Route::Real => None,
            Route::Green(_, kind) | Route::OffHub(kind) => Some(kind),
        }
    }

    /// Whether a blocking write goes on after a partial one (streams, pipes, terminals; not
    /// message sockets, whose sends are atomic).
    fn completes_writes(self) -> bool {
        matches!(self.kind(), Some(Kind::StreamSocket | Kind::Pipe | Kind::CharDevice))
    }

    fn is_stream_socket(self) -> bool {
        self.kind() == Some(Kind::StreamSocket)
    }
}

fn kind_of(fd: c_int) -> Option<Kind> {
    fdtable::existing(fd).and_then(|e| e.desc()).map(|d| d.kind)
}

fn route(fd: c_int) -> Route {
    if on_hub() {
        match green_io::plan(fd) {
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
fn socket_route(fd: c_int) -> Route {
    let route = route(fd);
    match route.kind() {
        Some(Kind::StreamSocket | Kind::MessageSocket) => route,
        _ => Route::Real,
    }
}

/// One blocking-mode step: repeats `call(dontwait)` (which must add MSG_DONTWAIT, or
/// otherwise not block, when `dontwait`) until it does not fail with EAGAIN, waiting for
/// `interest` in between as `route` says.
unsafe fn wait_call(
    fd: c_int,
    interest: u8,
    route: Route,
    mut call: impl FnMut(bool) -> isize,
) -> isize {
    match route {
        Route::Real => call(false),
        Route::Green(mode, _) => {
            green_io::drive(fd, interest, None, mode, || call(mode == Attempt::DontWait))
        }
        Route::OffHub(_) => off_hub(fd, interest, || call(false)),
    }
}

/// The short-read rule of read(2) (`note_read`), for green calls only: other threads do not
/// touch the hub's readiness bits.
fn note_read(route: Route, fd: c_int, got: isize, wanted: impl FnOnce() -> usize) {
    if matches!(route, Route::Green(..)) && got > 0 {
        green_io::note_read(fd, got, wanted());
    }
}

/// The caller's iovec array as a slice. Only for arrays a real call has accepted.
unsafe fn iov_slice<'a>(iov: *const iovec, count: usize) -> &'a [iovec] {
    if count == 0 || iov.is_null() {
        &[]
    } else {
        core::slice::from_raw_parts(iov, count)
    }
}

unsafe fn iov_total(iov: *const iovec, count: usize) -> usize {
    iov_slice(iov, count).iter().fold(0usize, |sum, v| sum.saturating_add(v.iov_len))
}

/// The most one read or write call moves (the kernel's MAX_RW_COUNT, INT_MAX rounded down
/// to a page): a blocking write of more returns this much, having queued exactly that.
fn max_rw_count() -> usize {
    (i32::MAX as usize) & !(rustix::param::page_size() - 1)
}

/// Fills `out` with the part of `iov` between byte `done` and byte `total`.
fn remaining(iov: &[iovec], done: usize, total: usize, out: &mut Vec<iovec>) {
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
unsafe fn finish_write(
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

// ---- recvfrom, sendto

#[no_mangle]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> isize {
    let route = if flags & NEVER_WAITS != 0 { Route::Real } else { socket_route(fd) };
    if route == Route::Real {
        return real::recvfrom(fd, buf, len, flags, addr, addrlen);
    }
    let waitall = flags & libc::MSG_WAITALL != 0 && flags & libc::MSG_PEEK == 0;
    let wanted = if flags & libc::MSG_PEEK != 0 { 0 } else { len };
    let first = wait_call(fd, READ, route, |dontwait| {
        real::recvfrom(fd, buf, len, flags | dontwait_flag(dontwait), addr, addrlen)
    });
    note_read(route, fd, first, || wanted);
    if !(waitall && route.is_stream_socket()) || first <= 0 || first as usize >= len {
        return first;
    }
    // MSG_WAITALL: the kernel would keep receiving until `len` bytes, EOF or an error; our
    // attempts are non-blocking, so it returned early. The source address is the first
    // call's (a later call at EOF would report none).
    let saved = errno::get();
    let mut got = first as usize;
    while got < len {
        let at = (buf as *mut u8).add(got) as *mut c_void;
        let result = wait_call(fd, READ, route, |dontwait| {
            real::recvfrom(
                fd,
                at,
                len - got,
                flags | dontwait_flag(dontwait),
                core::ptr::null_mut(),
                core::ptr::null_mut(),
            )
        });
        note_read(route, fd, result, || len - got);
        if result <= 0 {
            errno::set(saved);
            break;
        }
        got += result as usize;
    }
    got as isize
}

#[no_mangle]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    size: usize,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> isize {
    if len > size {
        super::fortify_fail();
    }
    recvfrom(fd, buf, len, flags, addr, addrlen)
}

#[no_mangle]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: usize,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> isize {
    let route = if flags & MSG_DONTWAIT != 0 { Route::Real } else { socket_route(fd) };
    if route == Route::Real {
        return real::sendto(fd, buf, len, flags, addr, addrlen);
    }
    let first = wait_call(fd, WRITE, route, |dontwait| {
        real::sendto(fd, buf, len, flags | dontwait_flag(dontwait), addr, addrlen)
    });
    if first < 0 || !route.is_stream_socket() {
        return first;
    }
    // A stream: go on like send(2). MSG_FASTOPEN asked for a connect with the first bytes,
    // which is done by now.
    let whole = [iovec { iov_base: buf as *mut c_void, iov_len: len }];
    let flags = flags & !libc::MSG_FASTOPEN;
    finish_write(fd, route, &whole, first as usize, |rest, _, dontwait| {
        let rest = &*rest;
        real::sendto(
            fd,
            rest.iov_base,
            rest.iov_len,
            flags | dontwait_flag(dontwait),
            addr,
            addrlen,
        )
    })
}

// ---- recvmsg, sendmsg

/// Whether a successful recvmsg returned ancillary data, or had to drop some. On an AF_UNIX
/// stream the kernel ends a read early at a message that carries descriptors (and, with
/// SO_PASSCRED, where the writer changes), so such a short read says nothing about the
/// queue being empty, and MSG_WAITALL stops there too.
unsafe fn control_returned(msg: *const msghdr) -> bool {
    (*msg).msg_controllen > 0 || (*msg).msg_flags & libc::MSG_CTRUNC != 0
}

#[no_mangle]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> isize {
    let route = if flags & NEVER_WAITS != 0 { Route::Real } else { socket_route(fd) };
    if route == Route::Real {
        return real::recvmsg(fd, msg, flags);
    }
    let peek = flags & libc::MSG_PEEK != 0;
    if flags & libc::MSG_WAITALL != 0 && !peek && route.is_stream_socket() {
        return recvmsg_all(fd, msg, flags, route);
    }
    let result = wait_call(fd, READ, route, |dontwait| {
        real::recvmsg(fd, msg, flags | dontwait_flag(dontwait))
    });
    if result > 0 && !peek && !control_returned(msg) {
        note_read(route, fd, result, || iov_total((*msg).msg_iov, (*msg).msg_iovlen));
    }
    result
}

/// recvmsg with MSG_WAITALL on a stream socket: receive until the iovecs are full, EOF, an
/// error, or a message with ancillary data (where the kernel stops as well). The first call
/// gets the caller's header; later ones a local header with the rest of the iovecs, no
/// name (the address is the first call's), and the caller's control buffer at its original
/// size, which the first call overwrote (hence the copy made before it).
unsafe fn recvmsg_all(fd: c_int, msg: *mut msghdr, flags: c_int, route: Route) -> isize {
    let Some(original) = read_user(msg) else { return real::recvmsg(fd, msg, flags) };
    let first = wait_call(fd, READ, route, |dontwait| {
        real::recvmsg(fd, msg, flags | dontwait_flag(dontwait))
    });
    if first <= 0 || control_returned(msg) {
        return first;
    }
    let iov = iov_slice(original.msg_iov, original.msg_iovlen);
    let total = iov_total(original.msg_iov, original.msg_iovlen);
    note_read(route, fd, first, || total);
    let saved = errno::get();
    let mut got = first as usize;
    let mut header: msghdr = core::mem::zeroed();
    header.msg_control = original.msg_control;
    let mut rest = Vec::new();
    while got < total {
        remaining(iov, got, total, &mut rest);
        header.msg_iov = rest.as_mut_ptr();
        header.msg_iovlen = rest.len();
        header.msg_controllen = original.msg_controllen;
        header.msg_flags = 0;
        let result = wait_call(fd, READ, route, |dontwait| {
            real::recvmsg(fd, &mut header, flags | dontwait_flag(dontwait))
        });
        if result <= 0 {
            errno::set(saved);
            break;
        }
        got += result as usize;
        (*msg).msg_flags = header.msg_flags;
        (*msg).msg_controllen = header.msg_controllen;
        if control_returned(&header) {
            break;
        }
        note_read(route, fd, result, || total - (got - result as usize));
    }
    got as isize
}

#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> isize {
    let route = if flags & MSG_DONTWAIT != 0 { Route::Real } else { socket_route(fd) };
    if route == Route::Real {
        return real::sendmsg(fd, msg, flags);
    }
    let first = wait_call(fd, WRITE, route, |dontwait| {
        real::sendmsg(fd, msg, flags | dontwait_flag(dontwait))
    });
    if first < 0 || !route.is_stream_socket() {
        return first;
    }
    // The kernel has read the header and its iovecs.
    finish_sendmsg(fd, route, &*msg, first as usize, flags)
}

/// The rest of a blocking sendmsg on a stream after `done` bytes went out: the ancillary
/// data went with the first bytes, so later calls carry none.
unsafe fn finish_sendmsg(
    fd: c_int,
    route: Route,
    msg: &msghdr,
    done: usize,
    flags: c_int,
) -> isize {
    let mut header: msghdr = core::mem::zeroed();
    header.msg_name = msg.msg_name;
    header.msg_namelen = msg.msg_namelen;
    let flags = flags & !libc::MSG_FASTOPEN;
    finish_write(
        fd,
        route,
        iov_slice(msg.msg_iov, msg.msg_iovlen),
        done,
        |rest, count, dontwait| {
            header.msg_iov = rest as *mut iovec;
            header.msg_iovlen = count;
            real::sendmsg(fd, &header, flags | dontwait_flag(dontwait))
        },
    )
}

// ---- recvmmsg, sendmmsg

/// recvmmsg, as the kernel does it for a blocking socket (`do_recvmmsg`): wait for the
/// first message; then, with MSG_WAITFORONE, take what is queued and return; without it,
/// wait for each further message until `vlen` are in. The timeout is checked only after
/// each message arrives (so a recvmmsg with a timeout still waits for ever for a message
/// that does not come, as natively): once it has passed, the next message received is the
/// last. We receive whatever is queued with one non-blocking call and check the timeout
/// after each such batch, asking for a single message when it has already passed, so the
/// count returned matches the kernel's except when the timeout falls within a batch
/// (microseconds). When messages were received and `timeout` is not null, the time left
/// (zero if none) is written back, as the kernel does.
///
/// Differences that remain: an error after some messages ends the call with the count, as
/// natively, but where the kernel would also leave that error on the socket for the next
/// call (SO_ERROR), we cannot. SO_RCVTIMEO is not applied, here as in read and recv.
#[no_mangle]
pub unsafe extern "C" fn recvmmsg(
    fd: c_int,
    vec: *mut mmsghdr,
    vlen: c_uint,
    flags: c_int,
    timeout: *mut libc::timespec,
) -> c_int {
    let route = if flags & NEVER_WAITS != 0 || vlen == 0 { Route::Real } else { socket_route(fd) };
    if route == Route::Real {
        return real::recvmmsg(fd, vec, vlen, flags, timeout);
    }
    let deadline = if timeout.is_null() {
        None
    } else {
        // A bad pointer or value fails before anything is received: EFAULT or EINVAL at once.
        let Some(limit) = read_user(timeout).as_ref().and_then(clock::timespec_ns) else {
            return real::recvmmsg(fd, vec, vlen, flags, timeout);
        };
        Some(clock::monotonic_ns().saturating_add(limit))
    };
    let vlen = vlen as usize;
    let saved = errno::get();
    let mut done = 0usize;
    let mut left = 0u64;
    loop {
        let batch = vec.add(done);
        let result = wait_call(fd, READ, route, |dontwait| {
            // Decided at each attempt: we may have parked past the deadline.
            let expired = deadline.is_some_and(|d| clock::monotonic_ns() >= d);
            let want = if expired { 1 } else { vlen - done };
            real::recvmmsg(
                fd,
                batch,
                want as c_uint,
                flags | dontwait_flag(dontwait),
                core::ptr::null_mut(),
            ) as isize
        });
        if result <= 0 {
            if done == 0 {
                return result as c_int;
            }
            errno::set(saved);
            break;
        }
        done += result as usize;
        if let Some(d) = deadline {
            left = d.saturating_sub(clock::monotonic_ns());
        }
        let oob = (*vec.add(done - 1)).msg_hdr.msg_flags & libc::MSG_OOB != 0;
        if done >= vlen
            || flags & libc::MSG_WAITFORONE != 0
            || deadline.is_some() && left == 0
            || oob
        {
            break;
        }
    }
    if deadline.is_some() && !write_user(timeout, clock::ns_to_timespec(left)) {
        return errno::fail(libc::EFAULT);
    }
    done as c_int
}

/// sendmmsg, as for a blocking socket: every message is sent (the kernel sends at most
/// UIO_MAXIOV per call), parking whenever the socket is full, and on a stream each message
/// is sent whole before the next. Returns the messages sent; an error ends the call with
/// that count, or with the error if none was sent, as natively.
#[no_mangle]
pub unsafe extern "C" fn sendmmsg(
    fd: c_int,
    vec: *mut mmsghdr,
    vlen: c_uint,
    flags: c_int,
) -> c_int {
    let route = if flags & MSG_DONTWAIT != 0 || vlen == 0 { Route::Real } else { socket_route(fd) };
    if route == Route::Real {
        return real::sendmmsg(fd, vec, vlen, flags);
    }
    let vlen = (vlen as usize).min(UIO_MAXIOV);
    let saved = errno::get();
    let mut done = 0usize;
    while done < vlen {
        let batch = vec.add(done);
        let result = wait_call(fd, WRITE, route, |dontwait| {
            real::sendmmsg(fd, batch, (vlen - done) as c_uint, flags | dontwait_flag(dontwait))
                as isize
        });
        if result <= 0 {
            if done == 0 {
                return result as c_int;
            }
            errno::set(saved);
            break;
        }
        done += result as usize;
        if route.is_stream_socket() {
            // The kernel stops a batch at a message it could queue only in part.
            let entry = &mut *vec.add(done - 1);
            let total =
                iov_total(entry.msg_hdr.msg_iov, entry.msg_hdr.msg_iovlen).min(max_rw_count());
            if (entry.msg_len as usize) < total {
                let sent = finish_sendmsg(fd, route, &entry.msg_hdr, entry.msg_len as usize, flags);
                entry.msg_len = sent as c_uint;
                if (sent as usize) < total {
                    break;
                }
                continue;
            }
        }
        if done < vlen && matches!(route, Route::Green(..)) {
            green_io::note_short_write(fd);
        }
    }
    done as c_int
}

// ---- Reading and writing the caller's memory without faulting.

/// process_vm_readv/process_vm_writev on ourselves: the kernel checks the caller's pointer
/// and answers EFAULT where a plain access would fault. Returns None for EFAULT; where the
/// syscall is not allowed (some seccomp filters), Some(false), and the caller accesses the
/// memory directly.
unsafe fn copy_self(
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
unsafe fn read_user<T: Copy>(src: *const T) -> Option<T> {
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
unsafe fn write_user<T: Copy>(dst: *mut T, value: T) -> bool {
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
