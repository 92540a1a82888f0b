//! Cancellation and cleanup handlers of green threads: pthread_cancel, the cancel state and
//! type, pthread_testcancel, and the entry points the `pthread_cleanup_push` macro calls
//! (`__pthread_register_cancel`, `__pthread_unregister_cancel`, `__pthread_unwind_next`).
//!
//! glibc keeps all of this in the thread descriptor, which green threads share with the OS
//! thread; runtime/cancel.rs keeps it per green thread instead (ARCHITECTURE.md, glibc's
//! thread descriptor). The root (the main thread) and other OS threads keep glibc's: every
//! call here passes through for them.
//!
//! **pthread_cancel** of a green thread is deferred cancellation as in glibc: the request is
//! recorded and acted on at the thread's next cancellation point with cancellation enabled:
//! a hooked call POSIX makes one, at its start or while it is parked (I/O,
//! poll/select/epoll_wait, sleeps, sem_wait, the wait family, sigsuspend/pause,
//! pthread_cond_wait with the mutex taken back, pthread_join: cancel_point.rs),
//! pthread_testcancel, or, with
//! the asynchronous type, as soon as it next runs (after a yield, or when the state or type
//! changes). A target parked in such a call is woken to act on it. The thread then unwinds:
//! its cleanup handlers and C++ destructors run, then its thread-local and key destructors,
//! and pthread_join returns PTHREAD_CANCELED. Cancelling a thread that has ended is 0, one
//! that was joined ESRCH. The main thread's request is runtime/root_exit.rs's: glibc unwinds
//! it, at one of its cancellation points (pthread_testcancel hands it to glibc first). Where
//! the unwinding is not implemented (aarch64) cancellation is refused with ENOTSUP.

use super::hub::Hub;
use crate::runtime::cancel::{self, Request, UnwindBuf};
use crate::runtime::green::State;
use crate::sys::real;
use core::ffi::{c_int, c_void};

/// glibc's <pthread.h> values.
const PTHREAD_CANCEL_ENABLE: c_int = 0;
const PTHREAD_CANCEL_DISABLE: c_int = 1;
const PTHREAD_CANCEL_DEFERRED: c_int = 0;
const PTHREAD_CANCEL_ASYNCHRONOUS: c_int = 1;

/// The hub, when the running thread is a green thread whose state we keep.
fn green_caller() -> Option<Hub> {
    let hub = Hub::here()?;
    (hub.current() != hub.root() && cancel::SUPPORTED).then_some(hub)
}

/// # Safety
/// None beyond glibc's: the thread id is a number.
#[no_mangle]
pub unsafe extern "C" fn pthread_cancel(thread: libc::pthread_t) -> c_int {
    let Some(hub) = Hub::here() else {
        // SAFETY: the program's argument, passed on as it gave it.
        return unsafe { real::pthread_cancel(thread) };
    };
    let Some(g) = hub.lookup(thread) else { return libc::ESRCH };
    // SAFETY: `g` came from lookup in this call, so it is live; one plain field.
    if unsafe { (*g).state } == State::Done {
        return 0;
    }
    if !cancel::SUPPORTED {
        return libc::ENOTSUP;
    }
    // SAFETY: hub thread (`hub`), `g` live (lookup).
    match unsafe { cancel::request(g) } {
        Request::Recorded => 0,
        Request::Root => {
            crate::runtime::log::log!(Warn, "pthread_cancel of the main thread refused with ENOTSUP");
            libc::ENOTSUP
        }
    }
}

/// # Safety
/// As for glibc's pthread_setcancelstate: `old` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn pthread_setcancelstate(state: c_int, old: *mut c_int) -> c_int {
    if green_caller().is_none() {
        // SAFETY: the program's arguments, passed on as they came.
        return unsafe { real::pthread_setcancelstate(state, old) };
    }
    if state != PTHREAD_CANCEL_ENABLE && state != PTHREAD_CANCEL_DISABLE {
        return libc::EINVAL;
    }
    // SAFETY: hub thread, on a green thread; `old` null or writable (caller), written before
    // a change that may end the thread.
    unsafe {
        let previous = current_state();
        if let Some(old) = old.as_mut() {
            *old = if previous.0 { PTHREAD_CANCEL_DISABLE } else { PTHREAD_CANCEL_ENABLE };
        }
        cancel::set(Some(state == PTHREAD_CANCEL_DISABLE), None);
    }
    0
}

