//! pthread_rwlock_* as green waits.
//!
//! glibc's own rwlock words stay the truth about whether the lock is held: the green paths
//! take and release it only with glibc's non-blocking calls (tryrdlock, trywrlock, unlock).
//! So a lock shared with a foreign OS thread (one that is not green) keeps working: a
//! foreign waiter sleeps on glibc's futexes and our unlock, which is glibc's, wakes it; a
//! green waiter on a foreign-held lock looks again after a short, growing nap, as a green
//! waiter on a foreign-held mutex does.
//!
//! What glibc cannot know is which *green* thread holds the lock (they share one kernel tid,
//! which glibc records as the writer) and who waits for it. That lives in a side table keyed
//! by the rwlock's address (sync_rwlock_state.rs, with glibc's layout), with an entry only while a green thread holds the lock or waits
//! for it: the green writer's owner tag, the number of read holds green threads took, and
//! how many green readers and writers wait. Green readers wait in the wait queue of the
//! rwlock's address, green writers in the queue of the address + 1 (odd, so no other
//! object's queue).
//!
//! On release the lock is handed to the waiters (FIFO within readers and within writers),
//! never left for them to retry: with cooperative scheduling, "wake and retry" lets a thread
//! that unlocks and relocks without parking starve everyone else. Who goes first follows the
//! lock's kind (glibc's `__flags`), as glibc decides:
//! * PTHREAD_RWLOCK_PREFER_READER_NP (the default): a reader gets in whenever no writer
//!   holds the lock, even while writers wait; a writer's unlock lets every waiting reader
//!   in, or else hands the lock to the longest-waiting writer.
//! * PTHREAD_RWLOCK_PREFER_WRITER_NP: readers as above, but a writer's unlock hands the
//!   lock to the next writer first (glibc does so for every kind but the default).
//! * PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP: readers also wait while a writer waits,
//!   so a stream of readers cannot starve writers. A thread that takes a second read lock
//!   while a writer waits deadlocks, as natively (the deadlock report names it).
//!
//! The last green reader's unlock hands the lock to the longest-waiting writer.
//!
//! Errors are glibc's: EINVAL for a timed call with a bad timespec or clock (checked before
//! anything else, even when the lock is free), EDEADLK for rdlock/wrlock by the thread that
//! holds the write lock, EBUSY from the try calls, ETIMEDOUT, EAGAIN when the reader count
//! would overflow (glibc's tryrdlock says so). Unlocking a lock no green thread holds goes to
//! glibc's unlock: for a lock that is not held at all glibc returns 0 and its reader count
//! goes negative (we checked glibc 2.36), and so does ours. Unlocking a write lock another
//! green thread holds is undefined; we return 0 and leave the lock with its owner.
//!
//! Process-shared rwlocks (glibc's `__shared`) pass through to glibc: another process may
//! hold them. So does everything off the hub thread. pthread_rwlock_init and _destroy are
//! glibc's; on the hub thread they also drop the side-table entry of that address.
//!
//! In a forked child, green waiters of the parent are gone but the counts of waiters stay
//! in the table: a writer-preferring lock a writer was waiting for keeps readers out, as
//! glibc's own state (its "writer waiting" bit) would natively. Holds of vanished threads
//! stay, as natively.

use super::deadline::{abs_deadline, passed, recheck_deadline, FIRST_NAP_NS};
use super::hub::{fair_turn, Hub};
use super::sync_rwlock_state::{forget, GreenRwLock, PREFER_READER, PREFER_WRITER_NONRECURSIVE};
use crate::runtime::green::{Wake, WaitingOn};
use crate::sys::real;
use core::ffi::c_int;

type RwLock = *mut libc::pthread_rwlock_t;

