//! pthread_barrier_wait, pthread_once and pthread_spin_lock on the hub thread.
//!
//! **Barriers** count arrivals in a side table keyed by the barrier's address (an entry
//! exists only while a cycle is under way); the thread that completes a cycle gets
//! PTHREAD_BARRIER_SERIAL_THREAD, wakes the others (they get 0) and the barrier is ready
//! for the next cycle at once. glibc's own barrier words are never written, so glibc's
//! pthread_barrier_init and _destroy keep working on them (init also drops our entry).
//! Process-shared barriers (glibc's `shared` field) pass through to glibc, as does every
//! call off the hub thread; a barrier that green threads and foreign OS threads wait at
//! together is not supported (each side counts its own arrivals).
//!
//! **pthread_once** keeps glibc's protocol on the control word, so green and foreign
//! threads can share a control: 0 = not run, bit 1 = done, bit 0 = in progress, with
//! glibc's fork generation in the bits above (glibc reruns a routine a fork interrupted).
//! The generation is glibc-internal: we read it by letting glibc run a tiny routine on a
//! fresh control and looking at that control while it runs. When a green thread runs the
//! routine and it blocks (sleeps, waits for I/O), other green threads calling pthread_once
//! on the same control park until it is done, instead of sleeping on the futex with the
//! whole OS thread (which would deadlock: the runner could never finish). After that, a
//! call is one load and a test. A foreign runner is waited for with short, growing naps.
//! If the routine ends its green thread (pthread_exit), the control goes back to "not
//! run" and the waiters wake, so the next of them runs the routine, as glibc's cleanup
//! handler does: a pthread key whose destructor does that is set while the routine runs.
//! Not so when the main thread is the one that runs the routine and exits inside it: the
//! waiters then stay parked (the deadlock report names them). A C++ exception thrown out of
//! a routine (std::call_once) cannot pass through this hook: the process aborts.
//!
//! **Spin locks**: on the hub thread a contended pthread_spin_lock yields to the other
//! green threads between attempts (glibc's own trylock), instead of spinning the one OS
//! thread while the holder cannot run. pthread_spin_trylock and _unlock are glibc's.

use super::futex::{recheck_deadline, FIRST_NAP_NS};
use crate::runtime::green::{self, Wake, WaitingOn};
use crate::runtime::{on_hub, rt, tsd, waitqueue, AddressHasher};
use crate::sys::{raw, real};
use core::cell::UnsafeCell;
use core::ffi::{c_int, c_uint, c_void};
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicUsize, Ordering};
use std::collections::HashMap;

/// A map only the hub thread touches.
struct HubMap<V>(UnsafeCell<Option<HashMap<usize, V, AddressHasher>>>);

// SAFETY: only the hub thread touches it (every user checks on_hub first).
unsafe impl<V> Sync for HubMap<V> {}

impl<V> HubMap<V> {
    const fn new() -> Self {
        HubMap(UnsafeCell::new(None))
    }

    /// # Safety
    /// Hub thread only; no reference from an earlier call may be live.
    #[allow(clippy::mut_from_ref)]
    unsafe fn get(&self) -> &mut HashMap<usize, V, AddressHasher> {
        (*self.0.get()).get_or_insert_with(|| HashMap::with_hasher(AddressHasher))
    }
}

// ---- barriers ----

/// glibc's `struct pthread_barrier` (nptl/pthreadP.h), the same on x86-64 and aarch64.
#[repr(C)]
struct GlibcBarrier {
    in_: u32,
    current_round: u32,
    count: u32,
    shared: i32,
    out: u32,
}

/// Threads that arrived in the current cycle, by barrier address.
static ARRIVED: HubMap<u32> = HubMap::new();

unsafe fn barrier_wait(b: *mut libc::pthread_barrier_t, count: u32) -> c_int {
    let address = b as usize;
    let arrived = ARRIVED.get().entry(address).or_insert(0);
    *arrived += 1;
    if *arrived >= count {
        ARRIVED.get().remove(&address);
        waitqueue::wake_all(address, Wake::Handoff);
        return libc::PTHREAD_BARRIER_SERIAL_THREAD;
    }
    // Only the thread that completes the cycle wakes us; loop in case anything else does.
    while waitqueue::wait(address, None, WaitingOn::Barrier { address }) != Wake::Handoff {}
    0
}

#[no_mangle]
pub unsafe extern "C" fn pthread_barrier_wait(b: *mut libc::pthread_barrier_t) -> c_int {
    if b.is_null() || !on_hub() {
        return real::pthread_barrier_wait(b);
    }
    let barrier = &*(b as *const GlibcBarrier);
    if barrier.shared != 0 {
        return real::pthread_barrier_wait(b);
    }
    barrier_wait(b, barrier.count)
}

#[no_mangle]
pub unsafe extern "C" fn pthread_barrier_init(
    b: *mut libc::pthread_barrier_t,
    attr: *const libc::pthread_barrierattr_t,
    count: c_uint,
) -> c_int {
    let result = real::pthread_barrier_init(b, attr, count);
    if result == 0 && on_hub() {
        ARRIVED.get().remove(&(b as usize));
    }
    result
}

// ---- pthread_once ----

/// glibc's __PTHREAD_ONCE_INPROGRESS and __PTHREAD_ONCE_DONE; the bits above hold the
/// fork generation.
const ONCE_IN_PROGRESS: i32 = 1;
const ONCE_DONE: i32 = 2;

/// Controls whose routine a green thread is running now, with that thread's id.
static RUNNING: HubMap<u64> = HubMap::new();

