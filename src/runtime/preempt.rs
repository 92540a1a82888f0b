//! Preemption: no green thread keeps the OS thread for ever (ARCHITECTURE.md, Preemption).
//!
//! As Go does since 1.14, asynchronously, with a signal. Once the program has a second
//! green thread, a POSIX timer on the hub thread's *CPU-time* clock sends SIGURG to the hub
//! thread (SIGEV_THREAD_ID) every half slice of CPU time it uses. A hub that waits in
//! epoll, or a thread blocked in the kernel, uses no CPU, so an idle or I/O-bound program
//! gets no tick at all; a busy one gets two per slice (10 ms by default), each costing a few
//! microseconds. The handler checks (Go's sysmon + `wantAsyncPreempt`):
//!
//! * whether the scheduler switched since the last tick: then nobody overran; nothing to do;
//!   and whether this is the second tick in a row without a switch (`TICKS_PER_SLICE`):
//!   only then has the running thread surely had its slice;
//! * whether any other green thread is alive: if not, the tick stops until the next spawn;
//! * whether the interrupted instruction is a safe point (`isAsyncSafePoint`): program code,
//!   not the C library, the loader, libgcc_s, libstdc++, this library (codemap.rs), and no
//!   signal handler running. If so it rewrites the interrupted context to call the yield
//!   (the arch file); if not it sets `slice::set_due`, and the next hook on the fair path
//!   (a zero-timeout poll, a failed trylock, ...) yields instead ([`yield_if_due`]).
//!
//! SIGURG is the program's too: ticks are told apart by si_code SI_TIMER and our cookie in
//! si_value; any other SIGURG goes to the action the program installed through our
//! `sigaction` hook, which records it here instead of replacing our handler ([`sigaction`]).
//! The handler is installed with SA_RESTART and never counts as a program's handler
//! (runtime/signals.rs), so the program's calls do not see EINTR from it.

use super::program_action::ProgramAction;
use super::signals::signal_depth;
use super::{codemap, green, hub, slice, state, watchdog};
use crate::sys::{clock, log, raw};
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering::Relaxed};

#[cfg(target_arch = "x86_64")]
use super::preempt_x86_64 as arch;

/// Elsewhere preemption stays off (`configure`); these are never reached.
#[cfg(not(target_arch = "x86_64"))]
mod arch {
    pub fn init(_entry: extern "C" fn(usize)) {}
    pub unsafe fn interrupted_pc(_context: *mut core::ffi::c_void) -> usize {
        0
    }
    pub unsafe fn redirect(_context: *mut core::ffi::c_void) {}
}

/// The preemption signal: ignored by default, and rarely used (Go chose it for that).
pub const SIGNAL: c_int = super::signals::PREEMPT;
/// si_value of our ticks.
const COOKIE: usize = 0x6772_6565_6e00;

/// Whether preemption is on (GREEN_PREEMPT).
static ENABLED: AtomicBool = AtomicBool::new(false);
/// Whether the tick runs now, for preemption, the watchdog or both.
static ARMED: AtomicBool = AtomicBool::new(false);
/// Whether the tick was ever armed (the real mask has left the tick's signal unblocked since).
static TICKED: AtomicBool = AtomicBool::new(false);
/// The tick's timer could not be had: neither preemption nor the watchdog runs.
static NO_TIMER: AtomicBool = AtomicBool::new(false);
/// The kernel's id of the hub's tick timer (-1: none in this process).
static TIMER: AtomicI32 = AtomicI32::new(-1);
/// The switch count the previous tick saw.
static LAST_SEEN: AtomicU64 = AtomicU64::new(u64::MAX);
/// Ticks in a row that found no switch since the one before.
static QUIET_TICKS: AtomicU64 = AtomicU64::new(0);
/// Ticks per slice. A thread is preempted at the TICKS_PER_SLICE-th quiet tick in a row, so
/// it has run for between one slice and one slice plus a tick period (with one tick per
/// slice that would be up to two slices: a thread switched in just after a tick is seen
/// running by the next one, one slice later, and preempted only at the one after that).
const TICKS_PER_SLICE: u64 = 2;

/// The tick's period: a fraction of the slice.
fn tick_period_ns() -> u64 {
    slice::length_ns() / TICKS_PER_SLICE
}

/// The program's own action for SIGNAL while our handler holds the kernel's.
static PROGRAM: ProgramAction = ProgramAction::new();

/// Applies the settings, at start.
pub fn configure(enabled: bool, slice_ns: u64) {
    slice::set_length_ns(slice_ns);
    if enabled && cfg!(not(target_arch = "x86_64")) {
        log::log!(Info, "preemption is not available on this architecture: green threads switch only when they block or yield");
        return;
    }
    ENABLED.store(enabled, Relaxed);
}

