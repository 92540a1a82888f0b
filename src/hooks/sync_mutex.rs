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
//! Robust, priority-inheritance and priority-protect mutexes (process-private) are green
//! locks too, with their own word protocol and green ownership: sync_mutex_kinds.rs.
//! Process-shared mutexes stay glibc's, since other processes lock them with glibc's own
//! code; a contended one is polled green instead of blocking the OS thread:
//! sync_mutex_shared.rs.

use super::deadline::{abs_deadline, passed, recheck_deadline, FIRST_NAP_NS};
use super::hub::{fair_turn, Hub};
use super::sync_mutex_kinds::Special;
use super::sync_mutex_words::{is_private, GlibcMutex, ERRORCHECK, RECURSIVE, SHARED, SPECIAL, TYPE_MASK};
use super::sync_mutex_shared::{shared_clocklock, shared_lock};
use crate::runtime::green::{Wake, WaitingOn};
use crate::sys::{raw, real};
use core::ffi::c_int;
use core::sync::atomic::Ordering::{self, Relaxed};


/// A mutex we lock green: process-private, used on the hub thread. `special` mutexes
/// (robust, priority-inheritance, priority-protect) follow sync_mutex_kinds.rs.
#[derive(Clone, Copy)]
pub(crate) struct GreenMutex<'a> {
    m: &'a GlibcMutex,
    hub: Hub,
    special: bool,
}

impl<'a> GreenMutex<'a> {
    /// The green mutex behind `m`, or None: pass through to glibc.
    ///
    /// # Safety
    /// `m` is null or points to a mutex pthread_mutex_init (or an initialiser) set up, which
    /// stays in place for `'a`.
    #[inline(always)]
    pub(crate) unsafe fn new(m: *mut libc::pthread_mutex_t) -> Option<Self> {
        let hub = Hub::here()?;
        // SAFETY: the caller's pointer is null or a live mutex whose first words are a
        // GlibcMutex (see there); all of them are atomics, so sharing is sound.
        let m = unsafe { (m as *const GlibcMutex).as_ref() }?;
        let kind = m.kind.load(Relaxed);
        if kind & SPECIAL == 0 {
            return (kind & SHARED == 0).then_some(GreenMutex { m, hub, special: false });
        }
        is_private(hub, m as *const GlibcMutex as usize, kind).then_some(GreenMutex { m, hub, special: true })
    }

    fn kinds(self) -> Special<'a> {
        Special::new(self.m, self.hub)
    }

    fn kind(self) -> i32 {
        self.m.kind.load(Relaxed) & TYPE_MASK
    }

    fn address(self) -> usize {
        self.m as *const GlibcMutex as usize
    }

    #[inline(always)]
    fn try_acquire(self, me: i32) -> bool {
        let m = self.m;
        if m.lock.compare_exchange(0, 1, Ordering::Acquire, Relaxed).is_err() {
            return false;
        }
        m.owner.store(me, Relaxed);
        if self.kind() == RECURSIVE {
            m.count.store(1, Relaxed);
        }
        m.nusers.fetch_add(1, Relaxed);
        true
    }

    /// One more hold of a recursive mutex its owner already holds: 0, or EAGAIN when the
    /// count would overflow.
    fn relock(self) -> c_int {
        let count = self.m.count.load(Relaxed);
        if count == u32::MAX {
            return libc::EAGAIN;
        }
        self.m.count.store(count + 1, Relaxed);
        0
    }

    /// Acquires the mutex for the current green thread, waiting until `deadline` at most.
    /// Returns 0 or an error number, as pthread_mutex_lock does.
    pub(crate) fn lock(self, deadline: Option<u64>) -> c_int {
        if self.special {
            return self.kinds().lock(deadline);
        }
        let me = self.hub.my_owner_tag();
        if self.try_acquire(me) {
            return 0;
        }
        if self.m.owner.load(Relaxed) == me {
            match self.kind() {
                RECURSIVE => return self.relock(),
                ERRORCHECK => return libc::EDEADLK,
                // A normal mutex locked twice deadlocks natively; here the thread parks
                // forever and the deadlock report names it.
                _ => {}
            }
        }
        let address = self.address();
        let mut nap = FIRST_NAP_NS;
        loop {
            if self.hub.is_green_owner(self.m.owner.load(Relaxed)) {
                // Tell a foreign locker (and our own unlock) that someone waits.
                self.m.lock.store(2, Relaxed);
                match self.hub.wait(address, deadline, WaitingOn::Lock { address }) {
                    Wake::Handoff => return 0,
                    Wake::Timeout => return libc::ETIMEDOUT,
                    _ => {}
                }
            } else {
                // A foreign OS thread holds it: it will not hand over, so look again shortly.
                if passed(deadline) {
                    return libc::ETIMEDOUT;
                }
                let wake_at = recheck_deadline(deadline, true, &mut nap);
                self.hub.park(wake_at, WaitingOn::Lock { address });
            }
            if self.try_acquire(me) {
                return 0;
            }
        }
    }

    /// pthread_mutex_trylock.
    fn trylock(self) -> c_int {
        if self.special {
            return self.kinds().trylock();
        }
        let me = self.hub.my_owner_tag();
        if self.try_acquire(me) {
            return 0;
        }
        if self.kind() == RECURSIVE && self.m.owner.load(Relaxed) == me {
            return self.relock();
        }
        libc::EBUSY
    }

    /// pthread_mutex_unlock: 0 or an error number.
    pub(crate) fn unlock(self) -> c_int {
        if self.special {
            return self.kinds().unlock();
        }
        let m = self.m;
        let kind = self.kind();
        if kind == RECURSIVE || kind == ERRORCHECK {
            if m.owner.load(Relaxed) != self.hub.my_owner_tag() || m.lock.load(Relaxed) == 0 {
                return libc::EPERM;
            }
            if kind == RECURSIVE && m.count.fetch_sub(1, Relaxed) != 1 {
                return 0;
            }
        }
        // Green waiters mark the word 2 before they park, so a 1 means nobody to hand over to
        // and the wait queues need not be looked at.
        if m.lock.load(Relaxed) == 2 {
            if let Some(next) = self.hub.hand_over(self.address()) {
                // Ownership passes directly; the lock word stays "locked, maybe waiters".
                m.owner.store(next, Relaxed);
                if kind == RECURSIVE {
                    m.count.store(1, Relaxed);
                }
                return 0;
            }
        }
        m.owner.store(0, Relaxed);
        m.nusers.fetch_sub(1, Relaxed);
        if m.lock.swap(0, Ordering::Release) == 2 {
            // Someone may sleep on the futex: a foreign thread, as glibc would wake it.
            raw::futex_wake(m.lock.as_ptr(), 1, true);
        }
        0
    }
}

