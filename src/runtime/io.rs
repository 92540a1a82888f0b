//! Blocking-mode fd operations as green waits: the policy every I/O hook shares.
//!
//! The hook supplies the attempt (the real libc call); this module decides whether the call
//! may block the OS thread at all, makes the attempt non-blocking, and parks the green thread
//! between attempts until epoll reports readiness.
//!
//! Fd entries are fetched afresh after every park (fdtable.rs: no entry reference is held
//! across one). Functions that other OS threads reach (`closing`, `forget`, `adopt_new`,
//! `duplicated`, the `release_*` pair, `is_stream_socket`) follow the table's rule: off the
//! hub they only reset entries of numbers the caller is closing or has just made, and learn
//! nothing about other fds (ARCHITECTURE.md, Invariants).

use super::fdtable::{self, with_entry, Kind, Registration, WaitNode, READ, WRITE};
use super::green::{self, Wake, WaitingOn};
use super::poller;
use super::state::rt;
use crate::sys::errno;
use rustix::fd::BorrowedFd;

pub use super::fdclass::{
    is_regular_file, is_stream_socket, is_tcp_stream, plan, release_inheritable, release_passed,
    socket_timeout_deadline, socket_timeouts_changed, tcp_send_deadline, Attempt, Plan,
};

/// Runs `attempt` until it no longer fails with EAGAIN, parking on `fd` readiness for
/// `interest` (READ or WRITE) in between. A wait that outlives `deadline` (CLOCK_MONOTONIC
/// ns), or else the socket's own SO_RCVTIMEO / SO_SNDTIMEO, ends the call with EAGAIN, as
/// the kernel ends a blocking call at that timeout. Returns what the last attempt returned,
/// with errno as it left it (or EBADF if the fd was closed while we waited).
///
/// # Safety
/// Hub thread only; `attempt` makes the real call and touches no fd entry.
pub unsafe fn drive(
    fd: i32,
    interest: u8,
    deadline: Option<u64>,
    attempt_mode: Attempt,
    mut attempt: impl FnMut() -> isize,
) -> isize {
    // SAFETY: hub thread (caller), here and in every `with_entry` below ("see above"); the
    // closures are plain field accesses.
    let generation = unsafe { with_entry(fd, |e| e.generation) }.expect("planned fds have entries");
    let saved_errno = errno::get();
    // Looked up the first time the call has to wait: most calls never do.
    let mut wait_until = deadline.map(Some);
    loop {
        // SAFETY: see above.
        if unsafe { with_entry(fd, |e| e.ready(interest)) } == Some(true) {
            if attempt_mode == Attempt::PollFirst && !poll_now(fd, interest) {
                // SAFETY: see above.
                unsafe { with_entry(fd, |e| e.clear_ready(interest)) };
            } else {
                let result = attempt();
                if result >= 0 {
                    errno::set(saved_errno);
                    return result;
                }
                let e = errno::get();
                if e != libc::EAGAIN && e != libc::EWOULDBLOCK {
                    return result;
                }
                // SAFETY: see above.
                unsafe { with_entry(fd, |e| e.clear_ready(interest)) };
            }
        }
        // SAFETY: hub thread (caller).
        let until = *wait_until.get_or_insert_with(|| unsafe { socket_timeout_deadline(fd, interest) });
        // SAFETY: hub thread (caller).
        match unsafe { wait_fd(fd, interest, until) } {
            Ok(Wake::Timeout) => return errno::fail(libc::EAGAIN),
            Ok(Wake::Interrupted { restart: false }) => return errno::fail(libc::EINTR),
            // SAFETY: see above.
            Ok(_) if unsafe { with_entry(fd, |e| e.generation) } != Some(generation) => {
                return errno::fail(libc::EBADF)
            }
            Ok(_) => {}
            // epoll cannot watch it after all: the real call is all we can do.
            Err(0) => return attempt(),
            Err(e) => return errno::fail(e),
        }
    }
}

/// Registers `fd` with the hub if it is not yet: Ok(false) if epoll cannot watch it.
///
/// # Safety
/// Hub thread only.
unsafe fn register(fd: i32) -> Result<bool, i32> {
    // SAFETY: hub thread (caller); the entry and the runtime are used within this call.
    let (rt, entry) = unsafe { (rt(), fdtable::entry(fd)) };
    rt.poller.register(fd, entry.ok_or(libc::EBADF)?)
}

