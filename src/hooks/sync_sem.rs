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
//! must not touch the runtime. Its post goes to glibc (the value, and a futex wake for
//! foreign sleepers), then to the hub's inbox, which wakes the green waiters of that
//! semaphore to look at the value again (ARCHITECTURE.md, Foreign threads).
//!
//! sem_wait, sem_timedwait and sem_clockwait are cancellation points, as glibc's: a pending
//! request is acted on at the call even when a unit is free (cancel_point.rs), one made
//! while the thread waits wakes it, unless a unit was handed over (runtime/waitqueue.rs).

use super::deadline::{abs_deadline, passed, recheck_deadline, FIRST_NAP_NS};
use super::hub::{fair_turn, post_foreign, Hub};
use crate::runtime::green::{Wake, WaitingOn};
use crate::sys::{errno, raw, real};
use core::ffi::c_int;
use core::sync::atomic::{AtomicU64, Ordering};

/// glibc 2.36's `struct new_sem` with 64-bit atomics (x86-64 and aarch64), from
/// sysdeps/nptl/internaltypes.h: `data` (value in the low 32 bits, SEM_VALUE_MASK; waiters
/// sleeping in the kernel above SEM_NWAITERS_SHIFT), `private` (the futex flag) and `pad`.
/// glibc changes `data` only atomically, and `private` only in sem_init, so a shared
/// reference to a live semaphore is sound.
#[repr(C)]
struct GlibcSem {
    data: AtomicU64,
    private: i32,
    _pad: i32,
}

const _: () = assert!(core::mem::size_of::<GlibcSem>() <= core::mem::size_of::<libc::sem_t>());
const _: () = assert!(core::mem::align_of::<GlibcSem>() <= core::mem::align_of::<libc::sem_t>());

const VALUE_MASK: u64 = 0xffff_ffff;
const NWAITERS_SHIFT: u32 = 32;
const SEM_VALUE_MAX: u64 = i32::MAX as u64;
/// glibc's FUTEX_PRIVATE (LLL_PRIVATE): a process-private semaphore.
const FUTEX_PRIVATE: i32 = 0;

/// The glibc semaphore behind `sem`.
///
/// # Safety
/// `sem` is null or a semaphore sem_init or sem_open set up, live for `'a`.
unsafe fn glibc_sem<'a>(sem: *mut libc::sem_t) -> Option<&'a GlibcSem> {
    // SAFETY: null or a live, initialised semaphore (caller), laid out as GlibcSem.
    unsafe { (sem as *const GlibcSem).as_ref() }
}

/// A semaphore we wait on green: any semaphore, on the hub thread.
#[derive(Clone, Copy)]
struct GreenSem<'a> {
    s: &'a GlibcSem,
    hub: Hub,
}

impl<'a> GreenSem<'a> {
    /// # Safety
    /// As for `glibc_sem`.
    #[inline(always)]
    unsafe fn new(sem: *mut libc::sem_t) -> Option<Self> {
        let hub = Hub::here()?;
        // SAFETY: the caller's contract is glibc_sem's.
        let s = unsafe { glibc_sem(sem) }?;
        Some(GreenSem { s, hub })
    }

    /// Whether other processes may use it (sem_init with pshared = 1, sem_open).
    #[inline(always)]
    fn shared(self) -> bool {
        self.s.private != FUTEX_PRIVATE
    }

    #[inline(always)]
    fn address(self) -> usize {
        self.s as *const GlibcSem as usize
    }

    /// The 32-bit word foreign waiters sleep on: the value half of `data`.
    fn value_word(self) -> *const i32 {
        let base = self.s.data.as_ptr() as *const i32;
        if cfg!(target_endian = "little") {
            base
        } else {
            base.wrapping_add(1)
        }
    }

    /// Takes one unit if the value is not zero.
    #[inline(always)]
    fn try_take(self) -> bool {
        let data = &self.s.data;
        let mut d = data.load(Ordering::Relaxed);
        while d & VALUE_MASK != 0 {
            match data.compare_exchange_weak(d, d - 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => d = now,
            }
        }
        false
    }

    /// Waits for a unit until `deadline` (CLOCK_MONOTONIC ns) at most: Ok, or an error number.
    fn take(self, deadline: Option<u64>) -> Result<(), c_int> {
        let address = self.address();
        let mut nap = FIRST_NAP_NS;
        loop {
            if self.try_take() {
                return Ok(());
            }
            if passed(deadline) {
                return Err(libc::ETIMEDOUT);
            }
            // Another process may post a shared one at any time, and cannot reach our hub;
            // posts from this process's foreign threads come through the inbox.
            let wake_at = recheck_deadline(deadline, self.shared(), &mut nap);
            match self.hub.wait(address, wake_at, WaitingOn::Semaphore { address }) {
                Wake::Handoff => return Ok(()),
                // sem_wait is never restarted after a signal handler, SA_RESTART or not.
                Wake::Interrupted { .. } => return Err(libc::EINTR),
                _ => {}
            }
        }
    }

