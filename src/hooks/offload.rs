//! Calls no readiness can announce (a regular file's read, fsync, name resolution) run on
//! an offload worker while the calling green thread parks.

use crate::sys::errno;
use crate::runtime::green::CallName;
use core::ffi::{c_int, CStr};

/// Runs `call` on an offload worker while the calling green thread parks (inline if no
/// worker can be had), with errno as the call left it on the worker. `name` and `fd` (-1:
/// none) say what it waits for, in a deadlock report and in `green ps`.
///
/// # Safety
/// Hub thread only. `call` must be safe to run on another OS thread: it may touch only
/// memory that outlives this call (the worker runs it before this returns).
pub(super) unsafe fn offloaded<T: Copy>(name: &'static CStr, fd: c_int, mut call: impl FnMut() -> T) -> T {
    let mut outcome: Option<(T, c_int)> = None;
    let mut job = || {
        let value = call();
        outcome = Some((value, errno::get()));
    };
    // SAFETY: the hub thread (the caller's promise), as run needs it.
    if !unsafe { crate::runtime::offload::run(&mut job, CallName::new(name), fd) } {
        job();
    }
    let (value, call_errno) = outcome.expect("the job ran");
    errno::set(call_errno);
    value
}
