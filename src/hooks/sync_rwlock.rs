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
//! by the rwlock's address, with an entry only while a green thread holds the lock or waits
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

use super::futex::{recheck_deadline, FIRST_NAP_NS};
use super::sync_mutex::abs_deadline;
use crate::runtime::green::{self, Wake, WaitingOn};
use crate::runtime::{on_hub, rt, waitqueue, AddressHasher};
use crate::sys::{clock, real};
use core::cell::UnsafeCell;
use core::ffi::c_int;
use core::sync::atomic::{AtomicU8, Ordering};
use std::collections::HashMap;

type RwLock = *mut libc::pthread_rwlock_t;

/// glibc's `__flags` values (pthread_rwlockattr_setkind_np).
const PREFER_READER: u32 = 0;
const PREFER_WRITER_NONRECURSIVE: u32 = 2;

/// Where glibc keeps `__shared` and `__flags` in `struct __pthread_rwlock_arch_t`:
/// (offset, width in bytes).
#[cfg(target_arch = "x86_64")]
mod layout {
    pub const SHARED: (usize, usize) = (28, 4);
    pub const FLAGS: (usize, usize) = (48, 4);
}
#[cfg(target_arch = "aarch64")]
mod layout {
    pub const SHARED: (usize, usize) = (25, 1);
    pub const FLAGS: (usize, usize) = (24, 1);
}

unsafe fn field(l: *const libc::pthread_rwlock_t, (offset, width): (usize, usize)) -> u32 {
    let p = (l as *const u8).add(offset);
    if width == 4 {
        *(p as *const u32)
    } else {
        *p as u32
    }
}

const UNKNOWN: u8 = 0;
const LAYOUT_OK: u8 = 1;
const LAYOUT_BAD: u8 = 2;
static LAYOUT: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Whether this glibc keeps `__shared` and `__flags` where we expect them: checked once by
/// initialising two rwlocks with glibc's own functions.
fn layout_ok() -> bool {
    match LAYOUT.load(Ordering::Relaxed) {
        LAYOUT_OK => true,
        LAYOUT_BAD => false,
        _ => {
            let ok = probe_layout();
            LAYOUT.store(if ok { LAYOUT_OK } else { LAYOUT_BAD }, Ordering::Relaxed);
            if !ok {
                crate::runtime::log::log!(
                    Warn,
                    "unexpected rwlock layout in this glibc; pthread_rwlock_* block the OS thread"
                );
            }
            ok
        }
    }
}

fn probe_layout() -> bool {
    let probe = |shared: c_int, kind: c_int| -> (u32, u32) {
        // SAFETY: local pthread objects, initialised with glibc's own functions.
        unsafe {
            let mut attr: libc::pthread_rwlockattr_t = core::mem::zeroed();
            libc::pthread_rwlockattr_init(&mut attr);
            libc::pthread_rwlockattr_setpshared(&mut attr, shared);
            libc::pthread_rwlockattr_setkind_np(&mut attr, kind);
            let mut l: libc::pthread_rwlock_t = core::mem::zeroed();
            real::pthread_rwlock_init(&mut l, &attr);
            libc::pthread_rwlockattr_destroy(&mut attr);
            (field(&l, layout::SHARED), field(&l, layout::FLAGS))
        }
    };
    let (shared, kind) = probe(libc::PTHREAD_PROCESS_SHARED, PREFER_WRITER_NONRECURSIVE as c_int);
    let (private, default_kind) = probe(libc::PTHREAD_PROCESS_PRIVATE, PREFER_READER as c_int);
    shared != 0 && kind == PREFER_WRITER_NONRECURSIVE && private == 0 && default_kind == PREFER_READER
}

/// The kind of a green-handled rwlock, or None: pass through to glibc.
#[inline(always)]
unsafe fn green_kind(l: RwLock) -> Option<u32> {
    if l.is_null() || !on_hub() || !layout_ok() || field(l, layout::SHARED) != 0 {
        return None;
    }
    Some(field(l, layout::FLAGS))
}