    fn post(self) -> Result<(), c_int> {
        let data = &self.s.data;
        let mut d = data.load(Ordering::Relaxed);
        if d & VALUE_MASK == SEM_VALUE_MAX {
            return Err(libc::EOVERFLOW);
        }
        if self.hub.wake_one(self.address(), Wake::Handoff) {
            // The unit goes to the woken thread; the value stays as it is.
            return Ok(());
        }
        loop {
            if d & VALUE_MASK == SEM_VALUE_MAX {
                return Err(libc::EOVERFLOW);
            }
            match data.compare_exchange_weak(d, d + 1, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => d = now,
            }
        }
        if d >> NWAITERS_SHIFT != 0 {
            raw::futex_wake(self.value_word(), 1, !self.shared());
        }
        Ok(())
    }

    /// The timed wait behind sem_timedwait and sem_clockwait. glibc checks tv_nsec before
    /// anything else, even when a unit is available.
    fn timed_take(self, clock_id: libc::clockid_t, abstime: Option<&libc::timespec>) -> c_int {
        if !abstime.is_some_and(|ts| (0..1_000_000_000).contains(&ts.tv_nsec)) {
            return errno::fail(libc::EINVAL);
        }
        // A cancellation point whether or not a unit is free, after the EINVAL check, as
        // glibc's (its sem_timedwait.c).
        super::cancel_point::point();
        if self.try_take() {
            return 0;
        }
        // A negative tv_sec is a deadline long past: ETIMEDOUT, as glibc says.
        status(abs_deadline(clock_id, abstime).and_then(|deadline| self.take(Some(deadline))))
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

/// # Safety
/// `sem` is null or a semaphore sem_init or sem_open set up.
#[no_mangle]
pub unsafe extern "C" fn sem_wait(sem: *mut libc::sem_t) -> c_int {
    // A cancellation point whether or not a unit is free, as glibc's (its sem_wait.c).
    super::cancel_point::point();
    // SAFETY: the caller's contract is GreenSem::new's.
    match unsafe { GreenSem::new(sem) } {
        Some(s) => status(s.take(None)),
        // SAFETY: the program's argument, passed on as it gave it.
        None => unsafe { real::sem_wait(sem) },
    }
}

/// # Safety
/// `sem` is null or a semaphore sem_init or sem_open set up.
#[no_mangle]
pub unsafe extern "C" fn sem_trywait(sem: *mut libc::sem_t) -> c_int {
    // SAFETY: the caller's contract is GreenSem::new's.
    match unsafe { GreenSem::new(sem) } {
        Some(s) if s.try_take() => 0,
        Some(_) => {
            fair_turn();
            errno::fail(libc::EAGAIN)
        }
        // SAFETY: the program's argument, passed on as it gave it.
        None => unsafe { real::sem_trywait(sem) },
    }
}

/// # Safety
/// `sem` as for sem_wait; `abstime` is null or a timespec.
#[no_mangle]
pub unsafe extern "C" fn sem_timedwait(sem: *mut libc::sem_t, abstime: *const libc::timespec) -> c_int {
    // SAFETY: the caller's contract is GreenSem::new's.
    match unsafe { GreenSem::new(sem) } {
        // SAFETY: the caller passes null or a readable timespec.
        Some(s) => s.timed_take(libc::CLOCK_REALTIME, unsafe { abstime.as_ref() }),
        // SAFETY: the program's arguments, passed on as it gave them.
        None => unsafe { real::sem_timedwait(sem, abstime) },
    }
}

/// # Safety
/// `sem` as for sem_wait; `abstime` is null or a timespec.
#[no_mangle]
pub unsafe extern "C" fn sem_clockwait(
    sem: *mut libc::sem_t,
    clock_id: libc::clockid_t,
    abstime: *const libc::timespec,
) -> c_int {
    // SAFETY: the caller's contract is GreenSem::new's.
    match unsafe { GreenSem::new(sem) } {
        Some(_) if clock_id != libc::CLOCK_REALTIME && clock_id != libc::CLOCK_MONOTONIC => {
            errno::fail(libc::EINVAL)
        }
        // SAFETY: the caller passes null or a readable timespec.
        Some(s) => s.timed_take(clock_id, unsafe { abstime.as_ref() }),
        // SAFETY: the program's arguments, passed on as it gave them.
        None => unsafe { real::sem_clockwait(sem, clock_id, abstime) },
    }
}

/// # Safety
/// `sem` is null or a semaphore sem_init or sem_open set up.
#[no_mangle]
pub unsafe extern "C" fn sem_post(sem: *mut libc::sem_t) -> c_int {
    // SAFETY: the caller's contract is GreenSem::new's.
    match unsafe { GreenSem::new(sem) } {
        Some(s) => status(s.post()),
        None => {
            // SAFETY: the program's argument, passed on as it gave it.
            let result = unsafe { real::sem_post(sem) };
            if result == 0 {
                post_foreign(sem as usize);
            }
            result
        }
    }
}
