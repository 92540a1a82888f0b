//! Bytes of green stacks mapped now and at most: stack.rs counts, the GREEN_STATS summary and
//! `green ps` read (introspect_abi.rs, `extra`). A leaf of the runtime. Hub thread only;
//! atomics with Relaxed order so that the words may be copied from outside.

use super::introspect_abi::extra;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

static EXTRA: [AtomicU64; extra::COUNT] = [const { AtomicU64::new(0) }; extra::COUNT];
/// Whether stacks are measured as their pages go (GREEN_STATS=1: stack.rs, `give_back`).
static MEASURE_DEPTH: AtomicBool = AtomicBool::new(false);
/// The deepest stack use seen, in bytes (stack.rs, `GreenStack::deepest_use`).
static DEEPEST: AtomicU64 = AtomicU64::new(0);

/// The address `green ps` finds these counters at.
pub fn address() -> u64 {
    EXTRA.as_ptr() as u64
}

/// A stack mapping of `bytes` was made (`true`) or unmapped.
pub fn mapped(bytes: usize, made: bool) {
    let before = EXTRA[extra::STACK_BYTES].load(Relaxed);
    let now = if made { before + bytes as u64 } else { before.saturating_sub(bytes as u64) };
    EXTRA[extra::STACK_BYTES].store(now, Relaxed);
    if now > EXTRA[extra::PEAK_STACK_BYTES].load(Relaxed) {
        EXTRA[extra::PEAK_STACK_BYTES].store(now, Relaxed);
    }
}

/// The most stack memory mapped at once.
pub fn peak() -> u64 {
    EXTRA[extra::PEAK_STACK_BYTES].load(Relaxed)
}

/// From now on, measure how deep each thread went into its stack.
pub fn measure_depth() {
    MEASURE_DEPTH.store(true, Relaxed);
}

pub fn measuring_depth() -> bool {
    MEASURE_DEPTH.load(Relaxed)
}

/// A thread went `bytes` deep into its stack.
pub fn used(bytes: usize) {
    DEEPEST.fetch_max(bytes as u64, Relaxed);
}

/// The deepest stack use seen, for choosing GREEN_STACK_SIZE.
pub fn deepest() -> u64 {
    DEEPEST.load(Relaxed)
}