/// What the green world knows about one rwlock.
#[derive(Default)]
struct State {
    /// Owner tag of the green thread holding the write lock; 0 when none does.
    writer: i32,
    /// Read holds taken by green threads.
    readers: u32,
    readers_waiting: u32,
    writers_waiting: u32,
}

impl State {
    fn idle(&self) -> bool {
        self.writer == 0 && self.readers == 0 && self.readers_waiting == 0 && self.writers_waiting == 0
    }
}

struct Table(UnsafeCell<Option<HashMap<usize, State, AddressHasher>>>);

// SAFETY: only the hub thread touches it (every user checks on_hub first).
unsafe impl Sync for Table {}

static TABLE: Table = Table(UnsafeCell::new(None));

/// # Safety
/// Hub thread only; no reference from an earlier call may be live.
#[allow(clippy::mut_from_ref)]
unsafe fn table() -> &'static mut HashMap<usize, State, AddressHasher> {
    (*TABLE.0.get()).get_or_insert_with(|| HashMap::with_hasher(AddressHasher))
}

/// The entry of `address`, made if missing. Re-fetch it after anything that can switch.
unsafe fn state(address: usize) -> &'static mut State {
    table().entry(address).or_default()
}

/// The green writer's tag, without making an entry.
unsafe fn writer_of(address: usize) -> i32 {
    table().get(&address).map_or(0, |s| s.writer)
}

/// Drops the entry of `address` once nobody green holds or waits for the lock.
unsafe fn tidy(address: usize) {
    let map = table();
    if map.get(&address).is_some_and(State::idle) {
        map.remove(&address);
    }
}

#[inline(always)]
fn writers_key(address: usize) -> usize {
    address + 1
}

#[inline(always)]
unsafe fn me() -> i32 {
    green::owner_tag(green::current())
}

fn passed(deadline: Option<u64>) -> bool {
    deadline.is_some_and(|d| clock::monotonic_ns() >= d)
}

/// Read-locks `l` for the current green thread, waiting until `deadline` at most.
unsafe fn rdlock(l: RwLock, kind: u32, deadline: Option<u64>) -> c_int {
    let address = l as usize;
    if writer_of(address) == me() {
        return libc::EDEADLK;
    }
    let mut nap = FIRST_NAP_NS;
    loop {
        let defer = kind == PREFER_WRITER_NONRECURSIVE
            && table().get(&address).is_some_and(|s| s.writers_waiting > 0);
        if !defer {
            match real::pthread_rwlock_tryrdlock(l) {
                0 => {
                    state(address).readers += 1;
                    return 0;
                }
                libc::EAGAIN => {
                    tidy(address);
                    return libc::EAGAIN;
                }
                _ => {}
            }
        }
        if passed(deadline) {
            tidy(address);
            return libc::ETIMEDOUT;
        }
        let s = state(address);
        // Someone green will hand the lock over (a holder's unlock, a waiting writer's unlock
        // or timeout); otherwise a foreign thread holds it and we must look again ourselves.
        let foreign = s.writer == 0 && s.readers == 0 && s.writers_waiting == 0;
        s.readers_waiting += 1;
        let wake_at = recheck_deadline(deadline, foreign, &mut nap);
        let why = waitqueue::wait(address, wake_at, WaitingOn::RwLock { address, write: false });
        let s = state(address);
        s.readers_waiting = s.readers_waiting.saturating_sub(1);
        if why == Wake::Handoff {
            // The read hold was taken for us and counted.
            return 0;
        }
    }
}

