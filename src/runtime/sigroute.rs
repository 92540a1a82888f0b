//! Signals per green thread: each has its own mask and pending signals, and a handler runs
//! in a green thread that does not block its signal (ARCHITECTURE.md, Signals).
//!
//! * **The real mask is derived.** The OS thread's mask blocks a signal only while no green
//!   thread accepts it (`MaskCounts`), so the kernel still delivers what some green thread
//!   would take, and keeps pending what every one blocks (sigwait's signalfd sees it).
//! * **Where a handler runs.** The wrapped handler (hooks/signal.rs) runs the program's
//!   handler at once when the running green thread accepts the signal. Otherwise it keeps
//!   the signal for the hub (`signals::deferred`), and `route_kept` gives it to a thread that
//!   takes it: one waiting for it in sigwait, else one that accepts it, parked in a call a
//!   signal interrupts first (the root before the others, as the kernel prefers the main
//!   thread), then one about to run, then any other. A thread-directed signal
//!   (pthread_kill, pthread_sigqueue) is `post`ed to its target directly.
//! * **When.** A posted signal the thread accepts wakes it (`Wake::Interrupted`: its call
//!   returns EINTR or restarts, as natively); `run_pending` then runs the handler on the
//!   thread's own stack as it resumes, before the call it was parked in returns, with its
//!   mask plus the handler's sa_mask and the signal itself blocked, as the kernel would.
//!   Not in a signal context: calls the handler makes are green ones.
//!
//! Layer 5 (below the scheduler): it wakes threads, never switches.

use super::signals::{self, bit, deferred, handlers, running, sigwaited, SigSet};
use super::state::{self, rt};
use super::{condwait, program_action};
use super::thread::{Green, State, WaitingOn, Wake};
use crate::sys::{errno, raw};
use core::ffi::c_void;

/// The kernel's sigset size (64 signals).
const SIGSET_BYTES: usize = 8;
/// The first realtime signal in the kernel's numbering: instances queue from here on.
const FIRST_REALTIME: i32 = 32;

/// rt_sigprocmask on the OS thread: sets `mask` (when given) and returns the old one.
pub fn kernel_mask(how: i32, mask: Option<SigSet>) -> SigSet {
    let mut old: SigSet = 0;
    let new = mask.as_ref().map_or(0, |m| m as *const SigSet as usize);
    let args = [how as usize, new, &mut old as *mut SigSet as usize, SIGSET_BYTES, 0, 0];
    // SAFETY: both sets are live for the call and of the kernel's size.
    unsafe { raw::syscall6(libc::SYS_rt_sigprocmask, args) };
    old
}

/// Gives the kernel the real mask the counts call for, if it changed. Handlers of signals
/// it unblocks run during the call, in the running thread, whose mask is already current.
///
/// # Safety
/// Hub thread only.
unsafe fn sync_kernel_mask() {
    // SAFETY: hub thread (caller); the borrow ends before the system call.
    let counts = unsafe { &mut rt().signal_counts };
    let wanted = counts.kernel_mask();
    if wanted != counts.applied {
        counts.applied = wanted;
        kernel_mask(libc::SIG_SETMASK, Some(wanted));
    }
}

/// The real mask again, after something other than a mask change altered what it must be
/// (the preemption tick's first run).
///
/// # Safety
/// Hub thread only.
pub unsafe fn resync_kernel_mask() {
    // SAFETY: hub thread (caller).
    unsafe { sync_kernel_mask() };
}

/// Writes the real mask again whatever was applied last: the kernel's mask changed behind
/// the runtime's back (a jump out of a handler the kernel ran leaves that handler's mask).
///
/// # Safety
/// Hub thread only, outside handlers.
pub unsafe fn rewrite_kernel_mask() {
    // SAFETY: hub thread (caller); the borrow ends before the system call.
    let counts = unsafe { &mut rt().signal_counts };
    counts.applied = counts.kernel_mask();
    kernel_mask(libc::SIG_SETMASK, Some(counts.applied));
}

/// Sets `g`'s mask (less what may never be blocked) and returns the old one.
///
/// # Safety
/// Hub thread only; `g` is live and counted (`adopt`).
pub unsafe fn set_mask(g: *mut Green, mask: SigSet) -> SigSet {
    let new = signals::settable(mask);
    // SAFETY: hub thread, `g` live (caller); the borrows end before the kernel is told.
    let old = unsafe {
        let rt = rt();
        let old = core::mem::replace(&mut (*g).signals.mask, new);
        if g == rt.current {
            // Even when unchanged: a jump out of a handler in the kernel's own sigsuspend
            // (direct_wait.rs) leaves the running mask as that call's.
            running::set(g as usize, new);
        }
        if old == new {
            return old;
        }
        rt.signal_counts.count(old, false);
        rt.signal_counts.count(new, true);
        old
    };
    // SAFETY: hub thread (caller).
    unsafe { sync_kernel_mask() };
    old
}

