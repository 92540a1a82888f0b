//! What recv, recvfrom and recvmsg share: when a receive waits at all, and MSG_WAITALL.
//!
//! Receives with MSG_DONTWAIT, MSG_OOB or MSG_ERRQUEUE never wait natively (the kernel does
//! not wait for urgent data or queued errors): they are made as the program made them, as
//! is a receive on anything that is not a socket (ENOTSOCK at once).
//!
//! MSG_WAITALL on a stream socket: the kernel keeps receiving until the buffers are full,
//! end of stream, an error, a signal, or a message with ancillary data (where an AF_UNIX
//! stream ends a read early). Our attempts are non-blocking and return early, so the call
//! goes on by itself; the first attempt gets the caller's own arguments, later ones the
//! rest of the buffers. SO_RCVTIMEO bounds the whole call, not each receive in it: when it
//! passes after a partial receive, the count so far is returned, as natively.
//!
//! MSG_PEEK|MSG_WAITALL on TCP: the kernel waits until the buffers' worth is queued (or end
//! of stream, or an error) and copies it without consuming any. Our attempts return what
//! is queued at once, so we wait for more data after each one that finds too little.

use super::blocking::{note_read, socket_route, wait_call, Route};
use crate::runtime::fdtable::READ;
use crate::runtime::io::{self as green_io, Attempt};
use crate::sys::errno;
use core::ffi::c_int;

/// Receive flags with which the kernel never waits: the call passes straight through.
const NEVER_WAITS: c_int = libc::MSG_DONTWAIT | libc::MSG_OOB | libc::MSG_ERRQUEUE;

/// One receive call's buffers, as the hook for recv, recvfrom or recvmsg describes them.
pub(super) trait Receiver {
    /// One attempt, made non-blocking as `attempt` says, into the buffers from byte `done`
    /// on; 0 is the program's call with its own arguments.
    ///
    /// # Safety
    /// The hook's own arguments are as the program passed them.
    unsafe fn attempt(&mut self, done: usize, attempt: Attempt) -> isize;

    /// How many bytes the buffers hold. Asked only after an attempt succeeded, or after
    /// `prepare_all` said yes.
    ///
    /// # Safety
    /// As above; the kernel has accepted the caller's structures.
    unsafe fn capacity(&self) -> usize;

    /// Before the first attempt of a MSG_WAITALL call: reads what the later attempts need
    /// of the caller's structures. False where that memory is unreadable: the program's call
    /// is then made as it is, and answers EFAULT.
    ///
    /// # Safety
    /// As for `attempt`.
    unsafe fn prepare_all(&mut self) -> bool {
        true
    }

    /// After a successful attempt: whether it returned ancillary data, where the kernel
    /// ends a MSG_WAITALL receive early, and which says nothing about the queue being empty.
    ///
    /// # Safety
    /// As for `capacity`.
    unsafe fn ends_call(&self) -> bool {
        false
    }
}

/// A blocking-mode receive with `flags` on `fd`, into `buffers`.
///
/// # Safety
/// `buffers` makes the program's call with the program's arguments (see [`Receiver`]).
pub(super) unsafe fn receive(fd: c_int, flags: c_int, buffers: &mut impl Receiver) -> isize {
    let route = if flags & NEVER_WAITS != 0 { Route::Real } else { socket_route(fd) };
    let waitall = flags & libc::MSG_WAITALL != 0 && route.is_stream_socket();
    let peek = flags & libc::MSG_PEEK != 0;
    if waitall && !peek {
        // SAFETY: the route is fd's for this call; `buffers` makes the program's call.
        unsafe { receive_all(fd, route, buffers) }
    } else if waitall && route.is_green() && green_io::is_tcp_stream(fd) {
        // SAFETY: as above, and the route is Green, as peek_all needs.
        unsafe { peek_all(fd, route, buffers) }
    } else {
        // SAFETY: as above.
        unsafe { receive_once(fd, route, peek, buffers) }
    }
}

/// One receive, as the kernel makes it for a blocking socket.
///
/// # Safety
/// As for [`receive`]; `route` is fd's route for this call.
unsafe fn receive_once(fd: c_int, route: Route, peek: bool, buffers: &mut impl Receiver) -> isize {
    // SAFETY: the caller's promises.
    let got = unsafe { wait_call(fd, READ, route, None, |attempt| buffers.attempt(0, attempt)) };
    // SAFETY: the attempt succeeded: the caller's structures were accepted.
    if !peek && got > 0 && !unsafe { buffers.ends_call() } {
        // SAFETY: as above.
        note_read(route, fd, got, || unsafe { buffers.capacity() });
    }
    got
}

/// MSG_WAITALL on a stream socket: see the top of this file.
///
/// # Safety
/// As for [`receive_once`].
unsafe fn receive_all(fd: c_int, route: Route, buffers: &mut impl Receiver) -> isize {
    // SAFETY: the caller's promise.
    if !unsafe { buffers.prepare_all() } {
        // SAFETY: the program's call as it made it.
        return unsafe { buffers.attempt(0, Attempt::Direct) };
    }
    // SAFETY: prepare_all said yes.
    let total = unsafe { buffers.capacity() };
    // SAFETY: a Green route is only made on the hub thread.
    let deadline = if route.is_green() { unsafe { green_io::socket_timeout_deadline(fd, READ) } } else { None };
    let saved = errno::get();
    let mut got = 0usize;
    loop {
        // SAFETY: the caller's promises.
        let result =
            unsafe { wait_call(fd, READ, route, deadline, |attempt| buffers.attempt(got, attempt)) };
        if result <= 0 {
            if got == 0 {
                return result;
            }
            // Stopped after progress (a timeout, a signal, an error): the count so far.
            errno::set(saved);
            break;
        }
        got += result as usize;
        // SAFETY: the attempt succeeded.
        if unsafe { buffers.ends_call() } {
            break;
        }
        note_read(route, fd, result, || total - (got - result as usize));
        if got >= total {
            break;
        }
    }
    got as isize
}

/// MSG_PEEK|MSG_WAITALL on TCP, on the hub: see the top of this file.
///
/// # Safety
/// As for [`receive_once`], with a Green route.
unsafe fn peek_all(fd: c_int, route: Route, buffers: &mut impl Receiver) -> isize {
    // SAFETY: a Green route (the caller's promise) is only made on the hub thread.
    let deadline = unsafe { green_io::socket_timeout_deadline(fd, READ) };
    loop {
        // SAFETY: the caller's promises.
        let got = unsafe { wait_call(fd, READ, route, deadline, |attempt| buffers.attempt(0, attempt)) };
        // SAFETY: capacity is asked only after a success.
        // SAFETY: hub thread, as above.
        if got <= 0 || got as usize >= unsafe { buffers.capacity() } || unsafe { green_io::read_closed(fd) } {
            return got;
        }
        // SAFETY: a Green route: this is the hub thread.
        match unsafe { green_io::wait_for_more(fd, deadline) } {
            Ok(true) => {}
            // Timed out or interrupted: what is queued now, as the kernel returns then.
            Ok(false) => return got,
            Err(e) => return errno::fail(e),
        }
    }
}