/// Read-locks `r` for the current green thread, waiting until `deadline` at most.
fn rdlock(r: GreenRwLock, deadline: Option<u64>) -> c_int {
    let hub = r.hub();
    let address = r.address();
    if r.peek(|s| s.held.writer) == hub.my_owner_tag() {
        return libc::EDEADLK;
    }
    let mut nap = FIRST_NAP_NS;
    loop {
        let defer = r.kind() == PREFER_WRITER_NONRECURSIVE && r.peek(|s| s.writers_waiting > 0);
        if !defer {
            match r.glibc_tryrdlock() {
                0 => {
                    r.state(|s| s.held.readers += 1);
                    return 0;
                }
                libc::EAGAIN => {
                    r.tidy();
                    return libc::EAGAIN;
                }
                _ => {}
            }
        }
        if passed(deadline) {
            r.tidy();
            return libc::ETIMEDOUT;
        }
        // Someone green will hand the lock over (a holder's unlock, a waiting writer's unlock
        // or timeout); otherwise a foreign thread holds it and we must look again ourselves.
        let (foreign, holders) = r.state(|s| {
            s.readers_waiting += 1;
            (s.held.writer == 0 && s.held.readers == 0 && s.writers_waiting == 0, &s.held as *const _)
        });
        let wake_at = recheck_deadline(deadline, foreign, &mut nap);
        let why = hub.wait(address, wake_at, WaitingOn::RwLock { address, write: false, holders });
        r.state(|s| s.readers_waiting = s.readers_waiting.saturating_sub(1));
        if why == Wake::Handoff {
            // The read hold was taken for us and counted.
            return 0;
        }
    }
}

/// Write-locks `r` for the current green thread, waiting until `deadline` at most.
fn wrlock(r: GreenRwLock, deadline: Option<u64>) -> c_int {
    let hub = r.hub();
    let address = r.address();
    let me = hub.my_owner_tag();
    if r.peek(|s| s.held.writer) == me {
        return libc::EDEADLK;
    }
    let mut nap = FIRST_NAP_NS;
    loop {
        if r.glibc_trywrlock() == 0 {
            r.state(|s| s.held.writer = me);
            return 0;
        }
        if passed(deadline) {
            // Readers that stood back for this writer may go now.
            dispatch(r, false);
            r.tidy();
            return libc::ETIMEDOUT;
        }
        let (foreign, holders) = r.state(|s| {
            s.writers_waiting += 1;
            (s.held.writer == 0 && s.held.readers == 0, &s.held as *const _)
        });
        let wake_at = recheck_deadline(deadline, foreign, &mut nap);
        let why = hub.wait(r.writers_key(), wake_at, WaitingOn::RwLock { address, write: true, holders });
        r.state(|s| s.writers_waiting = s.writers_waiting.saturating_sub(1));
        if why == Wake::Handoff {
            // The write lock was taken for us and we are its recorded writer.
            return 0;
        }
    }
}

/// Hands the lock to the longest-waiting green writer, taking it in glibc on its behalf.
/// Returns whether there was a writer to try.
fn grant_writer(r: GreenRwLock) -> bool {
    r.hub().wake_one_with(r.writers_key(), |tag| {
        if r.glibc_trywrlock() == 0 {
            r.state(|s| s.held.writer = tag);
            Wake::Handoff
        } else {
            // A foreign thread got there first: let the writer try (and nap) itself.
            Wake::Ready
        }
    })
}

/// Lets every waiting green reader in; returns how many there were.
fn grant_readers(r: GreenRwLock) -> usize {
    let grant_one = |_| {
        if r.glibc_tryrdlock() == 0 {
            r.state(|s| s.held.readers += 1);
            Wake::Handoff
        } else {
            Wake::Ready
        }
    };
    let mut woken = 0;
    while r.hub().wake_one_with(r.address(), grant_one) {
        woken += 1;
    }
    woken
}

/// No green writer holds the lock any more (or a writer gave up waiting): pass it on.
fn dispatch(r: GreenRwLock, readers_first: bool) {
    if r.peek(|s| s.held.writer) != 0 {
        return;
    }
    if readers_first && grant_readers(r) > 0 {
        return;
    }
    if r.peek(|s| s.held.readers) == 0 && grant_writer(r) {
        return;
    }
    if r.kind() == PREFER_WRITER_NONRECURSIVE && r.peek(|s| s.writers_waiting) > 0 {
        return;
    }
    grant_readers(r);
}

fn release_write(r: GreenRwLock) -> c_int {
    let kind = r.kind();
    let readers_waiting = r.state(|s| {
        s.held.writer = 0;
        s.readers_waiting
    });
    if kind != PREFER_READER || readers_waiting == 0 {
        // Writer to writer: glibc's lock stays write-locked (same kernel tid), only the
        // green owner changes.
        if let Some(next) = r.hub().hand_over(r.writers_key()) {
            r.state(|s| s.held.writer = next);
            return 0;
        }
    }
    let result = r.glibc_unlock();
    dispatch(r, kind == PREFER_READER);
    r.tidy();
    result
}