type InitRoutine = Option<unsafe extern "C" fn()>;

/// glibc's fork generation: the value of a fresh control while glibc runs its routine,
/// without the in-progress bit. (The routine runs on the calling thread, right here.)
unsafe fn fork_generation() -> i32 {
    static PROBE: AtomicUsize = AtomicUsize::new(0);
    static GENERATION: AtomicI32 = AtomicI32::new(0);
    unsafe extern "C" fn look() {
        let control = &*(PROBE.load(Ordering::Relaxed) as *const AtomicI32);
        let generation = control.load(Ordering::Relaxed) & !(ONCE_IN_PROGRESS | ONCE_DONE);
        GENERATION.store(generation, Ordering::Relaxed);
    }
    let control = AtomicI32::new(0);
    PROBE.store(&control as *const AtomicI32 as usize, Ordering::Relaxed);
    real::pthread_once(control.as_ptr(), Some(look));
    GENERATION.load(Ordering::Relaxed)
}

/// One routine a green thread is running, on that thread's stack: innermost first, so
/// that the key destructor finds every control a thread that exits mid-routine leaves.
struct OnceFrame {
    control: *const AtomicI32,
    outer: *mut OnceFrame,
}

/// The pthread key whose value is a running thread's innermost OnceFrame (u32::MAX: none
/// made yet; glibc's keys are below 1024).
static ONCE_KEY: AtomicU32 = AtomicU32::new(u32::MAX);

unsafe fn once_key() -> Option<u32> {
    let key = ONCE_KEY.load(Ordering::Relaxed);
    if key != u32::MAX {
        return Some(key);
    }
    let mut key: libc::pthread_key_t = 0;
    if super::thread::pthread_key_create(&mut key, Some(abandon_routines)) != 0 {
        return None;
    }
    ONCE_KEY.store(key, Ordering::Relaxed);
    Some(key)
}

/// Wakes every thread waiting for `control`'s routine, green and foreign.
unsafe fn wake_once_waiters(control: *const AtomicI32) {
    waitqueue::wake_all(control as usize, Wake::Ready);
    raw::futex_wake(control as *const i32, i32::MAX, true);
}

/// Key destructor: the thread ended inside pthread_once routines. Each control goes back
/// to "not run" and its waiters wake to run the routine themselves (glibc's
/// clear_once_control).
unsafe extern "C" fn abandon_routines(innermost: *mut c_void) {
    let mut frame = innermost as *mut OnceFrame;
    while !frame.is_null() {
        let control = (*frame).control;
        if on_hub() {
            RUNNING.get().remove(&(control as usize));
        }
        (*control).store(0, Ordering::Relaxed);
        wake_once_waiters(control);
        frame = (*frame).outer;
    }
}

/// Runs the routine on the current green thread, registered so that its exit is noticed.
unsafe fn run_routine(control: *const AtomicI32, init: InitRoutine) {
    let me = green::current();
    RUNNING.get().insert(control as usize, (*me).id);
    let key = if me == rt().root { None } else { once_key() };
    let mut frame = OnceFrame { control, outer: core::ptr::null_mut() };
    if let Some(key) = key {
        frame.outer = tsd::get(me, key) as *mut OnceFrame;
        let _ = tsd::set(me, key, &mut frame as *mut OnceFrame as *const c_void);
    }
    if let Some(init) = init {
        init();
    }
    if let Some(key) = key {
        let _ = tsd::set(me, key, frame.outer as *const c_void);
    }
    RUNNING.get().remove(&(control as usize));
}

unsafe fn once_slow(control: *const AtomicI32, init: InitRoutine) -> c_int {
    let address = control as usize;
    let mut nap = FIRST_NAP_NS;
    loop {
        let running = fork_generation() | ONCE_IN_PROGRESS;
        let mut seen = (*control).load(Ordering::Acquire);
        loop {
            if seen & ONCE_DONE != 0 {
                return 0;
            }
            match (*control).compare_exchange_weak(seen, running, Ordering::Acquire, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => seen = now,
            }
        }
        if seen == running {
            // Someone of this process's generation runs it: wait until it is done. A green
            // runner wakes us; a foreign one only wakes the futex, so look again now and then.
            let foreign = !RUNNING.get().contains_key(&address);
            let wake_at = recheck_deadline(None, foreign, &mut nap);
            waitqueue::wait(address, wake_at, WaitingOn::Once { address });
            continue;
        }
        // Not run, or interrupted by a fork: ours to run.
        run_routine(control, init);
        (*control).store(ONCE_DONE, Ordering::Release);
        wake_once_waiters(control);
        return 0;
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_once(control: *mut libc::pthread_once_t, init: InitRoutine) -> c_int {
    let word = control as *const AtomicI32;
    if !control.is_null() && (*word).load(Ordering::Acquire) & ONCE_DONE != 0 {
        return 0;
    }
    if control.is_null() || !on_hub() {
        return real::pthread_once(control, init);
    }
    once_slow(word, init)
}

// ---- spin locks ----

#[no_mangle]
pub unsafe extern "C" fn pthread_spin_lock(l: *mut libc::pthread_spinlock_t) -> c_int {
    if l.is_null() || !on_hub() {
        return real::pthread_spin_lock(l);
    }
    // glibc's trylock speaks the lock word's protocol (which differs between x86-64 and
    // aarch64); between attempts the holder, if green, gets to run.
    while real::pthread_spin_trylock(l) != 0 {
        green::yield_now();
    }
    0
}
