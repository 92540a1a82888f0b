//! Freeing a green thread's record: after it ended and was joined (or detached), or, in a
//! forked child, for every thread that does not exist there. The scheduler (green.rs)
//! re-exports both.

use super::{introspect, state};
use super::thread::Green;

/// In a forked child: `g` does not exist here. Its stack goes back to the pool (nothing of
/// it will ever run) and its record is freed.
///
/// # Safety
/// In the child, from fork.rs, for a thread other than the caller of fork.
pub unsafe fn discard_in_child(g: *mut Green) {
    // SAFETY: `g` is a live record the child will never run.
    if let Some(mut coroutine) = unsafe { (*g).coroutine.take() } {
        // SAFETY: the coroutine will never run again; nothing on its stack needs dropping
        // for the child's sake (its frames belong to a thread that does not exist here).
        unsafe { coroutine.force_reset() };
        // SAFETY: hub thread of the child.
        unsafe { state::rt() }.stacks.give_back(coroutine.into_stack());
    }
    // SAFETY: as above; nobody in the child refers to it.
    unsafe { release(g) };
}

/// Forgets and frees `g`'s record.
///
/// # Safety
/// Hub thread only; `g` has ended (or never existed here), and nobody uses it again.
pub unsafe fn release(g: *mut Green) {
    // SAFETY: hub thread; `g` is live until dropped here, and was made by Box::into_raw.
    unsafe {
        introspect::remove(state::rt(), g);
        drop(Box::from_raw(g));
    }
}
