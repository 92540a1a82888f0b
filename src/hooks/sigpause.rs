//! sigpause in its three spellings: glibc's implementation calls its internal sigsuspend,
//! which no hook sees (it would block the OS thread, and no cancellation request would
//! reach it), so each is built here on our own sigsuspend, with glibc's argument rules
//! (sysdeps/posix/sigpause.c, glibc 2.36).

use super::sigmask::sigprocmask;
use super::sigwait::sigsuspend;
use core::ffi::c_int;

/// glibc's `__sigpause`: with `is_sig`, the X/Open form (wait with `sig_or_mask` taken out
/// of the calling thread's mask); without, the BSD form (the mask is the old-style bit mask
/// of the first 32 signals).
///
/// # Safety
/// None beyond sigsuspend's: it takes no pointers.
#[no_mangle]
pub unsafe extern "C" fn __sigpause(sig_or_mask: c_int, is_sig: c_int) -> c_int {
    // SAFETY: an all-zero sigset_t is a valid, empty set.
    let mut set: libc::sigset_t = unsafe { core::mem::zeroed() };
    if is_sig != 0 {
        // SAFETY: a null new set only reads the thread's mask into `set`, which is writable.
        if unsafe { sigprocmask(libc::SIG_SETMASK, core::ptr::null(), &mut set) } < 0 {
            return -1;
        }
        // SAFETY: `set` is a valid set; sigdelset reports EINVAL for a bad number.
        if unsafe { libc::sigdelset(&mut set, sig_or_mask) } < 0 {
            return -1;
        }
    } else {
        // The old mask fills the first word of the set, as glibc's sigset_set_old_mask.
        // SAFETY: sigset_t is at least one unsigned long long, suitably aligned.
        unsafe { *(&mut set as *mut libc::sigset_t).cast::<u64>() = u64::from(sig_or_mask as u32) };
    }
    // SAFETY: `set` is a valid set for the call.
    unsafe { sigsuspend(&set) }
}

/// The BSD `sigpause` (glibc's default version of the name).
///
/// # Safety
/// As for [`__sigpause`].
#[no_mangle]
pub unsafe extern "C" fn sigpause(mask: c_int) -> c_int {
    // SAFETY: as the caller's.
    unsafe { __sigpause(mask, 0) }
}

/// The X/Open `sigpause` (what <signal.h> binds the name to under _XOPEN_SOURCE).
///
/// # Safety
/// As for [`__sigpause`].
#[no_mangle]
pub unsafe extern "C" fn __xpg_sigpause(sig: c_int) -> c_int {
    // SAFETY: as the caller's.
    unsafe { __sigpause(sig, 1) }
}
