//! glibc's other functions that take a pthread_t and would read a green thread's handle as
//! glibc's own thread descriptor (README.md, "pthread_t functions", lists them all): the
//! joins with a timeout or none (pthread_tryjoin_np, pthread_timedjoin_np,
//! pthread_clockjoin_np), pthread_getcpuclockid, and pthread_setattr_default_np, which
//! takes no pthread_t but sets what green threads created afterwards get. Scheduling
//! parameters and CPU affinity are in thread_sched.rs.
//!
//! On the hub thread a pthread_t that names a green thread is answered here; any other (a
//! thread some library made on another OS thread, or every call off the hub thread) goes to
//! glibc, as pthread_join does (thread.rs).
//!
//! **Joins** follow glibc 2.36's nptl/pthread_join_common.c, in its order: tryjoin is EBUSY
//! while the thread runs (before any other check, so also for itself); then EDEADLK, EINVAL
//! for a detached thread or one somebody already joins; the timed forms wait until an
//! absolute time on CLOCK_REALTIME (timedjoin) or the clock given (clockjoin: REALTIME or
//! MONOTONIC, EINVAL for any other, checked first), and give ETIMEDOUT with the thread left
//! joinable. A null timeout waits for ever; a negative tv_sec is a time long past. A
//! tv_nsec out of range makes glibc's futex wait fail with EINVAL, which its loop ignores:
//! it waits (spinning) until the thread ends and returns 0, so we wait without a deadline.

use super::hub::Hub;
use crate::runtime::green::{Green, State};
use crate::runtime::join;
use crate::sys::{clock, real};
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The green thread `thread` names, with the proof we run on the hub thread, or None for a
/// call glibc answers.
fn green_target(thread: libc::pthread_t) -> Option<(Hub, *mut Green)> {
    let hub = Hub::here()?;
    hub.lookup(thread).map(|g| (hub, g))
}

/// A join's result as glibc returns it, storing the value where the caller asked.
///
/// # Safety
/// `retval` is null or writable.
unsafe fn joined(result: Result<*mut c_void, c_int>, retval: *mut *mut c_void) -> c_int {
    match result {
        Ok(value) => {
            // SAFETY: null or writable (caller).
            if let Some(retval) = unsafe { retval.as_mut() } {
                *retval = value;
            }
            0
        }
        Err(e) => e,
    }
}

/// # Safety
/// As for glibc's pthread_tryjoin_np: `retval` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn pthread_tryjoin_np(thread: libc::pthread_t, retval: *mut *mut c_void) -> c_int {
    let Some((_hub, g)) = green_target(thread) else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::pthread_tryjoin_np(thread, retval) };
    };
    // SAFETY: `g` came from lookup in this call, so it is live; one plain field read.
    if unsafe { (*g).state } != State::Done {
        return libc::EBUSY;
    }
    // SAFETY: hub thread (`_hub`), `g` from lookup; it has ended, so join does not park.
    // `retval` is null or writable (caller).
    unsafe { joined(join::join(g), retval) }
}

/// The deadline (CLOCK_MONOTONIC ns) of a timed join on `clock_id`, as glibc waits: see the
/// module header.
fn join_deadline(clock_id: libc::clockid_t, abstime: Option<&libc::timespec>) -> Option<u64> {
    let ts = abstime?;
    if ts.tv_sec < 0 {
        return Some(0);
    }
    let ns = clock::timespec_ns(ts)?;
    // A clock we cannot read (none here: the callers pass REALTIME or MONOTONIC) waits.
    clock::deadline_from_abs(clock_id, ns)
}

/// A timed join of a green thread.
///
/// # Safety
/// Hub thread (`_hub`); `g` came from lookup in this call; `abstime` is null or readable and
/// `retval` null or writable.
unsafe fn timed_join(
    _hub: Hub,
    g: *mut Green,
    retval: *mut *mut c_void,
    clock_id: libc::clockid_t,
    abstime: *const libc::timespec,
) -> c_int {
    // SAFETY: null or readable (caller).
    let deadline = join_deadline(clock_id, unsafe { abstime.as_ref() });
    // SAFETY: hub thread, `g` from lookup (caller); `retval` null or writable (caller).
    unsafe { joined(join::join_until(g, deadline), retval) }
}

