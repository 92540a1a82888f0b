//! What signal handlers that ran on the hub thread leave for the hub, and what they read:
//! atomics only, since a handler may interrupt anything, the scheduler included. Signal
//! sets, the reserved signals, the running thread's mask, the signals kept for the hub
//! and the program's handlers. A leaf of the runtime.

/// Signal handlers that ran on the hub thread since the hub last looked: bit 0, one that
/// asked for SA_RESTART; bit 1, one that did not. Also how many have run in all, so that a
/// wait can tell a handler that ran while it was parked from one that ran before.
pub mod pending_signals {
    use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

    #[link_section = ".data.green_hot"] // state.rs, HOT
    static PENDING: AtomicU8 = AtomicU8::new(0);
    #[link_section = ".data.green_hot"] // state.rs, HOT
    static HANDLED: AtomicU32 = AtomicU32::new(0);
    #[link_section = ".data.green_hot"] // state.rs, HOT
    static SIGNALS: AtomicU64 = AtomicU64::new(0);

    fn bits(restart: bool) -> u8 {
        2 - u8::from(restart) // 1: asked for SA_RESTART; 2: did not
    }

    /// A handler for `signal` ran in the running green thread.
    pub fn note(signal: i32, restart: bool) {
        SIGNALS.fetch_or(crate::runtime::signals::bit(signal), Ordering::Relaxed);
        PENDING.fetch_or(bits(restart), Ordering::Relaxed);
        HANDLED.fetch_add(1, Ordering::Relaxed);
    }

    /// Some(restart) if any handler ran; restart only if every one asked for it.
    pub fn take() -> Option<bool> {
        // Most calls find nothing: a plain load spares every hub write (blocking.rs) a locked
        // swap. A handler between load and swap counts as one run just after this call.
        if PENDING.load(Ordering::Relaxed) == 0 {
            return None;
        }
        match PENDING.swap(0, Ordering::Relaxed) {
            0 => None,
            bits => Some(bits == 1),
        }
    }

    /// Whether a handler ran since the hub last took the news (`take`), without taking it.
    pub fn any() -> bool {
        PENDING.load(Ordering::Relaxed) != 0
    }

    /// Puts back what `take` returned, as not yet looked at (no new handler run).
    pub fn restore(taken: Option<bool>) {
        if let Some(restart) = taken {
            PENDING.fetch_or(bits(restart), Ordering::Relaxed);
        }
    }

    /// The signals whose handlers ran since the last call.
    pub fn take_signals() -> crate::runtime::signals::SigSet {
        match SIGNALS.load(Ordering::Relaxed) {
            0 => 0, // as in `take`
            _ => SIGNALS.swap(0, Ordering::Relaxed),
        }
    }

    /// Handlers run on the hub thread so far.
    pub fn handled() -> u32 {
        HANDLED.load(Ordering::Relaxed)
    }
}

/// How many signal handlers are running on the hub thread (they nest), and where each
/// one's frames lie, so that a longjmp out of handlers (hooks/sigjmp.rs) can tell which
/// it left.
pub mod signal_depth {
    use core::sync::atomic::{AtomicUsize, Ordering};

    /// Deeper nesting than this is counted but not placed: a jump never leaves those.
    const PLACED: usize = 32;

    #[link_section = ".data.green_hot"] // state.rs, HOT
    static DEPTH: AtomicUsize = AtomicUsize::new(0);
    /// Per level: the stack pointer where the handler was entered, and the lowest address
    /// of the stack it runs on (the alternate signal stack's base; 0 when it runs on the
    /// interrupted stack, whose frames all lie above a handler's).
    static ENTRY: [AtomicUsize; PLACED] = [const { AtomicUsize::new(0) }; PLACED];
    static LOW: [AtomicUsize; PLACED] = [const { AtomicUsize::new(0) }; PLACED];

    /// Whether a handler is running on the hub thread now.
    #[inline(always)]
    pub fn running() -> bool {
        DEPTH.load(Ordering::Relaxed) != 0
    }

    /// Counts one handler in until the guard drops; it runs from `entry_sp` down, on a
    /// stack whose lowest address is `low`.
    pub fn enter(entry_sp: usize, low: usize) -> Guard {
        let level = DEPTH.fetch_add(1, Ordering::Relaxed);
        if level < PLACED {
            ENTRY[level].store(entry_sp, Ordering::Relaxed);
            LOW[level].store(low, Ordering::Relaxed);
        }
        Guard
    }

    /// A jump to a frame whose stack pointer is `target` is about to leave every handler
    /// whose own frames do not hold that frame: they count out (their guards never drop).
    /// True when it left any.
    pub fn leave_for(target: usize) -> bool {
        let before = DEPTH.load(Ordering::Relaxed);
        let mut depth = before;
        while depth > 0 && depth <= PLACED {
            let (entry, low) = (ENTRY[depth - 1].load(Ordering::Relaxed), LOW[depth - 1].load(Ordering::Relaxed));
            if target >= low && target < entry {
                break;
            }
            depth -= 1;
        }
        DEPTH.store(depth, Ordering::Relaxed);
        depth != before
    }

