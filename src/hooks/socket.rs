//! Creating, accepting and connecting sockets. Sockets created on the hub thread are made
//! O_NONBLOCK for us (the program's view stays what it asked for), so their calls can be
//! retried on EAGAIN instead of blocking the OS thread; accept and connect wait as
//! blocking.rs routes them.
//!
//! Every hook here has the contract of the libc function it replaces.

use super::blocking::{note_new_fd, route, wait_call, wait_with_real_poll, Route};
use super::offload::offloaded;
use crate::runtime::fdtable::{self, Kind, READ, WRITE};
use crate::runtime::green::Wake;
use crate::runtime::io::{self as green_io, Attempt};
use crate::runtime::{accept_nowait, on_hub};
use crate::sys::{errno, real};
use core::ffi::c_int;
use libc::{sockaddr, socklen_t};

fn socket_kind(ty: c_int) -> Kind {
    if ty & 0xf == libc::SOCK_STREAM {
        Kind::StreamSocket
    } else {
        Kind::MessageSocket
    }
}

/// # Safety
/// None beyond socket(2)'s (it takes no pointers).
#[no_mangle]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    if !on_hub() {
        // SAFETY: the program's call as it made it.
        let fd = unsafe { real::socket(domain, ty, protocol) };
        note_new_fd(fd, false, socket_kind(ty), false);
        return fd;
    }
    // SAFETY: the program's call, with SOCK_NONBLOCK added.
    let fd = unsafe { real::socket(domain, ty | libc::SOCK_NONBLOCK, protocol) };
    if fd >= 0 {
        note_new_fd(fd, true, socket_kind(ty), ty & libc::SOCK_NONBLOCK != 0);
    }
    fd
}

/// # Safety
/// As for socketpair(2): `sv` is writable for two ints (the kernel reports EFAULT if not).
#[no_mangle]
pub unsafe extern "C" fn socketpair(domain: c_int, ty: c_int, protocol: c_int, sv: *mut c_int) -> c_int {
    let green = on_hub();
    let extra = if green { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: the program's call, with SOCK_NONBLOCK added on the hub.
    let result = unsafe { real::socketpair(domain, ty | extra, protocol, sv) };
    if result == 0 {
        // SAFETY: the call succeeded: the kernel wrote both ends there.
        let ends = unsafe { [*sv, *sv.add(1)] };
        for fd in ends {
            note_new_fd(fd, green, socket_kind(ty), ty & libc::SOCK_NONBLOCK != 0);
        }
    }
    result
}

/// # Safety
/// As for accept(2): `addr` and `len` null, or as the call documents.
#[no_mangle]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: the program's arguments; accept is accept4 without flags.
    unsafe { accept4(fd, addr, len, 0) }
}

/// accept takes no MSG_DONTWAIT: on a listening socket we did not create, each attempt is
/// made non-blocking through the runtime's ring (runtime/accept_nowait.rs), so that a
/// connection another process takes first never blocks the hub; where the kernel cannot,
/// it waits for readiness first (another process may then still win the race, and the
/// accept blocks, as the program's would have). A socket accepted on the hub is ours, made
/// non-blocking.
///
/// # Safety
/// As for accept4(2): `addr` and `len` null, or as the call documents.
#[no_mangle]
pub unsafe extern "C" fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    super::cancel_point::point();
    let green = on_hub();
    let extra = if green { libc::SOCK_NONBLOCK } else { 0 };
    let route = match route(fd) {
        // SAFETY: a Green route is only made on the hub thread.
        route @ Route::Green(Attempt::DontWait, _) if unsafe { accept_nowait::available() } => route,
        route => route.without_flags(),
    };
    let call = |attempt| match attempt {
        // SAFETY: the program's call, non-blocking for this attempt; on the hub (a Green
        // route), after `available` said yes.
        Attempt::DontWait => unsafe { accept_nowait::accept(fd, addr, len, flags | extra) },
        // SAFETY: the program's call, with SOCK_NONBLOCK added on the hub.
        _ => (unsafe { real::accept4(fd, addr, len, flags | extra) }) as isize,
    };
    // SAFETY: fd's route for this call; `call` makes accept4, non-blocking when handed
    // DontWait.
    let new_fd = unsafe { wait_call(fd, READ, route, None, call) } as c_int;
    if !green {
        note_new_fd(new_fd, false, Kind::StreamSocket, false);
    } else if new_fd >= 0 {
        let kind = if green_io::is_stream_socket(fd) { Kind::StreamSocket } else { Kind::MessageSocket };
        note_new_fd(new_fd, true, kind, flags & libc::SOCK_NONBLOCK != 0);
    }
    new_fd
}

