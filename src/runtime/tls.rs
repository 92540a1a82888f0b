//! Thread-local variables per green thread, applied to green threads: which thread's
//! contents are live, and their thread-local destructors. tls_blocks.rs explains the two
//! ways a green thread gets its own thread-locals and holds the data; this file only knows
//! which thread owns the live contents (`Runtime::tls_owner`).
//!
//! It sits between the runtime state and the scheduler: the scheduler calls `activate` right
//! before it runs a thread and `forget` when one ends.

use super::state::rt;
use super::thread::Green;
use core::ffi::c_void;
use core::ptr::addr_of_mut;

pub use super::tls_blocks::Destructor;

/// Makes `g`'s thread-local contents the live ones. Called by the scheduler right before it
/// runs `g`.
///
/// # Safety
/// Hub thread only; `g` is live, and no code of the previous owner is on the way to running
/// before its contents come back (the scheduler guarantees it: only `g` runs next).
#[inline(always)]
pub unsafe fn activate(g: *mut Green) {
    // SAFETY: hub thread (caller); no other runtime borrow is live in this call.
    let rt = unsafe { rt() };
    if rt.tls_owner == g || rt.tls.is_empty() {
        return;
    }
    let owner = rt.tls_owner;
    // SAFETY: the owner is null or a live record (`forget` clears it before a record goes),
    // distinct from `g`; `g` is live (caller). Only their `tls` fields are borrowed.
    let (from, to) = unsafe {
        (if owner.is_null() { core::ptr::null_mut() } else { addr_of_mut!((*owner).tls) }, addr_of_mut!((*g).tls))
    };
    // SAFETY: hub thread, `from` holds the live contents, only `g` runs next (caller).
    unsafe { rt.tls.switch(from, to) };
    rt.tls_owner = g;
}

/// Gives a new green thread what it needs before it first runs. False when memory for its
/// TLS area cannot be had.
///
/// # Safety
/// Hub thread only; `g` is live and not yet running.
pub unsafe fn prepare(g: *mut Green) -> bool {
    // SAFETY: hub thread (caller); `g` is a record nobody else borrows yet.
    unsafe { rt().tls.prepare(&mut (*g).tls) }
}

/// In a forked child, on the green thread that forked: glibc and the kernel updated the
/// OS thread's descriptor; a TLS area copied from it takes the update.
///
/// # Safety
/// Hub thread of the child, `g` current.
pub unsafe fn after_fork_in_child(g: *mut Green) {
    // SAFETY: the child's only thread, `g` current (caller).
    unsafe { rt().tls.refresh_after_fork(&(*g).tls) };
}

/// `g` has ended: its contents (live or saved) are garbage now.
///
/// # Safety
/// Hub thread only; `g` is live and will never run again.
pub unsafe fn forget(g: *mut Green) {
    // SAFETY: hub thread (caller).
    let rt = unsafe { rt() };
    let live = rt.tls_owner == g;
    // SAFETY: hub thread; `g` never runs again (caller), so its contents may go.
    let root_is_live = unsafe { rt.tls.forget(&mut (*g).tls, live) };
    if live {
        rt.tls_owner = if root_is_live { rt.root } else { core::ptr::null_mut() };
    }
}

/// Whether a thread-local at `address`, seen from a green thread, is that thread's own.
///
/// # Safety
/// Hub thread only.
pub unsafe fn is_per_green(address: usize) -> bool {
    // SAFETY: hub thread (caller).
    unsafe { rt() }.tls.is_per_green(address)
}

/// Records a thread-local destructor for green thread `g` (not the root, whose destructors
/// glibc runs at exit as usual).
///
/// # Safety
/// Hub thread only; `g` is a live green thread other than the root.
pub unsafe fn register_destructor(g: *mut Green, destructor: Destructor, object: *mut c_void) {
    // SAFETY: `g` is live (caller); the borrow ends with the push.
    unsafe { (*g).tls.push_destructor(destructor, object) };
}

/// Runs `g`'s thread-local destructors, newest first, including any they register.
///
/// # Safety
/// On `g` itself, as it ends.
pub unsafe fn run_destructors(g: *mut Green) {
    // SAFETY: `g` is live (caller); each pop's borrow ends before the destructor runs, so a
    // destructor that registers another one finds the record unborrowed.
    while let Some((destructor, object)) = unsafe { (*g).tls.pop_destructor() } {
        // SAFETY: glibc's contract for __cxa_thread_atexit_impl: the destructor is called
        // once with the object it was registered with, on the thread that registered it.
        unsafe { destructor(object) };
    }
}
