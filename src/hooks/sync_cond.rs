//! pthread_cond_* as green waits: waiters queue by the condition's address; signal hands
//! the longest waiter back to its mutex. A condition is also signalled through glibc, for
//! any foreign OS thread waiting on it natively (glibc returns at once when none is). A
//! foreign thread's signal or broadcast goes to glibc, then to the hub's inbox, which wakes
//! every green waiter of the condition (ARCHITECTURE.md, Foreign threads).
//!
//! The clock a condition measures timeouts on (pthread_condattr_setclock) lives in glibc's
//! `__wrefs` word of `struct __pthread_cond_s` (glibc 2.36,
//! sysdeps/nptl/bits/thread-shared-types.h): bit 0 process-shared, bit 1 CLOCK_MONOTONIC,
//! the waiter count above. That word moved between glibc releases, so we find it once by
//! initialising a CLOCK_MONOTONIC condition and seeing which word is set.

use super::deadline::abs_deadline;
use super::hub::{post_foreign, Hub};
use super::sync_mutex::GreenMutex;
use crate::runtime::condwait;
use crate::runtime::green::{Wake, WaitingOn};
use crate::sys::real;
use core::ffi::c_int;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

const UNKNOWN: usize = 0;
const NOT_FOUND: usize = usize::MAX;
static WREFS_OFFSET: AtomicUsize = AtomicUsize::new(UNKNOWN);

/// `__wrefs` bits (glibc's __PTHREAD_COND_SHARED_MASK, __PTHREAD_COND_CLOCK_MONOTONIC_MASK).
const WREFS_SHARED: u32 = 1;
const WREFS_MONOTONIC: u32 = 2;

/// The byte offset of `__wrefs` in a pthread_cond_t, or None when the probe failed.
fn wrefs_offset() -> Option<usize> {
    let mut offset = WREFS_OFFSET.load(Ordering::Relaxed);
    if offset == UNKNOWN {
        offset = probe_wrefs_offset().unwrap_or(NOT_FOUND);
        WREFS_OFFSET.store(offset, Ordering::Relaxed);
        if offset == NOT_FOUND {
            crate::runtime::log::log!(
                Warn,
                "cannot find the clock of condition variables in this glibc; timeouts use CLOCK_REALTIME"
            );
        }
    }
    (offset != NOT_FOUND).then_some(offset)
}

/// A CLOCK_MONOTONIC condition, freshly initialised, has exactly one word set: `__wrefs`,
/// to WREFS_MONOTONIC.
fn probe_wrefs_offset() -> Option<usize> {
    // SAFETY: all-zero bytes are a valid pthread_condattr_t and pthread_cond_t (plain data),
    // and each is initialised by glibc before it is used.
    let (mut attr, mut cond): (libc::pthread_condattr_t, libc::pthread_cond_t) = unsafe { core::mem::zeroed() };
    // SAFETY: local objects, initialised with glibc's own functions in the order it asks.
    unsafe {
        libc::pthread_condattr_init(&mut attr);
        libc::pthread_condattr_setclock(&mut attr, libc::CLOCK_MONOTONIC);
        libc::pthread_cond_init(&mut cond, &attr);
    }
    // SAFETY: pthread_cond_t is plain data of a multiple of 4 bytes, aligned to 8, and no
    // other thread can see this local one.
    let words: &[u32; core::mem::size_of::<libc::pthread_cond_t>() / 4] =
        unsafe { &*(&cond as *const libc::pthread_cond_t).cast() };
    let mut set = words.iter().enumerate().filter(|(_, &w)| w != 0);
    match (set.next(), set.next()) {
        (Some((index, &WREFS_MONOTONIC)), None) => Some(index * 4),
        _ => None,
    }
}

/// (clock, process-shared) of a condition variable.
///
/// # Safety
/// `c` points to a condition variable the program initialised, live for the call.
unsafe fn attributes(c: *mut libc::pthread_cond_t) -> (libc::clockid_t, bool) {
    let Some(offset) = wrefs_offset() else { return (libc::CLOCK_REALTIME, false) };
    // SAFETY: the probe found `offset` as a 4-aligned word inside pthread_cond_t, and `c` is
    // live (caller). Foreign waiters change `__wrefs` with atomic operations, so read it as
    // an atomic too.
    let wrefs = unsafe { AtomicU32::from_ptr(c.cast::<u8>().add(offset).cast::<u32>()) }.load(Ordering::Relaxed);
    let clock = if wrefs & WREFS_MONOTONIC != 0 { libc::CLOCK_MONOTONIC } else { libc::CLOCK_REALTIME };
    (clock, wrefs & WREFS_SHARED != 0)
}

/// The green wait: release the mutex, park in the condition's queue, take the mutex back.
/// Nothing can run between the release and the park (one OS thread, and unlock does not
/// switch), so no signal is lost.
fn wait(hub: Hub, address: usize, mutex: GreenMutex<'_>, deadline: Option<u64>) -> c_int {
    let released = mutex.unlock_for_wait();
    if released != 0 {
        return released;
    }
    let wake = loop {
        let wake = hub.wait(address, deadline, WaitingOn::Condition { address });
        // A handler ran for us (runtime/condwait.rs): not a wake-up, as natively, unless
        // a cancellation is due, which acts once the mutex is taken back.
        if !matches!(wake, Wake::Interrupted { .. }) {
            break wake;
        }
        condwait::resumed();
        // SAFETY: hub thread (`hub`), in no queue.
        if unsafe { crate::runtime::cancel::pending() } {
            break wake;
        }
    };
    // A robust mutex comes back with EOWNERDEAD or ENOTRECOVERABLE, which glibc returns.
    let relocked = mutex.lock_after_wait();
    // SAFETY: hub thread (`hub`); a cancellation point with the mutex taken back, as glibc.
    unsafe { crate::runtime::cancel::point() };
    if relocked != 0 {
        relocked
    } else if wake == Wake::Timeout {
        libc::ETIMEDOUT
    } else {
        0
    }
}

