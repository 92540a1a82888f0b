//! The sleep family: a green sleeper parks on the timer heap until its deadline. A signal
//! handler that runs meanwhile ends the sleep early with EINTR and the time left, as the
//! kernel does (sleeps are never restarted, SA_RESTART or not).

use crate::runtime::green::{self, Wake, WaitingOn};
use crate::runtime::on_hub;
use crate::sys::clock::{self, NANOS_PER_SEC};
use crate::sys::{errno, real};
use core::ffi::c_int;

/// Parks the current green thread until CLOCK_MONOTONIC reaches `deadline`. Returns the
/// nanoseconds left if a signal cut it short. A zero-length sleep still yields, as gevent's
/// sleep(0) does: it is how programs say "let others run".
unsafe fn sleep_until(deadline: u64) -> Option<u64> {
    if clock::monotonic_ns() >= deadline {
        green::yield_now();
        return None;
    }
    loop {
        let now = clock::monotonic_ns();
        if now >= deadline {
            return None;
        }
        if let Wake::Interrupted { .. } = green::park(Some(deadline), WaitingOn::Sleep) {
            return Some(deadline.saturating_sub(clock::monotonic_ns()));
        }
    }
}

unsafe fn sleep_for(ns: u64) -> Option<u64> {
    sleep_until(clock::monotonic_ns().saturating_add(ns))
}

#[no_mangle]
pub unsafe extern "C" fn sleep(seconds: u32) -> u32 {
    if !on_hub() {
        return real::sleep(seconds);
    }
    match sleep_for(seconds as u64 * NANOS_PER_SEC) {
        // Whole seconds left, as glibc reports them.
        Some(left) => (left / NANOS_PER_SEC) as u32,
        None => 0,
    }
}

#[no_mangle]
pub unsafe extern "C" fn usleep(usec: libc::useconds_t) -> c_int {
    if !on_hub() {
        return real::usleep(usec);
    }
    match sleep_for(usec as u64 * 1000) {
        Some(_) => errno::fail(libc::EINTR),
        None => 0,
    }
}

#[no_mangle]
pub unsafe extern "C" fn nanosleep(req: *const libc::timespec, rem: *mut libc::timespec) -> c_int {
    if !on_hub() || req.is_null() {
        return real::nanosleep(req, rem);
    }
    let Some(ns) = clock::timespec_ns(&*req) else { return errno::fail(libc::EINVAL) };
    match sleep_for(ns) {
        Some(left) => {
            if !rem.is_null() {
                *rem = clock::ns_to_timespec(left);
            }
            errno::fail(libc::EINTR)
        }
        None => 0,
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
    let absolute = flags & libc::TIMER_ABSTIME != 0;
    let interrupted = if absolute {
        sleep_until(clock::deadline_from_abs(clock_id, ns).unwrap_or(0))
    } else {
        sleep_for(ns)
    };
    match interrupted {
        Some(left) => {
            if !absolute && !rem.is_null() {
                *rem = clock::ns_to_timespec(left);
            }
            libc::EINTR
        }
        None => 0,
    }
}
