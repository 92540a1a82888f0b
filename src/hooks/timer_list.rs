//! The SIGEV_THREAD timers of timer_thread.rs: their records and the list that tells our
//! ids from glibc's and the kernel's. Any thread may call timer_settime and friends, so the
//! list is behind a spin lock, and a record is reached only with it held (or by its watcher,
//! once it is unlisted). fd.rs asks it which descriptors are ours, fork.rs forgets the
//! timers in a child.

use crate::sys::errno;
use crate::sys::raw;
use crate::sys::spin::SpinLocked;
use core::ffi::c_int;
use core::sync::atomic::{AtomicBool, AtomicI32};

pub(super) type Notify = extern "C" fn(libc::sigval);

/// One SIGEV_THREAD timer of ours.
pub(super) struct GreenTimer {
    pub(super) timerfd: c_int,
    pub(super) function: Notify,
    pub(super) value: libc::sigval,
    /// What each notification thread is created with: the program's attributes, detached,
    /// every signal blocked.
    pub(super) attr: libc::pthread_attr_t,
    /// Expirations beyond the first in the last notification (timer_getoverrun).
    pub(super) overrun: AtomicI32,
    /// timer_delete ran: the watcher closes the timerfd and frees the record.
    pub(super) deleted: AtomicBool,
    /// Timers belong to the process that made them; a forked child's copy is not a timer.
    pub(super) pid: i32,
}

struct TimerPtr(*mut GreenTimer);
// SAFETY: a record is reached only through the list, under its lock, or by its watcher.
unsafe impl Send for TimerPtr {}

static TIMERS: SpinLocked<Vec<TimerPtr>> = SpinLocked::new(Vec::new());

pub(super) fn to_id(timer: *mut GreenTimer) -> libc::timer_t {
    ((timer as usize >> 1) | 1 << (usize::BITS - 1)) as libc::timer_t
}

/// Runs `f` on our live record behind `id` with the list locked, so that no timer_delete on
/// another OS thread frees it meanwhile. None when `id` is not one of ours; Err(-1), errno
/// EINVAL, for one a forked child inherited: timers are not inherited, and glibc answers the
/// same for its own.
pub(super) fn with_timer<R>(id: libc::timer_t, f: impl FnOnce(*mut GreenTimer) -> R) -> Option<Result<R, c_int>> {
    if (id as isize) >= 0 {
        return None;
    }
    let address = (id as usize) << 1;
    let pid = crate::sys::raw::getpid();
    TIMERS.with(|timers| {
        let found = timers.iter().map(|t| t.0).find(|&t| t as usize == address)?;
        // SAFETY: records in the list are live: they are unlisted before they are freed.
        Some(if unsafe { (*found).pid } == pid { Ok(f(found)) } else { Err(errno::fail(libc::EINVAL)) })
    })
}

/// The answer of a call on a timer of ours, or `glibc`'s for any other id.
pub(super) fn ours_or(found: Option<Result<c_int, c_int>>, glibc: impl FnOnce() -> c_int) -> c_int {
    match found {
        Some(Ok(answer) | Err(answer)) => answer,
        None => glibc(),
    }
}

/// Whether `fd` is one of our timers' timerfds (the program may not close or replace it).
pub(super) fn is_timer_fd(fd: c_int) -> bool {
    // SAFETY: as in with_timer.
    fd >= crate::runtime::INTERNAL_FD_FLOOR && TIMERS.with(|timers| timers.iter().any(|t| unsafe { (*t.0).timerfd } == fd))
}

/// In a forked child: POSIX timers are not inherited, so neither are ours. Their timerfds
/// are closed; their records stay (the parent's watchers, which would free them, do not
/// exist here), so that an inherited id is told apart from a bogus one (EINVAL either way).
pub(super) fn forget_in_child() {
    TIMERS.unlock_in_child();
    TIMERS.with(|timers| {
        for t in timers.iter() {
            // SAFETY: listed records are live; the timerfd is a descriptor of ours.
            unsafe { raw::syscall6(libc::SYS_close, [(*t.0).timerfd as usize, 0, 0, 0, 0, 0]) };
            // SAFETY: as above; -1 matches no descriptor in is_timer_fd.
            unsafe { (*t.0).timerfd = -1 };
        }
    });
}

/// Makes `timer` findable by its id.
pub(super) fn list(timer: *mut GreenTimer) {
    TIMERS.with(|timers| timers.push(TimerPtr(timer)));
}

/// Takes `timer` out of the list; false when it was not in it (another thread took it).
pub(super) fn unlist(timer: *mut GreenTimer) -> bool {
    TIMERS.with(|timers| {
        let before = timers.len();
        timers.retain(|t| t.0 != timer);
        timers.len() != before
    })
}
