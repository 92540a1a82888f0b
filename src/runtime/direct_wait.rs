//! A process whose only green thread waits for an fd: nothing else could run meanwhile, so
//! it waits in the kernel directly, in ppoll(2) on that one fd with its deadline, instead of
//! parking and letting the hub ask epoll (the same kernel wait, without the scheduler's round
//! trip). The moment anything else could run (a second green thread, a runnable thread, a
//! timer, an offloaded call, a signal the hub has to route), waits go back to the hub.
//!
//! Signals keep their promised semantics (ARCHITECTURE.md, Promised semantics): a handler
//! that ran in the thread during the wait ends it as it would end a park
//! (`Wake::Interrupted`, restart as the handler asked: io.rs restarts or fails with EINTR as
//! for a park). Anything else that interrupts the kernel's wait (the preemption tick, a
//! signal kept for the hub, the hub's own wake-up) hands the wait to the hub, which
//! does what it always does. A thread created by a handler is seen the same way: the
//! handler interrupted the wait, and the next wait finds a second thread and parks.
//!
//! A lone thread's sigsuspend waits in the kernel's own, with its mask for the call as the
//! real one: the handler runs in the thread, in the kernel's signal frame, as natively
//! ([`suspend`]).
//!
//! Most of a lone thread's calls need no wait of ours at all: the program's own call blocks
//! in the kernel as it would natively (the same EINTR and SA_RESTART, from the kernel
//! itself; no tick runs while no other thread lives, preempt.rs). That is every call on a
//! description whose O_NONBLOCK is not ours ([`may_call_plain`], asked before the fd is even
//! classified; [`may_call`] for a call that became alone while it waited), and poll, select,
//! epoll_wait and the wait family ([`call_alone`]). Only calls on descriptions that are
//! non-blocking for us (we made them) still try, wait here and try again. (Polling first
//! when the last call had to wait would save the failing try, but a call that fails at
//! once natively, an eventfd read of fewer than 8 bytes, would then wait.)

use super::fdtable::{FdEntry, Kind, READ};
use super::signals::{deferred, kernel_mask_for, pending_signals, running, SigSet};
use super::state::{rt, Runtime};
use super::thread::Wake;
use crate::sys::{clock, errno};
use rustix::event::{PollFd, PollFlags};
use rustix::fd::BorrowedFd;
use rustix::time::Timespec;

/// Whether the running thread is the only one that could run before its wait ends.
fn alone(rt: &Runtime) -> bool {
    rt.current == rt.root
        && rt.live == 0
        && rt.runq.is_empty()
        && rt.timers.is_empty()
        && rt.offloads_in_flight == 0
        && rt.signal_waiters == 0
}

/// Whether the running thread may block the OS thread in a call of the program's: it is
/// alone and no signal waits for the hub to route it.
///
/// # Safety
/// Hub thread only.
pub unsafe fn may_block() -> bool {
    // SAFETY: hub thread (caller); the borrow ends within this expression.
    alone(unsafe { rt() }) && deferred::bits() == 0
}

/// Whether a blocking-mode call on `fd` is to be the program's own call, as it made it: the
/// running thread may block ([`may_block`]) and the description's O_NONBLOCK is not ours (an
/// fd we never learnt is not: we learn every one we make). The kernel then blocks it, times
/// it out (SO_RCVTIMEO) and ends or restarts it for a handler exactly as natively, and the
/// fd need not even be classified.
///
/// # Safety
/// Hub thread only.
pub unsafe fn may_call_plain(fd: i32) -> bool {
    // SAFETY: hub thread (caller).
    (unsafe { may_block() }) && !super::fdtable::needs_blocking_emulation(fd)
}

/// Whether a blocking-mode call on `fd` is to be the program's own call, as it made it, with
/// nothing of ours around it: what [`may_call_plain`] says of a lone root (no cancellation
/// point of ours can be due then either), and what a call from any other OS thread on a
/// description we left blocking comes to. A shortcut that reads three words where the full
/// test reads half a dozen cache lines; false sends the caller down its full path, which
/// decides again.
#[inline(always)]
pub fn plain_now(fd: i32) -> bool {
    let plain = !super::state::crowded_here() && deferred::bits() == 0 && !super::fdtable::needs_blocking_emulation(fd);
    // A root with no green thread beside it is running, so nothing else is runnable,
    // timed, offloaded or in sigsuspend: the rest of `alone` follows.
    // SAFETY: hub thread (on_hub, checked first).
    debug_assert!(!plain || !super::state::on_hub() || unsafe { may_call_plain(fd) && !super::cancel::pending() });
    plain
}

/// Makes `call`, a blocking call of the program's that does not depend on O_NONBLOCK (poll,
/// select, epoll_wait), as the program made it if the running thread may block
/// ([`may_block`]). Some(result) when the result is the program's: the call returned, or a
/// handler of the program's ran in the thread and the kernel ended the call for it. None
/// when it was not made, or the kernel ended it (EINTR) with no handler of the program's
/// run: the caller then waits as usual, for what is left of its time.
///
/// # Safety
/// Hub thread only.
pub unsafe fn call_alone(call: impl FnOnce() -> isize) -> Option<isize> {
    // SAFETY: hub thread (caller).
    if !unsafe { may_block() } {
        return None;
    }
    let handled_before = pending_signals::handled();
    let result = call();
    if pending_signals::handled() == handled_before {
        return (result >= 0 || errno::get() != libc::EINTR).then_some(result);
    }
    // A handler ran in the thread (the only one) during the call: the call has answered it,
    // and its note must not interrupt the next green wait.
    let _ = pending_signals::take_signals();
    let _ = pending_signals::take();
    Some(result)
}

