//! A value behind a spin lock, for the few structures that threads outside the hub share with
//! it (the offload queues, the timers of hooks/timer_thread.rs). Held only for a few
//! instructions, never across a call that can park or block, so a waiter spins briefly.
//! Green threads are never preempted inside this library (preempt.rs), so a green holder
//! always lets go before another green thread can ask.

use core::sync::atomic::{AtomicBool, Ordering};

pub struct SpinLocked<T> {
    locked: AtomicBool,
    value: core::cell::UnsafeCell<T>,
}

// SAFETY: the value is only reached through `with`, which holds the lock.
unsafe impl<T> Sync for SpinLocked<T> {}

impl<T> SpinLocked<T> {
    pub const fn new(value: T) -> Self {
        SpinLocked { locked: AtomicBool::new(false), value: core::cell::UnsafeCell::new(value) }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        while self.locked.swap(true, Ordering::Acquire) {
            core::hint::spin_loop();
        }
        // SAFETY: we hold the lock.
        let result = f(unsafe { &mut *self.value.get() });
        self.locked.store(false, Ordering::Release);
        result
    }

    /// In a forked child: a thread that held the lock in the parent does not exist here.
    pub fn unlock_in_child(&self) {
        self.locked.store(false, Ordering::Release);
    }
}
