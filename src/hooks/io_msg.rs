//! The message calls: recvmsg, sendmsg, recvmmsg and sendmmsg (recv/recvfrom/send/sendto
//! are in io.rs, readv and writev in io_vec.rs). They are routed as blocking.rs says, recvmsg
//! shares MSG_WAITALL with recv (receive.rs), sendmsg and sendmmsg complete partial writes
//! on streams (write_all.rs). Three rules keep the results those of the native call:
//!
//! * The caller's structures (iovec arrays, msghdr, mmsghdr vectors) go to the real call
//!   untouched, and we read them ourselves only once a real call has accepted them: a bad
//!   pointer gets EFAULT from the kernel, never SIGSEGV from us. The two reads we need before
//!   any call (recvmsg with MSG_WAITALL, recvmmsg's timeout) go through `read_user`, which
//!   also answers EFAULT instead of faulting (unless a seccomp filter forbids
//!   process_vm_readv: then we read directly, and a bad pointer there faults).
//! * Calls that never block natively are made as the program made them: MSG_DONTWAIT;
//!   MSG_OOB and MSG_ERRQUEUE receives; zero-length vectors; socket calls on anything that
//!   is not a socket (ENOTSOCK at once, even where we would otherwise have polled first).
//! * The in/out fields need no restoring between attempts. The kernel writes msg_namelen,
//!   msg_controllen and msg_flags (`____sys_recvmsg`), an mmsghdr's msg_len and recvmmsg's
//!   timeout only when the call succeeds: an attempt that failed with EAGAIN leaves every
//!   one of them as the caller set it.
//!
//! Every hook here has the contract of the libc function it replaces.

use super::blocking::{dontwait_flag, socket_route, wait_call, Route};
use super::iov::{iov_slice, iov_total, max_rw_count, remaining, UIO_MAXIOV};
use super::receive::{receive, Receiver};
use super::user_mem::{read_user, read_user_slice, write_user};
use super::write_all::{finish_write, write_all};
use crate::runtime::fdtable::{READ, WRITE};
use crate::runtime::io::{self as green_io, plain_now, Attempt};
use crate::sys::{clock, errno, real};
use core::ffi::{c_int, c_uint};
use libc::{iovec, mmsghdr, msghdr};

// ---- recvmsg

/// Whether a successful recvmsg returned ancillary data, or had to drop some. On an AF_UNIX
/// stream the kernel ends a read early at a message that carries descriptors (and, with
/// SO_PASSCRED, where the writer changes), so such a short read says nothing about the
/// queue being empty, and MSG_WAITALL stops there too.
///
/// # Safety
/// `msg` is readable (a recvmsg call has just accepted it).
unsafe fn control_returned(msg: *const msghdr) -> bool {
    // SAFETY: the caller's promise.
    let msg = unsafe { &*msg };
    msg.msg_controllen > 0 || msg.msg_flags & libc::MSG_CTRUNC != 0
}

/// recvmsg's buffers. With MSG_WAITALL, later receives get a local header with the rest of
/// the iovecs, no name (the address is the first receive's), and the caller's control
/// buffer at its original size, which the first receive overwrote (hence `original`, the
/// copy made before it).
struct Message {
    fd: c_int,
    msg: *mut msghdr,
    flags: c_int,
    original: Option<msghdr>,
    rest: Vec<iovec>,
}

impl Receiver for Message {
    unsafe fn attempt(&mut self, done: usize, attempt: Attempt) -> isize {
        let flags = self.flags | dontwait_flag(attempt);
        let Some(original) = self.original.filter(|_| done > 0) else {
            // SAFETY: the program's call with its own arguments.
            return unsafe { real::recvmsg(self.fd, self.msg, flags) };
        };
        // SAFETY: the first receive succeeded: the kernel accepted the array.
        let iov = unsafe { iov_slice(original.msg_iov, original.msg_iovlen) };
        remaining(iov, done, usize::MAX, &mut self.rest);
        // SAFETY: msghdr is plain data; all-zero is an empty header.
        let mut header: msghdr = unsafe { core::mem::zeroed() };
        header.msg_iov = self.rest.as_mut_ptr();
        header.msg_iovlen = self.rest.len();
        header.msg_control = original.msg_control;
        header.msg_controllen = original.msg_controllen;
        // SAFETY: the header lives across the call; its buffers are the caller's.
        let result = unsafe { real::recvmsg(self.fd, &mut header, flags) };
        if result > 0 {
            // SAFETY: the first receive succeeded: the caller's header is writable.
            let msg = unsafe { &mut *self.msg };
            msg.msg_flags = header.msg_flags;
            msg.msg_controllen = header.msg_controllen;
        }
        result
    }

