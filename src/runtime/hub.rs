//! The hub's step: wait for events (or only look, without blocking), then apply what came
//! back. The poller returns fd events, the timer heap returns expired threads, the offload
//! pool returns finished jobs' callers, the signal atomics say whether a handler ran, and
//! this file makes the threads they name runnable (`Runtime::wake`), as Go's `findrunnable`
//! hands netpoll's list to `injectglist`. The scheduler (green.rs) calls `poll_events`.
//! Threads that must not touch the runtime (foreign OS threads, handlers) leave addresses in
//! the inbox (inbox.rs); this file wakes the green threads waiting there.

use super::deadlock;
use super::fdtable::{self, READ, WRITE};
use super::inbox;
use super::poller::{self, Event};
use super::signals::{deferred, pending_signals};
use super::sigroute;
use super::state::{self, rt, Runtime};
use super::thread::{State, Wake, WaitingOn};
use super::workers;
use crate::sys::clock;

/// Collects fd events and expired timers and makes their threads runnable. With `block`,
/// first waits until there is at least one (or the next deadline).
///
/// # Safety
/// Hub thread only.
pub unsafe fn poll_events(block: bool) {
    // SAFETY: hub thread (caller); the only runtime borrow in this call.
    let rt = unsafe { rt() };
    if block {
        poller::set_wait_window(true);
        rt.stats.hub_waits += 1;
    }
    // What handlers left since the last turn is looked at before the hub sleeps: a handler
    // that runs after this look pokes the waker (poller.rs, `poke_from_handler`).
    let left_by_handlers = pending_signals::any() || deferred::is_fresh();
    // SAFETY: hub thread (caller).
    let timeout = if block && !left_by_handlers { unsafe { block_timeout(rt) } } else { Some(0) };
    let n = rt.poller.wait(timeout);
    poller::set_wait_window(false);
    for i in 0..n {
        match rt.poller.event(i) {
            // SAFETY: hub thread.
            Event::Woken => unsafe { wake_finished_offloads(rt) },
            // SAFETY: hub thread.
            Event::Fd { fd, bits } => unsafe { dispatch(rt, fd, bits) },
        }
    }
    if n > 0 {
        rt.deadlock_reported = false;
    }
    if inbox::pending() {
        // SAFETY: hub thread.
        unsafe { wake_posted(rt) };
    }
    let handled = pending_signals::take_signals();
    if let Some(restart) = pending_signals::take() {
        // SAFETY: hub thread.
        unsafe { deliver_signal(rt, restart, handled) };
    }
    if deferred::take_fresh() {
        // SAFETY: hub thread, outside handlers (the scheduler's caller is a hook).
        unsafe { sigroute::route_kept() };
    }
    if !rt.timers.is_empty() {
        let now = clock::monotonic_ns();
        while let Some(g) = rt.timers.pop_expired(now) {
            // SAFETY: threads in the heap are live.
            unsafe { rt.wake(g, Wake::Timeout) };
        }
    }
    rt.looked_at_tick = rt.ticks;
    rt.looked_batch = u32::try_from(rt.runq.len()).unwrap_or(u32::MAX);
}

/// How long a blocking wait may last: until the next deadline, or for ever, in which case
/// a hub with nothing that could ever wake it reports the deadlock first.
///
/// # Safety
/// Hub thread only.
unsafe fn block_timeout(rt: &mut Runtime) -> Option<u64> {
    match rt.timers.next_deadline() {
        Some(deadline) => Some(deadline.saturating_sub(clock::monotonic_ns())),
        None => {
            let nothing_can_wake = rt.fd_waiters == 0 && rt.offloads_in_flight == 0 && rt.signal_waiters == 0;
            if !nothing_can_wake || rt.deadlock_reported {
                return None;
            }
            if other_os_threads() {
                // One of them may post to the inbox (an idle offload worker never does, but
                // it ends after 30 s idle): look again later rather than report a deadlock
                // a foreign thread is about to end.
                return Some(FOREIGN_RECHECK_NS);
            }
            // SAFETY: hub thread; the thread table's records are live.
            unsafe { deadlock::report(rt) };
            None
        }
    }
}

/// How often a hub that only another OS thread could wake looks again whether a deadlock
/// report is due.
const FOREIGN_RECHECK_NS: u64 = 1_000_000_000;

/// Whether the process has OS threads besides the hub's, from `num_threads` in
/// /proc/self/stat (read with raw calls: nothing here goes through our hooks). Unknown
/// counts as yes: better no report than a false one.
fn other_os_threads() -> bool {
    // Ours, not the program's: never trapped (sys/own_calls.rs).
    let _own = crate::sys::own_calls::own_calls();
    use rustix::fs::{Mode, OFlags};
    let Ok(file) = rustix::fs::open(c"/proc/self/stat", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) else {
        return true;
    };
    let mut buf = [0u8; 1024];
    let Ok(len) = rustix::io::read(&file, &mut buf) else { return true };
    let text = &buf[..len];
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let Some(close) = text.iter().rposition(|&b| b == b')') else { return true };
    // After ")": state is field 3, num_threads field 20.
    let field = text[close + 1..].split(|&b| b == b' ').filter(|f| !f.is_empty()).nth(17);
    field.and_then(|f| core::str::from_utf8(f).ok()?.parse::<u32>().ok()).is_none_or(|n| n > 1)
}