/// Parks until `fd` may be ready for `interest`, it is closed, or the deadline passes.
/// Err(0) if epoll cannot watch the fd, Err(errno) if it is bad. Then a cancellation point
/// (cancel.rs): the caller must hold nothing a thread that ends here would leave behind.
///
/// # Safety
/// Hub thread only.
pub unsafe fn wait_fd(fd: i32, interest: u8, deadline: Option<u64>) -> Result<Wake, i32> {
    // SAFETY: hub thread (caller).
    let wake = unsafe { park_on_fd(fd, interest, deadline) };
    // SAFETY: hub thread; the node is unlinked: a cancellation point (cancel.rs).
    unsafe { super::cancel::point() };
    wake
}

/// `wait_fd` without the cancellation point, for callers that hold something of their own
/// (a pidfd, a signalfd) and act on a request once they have let go of it
/// (`cancel::pending`; a request wakes the wait as it wakes `wait_fd`).
///
/// # Safety
/// Hub thread only.
pub unsafe fn park_on_fd(fd: i32, interest: u8, deadline: Option<u64>) -> Result<Wake, i32> {
    // SAFETY: hub thread (caller).
    if !unsafe { register(fd) }? {
        return Err(0);
    }
    // SAFETY: hub thread (caller).
    let mut node = WaitNode::new(unsafe { green::current() }, interest);
    // SAFETY: hub thread; the node lives in this frame until unlinked below.
    let linked_in = unsafe {
        with_entry(fd, |e| {
            e.link(&mut node);
            e.generation
        })
    }
    .ok_or(libc::EBADF)?;
    // SAFETY: hub thread; the borrow ends before the park.
    unsafe { rt() }.fd_waiters += 1;
    let why = WaitingOn::Fd { fd, write: interest == WRITE };
    // SAFETY: hub thread; whoever wakes us finds us through the node.
    let wake = unsafe { green::park(deadline, why) };
    // SAFETY: hub thread; re-fetched after the park. The node is still linked to this
    // number's entry: closing it keeps the waiters, so they can leave.
    unsafe {
        rt().fd_waiters -= 1;
        with_entry(fd, |e| {
            // Only closing the number (which changes the generation) drops a registration.
            debug_assert!(e.generation != linked_in || e.registration == Registration::Yes);
            e.unlink(&mut node);
        });
    }
    Ok(wake)
}

/// Parks until any of `fds` (with their interests) may be ready, one is closed, or the
/// deadline passes. Fds epoll cannot watch are ignored here: poll(2) reports them ready
/// before anyone waits. The caller re-checks with a real poll. Not a cancellation point
/// itself: the caller (poll, select) holds the list and acts once it has dropped it.
///
/// # Safety
/// Hub thread only.
pub unsafe fn wait_any(fds: &[(i32, u8)], deadline: Option<u64>) -> Wake {
    // SAFETY: hub thread (caller).
    let me = unsafe { green::current() };
    let mut nodes: Vec<(i32, WaitNode)> = Vec::with_capacity(fds.len());
    for &(fd, interest) in fds {
        // SAFETY: hub thread (caller).
        if fd >= 0 && matches!(unsafe { register(fd) }, Ok(true)) {
            nodes.push((fd, WaitNode::new(me, interest)));
        }
    }
    // Link only once the vector no longer moves.
    for (fd, node) in nodes.iter_mut() {
        // SAFETY: hub thread; the nodes stay put in the vector until unlinked below.
        unsafe { with_entry(*fd, |e| e.link(node)) }.expect("registered");
    }
    // SAFETY: hub thread; the borrow ends before the park.
    unsafe { rt() }.fd_waiters += nodes.len();
    // SAFETY: hub thread; whoever wakes us finds us through the nodes.
    let wake = unsafe { green::park(deadline, WaitingOn::Poll { nfds: fds.len() }) };
    // SAFETY: hub thread; re-fetched after the park.
    unsafe { rt() }.fd_waiters -= nodes.len();
    for (fd, node) in nodes.iter_mut() {
        // SAFETY: hub thread; each node is linked to its number's entry (see `wait_fd`).
        unsafe { with_entry(*fd, |e| e.unlink(node)) }.expect("registered");
    }
    wake
}

/// Whether poll(2) says `fd` is ready for `interest` right now (errors and hang-ups count
/// as ready: the real call will report them).
pub fn poll_now(fd: i32, interest: u8) -> bool {
    use rustix::event::{PollFd, PollFlags};
    // SAFETY: poll only reads the fd number.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let flags = if interest == READ { PollFlags::IN } else { PollFlags::OUT };
    let mut fds = [PollFd::new(&borrowed, flags)];
    matches!(rustix::event::poll(&mut fds, Some(&rustix::time::Timespec { tv_sec: 0, tv_nsec: 0 })), Ok(n) if n > 0)
}

