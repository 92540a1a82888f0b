//! The short ways of installing a handler: signal and its other names (bsd_signal,
//! ssignal), sysv_signal, sigset, sigignore and siginterrupt. glibc builds every one of
//! them on its internal sigaction and sigprocmask, which no hook sees: the handler would be
//! installed without our wrapper (signal.rs), so a call it cut short would be restarted or
//! waited on as if no handler had run, and sigset would change the OS thread's mask
//! instead of the green thread's. Each is built here on our sigaction and sigprocmask, with
//! glibc's argument rules and flags (glibc 2.36, sysdeps/posix/signal.c, sysv_signal.c,
//! sigset.c, sigignore.c, sigintr.c).

use super::signal::sigaction;
use super::sigmask::legacy_change;
use crate::runtime::bit;
use crate::runtime::signals::GLIBC_INTERNAL;
use crate::sys::errno;
use core::ffi::c_int;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// sigset's disposition that blocks the signal instead of changing its action.
const SIG_HOLD: libc::sighandler_t = 2;

/// Signals that siginterrupt(sig, 1) made interrupt calls (glibc's `_sigintr`): signal()
/// installs their handlers without SA_RESTART.
#[link_section = ".data.green_hot"] // state.rs, HOT
static INTERRUPTING: AtomicU64 = AtomicU64::new(0);

/// Installs `handler` for `signal` with `mask` (signals 1 to 64 as bits) and `flags`
/// through our sigaction; the previous handler, or SIG_ERR with errno set.
///
/// # Safety
/// `handler` is SIG_DFL, SIG_IGN or a function the kernel may call for `signal`.
unsafe fn install(signal: c_int, handler: libc::sighandler_t, mask: u64, flags: c_int) -> libc::sighandler_t {
    // SAFETY: all-zero bytes are a valid sigaction (plain data: no handler, empty mask).
    let mut action: libc::sigaction = unsafe { core::mem::zeroed() };
    action.sa_sigaction = handler;
    action.sa_flags = flags;
    // SAFETY: a sigset_t begins with the kernel's 64-bit set, and it is aligned for it.
    unsafe { *(&mut action.sa_mask as *mut libc::sigset_t).cast::<u64>() = mask };
    let mut old = MaybeUninit::<libc::sigaction>::uninit();
    // SAFETY: our own readable action; the kernel (or our table) fills `old` on success.
    if unsafe { sigaction(signal, &action, old.as_mut_ptr()) } != 0 {
        return libc::SIG_ERR;
    }
    // SAFETY: sigaction succeeded, so it wrote the old action.
    unsafe { old.assume_init() }.sa_sigaction
}

/// Whether signal() and its kin accept `signal` and `handler`: EINVAL for SIG_ERR, for a
/// number outside 1 to 64, and (with `internal_too`) for glibc's own signals.
fn accepts(signal: c_int, handler: libc::sighandler_t, internal_too: bool) -> bool {
    let set = bit(signal);
    let ok = handler != libc::SIG_ERR && set != 0 && (internal_too || set & GLIBC_INTERNAL == 0);
    if !ok {
        errno::set(libc::EINVAL);
    }
    ok
}

/// signal(2) as glibc defines it: BSD semantics (the handler stays installed, the signal is
/// blocked while it runs, calls it cuts short restart unless siginterrupt said otherwise).
///
/// # Safety
/// As for signal(2): `handler` is SIG_DFL, SIG_IGN or a function taking the signal number.
#[no_mangle]
pub unsafe extern "C" fn signal(signal: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    if !accepts(signal, handler, false) {
        return libc::SIG_ERR;
    }
    let flags = if INTERRUPTING.load(Relaxed) & bit(signal) != 0 { 0 } else { libc::SA_RESTART };
    // SAFETY: the caller's handler, as signal(2) takes it.
    unsafe { install(signal, handler, bit(signal), flags) }
}

/// glibc's other name for signal.
///
/// # Safety
/// As for signal(2).
#[no_mangle]
pub unsafe extern "C" fn bsd_signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    // SAFETY: as the caller's.
    unsafe { signal(sig, handler) }
}

/// glibc's other name for signal (the ISO C spelling of old).
///
/// # Safety
/// As for signal(2).
#[no_mangle]
pub unsafe extern "C" fn ssignal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    // SAFETY: as the caller's.
    unsafe { signal(sig, handler) }
}