/// # Safety
/// As for glibc's pthread_timedjoin_np: `abstime` is null or readable, `retval` null or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn pthread_timedjoin_np(
    thread: libc::pthread_t,
    retval: *mut *mut c_void,
    abstime: *const libc::timespec,
) -> c_int {
    let Some((hub, g)) = green_target(thread) else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::pthread_timedjoin_np(thread, retval, abstime) };
    };
    // SAFETY: as this function's contract; `g` from lookup just now.
    unsafe { timed_join(hub, g, retval, libc::CLOCK_REALTIME, abstime) }
}

/// # Safety
/// As for glibc's pthread_clockjoin_np: `abstime` is null or readable, `retval` null or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn pthread_clockjoin_np(
    thread: libc::pthread_t,
    retval: *mut *mut c_void,
    clock_id: libc::clockid_t,
    abstime: *const libc::timespec,
) -> c_int {
    if clock_id != libc::CLOCK_REALTIME && clock_id != libc::CLOCK_MONOTONIC {
        return libc::EINVAL;
    }
    let Some((hub, g)) = green_target(thread) else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::pthread_clockjoin_np(thread, retval, clock_id, abstime) };
    };
    // SAFETY: as this function's contract; `g` from lookup just now.
    unsafe { timed_join(hub, g, retval, clock_id, abstime) }
}

/// Every green thread runs on the hub's OS thread, so the CPU time any of them uses is that
/// thread's: a green thread's CPU clock is the OS thread's (README.md, "Per green thread,
/// and shared"). glibc makes the clock id from the descriptor's tid and checks nothing.
///
/// # Safety
/// As for glibc's pthread_getcpuclockid: `clock_id` is writable.
#[no_mangle]
pub unsafe extern "C" fn pthread_getcpuclockid(thread: libc::pthread_t, clock_id: *mut libc::clockid_t) -> c_int {
    let thread = match green_target(thread) {
        // SAFETY: takes no argument; the real pthread_self is the OS thread's descriptor.
        Some(_) => unsafe { real::pthread_self() },
        None => thread,
    };
    // SAFETY: the program's output pointer, and a thread glibc knows.
    unsafe { real::pthread_getcpuclockid(thread, clock_id) }
}

/// The stack size pthread_setattr_default_np last set (0: never set).
static DEFAULT_STACK: AtomicUsize = AtomicUsize::new(0);
/// Whether pthread_setattr_default_np ever succeeded: until then the default attribute is
/// glibc's own, which asks for nothing pthread_create must check (thread_attr.rs).
static DEFAULT_SET: AtomicBool = AtomicBool::new(false);

/// Whether the program ever changed the default thread attribute.
pub(super) fn default_attr_set() -> bool {
    DEFAULT_SET.load(Ordering::Relaxed)
}

/// The stack size the program made the default with pthread_setattr_default_np, which a
/// green thread created without attributes gets (thread.rs); None while it has not.
pub(super) fn program_default_stack() -> Option<usize> {
    Some(DEFAULT_STACK.load(Ordering::Relaxed)).filter(|&size| size != 0)
}

/// glibc keeps the new default for the threads it creates; green threads created afterwards
/// without attributes take its stack size too. glibc checks the attributes (EINVAL for a
/// stack address, a size under PTHREAD_STACK_MIN, a bad policy or priority); a size of 0
/// keeps the default size as it was.
///
/// # Safety
/// As for glibc's pthread_setattr_default_np: `attr` is an initialised attribute object.
#[no_mangle]
pub unsafe extern "C" fn pthread_setattr_default_np(attr: *const libc::pthread_attr_t) -> c_int {
    let before = default_stack_size();
    // SAFETY: the program's argument, passed on as it gave it.
    let result = unsafe { real::pthread_setattr_default_np(attr) };
    if result == 0 {
        DEFAULT_SET.store(true, Ordering::Relaxed);
        let mut size = 0usize;
        // SAFETY: glibc accepted `attr`, so it is initialised; `size` is our local.
        unsafe { libc::pthread_attr_getstacksize(attr, &mut size) };
        if size != before {
            DEFAULT_STACK.store(size, Ordering::Relaxed);
        }
    }
    result
}

/// glibc's default stack size now: what an attribute object with no size of its own reports.
fn default_stack_size() -> usize {
    let mut size = 0usize;
    // SAFETY: all-zero bytes are a valid pthread_attr_t (plain data), initialised below.
    let mut attr: libc::pthread_attr_t = unsafe { core::mem::zeroed() };
    // SAFETY: a local attr, initialised, read and destroyed here in glibc's order.
    unsafe {
        libc::pthread_attr_init(&mut attr);
        libc::pthread_attr_getstacksize(&attr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
    }
    size
}