/// A connect that says EINPROGRESS on a socket whose program view is blocking (we made it
/// non-blocking) waits for the connection to finish, as the blocking call does. On a
/// blocking socket we did not make, a worker makes the call: connect takes no per-call
/// non-blocking flag, and the handshake would hold the hub, and every green thread, for as
/// long as it lasts (seconds when SYNs are dropped).
///
/// # Safety
/// As for connect(2): `addr` is readable for `len` bytes (the kernel reports EFAULT if not).
#[no_mangle]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    super::cancel_point::point();
    let route = route(fd);
    if let Route::Green(Attempt::DontWait, _) = route {
        // SAFETY: a Green route: the hub thread. The worker reads the program's address,
        // which outlives the call, and nothing else.
        return unsafe { offloaded(c"connect", fd, || real::connect(fd, addr, len)) };
    }
    // SAFETY: the program's call as it made it.
    let result = unsafe { real::connect(fd, addr, len) };
    if result == 0 || errno::get() != libc::EINPROGRESS {
        return result;
    }
    match route {
        Route::OffHub(_) => wait_with_real_poll(fd, WRITE),
        // SAFETY: a Green route: this is the hub thread.
        Route::Green(Attempt::Direct, _) => match unsafe { wait_connected(fd) } {
            Ok(()) => {}
            Err(e) => return errno::fail(e),
        },
        // Not ours to wait for: the program made the socket non-blocking, or we did not.
        _ => return result,
    }
    // SAFETY: the program's arguments again, as the blocking call ends.
    unsafe { finish_connect(fd, addr, len) }
}

/// Parks until the connect in progress on `fd` has finished; Err(errno) when it cannot be
/// waited for: EINPROGRESS when SO_SNDTIMEO passes (the connection goes on in the
/// background, as the kernel says then), EINTR, EBADF if `fd` was closed meanwhile.
///
/// # Safety
/// Hub thread only; `fd` has an fd table entry (its route was Green).
unsafe fn wait_connected(fd: c_int) -> Result<(), i32> {
    // SAFETY: hub thread (the caller's promise); the entry is used at once, never across the
    // parks below.
    let generation = unsafe {
        fdtable::with_entry(fd, |entry| {
            entry.clear_ready(WRITE);
            entry.generation
        })
    }
    .ok_or(libc::EBADF)?;
    // SO_SNDTIMEO bounds a blocking connect.
    // SAFETY: hub thread (the caller's promise).
    let deadline = unsafe { green_io::socket_timeout_deadline(fd, WRITE) };
    while !green_io::poll_now(fd, WRITE) {
        // SAFETY: the hub thread (the caller's promise).
        match unsafe { green_io::wait_fd(fd, WRITE, deadline) }? {
            Wake::Timeout => return Err(libc::EINPROGRESS),
            // SAFETY: hub thread; re-fetched after the park, since close may have run.
            _ if unsafe { fdtable::with_entry(fd, |entry| entry.generation) } != Some(generation) => {
                return Err(libc::EBADF)
            }
            Wake::Interrupted { restart: false } => return Err(libc::EINTR),
            _ => {}
        }
    }
    Ok(())
}

/// The outcome of a finished non-blocking connect, as a blocking connect reports it. Asking
/// the kernel again ends the connect the way the blocking call's own ending does: 0 and the
/// socket marked connected (a later connect says EISCONN), or the error that ended it,
/// with the socket reset. Reading SO_ERROR instead would leave the socket "connecting".
///
/// # Safety
/// As for connect(2).
unsafe fn finish_connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let saved_errno = errno::get();
    // SAFETY: the caller's promise.
    let result = unsafe { real::connect(fd, addr, len) };
    if result == 0 {
        errno::set(saved_errno);
    }
    result
}
