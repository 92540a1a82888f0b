//! Signals sent to one green thread: pthread_kill (hooks/thread_extra.rs answers for the
//! thread id, then calls `send`) and pthread_sigqueue.
//!
//! A signal with a handler of the program's is pending for the target, with the siginfo
//! the kernel would give it (SI_TKILL, or SI_QUEUE with the value; our pid and uid), and
//! its handler runs in the target, on its own stack, as it resumes: a target parked in a
//! call a signal interrupts is woken, and the call returns EINTR or restarts, as natively
//! (runtime/sigroute.rs; ARCHITECTURE.md, Signals). Sent to the calling thread, the handler
//! runs before the call returns. A signal the target blocks stays pending for it until it
//! unblocks it or takes it with sigwait. A signal without a handler that the target
//! accepts is the kernel's business: it goes to the OS thread, and its default action (end
//! the process, stop it, or nothing) or SIG_IGN is the native one.

use super::hub::Hub;
use crate::runtime::green::{Green, State};
use crate::runtime::signals::{handlers, is_reserved};
use crate::runtime::{bit, sigroute};
use crate::sys::real;
use core::ffi::c_int;

/// glibc's internal signals, which pthread_kill and pthread_sigqueue refuse.
const SIGCANCEL: c_int = 32;
const SIGSETXID: c_int = 33;

/// Offsets in a 64-bit siginfo_t of the sender's pid, uid and sigqueue value.
const PID_AT: usize = 16;
const UID_AT: usize = 20;
const VALUE_AT: usize = 24;

/// The siginfo the kernel gives a signal sent with tgkill (SI_TKILL) or
/// rt_tgsigqueueinfo (SI_QUEUE, with `value`).
fn thread_siginfo(signal: c_int, value: Option<libc::sigval>) -> libc::siginfo_t {
    // SAFETY: siginfo_t is plain data; all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { core::mem::zeroed() };
    info.si_signo = signal;
    info.si_code = if value.is_some() { libc::SI_QUEUE } else { libc::SI_TKILL };
    let base = &mut info as *mut libc::siginfo_t as *mut u8;
    let pid = crate::sys::raw::getpid();
    let uid = {
        let _own = crate::sys::own_calls::own_calls();
        rustix::process::getuid().as_raw()
    };
    // SAFETY: the offsets lie inside the 128-byte siginfo_t, in its sender fields.
    unsafe {
        (base.add(PID_AT) as *mut i32).write_unaligned(pid);
        (base.add(UID_AT) as *mut u32).write_unaligned(uid);
        if let Some(value) = value {
            (base.add(VALUE_AT) as *mut libc::sigval).write_unaligned(value);
        }
    }
    info
}

/// Sends `signal` to the live green thread `g`: see the top of this file. Returns the
/// error number pthread_kill returns.
pub(super) fn send(hub: Hub, g: *mut Green, signal: c_int, value: Option<libc::sigval>) -> c_int {
    let b = bit(signal);
    if b == 0 {
        return libc::EINVAL;
    }
    // SAFETY: `g` is live (caller); one plain field read.
    let accepts = unsafe { (*g).signals.mask } & b == 0;
    if is_reserved(signal) || (accepts && handlers::get(signal).is_none()) {
        // SAFETY: no arguments.
        let os_thread = unsafe { real::pthread_self() };
        return match value {
            // SAFETY: our own OS thread, and the program's signal number and value.
            Some(value) => unsafe { real::pthread_sigqueue(os_thread, signal, value) },
            // SAFETY: as above.
            None => unsafe { real::pthread_kill(os_thread, signal) },
        };
    }
    // SAFETY: hub thread (`hub`), `g` live.
    unsafe { sigroute::post(g, signal, thread_siginfo(signal, value)) };
    if g == hub.current() {
        // SAFETY: hub thread (`hub`), outside handlers; `g` is the running thread.
        unsafe { sigroute::run_pending(g) };
    }
    0
}

/// # Safety
/// None beyond glibc's: the arguments are numbers and a value.
#[no_mangle]
pub unsafe extern "C" fn pthread_sigqueue(thread: libc::pthread_t, signal: c_int, value: libc::sigval) -> c_int {
    let Some(hub) = Hub::here() else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::pthread_sigqueue(thread, signal, value) };
    };
    let Some(g) = hub.lookup(thread) else { return libc::ESRCH };
    if signal == SIGCANCEL || signal == SIGSETXID {
        return libc::EINVAL;
    }
    // SAFETY: `g` came from lookup in this call, so it is live; one plain field read.
    if signal == 0 || unsafe { (*g).state } == State::Done {
        return 0;
    }
    send(hub, g, signal, Some(value))
}