    unsafe fn capacity(&self) -> usize {
        // SAFETY: asked only after a success or a copy of the header (Receiver's rules).
        let header = self.original.unwrap_or_else(|| unsafe { *self.msg });
        // SAFETY: as above: the kernel accepted the array, or will be the one to read it.
        unsafe { iov_total(header.msg_iov, header.msg_iovlen) }
    }

    unsafe fn prepare_all(&mut self) -> bool {
        // SAFETY: read_user checks the pointer itself.
        self.original = unsafe { read_user(self.msg) };
        self.original.is_some()
    }

    unsafe fn ends_call(&self) -> bool {
        // SAFETY: asked after a success: the caller's header is readable.
        unsafe { control_returned(self.msg) }
    }
}

/// # Safety
/// As for recvmsg(2): `msg` and what it points to as the call documents (the kernel
/// reports EFAULT for bad pointers).
#[no_mangle]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> isize {
    if plain_now(fd) {
        // SAFETY: the program's call as it made it.
        return unsafe { real::recvmsg(fd, msg, flags) };
    }
    // SAFETY: the program's arguments, passed on as it gave them.
    unsafe { recvmsg_routed(fd, msg, flags) }
}

/// [`recvmsg`] past its shortcut (blocking.rs, Shortcut); its safety contract is the hook's.
#[inline(never)]
unsafe fn recvmsg_routed(fd: c_int, msg: *mut msghdr, flags: c_int) -> isize {
    super::cancel_point::point();
    let mut buffers = Message { fd, msg, flags, original: None, rest: Vec::new() };
    // SAFETY: the program's arguments.
    unsafe { receive(fd, flags, &mut buffers) }
}

// ---- sendmsg

/// The descriptors a message passes (SCM_RIGHTS) go to their receiver with the flags the
/// program gave them, not with the O_NONBLOCK we set (the receiver would see it, and a
/// description has one O_NONBLOCK for every holder). They go back before the message is
/// sent: the receiver may read one the moment the kernel hands it over (a forkserver's
/// child did, and read EAGAIN). The header and control buffer are copied without faulting
/// (a bad pointer is the kernel's EFAULT to report); true when a control buffer longer
/// than our copy leaves descriptors for [`release_passed_fds`] after the send.
///
/// # Safety
/// None: `msg` is only read through the kernel.
unsafe fn release_before_sending(msg: *const msghdr) -> bool {
    /// Room for SCM_MAX_FD (253) descriptors and their header, and more.
    const COPY: usize = 4096;
    // SAFETY: the program's pointer, read without faulting.
    let Some(mut header) = (unsafe { read_user(msg) }) else { return false };
    if header.msg_control.is_null() || header.msg_controllen == 0 {
        return false;
    }
    // u64s: a control buffer's headers are aligned for size_t.
    let mut control = [0u64; COPY / 8];
    let len = header.msg_controllen.min(COPY);
    // SAFETY: the program's control buffer, read without faulting, into our own.
    let bytes = unsafe { core::slice::from_raw_parts_mut(control.as_mut_ptr().cast::<u8>(), len) };
    // SAFETY: as above.
    if !unsafe { read_user_slice(header.msg_control as *const u8, bytes) } {
        return false;
    }
    let truncated = header.msg_controllen > COPY;
    header.msg_control = control.as_mut_ptr().cast();
    header.msg_controllen = len;
    // SAFETY: our own copy of the header, whose control buffer is our own copy.
    unsafe { release_passed_fds(&header) };
    truncated
}

