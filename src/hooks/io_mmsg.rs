//! recvmmsg and sendmmsg: the message calls' batches, under io_msg.rs's rules (its module
//! comment).
//!
//! Every hook here has the contract of the libc function it replaces.

use super::blocking::{dontwait_flag, socket_route, wait_call, Route};
use super::io_msg::{release_before_sending_batch, release_passed_fds, send_rest};
use super::iov::{iov_total, max_rw_count, UIO_MAXIOV};
use super::user_mem::{read_user, write_user};
use super::write_all::finish_write;
use crate::runtime::fdtable::{READ, WRITE};
use crate::runtime::io as green_io;
use crate::sys::{clock, errno, real};
use core::ffi::{c_int, c_uint};
use libc::mmsghdr;

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
    // The kernel takes at most UIO_MAXIOV messages in one call, and so do we.
    let vlen = (vlen as usize).min(UIO_MAXIOV);
    // Descriptors the messages pass go back before any is sent (sendmsg says why).
    // SAFETY: only read through the kernel.
    let more = unsafe { release_before_sending_batch(vec, vlen) };
    let sent = if route == Route::Real {
        // SAFETY: the program's call with its own arguments.
        unsafe { real::sendmmsg(fd, vec, vlen as c_uint, flags) }
    } else {
        // SAFETY: the program's arguments; the route is fd's for this call.
        unsafe { sendmmsg_all(fd, route, vec, vlen, flags) }
    };
    if more {
        for i in 0..usize::try_from(sent).unwrap_or(0) {
            // SAFETY: the kernel accepted this message.
            unsafe { release_passed_fds(&(*vec.add(i)).msg_hdr) };
        }
    }
    sent
}

/// sendmmsg's loop on a route that may wait (see there).
///
/// # Safety
/// As for sendmmsg, with `vlen` at most UIO_MAXIOV; `route` is fd's route for this call.
unsafe fn sendmmsg_all(fd: c_int, route: Route, vec: *mut mmsghdr, vlen: usize, flags: c_int) -> c_int {
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
