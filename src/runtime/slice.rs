//! Time slices: what the scheduler, the preemption tick's signal handler and the hooks'
//! fairness checks share about how long the running green thread has had the OS thread.
//! Atomics only, all touched on the hub thread (the tick's handler runs there too, in the
//! middle of anything), so Relaxed ordering is enough. A leaf of the runtime.
//!
//! * The scheduler counts every switch in (`switched`). A tick that finds the count
//!   unchanged since the previous tick knows one green thread has run for a whole slice.
//! * A tick that cannot preempt at the interrupted instruction leaves `due` set; the next
//!   hook on the fair path (a zero-timeout poll, a failed trylock, ...) then yields.
//! * Without the tick (GREEN_PREEMPT=0, or no timer), the fair path reads the clock instead
//!   (`overran_by_clock`).

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Default slice: 10 ms, as Go's forcePreemptNS.
pub const DEFAULT_NS: u64 = 10_000_000;

static SLICE_NS: AtomicU64 = AtomicU64::new(DEFAULT_NS);
static SWITCHES: AtomicU64 = AtomicU64::new(0);
static DUE: AtomicBool = AtomicBool::new(false);
/// Green threads alive besides the root (rt().live, mirrored for the tick's handler).
static OTHERS: AtomicUsize = AtomicUsize::new(0);
/// Whether the preemption tick is armed: then `due` is kept up to date for the fair path.
static TICKING: AtomicBool = AtomicBool::new(false);
/// The switch count and the time at which the fair path first saw it (clock mode).
static MARK_SWITCH: AtomicU64 = AtomicU64::new(u64::MAX);
static MARK_NS: AtomicU64 = AtomicU64::new(0);
static PREEMPTIONS: AtomicU64 = AtomicU64::new(0);
static CALLS: AtomicU64 = AtomicU64::new(0);
const CLOCK_EVERY: u64 = 16;

pub fn set_length_ns(ns: u64) {
    SLICE_NS.store(ns, Relaxed);
}

pub fn length_ns() -> u64 {
    SLICE_NS.load(Relaxed)
}

/// A green thread was just switched in: a new slice starts, owing nothing.
#[inline(always)]
pub fn switched() {
    SWITCHES.store(SWITCHES.load(Relaxed).wrapping_add(1), Relaxed);
    DUE.store(false, Relaxed);
}

/// Switches in so far.
#[inline(always)]
pub fn switches() -> u64 {
    SWITCHES.load(Relaxed)
}

/// The running thread has used its slice and should yield at its next chance.
#[inline(always)]
pub fn set_due() {
    DUE.store(true, Relaxed);
}

#[inline(always)]
pub fn is_due() -> bool {
    DUE.load(Relaxed)
}

pub fn set_others(live: usize) {
    OTHERS.store(live, Relaxed);
}

/// Whether any green thread besides the root is alive (else nobody could take a turn).
#[inline(always)]
pub fn others() -> bool {
    OTHERS.load(Relaxed) != 0
}

pub fn set_ticking(on: bool) {
    TICKING.store(on, Relaxed);
}

#[inline(always)]
pub fn ticking() -> bool {
    TICKING.load(Relaxed)
}

/// Clock mode: whether the running thread has run for a slice since the fair path first
/// saw it after its last switch in. The first look starts the count, so a thread that
/// computed before its first fair-path call is credited a little time: fairness, not
/// accounting.
pub fn overran_by_clock(now_ns: impl FnOnce() -> u64) -> bool {
    // A clock read costs more than a failed trylock on some machines (no vDSO clock):
    // look at it once every CLOCK_EVERY calls only.
    let calls = CALLS.load(Relaxed).wrapping_add(1);
    CALLS.store(calls, Relaxed);
    if !calls.is_multiple_of(CLOCK_EVERY) {
        return false;
    }
    let now_ns = now_ns();
    let switch = switches();
    if MARK_SWITCH.load(Relaxed) != switch {
        MARK_SWITCH.store(switch, Relaxed);
        MARK_NS.store(now_ns, Relaxed);
        return false;
    }
    now_ns.saturating_sub(MARK_NS.load(Relaxed)) >= length_ns()
}

pub fn count_preemption() {
    PREEMPTIONS.store(PREEMPTIONS.load(Relaxed) + 1, Relaxed);
}

pub fn preemptions() -> u64 {
    PREEMPTIONS.load(Relaxed)
}

#[cfg(test)]
mod tests {
    use crate::runtime::slice::*;

    #[test]
    fn slices_start_at_each_switch() {
        set_length_ns(1000);
        // The clock is read on every CLOCK_EVERY-th call only.
        let look = |now: u64| (0..CLOCK_EVERY).any(|_| overran_by_clock(|| now));
        switched();
        assert!(!look(5_000), "the first look only starts the count");
        assert!(!look(5_999));
        assert!(look(6_000));
        switched();
        assert!(!look(7_000), "a switch starts a new slice");
        set_length_ns(DEFAULT_NS);
        // One test: the statics are shared, and tests run in parallel.
        set_due();
        assert!(is_due());
        switched();
        assert!(!is_due());
    }
}