/// Write-locks `l` for the current green thread, waiting until `deadline` at most.
unsafe fn wrlock(l: RwLock, kind: u32, deadline: Option<u64>) -> c_int {
    let address = l as usize;
    let me = me();
    if writer_of(address) == me {
        return libc::EDEADLK;
    }
    let mut nap = FIRST_NAP_NS;
    loop {
        if real::pthread_rwlock_trywrlock(l) == 0 {
            state(address).writer = me;
            return 0;
        }
        if passed(deadline) {
            // Readers that stood back for this writer may go now.
            dispatch(l, kind, false);
            tidy(address);
            return libc::ETIMEDOUT;
        }
        let s = state(address);
        let foreign = s.writer == 0 && s.readers == 0;
        s.writers_waiting += 1;
        let wake_at = recheck_deadline(deadline, foreign, &mut nap);
        let why = waitqueue::wait(writers_key(address), wake_at, WaitingOn::RwLock { address, write: true });
        let s = state(address);
        s.writers_waiting = s.writers_waiting.saturating_sub(1);
        if why == Wake::Handoff {
            // The write lock was taken for us and we are its recorded writer.
            return 0;
        }
    }
}

/// Hands the lock to the longest-waiting green writer, taking it in glibc on its behalf.
/// Returns whether there was a writer to try.
unsafe fn grant_writer(l: RwLock) -> bool {
    let address = l as usize;
    let Some(w) = rt().queues.pop(writers_key(address)) else { return false };
    if real::pthread_rwlock_trywrlock(l) == 0 {
        state(address).writer = green::owner_tag(w);
        green::wake(w, Wake::Handoff);
    } else {
        // A foreign thread got there first: let the writer try (and nap) itself.
        green::wake(w, Wake::Ready);
    }
    true
}

/// Lets every waiting green reader in; returns how many there were.
unsafe fn grant_readers(l: RwLock) -> usize {
    let address = l as usize;
    let mut woken = 0;
    while let Some(r) = rt().queues.pop(address) {
        if real::pthread_rwlock_tryrdlock(l) == 0 {
            state(address).readers += 1;
            green::wake(r, Wake::Handoff);
        } else {
            green::wake(r, Wake::Ready);
        }
        woken += 1;
    }
    woken
}

/// No green writer holds the lock any more (or a writer gave up waiting): pass it on.
unsafe fn dispatch(l: RwLock, kind: u32, readers_first: bool) {
    let address = l as usize;
    if writer_of(address) != 0 {
        return;
    }
    if readers_first && grant_readers(l) > 0 {
        return;
    }
    if state(address).readers == 0 && grant_writer(l) {
        return;
    }
    if kind == PREFER_WRITER_NONRECURSIVE && state(address).writers_waiting > 0 {
        return;
    }
    grant_readers(l);
}

unsafe fn release_write(l: RwLock, kind: u32) -> c_int {
    let address = l as usize;
    let s = state(address);
    s.writer = 0;
    if kind != PREFER_READER || s.readers_waiting == 0 {
        // Writer to writer: glibc's lock stays write-locked (same kernel tid), only the
        // green owner changes.
        if let Some(w) = waitqueue::wake_one(writers_key(address), Wake::Handoff) {
            state(address).writer = green::owner_tag(w);
            return 0;
        }
    }
    let result = real::pthread_rwlock_unlock(l);
    dispatch(l, kind, kind == PREFER_READER);
    tidy(address);
    result
}

unsafe fn unlock(l: RwLock, kind: u32) -> c_int {
    let address = l as usize;
    let me = me();
    let (writer, readers) = table().get(&address).map_or((0, 0), |s| (s.writer, s.readers));
    if writer == me {
        return release_write(l, kind);
    }
    if writer != 0 {
        // Write-locked by another green thread: undefined; leave it with its owner.
        return 0;
    }
    if readers > 0 {
        let s = state(address);
        s.readers -= 1;
        let last = s.readers == 0;
        let result = real::pthread_rwlock_unlock(l);
        if last {
            dispatch(l, kind, false);
        }
        tidy(address);
        return result;
    }
    // No green thread holds it: a hold taken before the runtime started, or a mistake that
    // glibc answers as natively.
    let result = real::pthread_rwlock_unlock(l);
    dispatch(l, kind, kind == PREFER_READER);
    tidy(address);
    result
}

