//! sem_wait/sem_trywait/sem_timedwait/sem_clockwait/sem_post as green waits, on glibc's own
//! semaphore words (CPython's locks are semaphores; they wait in sem_clockwait).
//!
//! glibc's 64-bit `struct new_sem` is `{ uint64_t data; int private; int pad; }`: the value
//! is the low 32 bits of `data`, the number of OS threads sleeping in the kernel on it the
//! high 32 bits. A foreign OS thread (one that is not green) adds itself to that count and
//! sleeps with FUTEX_WAIT on the value word; sem_post wakes one of them when the count is
//! not zero. We keep that protocol, so a semaphore shared with foreign threads keeps working,
//! and leave sem_init, sem_destroy, sem_getvalue (it reports `data & 0xffffffff`, which we
//! checked) and sem_open to glibc: they never block.
//!
//! `private` holds glibc's futex flag for the semaphore: 0 (FUTEX_PRIVATE) after
//! sem_init(pshared = 0), 128 (FUTEX_SHARED) after sem_init(pshared = 1) and for sem_open's
//! named semaphores. Shared semaphores are green waits too (a sem_wait that blocked the OS
//! thread would freeze every green thread until another process posts): the same protocol,
//! with shared futex wakes for sleepers in other processes. A post from another process
//! cannot reach our hub, so a green waiter on a shared semaphore looks at the value again
//! after a short, growing nap (50 us doubling to 10 ms): it sees such a post within 10 ms.
//! Posts from this process hand the unit over at once, as for private ones.
//!
//! Between green threads, sem_post hands the unit straight to the longest waiter (FIFO), as
//! mutex unlock does: with cooperative scheduling, "wake and let it retry" would let a thread
//! that posts and waits again without parking take the unit back forever.
//!
//! Foreign posters: a foreign OS thread (or a signal handler on the hub thread) that posts
//! cannot wake a parked green thread, because it must not touch the runtime. Once one has
//! been seen, green waiters look at the value again after a short, growing nap (see
//! futex::recheck_deadline); a green thread already parked without a deadline when the
//! first such post comes is not woken by it. A signal handler does not interrupt a green
//! wait yet (no EINTR), so a post from a handler to the only waiter is such a first post.

use super::futex::{recheck_deadline, FIRST_NAP_NS};
use super::sync_mutex::abs_deadline;
use crate::runtime::green::{Wake, WaitingOn};
use crate::runtime::{self, on_hub, waitqueue};
use crate::sys::{clock, errno, raw, real};
use core::ffi::c_int;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// glibc's `struct new_sem` (64-bit atomics: x86-64 and aarch64).
#[repr(C)]
struct GlibcSem {
    data: AtomicU64,
    private: i32,
    pad: i32,
}

const VALUE_MASK: u64 = 0xffff_ffff;
const NWAITERS_SHIFT: u32 = 32;
const SEM_VALUE_MAX: u64 = i32::MAX as u64;
/// glibc's FUTEX_PRIVATE (LLL_PRIVATE): a process-private semaphore.
const FUTEX_PRIVATE: i32 = 0;

/// Set once a private semaphore was posted from outside the green world (see the header).
static FOREIGN_POSTS: AtomicBool = AtomicBool::new(false);

/// The green-handled semaphore behind `sem`, or None: pass through to glibc.
#[inline(always)]
unsafe fn green_sem(sem: *mut libc::sem_t) -> Option<&'static GlibcSem> {
    if sem.is_null() || !on_hub() {
        return None;
    }
    Some(&*(sem as *const GlibcSem))
}

/// Whether other processes may use it (sem_init with pshared = 1, sem_open).
#[inline(always)]
fn shared(s: &GlibcSem) -> bool {
    s.private != FUTEX_PRIVATE
}

#[inline(always)]
fn address(s: &GlibcSem) -> usize {
    s as *const GlibcSem as usize
}

/// The 32-bit word foreign waiters sleep on: the value half of `data`.
fn value_word(s: &GlibcSem) -> *const i32 {
    let base = s.data.as_ptr() as *const i32;
    if cfg!(target_endian = "little") {
        base
    } else {
        base.wrapping_add(1)
    }
}

/// Takes one unit if the value is not zero.
#[inline(always)]
fn try_take(s: &GlibcSem) -> bool {
    let mut d = s.data.load(Ordering::Relaxed);
    while d & VALUE_MASK != 0 {
        match s.data.compare_exchange_weak(d, d - 1, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(now) => d = now,
        }
    }
    false
}

