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

use super::fdtable::{self, with_entry, FdEntry, Kind, Registration, WaitNode, READ, WRITE};
use super::green::{self, Wake, WaitingOn};
use super::poller;
use super::signals::pending_signals;
use super::state::rt;
use crate::sys::errno;
use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use rustix::fd::BorrowedFd;

pub use super::direct_wait::{call_alone, may_call_plain, plain_now};
pub use super::file_reads::FileReads;
pub use super::fdclass::{
    file_reads, learn_reads_without_nowait, is_stream_socket, is_tcp_stream, plan, refuses_nowait, release_inheritable, release_passed, Sharer,
    socket_timeout_deadline, socket_timeouts_changed, tcp_send_deadline, Attempt, Plan,
};

/// Runs `attempt` until it no longer fails with EAGAIN, parking on `fd` readiness for
/// `interest` (READ or WRITE) in between. A wait that outlives `deadline` (CLOCK_MONOTONIC
/// ns), or else the socket's own SO_RCVTIMEO / SO_SNDTIMEO, ends the call with EAGAIN, as
/// the kernel ends a blocking call at that timeout. Returns what the last attempt returned,
/// with errno as it left it (or EBADF if the fd was closed while we waited).
///
/// The entry is looked up once: entries never move (fdtable.rs), so its address is kept
/// and a reference made from it only for each short use, none across an attempt or a park.
///
/// `attempt(mode)` makes one attempt, non-blocking as `mode` says: `attempt_mode` at first,
/// and PollFirst once a fork has given a description we made non-blocking back to blocking
/// while the call waited (fdclass.rs, `release_inheritable`): a Direct attempt then could
/// block the hub, as when a second reader of the same pipe woke to find the byte taken.
///
/// # Safety
/// Hub thread only; `attempt` makes the real call and touches no fd entry.
pub unsafe fn drive(
    fd: i32,
    interest: u8,
    deadline: Option<u64>,
    attempt_mode: Attempt,
    mut attempt: impl FnMut(Attempt) -> isize,
) -> isize {
    let mut mode = attempt_mode;
    // SAFETY: hub thread (caller); only the address is kept.
    let slot: *mut FdEntry = unsafe { fdtable::entry(fd) }.expect("planned fds have entries");
    // SAFETY: here and below ("see above"): the entry lives for the process; on the hub
    // thread no other reference to it is live while these one-field accesses run (the
    // attempt touches no entry, and waits fetch their own only while we hold none).
    let generation = unsafe { (*slot).generation };
    let saved_errno = errno::get();
    // Looked up the first time the call has to wait: most calls never do.
    let mut wait_until = deadline.map(Some);
    // A direct wait (direct_wait.rs) has just seen the fd ready, and nothing ran since.
    let mut just_polled = false;
    loop {
        // SAFETY: see above (both).
        let plain = matches!(mode, Attempt::PollFirst | Attempt::NoWait)
            && unsafe { super::direct_wait::may_call(slot, deadline) };
        // SAFETY: see above.
        if plain || unsafe { (*slot).ready(interest) } {
            if mode == Attempt::PollFirst && !plain && !just_polled && !poll_now(fd, interest) {
                // SAFETY: see above.
                unsafe { (*slot).clear_ready(interest) };
            } else {
                let handled_before = plain.then(pending_signals::handled);
                ATTEMPT_MAY_BLOCK.store(plain, Relaxed);
                let result = attempt(mode);
                ATTEMPT_MAY_BLOCK.store(false, Relaxed);
                PLAIN_INTERRUPTED.store(handled_before.is_some_and(|n| n != pending_signals::handled()), Relaxed);
                if result >= 0 {
                    errno::set(saved_errno);
                    return result;
                }
                let e = errno::get();
                if e != libc::EAGAIN && e != libc::EWOULDBLOCK {
                    return result;
                }
                // SAFETY: see above.
                unsafe { (*slot).clear_ready(interest) };
            }
        }
        // SAFETY: hub thread (caller).
        let until = *wait_until.get_or_insert_with(|| unsafe { socket_timeout_deadline(fd, interest) });
        // SAFETY: hub thread (caller); no reference to the entry is live.
        let wake = match unsafe { super::direct_wait::wait(fd, slot, interest, until) } {
            Some(wake) => {
                just_polled = wake == Wake::Ready;
                // SAFETY: hub thread; nothing is held: a cancellation point, as after a park.
                unsafe { super::cancel::point() };
                Ok(wake)
            }
            None => {
                just_polled = false;
                // SAFETY: hub thread (caller).
                unsafe { wait_fd(fd, interest, until) }
            }
        };
        match wake {
            Ok(Wake::Timeout) => return errno::fail(libc::EAGAIN),
            Ok(Wake::Interrupted { restart: false }) => return errno::fail(libc::EINTR),
            // SAFETY: see above.
            Ok(_) if unsafe { (*slot).generation } != generation => return errno::fail(libc::EBADF),
            // SAFETY: see above.
            Ok(_) if mode == Attempt::Direct && !unsafe { (*slot).view() }.is_some_and(|d| d.owned_nonblock) => {
                mode = Attempt::PollFirst;
            }
            Ok(_) => {}
            // epoll cannot watch it after all: the real call is all we can do.
            Err(0) => return attempt(mode),
            Err(e) => return errno::fail(e),
        }
    }
}