/// A wait we make green: hub thread, green mutex, process-private condition.
#[derive(Clone, Copy)]
struct GreenWait<'a> {
    hub: Hub,
    address: usize,
    mutex: GreenMutex<'a>,
    clock: libc::clockid_t,
}

impl<'a> GreenWait<'a> {
    /// # Safety
    /// `c` and `m` are null or a condition and a mutex the program initialised, which stay
    /// in place for `'a`.
    unsafe fn new(c: *mut libc::pthread_cond_t, m: *mut libc::pthread_mutex_t) -> Option<Self> {
        if c.is_null() {
            return None;
        }
        let hub = Hub::here()?;
        // SAFETY: the caller's contract covers GreenMutex::new's.
        let mutex = unsafe { GreenMutex::new(m) }?;
        // SAFETY: `c` is not null, so a live condition (caller).
        let (clock, shared) = unsafe { attributes(c) };
        (!shared).then_some(GreenWait { hub, address: c as usize, mutex, clock })
    }

    /// The timed wait, until `abstime` on `clock_id`.
    fn until(self, clock_id: libc::clockid_t, abstime: Option<&libc::timespec>) -> c_int {
        match abs_deadline(clock_id, abstime) {
            Ok(deadline) => wait(self.hub, self.address, self.mutex, Some(deadline)),
            Err(e) => e,
        }
    }
}

/// # Safety
/// `c` and `m` are null or a condition and a mutex the program initialised.
#[no_mangle]
pub unsafe extern "C" fn pthread_cond_wait(c: *mut libc::pthread_cond_t, m: *mut libc::pthread_mutex_t) -> c_int {
    // SAFETY: the caller's contract is GreenWait::new's.
    match unsafe { GreenWait::new(c, m) } {
        Some(w) => wait(w.hub, w.address, w.mutex, None),
        // SAFETY: the program's arguments, passed on as it gave them.
        None => unsafe { real::pthread_cond_wait(c, m) },
    }
}

/// # Safety
/// `c` and `m` as for pthread_cond_wait; `abstime` is null or a timespec.
#[no_mangle]
pub unsafe extern "C" fn pthread_cond_timedwait(
    c: *mut libc::pthread_cond_t,
    m: *mut libc::pthread_mutex_t,
    abstime: *const libc::timespec,
) -> c_int {
    // SAFETY: the caller's contract is GreenWait::new's.
    match unsafe { GreenWait::new(c, m) } {
        // SAFETY: the caller passes null or a readable timespec.
        Some(w) => w.until(w.clock, unsafe { abstime.as_ref() }),
        // SAFETY: the program's arguments, passed on as it gave them.
        None => unsafe { real::pthread_cond_timedwait(c, m, abstime) },
    }
}

/// # Safety
/// `c` and `m` as for pthread_cond_wait; `abstime` is null or a timespec.
#[no_mangle]
pub unsafe extern "C" fn pthread_cond_clockwait(
    c: *mut libc::pthread_cond_t,
    m: *mut libc::pthread_mutex_t,
    clock_id: libc::clockid_t,
    abstime: *const libc::timespec,
) -> c_int {
    // SAFETY: the caller's contract is GreenWait::new's.
    match unsafe { GreenWait::new(c, m) } {
        Some(_) if clock_id != libc::CLOCK_REALTIME && clock_id != libc::CLOCK_MONOTONIC => libc::EINVAL,
        // SAFETY: the caller passes null or a readable timespec.
        Some(w) => w.until(clock_id, unsafe { abstime.as_ref() }),
        // SAFETY: the program's arguments, passed on as it gave them.
        None => unsafe { real::pthread_cond_clockwait(c, m, clock_id, abstime) },
    }
}

/// # Safety
/// `c` is null or a condition the program initialised.
#[no_mangle]
pub unsafe extern "C" fn pthread_cond_signal(c: *mut libc::pthread_cond_t) -> c_int {
    let Some(hub) = Hub::here() else {
        // SAFETY: the program's argument, passed on as it gave it.
        let result = unsafe { real::pthread_cond_signal(c) };
        // A foreign thread's signal: green waiters wake through the hub (a spurious
        // wake-up for any that a signal would not have picked, which POSIX allows).
        post_foreign(c as usize);
        return result;
    };
    if !c.is_null() && !hub.wake_one(c as usize, Wake::Handoff) {
        // SAFETY: hub thread (`hub`).
        unsafe { condwait::claim(c as usize, false) };
    }
    // SAFETY: the program's argument, passed on as it gave it.
    unsafe { real::pthread_cond_signal(c) }
}

/// # Safety
/// `c` is null or a condition the program initialised.
#[no_mangle]
pub unsafe extern "C" fn pthread_cond_broadcast(c: *mut libc::pthread_cond_t) -> c_int {
    let Some(hub) = Hub::here() else {
        // SAFETY: the program's argument, passed on as it gave it.
        let result = unsafe { real::pthread_cond_broadcast(c) };
        // A foreign thread's signal: green waiters wake through the hub (a spurious
        // wake-up for any that a signal would not have picked, which POSIX allows).
        post_foreign(c as usize);
        return result;
    };
    if !c.is_null() {
        hub.wake_all(c as usize, Wake::Handoff);
        // SAFETY: hub thread (`hub`).
        unsafe { condwait::claim(c as usize, true) };
    }
    // SAFETY: the program's argument, passed on as it gave it.
    unsafe { real::pthread_cond_broadcast(c) }
}
