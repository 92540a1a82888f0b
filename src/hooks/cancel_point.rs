//! Cancellation points of the hooked calls that POSIX and glibc make ones (read, write, the
//! recv and send families, poll, select, sem_wait, the wait family, lockf, ...).
//!
//! glibc acts on a pending request at the start of such a call, before the system call,
//! whether or not the call would block (nptl/cancellation.c: `__pthread_enable_asynccancel`,
//! and sem_wait's explicit `__pthread_testcancel`), and while it blocks (SIGCANCEL). A green
//! thread's request lives in its record (runtime/cancel.rs), which glibc's wrappers never
//! look at, so each hook of such a call begins with [`point`]; a hook that parks acts again
//! when a request wakes it: after the wait has unlinked itself (runtime/io.rs's `wait_fd`),
//! or, where the hook holds something of its own across the wait (a pidfd, a list of fds, a
//! signal mask), once it has let go of it ([`pending`], then [`point`]). Acting unwinds the
//! thread from the hook's frame, whose Rust frames have no landing pads: nothing with a
//! destructor may be live in them then (ARCHITECTURE.md, glibc's thread descriptor).

use crate::runtime::{cancel, on_hub};

/// A cancellation point: a green thread with a request to act on (cancellation enabled)
/// ends here, running its cleanup handlers. Nothing for the root and for other OS threads,
/// whose cancellation is glibc's.
#[inline]
pub(super) fn point() {
    if on_hub() {
        // SAFETY: on the hub thread, outside handlers (on_hub); the caller holds no runtime
        // link and no value with a destructor (this module's contract).
        unsafe { cancel::point() };
    }
}

/// Whether the running green thread has a request to act on at its next cancellation
/// point: a wait that holds something of its own stops, lets go of it, then calls [`point`].
#[inline]
pub(super) fn pending() -> bool {
    // SAFETY: on the hub thread, outside handlers (on_hub).
    on_hub() && unsafe { cancel::pending() }
}
