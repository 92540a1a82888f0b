//! FIFO queues of parked green threads, keyed by the address of whatever they wait on (a
//! mutex, a condition variable). A queue exists only while someone waits in it, so an
//! uncontended lock never touches this table.
//!
//! A thread is in at most one queue (it waits for one thing at a time); it is linked through
//! its own `queue_prev`/`queue_next` fields, so enqueueing allocates nothing once the key has
//! a slot, and a thread that leaves early (timeout) unlinks itself in O(1).
//!
//! A data structure only: `pop` returns the thread and the caller wakes it (waitqueue.rs).
//! Invariant: `queue_key` is 0 exactly while the thread is in no queue, so a thread is
//! linked once and unlinked once however many paths try (asserted in debug builds).

use super::hasher::AddressHasher;
use super::thread::Green;
use std::collections::HashMap;

#[derive(Clone, Copy)]
struct Queue {
    head: *mut Green,
    tail: *mut Green,
}

pub struct WaitQueues {
    queues: HashMap<usize, Queue, AddressHasher>,
}

impl WaitQueues {
    pub fn new() -> Self {
        WaitQueues { queues: HashMap::with_hasher(AddressHasher) }
    }

    /// Appends `g` to `key`'s queue. `key` is not 0 (0 means "in no queue").
    ///
    /// # Safety
    /// `g` is live, in no queue, and stays live until it is removed.
    pub unsafe fn push(&mut self, key: usize, g: *mut Green) {
        debug_assert_ne!(key, 0, "0 is the key of no queue");
        // SAFETY: `g` is live and not borrowed elsewhere during this call (caller).
        let record = unsafe { &mut *g };
        debug_assert_eq!(record.queue_key, 0, "a thread waits in one queue at a time");
        record.queue_key = key;
        record.queue_next = core::ptr::null_mut();
        let queue = self
            .queues
            .entry(key)
            .or_insert(Queue { head: core::ptr::null_mut(), tail: core::ptr::null_mut() });
        record.queue_prev = queue.tail;
        if queue.tail.is_null() {
            queue.head = g;
        } else {
            // SAFETY: the tail is queued, hence live, and is not `g` (g was in no queue).
            unsafe { (*queue.tail).queue_next = g };
        }
        queue.tail = g;
    }

    /// Takes `g` out of whatever queue it is in (nothing if it is in none).
    ///
    /// # Safety
    /// `g` is live.
    pub unsafe fn remove(&mut self, g: *mut Green) {
        // SAFETY: `g` is live and not borrowed elsewhere during this call (caller).
        let record = unsafe { &mut *g };
        let key = record.queue_key;
        if key == 0 {
            return;
        }
        record.queue_key = 0;
        let (prev, next) = (record.queue_prev, record.queue_next);
        record.queue_prev = core::ptr::null_mut();
        record.queue_next = core::ptr::null_mut();
        let Some(queue) = self.queues.get_mut(&key) else {
            debug_assert!(false, "a thread with a queue key is in that queue");
            return;
        };
        debug_assert!(prev.is_null() == (queue.head == g), "only the head has no predecessor");
        debug_assert!(next.is_null() == (queue.tail == g), "only the tail has no successor");
        if prev.is_null() {
            queue.head = next;
        } else {
            // SAFETY: neighbours in a queue are live threads other than `g`.
            unsafe { (*prev).queue_next = next };
        }
        if next.is_null() {
            queue.tail = prev;
        } else {
            // SAFETY: as above.
            unsafe { (*next).queue_prev = prev };
        }
        if queue.head.is_null() {
            self.queues.remove(&key);
        }
    }

    /// The longest waiter on `key`, taken out of the queue.
    pub fn pop(&mut self, key: usize) -> Option<*mut Green> {
        let head = self.queues.get(&key)?.head;
        // SAFETY: queued threads are live (`push`'s contract).
        unsafe { self.remove(head) };
        Some(head)
    }

    /// Whether anyone waits on `key`.
    #[cfg(test)]
    pub fn has_waiters(&self, key: usize) -> bool {
        self.queues.contains_key(&key)
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::queues::*;

    /// Records at addresses that stay put: the vector is never grown after this.
    fn threads(n: u64) -> Vec<Green> {
        (1..=n).map(Green::new).collect()
    }

    fn id(g: *mut Green) -> u64 {
        // SAFETY: the tests' boxes outlive every pointer the queues return.
        unsafe { (*g).id }
    }

    #[test]
    fn first_in_first_out_per_key() {
        let mut gs = threads(4);
        let mut queues = WaitQueues::new();
        for (i, g) in gs.iter_mut().enumerate() {
            // SAFETY: live boxes, each pushed once.
            unsafe { queues.push(0x10 + i % 2, g) };
        }
        assert_eq!(queues.pop(0x10).map(id), Some(1));
        assert_eq!(queues.pop(0x11).map(id), Some(2));
        assert_eq!(queues.pop(0x10).map(id), Some(3));
        assert_eq!(queues.pop(0x10), None);
        assert!(!queues.has_waiters(0x10));
        assert_eq!(queues.pop(0x11).map(id), Some(4));
        assert!(gs.iter().all(|g| g.queue_key == 0));
    }

    #[test]
    fn remove_from_the_middle_and_twice() {
        let mut gs = threads(3);
        let mut queues = WaitQueues::new();
        let ptrs: Vec<*mut Green> = gs.iter_mut().map(|g| g as *mut Green).collect();
        // SAFETY: live boxes; each pushed once; removing an unqueued thread does nothing.
        unsafe {
            for &g in &ptrs {
                queues.push(0x20, g);
            }
            queues.remove(ptrs[1]);
            queues.remove(ptrs[1]);
        }
        assert_eq!(queues.pop(0x20).map(id), Some(1));
        assert_eq!(queues.pop(0x20).map(id), Some(3));
        assert!(queues.pop(0x20).is_none());
    }

    #[test]
    fn removing_head_and_tail_keeps_the_rest() {
        let mut gs = threads(4);
        let mut queues = WaitQueues::new();
        let ptrs: Vec<*mut Green> = gs.iter_mut().map(|g| g as *mut Green).collect();
        // SAFETY: as above.
        unsafe {
            for &g in &ptrs {
                queues.push(0x30, g);
            }
            queues.remove(ptrs[0]);
            queues.remove(ptrs[3]);
            queues.push(0x30, ptrs[0]);
        }
        let order: Vec<u64> = core::iter::from_fn(|| queues.pop(0x30)).map(id).collect();
        assert_eq!(order, [2, 3, 1]);
    }
}
