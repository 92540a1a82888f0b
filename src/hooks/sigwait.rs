//! Waiting for signals: sigwait, sigwaitinfo and sigtimedwait (accept a blocked signal),
//! sigsuspend and pause (wait for a handler to run), as green waits.
//!
//! **sigwait family**: a signal the program waits for is blocked, so it stays pending; a
//! signalfd with the same set becomes readable when one is, and the hub watches it like
//! any fd. The signal itself is then taken with rt_sigtimedwait and a zero timeout, so the
//! caller gets exactly the siginfo, the order and the errors the kernel gives: EAGAIN when
//! the timeout passes, EINVAL for a bad timeout, EINTR when a handler for another signal
//! runs meanwhile (sigwaitinfo and sigtimedwait are never restarted; sigwait waits on, as
//! glibc's does). glibc's internal signals (SIGCANCEL, SIGSETXID) are left out of the set,
//! as glibc leaves them.
//!
//! Signals pending for the waiting green thread (sent to it with pthread_kill, or handed
//! to it by the hub because it waits for them: runtime/sigroute.rs) are taken first.
//!
//! **sigsuspend and pause** park until a signal handler runs in the calling green thread,
//! then return -1 with EINTR. sigsuspend(mask) sets the caller's own mask for the call
//! (the other green threads keep theirs); a signal it unblocks that is already pending
//! runs its handler at once. The main thread's wait also ends when a handler it accepts
//! runs while it waits (the kernel prefers the main thread for a process signal); a
//! handler that ran just before the call may already count as that one (an early EINTR,
//! which callers that loop on a flag, as they must, absorb).
//!
//! All of them are cancellation points (cancel_point.rs): a request is acted on at the call,
//! or, when it wakes the wait, once the signalfd is closed and the mask put back.

use super::cancel_point;
use super::hub::Hub;
use crate::runtime::fdtable::READ;
use crate::runtime::green::{Wake, WaitingOn};
use crate::runtime::io as green_io;
use crate::runtime::{pending_signals, rt, sigroute, SigSet};
use crate::sys::{clock, errno, raw, real};
use core::ffi::c_int;

/// The kernel's sigset size (64 signals).
const SIGSET_BYTES: usize = 8;
const SIGCANCEL: c_int = 32;
const SIGSETXID: c_int = 33;

/// `set` without glibc's internal signals.
fn without_internal(set: &libc::sigset_t) -> libc::sigset_t {
    let mut copy = *set;
    // SAFETY: `copy` is a valid sigset of our own, and the signal numbers are in range.
    unsafe {
        libc::sigdelset(&mut copy, SIGCANCEL);
        libc::sigdelset(&mut copy, SIGSETXID);
    }
    copy
}

/// rt_sigtimedwait with a zero timeout: a pending signal of `set`, or -1 with errno
/// (EAGAIN when none is pending).
///
/// # Safety
/// `info` is null or writable for a siginfo_t.
unsafe fn take_pending(set: &libc::sigset_t, info: *mut libc::siginfo_t) -> c_int {
    let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    let args = [set as *const _ as usize, info as usize, &zero as *const _ as usize, SIGSET_BYTES, 0, 0];
    // SAFETY: the set and the timeout are live for the call, the set is the kernel's size,
    // and `info` is null or writable (caller).
    let result = unsafe { raw::syscall6(libc::SYS_rt_sigtimedwait, args) };
    if result < 0 {
        errno::fail(-result as c_int)
    } else {
        result as c_int
    }
}

/// A non-blocking, close-on-exec signalfd for `set`, or the errno.
fn signalfd_for(set: &libc::sigset_t) -> Result<c_int, c_int> {
    let flags = libc::SFD_NONBLOCK | libc::SFD_CLOEXEC;
    let args = [usize::MAX, set as *const _ as usize, SIGSET_BYTES, flags as usize, 0, 0];
    // SAFETY: the kernel only reads the set, which is live and of the kernel's size.
    let result = unsafe { raw::syscall6(libc::SYS_signalfd4, args) };
    if result < 0 {
        Err(-result as c_int)
    } else {
        Ok(result as c_int)
    }
}

fn close_signalfd(fd: c_int) {
    // SAFETY: on the hub thread (the signalfd is made only there), closing our own number.
    unsafe { green_io::closing(fd, true) };
    // SAFETY: close takes a number; `fd` is the signalfd we made and nobody else holds.
    unsafe { raw::syscall6(libc::SYS_close, [fd as usize, 0, 0, 0, 0, 0]) };
}

