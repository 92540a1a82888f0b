//! pthread_cond_* as green waits: waiters queue by the condition's address; signal hands
//! the longest waiter back to its mutex. A condition is also signalled through glibc, for
//! any foreign OS thread waiting on it natively (glibc returns at once when none is).
//!
//! The clock a condition measures timeouts on (pthread_condattr_setclock) lives in glibc's
//! `__wrefs` word, bit 1 (bit 0: process-shared). That word moved between glibc releases, so
//! we find it once by initialising a CLOCK_MONOTONIC condition and seeing which word is set.

use super::sync_mutex::{self, abs_deadline};
use crate::runtime::green::{Wake, WaitingOn};
use crate::runtime::waitqueue;
use crate::sys::real;
use core::ffi::c_int;
use core::sync::atomic::{AtomicUsize, Ordering};

const UNKNOWN: usize = 0;
const NOT_FOUND: usize = usize::MAX;
static WREFS_OFFSET: AtomicUsize = AtomicUsize::new(UNKNOWN);

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

fn probe_wrefs_offset() -> Option<usize> {
    // SAFETY: plain initialisation of local pthread objects with glibc's own functions.
    unsafe {
        let mut attr: libc::pthread_condattr_t = core::mem::zeroed();
        libc::pthread_condattr_init(&mut attr);
        libc::pthread_condattr_setclock(&mut attr, libc::CLOCK_MONOTONIC);
        let mut cond: libc::pthread_cond_t = core::mem::zeroed();
        libc::pthread_cond_init(&mut cond, &attr);
        let words = core::slice::from_raw_parts(
            &cond as *const _ as *const u32,
            core::mem::size_of::<libc::pthread_cond_t>() / 4,
        );
        let mut set = words.iter().enumerate().filter(|(_, &w)| w != 0);
        match (set.next(), set.next()) {
            (Some((index, &2)), None) => Some(index * 4),
            _ => None,
        }
    }
}

/// (clock, process-shared) of a condition variable.
unsafe fn attributes(c: *mut libc::pthread_cond_t) -> (libc::clockid_t, bool) {
    match wrefs_offset() {
        Some(offset) => {
            let wrefs = *((c as *const u8).add(offset) as *const u32);
            let clock = if wrefs & 2 != 0 { libc::CLOCK_MONOTONIC } else { libc::CLOCK_REALTIME };
            (clock, wrefs & 1 != 0)
        }
        None => (libc::CLOCK_REALTIME, false),
    }
}

/// The green wait: release the mutex, park in the condition's queue, take the mutex back.
/// Nothing can run between the release and the park (one OS thread, and unlock does not
/// switch), so no signal is lost.
unsafe fn wait(
    c: *mut libc::pthread_cond_t,
    mutex: &mut sync_mutex::GlibcMutex,
    deadline: Option<u64>,
) -> c_int {
    let released = sync_mutex::unlock(mutex);
    if released != 0 {
        return released;
    }
    let address = c as usize;
    let wake = waitqueue::wait(address, deadline, WaitingOn::Condition { address });
    sync_mutex::lock(mutex, None);
    if wake == Wake::Timeout {
        libc::ETIMEDOUT
    } else {
        0
    }
}

/// Whether this wait can be green: hub thread, green mutex, process-private condition.
unsafe fn green_pair(
    c: *mut libc::pthread_cond_t,
    m: *mut libc::pthread_mutex_t,
) -> Option<(&'static mut sync_mutex::GlibcMutex, libc::clockid_t)> {
    if c.is_null() {
        return None;
    }
    let mutex = sync_mutex::as_green(m)?;
    let (clock, shared) = attributes(c);
    (!shared).then_some((mutex, clock))
}

#[no_mangle]
pub unsafe extern "C" fn pthread_cond_wait(c: *mut libc::pthread_cond_t, m: *mut libc::pthread_mutex_t) -> c_int {
    match green_pair(c, m) {
        Some((mutex, _)) => wait(c, mutex, None),
        None => real::pthread_cond_wait(c, m),
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_cond_timedwait(
    c: *mut libc::pthread_cond_t,
    m: *mut libc::pthread_mutex_t,
    abstime: *const libc::timespec,
) -> c_int {
    match green_pair(c, m) {
        Some((mutex, clock)) => match abs_deadline(clock, abstime) {
            Ok(deadline) => wait(c, mutex, Some(deadline)),
            Err(e) => e,
        },
        None => real::pthread_cond_timedwait(c, m, abstime),
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_cond_clockwait(
    c: *mut libc::pthread_cond_t,
    m: *mut libc::pthread_mutex_t,
    clock_id: libc::clockid_t,
    abstime: *const libc::timespec,
) -> c_int {
    match green_pair(c, m) {
        Some((mutex, _)) => {
            if clock_id != libc::CLOCK_REALTIME && clock_id != libc::CLOCK_MONOTONIC {
                return libc::EINVAL;
            }
            match abs_deadline(clock_id, abstime) {
                Ok(deadline) => wait(c, mutex, Some(deadline)),
                Err(e) => e,
            }
        }
        None => real::pthread_cond_clockwait(c, m, clock_id, abstime),
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_cond_signal(c: *mut libc::pthread_cond_t) -> c_int {
    if crate::runtime::on_hub() && !c.is_null() {
        waitqueue::wake_one(c as usize, Wake::Handoff);
    }
    real::pthread_cond_signal(c)
}

#[no_mangle]
pub unsafe extern "C" fn pthread_cond_broadcast(c: *mut libc::pthread_cond_t) -> c_int {
    if crate::runtime::on_hub() && !c.is_null() {
        waitqueue::wake_all(c as usize, Wake::Handoff);
    }
    real::pthread_cond_broadcast(c)
}
