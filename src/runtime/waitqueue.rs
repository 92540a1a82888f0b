//! Waiting on an address (a mutex, a condition variable, a semaphore): park in its queue
//! (queues.rs holds the queues) until someone pops and wakes you.

use super::green;
use super::state::rt;
use super::thread::{Green, Wake, WaitingOn};

/// Parks the current thread in `key`'s queue until someone pops and wakes it, or the
/// deadline passes (then it leaves the queue itself).
///
/// # Safety
/// Hub thread only.
pub unsafe fn wait(key: usize, deadline: Option<u64>, why: WaitingOn) -> Wake {
    // SAFETY: hub thread (caller); the current thread is live and in no queue (it runs).
    let me = unsafe {
        let me = green::current();
        rt().queues.push(key, me);
        me
    };
    // SAFETY: hub thread (caller).
    let wake = unsafe { green::park(deadline, why) };
    // SAFETY: hub thread; `me` is live (it is running this). Removing is a no-op when the
    // waker already took it out.
    unsafe { rt().queues.remove(me) };
    // sem_wait is a cancellation point (but not once a unit was handed over); condition
    // waits act once the mutex is taken back (hooks/sync_cond.rs).
    if matches!(why, WaitingOn::Semaphore { .. }) && wake != Wake::Handoff {
        // SAFETY: hub thread; out of the queue.
        unsafe { super::cancel::point() };
    } else if matches!(why, WaitingOn::Lock { .. }) && wake != Wake::Handoff {
        // SAFETY: hub thread; out of the queue.
        unsafe { super::cancel::async_point() };
    }
    wake
}

/// Pops the longest waiter on `key` and wakes it with `why`; returns it.
///
/// # Safety
/// Hub thread only.
pub unsafe fn wake_one(key: usize, why: Wake) -> Option<*mut Green> {
    // SAFETY: hub thread (caller); the runtime borrow ends with the pop.
    let g = unsafe { rt() }.queues.pop(key)?;
    // SAFETY: hub thread; queued threads are live.
    unsafe { green::wake(g, why) };
    Some(g)
}

/// Wakes every waiter on `key`.
///
/// # Safety
/// Hub thread only.
pub unsafe fn wake_all(key: usize, why: Wake) {
    // SAFETY: hub thread (caller).
    while unsafe { wake_one(key, why) }.is_some() {}
}