/// The green sigtimedwait: the signal number, or -1 with errno. `deadline` is
/// CLOCK_MONOTONIC ns; `interruptible` says whether a handler of another signal ends the
/// wait with EINTR (sigwaitinfo, sigtimedwait) or not (sigwait).
///
/// # Safety
/// `info` is null or writable for a siginfo_t.
unsafe fn wait_for_signal(
    hub: Hub,
    set: Option<&libc::sigset_t>,
    info: *mut libc::siginfo_t,
    deadline: Option<u64>,
    interruptible: bool,
) -> c_int {
    // A cancellation point before and during the wait (acted on once the wait has put back
    // what it set up).
    cancel_point::point();
    let Some(set) = set else { return errno::fail(libc::EFAULT) };
    let set = without_internal(set);
    let bits = set_bits(&set);
    let me = hub.current();
    let saved_errno = errno::get();
    let mut signalfd = None;
    // SAFETY: hub thread (`hub`); `me` runs. Until the wait ends, a signal of the set the
    // kernel delivers is handed to us (or another waiter) rather than to a handler.
    unsafe { sigroute::wait_for(me, bits) };
    let result = loop {
        // SAFETY: hub thread, outside handlers (`hub`); `me` runs.
        if let Some(taken) = unsafe { sigroute::take_waited(me, bits) } {
            if !info.is_null() {
                // SAFETY: `info` is writable (caller).
                unsafe { *info = taken };
            }
            break taken.si_signo;
        }
        // SAFETY: the caller's contract is take_pending's.
        let result = unsafe { take_pending(&set, info) };
        if result >= 0 || errno::get() != libc::EAGAIN {
            break result;
        }
        if deadline.is_some_and(|d| clock::monotonic_ns() >= d) {
            break errno::fail(libc::EAGAIN);
        }
        let fd = match signalfd {
            Some(fd) => fd,
            None => match signalfd_for(&set) {
                Ok(fd) => *signalfd.insert(fd),
                Err(e) => break errno::fail(e),
            },
        };
        // SAFETY: hub thread (`hub`), park_on_fd's one precondition.
        match unsafe { green_io::park_on_fd(fd, READ, deadline) } {
            Ok(Wake::Interrupted { .. }) if interruptible => break errno::fail(libc::EINTR),
            Ok(_) if cancel_point::pending() => break -1,
            Ok(_) => {}
            Err(e) => break errno::fail(if e == 0 { libc::ENOSYS } else { e }),
        }
    };
    // SAFETY: hub thread (`hub`); `me` runs.
    unsafe { sigroute::wait_for(me, 0) };
    if let Some(fd) = signalfd {
        close_signalfd(fd);
    }
    cancel_point::point();
    if result >= 0 {
        errno::set(saved_errno);
    }
    result
}

/// A relative timeout as the kernel checks it: Ok(deadline) or EINVAL.
fn deadline_after(timeout: Option<&libc::timespec>) -> Result<Option<u64>, c_int> {
    let Some(timeout) = timeout else { return Ok(None) };
    let (sec, nsec): (i64, i64) = (timeout.tv_sec, timeout.tv_nsec);
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(libc::EINVAL);
    }
    let ns = (sec as u64).saturating_mul(1_000_000_000).saturating_add(nsec as u64);
    Ok(Some(clock::monotonic_ns().saturating_add(ns)))
}

/// # Safety
/// As for sigtimedwait(2): `set` and `timeout` are null or readable, `info` null or writable.
#[no_mangle]
pub unsafe extern "C" fn sigtimedwait(
    set: *const libc::sigset_t,
    info: *mut libc::siginfo_t,
    timeout: *const libc::timespec,
) -> c_int {
    let Some(hub) = Hub::here() else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::sigtimedwait(set, info, timeout) };
    };
    // SAFETY: null or readable (caller).
    let timeout = unsafe { timeout.as_ref() };
    if timeout.is_some_and(|t| t.tv_sec == 0 && t.tv_nsec == 0) {
        // A poll for signals, which a program may make in a loop without ever parking.
        hub.yield_if_due();
    }
    match deadline_after(timeout) {
        // SAFETY: `set` null or readable, `info` null or writable (caller).
        Ok(deadline) => unsafe { wait_for_signal(hub, set.as_ref(), info, deadline, true) },
        Err(e) => errno::fail(e),
    }
}

