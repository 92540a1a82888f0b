//! pthread_barrier_wait and pthread_spin_lock on the hub thread (pthread_once is
//! sync_once.rs's).
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
//! **Spin locks**: on the hub thread a contended pthread_spin_lock yields to the other
//! green threads between attempts (glibc's own trylock), instead of spinning the one OS
//! thread while the holder cannot run. pthread_spin_trylock and _unlock are glibc's.

use super::hub::{fair_turn, Hub, HubMap};
use crate::runtime::green::{Wake, WaitingOn};
use crate::sys::real;
use core::ffi::{c_int, c_uint};
use core::sync::atomic::AtomicU32;

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
