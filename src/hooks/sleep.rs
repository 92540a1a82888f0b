//! The sleep family: a green sleeper parks on the timer heap until its deadline.

use crate::runtime::green::{self, WaitingOn};
use crate::runtime::on_hub;
use crate::sys::clock::{self, NANOS_PER_SEC};
use crate::sys::{errno, real};
use core::ffi::c_int;

/// Parks the current green thread until CLOCK_MONOTONIC reaches `deadline`. A zero-length
/// sleep still yields, as gevent's sleep(0) does: it is how programs say "let others run".
unsafe fn sleep_until(deadline: u64) {
    if clock::monotonic_ns() >= deadline {
        green::yield_now();
        return;
    }
    while clock::monotonic_ns() < deadline {
        green::park(Some(deadline), WaitingOn::Sleep);
    }
}

unsafe fn sleep_for(ns: u64) {
    sleep_until(clock::monotonic_ns().saturating_add(ns));
}

#[no_mangle]
pub unsafe extern "C" fn sleep(seconds: u32) -> u32 {
    if !on_hub() {
        return real::sleep(seconds);
    }
    sleep_for(seconds as u64 * NANOS_PER_SEC);
    0
}

#[no_mangle]
pub unsafe extern "C" fn usleep(usec: libc::useconds_t) -> c_int {
    if !on_hub() {
        return real::usleep(usec);
    }
    sleep_for(usec as u64 * 1000);
    0
}

#[no_mangle]
pub unsafe extern "C" fn nanosleep(req: *const libc::timespec, rem: *mut libc::timespec) -> c_int {
    if !on_hub() || req.is_null() {
        return real::nanosleep(req, rem);
    }
    match clock::timespec_ns(&*req) {
        Some(ns) => {
            sleep_for(ns);
            0
        }
        None => errno::fail(libc::EINVAL),
    }
}

#[no_mangle]
pub unsafe extern "C" fn clock_nanosleep(
    clock_id: libc::clockid_t,
    flags: c_int,
    req: *const libc::timespec,
    rem: *mut libc::timespec,
) -> c_int {
    // CPU-time clocks (and anything odd) keep the native behaviour and errors.
    if !on_hub() || req.is_null() || clock::now_on(clock_id).is_none() {
        return real::clock_nanosleep(clock_id, flags, req, rem);
    }
    let Some(ns) = clock::timespec_ns(&*req) else { return libc::EINVAL };
    if flags & libc::TIMER_ABSTIME != 0 {
        let deadline = clock::deadline_from_abs(clock_id, ns).unwrap_or(0);
        sleep_until(deadline);
    } else {
        sleep_for(ns);
    }
    0
}
