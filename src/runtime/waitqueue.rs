//! FIFO queues of parked green threads, keyed by the address of whatever they wait on (a
//! mutex, a condition variable). A queue exists only while someone waits in it, so an
//! uncontended lock never touches this table.
//!
//! A thread is in at most one queue (it waits for one thing at a time); it is linked through
//! its own `queue_prev`/`queue_next` fields, so enqueueing allocates nothing once the key has
//! a slot, and a thread that leaves early (timeout) unlinks itself in O(1).

use super::green::{self, Green, Wake, WaitingOn};
use super::rt;
use std::collections::HashMap;

#[derive(Clone, Copy)]
struct Queue {
    head: *mut Green,
    tail: *mut Green,
}

pub struct WaitQueues {
    queues: HashMap<usize, Queue, super::AddressHasher>,
}

impl WaitQueues {
    pub fn new() -> Self {
        WaitQueues { queues: HashMap::with_hasher(super::AddressHasher) }
    }

    /// # Safety
    /// `g` is live and in no queue.
    unsafe fn push(&mut self, key: usize, g: *mut Green) {
        (*g).queue_key = key;
        (*g).queue_next = core::ptr::null_mut();
        let queue = self
            .queues
            .entry(key)
            .or_insert(Queue { head: core::ptr::null_mut(), tail: core::ptr::null_mut() });
        (*g).queue_prev = queue.tail;
        if queue.tail.is_null() {
            queue.head = g;
        } else {
            (*queue.tail).queue_next = g;
        }
        queue.tail = g;
    }

    /// Takes `g` out of whatever queue it is in.
    ///
    /// # Safety
    /// `g` is live.
    pub unsafe fn remove(&mut self, g: *mut Green) {
        let key = (*g).queue_key;
        if key == 0 {
            return;
        }
        (*g).queue_key = 0;
        let Some(queue) = self.queues.get_mut(&key) else { return };
        let (prev, next) = ((*g).queue_prev, (*g).queue_next);
        if prev.is_null() {
            queue.head = next;
        } else {
            (*prev).queue_next = next;
        }
        if next.is_null() {
            queue.tail = prev;
        } else {
            (*next).queue_prev = prev;
        }
        if queue.head.is_null() {
            self.queues.remove(&key);
        }
    }

    /// The longest waiter on `key`, taken out of the queue.
    pub fn pop(&mut self, key: usize) -> Option<*mut Green> {
        let head = self.queues.get(&key)?.head;
        // SAFETY: queued threads are live.
        unsafe { self.remove(head) };
        Some(head)
    }
}

/// Parks the current thread in `key`'s queue until someone pops and wakes it, or the
/// deadline passes (then it leaves the queue itself).
///
/// # Safety
/// Hub thread only.
pub unsafe fn wait(key: usize, deadline: Option<u64>, why: WaitingOn) -> Wake {
    let rt = rt();
    let me = green::current();
    rt.queues.push(key, me);
    let wake = green::park(deadline, why);
    rt.queues.remove(me);
    wake
}

/// Pops the longest waiter on `key` and wakes it with `why`; returns it.
///
/// # Safety
/// Hub thread only.
pub unsafe fn wake_one(key: usize, why: Wake) -> Option<*mut Green> {
    let g = rt().queues.pop(key)?;
    green::wake(g, why);
    Some(g)
}

/// Wakes every waiter on `key`.
///
/// # Safety
/// Hub thread only.
pub unsafe fn wake_all(key: usize, why: Wake) {
    while wake_one(key, why).is_some() {}
}