    pub struct Guard;

    impl Drop for Guard {
        fn drop(&mut self) {
            DEPTH.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Signal sets as the kernel lays them out: bit `n - 1` for signal `n`, signals 1 to 64.
pub type SigSet = u64;

/// The set holding only `signal` (empty for a number outside 1..=64).
#[inline(always)]
pub const fn bit(signal: i32) -> SigSet {
    if signal >= 1 && signal <= 64 {
        1 << (signal - 1)
    } else {
        0
    }
}

/// Signals the runtime keeps for itself: never blocked in the OS thread's real mask, never
/// reported in a mask or a pending set the program reads, never routed to a green thread.
/// Empty today; preemption reserves its signal here.
pub const RESERVED: SigSet = 0;

/// The signal preemption's tick uses (preempt.rs). It stays the program's too (ticks are told
/// apart by their siginfo), so a program may block it in its own masks, but once the tick
/// has run the OS thread's real mask never does: a blocked tick would stop preemption for
/// every green thread. Until then (a process that never had two green threads) it is blocked
/// as the program's masks say, so a program that blocks SIGURG and reads it from a signalfd
/// or sigwait (PostgreSQL wakes its backends so) finds it pending as natively.
pub const PREEMPT: i32 = libc::SIGURG;

/// Whether the tick has been armed in this process (then PREEMPT is never blocked).
static TICKING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// The tick is about to run: from now on the real mask leaves PREEMPT unblocked.
pub fn tick_armed() {
    TICKING.store(true, core::sync::atomic::Ordering::Relaxed);
}

/// Whether raw system calls are trapped in this process (runtime/sud.rs): then SIGSYS is
/// never blocked either, since the kernel kills a thread that traps with SIGSYS blocked.
static TRAPPING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Raw system calls are trapped from now on: the real mask leaves SIGSYS unblocked.
pub fn trapping_raw_syscalls() {
    TRAPPING.store(true, core::sync::atomic::Ordering::Relaxed);
}

/// What no real mask and no handler's kernel mask may block now.
pub fn never_blocked() -> SigSet {
    let ticking = TICKING.load(core::sync::atomic::Ordering::Relaxed);
    let trapping = TRAPPING.load(core::sync::atomic::Ordering::Relaxed);
    (if ticking { bit(PREEMPT) } else { 0 }) | (if trapping { bit(libc::SIGSYS) } else { 0 })
}

/// Whether `signal` is one of the runtime's own (`RESERVED`).
#[inline(always)]
pub fn is_reserved(signal: i32) -> bool {
    let reserved = RESERVED;
    reserved & bit(signal) != 0
}

/// glibc's internal signals (SIGCANCEL, SIGSETXID): glibc silently leaves them out of every
/// mask the program sets, and so do we.
pub const GLIBC_INTERNAL: SigSet = bit(32) | bit(33);

/// Signals no mask can block (SIGKILL, SIGSTOP): the kernel drops them from every mask.
pub const UNBLOCKABLE: SigSet = bit(9) | bit(19);

/// The real mask for `blocked`, what a lone green thread blocks: less what may never be
/// blocked.
pub fn kernel_mask_for(blocked: SigSet) -> SigSet {
    settable(blocked) & !never_blocked()
}

/// What a mask the program sets may hold.
#[inline(always)]
pub const fn settable(mask: SigSet) -> SigSet {
    mask & !(RESERVED | GLIBC_INTERNAL | UNBLOCKABLE)
}

/// The running green thread's signal mask, for the wrapped handlers: a handler reads it to
/// decide whether the interrupted thread may run it (ARCHITECTURE.md, Signals). The
/// scheduler stores it whenever the running thread or its mask changes.
pub mod running {
    use crate::runtime::signals::SigSet;
    use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    static MASK: AtomicU64 = AtomicU64::new(0);
    static THREAD: AtomicUsize = AtomicUsize::new(0);

    /// `thread` (a Green's address) runs now, with `mask`.
    #[inline(always)]
    pub fn set(thread: usize, mask: SigSet) {
        MASK.store(mask, Ordering::Relaxed);
        THREAD.store(thread, Ordering::Relaxed);
    }

    #[inline(always)]
    pub fn mask() -> SigSet {
        MASK.load(Ordering::Relaxed)
    }

    #[inline(always)]
    pub fn thread() -> usize {
        THREAD.load(Ordering::Relaxed)
    }
}

/// Signals green threads wait for in sigwait, sigwaitinfo or sigtimedwait: a handler leaves
/// such a signal to the hub, which hands it to the waiter (natively the kernel gives a
/// process signal to a thread waiting for it as readily as to one with a handler).
pub mod sigwaited {
    use crate::runtime::signals::SigSet;
    use core::sync::atomic::{AtomicU64, Ordering};

    #[link_section = ".data.green_hot"] // state.rs, HOT
    static SET: AtomicU64 = AtomicU64::new(0);

    pub fn store(set: SigSet) {
        SET.store(set, Ordering::Relaxed);
    }

    #[inline(always)]
    pub fn get() -> SigSet {
        SET.load(Ordering::Relaxed)
    }
}

/// Signals the kernel delivered to the hub thread whose handler the running green thread
/// could not run (it blocks the signal): kept for the hub (signals_kept.rs).
pub(crate) use super::signals_kept as deferred;

/// The program's handlers, as it installed them (signal_handlers.rs).
pub(crate) use super::signal_handlers as handlers;

/// How many green threads block each signal and how many wait for it in sigwait, out of
/// how many are counted, and the mask last given to the kernel. The OS thread's real mask
/// blocks a signal only while no green thread accepts it (every counted one blocks it), so
/// the kernel still delivers whatever some green thread would take (ARCHITECTURE.md,
/// Signals). Blocks rather than accepts are counted because threads block few signals: a
/// thread's start and end touch only the counts of the signals it blocks.
pub struct MaskCounts {
    threads: u32,
    blocking: [u32; 64],
    waiting: [u32; 64],
    /// The OS thread's real mask as we last set it.
    pub applied: SigSet,
}

/// `n` one up (`add`) or down, never below 0.
fn step(n: u32, add: bool) -> u32 {
    if add {
        n + 1
    } else {
        n.saturating_sub(1)
    }
}

/// The indices of the bits set in `set`, lowest first.
fn set_bits(mut set: SigSet) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        let i = set.trailing_zeros() as usize;
        set &= set.wrapping_sub(1);
        (i < 64).then_some(i)
    })
}

