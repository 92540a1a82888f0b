//! io_uring_enter with IORING_ENTER_GETEVENTS as a green wait, for liburing's raw
//! `io_uring_enter` and `io_uring_enter2` (uring.rs) and `syscall(SYS_io_uring_enter)`
//! (syscall_route.rs). The program's ring mapping is nowhere we know, so whether enough
//! completions are queued comes from the kernel (uring_wait.rs: `enter_ready`).

use super::hub::Hub;
use super::sigmask::masked_wait;
use super::uring_wait::{
    enter_ready, others_exist, raw_enter, timeout_ns, wait_ready, CqView, GeteventsArg, KernelTimespec, Waited,
    ENTER_EXT_ARG, ENTER_GETEVENTS, ENTER_SQ_WAKEUP, GREEN_FLAGS, SIGSET_SIZE, ZERO_TIME,
};
use super::user_mem::read_user;
use crate::sys::{clock, errno};
use core::cell::Cell;
use core::ffi::{c_int, c_long, c_uint};

/// syscall(SYS_io_uring_enter, ...) on the hub thread: syscall()'s result (-1 and errno).
///
/// # Safety
/// The arguments are valid for io_uring_enter, as for libc's syscall().
pub(super) unsafe fn enter_syscall(a: [usize; 6]) -> c_long {
    // SAFETY: the caller's contract; the kernel's argument types, truncated as it does.
    match unsafe { enter(a[0] as c_uint, a[1] as c_uint, a[2] as c_uint, a[3] as c_uint, a[4], a[5]) } {
        r if r < 0 => errno::fail(-r as c_int),
        r => r,
    }
}

/// What a green `io_uring_enter` waits with: the signal mask for the wait, the timeout,
/// and the program's EXT_ARG argument (to make the kernel's own call once time is up).
struct EnterWait {
    sigmask: *const libc::sigset_t,
    timeout_ns: Option<u64>,
    ext: Option<GeteventsArg>,
}

/// The mask and timeout of an `io_uring_enter` that waits; None when the kernel would
/// refuse them or they ask for more than a green wait does (IORING_ENTER_EXT_ARG's
/// min_wait_usec), so the kernel gets the call as it is.
///
/// # Safety
/// `arg` is the program's argument; it is read without faulting.
unsafe fn enter_wait(flags: c_uint, arg: usize, size: usize) -> Option<EnterWait> {
    if flags & ENTER_EXT_ARG == 0 {
        return (arg == 0 || size == SIGSET_SIZE).then_some(EnterWait { sigmask: arg as _, timeout_ns: None, ext: None });
    }
    if arg == 0 || size != core::mem::size_of::<GeteventsArg>() {
        return None;
    }
    // SAFETY: read without faulting.
    let ext = unsafe { read_user(arg as *const GeteventsArg) }?;
    if ext.min_wait_usec != 0 || (ext.sigmask != 0 && ext.sigmask_sz as usize != SIGSET_SIZE) {
        return None;
    }
    let timeout_ns = match ext.ts {
        0 => None,
        // SAFETY: read without faulting.
        ts => Some(timeout_ns(&unsafe { read_user(ts as *const KernelTimespec) }?)?),
    };
    Some(EnterWait { sigmask: ext.sigmask as _, timeout_ns, ext: Some(ext) })
}

/// io_uring_enter with IORING_ENTER_GETEVENTS as a green wait: submit first (the kernel's
/// order: a short or failed submission returns at once), then park until `min_complete`
/// completions are queued. The kernel's result: the number submitted if not 0, else the
/// wait's; once the time is up, the kernel's own call with a zero timeout gives it (0 when
/// any completion is queued, else -ETIME).
///
/// # Safety
/// The arguments are valid for io_uring_enter (the kernel checks them; we read them
/// without faulting).
pub(super) unsafe fn enter(fd: c_uint, to_submit: c_uint, min_complete: c_uint, flags: c_uint, arg: usize, size: usize) -> c_long {
    // SAFETY: the program's call as it made it.
    let pass = || unsafe { raw_enter(fd, to_submit, min_complete, flags, arg, size) };
    let Some(hub) = Hub::here() else { return pass() };
    if flags & ENTER_GETEVENTS == 0 || min_complete == 0 || flags & !GREEN_FLAGS != 0 || !others_exist(hub) {
        return pass();
    }
    // SAFETY: the program's argument.
    let Some(wait) = (unsafe { enter_wait(flags, arg, size) }).filter(|w| w.timeout_ns != Some(0)) else { return pass() };
    let mut submitted = 0;
    if to_submit > 0 || flags & ENTER_SQ_WAKEUP != 0 {
        // SAFETY: the program's ring and count, without the wait.
        submitted = unsafe { raw_enter(fd, to_submit, 0, flags & !(ENTER_GETEVENTS | ENTER_EXT_ARG), 0, 0) };
        if submitted < 0 || submitted != c_long::from(to_submit) {
            return submitted;
        }
    }
    let waited = enter_wait_green(hub, fd, min_complete, flags & !ENTER_SQ_WAKEUP, (arg, size), &wait);
    if submitted > 0 {
        submitted
    } else {
        waited
    }
}

/// The wait part of a green `io_uring_enter` (`flags` without the submission's).
fn enter_wait_green(hub: Hub, fd: c_uint, min_complete: c_uint, flags: c_uint, (arg, size): (usize, usize), wait: &EnterWait) -> c_long {
    // SAFETY: the program's arguments, which the kernel checks.
    let real_wait = || unsafe { raw_enter(fd, 0, min_complete, flags, arg, size) };
    let timed_out = || match wait.ext {
        Some(mut ext) => {
            let zero = ZERO_TIME;
            ext.ts = &zero as *const KernelTimespec as u64;
            // SAFETY: our copy of the program's argument, with a timespec that lives
            // across the call.
            unsafe { raw_enter(fd, 0, min_complete, flags, &ext as *const GeteventsArg as usize, size) }
        }
        None => -c_long::from(libc::ETIME),
    };
    let ring = fd as i32;
    let view = (min_complete > 1).then(|| CqView::map(ring)).flatten();
    let deadline = wait.timeout_ns.map(|ns| clock::monotonic_ns().saturating_add(ns));
    let saved_errno = errno::get();
    let result = Cell::new(None);
    let real = || {
        result.set(Some(real_wait()));
        0
    };
    let green = || {
        result.set(Some(match wait_ready(hub, ring, deadline, true, || enter_ready(ring, min_complete, view.as_ref())) {
            Waited::Ready => 0,
            Waited::TimedOut => timed_out(),
            Waited::Interrupted => -c_long::from(libc::EINTR),
            Waited::Closed => -c_long::from(libc::EBADF),
            Waited::Cannot => real_wait(),
        }));
        0
    };
    // SAFETY: hub thread (`hub`), outside handlers; the program's mask pointer.
    let status = unsafe { masked_wait(wait.sigmask, real, green) };
    let waited = result.get().unwrap_or(-c_long::from(if status < 0 { errno::get() } else { libc::EINTR }));
    errno::set(saved_errno);
    waited
}