/// Gives back the descriptors the SCM_RIGHTS blocks of `msg`'s control buffer pass, never
/// reading past the buffer whatever its headers claim.
///
/// # Safety
/// `msg`'s header and control buffer are readable (our copy, or a message the kernel has
/// just accepted).
unsafe fn release_passed_fds(msg: *const msghdr) {
    // SAFETY: the caller's promise; only the two fields are read.
    let end = unsafe { (*msg).msg_control as usize + (*msg).msg_controllen };
    // SAFETY: the caller's promise; CMSG_* walk the control buffer within its length.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !cmsg.is_null() {
        // SAFETY: a whole header inside the control buffer (CMSG_FIRSTHDR/NXTHDR check it).
        let header = unsafe { &*cmsg };
        // SAFETY: CMSG_LEN only computes a size.
        let start = unsafe { libc::CMSG_LEN(0) } as usize;
        if header.cmsg_level == libc::SOL_SOCKET && header.cmsg_type == libc::SCM_RIGHTS && header.cmsg_len as usize >= start {
            // SAFETY: as above: CMSG_DATA of a header inside the buffer.
            let data = unsafe { libc::CMSG_DATA(cmsg) } as *const c_int;
            // Our copy is checked by nobody: a length claiming more than the buffer holds
            // is cut to it (the kernel will refuse the message).
            let claimed = header.cmsg_len as usize - start;
            let count = claimed.min(end.saturating_sub(data as usize)) / core::mem::size_of::<c_int>();
            for i in 0..count {
                // SAFETY: `count` descriptors lie inside the control buffer after the header,
                // and the caller holds each number it is passing (release_passed's rule).
                unsafe { green_io::release_passed(data.add(i).read_unaligned()) };
            }
        }
        // SAFETY: as for CMSG_FIRSTHDR.
        cmsg = unsafe { libc::CMSG_NXTHDR(msg, cmsg) };
    }
}

/// One sendmsg attempt for the rest of a stream message after `done` bytes went out: the
/// ancillary data went with the first bytes, so this carries none.
///
/// # Safety
/// `msg` was accepted by a sendmsg call (its iovecs are readable).
unsafe fn send_rest(fd: c_int, msg: &msghdr, done: usize, flags: c_int, rest: &mut Vec<iovec>) -> isize {
    // SAFETY: the caller's promise.
    let iov = unsafe { iov_slice(msg.msg_iov, msg.msg_iovlen) };
    remaining(iov, done, max_rw_count(), rest);
    // SAFETY: msghdr is plain data; all-zero is an empty header.
    let mut header: msghdr = unsafe { core::mem::zeroed() };
    header.msg_name = msg.msg_name;
    header.msg_namelen = msg.msg_namelen;
    header.msg_iov = rest.as_mut_ptr();
    header.msg_iovlen = rest.len();
    // SAFETY: the header lives across the call; its buffers are the caller's.
    unsafe { real::sendmsg(fd, &header, flags & !libc::MSG_FASTOPEN) }
}

/// # Safety
/// As for sendmsg(2): `msg` and what it points to as the call documents (the kernel
/// reports EFAULT for bad pointers).
#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> isize {
    super::cancel_point::point();
    let route = if flags & libc::MSG_DONTWAIT != 0 { Route::Real } else { socket_route(fd) };
    let mut rest = Vec::new();
    // Once for every attempt the send may need.
    // SAFETY: only read through the kernel.
    let more = unsafe { release_before_sending(msg) };
    let send = |done: usize, attempt| {
        let flags = flags | dontwait_flag(attempt);
        if done > 0 {
            // SAFETY: the first attempt succeeded: the kernel accepted the header.
            return unsafe { send_rest(fd, &*msg, done, flags, &mut rest) };
        }
        // SAFETY: the program's call with its own arguments.
        let result = unsafe { real::sendmsg(fd, msg, flags) };
        if result >= 0 && more {
            // SAFETY: the kernel accepted the message.
            unsafe { release_passed_fds(msg) };
        }
        result
    };
    // SAFETY: asked only after a success, which validated the header and its array.
    let total = || unsafe { iov_total((*msg).msg_iov, (*msg).msg_iovlen) };
    // SAFETY: fd's route for this call; `send` sends the program's message.
    unsafe { write_all(fd, route, total, send) }
}

