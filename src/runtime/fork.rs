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

use super::green::{self, State};
use super::{fdtable, poller, rt, timer, waitqueue};

/// Rebuilds the runtime for a freshly forked child. Returns false if the child must run
/// without green threads (no new epoll instance could be made).
///
/// # Safety
/// In the child, right after fork returned, on the thread that called it (the hub thread).
pub unsafe fn rebuild_hub_in_child() -> bool {
    let rt = rt();
    let new_poller = match poller::Poller::new() {
        Ok(new_poller) => new_poller,
        Err(_) => return false,
    };
    // Dropping the inherited poller closes only the child's copies of its fds.
    drop(core::mem::replace(&mut rt.poller, new_poller));

    let me = rt.current;
    rt.runq = green::RunQueue::new();
    rt.timers = timer::TimerHeap::new();
    rt.queues = waitqueue::WaitQueues::new();
    rt.fd_waiters = 0;
    rt.offloads_in_flight = 0;
    super::offload::forget_workers_in_child();
    rt.deadlock_reported = false;
    fdtable::for_each(|_, entry| entry.forget_hub_state());

    let vanished: Vec<*mut green::Green> =
        rt.threads.values().copied().filter(|&g| g != me && g != rt.root).collect();
    for g in vanished {
        green::discard_in_child(g);
    }
    if me != rt.root {
        (*rt.root).state = State::Done;
        rt.live = 1;
    } else {
        rt.live = 0;
    }
    true
}