fn unlock(r: GreenRwLock) -> c_int {
    let (writer, readers) = r.peek(|s| (s.held.writer, s.held.readers));
    if writer == r.hub().my_owner_tag() {
        return release_write(r);
    }
    if writer != 0 {
        // Write-locked by another green thread: undefined; leave it with its owner.
        return 0;
    }
    if readers > 0 {
        let last = r.state(|s| {
            s.held.readers -= 1;
            s.held.readers == 0
        });
        let result = r.glibc_unlock();
        if last {
            dispatch(r, false);
        }
        r.tidy();
        return result;
    }
    // No green thread holds it: a hold taken before the runtime started, or a mistake that
    // glibc answers as natively.
    let result = r.glibc_unlock();
    dispatch(r, r.kind() == PREFER_READER);
    r.tidy();
    result
}

fn tryrdlock(r: GreenRwLock) -> c_int {
    // glibc's tryrdlock fails while a writer waits on a writer-preferring lock; our waiting
    // writers are invisible to glibc, so say it for them.
    if r.kind() == PREFER_WRITER_NONRECURSIVE && r.peek(|s| s.writers_waiting > 0) {
        return libc::EBUSY;
    }
    let result = r.glibc_tryrdlock();
    if result == 0 {
        r.state(|s| s.held.readers += 1);
    }
    result
}

/// A failed try gives the others a turn when the caller has used its slice.
fn fair_on_busy(result: c_int) -> c_int {
    if result == libc::EBUSY {
        fair_turn();
    }
    result
}

fn trywrlock(r: GreenRwLock) -> c_int {
    let result = r.glibc_trywrlock();
    if result == 0 {
        let me = r.hub().my_owner_tag();
        r.state(|s| s.held.writer = me);
    }
    result
}

/// A timed call: `lock` with the deadline of `abstime` on `clock_id`, or EINVAL as glibc
/// checks it, before anything else, even when the lock is free. No abstime waits forever,
/// as in glibc.
fn timed(
    r: GreenRwLock,
    clock_id: libc::clockid_t,
    abstime: Option<&libc::timespec>,
    lock: fn(GreenRwLock, Option<u64>) -> c_int,
) -> c_int {
    let Some(abstime) = abstime else { return lock(r, None) };
    if clock_id != libc::CLOCK_REALTIME && clock_id != libc::CLOCK_MONOTONIC {
        return libc::EINVAL;
    }
    match abs_deadline(clock_id, Some(abstime)) {
        Ok(deadline) => lock(r, Some(deadline)),
        Err(e) => e,
    }
}

/// # Safety
/// `l` is null or a rwlock the program initialised.
#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_rdlock(l: RwLock) -> c_int {
    // SAFETY: the caller's contract is GreenRwLock::new's.
    match unsafe { GreenRwLock::new(l) } {
        Some(r) => rdlock(r, None),
        // SAFETY: the program's argument, passed on as it gave it.
        None => unsafe { real::pthread_rwlock_rdlock(l) },
    }
}

/// # Safety
/// `l` is null or a rwlock the program initialised.
#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_wrlock(l: RwLock) -> c_int {
    // SAFETY: the caller's contract is GreenRwLock::new's.
    match unsafe { GreenRwLock::new(l) } {
        Some(r) => wrlock(r, None),
        // SAFETY: the program's argument, passed on as it gave it.
        None => unsafe { real::pthread_rwlock_wrlock(l) },
    }
}

/// # Safety
/// `l` is null or a rwlock the program initialised.
#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_tryrdlock(l: RwLock) -> c_int {
    // SAFETY: the caller's contract is GreenRwLock::new's.
    match unsafe { GreenRwLock::new(l) } {
        Some(r) => fair_on_busy(tryrdlock(r)),
        // SAFETY: the program's argument, passed on as it gave it.
        None => unsafe { real::pthread_rwlock_tryrdlock(l) },
    }
}

