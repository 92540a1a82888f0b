//! Signals the kernel delivered to the hub thread whose handler the running green thread
//! could not run (it blocks the signal): kept with their siginfo until the hub hands them
//! to a thread that can (runtime/sigroute.rs; ARCHITECTURE.md, Signals). Reached as
//! `signals::deferred`.
//!
//! One slot per signal holds the oldest instance kept. A second instance of a standard
//! signal merges with it, as in the kernel. Realtime signals (32 and up) queue, as in the
//! kernel: each further instance, with its own siginfo (`si_value`) and target, waits in a
//! fixed pool (`EXTRA`, allocation-free: filled in signal context) and moves into the slot
//! when the hub takes the one before it. A pool that is full drops the instance (the kernel
//! refuses a sender past RLIMIT_SIGPENDING; we learn of it only once it is sent).
//!
//! Written by handlers, read by the hub, both on the hub thread: a handler runs to its end
//! before the code it interrupted goes on. `QUEUED` counts each signal's instances (slot
//! and pool); a handler that raises it from zero fills the slot and then sets the signal's
//! bit, any other adds to the pool. The reader takes the slot while the bit is set (no
//! handler writes it then), clears the bit, then lowers the count: an instance a handler
//! added in between is in the pool by then and moves into the slot, and the bit is set
//! again.
//!
//! A leaf: no runtime file is imported (signals.rs re-exports this module).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

/// The first realtime signal in the kernel's numbering (glibc keeps 32 and 33 for itself).
const FIRST_REALTIME: i32 = 32;
/// Realtime instances the pool holds beyond the one in each signal's slot.
const EXTRA_CAPACITY: usize = 256;

/// A pool entry's states.
const FREE: u8 = 0;
const FILLING: u8 = 1;
const READY: u8 = 2;

fn bit(signal: i32) -> u64 {
    if (1..=64).contains(&signal) {
        1 << (signal - 1)
    } else {
        0
    }
}

/// One queued realtime instance.
struct Extra {
    signal: i32,
    target: usize,
    /// Its place in the order instances were kept.
    sequence: u64,
    info: libc::siginfo_t,
}

struct Cells<T, const N: usize>(UnsafeCell<[T; N]>);
// SAFETY: touched only on the hub thread (its handlers and its normal code), ordered as
// the module says.
unsafe impl<T, const N: usize> Sync for Cells<T, N> {}

