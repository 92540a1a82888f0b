//! A small pool of real OS threads for calls that have no non-blocking form (name
//! resolution: getaddrinfo and friends). The caller parks; a worker makes the call; the
//! worker hands the finished job back and writes the hub's eventfd, and the hub wakes the
//! caller. Calls a worker makes pass straight through our hooks (it is not the hub thread).
//!
//! Workers start on demand (at most MAX_WORKERS), and one that has had nothing to do for
//! IDLE_EXIT_SECS ends. Nothing here may use std::sync: its futex waits go through the
//! `syscall` symbol we export, and the hub must never block. Queues are guarded by a spin
//! lock held for a push or a pop, and workers sleep on a raw futex.

use super::green::{self, Green, Wake, WaitingOn};
use crate::sys::raw;
use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicUsize, Ordering};
use std::collections::VecDeque;

/// A lookup is mostly waiting for a DNS server, so the pool has to be as wide as the lookups
/// a program makes at once: with 8 workers, 50 lookups of a 50 ms answer took 7 times one
/// (scripts/bench_resolve.py); with 64, as long as one. Go bounds its resolver threads the
/// same way (at 500). Idle workers end, so a burst costs nothing later.
const MAX_WORKERS: usize = 64;
const IDLE_EXIT_SECS: i64 = 30;

/// One call to make on a worker. It lives on the parked caller's stack until the hub has
/// taken it back from the finished list (`collected`, hub-only): the worker may be done
/// before the caller even parks, and the hub must never read a job whose caller has left.
struct Job {
    call: *mut dyn FnMut(),
    waiter: *mut Green,
    collected: bool,
}

struct SpinLocked<T> {
    locked: AtomicBool,
    value: core::cell::UnsafeCell<T>,
}

// SAFETY: the value is only reached through `with`, which holds the lock.
unsafe impl<T> Sync for SpinLocked<T> {}

impl<T> SpinLocked<T> {
    const fn new(value: T) -> Self {
        SpinLocked { locked: AtomicBool::new(false), value: core::cell::UnsafeCell::new(value) }
    }

    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        while self.locked.swap(true, Ordering::Acquire) {
            core::hint::spin_loop();
        }
        // SAFETY: we hold the lock.
        let result = f(unsafe { &mut *self.value.get() });
        self.locked.store(false, Ordering::Release);
        result
    }
}

struct JobPtr(*mut Job);
// SAFETY: a Job is handed between threads whole; its owner waits until `done`.
unsafe impl Send for JobPtr {}

static PENDING: SpinLocked<VecDeque<JobPtr>> = SpinLocked::new(VecDeque::new());
static FINISHED: SpinLocked<Vec<JobPtr>> = SpinLocked::new(Vec::new());
/// Bumped for every new job; idle workers sleep on it.
static WORK_SEQUENCE: AtomicU32 = AtomicU32::new(0);
static WORKERS: AtomicUsize = AtomicUsize::new(0);
static IDLE_WORKERS: AtomicUsize = AtomicUsize::new(0);
/// The hub's eventfd, which workers write when a job is finished.
static WAKER_FD: AtomicI32 = AtomicI32::new(-1);

pub fn set_waker(fd: i32) {
    WAKER_FD.store(fd, Ordering::Release);
}

/// Makes the hub's next (or current) epoll wait return: from a worker, or from a signal
/// handler (a raw write(2) to an eventfd is async-signal-safe).
pub fn poke_hub() {
    let fd = WAKER_FD.load(Ordering::Acquire);
    if fd >= 0 {
        // SAFETY: the eventfd lives as long as the runtime; writing 1 adds 1 to its counter.
        let _ = rustix::io::write(unsafe { rustix::fd::BorrowedFd::borrow_raw(fd) }, &1u64.to_ne_bytes());
    }
}

