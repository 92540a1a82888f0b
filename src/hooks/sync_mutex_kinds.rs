//! Robust, priority-inheritance (PI) and priority-protect (PP) mutexes, process-private, as
//! green locks with green ownership, on glibc's own words (nptl/pthread_mutex_lock.c,
//! pthread_mutex_unlock.c, glibc 2.36) so that a foreign OS thread running glibc's code on
//! the same mutex still works (it sleeps on the futex; a green waiter polls it).
//!
//! * **Who holds it.** [`HELD`] maps each such mutex a green thread holds to the holder's
//!   *ident*: the root's kernel TID, and for other green threads `IDENT_BASE` plus their
//!   id (modulo 2^29): above PID_MAX_LIMIT (2^22), so never a TID, inside FUTEX_TID_MASK,
//!   without FUTEX_WAITERS or FUTEX_OWNER_DIED, and unique among live threads unless 2^29
//!   threads are created while one lives. `__owner` holds the ident too (or glibc's
//!   INCONSISTENT and NOTRECOVERABLE cookies), `__count` the holds.
//! * **Lock words.** Robust: the holder's ident, with FUTEX_WAITERS kept as a foreign
//!   waiter sets it. PI: the hub thread's TID, because a foreign locker's FUTEX_LOCK_PI
//!   needs a live task as owner (the kernel then boosts the OS thread that runs every green
//!   thread); unlock with FUTEX_WAITERS set goes through FUTEX_UNLOCK_PI. PP: glibc's
//!   ceiling in the high bits, 1 or 2 below. Green waiters never touch the word: unlock
//!   looks at the wait queue and hands the mutex to the longest waiter (sync_mutex.rs).
//! * **Errors** as glibc gives them: EPERM for an unlock by a thread that does not hold it
//!   (robust and PI always; PP unless normal), EDEADLK for a relock or trylock of an
//!   error-checking one, recursive counts with EAGAIN, EBUSY. A normal one relocked by its
//!   holder parks for ever, as glibc's futex wait does.
//! * **Owner death.** When a green thread ends (return, pthread_exit, cancellation), every
//!   robust mutex it holds becomes INCONSISTENT and goes to the longest green waiter, whose
//!   lock returns EOWNERDEAD; with no green waiter the word becomes FUTEX_OWNER_DIED (plus
//!   FUTEX_WAITERS, and a futex wake, if a foreign thread waits), as the kernel leaves it,
//!   and the next locker gets EOWNERDEAD. A PI one that a foreign thread waits for in the
//!   kernel goes to it through FUTEX_UNLOCK_PI, which drops FUTEX_OWNER_DIED: that thread
//!   sees no EOWNERDEAD. pthread_mutex_consistent makes it the caller's again; unlocking
//!   it inconsistent makes it NOTRECOVERABLE, and every later lock returns
//!   ENOTRECOVERABLE. Non-robust mutexes an ending thread holds stay locked, as natively.
//!   The root is not covered: its pthread_exit keeps what it holds.
//! * **Which robust mutexes.** glibc sets PTHREAD_MUTEX_PSHARED_BIT in every robust
//!   mutex's `__kind` (the kernel wakes robust futexes as shared), so the kind cannot say
//!   whether one is process-shared. pthread_mutex_init (sync_mutex_attrs.rs) records the
//!   robust ones made process-private on the hub thread (sync_mutex_words.rs); any other
//!   robust mutex (made process-shared, or elsewhere) stays glibc's, as process-shared
//!   mutexes do (sync_mutex_shared.rs), so the kernel still recovers it when a process
//!   dies.
//! * **Priorities** (PP ceilings, PI boosts) are the one OS thread's: sync_mutex_prio.rs.

use super::deadline::{passed, recheck_deadline, FIRST_NAP_NS};
use super::hub::{Hub, HubMap};
use super::sync_mutex_prio as prio;
use super::sync_mutex_words::{
    futex_unlock_pi, ident_of, is_private, my_ident, os_tid, GlibcMutex, CEILING_MASK, CEILING_SHIFT, ERRORCHECK,
    INCONSISTENT, NOTRECOVERABLE, OWNER_DIED, PI, PP, RECURSIVE, ROBUST, TID_MASK, TYPE_MASK, WAITERS,
};
use crate::runtime::green::{Wake, WaitingOn};
use crate::sys::raw;
use core::ffi::c_int;
use core::sync::atomic::AtomicBool;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};

