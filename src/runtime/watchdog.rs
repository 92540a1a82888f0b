//! The watchdog (`GREEN_WATCHDOG_MS`; ARCHITECTURE.md, Preemption): names a green thread
//! that has run longer than the limit without a switch, for how long, and where it was, on
//! stderr, at most once per thread per second. gevent's `max_blocking_time`, for C as well.
//!
//! * **Measuring** rides on the preemption tick (preempt.rs), which runs on the hub
//!   thread's CPU-time clock while a thread computes (and for the watchdog alone when
//!   preemption is off). A tick that finds a new switch count marks the time
//!   ([`new_turn`]); a later tick that finds the same count knows the running thread has
//!   had the OS thread since the mark (so the figure is low by up to one slice).
//! * **Capturing**, in the tick's signal handler ([`on_tick`]): once past the limit, the
//!   interrupted PC and the frame-pointer chain (backtrace.rs: reads of the thread's own
//!   stack within its bounds, no allocation, no lock) go into the one slot here, tagged with
//!   the thread, and the hub is poked. One slot is enough: one thread runs at a time, and
//!   its report is printed before the scheduler runs another.
//! * **Printing**, outside the handler ([`report`]): by the hub at its next turn, that is at
//!   the thread's next switch (sigroute.rs `route_kept`), or sooner by the thread itself when
//!   the tick could send it through the preemption trampoline, which it does only in the
//!   program's own code (preempt.rs `preempted`). Symbols come from `dladdr` there.

use super::backtrace::{self, MAX_FRAMES};
use super::signals::{deferred, running};
use super::state;
use super::thread::Green;
use crate::sys::{clock, log};
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

/// The limit in nanoseconds; 0: off.
static LIMIT_NS: AtomicU64 = AtomicU64::new(0);
/// When the tick first saw the running thread's current turn.
static MARK_NS: AtomicU64 = AtomicU64::new(0);

/// The captured report: filled by the handler while PENDING is clear, read by the hub while
/// it is set (both on the hub thread: a handler that interrupts the reader sees it set).
static PENDING: AtomicBool = AtomicBool::new(false);
static THREAD: AtomicUsize = AtomicUsize::new(0);
static ID: AtomicU64 = AtomicU64::new(0);
static RAN_NS: AtomicU64 = AtomicU64::new(0);
static FRAMES: AtomicUsize = AtomicUsize::new(0);
static PCS: [AtomicUsize; MAX_FRAMES] = [const { AtomicUsize::new(0) }; MAX_FRAMES];
/// The last capture, so that a thread still running is not captured at every tick.
static LAST_THREAD: AtomicUsize = AtomicUsize::new(0);
static LAST_NS: AtomicU64 = AtomicU64::new(0);

/// At most one report per thread in this long.
const QUIET_NS: u64 = clock::NANOS_PER_SEC;

/// Applies the setting, at start (0: off).
pub fn configure(limit_ms: u64) {
    if limit_ms != 0 && cfg!(not(target_arch = "x86_64")) {
        log::log!(Warn, "the watchdog is not available on this architecture");
        return;
    }
    LIMIT_NS.store(limit_ms.saturating_mul(1_000_000), Relaxed);
}

/// Whether the watchdog is on (then the tick runs even without preemption).
pub fn enabled() -> bool {
    LIMIT_NS.load(Relaxed) != 0
}

/// The running thread's turn starts now, as far as the tick can tell. Async-signal-safe.
pub fn new_turn() {
    if enabled() {
        MARK_NS.store(clock::monotonic_ns(), Relaxed);
    }
}