/// Runs `call` on a worker thread while the current green thread parks. Returns false
/// (without running it) if no worker can be had; the caller then makes the call inline.
///
/// # Safety
/// Hub thread only.
pub unsafe fn run(call: &mut dyn FnMut()) -> bool {
    // One more worker unless an idle one will take this job: idle workers only count
    // themselves busy once they wake, so compare them with the jobs already waiting (which
    // they will take first), not with zero: otherwise a burst of calls queues behind the
    // one worker that happened to be idle.
    let waiting = PENDING.with(|queue| queue.len());
    if IDLE_WORKERS.load(Ordering::Acquire) <= waiting
        && WORKERS.load(Ordering::Acquire) < MAX_WORKERS
        && !start_worker()
        && WORKERS.load(Ordering::Acquire) == 0
    {
        return false;
    }
    // SAFETY: only the lifetime is erased; the job is finished before this frame returns.
    let call: *mut (dyn FnMut() + '_) = call;
    let call: *mut (dyn FnMut() + 'static) = core::mem::transmute(call);
    let mut job = Job { call, waiter: green::current(), collected: false };
    PENDING.with(|queue| queue.push_back(JobPtr(&mut job)));
    WORK_SEQUENCE.fetch_add(1, Ordering::Release);
    raw::futex_wake(WORK_SEQUENCE.as_ptr() as *const i32, 1, true);
    let rt = super::rt();
    rt.offloads_in_flight += 1;
    while !core::ptr::read_volatile(&job.collected) {
        green::park(None, WaitingOn::Offload);
    }
    super::rt().offloads_in_flight -= 1;
    rt.stats.offloaded += 1;
    true
}

/// Wakes the callers of finished jobs (the hub calls this when its eventfd fires).
///
/// # Safety
/// Hub thread only.
pub unsafe fn wake_finished() {
    let finished = FINISHED.with(core::mem::take);
    for JobPtr(job) in finished {
        (*job).collected = true;
        green::wake((*job).waiter, Wake::Ready);
    }
}

/// A forked child has no workers, and no jobs of its own in flight.
pub fn forget_workers_in_child() {
    WORKERS.store(0, Ordering::Release);
    IDLE_WORKERS.store(0, Ordering::Release);
    PENDING.locked.store(false, Ordering::Release);
    FINISHED.locked.store(false, Ordering::Release);
    PENDING.with(|queue| queue.clear());
    FINISHED.with(|done| done.clear());
}

unsafe fn start_worker() -> bool {
    WORKERS.fetch_add(1, Ordering::AcqRel);
    let mut attr: libc::pthread_attr_t = core::mem::zeroed();
    libc::pthread_attr_init(&mut attr);
    libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
    let mut thread: libc::pthread_t = 0;
    let started = crate::sys::real::pthread_create(&mut thread, &attr, worker, core::ptr::null_mut());
    libc::pthread_attr_destroy(&mut attr);
    if started != 0 {
        WORKERS.fetch_sub(1, Ordering::AcqRel);
    }
    started == 0
}

extern "C" fn worker(_: *mut c_void) -> *mut c_void {
    loop {
        let sequence = WORK_SEQUENCE.load(Ordering::Acquire);
        match PENDING.with(|queue| queue.pop_front()) {
            Some(JobPtr(job)) => {
                // SAFETY: the caller waits, its stack intact, until the hub collects the job;
                // after handing it over we never touch it again.
                unsafe { (*(*job).call)() };
                FINISHED.with(|done| done.push(JobPtr(job)));
                poke_hub();
            }
            None => {
                IDLE_WORKERS.fetch_add(1, Ordering::AcqRel);
                let woken = raw::futex_wait(
                    WORK_SEQUENCE.as_ptr() as *const i32,
                    sequence as i32,
                    Some(IDLE_EXIT_SECS),
                );
                IDLE_WORKERS.fetch_sub(1, Ordering::AcqRel);
                if !woken && PENDING.with(|queue| queue.is_empty()) {
                    WORKERS.fetch_sub(1, Ordering::AcqRel);
                    return core::ptr::null_mut();
                }
            }
        }
    }
}
