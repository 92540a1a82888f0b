//! What GREEN_STATS=1 adds to the exit summary (ARCHITECTURE.md, Diagnostics): waits by
//! family, offloaded calls' latency percentiles, the longest run without a switch and whose
//! it was, peak stack memory (stackmem.rs counts it).
//!
//! Hub thread only (atomics with Relaxed order, so the statics need no unsafe cell). The
//! run timing and the wait counts happen only when GREEN_STATS=1 asked for them; runs are
//! timed in CPU counter cycles (`clock::cycles`, a few cycles a switch where a clock read
//! costs tens of nanoseconds), turned into time at exit with the counter's rate over the
//! whole run. Offloaded calls are timed always (each is a round trip to another OS thread,
//! which two clock reads do not change).

use super::introspect_abi::wait;
use super::thread::{Green, State};
use crate::sys::clock;
use crate::sys::log::Line;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

static ENABLED: AtomicBool = AtomicBool::new(false);
/// Parks by what the thread waited on, then yields (the last slot).
static WAITS: [AtomicU64; wait::KINDS + 1] = [const { AtomicU64::new(0) }; wait::KINDS + 1];
/// Offloaded calls' latencies: 4 buckets per power of two of nanoseconds.
const SUB: usize = 4;
static LATENCY: [AtomicU64; 64 * SUB] = [const { AtomicU64::new(0) }; 64 * SUB];
/// When the open run started, in counter cycles (0: none is open).
static RUN_START: AtomicU64 = AtomicU64::new(0);
/// The longest run so far, in counter cycles.
static LONGEST_CYCLES: AtomicU64 = AtomicU64::new(0);
/// CLOCK_MONOTONIC and the counter when stats were enabled: the counter's rate at exit.
static ENABLED_AT: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static LONGEST_ID: AtomicU64 = AtomicU64::new(0);
static LONGEST_NAME: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];

pub fn enable() {
    ENABLED_AT[0].store(clock::monotonic_ns(), Relaxed);
    ENABLED_AT[1].store(clock::cycles(), Relaxed);
    ENABLED.store(true, Relaxed);
    super::stackmem::measure_depth();
}

#[inline(always)]
pub fn enabled() -> bool {
    ENABLED.load(Relaxed)
}

/// An offloaded call took `ns` from submission to collection.
pub fn offloaded(ns: u64) {
    let slot = &LATENCY[bucket(ns)];
    slot.store(slot.load(Relaxed) + 1, Relaxed);
}

fn bucket(ns: u64) -> usize {
    if ns < SUB as u64 {
        return ns as usize;
    }
    let power = 63 - ns.leading_zeros() as usize;
    let fraction = ((ns >> (power - 2)) & (SUB as u64 - 1)) as usize;
    (power - 1) * SUB + fraction
}

/// The largest value in a bucket.
fn bucket_top(index: usize) -> u64 {
    if index < SUB {
        return index as u64;
    }
    let (power, fraction) = (index / SUB + 1, (index % SUB) as u64);
    ((SUB as u64 + fraction + 1) << (power - 2)) - 1
}

/// `g` is switched in (`running`: its own code runs now, rather than the scheduler on the
/// root's stack): a run starts. Ends the run before it, if one was open.
///
/// # Safety
/// Hub thread; GREEN_STATS asked; the previous running thread's record is still live.
pub unsafe fn switched_in(previous: *const Green, running: bool) {
    let now = clock::cycles();
    // SAFETY: live (caller).
    unsafe { end_run(previous, now) };
    RUN_START.store(if running { now } else { 0 }, Relaxed);
}

/// `g`, the running thread, switches out, parked or queued again: count what it waits on
/// (or the yield) and end its run.
///
/// # Safety
/// Hub thread; GREEN_STATS asked; `g` is current and live.
pub unsafe fn switched_out(g: *mut Green) {
    // SAFETY: live (caller); only the hub thread touches it.
    let record = unsafe { &*g };
    let kind = if record.state == State::Parked { wait_kind(record) } else { wait::KINDS };
    WAITS[kind].store(WAITS[kind].load(Relaxed) + 1, Relaxed);
    // SAFETY: as above.
    unsafe { end_run(g, clock::cycles()) };
    RUN_START.store(0, Relaxed);
}

fn wait_kind(g: &Green) -> usize {
    // SAFETY: WaitingOn is `#[repr(C, u8)]`: its first byte is the tag.
    let tag = unsafe { *(&g.waiting_on as *const _ as *const u8) } as usize;
    tag.min(wait::KINDS - 1)
}

