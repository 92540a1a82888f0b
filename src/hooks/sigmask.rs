//! The signal mask of pselect, ppoll, epoll_pwait and epoll_pwait2, for their green waits.
//!
//! When the caller is the only thread of the program, nothing else could run while it
//! waits, so the real call is made: the kernel swaps the mask atomically and the answer is
//! exact. Otherwise the mask is installed on the OS thread for the length of the green wait
//! (with the real pthread_sigmask) and put back after. Signal masks are per OS thread, so
//! every green thread that runs meanwhile runs under that mask too (the README says masks
//! are shared), and a mask change one of them makes meanwhile is undone when the wait ends.
//! This beats the other honest choice, the real call whatever the thread count: that one
//! would stop every other green thread for the length of the wait, forever for a program
//! whose main thread waits in pselect for its workers.
//!
//! Signals during such a wait: a handler that runs because the mask unblocked a pending
//! signal makes the call fail with EINTR at once, as natively, when the caller is the main
//! thread; a signal that arrives during the green wait interrupts the main thread's wait,
//! whichever thread called (the runtime's rule for every signal). A green thread other
//! than the main one is not yet woken with EINTR by a signal.

use crate::runtime::{pending_signals, rt};
use crate::sys::{errno, real};
use core::ffi::c_int;

/// Runs a green wait for a call that takes a signal mask: see the top of this file.
/// `real_call` is the program's call as it made it, `wait` the green wait (whose attempts
/// take no mask).
///
/// # Safety
/// Hub thread only; `sigmask` is null or points to a sigset_t (as the real call needs).
pub(super) unsafe fn masked_wait(
    sigmask: *const libc::sigset_t,
    real_call: impl FnOnce() -> c_int,
    wait: impl FnOnce() -> c_int,
) -> c_int {
    if sigmask.is_null() {
        return wait();
    }
    // SAFETY: the hub thread (the caller's promise); the fields are read at once.
    let (main, live) = unsafe {
        let rt = rt();
        (rt.current == rt.root, rt.live)
    };
    if live == 0 {
        // Only the main thread exists: blocking the OS thread blocks no one else.
        let result = real_call();
        // A handler that ran meanwhile interrupted this call (or found nothing blocked):
        // its note must not interrupt the next green wait.
        pending_signals::take();
        return result;
    }
    if main {
        // Handlers that ran while the main thread was running interrupted nothing.
        pending_signals::take();
    }
    // SAFETY: sigset_t is plain data; all-zero is a valid (empty) set.
    let mut old: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: `sigmask` is a sigset_t (the caller's promise), `old` is ours to write.
    let e = unsafe { real::pthread_sigmask(libc::SIG_SETMASK, sigmask, &mut old) };
    if e != 0 {
        return errno::fail(e);
    }
    // Unblocking a pending signal runs its handler right here, before the wait: natively
    // the call then fails with EINTR without waiting.
    let result = if main && pending_signals::take().is_some() {
        errno::fail(libc::EINTR)
    } else {
        wait()
    };
    let saved = errno::get();
    // SAFETY: `old` is the mask pthread_sigmask gave us above.
    unsafe { real::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut()) };
    errno::set(saved);
    result
}