/// # Safety
/// As for sigwaitinfo(2): `set` is null or readable, `info` null or writable.
#[no_mangle]
pub unsafe extern "C" fn sigwaitinfo(set: *const libc::sigset_t, info: *mut libc::siginfo_t) -> c_int {
    match Hub::here() {
        // SAFETY: `set` null or readable, `info` null or writable (caller).
        Some(hub) => unsafe { wait_for_signal(hub, set.as_ref(), info, None, true) },
        // SAFETY: the program's arguments, passed on as it gave them.
        None => unsafe { real::sigwaitinfo(set, info) },
    }
}

/// # Safety
/// As for sigwait(3): `set` is null or readable, `sig` writable.
#[no_mangle]
pub unsafe extern "C" fn sigwait(set: *const libc::sigset_t, sig: *mut c_int) -> c_int {
    let Some(hub) = Hub::here() else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::sigwait(set, sig) };
    };
    let saved_errno = errno::get();
    // SAFETY: `set` null or readable (caller); no siginfo is asked for.
    let result = unsafe { wait_for_signal(hub, set.as_ref(), core::ptr::null_mut(), None, false) };
    let e = errno::get();
    errno::set(saved_errno);
    if result < 0 {
        return e;
    }
    // SAFETY: writable (caller).
    unsafe { *sig = result };
    0
}

/// Parks the calling green thread until a signal handler runs: -1 with EINTR. A
/// cancellation request ends the wait too; the caller acts on it once it has put back
/// what it changed (cancel_point.rs).
fn until_a_handler_runs(hub: Hub) -> c_int {
    // SAFETY: hub thread (`hub`); the count is a plain field, no reference kept.
    unsafe { rt().signal_waiters += 1 };
    while !matches!(hub.park(None, WaitingOn::Signal), Wake::Interrupted { .. }) && !cancel_point::pending() {}
    // SAFETY: as above.
    unsafe { rt().signal_waiters -= 1 };
    errno::fail(libc::EINTR)
}

/// A sigset_t's first 64 signals, the kernel's layout.
fn set_bits(set: &libc::sigset_t) -> SigSet {
    // SAFETY: a sigset_t is at least 8 bytes, the kernel's 64 signals first.
    unsafe { (set as *const libc::sigset_t as *const SigSet).read_unaligned() }
}

/// # Safety
/// As for sigsuspend(2): `mask` is null or readable.
#[no_mangle]
pub unsafe extern "C" fn sigsuspend(mask: *const libc::sigset_t) -> c_int {
    // SAFETY: null or readable (caller).
    let (Some(hub), Some(new_mask)) = (Hub::here(), unsafe { mask.as_ref() }) else {
        // SAFETY: the program's argument, passed on as it gave it.
        return unsafe { real::sigsuspend(mask) };
    };
    cancel_point::point();
    let me = hub.current();
    // SAFETY: hub thread, outside handlers (`hub`).
    if unsafe { crate::runtime::sigsuspend_alone(set_bits(new_mask)) }.is_some() {
        // A handler ran, in the kernel's own sigsuspend.
        cancel_point::point();
        return errno::fail(libc::EINTR);
    }
    let before = pending_signals::handled();
    // SAFETY: hub thread, outside handlers (`hub`); `me` runs. A signal the new mask
    // unblocks runs its handler here: in the set_mask call (the kernel's) or right after.
    let old = unsafe { sigroute::set_mask(me, set_bits(new_mask)) };
    // SAFETY: as above.
    let result = if unsafe { sigroute::run_pending(me) } || pending_signals::handled() != before {
        pending_signals::take();
        errno::fail(libc::EINTR)
    } else {
        until_a_handler_runs(hub)
    };
    // SAFETY: as above.
    unsafe { sigroute::set_mask(me, old) };
    // A cancellation point, acted on with the caller's mask back.
    cancel_point::point();
    result
}

/// # Safety
/// None: the function takes no argument.
#[no_mangle]
pub unsafe extern "C" fn pause() -> c_int {
    match Hub::here() {
        Some(hub) => {
            cancel_point::point();
            let result = until_a_handler_runs(hub);
            cancel_point::point();
            result
        }
        // SAFETY: takes no argument.
        None => unsafe { real::pause() },
    }
}
