//! Signal masks per green thread: pthread_sigmask, sigprocmask and sigpending answer for
//! the calling green thread, a new thread starts with its creator's mask or the one
//! pthread_attr_setsigmask_np gave its attribute, and pselect, ppoll, epoll_pwait and
//! epoll_pwait2 install their mask for the caller for the length of the call. The runtime
//! derives the OS thread's real mask from every green thread's (runtime/sigroute.rs;
//! ARCHITECTURE.md, Signals). glibc's internal signals (SIGCANCEL, SIGSETXID) are silently
//! left out of every mask, as glibc leaves them; so are the runtime's reserved signals.
//!
//! A mask change that unblocks a pending signal runs its handler before the call returns,
//! as natively. A call with a mask fails with EINTR at once when installing the mask ran a
//! handler; otherwise it waits green (or, for the only thread of the program, makes the
//! real call, which swaps the mask atomically), and a handler that runs in the caller
//! meanwhile ends the wait with EINTR.

use super::hub::Hub;
use super::user_mem::{read_user, write_user};
use crate::runtime::green::Green;
use crate::runtime::{io as green_io, pending_signals, rt, sigroute, SigSet};
use crate::sys::{errno, real};
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

/// The calling green thread's mask change, as rt_sigprocmask makes it: the set is read
/// first (EFAULT), then `how` checked (EINVAL), then the old mask written (EFAULT, the
/// change made all the same).
///
/// # Safety
/// `set` and `old` may be anything (they are reached without faulting).
unsafe fn change_mask(hub: Hub, how: c_int, set: *const libc::sigset_t, old: *mut libc::sigset_t) -> Result<(), c_int> {
    let g = hub.current();
    // SAFETY: hub thread (`hub`).
    let mask = unsafe { sigroute::current_mask() };
    if !set.is_null() {
        // SAFETY: read without faulting; a sigset starts with the kernel's 64 bits.
        let Some(bits) = (unsafe { read_user(set as *const SigSet) }) else { return Err(libc::EFAULT) };
        let new = match how {
            libc::SIG_BLOCK => mask | bits,
            libc::SIG_UNBLOCK => mask & !bits,
            libc::SIG_SETMASK => bits,
            _ => return Err(libc::EINVAL),
        };
        // SAFETY: hub thread (`hub`), `g` is the running thread; not inside a handler.
        unsafe {
            sigroute::set_mask(g, new);
            sigroute::run_pending(g);
        }
    }
    // SAFETY: written without faulting, 64 bits as the kernel writes them.
    if !old.is_null() && !unsafe { write_user(old as *mut SigSet, mask) } {
        return Err(libc::EFAULT);
    }
    Ok(())
}

/// # Safety
/// As for pthread_sigmask(3): `set` null or readable, `old` null or writable.
#[no_mangle]
pub unsafe extern "C" fn pthread_sigmask(how: c_int, set: *const libc::sigset_t, old: *mut libc::sigset_t) -> c_int {
    match Hub::here() {
        // SAFETY: change_mask reaches the pointers without faulting.
        Some(hub) => unsafe { change_mask(hub, how, set, old) }.err().unwrap_or(0),
        // SAFETY: the program's arguments, passed on as it gave them.
        None => unsafe { real::pthread_sigmask(how, set, old) },
    }
}

/// # Safety
/// As for sigprocmask(2): `set` null or readable, `old` null or writable.
#[no_mangle]
pub unsafe extern "C" fn sigprocmask(how: c_int, set: *const libc::sigset_t, old: *mut libc::sigset_t) -> c_int {
    match Hub::here() {
        // SAFETY: change_mask reaches the pointers without faulting.
        Some(hub) => match unsafe { change_mask(hub, how, set, old) } {
            Ok(()) => 0,
            Err(e) => errno::fail(e),
        },
        // SAFETY: the program's arguments, passed on as it gave them.
        None => unsafe { real::sigprocmask(how, set, old) },
    }
}

/// The signals pending for the calling thread or the process that it blocks.
///
/// # Safety
/// As for sigpending(2): `set` is writable.
#[no_mangle]
pub unsafe extern "C" fn sigpending(set: *mut libc::sigset_t) -> c_int {
    let Some(hub) = Hub::here() else {
        // SAFETY: the program's argument, passed on as it gave it.
        return unsafe { real::sigpending(set) };
    };
    // SAFETY: hub thread (`hub`); the running thread is live.
    let pending = unsafe { sigroute::pending_blocked(hub.current()) };
    // SAFETY: written without faulting.
    if unsafe { write_user(set as *mut SigSet, pending) } {
        0
    } else {
        errno::fail(libc::EFAULT)
    }
}

