//! Process-shared mutexes (PTHREAD_PROCESS_SHARED, any kind): other processes lock them
//! with glibc's own code and the kernel's futexes, so they stay glibc's, with the OS
//! thread's TID as owner. Only the wait changes: a contended lock polls with glibc's
//! trylock and a short, growing sleep (the foreign-owner wait of sync_mutex.rs), because
//! glibc's lock would block the OS thread, every green thread with it, in the kernel.
//!
//! A mutex glibc records as held by this OS thread may be held by the caller itself: an
//! error-checking or recursive one then goes to glibc's lock, which answers at once
//! (EDEADLK, or one more hold) without waiting; a normal one is polled like any other.

use super::deadline::{abs_deadline, passed, recheck_deadline, FIRST_NAP_NS};
use super::hub::Hub;
use super::sync_mutex_words::{GlibcMutex, ERRORCHECK, RECURSIVE, TYPE_MASK};
use crate::runtime::green::WaitingOn;
use crate::sys::real;
use core::ffi::c_int;
use core::sync::atomic::Ordering::Relaxed;

/// Whether glibc answers a lock of `m` at once: an error-checking or recursive mutex this
/// OS thread holds.
///
/// # Safety
/// `m` is not null and points to a mutex the program initialised.
unsafe fn answered_at_once(m: *mut libc::pthread_mutex_t) -> bool {
    // SAFETY: a live mutex (caller) begins with a GlibcMutex, all atomics.
    let words = unsafe { &*(m as *const GlibcMutex) };
    let kind = words.kind.load(Relaxed) & TYPE_MASK;
    (kind == RECURSIVE || kind == ERRORCHECK)
        && words.owner.load(Relaxed) == crate::sys::raw::gettid()
}

/// Polls glibc's trylock until it stops saying EBUSY or `deadline` passes.
///
/// # Safety
/// `m` is not null and points to a mutex the program initialised, live for the call.
unsafe fn poll(hub: Hub, m: *mut libc::pthread_mutex_t, deadline: Option<u64>) -> c_int {
    let address = m as usize;
    let mut nap = FIRST_NAP_NS;
    loop {
        // SAFETY: the caller's mutex, as the program gave it.
        match unsafe { real::pthread_mutex_trylock(m) } {
            libc::EBUSY => {}
            result => return result,
        }
        if passed(deadline) {
            return libc::ETIMEDOUT;
        }
        let wake_at = recheck_deadline(deadline, true, &mut nap);
        hub.park(wake_at, WaitingOn::Lock { address });
    }
}

/// pthread_mutex_lock of a mutex sync_mutex.rs does not lock green.
///
/// # Safety
/// `m` is null or a mutex the program initialised.
pub(super) unsafe fn shared_lock(m: *mut libc::pthread_mutex_t, deadline: Option<u64>) -> c_int {
    // SAFETY: `m` is not null here, so a live mutex (caller).
    match Hub::here().filter(|_| !m.is_null() && !unsafe { answered_at_once(m) }) {
        // SAFETY: as above.
        Some(hub) => unsafe { poll(hub, m, deadline) },
        // SAFETY: the program's argument, passed on as it gave it.
        None => unsafe { real::pthread_mutex_lock(m) },
    }
}

/// pthread_mutex_clocklock of a mutex sync_mutex.rs does not lock green.
///
/// # Safety
/// `m` is null or a mutex the program initialised; `abstime` is null or a timespec.
pub(super) unsafe fn shared_clocklock(
    m: *mut libc::pthread_mutex_t,
    clock_id: libc::clockid_t,
    abstime: *const libc::timespec,
) -> c_int {
    // SAFETY: `m` is not null here, so a live mutex (caller).
    let Some(hub) = Hub::here().filter(|_| !m.is_null() && !unsafe { answered_at_once(m) }) else {
        // SAFETY: the program's arguments, passed on as they came.
        return unsafe { real::pthread_mutex_clocklock(m, clock_id, abstime) };
    };
    if clock_id != libc::CLOCK_REALTIME && clock_id != libc::CLOCK_MONOTONIC {
        return libc::EINVAL;
    }
    // Like glibc, an uncontended lock succeeds without looking at the timeout.
    // SAFETY: the caller's mutex.
    match unsafe { real::pthread_mutex_trylock(m) } {
        libc::EBUSY => {}
        result => return result,
    }
    // SAFETY: the caller passes null or a readable timespec.
    match abs_deadline(clock_id, unsafe { abstime.as_ref() }) {
        // SAFETY: the caller's mutex.
        Ok(deadline) => unsafe { poll(hub, m, Some(deadline)) },
        Err(e) => e,
    }
}
