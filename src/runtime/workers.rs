//! The offload pool: a small pool of real OS threads for calls that have no non-blocking
//! form (name resolution: getaddrinfo and friends). The caller parks (offload.rs); a worker
//! makes the call; the worker hands the finished job back and writes the hub's eventfd, and
//! the hub takes the finished jobs (`take_finished`) and wakes their callers. Calls a worker
//! makes pass straight through our hooks (it is not the hub thread).
//!
//! Nothing here touches the scheduler or the runtime state: workers see only the job
//! queues, atomics and the eventfd (poller::poke_hub).
//!
//! Workers start on demand (at most MAX_WORKERS), and one that has had nothing to do for
//! IDLE_EXIT_SECS ends. Nothing here may use std::sync: its futex waits go through the
//! `syscall` symbol we export, and the hub must never block. Queues are guarded by a spin
//! lock held for a push or a pop, and workers sleep on a raw futex.

use super::poller::poke_hub;
use super::thread::Green;
use crate::sys::raw;
use crate::sys::spin::SpinLocked;
use core::ffi::c_void;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
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
pub struct Job {
    call: *mut dyn FnMut(),
    waiter: *mut Green,
    collected: bool,
}

impl Job {
    /// A job that runs `call` for `waiter`.
    ///
    /// # Safety
    /// `call` lives, and is not used by anyone else, until the job is collected: the hub's
    /// `take_finished` has returned it (see `Job::collected`).
    pub unsafe fn new(call: &mut dyn FnMut(), waiter: *mut Green) -> Self {
        let call: *mut (dyn FnMut() + '_) = call;
        // SAFETY: only the lifetime is erased; the caller keeps `call` alive until collected.
        let call: *mut (dyn FnMut() + 'static) = unsafe { core::mem::transmute(call) };
        Job { call, waiter, collected: false }
    }

    /// Whether the hub has taken `job` back: from then on nobody else touches it.
    ///
    /// # Safety
    /// `job` is a live job, read on the hub thread (the only writer of the flag).
    pub unsafe fn collected(job: *const Job) -> bool {
        // SAFETY: live (caller); volatile because the hub writes the flag through its own
        // pointer while the owner is parked.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*job).collected)) }
    }
}

struct JobPtr(*mut Job);
// SAFETY: a Job is handed between threads whole; its owner waits until it is collected.
unsafe impl Send for JobPtr {}

static PENDING: SpinLocked<VecDeque<JobPtr>> = SpinLocked::new(VecDeque::new());
static FINISHED: SpinLocked<Vec<JobPtr>> = SpinLocked::new(Vec::new());
/// Bumped for every new job; idle workers sleep on it.
static WORK_SEQUENCE: AtomicU32 = AtomicU32::new(0);
static WORKERS: AtomicUsize = AtomicUsize::new(0);
static IDLE_WORKERS: AtomicUsize = AtomicUsize::new(0);
/// Whether a job submitted now will find a worker: one more is started unless an idle one
/// will take it. Idle workers only count themselves busy once they wake, so compare them
/// with the jobs already waiting (which they will take first), not with zero: otherwise a
/// burst of calls queues behind the one worker that happened to be idle.
pub fn ensure_worker() -> bool {
    let waiting = PENDING.with(|queue| queue.len());
    !(IDLE_WORKERS.load(Ordering::Acquire) <= waiting
        && WORKERS.load(Ordering::Acquire) < MAX_WORKERS
        && !start_worker()
        && WORKERS.load(Ordering::Acquire) == 0)
}

/// Queues `job` for a worker and wakes one.
///
/// # Safety
/// `job` stays where it is, untouched by the caller but for `collected`, until the hub
/// collects it.
pub unsafe fn submit(job: *mut Job) {
    PENDING.with(|queue| queue.push_back(JobPtr(job)));
    WORK_SEQUENCE.fetch_add(1, Ordering::Release);
    raw::futex_wake(WORK_SEQUENCE.as_ptr() as *const i32, 1, true);
}

/// Takes the finished jobs back and returns their callers, to be woken (the hub calls this
/// when its eventfd fires). Each job is marked collected as its caller is returned.
///
/// # Safety
/// Hub thread only.
pub unsafe fn take_finished() -> impl Iterator<Item = *mut Green> {
    FINISHED.with(core::mem::take).into_iter().map(|JobPtr(job)| {
        // SAFETY: a finished job's owner is parked until `collected` (set here); after
        // this it may leave, so the waiter is read first.
        unsafe {
            let waiter = (*job).waiter;
            (*job).collected = true;
            waiter
        }
    })
}

/// A forked child has no workers, and no jobs of its own in flight.
pub fn forget_workers_in_child() {
    WORKERS.store(0, Ordering::Release);
    IDLE_WORKERS.store(0, Ordering::Release);
    PENDING.unlock_in_child();
    FINISHED.unlock_in_child();
    PENDING.with(|queue| queue.clear());
    FINISHED.with(|done| done.clear());
}

fn start_worker() -> bool {
    WORKERS.fetch_add(1, Ordering::AcqRel);
    // SAFETY: an all-zero pthread_attr_t is a valid argument for pthread_attr_init, which
    // sets every field.
    let mut attr: libc::pthread_attr_t = unsafe { core::mem::zeroed() };
    let mut thread: libc::pthread_t = 0;
    // SAFETY: `attr` is initialised before use and destroyed after; the real pthread_create
    // (not our hook) starts an OS thread running `worker`, which takes no argument.
    let started = unsafe {
        libc::pthread_attr_init(&mut attr);
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        let started = crate::sys::real::pthread_create(&mut thread, &attr, worker, core::ptr::null_mut());
        libc::pthread_attr_destroy(&mut attr);
        started
    };
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
                let woken = raw::futex_wait(&WORK_SEQUENCE, sequence, Some(IDLE_EXIT_SECS));
                IDLE_WORKERS.fetch_sub(1, Ordering::AcqRel);
                if !woken && PENDING.with(|queue| queue.is_empty()) {
                    WORKERS.fetch_sub(1, Ordering::AcqRel);
                    return core::ptr::null_mut();
                }
            }
        }
    }
}