/// A green thread was created: make sure the tick runs, for preemption or the watchdog
/// (runtime/watchdog.rs), which runs on the same tick even with preemption off. True when
/// the tick runs for the first time: the real mask must then stop blocking its signal
/// (signals.rs, PREEMPT; the caller has sigroute resync it).
///
/// # Safety
/// Hub thread only.
pub unsafe fn arm_if_needed() -> bool {
    let preempt = ENABLED.load(Relaxed);
    if !(preempt || watchdog::enabled()) || ARMED.load(Relaxed) || NO_TIMER.load(Relaxed) {
        return false;
    }
    let mut timer = TIMER.load(Relaxed);
    if timer < 0 {
        // SAFETY: hub thread (caller).
        timer = unsafe { create() };
        if timer < 0 {
            NO_TIMER.store(true, Relaxed);
            ENABLED.store(false, Relaxed);
            return false;
        }
    }
    ARMED.store(true, Relaxed);
    let first = !TICKED.swap(true, Relaxed);
    if first {
        super::signals::tick_armed();
    }
    // Only preemption keeps `due` for the fair path; without it the fair path reads the clock.
    slice::set_ticking(preempt);
    watchdog::new_turn();
    set_timer(timer, tick_period_ns(), tick_period_ns());
    first
}

/// Installs the handler (once per process) and creates the hub thread's tick timer.
/// Returns the timer id, or -1 (preemption then stays off, said once in the log).
///
/// # Safety
/// Hub thread only.
unsafe fn create() -> i32 {
    arch::init(preempted);
    codemap::refresh();
    // SAFETY: hub thread (caller).
    if !PROGRAM.installed() && !unsafe { install_handler() } {
        return -1;
    }
    // SAFETY: all-zero bytes are a valid sigevent (plain data).
    let mut event: libc::sigevent = unsafe { core::mem::zeroed() };
    event.sigev_value = libc::sigval { sival_ptr: COOKIE as *mut c_void };
    event.sigev_signo = SIGNAL;
    event.sigev_notify = libc::SIGEV_THREAD_ID;
    event.sigev_notify_thread_id = crate::sys::raw::gettid();
    let mut id: c_int = -1;
    let args = [libc::CLOCK_THREAD_CPUTIME_ID as usize, &event as *const _ as usize, &mut id as *mut c_int as usize, 0, 0, 0];
    // SAFETY: timer_create reads the sigevent and writes the id, both ours and alive.
    let r = unsafe { raw::syscall6(libc::SYS_timer_create, args) };
    if r < 0 {
        log::log!(Warn, "cannot create the preemption timer (errno {}); green threads switch only when they block or yield", -r);
        return -1;
    }
    TIMER.store(id, Relaxed);
    id
}

/// Puts our handler on SIGNAL, keeping what was there as the program's action.
///
/// # Safety
/// Hub thread only.
unsafe fn install_handler() -> bool {
    // SAFETY: all-zero bytes are valid sigactions (plain data: empty masks).
    let (mut ours, mut old): (libc::sigaction, libc::sigaction) = unsafe { core::mem::zeroed() };
    ours.sa_sigaction = on_signal as *const () as usize;
    ours.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
    // SAFETY: our own readable action and writable old one.
    if unsafe { crate::sys::real::sigaction(SIGNAL, &ours, &mut old) } != 0 {
        return false;
    }
    PROGRAM.record(&old);
    PROGRAM.set_installed(true);
    true
}

/// (Re)starts the periodic tick, the first one `first_ns` from now; 0 stops it.
/// Async-signal-safe (a raw system call).
fn set_timer(timer: i32, first_ns: u64, period_ns: u64) {
    let spec = libc::itimerspec {
        it_interval: clock::ns_to_timespec(period_ns),
        it_value: clock::ns_to_timespec(first_ns),
    };
    let args = [timer as usize, 0, &spec as *const _ as usize, 0, 0, 0];
    // SAFETY: timer_settime reads our itimerspec; a stale id gives EINVAL, nothing else.
    unsafe { raw::syscall6(libc::SYS_timer_settime, args) };
}

extern "C" fn on_signal(signal: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let is_tick = unsafe { (*info).si_code == libc::SI_TIMER && (*info).si_value().sival_ptr as usize == COOKIE };
    if !is_tick {
        // SAFETY: as above; the program's action gets what the kernel gave us.
        unsafe { chain(signal, info, context) };
        return;
    }
    if !state::on_hub_thread() {
        return;
    }
    let switches = slice::switches();
    if LAST_SEEN.swap(switches, Relaxed) != switches {
        QUIET_TICKS.store(0, Relaxed);
        watchdog::new_turn();
        return; // the scheduler switched since the last tick: nobody overran
    }
    let quiet = QUIET_TICKS.load(Relaxed) + 1;
    QUIET_TICKS.store(quiet, Relaxed);
    if quiet < TICKS_PER_SLICE {
        return; // the running thread may not have had its whole slice yet
    }
    if !slice::others() {
        ARMED.store(false, Relaxed);
        slice::set_ticking(false);
        set_timer(TIMER.load(Relaxed), 0, 0);
        return;
    }
    // SAFETY: the kernel's ucontext for this signal, on the hub thread.
    let report = unsafe { watchdog::on_tick(context) };
    // SAFETY: the kernel's ucontext for this signal.
    let pc = unsafe { arch::interrupted_pc(context) };
    let unsafe_point = signal_depth::running() || codemap::is_excluded(pc);
    if !ENABLED.load(Relaxed) {
        if report && !unsafe_point {
            // SAFETY: as below: the thread only prints its report in `preempted`.
            unsafe { arch::redirect(context) };
        }
        return;
    }
    if unsafe_point {
        slice::set_due();
        // Try again soon rather than a whole slice later (Go's sysmon retries too).
        let period = tick_period_ns();
        set_timer(TIMER.load(Relaxed), period / 4, period);
        return;
    }
    // SAFETY: the kernel's ucontext on the hub thread; the interrupted code is the
    // program's own (checked just above).
    unsafe { arch::redirect(context) };
}