/// A new thread `g` starts with `mask` (its creator's).
///
/// # Safety
/// Hub thread only; `g` is live and not counted yet.
pub unsafe fn adopt(g: *mut Green, mask: SigSet) {
    // SAFETY: hub thread, `g` live (caller).
    unsafe {
        (*g).signals.mask = signals::settable(mask);
        rt().signal_counts.count((*g).signals.mask, true);
    }
}

/// `g` has ended: it accepts nothing any more, and its pending signals go with it.
///
/// # Safety
/// Hub thread only; `g` is live and counted.
pub unsafe fn forget(g: *mut Green) {
    // SAFETY: hub thread, `g` live (caller).
    unsafe {
        rt().signal_counts.count((*g).signals.mask, false);
        (*g).signals.pending = 0;
        (*g).signals.info = Vec::new();
        sync_kernel_mask();
    }
}

/// In a forked child, where `me` is the only thread: the counts and the real mask are its,
/// and nothing is pending (a child starts with no pending signal).
///
/// # Safety
/// In the child, on the hub thread; `me` is live.
pub unsafe fn after_fork_in_child(me: *mut Green) {
    // SAFETY: the child's one thread (caller); `me` is live.
    unsafe {
        let rt = rt();
        rt.signal_counts = signals::MaskCounts::new();
        rt.signal_counts.count((*me).signals.mask, true);
        (*me).signals.pending = 0;
        (*me).signals.info.clear();
        (*me).signals.waiting = 0;
        sigwaited::store(0);
        running::set(me as usize, (*me).signals.mask);
        deferred::clear();
        sync_kernel_mask();
    }
}

/// Adds `signal` to `g`'s pending signals: a standard signal merges with one already
/// pending, a realtime one (32 and up) queues behind it, as in the kernel.
///
/// # Safety
/// Hub thread only; `g` is live.
unsafe fn add_pending(g: *mut Green, signal: i32, info: libc::siginfo_t) {
    // SAFETY: hub thread, `g` live (caller).
    let s = unsafe { &mut (*g).signals };
    if s.pending & bit(signal) == 0 || signal >= FIRST_REALTIME {
        s.pending |= bit(signal);
        s.info.push(info);
    }
}

/// Takes `signal` out of `g`'s pending signals.
///
/// # Safety
/// Hub thread only; `g` is live.
unsafe fn take_own(g: *mut Green, signal: i32) -> Option<libc::siginfo_t> {
    // SAFETY: hub thread, `g` live (caller).
    let s = unsafe { &mut (*g).signals };
    if s.pending & bit(signal) == 0 {
        return None;
    }
    let at = s.info.iter().position(|i| i.si_signo == signal);
    // The oldest instance first; the signal stays pending while another is queued.
    let info = at.map(|at| s.info.remove(at));
    if !s.info.iter().any(|i| i.si_signo == signal) {
        s.pending &= !bit(signal);
    }
    info
}

/// Gives `signal` to `g` (a thread-directed signal, or one the hub routed to it): pending
/// for it, and it is woken if it takes the signal now, by its handler or in sigwait.
///
/// # Safety
/// Hub thread only; `g` is live.
pub unsafe fn post(g: *mut Green, signal: i32, info: libc::siginfo_t) {
    // SAFETY: hub thread, `g` live (caller).
    let (state, mask, waiting, waiting_on) = unsafe {
        add_pending(g, signal, info);
        ((*g).state, (*g).signals.mask, (*g).signals.waiting, (*g).waiting_on)
    };
    if state != State::Parked {
        return;
    }
    let why = if mask & bit(signal) == 0 {
        // A wait a signal does not interrupt natively (a lock, a join, a condition) loops
        // and parks again; the handler runs meanwhile, as it would.
        if let WaitingOn::Condition { .. } = waiting_on {
            condwait::interrupted();
        }
        Wake::Interrupted { restart: handlers::get(signal).is_none_or(|h| h.restarts()) }
    } else if waiting & bit(signal) != 0 {
        Wake::Ready
    } else {
        return;
    };
    // SAFETY: hub thread, `g` live (caller).
    unsafe { rt().wake(g, why) };
}

/// Moves the signals of `set` kept for the hub for `g` (or for any thread) to `g`.
///
/// # Safety
/// Hub thread only, outside handlers; `g` is live.
unsafe fn claim_kept(g: *mut Green, set: SigSet) {
    let mut bits = deferred::bits() & set;
    while bits != 0 {
        let signal = bits.trailing_zeros() as i32 + 1;
        bits &= bits - 1;
        // Every kept instance (realtime signals queue) for `g` or for any thread.
        while deferred::bits() & bit(signal) != 0 && [0, g as usize].contains(&deferred::target(signal)) {
            // SAFETY: hub thread, outside handlers (caller); `g` live.
            let Some((info, _)) = (unsafe { deferred::take(signal) }) else { break };
            // SAFETY: as above.
            unsafe { add_pending(g, signal, info) };
        }
    }
}

