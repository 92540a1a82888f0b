//! Blocking calls with nothing epoll can watch (file locks held by other processes, System V
//! message queues): the call is made non-blocking and tried again after short, growing naps
//! (50 us doubling to 10 ms, as for a lock a foreign thread holds: deadline.rs), so other
//! green threads run meanwhile. A thread alone in its process makes the call as it is.

use super::deadline::{passed, recheck_deadline, FIRST_NAP_NS};
use super::hub::Hub;
use crate::runtime::green::{Wake, WaitingOn};
use crate::sys::errno;
use core::ffi::c_int;

/// How a napping retry behaves around the wait.
pub(super) struct Retry {
    /// A cancellation point before every try (cancel_point.rs).
    pub cancellable: bool,
    /// A handler installed with SA_RESTART lets the wait go on; otherwise, and always when
    /// false, a handler ends the call with EINTR.
    pub restartable: bool,
    /// When the wait gives up (CLOCK_MONOTONIC ns) and the call fails with EAGAIN, as
    /// semtimedop's timeout makes it; None: never.
    pub deadline: Option<u64>,
}

impl Retry {
    /// Makes `plain`, the program's call as it made it, when the running thread is alone and
    /// may block in the kernel (runtime::io::call_alone): the kernel then wakes it the moment
    /// the lock or message comes, reports EDEADLK, and ends or restarts the call for a
    /// handler exactly as natively. Otherwise repeats `attempt` (a non-blocking try: a count
    /// or 0, or -1 with errno) until it does not fail with an errno `busy` accepts, napping
    /// green in between; its result.
    pub(super) fn run(
        self,
        hub: Hub,
        plain: impl FnOnce() -> isize,
        busy: impl Fn(c_int) -> bool,
        attempt: impl FnMut() -> isize,
    ) -> isize {
        if self.cancellable {
            super::cancel_point::point();
        }
        match hub.call_alone(plain) {
            Some(result) => result,
            None => self.retry(hub, busy, attempt),
        }
    }

    /// The green half of [`Retry::run`], for a caller that has made its plain call.
    pub(super) fn retry(self, hub: Hub, busy: impl Fn(c_int) -> bool, mut attempt: impl FnMut() -> isize) -> isize {
        let mut nap = FIRST_NAP_NS;
        loop {
            if self.cancellable {
                super::cancel_point::point();
            }
            let result = attempt();
            if result >= 0 || !busy(errno::get()) {
                return result;
            }
            if passed(self.deadline) {
                return errno::fail(libc::EAGAIN);
            }
            // Sleep: interruptible by a handler, and never reported as a deadlock (it has a
            // deadline).
            if let Wake::Interrupted { restart } = hub.park(recheck_deadline(self.deadline, true, &mut nap), WaitingOn::Sleep) {
                if !(restart && self.restartable) {
                    return errno::fail(libc::EINTR);
                }
            }
        }
    }
}
