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
//! **sigsuspend and pause** park until a signal handler runs, then return -1 with EINTR.
//! The signal mask belongs to the OS thread, which every green thread shares: while one is
//! in sigsuspend(mask), the others run with `mask` too, until it returns and puts the old
//! mask back. A handler that ran just before the call may already count as the one the call
//! waits for (an early EINTR, which callers that loop on a flag, as they must, absorb).

use crate::runtime::fdtable::READ;
use crate::runtime::green::{self, Wake, WaitingOn};
use crate::runtime::io as green_io;
use crate::runtime::{on_hub, rt};
use crate::sys::{clock, errno, raw, real};
use core::ffi::c_int;

/// The kernel's sigset size (64 signals).
const SIGSET_BYTES: usize = 8;
const SIGCANCEL: c_int = 32;
const SIGSETXID: c_int = 33;

/// `set` without glibc's internal signals.
unsafe fn without_internal(set: *const libc::sigset_t) -> libc::sigset_t {
    let mut copy = *set;
    libc::sigdelset(&mut copy, SIGCANCEL);
    libc::sigdelset(&mut copy, SIGSETXID);
    copy
}

/// rt_sigtimedwait with a zero timeout: a pending signal of `set`, or -1 with errno
/// (EAGAIN when none is pending).
unsafe fn take_pending(set: &libc::sigset_t, info: *mut libc::siginfo_t) -> c_int {
    let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    let result = raw::syscall6(
        libc::SYS_rt_sigtimedwait,
        [set as *const _ as usize, info as usize, &zero as *const _ as usize, SIGSET_BYTES, 0, 0],
    );
    if result < 0 {
        errno::fail(-result as c_int)
    } else {
        result as c_int
    }
}

/// A non-blocking, close-on-exec signalfd for `set`, or the errno.
unsafe fn signalfd_for(set: &libc::sigset_t) -> Result<c_int, c_int> {
    let flags = libc::SFD_NONBLOCK | libc::SFD_CLOEXEC;
    let result = raw::syscall6(libc::SYS_signalfd4, [usize::MAX, set as *const _ as usize, SIGSET_BYTES, flags as usize, 0, 0]);
    if result < 0 {
        Err(-result as c_int)
    } else {
        Ok(result as c_int)
    }
}

unsafe fn close_signalfd(fd: c_int) {
    green_io::closing(fd, true);
    raw::syscall6(libc::SYS_close, [fd as usize, 0, 0, 0, 0, 0]);
}

/// The green sigtimedwait: the signal number, or -1 with errno. `deadline` is
/// CLOCK_MONOTONIC ns; `interruptible` says whether a handler of another signal ends the
/// wait with EINTR (sigwaitinfo, sigtimedwait) or not (sigwait).
unsafe fn wait_for_signal(
    set: *const libc::sigset_t,
    info: *mut libc::siginfo_t,
    deadline: Option<u64>,
    interruptible: bool,
) -> c_int {
    if set.is_null() {
        return errno::fail(libc::EFAULT);
    }
    let set = without_internal(set);
    let saved_errno = errno::get();
    let mut signalfd = None;
    let result = loop {
        let result = take_pending(&set, info);
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
        match green_io::wait_fd(fd, READ, deadline) {
            Ok(Wake::Interrupted { .. }) if interruptible => break errno::fail(libc::EINTR),
            Ok(_) => {}
            Err(e) => break errno::fail(if e == 0 { libc::ENOSYS } else { e }),
        }
    };
    if let Some(fd) = signalfd {
        close_signalfd(fd);
    }
    if result >= 0 {
        errno::set(saved_errno);
    }
    result
}

/// A relative timeout as the kernel checks it: Ok(deadline) or EINVAL.
unsafe fn deadline_after(timeout: *const libc::timespec) -> Result<Option<u64>, c_int> {
    if timeout.is_null() {
        return Ok(None);
    }
    let (sec, nsec): (i64, i64) = ((*timeout).tv_sec, (*timeout).tv_nsec);
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(libc::EINVAL);
    }
    let ns = (sec as u64).saturating_mul(1_000_000_000).saturating_add(nsec as u64);
    Ok(Some(clock::monotonic_ns().saturating_add(ns)))
}

#[no_mangle]
pub unsafe extern "C" fn sigtimedwait(
    set: *const libc::sigset_t,
    info: *mut libc::siginfo_t,
    timeout: *const libc::timespec,
) -> c_int {
    if !on_hub() {
        return real::sigtimedwait(set, info, timeout);
    }
    match deadline_after(timeout) {
        Ok(deadline) => wait_for_signal(set, info, deadline, true),
        Err(e) => errno::fail(e),
    }
}

#[no_mangle]
pub unsafe extern "C" fn sigwaitinfo(set: *const libc::sigset_t, info: *mut libc::siginfo_t) -> c_int {
    if !on_hub() {
        return real::sigwaitinfo(set, info);
    }
    wait_for_signal(set, info, None, true)
}

#[no_mangle]
pub unsafe extern "C" fn sigwait(set: *const libc::sigset_t, sig: *mut c_int) -> c_int {
    if !on_hub() {
        return real::sigwait(set, sig);
    }
    let saved_errno = errno::get();
    let result = wait_for_signal(set, core::ptr::null_mut(), None, false);
    let e = errno::get();
    errno::set(saved_errno);
    if result < 0 {
        return e;
    }
    *sig = result;
    0
}

/// Parks the calling green thread until a signal handler runs: -1 with EINTR.
unsafe fn until_a_handler_runs() -> c_int {
    rt().signal_waiters += 1;
    while !matches!(green::park(None, WaitingOn::Signal), Wake::Interrupted { .. }) {}
    rt().signal_waiters -= 1;
    errno::fail(libc::EINTR)
}

#[no_mangle]
pub unsafe extern "C" fn sigsuspend(mask: *const libc::sigset_t) -> c_int {
    if !on_hub() || mask.is_null() {
        return real::sigsuspend(mask);
    }
    let mut old: libc::sigset_t = core::mem::zeroed();
    let result = raw::syscall6(
        libc::SYS_rt_sigprocmask,
        [libc::SIG_SETMASK as usize, mask as usize, &mut old as *mut _ as usize, SIGSET_BYTES, 0, 0],
    );
    if result < 0 {
        return errno::fail(-result as c_int);
    }
    // A signal the new mask unblocks was delivered as the call above returned: its handler
    // has run and the hub will see it at its next look.
    let result = until_a_handler_runs();
    raw::syscall6(libc::SYS_rt_sigprocmask, [libc::SIG_SETMASK as usize, &old as *const _ as usize, 0, SIGSET_BYTES, 0, 0]);
    result
}

#[no_mangle]
pub unsafe extern "C" fn pause() -> c_int {
    if !on_hub() {
        return real::pause();
    }
    until_a_handler_runs()
}
