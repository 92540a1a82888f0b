//! pthread_mutex_* as green locks, on glibc's own mutex words.
//!
//! We keep glibc's layout and protocol (lock word 0 = free, 1 = locked, 2 = locked with
//! waiters; owner = a tid) so that a mutex shared with a foreign OS thread (one that is not
//! green) keeps working: a foreign waiter sleeps on the futex and our unlock wakes it; a
//! green waiter on a foreign-held lock polls with a short, growing sleep. Between green
//! threads, unlock hands the lock straight to the longest waiter (FIFO): with cooperative
//! scheduling, "wake and let it retry" would let a thread that unlocks and relocks without
//! parking starve everyone else forever.
//!
//! Robust, priority-inheritance, priority-protect and process-shared mutexes pass through
//! to glibc: their semantics involve the kernel or other processes.

use crate::runtime::green::{self, Wake, WaitingOn};
use crate::runtime::{on_hub, rt, waitqueue};
use crate::sys::{clock, raw, real};
use core::ffi::c_int;
use core::sync::atomic::{AtomicI32, Ordering};

/// glibc's `struct __pthread_mutex_s` prefix, identical on x86-64 and aarch64.
#[repr(C)]
pub(crate) struct GlibcMutex {
    lock: AtomicI32,
    count: u32,
    owner: i32,
    nusers: u32,
    kind: i32,
}

const TYPE_MASK: i32 = 3;
const RECURSIVE: i32 = libc::PTHREAD_MUTEX_RECURSIVE;
const ERRORCHECK: i32 = libc::PTHREAD_MUTEX_ERRORCHECK;
/// ROBUST_NORMAL_NP | PRIO_INHERIT_NP | PRIO_PROTECT_NP | PSHARED_BIT.
const KERNEL_OR_SHARED: i32 = 16 | 32 | 64 | 128;

/// Green-handled mutex, or None: pass through to glibc.
#[inline(always)]
unsafe fn green_mutex(m: *mut libc::pthread_mutex_t) -> Option<&'static mut GlibcMutex> {
    if m.is_null() || !on_hub() {
        return None;
    }
    let mutex = &mut *(m as *mut GlibcMutex);
    (mutex.kind & KERNEL_OR_SHARED == 0).then_some(mutex)
}

#[inline(always)]
unsafe fn me() -> i32 {
    green::owner_tag(green::current())
}

#[inline(always)]
fn try_acquire(m: &mut GlibcMutex, me: i32) -> bool {
    if m.lock.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
        return false;
    }
    m.owner = me;
    if m.kind & TYPE_MASK == RECURSIVE {
        m.count = 1;
    }
    m.nusers = m.nusers.wrapping_add(1);
    true
}

/// Whether the holder is a green thread of ours (then it will hand the lock over).
unsafe fn held_by_green(m: &GlibcMutex) -> bool {
    m.owner < 0 || m.owner == rt().root_tid
}

/// Acquires `m` for the current green thread, waiting until `deadline` at most.
/// Returns 0 or an error number, as pthread_mutex_lock does.
pub(crate) unsafe fn lock(m: &mut GlibcMutex, deadline: Option<u64>) -> c_int {
    let me = me();
    if try_acquire(m, me) {
        return 0;
    }
    if m.owner == me {
        match m.kind & TYPE_MASK {
            RECURSIVE => {
                if m.count == u32::MAX {
                    return libc::EAGAIN;
                }
                m.count += 1;
                return 0;
            }
            ERRORCHECK => return libc::EDEADLK,
            // A normal mutex locked twice deadlocks natively; here the thread parks
            // forever and the deadlock report names it.
            _ => {}
        }
    }
    let address = m as *mut GlibcMutex as usize;
    let mut backoff_ns = 50_000u64;
    loop {
        if held_by_green(m) {
            // Tell a foreign locker (and our own unlock) that someone waits.
            m.lock.store(2, Ordering::Relaxed);
            match waitqueue::wait(address, deadline, WaitingOn::Lock { address }) {
                Wake::Handoff => return 0,
                Wake::Timeout => return libc::ETIMEDOUT,
                _ => {}
            }
        } else {
            // A foreign OS thread holds it: it will not hand over, so look again shortly.
            let now = clock::monotonic_ns();
            if deadline.is_some_and(|d| now >= d) {
                return libc::ETIMEDOUT;
            }
            let nap = now + backoff_ns;
            green::park(Some(deadline.map_or(nap, |d| d.min(nap))), WaitingOn::Lock { address });
            backoff_ns = (backoff_ns * 2).min(10_000_000);
        }
        if try_acquire(m, me) {
            return 0;
        }
    }
}

