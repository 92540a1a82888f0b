//! The mutex calls besides locking for the kinds sync_mutex_kinds.rs locks green:
//! pthread_mutex_init (which records the process-private robust ones),
//! pthread_mutex_consistent and pthread_mutex_setprioceiling. pthread_mutex_getprioceiling
//! stays glibc's: it only reads the ceiling in the lock word, which we keep where glibc
//! does.

use super::hub::Hub;
use super::sync_mutex_kinds::{forget, Special};
use super::sync_mutex_prio::fifo_range;
use super::sync_mutex_words::{PP, PRIVATE_ROBUST};
use crate::sys::real;
use core::ffi::c_int;

/// # Safety
/// `m` points to writable memory for a mutex; `attr` is null or an initialised attribute.
#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_init(m: *mut libc::pthread_mutex_t, attr: *const libc::pthread_mutexattr_t) -> c_int {
    // SAFETY: the program's arguments, passed on as it gave them.
    let result = unsafe { real::pthread_mutex_init(m, attr) };
    let Some(hub) = Hub::here() else { return result };
    forget(hub, m as usize);
    let (mut robust, mut shared) = (0, 0);
    if result == 0 && !attr.is_null() {
        // SAFETY: `attr` is an initialised attribute (caller); these only read it.
        unsafe {
            libc::pthread_mutexattr_getrobust(attr, &mut robust);
            libc::pthread_mutexattr_getpshared(attr, &mut shared);
        }
    }
    let private = robust == libc::PTHREAD_MUTEX_ROBUST && shared == libc::PTHREAD_PROCESS_PRIVATE;
    PRIVATE_ROBUST.with(hub, |set| if private { set.insert(m as usize, ()) } else { set.remove(&(m as usize)) });
    result
}

/// # Safety
/// `m` is null or a mutex the program initialised.
#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_consistent(m: *mut libc::pthread_mutex_t) -> c_int {
    // SAFETY: the caller's contract is Special::of's.
    let Some(special) = (unsafe { Special::of(m) }) else {
        // SAFETY: the program's argument, passed on as it gave it.
        return unsafe { real::pthread_mutex_consistent(m) };
    };
    special.make_consistent()
}

/// # Safety
/// `m` is null or a mutex the program initialised; `old` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_setprioceiling(
    m: *mut libc::pthread_mutex_t,
    ceiling: c_int,
    old: *mut c_int,
) -> c_int {
    // SAFETY: the caller's contract is Special::of's.
    let Some(special) = (unsafe { Special::of(m) }) else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::pthread_mutex_setprioceiling(m, ceiling, old) };
    };
    let (min, max) = fifo_range();
    // glibc's PTHREAD_MUTEXATTR_PRIO_CEILING_MASK: twelve bits.
    let fits = ceiling & 0xfff == ceiling;
    if !special.has(PP) || !(min..=max).contains(&ceiling) || !fits {
        return libc::EINVAL;
    }
    match special.set_ceiling(ceiling) {
        Ok(previous) => {
            // SAFETY: null or writable (caller).
            if let Some(old) = unsafe { old.as_mut() } {
                *old = previous;
            }
            0
        }
        Err(e) => e,
    }
}
