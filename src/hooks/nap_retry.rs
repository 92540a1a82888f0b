//! Blocking calls with nothing epoll can watch (file locks held by other processes, System V
//! message queues): the call is made non-blocking and tried again after short, growing naps
//! (50 us doubling to 10 ms, as for a lock a foreign thread holds: deadline.rs), so other
//! green threads run meanwhile.

use super::deadline::{recheck_deadline, FIRST_NAP_NS};
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
}

impl Retry {
    /// Repeats `attempt` (a non-blocking try: a count or 0, or -1 with errno) until it does
    /// not fail with an errno `busy` accepts; its result.
    pub(super) fn run(self, hub: Hub, busy: impl Fn(c_int) -> bool, mut attempt: impl FnMut() -> isize) -> isize {
        let mut nap = FIRST_NAP_NS;
        loop {
            if self.cancellable {
                super::cancel_point::point();
            }
            let result = attempt();
            if result >= 0 || !busy(errno::get()) {
                return result;
            }
            // Sleep: interruptible by a handler, and never reported as a deadlock (it has a
            // deadline).
            if let Wake::Interrupted { restart } = hub.park(recheck_deadline(None, true, &mut nap), WaitingOn::Sleep) {
                if !(restart && self.restartable) {
                    return errno::fail(libc::EINTR);
                }
            }
        }
    }
}