/// Waits for a unit until `deadline` (CLOCK_MONOTONIC ns) at most: Ok, or an error number.
unsafe fn take(s: &GlibcSem, deadline: Option<u64>) -> Result<(), c_int> {
    let address = address(s);
    let mut nap = FIRST_NAP_NS;
    loop {
        if try_take(s) {
            return Ok(());
        }
        if deadline.is_some_and(|d| clock::monotonic_ns() >= d) {
            return Err(libc::ETIMEDOUT);
        }
        // Foreign threads sleeping on it hint that foreign threads also post it; another
        // process may post a shared one at any time.
        let foreign = shared(s)
            || FOREIGN_POSTS.load(Ordering::Relaxed)
            || s.data.load(Ordering::Relaxed) >> NWAITERS_SHIFT != 0;
        let wake_at = recheck_deadline(deadline, foreign, &mut nap);
        match waitqueue::wait(address, wake_at, WaitingOn::Semaphore { address }) {
            Wake::Handoff => return Ok(()),
            // sem_wait is never restarted after a signal handler, SA_RESTART or not.
            Wake::Interrupted { .. } => return Err(libc::EINTR),
            _ => {}
        }
    }
}

unsafe fn post(s: &GlibcSem) -> Result<(), c_int> {
    let mut d = s.data.load(Ordering::Relaxed);
    if d & VALUE_MASK == SEM_VALUE_MAX {
        return Err(libc::EOVERFLOW);
    }
    if waitqueue::wake_one(address(s), Wake::Handoff).is_some() {
        // The unit goes to the woken thread; the value stays as it is.
        return Ok(());
    }
    loop {
        if d & VALUE_MASK == SEM_VALUE_MAX {
            return Err(libc::EOVERFLOW);
        }
        match s.data.compare_exchange_weak(d, d + 1, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => break,
            Err(now) => d = now,
        }
    }
    if d >> NWAITERS_SHIFT != 0 {
        raw::futex_wake(value_word(s), 1, !shared(s));
    }
    Ok(())
}

/// A pass-through sem_post on a private semaphore, from a thread that must not touch the
/// runtime while it is running: remember that such posts happen.
unsafe fn note_foreign_post(sem: *mut libc::sem_t) {
    if !sem.is_null()
        && !FOREIGN_POSTS.load(Ordering::Relaxed)
        && runtime::started()
        && (*(sem as *const GlibcSem)).private == FUTEX_PRIVATE
    {
        FOREIGN_POSTS.store(true, Ordering::Relaxed);
    }
}

/// The C convention of sem_*: 0, or -1 with errno set.
#[inline(always)]
fn status(result: Result<(), c_int>) -> c_int {
    match result {
        Ok(()) => 0,
        Err(e) => errno::fail(e),
    }
}

/// glibc checks tv_nsec before anything else, even when a unit is available.
unsafe fn valid_abstime(abstime: *const libc::timespec) -> bool {
    if abstime.is_null() {
        return false;
    }
    let nsec: i64 = (*abstime).tv_nsec.into();
    (0..1_000_000_000).contains(&nsec)
}

/// The timed wait behind sem_timedwait and sem_clockwait.
unsafe fn timed_take(s: &GlibcSem, clock_id: libc::clockid_t, abstime: *const libc::timespec) -> c_int {
    if !valid_abstime(abstime) {
        return errno::fail(libc::EINVAL);
    }
    if try_take(s) {
        return 0;
    }
    // A negative tv_sec is a deadline long past: ETIMEDOUT, as glibc says.
    status(abs_deadline(clock_id, abstime).and_then(|deadline| take(s, Some(deadline))))
}

#[no_mangle]
pub unsafe extern "C" fn sem_wait(sem: *mut libc::sem_t) -> c_int {
    match green_sem(sem) {
        Some(s) => status(take(s, None)),
        None => real::sem_wait(sem),
    }
}

#[no_mangle]
pub unsafe extern "C" fn sem_trywait(sem: *mut libc::sem_t) -> c_int {
    match green_sem(sem) {
        Some(s) if try_take(s) => 0,
        Some(_) => errno::fail(libc::EAGAIN),
        None => real::sem_trywait(sem),
    }
}

#[no_mangle]
pub unsafe extern "C" fn sem_timedwait(sem: *mut libc::sem_t, abstime: *const libc::timespec) -> c_int {
    match green_sem(sem) {
        Some(s) => timed_take(s, libc::CLOCK_REALTIME, abstime),
        None => real::sem_timedwait(sem, abstime),
    }
}

#[no_mangle]
pub unsafe extern "C" fn sem_clockwait(
    sem: *mut libc::sem_t,
    clock_id: libc::clockid_t,
    abstime: *const libc::timespec,
) -> c_int {
    match green_sem(sem) {
        Some(s) => {
            if clock_id != libc::CLOCK_REALTIME && clock_id != libc::CLOCK_MONOTONIC {
                return errno::fail(libc::EINVAL);
            }
            timed_take(s, clock_id, abstime)
        }
        None => real::sem_clockwait(sem, clock_id, abstime),
    }
}

#[no_mangle]
pub unsafe extern "C" fn sem_post(sem: *mut libc::sem_t) -> c_int {
    match green_sem(sem) {
        Some(s) => status(post(s)),
        None => {
            note_foreign_post(sem);
            real::sem_post(sem)
        }
    }
}
