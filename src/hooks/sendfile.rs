//! sendfile, sendfile64 and splice: kernel-side copies whose socket or pipe end can block.
//!
//! Neither call takes MSG_DONTWAIT, so on a description we did not create (still blocking)
//! an attempt is made only when poll(2) says the blocking end is ready, and a sendfile
//! attempt asks for no more than the free space of the destination's buffer: a blocking
//! sendfile otherwise keeps the OS thread until every byte is queued. On descriptions we
//! made non-blocking the kernel already returns EAGAIN instead of blocking.
//!
//! Semantics kept: a blocking sendfile returns once `count` bytes are sent, at end of input
//! (fewer), or with the count so far when an error or a signal stops it after progress; the
//! input offset (`*offset`, or the file position when `offset` is null) advances by what was
//! sent. A blocking splice returns as soon as it moves anything, 0 at end of input, as the
//! kernel does. SPLICE_F_NONBLOCK, or O_NONBLOCK set by the program, makes the real call.

use super::blocking::{route, wait_call, Route};
use crate::runtime::fdtable::{READ, WRITE};
use crate::runtime::green::Wake;
use crate::runtime::io::{self as green_io, Attempt};
use crate::runtime::on_hub;
use crate::sys::{errno, real};
use core::ffi::{c_int, c_uint};
use rustix::fd::BorrowedFd;

/// How many bytes `fd` takes now without blocking: a socket's send buffer less what is
/// queued in it, a pipe's capacity less what is in it. None when it cannot be told.
fn free_space(fd: c_int) -> Option<usize> {
    // Ours, not the program's: never trapped (sys/own_calls.rs).
    let _own = crate::sys::own_calls::own_calls();
    let mut queued: c_int = 0;
    let mut sndbuf: c_int = 0;
    let mut len = core::mem::size_of::<c_int>() as libc::socklen_t;
    let sndbuf_ptr = &mut sndbuf as *mut c_int as *mut libc::c_void;
    // SAFETY: a plain fd number and an int out-parameter of the size `len` says; failures
    // are reported, not undefined behaviour.
    let is_socket = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, sndbuf_ptr, &mut len) } == 0;
    if is_socket {
        // SAFETY: TIOCOUTQ writes one int, to `queued`.
        let known = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut queued) } == 0;
        return known.then(|| sndbuf.saturating_sub(queued).max(0) as usize);
    }
    // SAFETY: the borrowed fd lives only for this fcntl, which reads nothing but its number.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let capacity = rustix::pipe::fcntl_getpipe_size(borrowed).ok()?;
    // SAFETY: FIONREAD writes one int, to `queued`.
    (unsafe { libc::ioctl(fd, libc::FIONREAD, &mut queued) } == 0)
        .then(|| capacity.saturating_sub(queued.max(0) as usize))
}

/// The blocking-mode loop of sendfile: `attempt(max)` sends at most `max` bytes.
///
/// # Safety
/// `attempt` upholds sendfile's contract with the program's arguments.
unsafe fn send_all(out_fd: c_int, count: usize, mut attempt: impl FnMut(usize) -> isize) -> isize {
    let route = route(out_fd).without_flags();
    let Route::Green(mode, _) = route else {
        // SAFETY: out_fd's route for this call; the program's call as it made it.
        return unsafe { wait_call(out_fd, WRITE, route, None, |_| attempt(count)) };
    };
    let mut done = 0usize;
    while done < count {
        let left = count - done;
        let call = |_| {
            // A blocking description takes at most its free space without blocking.
            let max = if mode == Attempt::Direct { left } else { free_space(out_fd).unwrap_or(left).clamp(1, left) };
            attempt(max)
        };
        // SAFETY: a Green route, made on this (the hub) thread for this call.
        let result = unsafe { wait_call(out_fd, WRITE, route, None, call) };
        if result < 0 {
            return if done > 0 { done as isize } else { result };
        }
        if result == 0 {
            break; // end of input
        }
        // A short count here may just be the end of the input, not a full buffer: the next
        // attempt tells (0 at end of input; EAGAIN, after which the wait follows, when full).
        done += result as usize;
    }
    done as isize
}