impl GreenMutex<'_> {
    /// The unlock of a condition wait. glibc keeps the waiter counted in `__nusers` while
    /// it waits (so pthread_mutex_destroy says EBUSY meanwhile): the count goes back up.
    pub(crate) fn unlock_for_wait(self) -> c_int {
        let result = self.unlock();
        if result == 0 {
            self.m.nusers.fetch_add(1, Relaxed);
        }
        result
    }

    /// The relock after a condition wait, which the wait's unlock left counted.
    pub(crate) fn lock_after_wait(self) -> c_int {
        let result = self.lock(None);
        if result == 0 || result == libc::EOWNERDEAD {
            self.m.nusers.fetch_sub(1, Relaxed);
        }
        result
    }
}

/// # Safety
/// `m` is null or a mutex the program initialised (pthread_mutex_lock's contract).
#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_lock(m: *mut libc::pthread_mutex_t) -> c_int {
    // SAFETY: the caller's contract is GreenMutex::new's.
    match unsafe { GreenMutex::new(m) } {
        Some(mutex) => mutex.lock(None),
        // SAFETY: the caller's contract is shared_lock's.
        None => unsafe { shared_lock(m, None) },
    }
}

/// # Safety
/// `m` is null or a mutex the program initialised.
#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_trylock(m: *mut libc::pthread_mutex_t) -> c_int {
    // SAFETY: the caller's contract is GreenMutex::new's.
    match unsafe { GreenMutex::new(m) } {
        Some(mutex) => match mutex.trylock() {
            libc::EBUSY => {
                fair_turn();
                libc::EBUSY
            }
            result => result,
        },
        // SAFETY: the program's argument, passed on as it gave it.
        None => unsafe { real::pthread_mutex_trylock(m) },
    }
}

/// # Safety
/// `m` is null or a mutex the program initialised.
#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_unlock(m: *mut libc::pthread_mutex_t) -> c_int {
    // SAFETY: the caller's contract is GreenMutex::new's.
    match unsafe { GreenMutex::new(m) } {
        Some(mutex) => mutex.unlock(),
        // SAFETY: the program's argument, passed on as it gave it.
        None => unsafe { real::pthread_mutex_unlock(m) },
    }
}

/// # Safety
/// `m` is null or a mutex the program initialised; `abstime` is null or a timespec.
#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_timedlock(
    m: *mut libc::pthread_mutex_t,
    abstime: *const libc::timespec,
) -> c_int {
    // SAFETY: the same arguments, under the same contract.
    unsafe { pthread_mutex_clocklock(m, libc::CLOCK_REALTIME, abstime) }
}

/// # Safety
/// `m` is null or a mutex the program initialised; `abstime` is null or a timespec.
#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_clocklock(
    m: *mut libc::pthread_mutex_t,
    clock_id: libc::clockid_t,
    abstime: *const libc::timespec,
) -> c_int {
    // SAFETY: the caller's contract is GreenMutex::new's.
    let Some(mutex) = (unsafe { GreenMutex::new(m) }) else {
        // SAFETY: the caller's contract is shared_clocklock's.
        return unsafe { shared_clocklock(m, clock_id, abstime) };
    };
    if clock_id != libc::CLOCK_REALTIME && clock_id != libc::CLOCK_MONOTONIC {
        return libc::EINVAL;
    }
    // Like glibc, an uncontended lock succeeds without looking at the timeout.
    if mutex.special {
        if let Some(result) = mutex.kinds().try_lock_untimed() {
            return result;
        }
    } else if mutex.try_acquire(mutex.hub.my_owner_tag()) {
        return 0;
    }
    // SAFETY: the caller passes null or a readable timespec.
    match abs_deadline(clock_id, unsafe { abstime.as_ref() }) {
        Ok(deadline) => mutex.lock(Some(deadline)),
        Err(e) => e,
    }
}
