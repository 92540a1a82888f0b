//! What a parked thread's wait must unlink before anything else runs on its stack
//! (ARCHITECTURE.md, Invariants: waiter nodes).
//!
//! A wait links nodes that live in its own frame (an fd's waiter list points into the
//! parked thread's stack). Normally the wait unlinks them when `park` returns. But a
//! signal handler runs inside `park`, before the wait sees its wake (sigroute.rs
//! `run_pending`), and a handler need not return: it may act on a cancellation, call
//! `pthread_exit`, throw a C++ exception or `siglongjmp` out. The frame is then gone while
//! its nodes stay linked, and the next walk of the list (a close of the fd) follows them
//! into reused stack memory. So a wait that links such nodes registers here how to unlink
//! them; the first of these runs it, once: the wait itself when `park` returns, the
//! handler path before it calls a handler, or the end of the thread (cancel.rs,
//! root_exit.rs).
//!
//! Layer 1 (a leaf): the registration is plain data the thread record holds; whoever runs
//! it knows the thread.

use core::ffi::c_void;

/// How to unlink a wait's nodes: a function and the frame data it needs. Empty when the
/// thread is in no such wait, or its wait has already unlinked itself.
pub struct Leave {
    undo: Option<unsafe fn(*mut c_void)>,
    arg: *mut c_void,
}

impl Default for Leave {
    fn default() -> Self {
        Leave { undo: None, arg: core::ptr::null_mut() }
    }
}

impl Leave {
    /// Registers `undo(arg)` as what unlinks the wait about to park.
    ///
    /// # Safety
    /// `undo(arg)` may be called once, on the hub thread, until `run` has been called; `arg`
    /// stays valid until then. Nothing is registered yet.
    pub unsafe fn set(&mut self, undo: unsafe fn(*mut c_void), arg: *mut c_void) {
        debug_assert!(self.undo.is_none(), "a thread is in one wait at a time");
        self.undo = Some(undo);
        self.arg = arg;
    }

    /// Unlinks the registered wait, if it has not been unlinked yet, and forgets it.
    ///
    /// # Safety
    /// Hub thread only; the thread whose record holds this is the running one, resumed
    /// from the wait (or ending).
    pub unsafe fn run(&mut self) {
        if let Some(undo) = self.undo.take() {
            // SAFETY: registered by `set`, whose caller keeps `arg` valid until this call.
            unsafe { undo(self.arg) };
        }
    }
}