/// glibc's pthread_attr_getsigmask_np (2.32 and later), looked up once: absent on older
/// glibc, where no attribute can carry a mask.
fn attr_getsigmask() -> Option<unsafe extern "C" fn(*const libc::pthread_attr_t, *mut libc::sigset_t) -> c_int> {
    static ADDRESS: AtomicUsize = AtomicUsize::new(1);
    let mut address = ADDRESS.load(Ordering::Relaxed);
    if address == 1 {
        // SAFETY: a NUL-terminated name; dlsym is not one of our hooks.
        address = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"pthread_attr_getsigmask_np".as_ptr()) } as usize;
        ADDRESS.store(address, Ordering::Relaxed);
    }
    // SAFETY: glibc's function of that name has this signature.
    (address != 0).then(|| unsafe { core::mem::transmute::<*mut c_void, _>(address as *mut c_void) })
}

extern "C" {
    /// glibc's (2.18 and later), which libc does not declare; not one of our hooks.
    fn pthread_getattr_default_np(attr: *mut libc::pthread_attr_t) -> c_int;
}

/// The new thread `g` starts with the mask its attribute carries, if it carries one
/// (pthread_attr_setsigmask_np); otherwise it keeps its creator's. Without an attribute,
/// glibc's default attribute decides (pthread_setattr_default_np may have given it a mask).
///
/// # Safety
/// `attr` is null or an initialised attribute; `g` was just created and is live.
pub(super) unsafe fn apply_attr_mask(_hub: Hub, g: *mut Green, attr: *const libc::pthread_attr_t) {
    if !attr.is_null() {
        // SAFETY: hub thread (`_hub`); an initialised attribute and a live `g` (caller).
        unsafe { mask_from(g, attr) };
        return;
    }
    if !super::thread_np::default_attr_set() {
        return; // glibc's own default carries no mask
    }
    // SAFETY: all-zero bytes are valid storage for an attribute, which glibc fills.
    let mut default: libc::pthread_attr_t = unsafe { core::mem::zeroed() };
    // SAFETY: our own attribute, filled by glibc (not one of our hooks) and destroyed after
    // use; hub thread (`_hub`) and a live `g` (caller).
    unsafe {
        if pthread_getattr_default_np(&mut default) == 0 {
            mask_from(g, &default);
            libc::pthread_attr_destroy(&mut default);
        }
    }
}

/// Gives `g` the mask `attr` carries, if it carries one.
///
/// # Safety
/// Hub thread only; `attr` is an initialised attribute; `g` is live and counted.
unsafe fn mask_from(g: *mut Green, attr: *const libc::pthread_attr_t) {
    let Some(get) = attr_getsigmask() else { return };
    // SAFETY: all-zero bytes are a valid (empty) sigset_t.
    let mut set: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: an initialised attribute (caller) and our own set; 0 means it carries one.
    if unsafe { get(attr, &mut set) } == 0 {
        // SAFETY: hub thread, `g` live and counted (caller).
        unsafe { sigroute::set_mask(g, (&set as *const libc::sigset_t as *const SigSet).read_unaligned()) };
    }
}

/// Runs a green wait for a call that takes a signal mask: see the top of this file.
/// `real_call` is the program's call as it made it, `wait` the green wait (whose attempts
/// take no mask).
///
/// # Safety
/// Hub thread only, outside handlers; `sigmask` is null or anything (read without faulting).
pub(super) unsafe fn masked_wait(
    sigmask: *const libc::sigset_t,
    real_call: impl FnOnce() -> c_int,
    wait: impl FnOnce() -> c_int,
) -> c_int {
    if sigmask.is_null() {
        // SAFETY: the hub thread (the caller's promise).
        return unsafe { alone_or(real_call, wait) };
    }
    // SAFETY: read without faulting.
    let Some(mask) = (unsafe { read_user(sigmask as *const SigSet) }) else { return errno::fail(libc::EFAULT) };
    // SAFETY: the hub thread (the caller's promise); the fields are read at once.
    let (g, main) = unsafe {
        let rt = rt();
        (rt.current, rt.current == rt.root)
    };
    if main {
        // Handlers that ran while the main thread was running interrupted nothing.
        pending_signals::take();
    }
    let before = pending_signals::handled();
    // SAFETY: hub thread, outside handlers (caller); `g` runs.
    let old = unsafe { sigroute::set_mask(g, mask) };
    // Unblocking a pending signal runs its handler right here, before the wait: natively
    // the call then fails with EINTR without waiting.
    // SAFETY: as above.
    let result = if unsafe { sigroute::run_pending(g) } || pending_signals::handled() != before {
        pending_signals::take();
        errno::fail(libc::EINTR)
    } else {
        // SAFETY: as above.
        unsafe { alone_or(real_call, wait) }
    };
    let saved = errno::get();
    // SAFETY: as above.
    unsafe { sigroute::set_mask(g, old) };
    errno::set(saved);
    result
}