// SAFETY: siginfo_t is plain data; all-zero is a valid value.
static INFO: Cells<libc::siginfo_t, 65> = Cells(UnsafeCell::new(unsafe { core::mem::zeroed() }));
static FOR: [AtomicUsize; 65] = [const { AtomicUsize::new(0) }; 65];
static QUEUED: [AtomicU32; 65] = [const { AtomicU32::new(0) }; 65];
#[link_section = ".data.green_hot"] // state.rs, HOT
static BITS: AtomicU64 = AtomicU64::new(0);
#[link_section = ".data.green_hot"] // state.rs, HOT
static FRESH: AtomicBool = AtomicBool::new(false);
static STATE: [AtomicU8; EXTRA_CAPACITY] = [const { AtomicU8::new(FREE) }; EXTRA_CAPACITY];
// SAFETY: as INFO; an Extra of zeros is a free entry's content.
static EXTRA: Cells<Extra, EXTRA_CAPACITY> = Cells(UnsafeCell::new(unsafe { core::mem::zeroed() }));
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Keeps `signal` for the hub: for thread `target` (a Green's address), or 0 for whichever
/// thread can take it. From a handler on the hub thread.
///
/// # Safety
/// On the hub thread; `info` is null or a readable siginfo_t.
pub unsafe fn record(signal: i32, info: *const libc::siginfo_t, target: usize) {
    let b = bit(signal);
    if b == 0 {
        return;
    }
    // SAFETY: the caller's promise.
    let mut copy = if info.is_null() { unsafe { core::mem::zeroed() } } else { unsafe { *info } };
    copy.si_signo = signal;
    let queued = &QUEUED[signal as usize];
    if queued.fetch_add(1, Ordering::AcqRel) == 0 {
        // SAFETY: hub thread (caller); the count was zero, so the bit is clear and no
        // reader looks at this slot.
        unsafe { (*INFO.0.get())[signal as usize] = copy };
        FOR[signal as usize].store(target, Ordering::Relaxed);
        BITS.fetch_or(b, Ordering::Release);
    } else if signal < FIRST_REALTIME || !push_extra(signal, target, copy) {
        // A standard signal merges with the one kept; a full pool drops it.
        queued.fetch_sub(1, Ordering::AcqRel);
        return;
    }
    FRESH.store(true, Ordering::Release);
}

/// Puts a realtime instance in the pool; false if it is full.
fn push_extra(signal: i32, target: usize, info: libc::siginfo_t) -> bool {
    let Some(at) = STATE.iter().position(|s| s.compare_exchange(FREE, FILLING, Ordering::Acquire, Ordering::Relaxed).is_ok())
    else {
        return false;
    };
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the entry was free and is now ours alone (FILLING) until it is READY.
    unsafe { (*EXTRA.0.get())[at] = Extra { signal, target, sequence, info } };
    STATE[at].store(READY, Ordering::Release);
    true
}

/// Makes the hub look at what handlers left at its next turn, with no signal kept: the
/// watchdog's report (runtime/watchdog.rs) is printed there.
#[inline(always)]
pub fn poke() {
    FRESH.store(true, Ordering::Release);
}

/// The signals kept now.
#[inline(always)]
pub fn bits() -> u64 {
    BITS.load(Ordering::Acquire)
}

/// Whether a signal was kept since the hub last asked, without taking the news.
#[inline(always)]
pub fn is_fresh() -> bool {
    FRESH.load(Ordering::Acquire)
}

/// Whether a signal was kept since the hub last asked.
#[inline(always)]
pub fn take_fresh() -> bool {
    FRESH.load(Ordering::Relaxed) && FRESH.swap(false, Ordering::Acquire)
}

/// The thread `signal`'s oldest kept instance is for (0: any), while one is kept.
pub fn target(signal: i32) -> usize {
    FOR.get(signal as usize).map_or(0, |t| t.load(Ordering::Relaxed))
}

/// Takes `signal`'s oldest kept instance: its siginfo and target. A later instance of a
/// realtime signal stays kept (and the bit set).
///
/// # Safety
/// On the hub thread, outside handlers.
pub unsafe fn take(signal: i32) -> Option<(libc::siginfo_t, usize)> {
    let b = bit(signal);
    if BITS.load(Ordering::Acquire) & b == 0 {
        return None;
    }
    // SAFETY: hub thread (caller); the bit is set, so no handler writes this slot.
    let info = unsafe { (*INFO.0.get())[signal as usize] };
    let target = FOR[signal as usize].load(Ordering::Relaxed);
    BITS.fetch_and(!b, Ordering::Release);
    if QUEUED[signal as usize].fetch_sub(1, Ordering::AcqRel) > 1 {
        // SAFETY: hub thread, outside handlers (caller).
        unsafe { promote(signal) };
    }
    Some((info, target))
}

/// Moves `signal`'s oldest pooled instance into its slot and sets its bit again.
///
/// # Safety
/// On the hub thread, outside handlers; the count says one is pooled, and every handler
/// that pooled one has finished (it interrupted us and returned).
unsafe fn promote(signal: i32) {
    // SAFETY: hub thread outside handlers: READY entries are complete and nobody writes
    // them until they are freed below.
    let extras = unsafe { &*EXTRA.0.get() };
    let oldest = (0..EXTRA_CAPACITY)
        .filter(|&i| STATE[i].load(Ordering::Acquire) == READY && extras[i].signal == signal)
        .min_by_key(|&i| extras[i].sequence);
    let Some(at) = oldest else {
        debug_assert!(false, "a pooled instance for every count above one");
        return;
    };
    // SAFETY: the bit is clear and the count is not zero, so no handler writes the slot.
    unsafe { (*INFO.0.get())[signal as usize] = extras[at].info };
    FOR[signal as usize].store(extras[at].target, Ordering::Relaxed);
    STATE[at].store(FREE, Ordering::Release);
    BITS.fetch_or(bit(signal), Ordering::Release);
    FRESH.store(true, Ordering::Release);
}

/// Forgets every kept signal (a forked child starts with none pending).
///
/// # Safety
/// On the hub thread, outside handlers.
pub unsafe fn clear() {
    for signal in 1..=64 {
        // SAFETY: as the caller's.
        while unsafe { take(signal) }.is_some() {}
    }
}
