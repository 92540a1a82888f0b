//! The run queue: FIFO of runnable green threads. A data structure only: it never changes a
//! thread's state; the scheduler does, and keeps "in the run queue iff Runnable" true
//! (ARCHITECTURE.md, Invariants). Pushing and popping assert that side of it.

use super::thread::{Green, State};

/// How many cache lines above its stack pointer a thread's resumption reads soon: the
/// frames of the switch, the park and the hook it returns through.
const STACK_LINES_AHEAD: usize = 8;

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

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Starts loading what the next threads to run will touch first, while the one just
    /// popped runs: with hundreds of threads their records and stacks are no longer in the
    /// cache, and each switch would otherwise wait for memory. The next thread's stack top
    /// (its record was fetched a turn ago) and the record of the one after it.
    pub fn fetch_ahead(&self) {
        use crate::sys::raw::prefetch;
        let next = self.head;
        if next.is_null() {
            return;
        }
        // SAFETY: queued threads are live; plain values are copied out.
        let (sp, after) = unsafe { ((*next).switched_out_sp, (*next).run_next) };
        if sp != 0 {
            for line in 0..STACK_LINES_AHEAD {
                prefetch(sp + line * 64);
            }
        }
        if !after.is_null() {
            for line in 0..core::mem::size_of::<Green>().div_ceil(64) {
                prefetch(after as usize + line * 64);
            }
        }
    }

    /// # Safety
    /// `g` is live, Runnable, and not already queued (it just became Runnable).
    pub unsafe fn push(&mut self, g: *mut Green) {
        // SAFETY: `g` is live and no reference to it is held across this call (caller).
        let record = unsafe { &mut *g };
        debug_assert_eq!(record.state, State::Runnable, "only Runnable threads are queued");
        debug_assert!(g != self.tail, "a thread is queued once");
        record.run_next = core::ptr::null_mut();
        if self.tail.is_null() {
            self.head = g;
        } else {
            // SAFETY: the tail is a queued, hence live, thread other than `g`.
            unsafe { (*self.tail).run_next = g };
        }
        self.tail = g;
        self.len += 1;
    }

    /// Moves the first `n` threads, in their order, behind the others: those queued after
    /// them go first (preemption puts the threads an event just woke ahead of the busy
    /// ones, as Go's `runnext` does).
    pub fn rotate(&mut self, n: usize) {
        if n == 0 || n >= self.len {
            return;
        }
        let first = self.head;
        let mut last = first;
        for _ in 1..n {
            // SAFETY: queued threads are live, and n < len, so every link walked exists.
            last = unsafe { (*last).run_next };
        }
        // SAFETY: as above; `last` is not the tail (n < len), and the tail is live.
        unsafe {
            self.head = (*last).run_next;
            (*last).run_next = core::ptr::null_mut();
            (*self.tail).run_next = first;
        }
        self.tail = last;
    }

    pub fn pop(&mut self) -> Option<*mut Green> {
        let g = self.head;
        if g.is_null() {
            return None;
        }
        // SAFETY: queued threads are live (`push`'s contract; a record is freed only once it
        // is Done, and Done threads are never Runnable).
        let record = unsafe { &mut *g };
        debug_assert_eq!(record.state, State::Runnable, "a queued thread stays Runnable");
        self.head = record.run_next;
        record.run_next = core::ptr::null_mut();
        if self.head.is_null() {
            self.tail = core::ptr::null_mut();
        }
        self.len -= 1;
        Some(g)
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::runqueue::*;

    fn runnable(id: u64) -> Box<Green> {
        Box::new(Green::new(id))
    }

    #[test]
    fn first_in_first_out() {
        let mut threads: Vec<Box<Green>> = (1..=4).map(runnable).collect();
        let mut queue = RunQueue::new();
        assert!(queue.is_empty());
        for g in threads.iter_mut() {
            // SAFETY: the boxes outlive the queue's use of them; each is pushed once.
            unsafe { queue.push(&mut **g) };
        }
        assert_eq!(queue.len(), 4);
        // SAFETY: popped pointers are the live boxes above.
        let order: Vec<u64> = core::iter::from_fn(|| queue.pop()).map(|g| unsafe { (*g).id }).collect();
        assert_eq!(order, [1, 2, 3, 4]);
        assert!(queue.is_empty());
        assert!(queue.pop().is_none());
    }

    #[test]
    fn rotate_puts_the_later_ones_first() {
        let mut threads: Vec<Box<Green>> = (1..=5).map(runnable).collect();
        let mut queue = RunQueue::new();
        for g in threads.iter_mut() {
            // SAFETY: the boxes outlive the queue's use of them; each is pushed once.
            unsafe { queue.push(&mut **g) };
        }
        queue.rotate(3);
        queue.rotate(0);
        queue.rotate(5);
        // SAFETY: popped pointers are the live boxes above.
        let order: Vec<u64> = core::iter::from_fn(|| queue.pop()).map(|g| unsafe { (*g).id }).collect();
        assert_eq!(order, [4, 5, 1, 2, 3]);
    }

    #[test]
    fn refills_after_emptying() {
        let mut a = runnable(1);
        let mut b = runnable(2);
        let mut queue = RunQueue::new();
        // SAFETY: both boxes outlive the queue; each is in the queue at most once at a time.
        unsafe {
            queue.push(&mut *a);
            assert_eq!(queue.pop(), Some(&mut *a as *mut Green));
            queue.push(&mut *b);
            queue.push(&mut *a);
        }
        assert_eq!(queue.pop(), Some(&mut *b as *mut Green));
        assert_eq!(queue.pop(), Some(&mut *a as *mut Green));
        assert_eq!(queue.len(), 0);
    }
}
