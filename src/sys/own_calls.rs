//! Our own system calls are not the program's: on the one OS thread Syscall User Dispatch
//! is on for (runtime/sud.rs, the hub thread), every call made outside the C library traps
//! while the selector byte reads BLOCK, ours included. A trap costs microseconds, and one
//! made while the kernel mask blocks SIGSYS kills the process. So our calls, through
//! [`super::raw`] or through rustix (whose `syscall` instructions are its own), set the
//! selector to ALLOW around themselves with [`own_calls`]. Other threads leave the byte
//! alone: it is the hub's, and a worker flipping it could race the hub's own flips.

use super::thread_id::thread_self;
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering::Relaxed};

/// Syscall User Dispatch's selector values (runtime/sud.rs): any other value kills the
/// process at the next call the kernel checks.
pub const SUD_ALLOW: u8 = 0;
pub const SUD_BLOCK: u8 = 1;
/// The hub thread's selector byte, which the kernel reads at every system call made outside
/// the C library while dispatch is on for that thread.
pub static SUD_SELECTOR: AtomicU8 = AtomicU8::new(SUD_ALLOW);
/// The `thread_self` of the one OS thread dispatch is on for, or 0 (off).
static SUD_THREAD: AtomicUsize = AtomicUsize::new(0);

/// Dispatch is on (`thread`, its `thread_self`) or off (0) from now on: our own calls on
/// that thread then set the selector to ALLOW around themselves.
pub fn set_sud_thread(thread: usize) {
    SUD_THREAD.store(thread, Relaxed);
}

/// While it lives, system calls this thread makes outside the C library run untrapped: on
/// the thread Syscall User Dispatch is on for, the selector reads ALLOW, and the value it
/// had is put back when it drops. For our own calls through rustix (whose `syscall`
/// instructions are its own), in a scope that never parks: a green switch inside it would
/// let the next thread's raw calls through untrapped.
pub struct OwnCalls(Option<u8>);

#[inline(always)]
pub fn own_calls() -> OwnCalls {
    let sud = SUD_THREAD.load(Relaxed);
    if sud == 0 || sud != thread_self() {
        return OwnCalls(None);
    }
    let was = SUD_SELECTOR.load(Relaxed);
    SUD_SELECTOR.store(SUD_ALLOW, Relaxed);
    OwnCalls(Some(was))
}

impl Drop for OwnCalls {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(was) = self.0 {
            SUD_SELECTOR.store(was, Relaxed);
        }
    }
}