/// # Safety
/// `l` is null or a rwlock the program initialised.
#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_trywrlock(l: RwLock) -> c_int {
    // SAFETY: the caller's contract is GreenRwLock::new's.
    match unsafe { GreenRwLock::new(l) } {
        Some(r) => fair_on_busy(trywrlock(r)),
        // SAFETY: the program's argument, passed on as it gave it.
        None => unsafe { real::pthread_rwlock_trywrlock(l) },
    }
}

/// # Safety
/// `l` is null or a rwlock the program initialised; `abstime` is null or a timespec.
#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_timedrdlock(l: RwLock, abstime: *const libc::timespec) -> c_int {
    // SAFETY: the caller's contract is GreenRwLock::new's.
    match unsafe { GreenRwLock::new(l) } {
        // SAFETY: the caller passes null or a readable timespec.
        Some(r) => timed(r, libc::CLOCK_REALTIME, unsafe { abstime.as_ref() }, rdlock),
        // SAFETY: the program's arguments, passed on as it gave them.
        None => unsafe { real::pthread_rwlock_timedrdlock(l, abstime) },
    }
}

/// # Safety
/// `l` is null or a rwlock the program initialised; `abstime` is null or a timespec.
#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_clockrdlock(
    l: RwLock,
    clock_id: libc::clockid_t,
    abstime: *const libc::timespec,
) -> c_int {
    // SAFETY: the caller's contract is GreenRwLock::new's.
    match unsafe { GreenRwLock::new(l) } {
        // SAFETY: the caller passes null or a readable timespec.
        Some(r) => timed(r, clock_id, unsafe { abstime.as_ref() }, rdlock),
        // SAFETY: the program's arguments, passed on as it gave them.
        None => unsafe { real::pthread_rwlock_clockrdlock(l, clock_id, abstime) },
    }
}

/// # Safety
/// `l` is null or a rwlock the program initialised; `abstime` is null or a timespec.
#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_timedwrlock(l: RwLock, abstime: *const libc::timespec) -> c_int {
    // SAFETY: the caller's contract is GreenRwLock::new's.
    match unsafe { GreenRwLock::new(l) } {
        // SAFETY: the caller passes null or a readable timespec.
        Some(r) => timed(r, libc::CLOCK_REALTIME, unsafe { abstime.as_ref() }, wrlock),
        // SAFETY: the program's arguments, passed on as it gave them.
        None => unsafe { real::pthread_rwlock_timedwrlock(l, abstime) },
    }
}

/// # Safety
/// `l` is null or a rwlock the program initialised; `abstime` is null or a timespec.
#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_clockwrlock(
    l: RwLock,
    clock_id: libc::clockid_t,
    abstime: *const libc::timespec,
) -> c_int {
    // SAFETY: the caller's contract is GreenRwLock::new's.
    match unsafe { GreenRwLock::new(l) } {
        // SAFETY: the caller passes null or a readable timespec.
        Some(r) => timed(r, clock_id, unsafe { abstime.as_ref() }, wrlock),
        // SAFETY: the program's arguments, passed on as it gave them.
        None => unsafe { real::pthread_rwlock_clockwrlock(l, clock_id, abstime) },
    }
}

/// # Safety
/// `l` is null or a rwlock the program initialised.
#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_unlock(l: RwLock) -> c_int {
    // SAFETY: the caller's contract is GreenRwLock::new's.
    match unsafe { GreenRwLock::new(l) } {
        Some(r) => unlock(r),
        // SAFETY: the program's argument, passed on as it gave it.
        None => unsafe { real::pthread_rwlock_unlock(l) },
    }
}

/// # Safety
/// As for glibc's pthread_rwlock_init.
#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_init(l: RwLock, attr: *const libc::pthread_rwlockattr_t) -> c_int {
    if let Some(hub) = Hub::here().filter(|_| !l.is_null()) {
        forget(hub, l as usize);
    }
    // SAFETY: the program's arguments, passed on as it gave them.
    unsafe { real::pthread_rwlock_init(l, attr) }
}

/// # Safety
/// As for glibc's pthread_rwlock_destroy.
#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_destroy(l: RwLock) -> c_int {
    if let Some(hub) = Hub::here().filter(|_| !l.is_null()) {
        forget(hub, l as usize);
    }
    // SAFETY: the program's argument, passed on as it gave it.
    unsafe { real::pthread_rwlock_destroy(l) }
}