/// After a read that returned `got` of `wanted` bytes: on a stream a short read means the
/// queue is now empty, so the next read parks at once instead of paying for an EAGAIN
/// (Tokio does the same). EOF (0) keeps the fd readable: every later read returns 0 too.
///
/// # Safety
/// Hub thread only.
pub unsafe fn note_read(fd: i32, got: isize, wanted: usize) {
    if got > 0 && (got as usize) < wanted {
        // SAFETY: hub thread (caller).
        unsafe {
            with_entry(fd, |entry| {
                let stream = matches!(entry.kind(), Some(Kind::StreamSocket | Kind::Pipe));
                if stream && !entry.read_closed {
                    entry.clear_ready(READ);
                }
            })
        };
    }
}

/// After a write that queued fewer bytes than asked: the buffer is full.
///
/// # Safety
/// Hub thread only.
pub unsafe fn note_short_write(fd: i32) {
    // SAFETY: hub thread (caller).
    unsafe { with_entry(fd, |entry| entry.clear_ready(WRITE)) };
}

/// `fd` is about to be closed (or replaced by dup2): deregister it before the number can be
/// reused, and wake its waiters, who will see the generation change and report EBADF.
/// Only the hub thread wakes waiters.
///
/// # Safety
/// On the hub thread (`on_hub` true), or on a thread that is closing number `fd` (the
/// table's rule: the number is the caller's at this moment).
pub unsafe fn closing(fd: i32, on_hub: bool) {
    // SAFETY: the caller's contract is the table's rule.
    let Some(entry) = (unsafe { fdtable::existing(fd) }) else { return };
    if entry.registration == Registration::Yes {
        poller::deregister(fd);
    }
    entry.forget();
    if on_hub && entry.has_waiters() {
        // SAFETY: hub thread; waking unlinks nobody.
        for g in unsafe { entry.waiters(READ | WRITE) } {
            // SAFETY: hub thread; linked waiters are parked, hence live.
            unsafe { green::wake(g, Wake::Closed) };
        }
    }
}

/// `new` now refers to the same description as `old` (dup family).
///
/// # Safety
/// On the hub thread, or on the thread that just made `new` (the table's rule).
pub unsafe fn duplicated(old: i32, new: i32) {
    if old == new {
        return;
    }
    // SAFETY: the caller's contract; two different numbers are two different entries.
    let (Some(source), Some(target)) = (unsafe { fdtable::entry(old) }, unsafe { fdtable::entry(new) }) else {
        return;
    };
    target.share(source);
}

/// A new description we created non-blocking on the program's behalf.
///
/// # Safety
/// On the hub thread, or on the thread that just made `fd` (the table's rule).
pub unsafe fn adopt_new(fd: i32, kind: Kind, owned_nonblock: bool, user_nonblock: bool) {
    // SAFETY: the caller's contract is the table's rule.
    if let Some(entry) = unsafe { fdtable::entry(fd) } {
        entry.adopt(kind, owned_nonblock, user_nonblock);
    }
}

/// A new fd whose description we know nothing about (created off the hub, say).
///
/// # Safety
/// On the hub thread, or on the thread that just made `fd` (the table's rule).
pub unsafe fn forget(fd: i32) {
    // SAFETY: the caller's contract is the table's rule.
    if let Some(entry) = unsafe { fdtable::existing(fd) } {
        entry.forget();
    }
}

/// Whether the peer has shut down its side of `fd` (as far as the hub has seen).
///
/// # Safety
/// Hub thread only.
pub unsafe fn read_closed(fd: i32) -> bool {
    // SAFETY: hub thread (caller).
    (unsafe { with_entry(fd, |entry| entry.read_closed) }) == Some(true)
}

/// Parks until more data may have arrived on `fd` (its next read edge), the deadline passes
/// or a signal handler runs: Ok(true) to look again, Ok(false) to stop, Err(errno).
///
/// # Safety
/// Hub thread only.
pub unsafe fn wait_for_more(fd: i32, deadline: Option<u64>) -> Result<bool, i32> {
    // SAFETY: hub thread (caller).
    let generation = unsafe {
        with_entry(fd, |entry| {
            entry.clear_ready(READ);
            entry.generation
        })
    }
    .ok_or(libc::EBADF)?;
    // SAFETY: hub thread (caller).
    match unsafe { wait_fd(fd, READ, deadline) }? {
        Wake::Timeout | Wake::Interrupted { .. } => Ok(false),
        // SAFETY: hub thread (caller); re-fetched after the park.
        _ if unsafe { with_entry(fd, |entry| entry.generation) } != Some(generation) => Err(libc::EBADF),
        _ => Ok(true),
    }
}