/// # Safety
/// As for glibc's pthread_setcanceltype: `old` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn pthread_setcanceltype(kind: c_int, old: *mut c_int) -> c_int {
    if green_caller().is_none() {
        // SAFETY: the program's arguments, passed on as they came.
        return unsafe { real::pthread_setcanceltype(kind, old) };
    }
    if kind != PTHREAD_CANCEL_DEFERRED && kind != PTHREAD_CANCEL_ASYNCHRONOUS {
        return libc::EINVAL;
    }
    // SAFETY: hub thread, on a green thread; `old` null or writable (caller), written before
    // a change that may end the thread.
    unsafe {
        let previous = current_state();
        if let Some(old) = old.as_mut() {
            *old = if previous.1 { PTHREAD_CANCEL_ASYNCHRONOUS } else { PTHREAD_CANCEL_DEFERRED };
        }
        cancel::set(None, Some(kind == PTHREAD_CANCEL_ASYNCHRONOUS));
    }
    0
}

/// The running green thread's (disabled, asynchronous).
///
/// # Safety
/// Hub thread, on a green thread other than the root.
unsafe fn current_state() -> (bool, bool) {
    // SAFETY: hub thread (caller).
    unsafe { cancel::state() }.unwrap_or((false, false))
}

/// # Safety
/// None: the function takes no argument.
#[no_mangle]
pub unsafe extern "C" fn pthread_testcancel() {
    if green_caller().is_none() {
        if Hub::here().is_some_and(|hub| hub.current() == hub.root()) {
            // SAFETY: hub thread, on the root: a request another thread made for it goes to
            // glibc first.
            unsafe { cancel::point() };
        }
        // SAFETY: takes no argument.
        return unsafe { real::pthread_testcancel() };
    }
    // SAFETY: hub thread; called from the program's code, which holds no runtime link.
    unsafe { cancel::point() }
}

/// Called by the `pthread_cleanup_push` macro after `__sigsetjmp` filled `buf`.
///
/// # Safety
/// As for glibc's: `buf` is the macro's buffer, live until unregistered.
#[no_mangle]
pub unsafe extern "C" fn __pthread_register_cancel(buf: *mut c_void) {
    // SAFETY: hub thread (green_caller); the buffer is the macro's (caller).
    if green_caller().is_none() || !unsafe { cancel::register(buf as *mut UnwindBuf) } {
        // SAFETY: the program's argument, passed on as it came.
        unsafe { real::__pthread_register_cancel(buf) }
    }
}

/// Called by the `pthread_cleanup_pop` macro.
///
/// # Safety
/// As for glibc's: `buf` is the newest registered buffer.
#[no_mangle]
pub unsafe extern "C" fn __pthread_unregister_cancel(buf: *mut c_void) {
    // SAFETY: hub thread (green_caller); the buffer was registered on this thread (caller).
    if green_caller().is_none() || !unsafe { cancel::unregister(buf as *mut UnwindBuf) } {
        // SAFETY: the program's argument, passed on as it came.
        unsafe { real::__pthread_unregister_cancel(buf) }
    }
}

/// Called by the `pthread_cleanup_push` macro once its handler ran during an unwind: the
/// unwind goes on from there.
///
/// # Safety
/// As for glibc's: `buf` is the buffer whose handler just ran.
#[no_mangle]
pub unsafe extern "C" fn __pthread_unwind_next(buf: *mut c_void) -> ! {
    if green_caller().is_some() {
        // SAFETY: hub thread; the buffer is the running thread's newest (caller).
        unsafe { cancel::unwind_next(buf as *mut UnwindBuf) };
    }
    // SAFETY: the program's argument, passed on as it came; glibc's does not return.
    unsafe { real::__pthread_unwind_next(buf) };
    crate::runtime::log::fatal(&[b"__pthread_unwind_next returned"])
}
