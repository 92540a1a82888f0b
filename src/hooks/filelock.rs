//! File locks that wait green: flock (LOCK_SH, LOCK_EX without LOCK_NB), lockf (F_LOCK)
//! and fcntl's F_SETLKW and F_OFD_SETLKW (fd.rs routes those here).
//!
//! The kernel has no readiness event for a lock becoming free, so on the hub thread the
//! waiting green thread tries the non-blocking form of the same request (LOCK_NB, F_TLOCK,
//! F_SETLK, F_OFD_SETLK) and, while it says the lock is held (EWOULDBLOCK, EAGAIN,
//! EACCES), parks for a short nap that grows from 50 us to 10 ms (deadline.rs), letting the
//! other green threads run meanwhile. Every other answer (0, EBADF, EINVAL, ENOLCK, ...) is
//! the call's, errno included, as natively. A signal handler that runs while it naps ends
//! the wait with EINTR, or goes on waiting when the handler was installed with SA_RESTART
//! (the kernel restarts these waits). Off the hub thread, for requests that do not wait,
//! and for a thread alone in its process (nap_retry.rs), the real call is made.
//!
//! A lock freed by another process is seen at the next look, up to 10 ms late. The kernel's
//! deadlock detection (EDEADLK from F_SETLKW) needs the waiter asleep in the kernel: a
//! napping green waiter never is, so a deadlock between processes over record locks is
//! reported only to a thread alone in its process (README.md, Limits).

use super::nap_retry::Retry;
use super::hub::Hub;
use crate::sys::real;
use core::ffi::c_int;

/// Whether an error says only that somebody else holds the lock.
fn held(e: c_int) -> bool {
    e == libc::EWOULDBLOCK || e == libc::EAGAIN || e == libc::EACCES
}

/// `plain` (the request as the program made it) for a thread alone; else repeats `attempt`
/// (a non-blocking lock request returning 0 or -1 with errno) until it does not fail for a
/// lock held elsewhere, napping green in between; its result. With `cancellable` (lockf and
/// fcntl, not flock) a cancellation point before and during the wait (cancel_point.rs). A
/// handler with SA_RESTART lets the wait go on, as natively.
fn wait_green(hub: Hub, cancellable: bool, plain: impl FnOnce() -> c_int, attempt: impl Fn() -> c_int) -> c_int {
    let retry = Retry { cancellable, restartable: true, deadline: None };
    retry.run(hub, || plain() as isize, held, || attempt() as isize) as c_int
}

/// # Safety
/// None beyond flock(2)'s: the arguments are numbers.
#[no_mangle]
pub unsafe extern "C" fn flock(fd: c_int, operation: c_int) -> c_int {
    let waits = operation & libc::LOCK_NB == 0 && operation & (libc::LOCK_SH | libc::LOCK_EX) != 0;
    match Hub::here().filter(|_| waits) {
        // SAFETY: plain numbers.
        Some(hub) => wait_green(hub, false, || unsafe { real::flock(fd, operation) }, || unsafe {
            real::flock(fd, operation | libc::LOCK_NB)
        }),
        // SAFETY: the program's arguments, passed on as it gave them.
        None => unsafe { real::flock(fd, operation) },
    }
}

/// # Safety
/// None beyond lockf(3)'s: the arguments are numbers.
#[no_mangle]
pub unsafe extern "C" fn lockf(fd: c_int, cmd: c_int, len: libc::off_t) -> c_int {
    match Hub::here().filter(|_| cmd == libc::F_LOCK) {
        // SAFETY: plain numbers.
        Some(hub) => wait_green(hub, true, || unsafe { real::lockf(fd, cmd, len) }, || unsafe {
            real::lockf(fd, libc::F_TLOCK, len)
        }),
        // SAFETY: the program's arguments, passed on as it gave them.
        None => unsafe { real::lockf(fd, cmd, len) },
    }
}

/// # Safety
/// None beyond lockf64(3)'s: the arguments are numbers.
#[no_mangle]
pub unsafe extern "C" fn lockf64(fd: c_int, cmd: c_int, len: libc::off64_t) -> c_int {
    match Hub::here().filter(|_| cmd == libc::F_LOCK) {
        // SAFETY: plain numbers.
        Some(hub) => wait_green(hub, true, || unsafe { real::lockf64(fd, cmd, len) }, || unsafe {
            real::lockf64(fd, libc::F_TLOCK, len)
        }),
        // SAFETY: the program's arguments, passed on as it gave them.
        None => unsafe { real::lockf64(fd, cmd, len) },
    }
}

/// fcntl(fd, F_SETLKW or F_OFD_SETLKW, lock) on the hub thread: the green wait, or None
/// where the caller makes the real call.
///
/// # Safety
/// As for fcntl(2): `arg` is the address of a struct flock.
pub(super) unsafe fn fcntl_lock_wait(fd: c_int, cmd: c_int, arg: usize) -> Option<c_int> {
    let try_cmd = match cmd {
        libc::F_SETLKW => libc::F_SETLK,
        libc::F_OFD_SETLKW => libc::F_OFD_SETLK,
        _ => return None,
    };
    let hub = Hub::here()?;
    // SAFETY: the same struct flock, as the program asked and without waiting (caller).
    Some(wait_green(hub, true, || unsafe { real::fcntl(fd, cmd, arg) }, || unsafe { real::fcntl(fd, try_cmd, arg) }))
}
