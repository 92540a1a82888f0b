//! The timer heap: green threads ordered by their wake-up deadline (CLOCK_MONOTONIC ns).
//!
//! A green thread waits on at most one deadline at a time, so the heap holds the threads
//! themselves and each remembers its slot: cancelling a timer (the thread woke for another
//! reason) is O(log n) and leaves nothing behind. A lazily-cancelled heap would grow with
//! every poll() timeout that did not fire.
//!
//! A data structure only: `pop_expired` returns the threads whose deadline passed and the
//! scheduler wakes them. Invariant: `g.timer_slot` is `NOT_IN_HEAP` or `g`'s index in
//! the heap (asserted on every insert and removal in debug builds).

use super::thread::{Green, NOT_IN_HEAP};

pub struct TimerHeap {
    heap: Vec<*mut Green>,
}

impl TimerHeap {
    pub const fn new() -> Self {
        TimerHeap { heap: Vec::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// The earliest deadline, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        self.heap.first().map(|_| self.key(0))
    }

    /// # Safety
    /// `g` is a live green thread not already in the heap, and stays live while in it.
    pub unsafe fn insert(&mut self, g: *mut Green, deadline: u64) {
        // SAFETY: `g` is live and not borrowed elsewhere during this call (caller).
        let record = unsafe { &mut *g };
        debug_assert_eq!(record.timer_slot, NOT_IN_HEAP, "a thread has one deadline at a time");
        record.deadline = deadline;
        record.timer_slot = self.heap.len();
        self.heap.push(g);
        self.sift_up(self.heap.len() - 1);
    }

    /// Takes `g` out of the heap if it is in it.
    ///
    /// # Safety
    /// `g` is a live green thread.
    pub unsafe fn remove(&mut self, g: *mut Green) {
        // SAFETY: `g` is live (caller).
        let slot = unsafe { (*g).timer_slot };
        if slot == NOT_IN_HEAP {
            return;
        }
        debug_assert!(self.heap.get(slot) == Some(&g), "timer_slot names the thread's own slot");
        // SAFETY: as above.
        unsafe { (*g).timer_slot = NOT_IN_HEAP };
        let last = self.heap.pop().expect("a thread with a slot is in the heap");
        if slot < self.heap.len() {
            self.heap[slot] = last;
            // SAFETY: `last` was in the heap, hence live, and is not `g` (g was at `slot`).
            unsafe { (*last).timer_slot = slot };
            self.sift_down(slot);
            self.sift_up(slot);
        }
    }

    /// Removes and returns a thread whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: u64) -> Option<*mut Green> {
        let &first = self.heap.first()?;
        if self.key(0) > now {
            return None;
        }
        // SAFETY: heap entries are live (`insert`'s contract).
        unsafe { self.remove(first) };
        Some(first)
    }

    fn key(&self, i: usize) -> u64 {
        // SAFETY: heap entries are live (`insert`'s contract).
        unsafe { (*self.heap[i]).deadline }
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        // SAFETY: heap entries are live; `a` and `b` name different records when a != b, and
        // writing the same field twice is harmless when they are equal.
        unsafe {
            (*self.heap[a]).timer_slot = a;
            (*self.heap[b]).timer_slot = b;
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.key(parent) <= self.key(i) {
                break;
            }
            self.swap(parent, i);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let (left, right) = (2 * i + 1, 2 * i + 2);
            let mut smallest = i;
            if left < self.heap.len() && self.key(left) < self.key(smallest) {
                smallest = left;
            }
            if right < self.heap.len() && self.key(right) < self.key(smallest) {
                smallest = right;
            }
            if smallest == i {
                break;
            }
            self.swap(i, smallest);
            i = smallest;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::timer::*;

    /// Records at addresses that stay put: the vector is never grown after this.
    fn threads(n: u64) -> Vec<Green> {
        (0..n).map(Green::new).collect()
    }

    fn ptr(g: &mut Green) -> *mut Green {
        g
    }

    /// Every slot names its own index and every parent is due no later than its children.
    fn check(heap: &TimerHeap) {
        for (i, &g) in heap.heap.iter().enumerate() {
            // SAFETY: the tests' boxes outlive the heap.
            assert_eq!(unsafe { (*g).timer_slot }, i);
            if i > 0 {
                assert!(heap.key((i - 1) / 2) <= heap.key(i));
            }
        }
    }

    #[test]
    fn pops_in_deadline_order() {
        let mut gs = threads(6);
        let deadlines = [50, 10, 40, 30, 20, 60];
        let mut heap = TimerHeap::new();
        for (g, &d) in gs.iter_mut().zip(&deadlines) {
            // SAFETY: each box is live and inserted once.
            unsafe { heap.insert(ptr(g), d) };
            check(&heap);
        }
        assert_eq!(heap.next_deadline(), Some(10));
        assert_eq!(heap.pop_expired(5), None);
        let mut got = Vec::new();
        while let Some(g) = heap.pop_expired(u64::MAX) {
            // SAFETY: popped pointers are the live boxes.
            let record = unsafe { &*g };
            assert_eq!(record.timer_slot, NOT_IN_HEAP);
            got.push(record.deadline);
            check(&heap);
        }
        assert_eq!(got, [10, 20, 30, 40, 50, 60]);
        assert!(heap.is_empty());
    }

    #[test]
    fn pop_expired_stops_at_now() {
        let mut gs = threads(3);
        let mut heap = TimerHeap::new();
        for (g, d) in gs.iter_mut().zip([5, 15, 25]) {
            // SAFETY: as above.
            unsafe { heap.insert(ptr(g), d) };
        }
        assert!(heap.pop_expired(15).is_some());
        assert!(heap.pop_expired(15).is_some());
        assert!(heap.pop_expired(15).is_none());
        assert_eq!(heap.len(), 1);
        assert_eq!(heap.next_deadline(), Some(25));
    }

    #[test]
    fn remove_from_the_middle_keeps_order_and_slots() {
        let mut gs = threads(8);
        let mut heap = TimerHeap::new();
        for (i, g) in gs.iter_mut().enumerate() {
            // SAFETY: as above.
            unsafe { heap.insert(ptr(g), 100 - i as u64 * 10) };
        }
        for victim in [3usize, 0, 6] {
            // SAFETY: the box is live; removing twice is allowed and the second does nothing.
            unsafe {
                heap.remove(ptr(&mut gs[victim]));
                heap.remove(ptr(&mut gs[victim]));
            }
            assert_eq!(gs[victim].timer_slot, NOT_IN_HEAP);
            check(&heap);
        }
        assert_eq!(heap.len(), 5);
        let mut got = Vec::new();
        while let Some(g) = heap.pop_expired(u64::MAX) {
            // SAFETY: popped pointers are the live boxes.
            got.push(unsafe { (*g).deadline });
        }
        assert_eq!(got, [30, 50, 60, 80, 90]);
    }

    #[test]
    fn removing_the_last_slot_and_reinserting() {
        let mut gs = threads(2);
        let mut heap = TimerHeap::new();
        // SAFETY: live boxes; each in the heap at most once at a time.
        unsafe {
            heap.insert(ptr(&mut gs[0]), 1);
            heap.insert(ptr(&mut gs[1]), 2);
            heap.remove(ptr(&mut gs[1]));
            assert_eq!(gs[0].timer_slot, 0);
            heap.insert(ptr(&mut gs[1]), 0);
        }
        check(&heap);
        assert_eq!(heap.next_deadline(), Some(0));
        assert_eq!(gs[1].timer_slot, 0);
        assert_eq!(gs[0].timer_slot, 1);
    }
}
