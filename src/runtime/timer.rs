//! The timer heap: green threads ordered by their wake-up deadline (CLOCK_MONOTONIC ns).
//!
//! A green thread waits on at most one deadline at a time, so the heap holds the threads
//! themselves and each remembers its slot: cancelling a timer (the thread woke for another
//! reason) is O(log n) and leaves nothing behind. A lazily-cancelled heap would grow with
//! every poll() timeout that did not fire.

use super::green::Green;

pub const NOT_IN_HEAP: usize = usize::MAX;

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

    /// The earliest deadline, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        // SAFETY: every pointer in the heap is a live parked green thread.
        self.heap.first().map(|&g| unsafe { (*g).deadline })
    }

    /// # Safety
    /// `g` is a live green thread not already in the heap.
    pub unsafe fn insert(&mut self, g: *mut Green, deadline: u64) {
        (*g).deadline = deadline;
        (*g).timer_slot = self.heap.len();
        self.heap.push(g);
        self.sift_up(self.heap.len() - 1);
    }

    /// # Safety
    /// `g` is a live green thread.
    pub unsafe fn remove(&mut self, g: *mut Green) {
        let slot = (*g).timer_slot;
        if slot == NOT_IN_HEAP {
            return;
        }
        (*g).timer_slot = NOT_IN_HEAP;
        let last = self.heap.pop().expect("a thread with a slot is in the heap");
        if slot < self.heap.len() {
            self.heap[slot] = last;
            (*last).timer_slot = slot;
            self.sift_down(slot);
            self.sift_up(slot);
        }
    }

    /// Removes and returns a thread whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: u64) -> Option<*mut Green> {
        let &first = self.heap.first()?;
        // SAFETY: heap entries are live (see next_deadline).
        unsafe {
            if (*first).deadline > now {
                return None;
            }
            self.remove(first);
        }
        Some(first)
    }

    fn key(&self, i: usize) -> u64 {
        // SAFETY: heap entries are live.
        unsafe { (*self.heap[i]).deadline }
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        // SAFETY: heap entries are live.
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
