//! Thread-specific data (pthread keys) per green thread.
//!
//! glibc keeps key values in the kernel thread's descriptor, which all green threads share,
//! so a green thread's values live in its own record instead. Key numbers (and their
//! destructors) still come from glibc, so keys made on any thread, before or after the
//! runtime started, are the same keys. The root keeps its values in glibc: they predate us.
//!
//! A key's sequence number is odd while it exists; a slot remembers the sequence it was set
//! under, so a value set before pthread_key_delete is invisible to a later key that reuses
//! the number (glibc does the same).

use super::thread::{Green, KeySlot as Slot};
use core::ffi::c_void;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};

/// glibc's PTHREAD_KEYS_MAX.
pub const MAX_KEYS: usize = 1024;
/// POSIX: destructors run again while values remain, at least this many rounds.
const DESTRUCTOR_ROUNDS: usize = 4;

pub type Destructor = unsafe extern "C" fn(*mut c_void);

static SEQUENCES: [AtomicU32; MAX_KEYS] = [const { AtomicU32::new(0) }; MAX_KEYS];
static DESTRUCTORS: [AtomicUsize; MAX_KEYS] = [const { AtomicUsize::new(0) }; MAX_KEYS];

fn live_sequence(key: usize) -> Option<u32> {
    let sequence = SEQUENCES.get(key)?.load(Relaxed);
    (sequence % 2 == 1).then_some(sequence)
}

/// glibc handed out `key`: remember its destructor.
pub fn created(key: u32, destructor: Option<Destructor>) {
    let Some(sequence) = SEQUENCES.get(key as usize) else { return };
    DESTRUCTORS[key as usize].store(destructor.map_or(0, |d| d as usize), Relaxed);
    let current = sequence.load(Relaxed);
    if current % 2 == 1 {
        // Created again without a delete we saw: move to the next odd number.
        sequence.store(current + 2, Relaxed);
    } else {
        sequence.store(current + 1, Relaxed);
    }
}

pub fn deleted(key: u32) {
    if let Some(sequence) = SEQUENCES.get(key as usize) {
        let current = sequence.load(Relaxed);
        if current % 2 == 1 {
            sequence.store(current + 1, Relaxed);
        }
    }
}

/// # Safety
/// `g` is live.
pub unsafe fn get(g: *mut Green, key: u32) -> *mut c_void {
    let key = key as usize;
    // SAFETY: `g` is live (caller); the borrow ends with this call.
    let slots = unsafe { &(*g).tsd };
    match (live_sequence(key), slots.get(key)) {
        (Some(sequence), Some(slot)) if slot.sequence == sequence => slot.value,
        _ => core::ptr::null_mut(),
    }
}

/// Err(EINVAL) for a key that does not exist, as glibc.
///
/// # Safety
/// `g` is live.
pub unsafe fn set(g: *mut Green, key: u32, value: *const c_void) -> Result<(), i32> {
    let key = key as usize;
    let sequence = live_sequence(key).ok_or(libc::EINVAL)?;
    // SAFETY: `g` is live (caller); the borrow ends with this call.
    let slots = unsafe { &mut (*g).tsd };
    if slots.len() <= key {
        slots.resize(key + 1, Slot { sequence: 0, value: core::ptr::null_mut() });
    }
    slots[key] = Slot { sequence, value: value as *mut c_void };
    Ok(())
}

/// Runs the destructors of `g`'s non-null values, in the thread's own context (they may
/// block), repeating while destructors set new values, as POSIX asks.
///
/// # Safety
/// `g` is the running green thread, about to end.
pub unsafe fn run_destructors(g: *mut Green) {
    for _ in 0..DESTRUCTOR_ROUNDS {
        let mut ran = false;
        // SAFETY: `g` is live (caller); here and below ("see above") each borrow of its slots
        // ends before a destructor runs, since a destructor may set values again.
        let count = unsafe { (*g).tsd.len() };
        #[allow(clippy::needless_range_loop)] // the slots may grow while destructors run
        for key in 0..count {
            // SAFETY: see above; `key` < the length, which only grows.
            let slot = unsafe { (&(*g).tsd)[key] };
            let destructor = DESTRUCTORS[key].load(Relaxed);
            if slot.value.is_null() || destructor == 0 || live_sequence(key) != Some(slot.sequence)
            {
                continue;
            }
            // SAFETY: see above.
            unsafe { (&mut (*g).tsd)[key].value = core::ptr::null_mut() };
            // SAFETY: a non-zero entry was stored from a `Destructor` by `created`.
            let destructor: Destructor = unsafe { core::mem::transmute::<usize, Destructor>(destructor) };
            // SAFETY: POSIX's contract for key destructors: called with the thread's non-null
            // value, on the thread, after the value was cleared.
            unsafe { destructor(slot.value) };
            ran = true;
        }
        if !ran {
            break;
        }
    }
}

/// The root's key destructors, as glibc's `__nptl_deallocate_tsd` runs them when the main
/// thread ends: its values are glibc's, read and cleared through glibc, for every key that
/// exists and has a destructor, repeating while destructors set new values.
#[cfg(target_arch = "x86_64")]
pub fn run_root_destructors() {
    for _ in 0..DESTRUCTOR_ROUNDS {
        let mut ran = false;
        for (key, destructor) in DESTRUCTORS.iter().enumerate() {
            let destructor = destructor.load(Relaxed);
            if destructor == 0 || live_sequence(key).is_none() {
                continue;
            }
            // SAFETY: a key glibc handed out and that exists; it reads the calling thread's.
            let value = unsafe { crate::sys::real::pthread_getspecific(key as u32) };
            if value.is_null() {
                continue;
            }
            // SAFETY: as above; the value is cleared before its destructor runs, as POSIX asks.
            unsafe { crate::sys::real::pthread_setspecific(key as u32, core::ptr::null()) };
            // SAFETY: a non-zero entry was stored from a `Destructor` by `created`.
            let destructor: Destructor = unsafe { core::mem::transmute::<usize, Destructor>(destructor) };
            // SAFETY: POSIX's contract for key destructors, on the thread whose value it was.
            unsafe { destructor(value) };
            ran = true;
        }
        if !ran {
            break;
        }
    }
}