/// # Safety
/// `g` is null or live.
unsafe fn end_run(g: *const Green, now: u64) {
    let start = RUN_START.load(Relaxed);
    // SAFETY: null or live (caller).
    let Some(record) = (unsafe { g.as_ref() }) else { return };
    if start == 0 || now.saturating_sub(start) <= LONGEST_CYCLES.load(Relaxed) {
        return;
    }
    LONGEST_CYCLES.store(now - start, Relaxed);
    LONGEST_ID.store(record.id, Relaxed);
    for (i, word) in LONGEST_NAME.iter().enumerate() {
        let bytes: [u8; 8] = record.name[i * 8..i * 8 + 8].try_into().unwrap_or_default();
        word.store(u64::from_ne_bytes(bytes), Relaxed);
    }
}

/// The longest run in nanoseconds: its cycles at the counter's rate since `enable`.
fn longest_run_ns() -> u64 {
    let ns = clock::monotonic_ns().saturating_sub(ENABLED_AT[0].load(Relaxed));
    let cycles = clock::cycles().saturating_sub(ENABLED_AT[1].load(Relaxed));
    let longest = u128::from(LONGEST_CYCLES.load(Relaxed));
    u64::try_from(longest * u128::from(ns) / u128::from(cycles.max(1))).unwrap_or(u64::MAX)
}

/// The lines GREEN_STATS=1 adds at exit, after the summary line.
pub fn print(peak_green: usize) {
    let mut line = Line::new();
    line.push(b"stats waits:");
    for (kind, count) in WAITS.iter().enumerate() {
        let count = count.load(Relaxed);
        if count > 0 {
            let name = wait::NAMES.get(kind).copied().unwrap_or("yield");
            let _ = write!(line, " {}={}", name, count);
        }
    }
    line.emit();
    print_latency();
    let mut line = Line::new();
    let _ = write!(line, "stats longest_run={}us thread={}", longest_run_ns() / 1000, LONGEST_ID.load(Relaxed));
    let name: [u8; 16] = core::array::from_fn(|i| LONGEST_NAME[i / 8].load(Relaxed).to_ne_bytes()[i % 8]);
    let len = name.iter().position(|&b| b == 0).unwrap_or(16);
    if len > 0 {
        line.push(b" name=\"");
        line.push(&name[..len]);
        line.push(b"\"");
    }
    let peak_stack = super::stackmem::peak();
    let _ = write!(line, " peak_green={} peak_stack_kib={}", peak_green, peak_stack / 1024);
    let _ = write!(line, " deepest_stack_kib={}", super::stackmem::deepest().div_ceil(1024));
    line.emit();
}


fn print_latency() {
    let counts: [u64; 64 * SUB] = core::array::from_fn(|i| LATENCY[i].load(Relaxed));
    let total: u64 = counts.iter().sum();
    let mut line = Line::new();
    let _ = write!(line, "stats offloaded_calls={}", total);
    if total > 0 {
        for (label, per_mille) in [("p50", 500), ("p90", 900), ("p99", 990), ("max", 1000)] {
            let _ = write!(line, " {}={}us", label, percentile(&counts, total, per_mille) / 1000);
        }
    }
    line.emit();
}

/// The smallest bucket top below which `per_mille` of the samples fall.
fn percentile(counts: &[u64], total: u64, per_mille: u64) -> u64 {
    let wanted = (total * per_mille).div_ceil(1000).max(1);
    let mut seen = 0;
    for (index, &count) in counts.iter().enumerate() {
        seen += count;
        if seen >= wanted {
            return bucket_top(index);
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use crate::runtime::stats::{bucket, bucket_top, percentile, SUB};

    #[test]
    fn buckets_hold_their_values() {
        for ns in [0u64, 1, 3, 4, 5, 7, 8, 1000, 1023, 1024, 123_456_789, u64::MAX / 3] {
            let b = bucket(ns);
            assert!(bucket_top(b) >= ns, "{ns} above its bucket's top");
            assert!(b < 64 * SUB);
            if b > 0 {
                assert!(bucket_top(b - 1) < ns, "{ns} belongs to an earlier bucket");
            }
        }
    }

    #[test]
    fn percentiles() {
        let mut counts = [0u64; 64 * SUB];
        for ns in 1..=100u64 {
            counts[bucket(ns * 1000)] += 1;
        }
        let p50 = percentile(&counts, 100, 500);
        assert!((50_000..60_000).contains(&p50), "{p50}");
        assert!(percentile(&counts, 100, 1000) >= 100_000);
    }
}