/// Whether a poll-first attempt on `slot`'s fd may be made at once, with no poll(2) before
/// it: the running thread is alone, the call has no deadline of ours (the kernel knows
/// none of it), and the fd is a pipe or terminal, which have no timeouts of their own for
/// a wait of ours to count.
///
/// # Safety
/// Hub thread only; `slot` is an entry of the fd table and no reference to it is live.
pub unsafe fn may_call(slot: *const FdEntry, deadline: Option<u64>) -> bool {
    // SAFETY: hub thread (caller); the borrow ends within this expression.
    deadline.is_none()
        && unsafe { may_block() }
        && matches!(unsafe { (*slot).kind() }, Some(Kind::Pipe | Kind::CharDevice))
}

/// Waits in ppoll(2) for `fd` if the running thread is alone: Some(wake) when the wait
/// ended as a park would have ended (readiness recorded in the entry as the hub records
/// it), None when the caller is to park on the hub instead (not alone, or interrupted by
/// something that is the hub's to handle).
///
/// # Safety
/// Hub thread only; `slot` is `fd`'s entry (fdtable.rs) and no reference to it is live.
pub unsafe fn wait(fd: i32, slot: *mut FdEntry, interest: u8, deadline: Option<u64>) -> Option<Wake> {
    // Ours, not the program's: never trapped (sys/own_calls.rs).
    let _own = crate::sys::own_calls::own_calls();
    // SAFETY: hub thread (caller).
    if !unsafe { may_block() } {
        return None;
    }
    let timeout = match deadline {
        None => None,
        Some(deadline) => {
            let ns = deadline.saturating_sub(clock::monotonic_ns());
            let secs = ns / clock::NANOS_PER_SEC;
            Some(Timespec { tv_sec: secs as _, tv_nsec: (ns % clock::NANOS_PER_SEC) as _ })
        }
    };
    // SAFETY: ppoll only reads the fd number (a closed one gives POLLNVAL).
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let mut flags = PollFlags::RDHUP;
    flags |= if interest == READ { PollFlags::IN } else { PollFlags::OUT };
    let mut fds = [PollFd::new(&borrowed, flags)];
    let handled_before = pending_signals::handled();
    match rustix::event::poll(&mut fds, timeout.as_ref()) {
        Ok(0) => Some(Wake::Timeout),
        Ok(_) => {
            let revents = fds[0].revents();
            // SAFETY: the caller's promise; one short borrow of the entry.
            unsafe { note_ready(&mut *slot, revents) };
            Some(Wake::Ready)
        }
        Err(rustix::io::Errno::INTR) if pending_signals::handled() != handled_before => {
            // A program's handler ran in this thread (the only one): as `hub::deliver_signal`
            // ends a park. The kept bits are taken: this wait has answered them.
            let _ = pending_signals::take_signals();
            pending_signals::take().map(|restart| Wake::Interrupted { restart })
        }
        Err(_) => None,
    }
}

/// Records what ppoll reported as `hub::dispatch` records an epoll event.
fn note_ready(entry: &mut FdEntry, revents: PollFlags) {
    if revents.intersects(PollFlags::RDHUP | PollFlags::HUP) {
        entry.read_closed = true;
    }
    let any = PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL;
    if revents.intersects(PollFlags::IN | PollFlags::PRI | PollFlags::RDHUP | any) {
        entry.not_readable = false;
    }
    if revents.intersects(PollFlags::OUT | any) {
        entry.not_writable = false;
    }
}

/// sigsuspend(2) for the running thread if it is alone: the kernel's, with `mask` as the real
/// mask for the call and as the thread's for its handlers (`running`). Some(()) when a
/// handler ran in the thread (the call's EINTR); None when the caller is to park on the hub
/// instead (not alone, a signal kept for the hub, or the wait ended for the hub's sake).
///
/// # Safety
/// Hub thread only, outside handlers.
pub unsafe fn suspend(mask: SigSet) -> Option<()> {
    // SAFETY: hub thread (caller).
    if !unsafe { may_block() } {
        return None;
    }
    // SAFETY: as above; the borrow ends within this statement.
    let me = unsafe { rt() }.current;
    let handled_before = pending_signals::handled();
    running::set(me as usize, mask);
    let real = kernel_mask_for(mask);
    let args = [&real as *const SigSet as usize, core::mem::size_of::<SigSet>(), 0, 0, 0, 0];
    // SAFETY: rt_sigsuspend reads our 8-byte set; it returns once a handler has run (EINTR).
    unsafe { crate::sys::raw::syscall6(libc::SYS_rt_sigsuspend, args) };
    // SAFETY: `me` is the running thread, live.
    running::set(me as usize, unsafe { (*me).signals.mask });
    if pending_signals::handled() == handled_before {
        return None;
    }
    let _ = pending_signals::take_signals();
    let _ = pending_signals::take();
    Some(())
}