/// Wakes, with `Wake::Ready`, the green threads waiting on each address the inbox holds
/// (condition, semaphore, barrier and futex waits queue by the object's address); after an
/// overflow, every thread waiting on such an object.
///
/// # Safety
/// Hub thread only.
unsafe fn wake_posted(rt: &mut Runtime) {
    let overflow = inbox::take(|address| {
        while let Some(g) = rt.queues.pop(address) {
            // SAFETY: a queued thread is parked (waking takes it out of its queue), so live.
            unsafe { rt.wake(g, Wake::Ready) };
        }
    });
    if !overflow {
        return;
    }
    let Runtime { threads, runq, timers, queues, .. } = rt;
    for &g in threads.values() {
        // SAFETY: records in the thread table are live.
        let (state, waiting_on) = unsafe { ((*g).state, (*g).waiting_on) };
        let on_object = matches!(
            waiting_on,
            WaitingOn::Condition { .. } | WaitingOn::Semaphore { .. } | WaitingOn::Futex { .. } | WaitingOn::Barrier { .. }
        );
        if state == State::Parked && on_object {
            // SAFETY: as above.
            unsafe { state::wake_in(runq, timers, queues, g, Wake::Ready) };
        }
    }
}

/// # Safety
/// Hub thread only.
unsafe fn wake_finished_offloads(rt: &mut Runtime) {
    // SAFETY: hub thread (caller).
    for g in unsafe { workers::take_finished() } {
        // SAFETY: a finished job's caller is parked, hence live.
        unsafe { rt.wake(g, Wake::Ready) };
    }
}

/// Applies one fd event: readiness bits, then the waiters it concerns.
///
/// # Safety
/// Hub thread only.
unsafe fn dispatch(rt: &mut Runtime, fd: i32, bits: u32) {
    const READ_BITS: u32 = (libc::EPOLLIN | libc::EPOLLPRI | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
    const WRITE_BITS: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;
    // SAFETY: hub thread; the only reference to this entry while the event is applied.
    let Some(entry) = (unsafe { fdtable::entry(fd) }) else { return };
    let mut interest = 0;
    if bits & (libc::EPOLLRDHUP | libc::EPOLLHUP) as u32 != 0 {
        entry.read_closed = true;
    }
    if bits & READ_BITS != 0 {
        entry.not_readable = false;
        interest |= READ;
    }
    if bits & WRITE_BITS != 0 {
        entry.not_writable = false;
        interest |= WRITE;
    }
    // SAFETY: waking does not unlink anyone (threads unlink themselves when they run, and
    // none runs during this loop).
    for g in unsafe { entry.waiters(interest) } {
        // SAFETY: a linked waiter is parked on its own stack, hence live.
        unsafe { rt.wake(g, Wake::Ready) };
    }
}

/// Handlers of `signals` ran on the hub thread, in the running green thread: as natively,
/// where the kernel prefers the main thread for a process signal, one the main thread
/// accepts interrupts its blocking call (a program's handlers usually only set a flag for
/// the main thread to see, as CPython's do).
///
/// # Safety
/// Hub thread only.
unsafe fn deliver_signal(rt: &mut Runtime, restart: bool, signals: u64) {
    let root = rt.root;
    // SAFETY: the root's record lives as long as the runtime.
    let (state, waiting_on, mask) = unsafe { ((*root).state, (*root).waiting_on, (*root).signals.mask) };
    let accepted = signals & !mask != 0;
    if state == State::Parked && waiting_on.interruptible() && accepted && pending_signals::handled() != rt.root_parked_after {
        // SAFETY: as above.
        unsafe { rt.wake(root, Wake::Interrupted { restart }) };
    }
    // A handler may also have posted a semaphore or changed a futex word (both are
    // async-signal-safe), which it could not tell us about: let those waiters look.
    // (Threads in sigsuspend or pause other than the root wait for a handler run in
    // them: sigroute.rs hands them their signals.)
    // Waking changes the run queue, timers and wait queues, never the thread table, so the
    // table is borrowed apart from them while it is walked.
    let Runtime { threads, runq, timers, queues, .. } = rt;
    for &g in threads.values() {
        // SAFETY: records in the thread table are live.
        let (state, waiting_on) = unsafe { ((*g).state, (*g).waiting_on) };
        if state != State::Parked {
            continue;
        }
        if let WaitingOn::Semaphore { .. } | WaitingOn::Futex { .. } = waiting_on {
            // SAFETY: as above.
            unsafe { state::wake_in(runq, timers, queues, g, Wake::Ready) };
        }
    }
}