/// Set while `drive` makes an attempt that may block in the kernel: the thread is alone
/// and the fd a pipe or terminal (direct_wait.rs, `may_call`), so nothing else could run
/// meanwhile. An attempt that must not block otherwise (a pipe write, which a blocking pipe
/// takes only whole) is then the plain call, as natively: one system call instead of a
/// non-blocking try, a poll and another try. Hub thread only.
static ATTEMPT_MAY_BLOCK: AtomicBool = AtomicBool::new(false);

/// Whether the attempt being made may block (see `ATTEMPT_MAY_BLOCK`).
pub fn attempt_may_block() -> bool {
    ATTEMPT_MAY_BLOCK.load(Relaxed)
}

/// Set when the last attempt `drive` made was one that may block and a signal handler ran
/// meanwhile (in this thread: it was alone). A blocking write the kernel cut short for the
/// handler returns what it wrote, as natively, instead of going on (write_all.rs).
static PLAIN_INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether a handler interrupted the last attempt, which was one that may block.
pub fn plain_attempt_interrupted() -> bool {
    PLAIN_INTERRUPTED.load(Relaxed)
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
    // SAFETY: hub thread (caller); only the address is kept (entries never move).
    let slot: *mut FdEntry = unsafe { fdtable::entry(fd) }.ok_or(libc::EBADF)?;
    // SAFETY: hub thread (caller); the entry lives for the process and no other reference
    // to it is live during this statement.
    if !unsafe { rt() }.poller.register(fd, unsafe { &mut *slot })? {
        return Err(0);
    }
    // SAFETY: hub thread (caller).
    let me = unsafe { green::current() };
    let mut link = [(slot, WaitNode::new(me, interest))];
    // SAFETY: hub thread; the entry is registered and `link` stays in this frame until
    // `park_linked` has unlinked it.
    Ok(unsafe { park_linked(&mut link, WaitingOn::Fd { fd, write: interest == WRITE }, deadline) })
}

/// How many waiters `wait_any` keeps on its own stack: poll and select calls of up to this
/// many fds allocate nothing.
const NODES_ON_STACK: usize = 16;

/// Parks until any of `fds` (with their interests) may be ready, one is closed, or the
/// deadline passes. Fds epoll cannot watch are ignored here: poll(2) reports them ready
/// before anyone waits. The caller re-checks with a real poll. Not a cancellation point
/// itself: the caller (poll, select) holds the list and acts once it has dropped it.
///
/// # Safety
/// Hub thread only.
pub unsafe fn wait_any(fds: impl Iterator<Item = (i32, u8)> + Clone, deadline: Option<u64>) -> Wake {
    // SAFETY: hub thread (caller).
    let me = unsafe { green::current() };
    let mut on_stack: [(*mut FdEntry, WaitNode); NODES_ON_STACK] =
        core::array::from_fn(|_| (core::ptr::null_mut(), WaitNode::new(me, 0)));
    let mut on_heap = Vec::new();
    let mut count = 0;
    let nfds = fds.clone().count();
    for (fd, interest) in fds.filter(|&(fd, _)| fd >= 0) {
        // SAFETY: hub thread (caller); only the address is kept (entries never move).
        let Some(slot) = (unsafe { fdtable::entry(fd) }).map(|e| e as *mut FdEntry) else { continue };
        // SAFETY: hub thread; no other reference to the entry is live in this statement.
        if !matches!(unsafe { rt() }.poller.register(fd, unsafe { &mut *slot }), Ok(true)) {
            continue;
        }
        if count < NODES_ON_STACK {
            on_stack[count] = (slot, WaitNode::new(me, interest));
        } else {
            if on_heap.is_empty() {
                on_heap.extend(on_stack.iter().map(|(slot, node)| (*slot, WaitNode::new(me, node.interest))));
            }
            on_heap.push((slot, WaitNode::new(me, interest)));
        }
        count += 1;
    }
    let nodes = if on_heap.is_empty() { &mut on_stack[..count] } else { &mut on_heap[..] };
    // SAFETY: hub thread (caller); the nodes stay put until `park_linked` returns.
    unsafe { park_linked(nodes, WaitingOn::Poll { nfds }, deadline) }
}

