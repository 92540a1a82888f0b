//! What a green thread leaves behind when it ends: the locks it still holds that the
//! program expects to be recovered (robust mutexes, whose next locker gets EOWNERDEAD, as
//! the kernel arranges natively when it walks a dying thread's robust list).
//!
//! The runtime knows nothing about mutex words: the hooks register the function that
//! recovers them ([`on_thread_end`]), and the scheduler core calls it on the ending thread
//! itself, after its thread-local and key destructors, as the kernel's walk comes after
//! them natively.

use core::sync::atomic::{AtomicUsize, Ordering};

/// The registered function's address, 0 while none is.
static AT_END: AtomicUsize = AtomicUsize::new(0);

/// Registers `f` to run on every green thread (not the root) as it ends, on that thread,
/// while it is still the running one. `f` must not park.
pub fn on_thread_end(f: fn()) {
    AT_END.store(f as usize, Ordering::Relaxed);
}

/// Runs the registered function, if any, for the running thread, which is ending.
pub(super) fn thread_ends() {
    let f = AT_END.load(Ordering::Relaxed);
    if f != 0 {
        // SAFETY: only `on_thread_end` stores a non-zero value, and it stores a `fn()`.
        let f: fn() = unsafe { core::mem::transmute::<usize, fn()>(f) };
        f();
    }
}