/// The special mutexes green threads hold: address -> holder's ident.
static HELD: HubMap<i32> = HubMap::new();
static REGISTERED: AtomicBool = AtomicBool::new(false);


/// A robust, PI or PP mutex, process-private, used on the hub thread.
#[derive(Clone, Copy)]
pub(crate) struct Special<'a> {
    m: &'a GlibcMutex,
    hub: Hub,
    kind: i32,
}

impl<'a> Special<'a> {
    pub(super) fn new(m: &'a GlibcMutex, hub: Hub) -> Self {
        Special { m, hub, kind: m.kind.load(Relaxed) }
    }

    /// The special mutex behind `m`, or None: glibc's call.
    ///
    /// # Safety
    /// `m` is null or a mutex the program initialised, in place for `'a`.
    pub(super) unsafe fn of(m: *mut libc::pthread_mutex_t) -> Option<Self> {
        let hub = Hub::here()?;
        // SAFETY: null or a live mutex (caller), which begins with a GlibcMutex of atomics.
        let m = unsafe { (m as *const GlibcMutex).as_ref() }?;
        Some(Special::new(m, hub)).filter(|s| is_private(hub, s.address(), s.kind))
    }

    pub(super) fn has(self, flag: i32) -> bool {
        self.kind & flag != 0
    }

    fn type_(self) -> i32 {
        self.kind & TYPE_MASK
    }

    fn address(self) -> usize {
        self.m as *const GlibcMutex as usize
    }

    fn holder(self) -> Option<i32> {
        HELD.with(self.hub, |held| held.get(&self.address()).copied())
    }

    fn set_holder(self, ident: Option<i32>) {
        let address = self.address();
        HELD.with(self.hub, |held| match ident {
            Some(ident) => held.insert(address, ident),
            None => held.remove(&address),
        });
        if ident.is_some() && !REGISTERED.swap(true, Relaxed) {
            crate::runtime::robust::on_thread_end(thread_ended);
        }
    }

    pub(super) fn ceiling(self) -> i32 {
        (self.m.lock.load(Relaxed) & CEILING_MASK) >> CEILING_SHIFT & 0x1fff
    }

    /// Takes the lock word if it is free or its owner died: Some(owner died).
    fn take_word(self, me: i32) -> Option<bool> {
        let lock = &self.m.lock;
        let word = lock.load(Relaxed);
        if self.has(PP) {
            let free = word & CEILING_MASK;
            return lock.compare_exchange(free, free | 1, Acquire, Relaxed).ok().map(|_| false);
        }
        let mine = if self.has(PI) { os_tid() } else { me };
        if word == 0 {
            return lock.compare_exchange(0, mine, Acquire, Relaxed).ok().map(|_| false);
        }
        if self.has(ROBUST) && word & (OWNER_DIED | TID_MASK) == OWNER_DIED {
            return lock.compare_exchange(word, mine | (word & WAITERS), Acquire, Relaxed).ok().map(|_| true);
        }
        None
    }

    /// Waits until the lock word is ours (Ok(owner died)) or `deadline` passes.
    fn take(self, me: i32, deadline: Option<u64>) -> Result<bool, c_int> {
        if let Some(died) = self.take_word(me) {
            return Ok(died);
        }
        let address = self.address();
        let mut nap = FIRST_NAP_NS;
        loop {
            if self.holder().is_some() {
                match self.hub.wait(address, deadline, WaitingOn::Lock { address }) {
                    Wake::Handoff => return Ok(false),
                    Wake::Timeout => return Err(libc::ETIMEDOUT),
                    _ => {}
                }
            } else {
                // A foreign OS thread holds it: it will not hand over, so look again shortly.
                if passed(deadline) {
                    return Err(libc::ETIMEDOUT);
                }
                let wake_at = recheck_deadline(deadline, true, &mut nap);
                self.hub.park(wake_at, WaitingOn::Lock { address });
            }
            if let Some(died) = self.take_word(me) {
                return Ok(died);
            }
        }
    }

    /// The lock word is ours: the mutex is, with glibc's checks of a robust one's state.
    fn acquired(self, me: i32, died: bool) -> c_int {
        let m = self.m;
        self.set_holder(Some(me));
        if died {
            m.owner.store(INCONSISTENT, Relaxed);
            m.count.store(1, Relaxed);
            return libc::EOWNERDEAD;
        }
        if self.has(ROBUST) {
            match m.owner.load(Relaxed) {
                NOTRECOVERABLE => {
                    m.count.store(0, Relaxed);
                    self.release(false);
                    return libc::ENOTRECOVERABLE;
                }
                // Handed over by an owner that ended (thread_ended).
                INCONSISTENT => {
                    m.count.store(1, Relaxed);
                    return libc::EOWNERDEAD;
                }
                _ => {}
            }
        }
        m.owner.store(me, Relaxed);
        m.count.store(1, Relaxed);
        m.nusers.fetch_add(1, Relaxed);
        0
    }