/// Runs the handlers of the signals pending for `g` that it does not block, lowest number
/// first, as the kernel does, each on `g`'s stack with the mask the kernel would give it.
/// Returns whether any ran. Called as `g` resumes, and when it unblocks signals.
///
/// # Safety
/// Hub thread only, outside handlers; `g` is the running thread.
#[inline(always)]
pub unsafe fn run_pending(g: *mut Green) -> bool {
    // The check every switch makes, inline: nearly always nothing is pending.
    // SAFETY: hub thread, `g` live (caller).
    let (pending, mask) = unsafe { ((*g).signals.pending, (*g).signals.mask) };
    if (pending | deferred::bits()) & !mask == 0 {
        return false;
    }
    // SAFETY: the caller's contract.
    unsafe { run_pending_slow(g) }
}

/// `run_pending` once something is pending.
///
/// # Safety
/// As for `run_pending`.
#[inline(never)]
unsafe fn run_pending_slow(g: *mut Green) -> bool {
    let mut ran = false;
    loop {
        // SAFETY: hub thread, `g` live (caller).
        let (pending, mask) = unsafe { ((*g).signals.pending, (*g).signals.mask) };
        if (pending | deferred::bits()) & !mask == 0 {
            return ran;
        }
        // SAFETY: as above.
        unsafe { claim_kept(g, !mask) };
        // SAFETY: as above.
        let ready = unsafe { (*g).signals.pending } & !mask;
        if ready == 0 {
            return ran;
        }
        let signal = ready.trailing_zeros() as i32 + 1;
        // SAFETY: as above. The wait `g` resumed from unlinks itself before the handler
        // runs: it may never return into that wait (wait_leave.rs).
        unsafe { (*g).signals.leave.run() };
        // SAFETY: as above.
        if let Some(info) = unsafe { take_own(g, signal) } {
            // SAFETY: as above.
            unsafe { run_one(g, signal, info) };
            ran = true;
        }
    }
}

/// Delivers one signal to the running thread `g`: its handler, or the default action.
///
/// # Safety
/// Hub thread only, outside handlers; `g` is the running thread.
unsafe fn run_one(g: *mut Green, signal: i32, mut info: libc::siginfo_t) {
    let Some(handler) = handlers::get(signal) else {
        program_action::default_action(signal);
        return;
    };
    handlers::delivered(signal, handler);
    if handler.flags & libc::SA_RESETHAND != 0 {
        program_action::reset_to_default(signal);
    }
    let nodefer = handler.flags & libc::SA_NODEFER != 0;
    // SAFETY: hub thread, `g` running (caller).
    let old = unsafe { (*g).signals.mask };
    let during = old | handler.mask | if nodefer { 0 } else { bit(signal) };
    // SAFETY: as above.
    unsafe { set_mask(g, during) };
    // SAFETY: ucontext_t is plain data; all-zero is a valid value. The handler sees the
    // mask it interrupted there, as in the context the kernel passes.
    let mut context: libc::ucontext_t = unsafe { core::mem::zeroed() };
    // SAFETY: uc_sigmask starts with the kernel's 64 bits.
    unsafe { (&mut context.uc_sigmask as *mut libc::sigset_t as *mut SigSet).write_unaligned(old) };
    let saved = errno::get();
    // SAFETY: the program's handler for `signal`, with a siginfo and context of our own.
    unsafe { handler.call(signal, &mut info, &mut context as *mut libc::ucontext_t as *mut c_void) };
    errno::set(saved);
    // SAFETY: as above; `g` is still the running thread (a handler returns where it ran).
    unsafe { set_mask(g, old) };
}

/// Hands every signal kept for the hub to a thread that takes it (see the top of this
/// file); a signal no thread takes now stays kept (pending for the process).
///
/// # Safety
/// Hub thread only, outside handlers.
pub unsafe fn route_kept() {
    // SAFETY: hub thread, outside handlers (caller).
    unsafe { super::watchdog::report() };
    let mut bits = deferred::bits();
    while bits != 0 {
        let signal = bits.trailing_zeros() as i32 + 1;
        bits &= bits - 1;
        // Every kept instance (realtime signals queue), each to the thread it goes to.
        while deferred::bits() & bit(signal) != 0 {
            let target = deferred::target(signal);
            // SAFETY: hub thread (caller).
            let chosen = unsafe { if target != 0 { live(target) } else { choose(signal) } };
            let Some(g) = chosen else { break };
            // SAFETY: hub thread, outside handlers (caller); `g` is live.
            let Some((info, _)) = (unsafe { deferred::take(signal) }) else { break };
            // SAFETY: as above.
            unsafe { post(g, signal, info) };
        }
    }
}