/// # Safety
/// As for sendfile(2): `offset` is null or points to an off_t.
#[no_mangle]
pub unsafe extern "C" fn sendfile(out_fd: c_int, in_fd: c_int, offset: *mut libc::off_t, count: usize) -> isize {
    // SAFETY: the program's arguments, with at most `count` bytes asked for.
    unsafe { send_all(out_fd, count, |max| real::sendfile(out_fd, in_fd, offset, max)) }
}

/// # Safety
/// As for sendfile64(2): `offset` is null or points to an off64_t.
#[no_mangle]
pub unsafe extern "C" fn sendfile64(out_fd: c_int, in_fd: c_int, offset: *mut libc::off64_t, count: usize) -> isize {
    // SAFETY: the program's arguments, with at most `count` bytes asked for.
    unsafe { send_all(out_fd, count, |max| real::sendfile64(out_fd, in_fd, offset, max)) }
}

/// How one end of a splice is attempted: None when that end never blocks (a regular file,
/// an fd the program made non-blocking). Hub thread only.
fn blocking_end(fd: c_int) -> Option<Attempt> {
    match route(fd).without_flags() {
        Route::Green(mode, _) => Some(mode),
        _ => None,
    }
}

/// # Safety
/// As for splice(2): `off_in` and `off_out` are null or point to a loff_t.
#[no_mangle]
pub unsafe extern "C" fn splice(
    fd_in: c_int,
    off_in: *mut libc::loff_t,
    fd_out: c_int,
    off_out: *mut libc::loff_t,
    len: usize,
    flags: c_uint,
) -> isize {
    // SAFETY: the program's call, with SPLICE_F_NONBLOCK added when `extra` says.
    let call = |extra: c_uint| unsafe { real::splice(fd_in, off_in, fd_out, off_out, len, flags | extra) };
    if !on_hub() || flags & libc::SPLICE_F_NONBLOCK != 0 {
        return call(0);
    }
    let (input, output) = (blocking_end(fd_in), blocking_end(fd_out));
    if input.is_none() && output.is_none() {
        return call(0);
    }
    let saved_errno = errno::get();
    loop {
        let (fd, interest) = match unready_end((fd_in, input), (fd_out, output)) {
            Some(end) => end,
            None => {
                let result = call(libc::SPLICE_F_NONBLOCK);
                if result >= 0 {
                    errno::set(saved_errno);
                    return result;
                }
                if errno::get() != libc::EAGAIN {
                    return result;
                }
                // Which end was not ready: the input if it has nothing, else the output.
                if output.is_some() && (input.is_none() || green_io::poll_now(fd_in, READ)) {
                    (fd_out, WRITE)
                } else {
                    (fd_in, READ)
                }
            }
        };
        // SAFETY: the hub thread (checked above).
        match unsafe { green_io::wait_fd(fd, interest, None) } {
            Ok(Wake::Interrupted { restart: false }) => return errno::fail(libc::EINTR),
            Ok(Wake::Closed) => return errno::fail(libc::EBADF),
            Ok(_) => {}
            Err(0) => return call(0),
            Err(e) => return errno::fail(e),
        }
    }
}

/// The end of a splice to wait for before an attempt: an end we did not make non-blocking
/// is attempted only when poll(2) says it is ready (SPLICE_F_NONBLOCK keeps only the pipe
/// end from blocking). None: attempt now.
fn unready_end(input: (c_int, Option<Attempt>), output: (c_int, Option<Attempt>)) -> Option<(c_int, u8)> {
    let polled = |mode: Option<Attempt>| mode.is_some_and(|m| m != Attempt::Direct);
    if polled(input.1) && !green_io::poll_now(input.0, READ) {
        Some((input.0, READ))
    } else if polled(output.1) && !green_io::poll_now(output.0, WRITE) {
        Some((output.0, WRITE))
    } else {
        None
    }
}
