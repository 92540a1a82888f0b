//! How a blocking-mode call on an fd is made from the calling thread: the one routing model
//! every I/O hook shares (read, write, the recv and send families, readv and writev, accept,
//! connect, sendfile, splice).
//!
//! A hook asks for the fd's [`Route`] once, then makes every attempt of the call through
//! [`wait_call`]: on the hub, non-blocking attempts with the green thread parked in between
//! (runtime/io.rs decides how an attempt is kept from blocking); on another OS thread, on a
//! description we made non-blocking, attempts with a real poll(2) in between; otherwise the
//! program's call as it made it (ARCHITECTURE.md, Pass-through rules).
//!
//! Shortcut: the busiest hooks (read, write, readv, writev, recvfrom, sendto, recvmsg) first
//! ask `io::plain_now`, which reads three words, and make the program's call at once when
//! it says the route is Real and no cancellation point of ours can be due. Everything else
//! they do lives in a `NAME_routed` function that is never inlined, so the hook itself is a
//! few instructions with no frame to build: when processes hand work to each other through
//! the kernel on one CPU, every call starts with cold caches, and each cache line and
//! instruction fetched counts.

use crate::runtime::fdtable::{self, Kind, READ, WRITE};
use crate::runtime::io::{self as green_io, Attempt, Plan};
use crate::runtime::{on_hub, pending_signals};
use crate::sys::errno;
use core::ffi::c_int;

/// How a blocking-mode call on an fd is made from this thread.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    /// The program's call, as it made it (ARCHITECTURE.md, Pass-through rules).
    Real,
    /// On the hub: attempts made non-blocking as the `Attempt` says, the green thread
    /// parked in between.
    Green(Attempt, Kind),
    /// Another OS thread, on a description we made non-blocking: attempts, blocking in
    /// poll(2) in between, so that thread still sees blocking semantics.
    OffHub(Kind),
}

impl Route {
    pub(super) fn kind(self) -> Option<Kind> {
        match self {
            Route::Real => None,
            Route::Green(_, kind) | Route::OffHub(kind) => Some(kind),
        }
    }

    pub(super) fn is_green(self) -> bool {
        matches!(self, Route::Green(..))
    }

    /// Whether a blocking write goes on after a partial one (streams, pipes, terminals; not
    /// message sockets, whose sends are atomic).
    pub(super) fn completes_writes(self) -> bool {
        matches!(self.kind(), Some(Kind::StreamSocket | Kind::Pipe | Kind::CharDevice))
    }

    pub(super) fn is_stream_socket(self) -> bool {
        self.kind() == Some(Kind::StreamSocket)
    }

    /// The route of a call that takes no flags argument (accept, sendfile, splice): it
    /// cannot add MSG_DONTWAIT or RWF_NOWAIT, so on a socket or pipe we did not create it
    /// looks before it leaps.
    pub(super) fn without_flags(self) -> Route {
        match self {
            Route::Green(Attempt::DontWait | Attempt::NoWait, kind) => Route::Green(Attempt::PollFirst, kind),
            other => other,
        }
    }
}

/// Records a descriptor this thread just made (socket, pipe, accept, eventfd): ours, made
/// non-blocking underneath, when it was made green; otherwise unknown to us, whatever the
/// number referred to before.
pub(super) fn note_new_fd(fd: c_int, made_green: bool, kind: Kind, user_nonblock: bool) {
    // SAFETY: the calling thread just made number `fd`, so it is the caller's at this moment
    // (the table's rule off the hub thread); a failed call's -1 has no entry.
    unsafe {
        if made_green {
            green_io::adopt_new(fd, kind, true, user_nonblock);
        } else {
            green_io::forget(fd);
        }
    }
}

/// The route of a blocking-mode call on `fd` made now, from this thread.
pub(super) fn route(fd: c_int) -> Route {
    if on_hub() {
        // Alone: nothing else could run while the kernel blocks this thread.
        // SAFETY: on the hub thread, checked just above.
        if unsafe { green_io::may_call_plain(fd) } {
            return Route::Real;
        }
        // SAFETY: as above.
        match unsafe { green_io::plan(fd) } {
            Plan::Passthrough => Route::Real,
            Plan::Green(mode, kind) => Route::Green(mode, kind),
        }
    } else if fdtable::needs_blocking_emulation(fd) {
        fdtable::view(fd).map_or(Route::Real, |desc| Route::OffHub(desc.kind))
    } else {
        Route::Real
    }
}

