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

use super::deadline::{recheck_deadline, FIRST_NAP_NS};
use super::hub::{fair_turn, Hub, HubMap};
use crate::runtime::green::{Wake, WaitingOn};
use crate::runtime::tsd;
use crate::sys::{raw, real};
use core::ffi::{c_int, c_uint, c_void};
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicUsize, Ordering};

// ---- barriers ----

/// glibc 2.36's `struct pthread_barrier` (sysdeps/nptl/internaltypes.h), the same on x86-64
/// and aarch64. Foreign waiters change `in`, `current_round` and `out` atomically, so they
/// are atomics here; `count` and `shared` change only in pthread_barrier_init. That makes a
/// shared reference to a live barrier sound.
#[repr(C)]
struct GlibcBarrier {
    _in: AtomicU32,
    _current_round: AtomicU32,
    count: u32,
    shared: i32,
    _out: AtomicU32,
}

const _: () = assert!(core::mem::size_of::<GlibcBarrier>() <= core::mem::size_of::<libc::pthread_barrier_t>());
const _: () = assert!(core::mem::align_of::<GlibcBarrier>() <= core::mem::align_of::<libc::pthread_barrier_t>());

/// Threads that arrived in the current cycle, by barrier address.
static ARRIVED: HubMap<u32> = HubMap::new();

fn barrier_wait(hub: Hub, address: usize, count: u32) -> c_int {
    let complete = ARRIVED.with(hub, |map| {
        let arrived = map.entry(address).or_insert(0);
        *arrived += 1;
        let complete = *arrived >= count;
        if complete {
            map.remove(&address);
        }
        complete
    });
    if complete {
        hub.wake_all(address, Wake::Handoff);
        return libc::PTHREAD_BARRIER_SERIAL_THREAD;
    }
    // Only the thread that completes the cycle wakes us; loop in case anything else does.
    while hub.wait(address, None, WaitingOn::Barrier { address }) != Wake::Handoff {}
    0
}

/// # Safety
/// `b` is null or a barrier the program initialised.
#[no_mangle]
pub unsafe extern "C" fn pthread_barrier_wait(b: *mut libc::pthread_barrier_t) -> c_int {
    if let Some(hub) = Hub::here() {
        // SAFETY: null or a live barrier (caller), laid out as GlibcBarrier (see there).
        if let Some(barrier) = unsafe { (b as *const GlibcBarrier).as_ref() } {
            if barrier.shared == 0 {
                return barrier_wait(hub, b as usize, barrier.count);
            }
        }
    }
    // SAFETY: the program's argument, passed on as it gave it.
    unsafe { real::pthread_barrier_wait(b) }
}

/// # Safety
/// As for glibc's pthread_barrier_init.
#[no_mangle]
pub unsafe extern "C" fn pthread_barrier_init(
    b: *mut libc::pthread_barrier_t,
    attr: *const libc::pthread_barrierattr_t,
    count: c_uint,
) -> c_int {
    // SAFETY: the program's arguments, passed on as it gave them.
    let result = unsafe { real::pthread_barrier_init(b, attr, count) };
    if let Some(hub) = Hub::here().filter(|_| result == 0) {
        ARRIVED.with(hub, |map| map.remove(&(b as usize)));
    }
    result
}

// ---- pthread_once ----

/// glibc's __PTHREAD_ONCE_INPROGRESS and __PTHREAD_ONCE_DONE (glibc 2.36, nptl's
/// pthreadP.h); the bits above hold the fork generation.
const ONCE_IN_PROGRESS: i32 = 1;
const ONCE_DONE: i32 = 2;

/// Controls whose routine a green thread is running now, with that thread's id.
static RUNNING: HubMap<u64> = HubMap::new();

type InitRoutine = Option<unsafe extern "C" fn()>;

