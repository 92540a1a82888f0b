//! The deadlock report: every green thread is parked and nothing (fd, timer, other OS
//! thread) can wake any of them. Say so, like gevent's "This operation would block
//! forever", instead of hanging silently.

use super::state::Runtime;
use super::thread::{Green, State, WaitingOn};
use crate::sys::log::Line;
use core::fmt::Write;

/// Writes the report: one line, then one per thread not ended, naming what it waits for.
///
/// # Safety
/// Hub thread only; every record in `rt.threads` is live.
pub unsafe fn report(rt: &mut Runtime) {
    rt.deadlock_reported = true;
    let mut line = Line::new();
    let _ = write!(line, "deadlock: all {} green threads are blocked and nothing can wake them:", rt.live + 1);
    line.emit();
    for (_, &g) in rt.threads.iter() {
        // SAFETY: records in the table are live (caller); this is a read-only look.
        let record = unsafe { &*g };
        if record.state == State::Done {
            continue;
        }
        describe(record, g == rt.root);
    }
}

fn describe(g: &Green, root: bool) {
    let mut line = Line::new();
    let name = if root { " (main)" } else { "" };
    let _ = write!(line, "  thread {}{}: ", g.id, name);
    let _ = match g.waiting_on {
        WaitingOn::Nothing => write!(line, "{:?}", g.state),
        WaitingOn::Fd { fd, write } => {
            write!(line, "waiting to {} fd {}", if write { "write" } else { "read" }, fd)
        }
        WaitingOn::Poll { nfds } => write!(line, "poll() on {} fds", nfds),
        WaitingOn::Sleep => write!(line, "sleeping"),
        WaitingOn::Join { id } => write!(line, "pthread_join(thread {})", id),
        WaitingOn::Lock { address } => write!(line, "locking mutex {:#x}", address),
        WaitingOn::Condition { address } => write!(line, "waiting on condition {:#x}", address),
        WaitingOn::Semaphore { address } => write!(line, "waiting on semaphore {:#x}", address),
        WaitingOn::Futex { address } => write!(line, "futex wait on {:#x}", address),
        WaitingOn::Child { pid } => write!(line, "waiting for child process {}", pid),
        WaitingOn::Offload => write!(line, "waiting for a call on an offload worker"),
        WaitingOn::Signal => write!(line, "waiting for a signal handler to run (sigsuspend, pause)"),
        WaitingOn::RwLock { address, write } => {
            let how = if write { "write" } else { "read" };
            write!(line, "locking rwlock {:#x} for {}", address, how)
        }
        WaitingOn::Barrier { address } => write!(line, "waiting at barrier {:#x}", address),
        WaitingOn::Once { address } => write!(line, "pthread_once on {:#x}", address),
    };
    line.emit();
}