/// From the tick's handler when the running thread has not switched since the last tick:
/// captures its backtrace if it has run past the limit. Returns whether a report waits to be
/// printed. Async-signal-safe.
///
/// # Safety
/// In the tick's handler on the hub thread, with the kernel's ucontext.
pub unsafe fn on_tick(context: *mut core::ffi::c_void) -> bool {
    let limit = LIMIT_NS.load(Relaxed);
    if limit == 0 || PENDING.load(Relaxed) {
        return limit != 0;
    }
    let now = clock::monotonic_ns();
    let ran = now.saturating_sub(MARK_NS.load(Relaxed));
    let thread = running::thread();
    let again = LAST_THREAD.load(Relaxed) == thread && now.saturating_sub(LAST_NS.load(Relaxed)) < QUIET_NS;
    if ran < limit || thread == 0 || again {
        return false;
    }
    let g = thread as *const Green;
    // SAFETY: the running thread's record is live while it runs; these fields are set
    // before it first runs and never change, so the interrupted code is not writing them.
    let (id, low, size) = unsafe {
        let id = core::ptr::addr_of!((*g).id).read_volatile();
        (id, core::ptr::addr_of!((*g).stack_low).read_volatile(), core::ptr::addr_of!((*g).stack_size).read_volatile())
    };
    // SAFETY: the kernel's ucontext (caller).
    let regs = unsafe { backtrace::registers(context) };
    let (low, high) = backtrace::bounds(low, size, regs.sp);
    let mut pcs = [0usize; MAX_FRAMES];
    // SAFETY: the bounds are the interrupted thread's stack, mapped while it runs (a green
    // stack, or the main stack between its top and the live stack pointer).
    let frames = unsafe { backtrace::capture(regs, low, high, &mut pcs) };
    for (slot, pc) in PCS.iter().zip(pcs) {
        slot.store(pc, Relaxed);
    }
    FRAMES.store(frames, Relaxed);
    THREAD.store(thread, Relaxed);
    ID.store(id, Relaxed);
    RAN_NS.store(ran, Relaxed);
    LAST_THREAD.store(thread, Relaxed);
    LAST_NS.store(now, Relaxed);
    PENDING.store(true, Relaxed);
    deferred::poke();
    true
}

/// Prints the captured report, if any and if its thread was not reported in the last
/// second.
///
/// # Safety
/// Hub thread only, outside signal handlers and the runtime's own state changes.
pub unsafe fn report() {
    if !PENDING.load(Relaxed) {
        return;
    }
    let mut pcs = [0usize; MAX_FRAMES];
    let frames = FRAMES.load(Relaxed).min(MAX_FRAMES);
    for (pc, slot) in pcs.iter_mut().zip(&PCS) {
        *pc = slot.load(Relaxed);
    }
    let (thread, id, ran) = (THREAD.load(Relaxed), ID.load(Relaxed), RAN_NS.load(Relaxed));
    PENDING.store(false, Relaxed);
    // SAFETY: hub thread (caller).
    let rt = unsafe { state::rt() };
    let now = clock::monotonic_ns();
    // SAFETY: records in the table are live; the id tells a reused address apart.
    let record = rt.threads.values().copied().find(|&g| g as usize == thread && unsafe { (*g).id } == id);
    let mut line = log::Line::new();
    let _ = write!(line, "watchdog: thread {id}");
    if let Some(g) = record {
        let root = g == rt.root;
        // SAFETY: a live record (above), on the hub thread outside its own code.
        let g = unsafe { &mut *g };
        if g.watchdog_reported_ns != 0 && now.saturating_sub(g.watchdog_reported_ns) < QUIET_NS {
            return;
        }
        g.watchdog_reported_ns = now;
        name(&mut line, g, root);
    }
    let _ = write!(line, " has run {} ms without a switch, at:", ran / 1_000_000);
    line.emit();
    for (index, &pc) in pcs[..frames].iter().enumerate() {
        let mut line = log::Line::new();
        backtrace::describe(&mut line, index, pc);
        line.emit();
    }
}

/// ` "name"` for a thread the program named, ` (main)` for the main thread.
fn name(line: &mut log::Line, g: &Green, root: bool) {
    if root {
        line.push(b" (main)");
        return;
    }
    let end = g.name.iter().position(|&b| b == 0).unwrap_or(g.name.len());
    if g.name[0] != 0 {
        line.push(b" \"");
        line.push(&g.name[..end]);
        line.push(b"\"");
    }
}
