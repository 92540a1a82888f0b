//! msgrcv and msgsnd on System V message queues: blocking calls with no descriptor epoll
//! could watch. A green thread tries the call with IPC_NOWAIT and, while the queue is empty
//! (or full), looks again after a short, growing nap (50 us doubling to 10 ms, as for a lock
//! a foreign thread holds: hooks/deadline.rs), so other green threads run meanwhile. Both
//! are cancellation points, and a handler that interrupts the wait makes the call fail with
//! EINTR, as natively (SA_RESTART never restarts them). A thread alone in its process makes
//! the call as it is (nap_retry.rs).

use super::nap_retry::Retry;
use super::hub::Hub;
use crate::sys::real;
use core::ffi::{c_int, c_long, c_void};

/// `plain` (the call as the program made it) for a thread alone, else repeats `attempt`
/// (the call with IPC_NOWAIT) until it does not fail with `empty`. A cancellation point
/// before every try; never restarted after a handler.
fn green_retry(hub: Hub, empty: c_int, plain: impl FnOnce() -> isize, attempt: impl FnMut() -> isize) -> isize {
    Retry { cancellable: true, restartable: false, deadline: None }.run(hub, plain, |e| e == empty, attempt)
}

/// # Safety
/// As for msgrcv(2): `msg` is writable for a `long` and `size` bytes (the kernel reports
/// EFAULT if not).
#[no_mangle]
pub unsafe extern "C" fn msgrcv(id: c_int, msg: *mut c_void, size: usize, kind: c_long, flags: c_int) -> isize {
    match Hub::here() {
        Some(hub) if flags & libc::IPC_NOWAIT == 0 => {
            // SAFETY: the program's call, as it made it and with IPC_NOWAIT added.
            let plain = || unsafe { real::msgrcv(id, msg, size, kind, flags) };
            // SAFETY: as above.
            green_retry(hub, libc::ENOMSG, plain, || unsafe { real::msgrcv(id, msg, size, kind, flags | libc::IPC_NOWAIT) })
        }
        // SAFETY: the program's call as it made it.
        _ => unsafe { real::msgrcv(id, msg, size, kind, flags) },
    }
}

/// # Safety
/// As for msgsnd(2): `msg` is readable for a `long` and `size` bytes (the kernel reports
/// EFAULT if not).
#[no_mangle]
pub unsafe extern "C" fn msgsnd(id: c_int, msg: *const c_void, size: usize, flags: c_int) -> c_int {
    match Hub::here() {
        Some(hub) if flags & libc::IPC_NOWAIT == 0 => {
            // SAFETY: the program's call, as it made it and with IPC_NOWAIT added.
            let plain = || unsafe { real::msgsnd(id, msg, size, flags) } as isize;
            // SAFETY: as above.
            let sent = green_retry(hub, libc::EAGAIN, plain, || unsafe { real::msgsnd(id, msg, size, flags | libc::IPC_NOWAIT) } as isize);
            sent as c_int
        }
        // SAFETY: the program's call as it made it.
        _ => unsafe { real::msgsnd(id, msg, size, flags) },
    }
}
