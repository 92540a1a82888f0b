//! Running a call on the offload pool (workers.rs) while the calling green thread parks.

use super::green;
use super::state::rt;
use super::thread::{CallName, WaitingOn};
use super::workers::{self, Job};

pub use super::poller::poke_from_handler;

/// Runs `call` on a worker thread while the current green thread parks, known meanwhile as
/// waiting for `name` on `fd` (-1: none). Returns false (without running it) if no worker can
/// be had; the caller then makes the call inline.
///
/// # Safety
/// Hub thread only.
pub unsafe fn run(call: &mut dyn FnMut(), name: CallName, fd: i32) -> bool {
    if !workers::ensure_worker() {
        return false;
    }
    // SAFETY: hub thread (caller); the job, on this stack, outlives its collection below.
    let mut job = unsafe { Job::new(call, green::current()) };
    let submitted = crate::sys::clock::monotonic_ns();
    // Every later access goes through this one pointer, which the hub also holds.
    let job: *mut Job = &mut job;
    // SAFETY: the job stays in this frame, untouched but for `collected`, until collected.
    unsafe { workers::submit(job) };
    // SAFETY: hub thread (caller); each borrow of the runtime ends before the park.
    unsafe { rt() }.offloads_in_flight += 1;
    // SAFETY: the job lives in this frame; hub thread (caller).
    while !unsafe { Job::collected(job) } {
        // SAFETY: hub thread (caller); the hub wakes us once the job is collected.
        unsafe { green::park(None, WaitingOn::Offload { call: name, fd }) };
    }
    // SAFETY: as above.
    let rt = unsafe { rt() };
    rt.offloads_in_flight -= 1;
    rt.stats.offloaded += 1;
    super::stats::offloaded(crate::sys::clock::monotonic_ns() - submitted);
    true
}
