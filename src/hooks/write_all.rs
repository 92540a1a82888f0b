//! Blocking writes are complete (ARCHITECTURE.md, Promised semantics): write, send, writev,
//! and sendto/sendmsg/sendmmsg on a stream go on after a partial write until every byte is
//! queued, or return the count queued so far when an error or a signal stops them after
//! progress, with errno as the caller had it. Like the kernel, a blocking write never
//! queues more than MAX_RW_COUNT bytes per call. On message sockets each send is one
//! attempt: atomic, as natively.
//!
//! On TCP, SO_SNDTIMEO bounds the whole call (the kernel counts one timeout per call);
//! elsewhere each wait gets the socket's timeout afresh, as AF_UNIX does.

use super::blocking::{wait_call, Route};
use super::iov::max_rw_count;
use crate::runtime::fdtable::WRITE;
use crate::runtime::io::{self as green_io, Attempt};
use crate::sys::{clock, errno};
use core::ffi::c_int;

/// A blocking-mode write. `send(done, attempt)` makes one attempt that writes the bytes
/// from byte `done` on (0: the program's call as it made it). `total` says how many bytes
/// the call writes in all; it is asked only once the first attempt has succeeded, so it
/// may read the caller's structures, which the kernel has then accepted.
///
/// # Safety
/// As for [`wait_call`]: `route` is the route of `fd` for this call, and `send` upholds
/// the contract of the real function it makes.
pub(super) unsafe fn write_all(
    fd: c_int,
    route: Route,
    total: impl FnOnce() -> usize,
    mut send: impl FnMut(usize, Attempt) -> isize,
) -> isize {
    // Only TCP counts SO_SNDTIMEO from the start of the call (`tcp_send_deadline`).
    let started = if route.is_green() && route.is_stream_socket() { clock::monotonic_ns() } else { 0 };
    // SAFETY: the caller's promise about `route` and `send`.
    let first = unsafe { wait_call(fd, WRITE, route, None, |attempt| send(0, attempt)) };
    if first < 0 || !route.completes_writes() {
        return first;
    }
    // SAFETY: as above.
    unsafe { finish_write(fd, route, total(), first as usize, started, send) }
}

/// Goes on with a blocking-mode write of `total` bytes of which `done` are queued: see
/// [`write_all`]. `started` is when the call began (CLOCK_MONOTONIC ns), for SO_SNDTIMEO.
///
/// # Safety
/// As for [`write_all`].
pub(super) unsafe fn finish_write(
    fd: c_int,
    route: Route,
    total: usize,
    done: usize,
    started: u64,
    mut send: impl FnMut(usize, Attempt) -> isize,
) -> isize {
    let total = total.min(max_rw_count());
    let saved = errno::get();
    let mut done = done;
    // Looked up once the call has to go on: most writes are queued whole at once.
    let mut deadline: Option<Option<u64>> = None;
    while done < total {
        if route.is_green() && green_io::plain_attempt_interrupted() {
            // A blocking write a handler cut short returns what it wrote, as natively.
            break;
        }
        if route.is_green() {
            // SAFETY: a Green route is only made on the hub thread.
            unsafe { green_io::note_short_write(fd) };
            deadline.get_or_insert_with(|| green_io::tcp_send_deadline(fd, started));
        }
        // SAFETY: the caller's promise about `route` and `send`.
        let result =
            unsafe { wait_call(fd, WRITE, route, deadline.flatten(), |attempt| send(done, attempt)) };
        if result <= 0 {
            errno::set(saved);
            break;
        }
        done += result as usize;
    }
    done as isize
}
