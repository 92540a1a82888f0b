//! A forked child gets a hub of its own.
//!
//! POSIX: the child has one thread, the one that called fork. Here that is one green thread
//! (maybe the root), and the child inherits a copy of the whole runtime: an epoll instance
//! and eventfd *shared* with the parent (using them would steal the parent's events and
//! corrupt its registrations), a run queue, timers, wait queues and fd waiters naming green
//! threads that do not exist in the child. So the child makes a new epoll instance and
//! eventfd, forgets every registration and readiness bit (they described the parent's
//! epoll), and keeps only the caller. Locks the vanished threads held stay locked, as they
//! would natively.
//!
//! When the caller is not the root, the scheduler loop it returns to still runs on the
//! root's stack (a copy of it, valid memory); the root itself is marked ended and never
//! resumed, and the child exits with status 0 when its last green thread ends, as glibc
//! does when a process's last thread exits.

use super::green::{self, Green, State};
use super::poller::Poller;
use super::queues::WaitQueues;
use super::runqueue::RunQueue;
use super::state::{self, rt};
use super::timer::TimerHeap;
use super::{fdtable, preempt, sigroute, tls, workers};

/// In a forked child. If the hub thread forked, the child gets a hub of its own. If another
/// OS thread forked, the child's only thread is not the hub, so the child runs without
/// green threads: every call passes through (blocking by hand on descriptions we made
/// non-blocking).
///
/// # Safety
/// In the child, right after fork returned, on the thread that called it; `forked_on_hub`
/// says whether that was the hub thread.
pub unsafe fn after_fork_in_child(forked_on_hub: bool) {
    if forked_on_hub {
        // SAFETY: the child's only thread, the hub's; the current green thread forked.
        unsafe { tls::after_fork_in_child(rt().current) };
    }
    // SAFETY: as above.
    if !(forked_on_hub && unsafe { rebuild_hub_in_child() }) {
        state::leave_hub();
    }
}

/// Rebuilds the runtime for a freshly forked child. Returns false if the child must run
/// without green threads (no new epoll instance could be made).
///
/// # Safety
/// In the child, right after fork returned, on the thread that called it (the hub thread).
unsafe fn rebuild_hub_in_child() -> bool {
    // SAFETY: the child's only thread is the hub's (caller).
    let rt = unsafe { rt() };
    let Ok(new_poller) = Poller::new() else { return false };
    // Dropping the inherited poller closes only the child's copies of its fds.
    drop(core::mem::replace(&mut rt.poller, new_poller));

    let me = rt.current;
    rt.runq = RunQueue::new();
    rt.timers = TimerHeap::new();
    rt.queues = WaitQueues::new();
    rt.fd_waiters = 0;
    rt.offloads_in_flight = 0;
    workers::forget_workers_in_child();
    // SAFETY: the child's only thread (caller).
    unsafe { super::accept_nowait::forget_in_child() };
    rt.deadlock_reported = false;
    // SAFETY: the child has one thread; nothing else touches the table.
    unsafe { fdtable::for_each(|_, entry| entry.forget_hub_state()) };

    let vanished: Vec<*mut Green> = rt.threads.values().copied().filter(|&g| g != me && g != rt.root).collect();
    for g in vanished {
        // SAFETY: in the child; `g` is not the caller of fork, and nothing refers to it now
        // that the queues are new.
        unsafe { green::discard_in_child(g) };
    }
    // SAFETY: the child's one thread; `me` forked, so it is live.
    unsafe { sigroute::after_fork_in_child(me) };
    // SAFETY: the root's record lives as long as the runtime (re-fetched: discarding used it).
    let rt = unsafe { state::rt() };
    if me != rt.root {
        // SAFETY: as above.
        unsafe { (*rt.root).state = State::Done };
        rt.set_live(1);
    } else {
        rt.set_live(0);
    }
    preempt::forget_in_child();
    true
}