/// Links every node to its entry, parks, unlinks them: the wait of `park_on_fd` and
/// `wait_any`. The nodes are unlinked before anything else runs on this stack: a handler
/// that runs inside the park may never return here (wait_leave.rs).
///
/// # Safety
/// Hub thread only; every entry pointer came from the fd table and is registered.
unsafe fn park_linked(nodes: &mut [(*mut FdEntry, WaitNode)], waiting_on: WaitingOn, deadline: Option<u64>) -> Wake {
    for (slot, node) in nodes.iter_mut() {
        // SAFETY: hub thread; entries never move and no other reference to this one is
        // live; the node stays put in the caller's storage until unlinked.
        unsafe { (**slot).link(node) };
    }
    // SAFETY: hub thread; no other reference to the entry is live.
    let generation = if let [(slot, _)] = nodes { Some(unsafe { (**slot).generation }) } else { None };
    let mut linked = Linked { nodes: nodes.as_mut_ptr(), len: nodes.len(), generation };
    // SAFETY: hub thread; the borrows end before the park. `linked` and the nodes stay in
    // this frame and the caller's until `run` below, or until the handler path runs it first.
    unsafe {
        let rt = rt();
        rt.fd_waiters += nodes.len();
        (*rt.current).signals.leave.set(unlink_all, &mut linked as *mut Linked as *mut c_void);
    }
    // SAFETY: hub thread; whoever wakes us finds us through the nodes.
    let wake = unsafe { green::park(deadline, waiting_on) };
    // SAFETY: hub thread; we run again. A no-op if a handler's path unlinked them already.
    unsafe { (*rt().current).signals.leave.run() };
    wake
}

/// The nodes a `park_linked` frame holds linked.
struct Linked {
    nodes: *mut (*mut FdEntry, WaitNode),
    len: usize,
    /// A single wait's fd generation when linked: only closing the number (which changes
    /// it) drops a registration.
    generation: Option<u32>,
}

/// Unlinks a `park_linked` frame's nodes (its `Leave`).
///
/// # Safety
/// Hub thread, once per park; `arg` is the live `Linked` of the parked frame.
unsafe fn unlink_all(arg: *mut c_void) {
    // SAFETY: the caller's contract; the frame is still live, its nodes linked.
    let linked = unsafe { &*(arg as *const Linked) };
    // SAFETY: hub thread (caller).
    unsafe { rt() }.fd_waiters -= linked.len;
    for i in 0..linked.len {
        // SAFETY: each node is still linked to its number's entry (closing a number keeps
        // its waiters, so they can leave), entries never move, and no other reference to
        // the entry or the node is live.
        unsafe {
            let (slot, node) = &mut *linked.nodes.add(i);
            let entry = &mut **slot;
            debug_assert!(linked.generation != Some(entry.generation) || entry.registration == Registration::Yes);
            entry.unlink(node);
        }
    }
}

/// Whether poll(2) says `fd` is ready for `interest` right now (errors and hang-ups count
/// as ready: the real call will report them).
pub fn poll_now(fd: i32, interest: u8) -> bool {
    // Ours, not the program's: never trapped (sys/own_calls.rs).
    let _own = crate::sys::own_calls::own_calls();
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

/// Every number in `first..=last` is about to be closed at once (close_range): as
/// [`closing`] for each the table knows, except the runtime's own (which the caller leaves
/// open). Chunks never allocated hold nothing to forget and are skipped whole.
///
/// # Safety
/// As for [`closing`], for every number in the range.
pub unsafe fn closing_range(first: u32, last: u32, on_hub: bool) {
    let end = (last as usize).min(fdtable::CHUNK * fdtable::MAX_CHUNKS - 1);
    let mut fd = first as usize;
    while fd <= end {
        // SAFETY: the caller's contract; the borrow ends within this statement.
        if unsafe { fdtable::existing(fd as i32) }.is_none() {
            fd = (fd / fdtable::CHUNK + 1) * fdtable::CHUNK;
            continue;
        }
        if !super::is_internal_fd(fd as i32) {
            // SAFETY: as above.
            unsafe { closing(fd as i32, on_hub) };
        }
        fd += 1;
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