    /// A holder's relock: EDEADLK, one more hold, or None (it waits, as glibc's does).
    fn relock(self, me: i32) -> Option<c_int> {
        let word = self.m.lock.load(Relaxed);
        let locked = if self.has(PP) { word & !CEILING_MASK != 0 } else { word & TID_MASK != 0 };
        if !locked || self.holder() != Some(me) {
            return None;
        }
        match self.type_() {
            ERRORCHECK => Some(libc::EDEADLK),
            RECURSIVE => Some(match self.m.count.load(Relaxed) {
                u32::MAX => libc::EAGAIN,
                count => {
                    self.m.count.store(count + 1, Relaxed);
                    0
                }
            }),
            _ => None,
        }
    }

    /// pthread_mutex_lock and the timed locks.
    pub(super) fn lock(self, deadline: Option<u64>) -> c_int {
        self.lock_with(|me| self.take(me, deadline))
    }

    /// A lock by `take` (which waits or not): a relock is settled first, and a
    /// priority-protect mutex raises the ceiling before it and lowers it again if `take`
    /// fails.
    fn lock_with(self, take: impl FnOnce(i32) -> Result<bool, c_int>) -> c_int {
        let me = my_ident(self.hub);
        if let Some(result) = self.relock(me) {
            return result;
        }
        let ceiling = self.ceiling();
        if self.has(PP) {
            if let Err(e) = prio::raise(self.hub, me, ceiling) {
                return e;
            }
        }
        match take(me) {
            Ok(died) => self.acquired(me, died),
            Err(e) => {
                if self.has(PP) {
                    prio::lower(self.hub, me, ceiling);
                }
                e
            }
        }
    }

    /// The uncontended lock, which glibc makes without looking at a timeout; None when the
    /// mutex is held or priority-protect.
    pub(super) fn try_lock_untimed(self) -> Option<c_int> {
        if self.has(PP) {
            return None;
        }
        let me = my_ident(self.hub);
        self.take_word(me).map(|died| self.acquired(me, died))
    }

    /// pthread_mutex_trylock.
    pub(super) fn trylock(self) -> c_int {
        self.lock_with(|me| self.take_word(me).ok_or(libc::EBUSY))
    }

    /// pthread_mutex_unlock.
    pub(super) fn unlock(self) -> c_int {
        let m = self.m;
        let mine = self.holder() == Some(my_ident(self.hub));
        let checked = !self.has(PP) || self.type_() == ERRORCHECK || self.type_() == RECURSIVE;
        if checked && !mine {
            return libc::EPERM;
        }
        let inconsistent = self.has(ROBUST) && m.owner.load(Relaxed) == INCONSISTENT;
        if self.type_() == RECURSIVE {
            let count = m.count.load(Relaxed).wrapping_sub(1);
            m.count.store(count, Relaxed);
            if count != 0 {
                return if inconsistent { libc::ENOTRECOVERABLE } else { 0 };
            }
        }
        m.owner.store(if inconsistent { NOTRECOVERABLE } else { 0 }, Relaxed);
        let ceiling = self.ceiling();
        self.release(true);
        if self.has(PP) {
            return prio::lower(self.hub, my_ident(self.hub), ceiling);
        }
        0
    }

    /// Lets go of the mutex: to the longest green waiter, else free (waking a foreign
    /// waiter as glibc's unlock would). `leaving` counts one user less.
    fn release(self, leaving: bool) {
        if leaving {
            self.m.nusers.fetch_sub(1, Relaxed);
        }
        if !self.hand_over() {
            self.set_holder(None);
            self.free_word();
        }
    }

    /// Hands the mutex to the longest green waiter, if any, who wakes in `take`.
    fn hand_over(self) -> bool {
        let Some(tag) = self.hub.hand_over(self.address()) else { return false };
        let next = ident_of(tag);
        self.set_holder(Some(next));
        if !self.has(PI) && !self.has(PP) {
            // A robust word names its holder; keep a foreign waiter's FUTEX_WAITERS.
            let _ = self.m.lock.fetch_update(Relaxed, Relaxed, |w| Some(next | (w & WAITERS)));
        }
        true
    }

