//! POSIX message queues: mq_receive, mq_send and their timed forms. A queue descriptor is
//! one epoll watches (readable while a message is in, writable while there is room), so a
//! green thread waits for it on the hub. Every attempt passes an absolute timeout already
//! past: a queue that would make the call wait answers ETIMEDOUT at once, and the
//! description's O_NONBLOCK stays the program's (a non-blocking queue still answers EAGAIN
//! at once). The program's own timeout (CLOCK_REALTIME, absolute) ends the wait with
//! ETIMEDOUT; a handler ends it with EINTR, or lets it go on when installed with
//! SA_RESTART, as the kernel restarts these calls. All four are cancellation points. A
//! thread alone in its process makes the call as it is. mq_close makes the fd table forget
//! the number, as close does.

use super::cancel_point;
use super::deadline::passed;
use super::hub::Hub;
use super::user_mem::read_user;
use crate::runtime::fdtable::{READ, WRITE};
use crate::runtime::green::Wake;
use crate::runtime::io as green_io;
use crate::sys::{clock, errno, real};
use core::ffi::{c_char, c_int, c_uint};

/// The timeout of every attempt: long past, so a queue that would wait says ETIMEDOUT.
const PAST: libc::timespec = libc::timespec { tv_sec: 0, tv_nsec: 0 };

/// The program's absolute timeout as a CLOCK_MONOTONIC deadline: Ok(None) for none, Err
/// with the errno the kernel gives (before anything else) for one it refuses.
///
/// # Safety
/// `abs` is null or the program's pointer (read without faulting).
unsafe fn deadline_of(abs: *const libc::timespec) -> Result<Option<u64>, c_int> {
    if abs.is_null() {
        return Ok(None);
    }
    // SAFETY: as the caller's.
    let ts = unsafe { read_user(abs) }.ok_or(libc::EFAULT)?;
    // A negative tv_sec or a tv_nsec out of range: EINVAL, as the kernel checks.
    let ns = clock::timespec_ns(&ts).ok_or(libc::EINVAL)?;
    Ok(Some(clock::deadline_from_abs(libc::CLOCK_REALTIME, ns).ok_or(libc::EINVAL)?))
}

/// One queue call: `plain` as the program made it for a thread alone (or off the hub),
/// else `attempt` (the call with a timeout long past) until the queue lets it through,
/// parking for `interest` on `mq` in between.
///
/// # Safety
/// `abs` is null or the program's timeout pointer; the closures make the real calls.
unsafe fn queue_call(
    mq: c_int,
    interest: u8,
    abs: *const libc::timespec,
    plain: impl Fn() -> isize,
    mut attempt: impl FnMut() -> isize,
) -> isize {
    let Some(hub) = Hub::here() else { return plain() };
    cancel_point::point();
    // The plain call checks its own timeout.
    if let Some(result) = hub.call_alone(&plain) {
        return result;
    }
    // SAFETY: as the caller's.
    let deadline = match unsafe { deadline_of(abs) } {
        Ok(deadline) => deadline,
        Err(e) => return errno::fail(e),
    };
    let saved = errno::get();
    loop {
        let result = attempt();
        if result >= 0 {
            errno::set(saved);
            return result;
        }
        if errno::get() != libc::ETIMEDOUT {
            return result;
        }
        if passed(deadline) {
            return errno::fail(libc::ETIMEDOUT);
        }
        // SAFETY: hub thread (`hub`); a cancellation point after the park.
        match unsafe { green_io::wait_fd(mq, interest, deadline) } {
            Ok(Wake::Interrupted { restart: false }) => return errno::fail(libc::EINTR),
            Ok(_) => {}
            // epoll cannot watch it (no queue does that): the plain call is all we can do.
            Err(0) => return plain(),
            Err(e) => return errno::fail(e),
        }
    }
}

/// # Safety
/// As for mq_timedreceive(3).
#[no_mangle]
pub unsafe extern "C" fn mq_timedreceive(
    mq: c_int,
    msg: *mut c_char,
    len: usize,
    prio: *mut c_uint,
    abs: *const libc::timespec,
) -> isize {
    // SAFETY: the program's call, as it made it or with a timeout long past.
    let plain = || unsafe { real::mq_timedreceive(mq, msg, len, prio, abs) };
    // SAFETY: as above.
    let attempt = || unsafe { real::mq_timedreceive(mq, msg, len, prio, &PAST) };
    // SAFETY: the program's timeout pointer.
    unsafe { queue_call(mq, READ, abs, plain, attempt) }
}

/// # Safety
/// As for mq_receive(3).
#[no_mangle]
pub unsafe extern "C" fn mq_receive(mq: c_int, msg: *mut c_char, len: usize, prio: *mut c_uint) -> isize {
    // SAFETY: as the caller's; no timeout.
    unsafe { mq_timedreceive(mq, msg, len, prio, core::ptr::null()) }
}

/// # Safety
/// As for mq_timedsend(3).
#[no_mangle]
pub unsafe extern "C" fn mq_timedsend(
    mq: c_int,
    msg: *const c_char,
    len: usize,
    prio: c_uint,
    abs: *const libc::timespec,
) -> c_int {
    // SAFETY: the program's call, as it made it or with a timeout long past.
    let plain = || unsafe { real::mq_timedsend(mq, msg, len, prio, abs) } as isize;
    // SAFETY: as above.
    let attempt = || unsafe { real::mq_timedsend(mq, msg, len, prio, &PAST) } as isize;
    // SAFETY: the program's timeout pointer.
    unsafe { queue_call(mq, WRITE, abs, plain, attempt) as c_int }
}

/// # Safety
/// As for mq_send(3).
#[no_mangle]
pub unsafe extern "C" fn mq_send(mq: c_int, msg: *const c_char, len: usize, prio: c_uint) -> c_int {
    // SAFETY: as the caller's; no timeout.
    unsafe { mq_timedsend(mq, msg, len, prio, core::ptr::null()) }
}

/// A queue's close: glibc's mq_close is close(2) made inside libc, past our close hook, and
/// a waiting green thread may have taught the fd table the number (and epoll the queue).
///
/// # Safety
/// As for mq_close(3).
#[no_mangle]
pub unsafe extern "C" fn mq_close(mq: c_int) -> c_int {
    // SAFETY: the caller is closing number `mq` (as for close).
    unsafe { green_io::closing(mq, crate::runtime::on_hub()) };
    // SAFETY: the program's call as it made it.
    unsafe { real::mq_close(mq) }
}