/// System V semantics: the handler runs once (the disposition goes back to SIG_DFL), the
/// signal is not blocked while it runs, and calls it cuts short fail with EINTR.
///
/// # Safety
/// As for signal(2).
#[no_mangle]
pub unsafe extern "C" fn sysv_signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    if !accepts(sig, handler, true) {
        return libc::SIG_ERR;
    }
    // SAFETY: the caller's handler, as signal(2) takes it.
    unsafe { install(sig, handler, 0, libc::SA_RESETHAND | libc::SA_NODEFER | SA_INTERRUPT) }
}

/// glibc's historical flag that sysv_signal sets: it means nothing to the kernel.
const SA_INTERRUPT: c_int = 0x2000_0000;

/// The name glibc's headers give sysv_signal.
///
/// # Safety
/// As for signal(2).
#[no_mangle]
pub unsafe extern "C" fn __sysv_signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    // SAFETY: as the caller's.
    unsafe { sysv_signal(sig, handler) }
}

/// System V sigset: SIG_HOLD blocks the signal in the calling thread; any other
/// disposition is installed (no flags, nothing blocked while it runs) and the signal
/// unblocked. The answer is SIG_HOLD if the signal was blocked before, else the previous
/// disposition.
///
/// # Safety
/// As for signal(2).
#[no_mangle]
pub unsafe extern "C" fn sigset(sig: c_int, disposition: libc::sighandler_t) -> libc::sighandler_t {
    let set = bit(sig);
    if set == 0 || set & GLIBC_INTERNAL != 0 {
        errno::set(libc::EINVAL);
        return libc::SIG_ERR;
    }
    if disposition == SIG_HOLD {
        // SAFETY: no precondition.
        let Some(old_mask) = (unsafe { legacy_change(libc::SIG_BLOCK, set) }) else { return libc::SIG_ERR };
        if old_mask & set != 0 {
            return SIG_HOLD;
        }
        let mut old = MaybeUninit::<libc::sigaction>::uninit();
        // SAFETY: a null action only reads the current one into `old`.
        if unsafe { sigaction(sig, core::ptr::null(), old.as_mut_ptr()) } != 0 {
            return libc::SIG_ERR;
        }
        // SAFETY: sigaction succeeded, so it wrote `old`.
        return unsafe { old.assume_init() }.sa_sigaction;
    }
    // SAFETY: the caller's handler, as signal(2) takes it.
    let previous = unsafe { install(sig, disposition, 0, 0) };
    if previous == libc::SIG_ERR {
        return libc::SIG_ERR;
    }
    // SAFETY: no precondition.
    match unsafe { legacy_change(libc::SIG_UNBLOCK, set) } {
        None => libc::SIG_ERR,
        Some(old_mask) if old_mask & set != 0 => SIG_HOLD,
        Some(_) => previous,
    }
}

/// # Safety
/// None (as sigignore(3)).
#[no_mangle]
pub unsafe extern "C" fn sigignore(sig: c_int) -> c_int {
    // SAFETY: SIG_IGN is a disposition, not a function.
    if unsafe { install(sig, libc::SIG_IGN, 0, 0) } == libc::SIG_ERR {
        -1
    } else {
        0
    }
}

/// siginterrupt(3): whether calls that `sig`'s handler cuts short fail with EINTR (1) or
/// restart (0), for the handler installed now and for every later signal().
///
/// # Safety
/// None (as siginterrupt(3)).
#[no_mangle]
pub unsafe extern "C" fn siginterrupt(sig: c_int, interrupt: c_int) -> c_int {
    let mut action = MaybeUninit::<libc::sigaction>::uninit();
    // SAFETY: a null action only reads the current one (as the program installed it).
    if unsafe { sigaction(sig, core::ptr::null(), action.as_mut_ptr()) } != 0 {
        return -1;
    }
    // SAFETY: sigaction succeeded, so it wrote the action.
    let mut action = unsafe { action.assume_init() };
    if interrupt != 0 {
        INTERRUPTING.fetch_or(bit(sig), Relaxed);
        action.sa_flags &= !libc::SA_RESTART;
    } else {
        INTERRUPTING.fetch_and(!bit(sig), Relaxed);
        action.sa_flags |= libc::SA_RESTART;
    }
    // SAFETY: the program's own action read back above, its handler as it installed it.
    if unsafe { sigaction(sig, &action, core::ptr::null_mut()) } != 0 {
        return -1;
    }
    0
}