// ---- recvmmsg, sendmmsg

/// When a recvmmsg with `timeout` stops taking more messages, or Err(the program's call)
/// when the timeout cannot be read or is invalid (EFAULT or EINVAL at once, as natively).
///
/// # Safety
/// None beyond recvmmsg's: `timeout` is checked before it is read.
unsafe fn recvmmsg_deadline(timeout: *mut libc::timespec) -> Result<Option<u64>, ()> {
    if timeout.is_null() {
        return Ok(None);
    }
    // SAFETY: read_user checks the pointer itself.
    let limit = unsafe { read_user(timeout) }.as_ref().and_then(clock::timespec_ns).ok_or(())?;
    Ok(Some(clock::monotonic_ns().saturating_add(limit)))
}

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
/// call (SO_ERROR), we cannot. SO_RCVTIMEO is not applied.
///
/// # Safety
/// As for recvmmsg(2): `vec` holds `vlen` mmsghdrs, `timeout` is null or a timespec (the
/// kernel reports EFAULT for bad pointers).
#[no_mangle]
pub unsafe extern "C" fn recvmmsg(
    fd: c_int,
    vec: *mut mmsghdr,
    vlen: c_uint,
    flags: c_int,
    timeout: *mut libc::timespec,
) -> c_int {
    super::cancel_point::point();
    const NEVER_WAITS: c_int = libc::MSG_DONTWAIT | libc::MSG_OOB | libc::MSG_ERRQUEUE;
    let route = if flags & NEVER_WAITS != 0 || vlen == 0 { Route::Real } else { socket_route(fd) };
    let deadline = if route == Route::Real {
        Err(())
    } else {
        // SAFETY: recvmmsg_deadline reads the timeout through read_user.
        unsafe { recvmmsg_deadline(timeout) }
    };
    let Ok(deadline) = deadline else {
        // SAFETY: the program's call with its own arguments.
        return unsafe { real::recvmmsg(fd, vec, vlen, flags, timeout) };
    };
    let mut left = 0u64;
    // SAFETY: the program's arguments; the route is fd's for this call.
    let done = unsafe { recvmmsg_batches(fd, route, vec, vlen as usize, flags, deadline, &mut left) };
    if done <= 0 {
        return done;
    }
    // SAFETY: write_user checks the pointer itself.
    if deadline.is_some() && !unsafe { write_user(timeout, clock::ns_to_timespec(left)) } {
        return errno::fail(libc::EFAULT);
    }
    done
}

/// recvmmsg's loop (see there): the messages received, or the first batch's error.
/// `left` gets the time left before `deadline` after the last batch.
///
/// # Safety
/// As for recvmmsg; `route` is fd's route for this call.
unsafe fn recvmmsg_batches(
    fd: c_int,
    route: Route,
    vec: *mut mmsghdr,
    vlen: usize,
    flags: c_int,
    deadline: Option<u64>,
    left: &mut u64,
) -> c_int {
    let saved = errno::get();
    let mut done = 0usize;
    loop {
        let batch = vec.wrapping_add(done);
        let call = |attempt| {
            // Decided at each attempt: we may have parked past the deadline.
            let expired = deadline.is_some_and(|d| clock::monotonic_ns() >= d);
            let want = if expired { 1 } else { vlen - done };
            let flags = flags | dontwait_flag(attempt);
            // SAFETY: the rest of the program's vector (done < vlen entries were filled).
            unsafe { real::recvmmsg(fd, batch, want as c_uint, flags, core::ptr::null_mut()) as isize }
        };
        // SAFETY: the caller's promise about the route.
        let result = unsafe { wait_call(fd, READ, route, None, call) };
        if result <= 0 {
            if done == 0 {
                return result as c_int;
            }
            errno::set(saved);
            break;
        }
        done += result as usize;
        if let Some(d) = deadline {
            *left = d.saturating_sub(clock::monotonic_ns());
        }
        // SAFETY: the kernel filled this entry.
        let oob = unsafe { (*vec.add(done - 1)).msg_hdr.msg_flags } & libc::MSG_OOB != 0;
        let timed_out = deadline.is_some() && *left == 0;
        if done >= vlen || flags & libc::MSG_WAITFORONE != 0 || timed_out || oob {
            break;
        }
    }
    done as c_int
}

