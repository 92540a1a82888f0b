//! The sleep family: a green sleeper parks on the timer heap until its deadline. A signal
//! handler that runs meanwhile ends the sleep early with EINTR and the time left, as the
//! kernel does (sleeps are never restarted, SA_RESTART or not).

use super::hub::Hub;
use crate::runtime::green::{Wake, WaitingOn};
use crate::sys::clock::{self, NANOS_PER_SEC};
use crate::sys::{errno, real};
use core::ffi::c_int;

/// Parks the current green thread until CLOCK_MONOTONIC reaches `deadline`. Returns the
/// nanoseconds left if a signal cut it short. A zero-length sleep still yields, as gevent's
/// sleep(0) does: it is how programs say "let others run".
fn sleep_until(hub: Hub, deadline: u64) -> Option<u64> {
    // A cancellation point even when there is nothing to sleep (cancel_point.rs).
    super::cancel_point::point();
    if clock::monotonic_ns() >= deadline {
        hub.yield_now();
        return None;
    }
    loop {
        let now = clock::monotonic_ns();
        if now >= deadline {
            return None;
        }
        let wake = hub.park(Some(deadline), WaitingOn::Sleep);
        // SAFETY: hub thread (`hub`); a sleep holds no runtime link: a cancellation point.
        unsafe { crate::runtime::cancel::point() };
        if let Wake::Interrupted { .. } = wake {
            return Some(deadline.saturating_sub(clock::monotonic_ns()));
        }
    }
}

fn sleep_for(hub: Hub, ns: u64) -> Option<u64> {
    sleep_until(hub, clock::monotonic_ns().saturating_add(ns))
}

/// # Safety
/// None: the argument is a number.
#[no_mangle]
pub unsafe extern "C" fn sleep(seconds: u32) -> u32 {
    let Some(hub) = Hub::here() else {
        // SAFETY: the program's argument, passed on as it gave it.
        return unsafe { real::sleep(seconds) };
    };
    match sleep_for(hub, seconds as u64 * NANOS_PER_SEC) {
        // Whole seconds left, as glibc reports them.
        Some(left) => (left / NANOS_PER_SEC) as u32,
        None => 0,
    }
}

/// # Safety
/// None: the argument is a number.
#[no_mangle]
pub unsafe extern "C" fn usleep(usec: libc::useconds_t) -> c_int {
    let Some(hub) = Hub::here() else {
        // SAFETY: the program's argument, passed on as it gave it.
        return unsafe { real::usleep(usec) };
    };
    match sleep_for(hub, usec as u64 * 1000) {
        Some(_) => errno::fail(libc::EINTR),
        None => 0,
    }
}

/// # Safety
/// As for nanosleep(2): `req` is null or readable, `rem` null or writable.
#[no_mangle]
pub unsafe extern "C" fn nanosleep(req: *const libc::timespec, rem: *mut libc::timespec) -> c_int {
    // A copy: `rem` may be the same struct.
    // SAFETY: null or readable (caller).
    let (Some(hub), Some(request)) = (Hub::here(), unsafe { req.as_ref() }.copied()) else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::nanosleep(req, rem) };
    };
    let Some(ns) = clock::timespec_ns(&request) else { return errno::fail(libc::EINVAL) };
    match sleep_for(hub, ns) {
        Some(left) => {
            // SAFETY: null or writable (caller).
            if let Some(rem) = unsafe { rem.as_mut() } {
                *rem = clock::ns_to_timespec(left);
            }
            errno::fail(libc::EINTR)
        }
        None => 0,
    }
}

/// # Safety
/// As for clock_nanosleep(2): `req` is null or readable, `rem` null or writable.
#[no_mangle]
pub unsafe extern "C" fn clock_nanosleep(
    clock_id: libc::clockid_t,
    flags: c_int,
    req: *const libc::timespec,
    rem: *mut libc::timespec,
) -> c_int {
    // A copy: `rem` may be the same struct.
    // SAFETY: null or readable (caller).
    let request = unsafe { req.as_ref() }.copied();
    // CPU-time clocks (and anything odd) keep the native behaviour and errors.
    let green = Hub::here().zip(request).filter(|_| clock::now_on(clock_id).is_some());
    let Some((hub, request)) = green else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::clock_nanosleep(clock_id, flags, req, rem) };
    };
    let Some(ns) = clock::timespec_ns(&request) else { return libc::EINVAL };
    let absolute = flags & libc::TIMER_ABSTIME != 0;
    let interrupted = if absolute {
        sleep_until(hub, clock::deadline_from_abs(clock_id, ns).unwrap_or(0))
    } else {
        sleep_for(hub, ns)
    };
    match interrupted {
        Some(left) => {
            if !absolute {
                // SAFETY: null or writable (caller).
                if let Some(rem) = unsafe { rem.as_mut() } {
                    *rem = clock::ns_to_timespec(left);
                }
            }
            libc::EINTR
        }
        None => 0,
    }
}
