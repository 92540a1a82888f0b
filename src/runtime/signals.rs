//! What signal handlers that ran on the hub thread leave for the hub: atomics only, since a
//! handler may interrupt anything, the scheduler included. A leaf of the runtime.

/// Signal handlers that ran on the hub thread since the hub last looked: bit 0, one that
/// asked for SA_RESTART; bit 1, one that did not. Also how many have run in all, so that a
/// wait can tell a handler that ran while it was parked from one that ran before.
pub mod pending_signals {
    use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};

    static PENDING: AtomicU8 = AtomicU8::new(0);
    static HANDLED: AtomicU32 = AtomicU32::new(0);

    fn bits(restart: bool) -> u8 {
        if restart {
            1
        } else {
            2
        }
    }

    pub fn note(restart: bool) {
        PENDING.fetch_or(bits(restart), Ordering::Relaxed);
        HANDLED.fetch_add(1, Ordering::Relaxed);
    }

    /// Some(restart) if any handler ran; restart only if every one asked for it.
    pub fn take() -> Option<bool> {
        match PENDING.swap(0, Ordering::Relaxed) {
            0 => None,
            bits => Some(bits == 1),
        }
    }

    /// Puts back what `take` returned, as not yet looked at (no new handler run).
    pub fn restore(taken: Option<bool>) {
        if let Some(restart) = taken {
            PENDING.fetch_or(bits(restart), Ordering::Relaxed);
        }
    }

    /// Handlers run on the hub thread so far.
    pub fn handled() -> u32 {
        HANDLED.load(Ordering::Relaxed)
    }
}

/// How many signal handlers are running on the hub thread (they nest).
pub mod signal_depth {
    use core::sync::atomic::{AtomicUsize, Ordering};

    static DEPTH: AtomicUsize = AtomicUsize::new(0);

    /// Whether a handler is running on the hub thread now.
    #[inline(always)]
    pub fn running() -> bool {
        DEPTH.load(Ordering::Relaxed) != 0
    }

    /// Counts one handler in until the guard drops.
    pub fn enter() -> Guard {
        DEPTH.fetch_add(1, Ordering::Relaxed);
        Guard
    }

    pub struct Guard;

    impl Drop for Guard {
        fn drop(&mut self) {
            DEPTH.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