/// The green thread at address `target`, if it is still alive.
///
/// # Safety
/// Hub thread only.
unsafe fn live(target: usize) -> Option<*mut Green> {
    // SAFETY: hub thread (caller); records in the table are live.
    unsafe { rt().threads.values().copied().find(|&g| g as usize == target && (*g).state != State::Done) }
}

/// The thread a process signal goes to, best first: see the top of this file.
///
/// # Safety
/// Hub thread only.
unsafe fn choose(signal: i32) -> Option<*mut Green> {
    // SAFETY: hub thread (caller).
    let rt = unsafe { rt() };
    let b = bit(signal);
    let rank = |g: *mut Green| -> Option<u8> {
        // SAFETY: records in the thread table are live.
        let (state, waiting_on, s) = unsafe { ((*g).state, (*g).waiting_on, &(*g).signals) };
        let root = g == rt.root;
        match state {
            State::Done => None,
            _ if s.waiting & b != 0 => Some(if root { 0 } else { 1 }),
            _ if s.mask & b != 0 => None,
            State::Parked if waiting_on.interruptible() => Some(if root { 0 } else { 2 }),
            State::Runnable | State::Running => Some(3),
            State::Parked => Some(4),
        }
    };
    rt.threads.values().copied().filter_map(|g| Some((rank(g)?, g))).min_by_key(|&(r, _)| r).map(|(_, g)| g)
}

/// The signals pending for `g`, the process's included, that `g` blocks (sigpending).
///
/// # Safety
/// Hub thread only; `g` is live.
pub unsafe fn pending_blocked(g: *mut Green) -> SigSet {
    let mut kernel: SigSet = 0;
    // SAFETY: the set is live for the call and of the kernel's size.
    unsafe { raw::syscall6(libc::SYS_rt_sigpending, [&mut kernel as *mut SigSet as usize, SIGSET_BYTES, 0, 0, 0, 0]) };
    // SAFETY: hub thread, `g` live (caller).
    let (own, mask) = unsafe { ((*g).signals.pending, (*g).signals.mask) };
    (own | deferred::bits() | kernel) & mask & !signals::RESERVED
}

/// For sigwait and its kin in `g`: a signal of `set` pending for it (or kept for the
/// process), taken.
///
/// # Safety
/// Hub thread only, outside handlers; `g` is live.
pub unsafe fn take_waited(g: *mut Green, set: SigSet) -> Option<libc::siginfo_t> {
    // SAFETY: as the caller promises.
    unsafe { claim_kept(g, set) };
    // SAFETY: as above.
    let ready = unsafe { (*g).signals.pending } & set;
    if ready == 0 {
        return None;
    }
    // SAFETY: as above.
    unsafe { take_own(g, ready.trailing_zeros() as i32 + 1) }
}

/// `g` waits for `set` in sigwait (or, with an empty set, no longer does).
///
/// # Safety
/// Hub thread only; `g` is live.
pub unsafe fn wait_for(g: *mut Green, set: SigSet) {
    // SAFETY: hub thread, `g` live (caller).
    unsafe {
        let rt = rt();
        let old = core::mem::replace(&mut (*g).signals.waiting, set);
        rt.signal_counts.count_waiting(old, false);
        rt.signal_counts.count_waiting(set, true);
        sigwaited::store(rt.signal_counts.waited());
    }
}

/// The root's mask when the runtime starts: the OS thread's.
pub fn initial_mask() -> SigSet {
    signals::settable(kernel_mask(libc::SIG_BLOCK, None))
}

/// The running thread's mask.
///
/// # Safety
/// Hub thread only.
pub unsafe fn current_mask() -> SigSet {
    // SAFETY: hub thread (caller); the running thread is live.
    unsafe { (*state::rt().current).signals.mask }
}

/// The pthread_t of the green thread a handler running on the hub thread interrupted: what
/// pthread_self answers inside a handler, where other calls pass through (a handler that
/// asks which thread it runs in, as glibc's nptl/tst-signal3 does, must not see the OS
/// thread's, which is the main thread's). None off the hub thread.
pub fn interrupted_thread() -> Option<libc::pthread_t> {
    let g = running::thread() as *const Green;
    if !state::on_hub_thread() || g.is_null() {
        return None;
    }
    // SAFETY: the running thread's record is live while a handler interrupts it, and its
    // handle is set before it first runs and never changes, so nothing is writing it.
    Some(unsafe { core::ptr::addr_of!((*g).handle).read_volatile() })
}