/// glibc's fork generation: the value of a fresh control while glibc runs its routine,
/// without the in-progress bit. (The routine runs on the calling thread, right here; the
/// Hub keeps the statics to one thread.)
fn fork_generation(_hub: Hub) -> i32 {
    static PROBE: AtomicUsize = AtomicUsize::new(0);
    static GENERATION: AtomicI32 = AtomicI32::new(0);
    extern "C" fn look() {
        // SAFETY: PROBE holds the address of the control below, which lives on the caller's
        // stack for as long as glibc runs this routine on it.
        let control = unsafe { &*(PROBE.load(Ordering::Relaxed) as *const AtomicI32) };
        let generation = control.load(Ordering::Relaxed) & !(ONCE_IN_PROGRESS | ONCE_DONE);
        GENERATION.store(generation, Ordering::Relaxed);
    }
    let control = AtomicI32::new(0);
    PROBE.store(&control as *const AtomicI32 as usize, Ordering::Relaxed);
    // SAFETY: a live, zero (not run) control of our own, and a routine that reads only it.
    unsafe { real::pthread_once(control.as_ptr(), Some(look)) };
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

fn once_key() -> Option<u32> {
    let key = ONCE_KEY.load(Ordering::Relaxed);
    if key != u32::MAX {
        return Some(key);
    }
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: a valid place for the key, and a destructor of the signature glibc calls.
    if unsafe { super::thread::pthread_key_create(&mut key, Some(abandon_routines)) } != 0 {
        return None;
    }
    ONCE_KEY.store(key, Ordering::Relaxed);
    Some(key)
}

/// Wakes every thread waiting for `control`'s routine: green ones (when `hub` is given)
/// and foreign ones.
fn wake_once_waiters(hub: Option<Hub>, control: &AtomicI32) {
    if let Some(hub) = hub {
        hub.wake_all(control as *const AtomicI32 as usize, Wake::Ready);
    }
    raw::futex_wake(control.as_ptr(), i32::MAX, true);
}

/// Key destructor: the thread ended inside pthread_once routines. Each control goes back
/// to "not run" and its waiters wake to run the routine themselves (glibc's
/// clear_once_control).
///
/// # Safety
/// `innermost` is the value run_routine set for ONCE_KEY: null or the innermost OnceFrame of
/// the ending thread, whose stack is still in place while its key destructors run.
unsafe extern "C" fn abandon_routines(innermost: *mut c_void) {
    let hub = Hub::here();
    let mut frame = innermost as *const OnceFrame;
    // SAFETY: each frame is null or live on the ending thread's stack (caller), and its
    // control is the program's, live while its routine runs.
    while let Some(f) = unsafe { frame.as_ref() } {
        // SAFETY: as above.
        let control = unsafe { &*f.control };
        if let Some(hub) = hub {
            RUNNING.with(hub, |map| map.remove(&(f.control as usize)));
        }
        control.store(0, Ordering::Relaxed);
        wake_once_waiters(hub, control);
        frame = f.outer;
    }
}

/// Runs the routine on the current green thread, registered so that its exit is noticed.
///
/// # Safety
/// `init` is the program's routine, callable with no argument (pthread_once's contract).
unsafe fn run_routine(hub: Hub, control: &AtomicI32, init: InitRoutine) {
    let me = hub.current();
    let address = control as *const AtomicI32 as usize;
    // SAFETY: the running green thread is live.
    let id = unsafe { (*me).id };
    RUNNING.with(hub, |map| map.insert(address, id));
    let key = if me == hub.root() { None } else { once_key() };
    let mut frame = OnceFrame { control, outer: core::ptr::null_mut() };
    if let Some(key) = key {
        // SAFETY: hub thread, and `me` is live; the frame outlives its registration (it is
        // unregistered below, or the thread ends inside `init` and the destructor reads it).
        unsafe {
            frame.outer = tsd::get(me, key) as *mut OnceFrame;
            let _ = tsd::set(me, key, &mut frame as *mut OnceFrame as *const c_void);
        }
    }
    if let Some(init) = init {
        // SAFETY: the program's routine (caller).
        unsafe { init() };
    }
    if let Some(key) = key {
        // SAFETY: hub thread, and `me` is live (it is running this).
        let _ = unsafe { tsd::set(me, key, frame.outer as *const c_void) };
    }
    RUNNING.with(hub, |map| map.remove(&address));
}

/// Moves `control` from "not run" (or an interrupted run of an earlier fork generation) to
/// `running`: Ok(true) if it is ours to run, Ok(false) if it is done, Err(()) if someone
/// of this generation runs it.
fn claim(control: &AtomicI32, running: i32) -> Result<bool, ()> {
    let mut seen = control.load(Ordering::Acquire);
    loop {
        if seen & ONCE_DONE != 0 {
            return Ok(false);
        }
        match control.compare_exchange_weak(seen, running, Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => break,
            Err(now) => seen = now,
        }
    }
    if seen == running {
        Err(())
    } else {
        Ok(true)
    }
}

/// # Safety
/// As for `run_routine`.
unsafe fn once_slow(hub: Hub, control: &AtomicI32, init: InitRoutine) -> c_int {
    let address = control as *const AtomicI32 as usize;
    let mut nap = FIRST_NAP_NS;
    loop {
        match claim(control, fork_generation(hub) | ONCE_IN_PROGRESS) {
            Ok(false) => return 0,
            Ok(true) => break,
            Err(()) => {
                // Someone of this process's generation runs it: wait until it is done. A
                // green runner wakes us; a foreign one only wakes the futex, so look again
                // now and then.
                let foreign = !RUNNING.with(hub, |map| map.contains_key(&address));
                let wake_at = recheck_deadline(None, foreign, &mut nap);
                hub.wait(address, wake_at, WaitingOn::Once { address });
            }
        }
    }
    // Not run, or interrupted by a fork: ours to run.
    // SAFETY: the caller's contract is run_routine's.
    unsafe { run_routine(hub, control, init) };
    control.store(ONCE_DONE, Ordering::Release);
    wake_once_waiters(Some(hub), control);
    0
}

/// # Safety
/// `control` is null or a pthread_once_t of the program; `init` is its routine.
#[no_mangle]
pub unsafe extern "C" fn pthread_once(control: *mut libc::pthread_once_t, init: InitRoutine) -> c_int {
    // SAFETY: null or the program's control word, an int that glibc and our code change
    // only atomically.
    let word = unsafe { (control as *const AtomicI32).as_ref() };
    if word.is_some_and(|w| w.load(Ordering::Acquire) & ONCE_DONE != 0) {
        return 0;
    }
    match (word, Hub::here()) {
        // SAFETY: the program's routine (caller).
        (Some(word), Some(hub)) => unsafe { once_slow(hub, word, init) },
        // SAFETY: the program's arguments, passed on as it gave them.
        _ => unsafe { real::pthread_once(control, init) },
    }
}

// ---- spin locks ----

/// glibc's own, then a fair turn when it failed: a loop of tries must let the holder run.
///
/// # Safety
/// `l` is null or a spin lock the program initialised.
#[no_mangle]
pub unsafe extern "C" fn pthread_spin_trylock(l: *mut libc::pthread_spinlock_t) -> c_int {
    // SAFETY: the program's argument, passed on as it gave it.
    let result = unsafe { real::pthread_spin_trylock(l) };
    if result != 0 {
        fair_turn();
    }
    result
}

/// # Safety
/// `l` is null or a spin lock the program initialised.
#[no_mangle]
pub unsafe extern "C" fn pthread_spin_lock(l: *mut libc::pthread_spinlock_t) -> c_int {
    let Some(hub) = Hub::here().filter(|_| !l.is_null()) else {
        // SAFETY: the program's argument, passed on as it gave it.
        return unsafe { real::pthread_spin_lock(l) };
    };
    // glibc's trylock speaks the lock word's protocol (which differs between x86-64 and
    // aarch64); between attempts the holder, if green, gets to run.
    // SAFETY: a non-null spin lock of the program (caller).
    while unsafe { real::pthread_spin_trylock(l) } != 0 {
        hub.yield_now();
    }
    0
}