pub(crate) unsafe fn unlock(m: &mut GlibcMutex) -> c_int {
    let kind = m.kind & TYPE_MASK;
    if kind == RECURSIVE || kind == ERRORCHECK {
        if m.owner != me() || m.lock.load(Ordering::Relaxed) == 0 {
            return libc::EPERM;
        }
        if kind == RECURSIVE {
            m.count -= 1;
            if m.count != 0 {
                return 0;
            }
        }
    }
    // Green waiters mark the word 2 before they park, so a 1 means nobody to hand over to
    // and the wait queues need not be looked at.
    if m.lock.load(Ordering::Relaxed) == 2 {
        let address = m as *mut GlibcMutex as usize;
        if let Some(next) = waitqueue::wake_one(address, Wake::Handoff) {
            // Ownership passes directly; the lock word stays "locked, maybe waiters".
            m.owner = green::owner_tag(next);
            if kind == RECURSIVE {
                m.count = 1;
            }
            return 0;
        }
    }
    m.owner = 0;
    m.nusers = m.nusers.wrapping_sub(1);
    if m.lock.swap(0, Ordering::Release) == 2 {
        // Someone may sleep on the futex: a foreign thread, as glibc would wake it.
        raw::futex_wake(m.lock.as_ptr(), 1, true);
    }
    0
}

/// Converts a pthread absolute timeout to a monotonic deadline, or an error number.
pub(crate) unsafe fn abs_deadline(clock_id: libc::clockid_t, abstime: *const libc::timespec) -> Result<u64, c_int> {
    if abstime.is_null() {
        return Err(libc::EINVAL);
    }
    let ts = &*abstime;
    if !(0..1_000_000_000).contains(&(ts.tv_nsec as i64)) {
        return Err(libc::EINVAL);
    }
    if ts.tv_sec < 0 {
        return Ok(clock::monotonic_ns());
    }
    clock::timespec_ns(ts)
        .and_then(|ns| clock::deadline_from_abs(clock_id, ns))
        .ok_or(libc::EINVAL)
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_lock(m: *mut libc::pthread_mutex_t) -> c_int {
    match green_mutex(m) {
        Some(mutex) => lock(mutex, None),
        None => real::pthread_mutex_lock(m),
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_trylock(m: *mut libc::pthread_mutex_t) -> c_int {
    let Some(mutex) = green_mutex(m) else { return real::pthread_mutex_trylock(m) };
    let me = me();
    if try_acquire(mutex, me) {
        return 0;
    }
    if mutex.kind & TYPE_MASK == RECURSIVE && mutex.owner == me {
        if mutex.count == u32::MAX {
            return libc::EAGAIN;
        }
        mutex.count += 1;
        return 0;
    }
    libc::EBUSY
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_unlock(m: *mut libc::pthread_mutex_t) -> c_int {
    match green_mutex(m) {
        Some(mutex) => unlock(mutex),
        None => real::pthread_mutex_unlock(m),
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_timedlock(
    m: *mut libc::pthread_mutex_t,
    abstime: *const libc::timespec,
) -> c_int {
    pthread_mutex_clocklock(m, libc::CLOCK_REALTIME, abstime)
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_clocklock(
    m: *mut libc::pthread_mutex_t,
    clock_id: libc::clockid_t,
    abstime: *const libc::timespec,
) -> c_int {
    let Some(mutex) = green_mutex(m) else {
        return real::pthread_mutex_clocklock(m, clock_id, abstime);
    };
    if clock_id != libc::CLOCK_REALTIME && clock_id != libc::CLOCK_MONOTONIC {
        return libc::EINVAL;
    }
    // Like glibc, an uncontended lock succeeds without looking at the timeout.
    if try_acquire(mutex, me()) {
        return 0;
    }
    match abs_deadline(clock_id, abstime) {
        Ok(deadline) => lock(mutex, Some(deadline)),
        Err(e) => e,
    }
}

/// For pthread_cond_*: the green mutex behind `m`, if green.
pub(crate) unsafe fn as_green(m: *mut libc::pthread_mutex_t) -> Option<&'static mut GlibcMutex> {
    green_mutex(m)
}