    fn free_word(self) {
        let lock = &self.m.lock;
        if self.has(PI) {
            // Robust PI futexes are process-shared to the kernel (glibc's
            // PTHREAD_ROBUST_MUTEX_PSHARED).
            let private = !self.has(ROBUST);
            let tid = os_tid();
            let mut word = lock.load(Relaxed);
            while word == tid {
                match lock.compare_exchange_weak(word, 0, Release, Relaxed) {
                    Ok(_) => return,
                    Err(now) => word = now,
                }
            }
            // A foreign waiter in the kernel: it hands over.
            futex_unlock_pi(lock, private);
        } else if self.has(PP) {
            let old = lock.fetch_update(Release, Relaxed, |w| Some(w & CEILING_MASK)).unwrap_or(0);
            if old & !CEILING_MASK > 1 {
                raw::futex_wake(lock.as_ptr(), 1, true);
            }
        } else if lock.swap(0, Release) & WAITERS != 0 {
            raw::futex_wake(lock.as_ptr(), 1, false);
        }
    }

    /// The holder ended: owner death of a robust mutex (see the module doc).
    fn owner_died(self) {
        let lock = &self.m.lock;
        self.m.owner.store(INCONSISTENT, Relaxed);
        if self.hand_over() {
            return;
        }
        self.set_holder(None);
        if self.has(PI) {
            let tid = os_tid();
            if lock.compare_exchange(tid, OWNER_DIED, Release, Relaxed).is_err() {
                futex_unlock_pi(lock, false);
            }
        } else {
            let old = lock.fetch_update(Release, Relaxed, |w| Some((w & WAITERS) | OWNER_DIED)).unwrap_or(0);
            if old & WAITERS != 0 {
                raw::futex_wake(lock.as_ptr(), 1, false);
            }
        }
    }

    /// pthread_mutex_consistent: EINVAL unless robust with a dead owner's state.
    pub(super) fn make_consistent(self) -> c_int {
        if !self.has(ROBUST) || self.m.owner.load(Relaxed) != INCONSISTENT {
            return libc::EINVAL;
        }
        self.m.owner.store(my_ident(self.hub), Relaxed);
        0
    }

    /// pthread_mutex_setprioceiling's part between its checks: the old ceiling, or an
    /// error number.
    pub(super) fn set_ceiling(self, ceiling: i32) -> Result<i32, c_int> {
        let me = my_ident(self.hub);
        let held = self.holder() == Some(me);
        if held && self.type_() == ERRORCHECK {
            return Err(libc::EDEADLK);
        }
        let locked = held && self.type_() == RECURSIVE;
        if !locked {
            // glibc takes the word without the ceiling protocol, and without an owner.
            self.take(me, None)?;
            self.set_holder(Some(me));
        }
        let old = self.ceiling();
        if locked {
            match prio::change(self.hub, me, old, ceiling) {
                0 => {}
                e => return Err(e),
            }
        }
        let lock = &self.m.lock;
        let _ = lock.fetch_update(Release, Relaxed, |w| Some((w & !CEILING_MASK) | (ceiling << CEILING_SHIFT)));
        if !locked {
            self.release(false);
        }
        raw::futex_wake(lock.as_ptr(), i32::MAX, true);
        Ok(old)
    }
}

/// pthread_mutex_init made a new mutex at `address`: nobody holds it.
pub(super) fn forget(hub: Hub, address: usize) {
    HELD.with(hub, |held| held.remove(&address));
}

/// Registered with the runtime (runtime/robust.rs): the ending green thread lets go of
/// what it holds.
fn thread_ended() {
    let Some(hub) = Hub::here() else { return };
    let me = my_ident(hub);
    prio::forget(hub, me);
    let mine: Vec<usize> = HELD.with(hub, |held| {
        let mine: Vec<usize> = held.iter().filter(|(_, &i)| i == me).map(|(&a, _)| a).collect();
        for address in &mine {
            held.remove(address);
        }
        mine
    });
    for address in mine {
        // SAFETY: the thread holds this mutex, so the program has not destroyed it (that
        // is undefined natively too, where the kernel writes to it at the thread's exit).
        let m = unsafe { &*(address as *const GlibcMutex) };
        let special = Special::new(m, hub);
        if special.has(ROBUST) {
            special.owner_died();
        }
    }
}

