//! The message calls: recvmsg and sendmsg here, recvmmsg and sendmmsg in io_mmsg.rs
//! (recv/recvfrom/send/sendto are in io.rs, readv and writev in io_vec.rs). They are routed
//! as blocking.rs says, recvmsg shares MSG_WAITALL with recv (receive.rs), sendmsg and
//! sendmmsg complete partial writes on streams (write_all.rs). Three rules keep the results
//! those of the native call (in both files):
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

use super::blocking::{dontwait_flag, socket_route, Route};
use super::iov::{iov_slice, iov_total, max_rw_count, remaining};
use super::receive::{receive, Receiver};
use super::user_mem::{read_user, read_user_slice};
use super::write_all::write_all;
use crate::runtime::io::{self as green_io, plain_now, Attempt};
use crate::sys::real;
use core::ffi::c_int;
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
    // SAFETY: the program's pointer, read without faulting; release_control reads the
    // control buffer the same way.
    unsafe { read_user(msg) }.is_some_and(|header| unsafe { release_control(header) })
}

/// `release_before_sending` for each message of a sendmmsg batch of `vlen`, the vector
/// copied in slices without faulting (one read for up to `SLICE` headers, since a batch of
/// datagrams carries no control data and must not pay a read for each): true when a
/// control buffer was longer than our copy.
///
/// # Safety
/// None: `vec` is only read through the kernel.
pub(super) unsafe fn release_before_sending_batch(vec: *const mmsghdr, vlen: usize) -> bool {
    const SLICE: usize = 32;
    // SAFETY: mmsghdr is plain data; all-zero is a valid value, overwritten before use.
    let mut copy: [mmsghdr; SLICE] = unsafe { core::mem::zeroed() };
    let mut more = false;
    for start in (0..vlen).step_by(SLICE) {
        let count = SLICE.min(vlen - start);
        // SAFETY: our own array, seen as the bytes of its first `count` headers.
        let bytes = unsafe {
            core::slice::from_raw_parts_mut(copy.as_mut_ptr().cast::<u8>(), count * core::mem::size_of::<mmsghdr>())
        };
        // SAFETY: the program's vector, read without faulting into our own array.
        if !unsafe { read_user_slice(vec.wrapping_add(start).cast::<u8>(), bytes) } {
            break;
        }
        for entry in &copy[..count] {
            // SAFETY: a copy of the program's header, whose control buffer is read without
            // faulting.
            more |= unsafe { release_control(entry.msg_hdr) };
        }
    }
    more
}

/// Gives back the descriptors `header` (our copy of a program's) passes, from a copy of its
/// control buffer read without faulting: true when the buffer is longer than our copy.
///
/// # Safety
/// None: the control buffer is only read through the kernel.
unsafe fn release_control(mut header: msghdr) -> bool {
    /// Room for SCM_MAX_FD (253) descriptors and their header, and more.
    const COPY: usize = 4096;
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
pub(super) unsafe fn release_passed_fds(msg: *const msghdr) {
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
pub(super) unsafe fn send_rest(fd: c_int, msg: &msghdr, done: usize, flags: c_int, rest: &mut Vec<iovec>) -> isize {
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