/// The program's own call when the running thread is alone, so that blocking the OS thread
/// blocks no one else (runtime::io::call_alone, which also keeps a handler that ran meanwhile
/// from interrupting the next green wait); otherwise the green wait.
///
/// # Safety
/// Hub thread only.
unsafe fn alone_or(real_call: impl FnOnce() -> c_int, wait: impl FnOnce() -> c_int) -> c_int {
    // SAFETY: hub thread (caller); `real_call` is the program's call as it made it.
    match unsafe { green_io::call_alone(|| real_call() as isize) } {
        Some(result) => result as c_int,
        None => wait(),
    }
}

/// The BSD and System V mask calls (sigsetmask, sigblock, siggetmask, sighold, sigrelse,
/// sigset): glibc makes them on its internal sigprocmask, out of our reach, so they would
/// change the OS thread's mask behind the green thread's back (dash clears its mask with
/// sigsetmask between vfork and exec). Each is our sigprocmask with the set it describes. Returns the
/// old mask, or None with errno set.
///
/// # Safety
/// None beyond sigprocmask's, which gets our own sets.
pub(super) unsafe fn legacy_change(how: c_int, bits: SigSet) -> Option<SigSet> {
    // SAFETY: all-zero bytes are valid (empty) sigsets; the first 64 bits are the kernel's.
    let (mut set, mut old): (libc::sigset_t, libc::sigset_t) = unsafe { core::mem::zeroed() };
    // SAFETY: a sigset_t begins with the kernel's 64-bit set, and ours is aligned for it.
    unsafe { *(&mut set as *mut libc::sigset_t as *mut SigSet) = bits };
    // SAFETY: our own readable and writable sets.
    if unsafe { sigprocmask(how, &set, &mut old) } != 0 {
        return None;
    }
    // SAFETY: as above.
    Some(unsafe { *(&old as *const libc::sigset_t as *const SigSet) })
}

/// The old-style mask: signals 1 to 32 as the bits of an int (glibc's sigset_set_old_mask).
fn old_style(mask: c_int) -> SigSet {
    SigSet::from(mask as u32)
}

/// # Safety
/// None (as sigsetmask(3)).
#[no_mangle]
pub unsafe extern "C" fn sigsetmask(mask: c_int) -> c_int {
    // SAFETY: no precondition.
    unsafe { legacy_change(libc::SIG_SETMASK, old_style(mask)) }.map_or(-1, |old| old as u32 as c_int)
}

/// # Safety
/// None (as sigblock(3)).
#[no_mangle]
pub unsafe extern "C" fn sigblock(mask: c_int) -> c_int {
    // SAFETY: no precondition.
    unsafe { legacy_change(libc::SIG_BLOCK, old_style(mask)) }.map_or(-1, |old| old as u32 as c_int)
}

/// # Safety
/// None (as siggetmask(3)).
#[no_mangle]
pub unsafe extern "C" fn siggetmask() -> c_int {
    // SAFETY: no precondition.
    unsafe { sigblock(0) }
}

/// One signal for sighold and sigrelse: EINVAL outside 1 to 64 and for glibc's own
/// signals, as glibc's sigaddset says.
fn one_signal(signal: c_int) -> Option<SigSet> {
    let set = crate::runtime::bit(signal);
    if set == 0 || set & crate::runtime::signals::GLIBC_INTERNAL != 0 {
        errno::set(libc::EINVAL);
        return None;
    }
    Some(set)
}

/// # Safety
/// None (as sighold(3)).
#[no_mangle]
pub unsafe extern "C" fn sighold(signal: c_int) -> c_int {
    // SAFETY: no precondition.
    one_signal(signal).and_then(|set| unsafe { legacy_change(libc::SIG_BLOCK, set) }).map_or(-1, |_| 0)
}

/// # Safety
/// None (as sigrelse(3)).
#[no_mangle]
pub unsafe extern "C" fn sigrelse(signal: c_int) -> c_int {
    // SAFETY: no precondition.
    one_signal(signal).and_then(|set| unsafe { legacy_change(libc::SIG_UNBLOCK, set) }).map_or(-1, |_| 0)
}