/// sendmmsg, as for a blocking socket: every message is sent (the kernel sends at most
/// UIO_MAXIOV per call), parking whenever the socket is full, and on a stream each message
/// is sent whole before the next. Returns the messages sent; an error ends the call with
/// that count, or with the error if none was sent, as natively.
///
/// # Safety
/// As for sendmmsg(2): `vec` holds `vlen` mmsghdrs (the kernel reports EFAULT if not).
#[no_mangle]
pub unsafe extern "C" fn sendmmsg(fd: c_int, vec: *mut mmsghdr, vlen: c_uint, flags: c_int) -> c_int {
    super::cancel_point::point();
    let route = if flags & libc::MSG_DONTWAIT != 0 || vlen == 0 { Route::Real } else { socket_route(fd) };
    if route == Route::Real {
        // SAFETY: the program's call with its own arguments.
        return unsafe { real::sendmmsg(fd, vec, vlen, flags) };
    }
    let vlen = (vlen as usize).min(UIO_MAXIOV);
    let saved = errno::get();
    let mut done = 0usize;
    while done < vlen {
        let started = clock::monotonic_ns();
        let batch = vec.wrapping_add(done);
        let call = |attempt| {
            let flags = flags | dontwait_flag(attempt);
            // SAFETY: the rest of the program's vector.
            unsafe { real::sendmmsg(fd, batch, (vlen - done) as c_uint, flags) as isize }
        };
        // SAFETY: fd's route for this call.
        let result = unsafe { wait_call(fd, WRITE, route, None, call) };
        if result <= 0 {
            if done == 0 {
                return result as c_int;
            }
            errno::set(saved);
            break;
        }
        done += result as usize;
        // SAFETY: the kernel accepted and filled this entry.
        let entry = unsafe { &mut *vec.add(done - 1) };
        if route.is_stream_socket() {
            // SAFETY: as above.
            match unsafe { finish_message(fd, route, entry, flags, started) } {
                Some(false) => break,
                // The buffer may have room again: no short-write note.
                Some(true) => continue,
                None => {}
            }
        }
        if done < vlen && route.is_green() {
            // SAFETY: a Green route is only made on the hub thread.
            unsafe { green_io::note_short_write(fd) };
        }
    }
    done as c_int
}

/// On a stream the kernel stops a sendmmsg batch at a message it could queue only in part:
/// the rest of it goes out before the next message. None when the message went out whole
/// at once, else whether the rest could be sent (its msg_len then says how much was).
///
/// # Safety
/// The kernel has accepted `entry`; `route` is fd's route for this call.
unsafe fn finish_message(
    fd: c_int,
    route: Route,
    entry: &mut mmsghdr,
    flags: c_int,
    started: u64,
) -> Option<bool> {
    let msg = &entry.msg_hdr;
    // SAFETY: the kernel accepted the message's iovecs.
    let total = unsafe { iov_total(msg.msg_iov, msg.msg_iovlen) }.min(max_rw_count());
    let sent = entry.msg_len as usize;
    if sent >= total {
        return None;
    }
    let mut rest = Vec::new();
    let send = |done: usize, attempt| {
        // SAFETY: the kernel accepted the message.
        unsafe { send_rest(fd, msg, done, flags | dontwait_flag(attempt), &mut rest) }
    };
    // SAFETY: the caller's promise about the route; `send` sends the program's message.
    let sent = unsafe { finish_write(fd, route, total, sent, started, send) } as usize;
    entry.msg_len = sent as c_uint;
    Some(sent >= total)
}
