//! The run queue: FIFO of runnable green threads.

use super::green::Green;

/// FIFO of runnable threads, linked through `Green::run_next`: no allocation per wake-up.
pub struct RunQueue {
    head: *mut Green,
    tail: *mut Green,
    len: usize,
}

impl RunQueue {
    pub const fn new() -> Self {
        RunQueue { head: core::ptr::null_mut(), tail: core::ptr::null_mut(), len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// # Safety
    /// `g` is live and not already queued.
    pub unsafe fn push(&mut self, g: *mut Green) {
        (*g).run_next = core::ptr::null_mut();
        if self.tail.is_null() {
            self.head = g;
        } else {
            (*self.tail).run_next = g;
        }
        self.tail = g;
        self.len += 1;
    }

    pub fn pop(&mut self) -> Option<*mut Green> {
        let g = self.head;
        if g.is_null() {
            return None;
        }
        // SAFETY: queued threads are live.
        unsafe {
            self.head = (*g).run_next;
        }
        if self.head.is_null() {
            self.tail = core::ptr::null_mut();
        }
        self.len -= 1;
        Some(g)
    }
}