/// A SIGURG that is not our tick: what the program asked for. Its default action, like
/// SIG_IGN, is to ignore it.
///
/// # Safety
/// In our handler, with the kernel's arguments.
unsafe fn chain(signal: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    let handler = PROGRAM.handler();
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        return;
    }
    // SAFETY: our handler of SIGNAL (caller), which the kernel already blocks in it; the
    // handler is a function (checked above).
    unsafe { PROGRAM.call(signal, info, context, PROGRAM.mask()) };
}

/// sigaction(2) for the program: on SIGNAL, while our handler holds it, records the
/// program's action (and reports the previous one) without touching the kernel's; any
/// other signal goes to the real call.
///
/// # Safety
/// As for sigaction(2): `action` is null or readable, `old` null or writable.
pub unsafe fn sigaction(signal: c_int, action: *const libc::sigaction, old: *mut libc::sigaction) -> c_int {
    if signal != SIGNAL || !PROGRAM.installed() {
        // SAFETY: the caller's arguments, as they came (SIGSYS's is kept by sud.rs,
        // SIGSEGV's by overflow.rs).
        return unsafe { super::sud::sigaction(signal, action, old) };
    }
    // SAFETY: as the caller's.
    unsafe { PROGRAM.exchange(action, old) }
}

/// Where the trampoline lands, on the preempted thread's own stack, with every register
/// of the interrupted code saved: `pc` is where it was stopped.
pub extern "C" fn preempted(pc: usize) {
    // The map may be stale (a dlopen since): check the place again with a fresh one.
    if codemap::refresh() && codemap::is_excluded(pc) {
        slice::set_due();
        return;
    }
    if !state::on_hub() {
        return;
    }
    // SAFETY: hub thread, in the program's own code (checked), no signal handler running.
    unsafe { watchdog::report() };
    if !ENABLED.load(Relaxed) {
        return; // only here for the watchdog's report
    }
    slice::count_preemption();
    // SAFETY: hub thread, no signal handler running (checked), and the interrupted code is
    // the program's own: it holds no lock of ours or of the C library.
    unsafe { yield_polling() };
    // SAFETY: as above: back to the program's code, in no hook, holding no runtime link.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        super::cancel_glibc::arm_if_due()
    };
}

/// The fair path: a hook that the program may call in a loop without ever parking (a
/// zero-timeout poll, a failed trylock) calls this; the caller yields if it has used its
/// slice (by the tick's flag, or by the clock when there is no tick).
///
/// # Safety
/// Hub thread only, outside the runtime's own state changes (a hook's entry or exit).
#[inline]
pub unsafe fn yield_if_due() {
    if !slice::others() {
        return;
    }
    let due = if slice::ticking() { slice::is_due() } else { slice::overran_by_clock(clock::monotonic_ns) };
    if due {
        // SAFETY: hub thread (caller).
        unsafe { yield_polling() };
    }
}

/// Lets the hub look at fds and timers (a busy run queue may not have let it for a while),
/// puts the threads that woke ahead of those that were already runnable (a thread that
/// waited for a timer or an fd runs next, as Go's `runnext`: a ticker beside busy threads
/// keeps its period), then lets every runnable thread run before the caller goes on.
///
/// # Safety
/// Hub thread only, outside the runtime's own state changes.
unsafe fn yield_polling() {
    // SAFETY: hub thread (caller); the borrow ends before the poll.
    let waiting = unsafe { state::rt() }.runq.len();
    // SAFETY: hub thread (caller).
    unsafe { hub::poll_events(false) };
    // SAFETY: hub thread; re-fetched after the poll.
    unsafe { state::rt() }.runq.rotate(waiting);
    // SAFETY: hub thread (caller).
    unsafe { green::requeue_current() };
}

/// In a forked child: the parent's timer is not inherited (POSIX); the next spawn makes one.
pub fn forget_in_child() {
    TIMER.store(-1, Relaxed);
    ARMED.store(false, Relaxed);
    slice::set_ticking(false);
    // Nor is Syscall User Dispatch.
    super::sud::after_fork();
}