impl MaskCounts {
    pub const fn new() -> Self {
        MaskCounts { threads: 0, blocking: [0; 64], waiting: [0; 64], applied: 0 }
    }

    /// Counts a thread with `mask` in (`add`) or out.
    pub fn count(&mut self, mask: SigSet, add: bool) {
        self.threads = step(self.threads, add);
        for i in set_bits(mask) {
            self.blocking[i] = step(self.blocking[i], add);
        }
    }

    /// Counts a thread waiting for `set` in sigwait in (`add`) or out.
    pub fn count_waiting(&mut self, set: SigSet, add: bool) {
        for i in set_bits(set) {
            self.waiting[i] = step(self.waiting[i], add);
        }
    }

    /// The real mask the counts call for: what no green thread accepts, less what may
    /// never be blocked.
    pub fn kernel_mask(&self) -> SigSet {
        let blocked = (0..64).filter(|&i| self.blocking[i] >= self.threads).fold(0, |m, i| m | (1u64 << i));
        kernel_mask_for(blocked)
    }

    /// The signals some green thread waits for in sigwait.
    pub fn waited(&self) -> SigSet {
        (0..64).filter(|&i| self.waiting[i] != 0).fold(0, |m, i| m | (1u64 << i))
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::signals::{bit, set_bits, settable, tick_armed, MaskCounts, PREEMPT};

    #[test]
    fn set_bits_lists_each_set_bit_once() {
        assert_eq!(set_bits(0).count(), 0);
        assert_eq!(set_bits(0b1001 | 1 << 63).collect::<Vec<_>>(), [0, 3, 63]);
    }

    #[test]
    fn a_signal_is_blocked_only_while_every_counted_thread_blocks_it() {
        let mut counts = MaskCounts::new();
        assert_eq!(counts.kernel_mask(), settable(u64::MAX) & counts.kernel_mask());
        counts.count(0, true);
        counts.count(bit(10), true);
        assert_eq!(counts.kernel_mask() & bit(10), 0);
        counts.count(0, false);
        assert_eq!(counts.kernel_mask() & bit(10), bit(10));
    }

    #[test]
    fn the_kernel_blocks_only_what_no_thread_accepts() {
        let mut counts = MaskCounts::new();
        counts.count(bit(10) | bit(12), true);
        counts.count(bit(12) | bit(14), true);
        assert_eq!(counts.kernel_mask(), bit(12));
        counts.count(bit(12) | bit(14), false);
        assert_eq!(counts.kernel_mask(), bit(10) | bit(12));
    }

    #[test]
    fn internal_and_unblockable_signals_are_never_blocked() {
        tick_armed();
        let mut counts = MaskCounts::new();
        counts.count(u64::MAX, true);
        assert_eq!(counts.kernel_mask(), settable(u64::MAX) & !bit(PREEMPT));
        assert_eq!(counts.kernel_mask() & (bit(9) | bit(19) | bit(32) | bit(33)), 0);
    }

    #[test]
    fn the_preemption_signal_is_settable_but_never_blocked_in_the_kernel() {
        tick_armed();
        assert_ne!(settable(bit(PREEMPT)), 0);
        let mut counts = MaskCounts::new();
        counts.count(bit(PREEMPT), true);
        assert_eq!(counts.kernel_mask() & bit(PREEMPT), 0);
    }

    #[test]
    fn waiting_counts_nest() {
        let mut counts = MaskCounts::new();
        counts.count_waiting(bit(10), true);
        counts.count_waiting(bit(10) | bit(12), true);
        counts.count_waiting(bit(10), false);
        assert_eq!(counts.waited(), bit(10) | bit(12));
    }
}
