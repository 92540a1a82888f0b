//! The message calls: recvfrom, sendto, recvmsg, sendmsg, recvmmsg, sendmmsg and the
//! fortified __recvfrom_chk (readv and writev are in io_vec.rs, shared parts in io_route.rs).
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


use crate::runtime::fdtable::{READ, WRITE};
use crate::runtime::io::{self as green_io};
use crate::sys::{clock, errno, real};
use core::ffi::{c_int, c_uint, c_void};
use libc::{iovec, mmsghdr, msghdr, sockaddr, socklen_t};
use super::io_route::*;

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
        let result = real::sendmsg(fd, msg, flags);
        if result >= 0 {
            release_passed_fds(msg);
        }
        return result;
    }
    let first = wait_call(fd, WRITE, route, |dontwait| {
        real::sendmsg(fd, msg, flags | dontwait_flag(dontwait))
    });
    if first >= 0 {
        release_passed_fds(msg);
    }
    if first < 0 || !route.is_stream_socket() {
        return first;
    }
    // The kernel has read the header and its iovecs.
    finish_sendmsg(fd, route, &*msg, first as usize, flags)
}

/// The descriptors a sent message passed (SCM_RIGHTS) go to their receiver with the flags
/// the program gave them, not with the O_NONBLOCK we set (the receiver would see it, and a
/// description has one O_NONBLOCK for every holder). Called once the kernel has accepted
/// the message, so its header and control buffer are readable.
unsafe fn release_passed_fds(msg: *const msghdr) {
    let mut cmsg = libc::CMSG_FIRSTHDR(msg);
    while !cmsg.is_null() {
        if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
            let data = libc::CMSG_DATA(cmsg) as *const c_int;
            let count = ((*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / core::mem::size_of::<c_int>();
            for i in 0..count {
                green_io::release_passed(data.add(i).read_unaligned());
            }
        }
        cmsg = libc::CMSG_NXTHDR(msg, cmsg);
    }
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