/// The deadline of a timed call, or EINVAL as glibc checks it: before anything else, even
/// when the lock is free. A null abstime waits forever, as in glibc.
unsafe fn timed_deadline(clock_id: libc::clockid_t, abstime: *const libc::timespec) -> Result<Option<u64>, c_int> {
    if abstime.is_null() {
        return Ok(None);
    }
    if clock_id != libc::CLOCK_REALTIME && clock_id != libc::CLOCK_MONOTONIC {
        return Err(libc::EINVAL);
    }
    abs_deadline(clock_id, abstime).map(Some)
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_rdlock(l: RwLock) -> c_int {
    match green_kind(l) {
        Some(kind) => rdlock(l, kind, None),
        None => real::pthread_rwlock_rdlock(l),
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_wrlock(l: RwLock) -> c_int {
    match green_kind(l) {
        Some(kind) => wrlock(l, kind, None),
        None => real::pthread_rwlock_wrlock(l),
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_tryrdlock(l: RwLock) -> c_int {
    let Some(kind) = green_kind(l) else { return real::pthread_rwlock_tryrdlock(l) };
    let address = l as usize;
    // glibc's tryrdlock fails while a writer waits on a writer-preferring lock; our waiting
    // writers are invisible to glibc, so say it for them.
    if kind == PREFER_WRITER_NONRECURSIVE && table().get(&address).is_some_and(|s| s.writers_waiting > 0) {
        return libc::EBUSY;
    }
    let result = real::pthread_rwlock_tryrdlock(l);
    if result == 0 {
        state(address).readers += 1;
    }
    result
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_trywrlock(l: RwLock) -> c_int {
    if green_kind(l).is_none() {
        return real::pthread_rwlock_trywrlock(l);
    }
    let result = real::pthread_rwlock_trywrlock(l);
    if result == 0 {
        state(l as usize).writer = me();
    }
    result
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_timedrdlock(l: RwLock, abstime: *const libc::timespec) -> c_int {
    let Some(kind) = green_kind(l) else { return real::pthread_rwlock_timedrdlock(l, abstime) };
    match timed_deadline(libc::CLOCK_REALTIME, abstime) {
        Ok(deadline) => rdlock(l, kind, deadline),
        Err(e) => e,
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_clockrdlock(
    l: RwLock,
    clock_id: libc::clockid_t,
    abstime: *const libc::timespec,
) -> c_int {
    let Some(kind) = green_kind(l) else { return real::pthread_rwlock_clockrdlock(l, clock_id, abstime) };
    match timed_deadline(clock_id, abstime) {
        Ok(deadline) => rdlock(l, kind, deadline),
        Err(e) => e,
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_timedwrlock(l: RwLock, abstime: *const libc::timespec) -> c_int {
    let Some(kind) = green_kind(l) else { return real::pthread_rwlock_timedwrlock(l, abstime) };
    match timed_deadline(libc::CLOCK_REALTIME, abstime) {
        Ok(deadline) => wrlock(l, kind, deadline),
        Err(e) => e,
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_clockwrlock(
    l: RwLock,
    clock_id: libc::clockid_t,
    abstime: *const libc::timespec,
) -> c_int {
    let Some(kind) = green_kind(l) else { return real::pthread_rwlock_clockwrlock(l, clock_id, abstime) };
    match timed_deadline(clock_id, abstime) {
        Ok(deadline) => wrlock(l, kind, deadline),
        Err(e) => e,
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_unlock(l: RwLock) -> c_int {
    match green_kind(l) {
        Some(kind) => unlock(l, kind),
        None => real::pthread_rwlock_unlock(l),
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_init(l: RwLock, attr: *const libc::pthread_rwlockattr_t) -> c_int {
    if !l.is_null() && on_hub() {
        table().remove(&(l as usize));
    }
    real::pthread_rwlock_init(l, attr)
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_destroy(l: RwLock) -> c_int {
    if !l.is_null() && on_hub() {
        table().remove(&(l as usize));
    }
    real::pthread_rwlock_destroy(l)
}