/// The route of a call that only sockets accept: anything else gets the real call's
/// ENOTSOCK at once, where a pipe would otherwise have been polled first.
pub(super) fn socket_route(fd: c_int) -> Route {
    let route = route(fd);
    match route.kind() {
        Some(Kind::StreamSocket | Kind::MessageSocket) => route,
        _ => Route::Real,
    }
}

/// MSG_DONTWAIT for an attempt that must add it, else no flag.
pub(super) fn dontwait_flag(attempt: Attempt) -> c_int {
    if attempt == Attempt::DontWait {
        libc::MSG_DONTWAIT
    } else {
        0
    }
}

/// One blocking-mode step: repeats `call(attempt)` until it does not fail with EAGAIN,
/// waiting for `interest` (READ or WRITE) in between as `route` says. `call` must not block
/// when handed `Attempt::DontWait` (add MSG_DONTWAIT), `Attempt::NoWait` (RWF_NOWAIT, or
/// a poll(2) of its own where the kernel refuses it) or `Attempt::PollFirst` (poll(2) has
/// just said the fd is ready); `Attempt::Direct` is the plain call. A green wait that
/// outlives `deadline` (CLOCK_MONOTONIC ns), or else the socket's own timeout counted from
/// this step, fails with EAGAIN, as the kernel's blocking call does.
///
/// # Safety
/// `route` is what [`route`] or [`socket_route`] said for `fd` during this call, on this
/// thread (a Green route exists only on the hub thread); `call` upholds the contract of
/// the real function it makes.
pub(super) unsafe fn wait_call(
    fd: c_int,
    interest: u8,
    route: Route,
    deadline: Option<u64>,
    mut call: impl FnMut(Attempt) -> isize,
) -> isize {
    match route {
        Route::Real if interest == WRITE && on_hub() => keeping_own_sigpipe(|| call(Attempt::Direct)),
        Route::Real => call(Attempt::Direct),
        Route::Green(mode, _) => {
            let attempt = |mode| {
                if interest == WRITE {
                    keeping_own_sigpipe(|| call(mode))
                } else {
                    call(mode)
                }
            };
            // SAFETY: a Green route is only made on the hub thread (the caller's promise).
            unsafe { green_io::drive(fd, interest, deadline, mode, attempt) }
        }
        Route::OffHub(_) => off_hub(fd, interest, || call(Attempt::Direct)),
    }
}

/// The short-read rule of read(2) (`green_io::note_read`), for green calls only: other
/// threads do not touch the hub's readiness bits. `wanted` is asked only after a success,
/// when the caller's buffers are known to be readable.
pub(super) fn note_read(route: Route, fd: c_int, got: isize, wanted: impl FnOnce() -> usize) {
    if route.is_green() && got > 0 {
        // SAFETY: a Green route is only ever made on the hub thread (`route`).
        unsafe { green_io::note_read(fd, got, wanted()) };
    }
}

/// Makes one write attempt on the hub thread. The SIGPIPE a write to a closed pipe or
/// socket raises goes to the writing thread only: a handler it runs must not count as a
/// signal for the main thread's wait.
fn keeping_own_sigpipe(call: impl FnOnce() -> isize) -> isize {
    let earlier = pending_signals::take();
    let result = call();
    let raised = pending_signals::take();
    pending_signals::restore(earlier);
    if !(result < 0 && errno::get() == libc::EPIPE) {
        pending_signals::restore(raised);
    }
    result
}

/// A blocking-mode call from a thread that is not green. If we made the description
/// non-blocking behind the program's back, block by hand with poll(2) so the program still
/// sees blocking semantics.
fn off_hub(fd: i32, interest: u8, mut call: impl FnMut() -> isize) -> isize {
    loop {
        let result = call();
        if result >= 0 || errno::get() != libc::EAGAIN || !fdtable::needs_blocking_emulation(fd) {
            return result;
        }
        let saved = errno::get();
        wait_with_real_poll(fd, interest);
        errno::set(saved);
    }
}

/// Blocks the calling OS thread until `fd` is ready (raw poll: not our hook).
pub(super) fn wait_with_real_poll(fd: i32, interest: u8) {
    use rustix::event::{PollFd, PollFlags};
    // SAFETY: the borrowed fd lives only for this poll, which reads nothing but its number
    // (a closed number gives POLLNVAL, not undefined behaviour).
    let borrowed = unsafe { rustix::fd::BorrowedFd::borrow_raw(fd) };
    let flags = if interest == READ { PollFlags::IN } else { PollFlags::OUT };
    let mut fds = [PollFd::new(&borrowed, flags)];
    let _ = rustix::event::poll(&mut fds, None);
}
