//! Waiting for child processes without blocking the hub.
//!
//! For one known pid, a pidfd (Linux 5.3+) becomes readable when the child exits: the
//! waiter parks on it like on any fd. For "any child" or a process group there is no fd to
//! watch without taking SIGCHLD away from the program, so the waiter naps and looks again,
//! 1 ms at first, doubling up to 50 ms.

use super::fdtable::READ;
use super::green::{self, Wake, WaitingOn};
use super::io::{self as green_io, park_on_fd};
use rustix::fd::{AsRawFd, OwnedFd};

const FIRST_NAP_NS: u64 = 1_000_000;
const LONGEST_NAP_NS: u64 = 50_000_000;

pub struct ChildWatch {
    pid: i32,
    pidfd: Option<OwnedFd>,
    nap_ns: u64,
}

impl ChildWatch {
    /// Watches `pid` (> 0: that child; otherwise any child or a group).
    pub fn new(pid: i32) -> Self {
        // Ours, not the program's: never trapped (sys/own_calls.rs).
        let _own = crate::sys::own_calls::own_calls();
        let pidfd = (pid > 0)
            .then(|| rustix::process::Pid::from_raw(pid))
            .flatten()
            .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok());
        ChildWatch { pid, pidfd, nap_ns: FIRST_NAP_NS }
    }

    /// Parks until the child may have changed state, a signal interrupts, or the thread is
    /// cancelled. Not a cancellation point itself: the watch holds a pidfd, so the caller
    /// acts on a request once it has dropped the watch (hooks/wait.rs).
    ///
    /// # Safety
    /// Hub thread only.
    pub unsafe fn wait(&mut self) -> Wake {
        if let Some(pidfd) = &self.pidfd {
            // SAFETY: hub thread (caller).
            if let Ok(wake) = unsafe { park_on_fd(pidfd.as_raw_fd(), READ, None) } {
                return wake;
            }
        }
        let deadline = crate::sys::clock::monotonic_ns() + self.nap_ns;
        self.nap_ns = (self.nap_ns * 2).min(LONGEST_NAP_NS);
        // SAFETY: hub thread (caller); the deadline wakes us.
        unsafe { green::park(Some(deadline), WaitingOn::Child { pid: self.pid }) }
    }
}

impl Drop for ChildWatch {
    fn drop(&mut self) {
        // Ours, not the program's: never trapped (sys/own_calls.rs).
        let _own = crate::sys::own_calls::own_calls();
        if let Some(pidfd) = self.pidfd.take() {
            // Deregister before the number can be reused; OwnedFd then closes it raw, here,
            // where our calls are not trapped.
            // SAFETY: a ChildWatch lives on the hub thread (it is made and waited on there),
            // and the pidfd is its own number, about to be closed.
            unsafe { green_io::closing(pidfd.as_raw_fd(), true) };
            drop(pidfd);
        }
    }
}
