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

use super::off_hub;
use crate::runtime::fdtable::{READ, WRITE};
use crate::runtime::green::Wake;
use crate::runtime::io::{self as green_io, Attempt, Plan};
use crate::runtime::on_hub;
use crate::sys::{errno, real};
use core::ffi::{c_int, c_uint};
use rustix::fd::BorrowedFd;

/// How many bytes `fd` takes now without blocking: a socket's send buffer less what is
/// queued in it, a pipe's capacity less what is in it. None when it cannot be told.
fn free_space(fd: c_int) -> Option<usize> {
    let mut queued: c_int = 0;
    // SAFETY: a plain fd number and an int out-parameter; failures are reported, not UB.
    let socket_room = unsafe {
        let mut sndbuf: c_int = 0;
        let mut len = core::mem::size_of::<c_int>() as libc::socklen_t;
        let is_socket = libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, &mut sndbuf as *mut c_int as *mut _, &mut len) == 0;
        if is_socket {
            (libc::ioctl(fd, libc::TIOCOUTQ, &mut queued) == 0).then(|| sndbuf.saturating_sub(queued))
        } else {
            None
        }
    };
    if let Some(room) = socket_room {
        return Some(room.max(0) as usize);
    }
    // SAFETY: as above.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let capacity = rustix::pipe::fcntl_getpipe_size(borrowed).ok()?;
    // SAFETY: as above.
    (unsafe { libc::ioctl(fd, libc::FIONREAD, &mut queued) } == 0)
        .then(|| capacity.saturating_sub(queued.max(0) as usize))
}

/// The blocking-mode loop of sendfile: `attempt(max)` sends at most `max` bytes.
unsafe fn send_all(out_fd: c_int, count: usize, mut attempt: impl FnMut(usize) -> isize) -> isize {
    if !on_hub() {
        return off_hub(out_fd, WRITE, || attempt(count));
    }
    let mode = match green_io::plan(out_fd) {
        Plan::Passthrough => return attempt(count),
        Plan::Green(mode) => mode,
    };
    let mut done = 0usize;
    while done < count {
        let left = count - done;
        let result = green_io::drive(out_fd, WRITE, None, poll_first(mode), || {
            let max = if mode == Attempt::Direct { left } else { free_space(out_fd).unwrap_or(left).clamp(1, left) };
            attempt(max)
        });
        if result < 0 {
            return if done > 0 { done as isize } else { result };
        }
        if result == 0 {
            break; // end of input
        }
        // A short count here may just be the end of the input, not a full buffer: the next
        // attempt tells (0 at end of input; EAGAIN, after which drive waits, when full).
        done += result as usize;
    }
    done as isize
}

/// Calls without a flags argument cannot use MSG_DONTWAIT: they look before they leap.
fn poll_first(mode: Attempt) -> Attempt {
    if mode == Attempt::DontWait {
        Attempt::PollFirst
    } else {
        mode
    }
}

#[no_mangle]
pub unsafe extern "C" fn sendfile(out_fd: c_int, in_fd: c_int, offset: *mut libc::off_t, count: usize) -> isize {
    send_all(out_fd, count, |max| real::sendfile(out_fd, in_fd, offset, max))
}

#[no_mangle]
pub unsafe extern "C" fn sendfile64(out_fd: c_int, in_fd: c_int, offset: *mut libc::off64_t, count: usize) -> isize {
    send_all(out_fd, count, |max| real::sendfile64(out_fd, in_fd, offset, max))
}

/// The plan of one end of a splice: None when that end never blocks (a regular file, an fd
/// the program made non-blocking).
fn blocking_end(fd: c_int) -> Option<Attempt> {
    // SAFETY: splice asks only on the hub thread.
    match unsafe { green_io::plan(fd) } {
        Plan::Green(mode) => Some(poll_first(mode)),
        Plan::Passthrough => None,
    }
}

#[no_mangle]
pub unsafe extern "C" fn splice(
    fd_in: c_int,
    off_in: *mut libc::loff_t,
    fd_out: c_int,
    off_out: *mut libc::loff_t,
    len: usize,
    flags: c_uint,
) -> isize {
    let call = |extra: c_uint| real::splice(fd_in, off_in, fd_out, off_out, len, flags | extra);
    if !on_hub() || flags & libc::SPLICE_F_NONBLOCK != 0 {
        return call(0);
    }
    let (input, output) = (blocking_end(fd_in), blocking_end(fd_out));
    if input.is_none() && output.is_none() {
        return call(0);
    }
    let saved_errno = errno::get();
    loop {
        // An end we did not make non-blocking is attempted only when poll says it is ready;
        // SPLICE_F_NONBLOCK keeps the pipe end from blocking either way.
        let (fd, interest) = if input.is_some_and(|m| m != Attempt::Direct) && !green_io::poll_now(fd_in, READ) {
            (fd_in, READ)
        } else if output.is_some_and(|m| m != Attempt::Direct) && !green_io::poll_now(fd_out, WRITE) {
            (fd_out, WRITE)
        } else {
            let result = call(libc::SPLICE_F_NONBLOCK);
            if result >= 0 {
                errno::set(saved_errno);
                return result;
            }
            let e = errno::get();
            if e != libc::EAGAIN {
                return result;
            }
            // Which end was not ready: the input if it has nothing, else the output.
            if output.is_some() && (input.is_none() || green_io::poll_now(fd_in, READ)) {
                (fd_out, WRITE)
            } else {
                (fd_in, READ)
            }
        };
        match green_io::wait_fd(fd, interest, None) {
            Ok(Wake::Interrupted { restart: false }) => return errno::fail(libc::EINTR),
            Ok(Wake::Closed) => return errno::fail(libc::EBADF),
            Ok(_) => {}
            Err(0) => return call(0),
            Err(e) => return errno::fail(e),
        }
    }
}
