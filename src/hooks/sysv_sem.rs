//! semop and semtimedop on System V semaphore sets: blocking calls with no descriptor epoll
//! could watch. A thread alone in its process makes the call as it is (nap_retry.rs);
//! otherwise the green thread makes the same operations with IPC_NOWAIT added to each and,
//! while the set says one would have to wait (EAGAIN), looks again after short, growing naps
//! (50 us doubling to 10 ms, as for a lock a foreign thread holds: hooks/deadline.rs), so
//! other green threads run meanwhile. A handler that interrupts the wait makes the call fail
//! with EINTR, as natively (SA_RESTART never restarts them), and semtimedop's timeout ends it
//! with EAGAIN. Neither is a cancellation point: glibc makes them plain system calls.
//!
//! One difference: natively an operation the program marked IPC_NOWAIT fails the call with
//! EAGAIN when it is the first that cannot proceed; in a call that mixes such operations
//! with waiting ones, a green thread waits instead (README.md, Limits).

use super::hub::Hub;
use super::nap_retry::Retry;
use super::user_mem::{read_user, read_user_slice};
use crate::sys::{clock, real};
use core::ffi::c_int;

/// The most operations one call may carry as the kernel is set up by default (SEMOPM,
/// kernel.sem): a longer call is made as it is (the kernel refuses it with E2BIG unless an
/// administrator raised the limit, and then it may block the OS thread).
const MOST_OPS: usize = 500;

/// # Safety
/// As for semop(2): `ops` points to `count` operations (the kernel reports EFAULT if not).
#[no_mangle]
pub unsafe extern "C" fn semop(id: c_int, ops: *mut libc::sembuf, count: usize) -> c_int {
    // SAFETY: as the caller's; no timeout.
    unsafe { semtimedop(id, ops, count, core::ptr::null()) }
}

/// # Safety
/// As for semtimedop(2): `ops` points to `count` operations and `timeout` is null or points
/// to a timespec (the kernel reports EFAULT if not).
#[no_mangle]
pub unsafe extern "C" fn semtimedop(id: c_int, ops: *mut libc::sembuf, count: usize, timeout: *const libc::timespec) -> c_int {
    // SAFETY: the program's call as it made it.
    let plain = || unsafe { real::semtimedop(id, ops, count, timeout) } as isize;
    let Some(hub) = Hub::here().filter(|_| (1..=MOST_OPS).contains(&count)) else {
        return plain() as c_int;
    };
    if let Some(result) = hub.call_alone(plain) {
        return result as c_int;
    }
    let mut tries = [libc::sembuf { sem_num: 0, sem_op: 0, sem_flg: 0 }; MOST_OPS];
    let tries = &mut tries[..count];
    // SAFETY: `ops` is the program's array of `count` operations; where it is not, the
    // kernel answers the plain call at once, with the error it gives natively.
    if !unsafe { read_user_slice(ops, tries) } {
        return plain() as c_int;
    }
    if tries.iter().all(|op| op.sem_flg & libc::IPC_NOWAIT as libc::c_short != 0) {
        return plain() as c_int; // waits for nothing
    }
    for op in tries.iter_mut() {
        op.sem_flg |= libc::IPC_NOWAIT as libc::c_short;
    }
    // SAFETY: the program's timeout pointer, as the call passes it on.
    let Some(deadline) = (unsafe { timeout_deadline(timeout) }) else {
        // A timeout the kernel refuses: its EFAULT or EINVAL, from the call that waits for
        // nothing.
        // SAFETY: our own copy of the operations, each with IPC_NOWAIT; the program's timeout.
        return unsafe { real::semtimedop(id, tries.as_mut_ptr(), count, timeout) };
    };
    let retry = Retry { cancellable: false, restartable: false, deadline };
    // SAFETY: as above.
    let attempt = || unsafe { real::semtimedop(id, tries.as_mut_ptr(), count, timeout) } as isize;
    retry.retry(hub, |e| e == libc::EAGAIN, attempt) as c_int
}

/// semtimedop's relative timeout as a CLOCK_MONOTONIC deadline: Some(None) for none,
/// None for one the kernel refuses (unreadable, or a negative or too large field).
///
/// # Safety
/// `timeout` is null, or what the program passed (read as the kernel would).
unsafe fn timeout_deadline(timeout: *const libc::timespec) -> Option<Option<u64>> {
    if timeout.is_null() {
        return Some(None);
    }
    // SAFETY: the program's pointer, read without faulting.
    let ts = unsafe { read_user(timeout) }?;
    let ns = clock::timespec_ns(&ts)?;
    Some(Some(clock::monotonic_ns().saturating_add(ns)))
}
