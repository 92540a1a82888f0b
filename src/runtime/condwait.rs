//! Condition waiters a signal handler took out of their condition's queue (ARCHITECTURE.md,
//! Signals). Natively a handler that runs in a thread blocked in pthread_cond_wait returns
//! into the wait, which goes on; here `sigroute::post` must wake the thread so the handler
//! runs on its stack, and waking unlinks it from the condition's wait queue. The waiter
//! parks again when it resumes (hooks/sync_cond.rs), but until then a pthread_cond_signal
//! would not find it: the signal, which natively would have ended its wait, would be lost.
//! So a signal or broadcast that finds no waiter in the queue hands itself to such a thread
//! instead ([`claim`]): it is still Runnable with the wake reason `Interrupted` and
//! `waiting_on` naming the condition, and its wake reason becomes `Handoff`, so that its
//! wait returns as signalled.
//!
//! Layer 5 (below the scheduler): it changes wake reasons, never switches.

use super::state::rt;
use super::thread::{State, WaitingOn, Wake};
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Interrupted condition waiters that have not resumed yet (hub thread only). Spares a
/// signal with no waiter the look through the thread table.
static OUT: AtomicUsize = AtomicUsize::new(0);

/// A handler is about to wake a thread parked in a condition wait (sigroute::post).
pub fn interrupted() {
    OUT.fetch_add(1, Relaxed);
}

/// An interrupted condition waiter resumed with its wake reason still `Interrupted` (no
/// signal claimed it): it waits again.
pub fn resumed() {
    OUT.fetch_sub(1, Relaxed);
}

/// Makes interrupted, not yet resumed waiters on `address` return as signalled: one, or
/// every one when `all`. Returns how many.
///
/// # Safety
/// Hub thread only.
pub unsafe fn claim(address: usize, all: bool) -> usize {
    if OUT.load(Relaxed) == 0 {
        return 0;
    }
    let mut claimed = 0;
    // SAFETY: hub thread (caller); records in the table are live, and none runs meanwhile.
    for &g in unsafe { rt() }.threads.values() {
        // SAFETY: as above; a plain look and a change of the wake reason of a thread that is
        // not running.
        let record = unsafe { &mut *g };
        let out = record.state == State::Runnable
            && record.waiting_on == (WaitingOn::Condition { address })
            && matches!(record.wake, Wake::Interrupted { .. });
        if out {
            record.wake = Wake::Handoff;
            OUT.fetch_sub(1, Relaxed);
            claimed += 1;
            if !all {
                break;
            }
        }
    }
    claimed
}
