//! Signal handlers run on whatever stack was interrupted, in the middle of anything, even of
//! the scheduler. A handler that calls write() or sleep() must get the plain libc call, never
//! a green wait: we wrap every handler the program installs so the runtime knows when one
//! is running on the hub thread (ARCHITECTURE.md, Pass-through rules).

use crate::runtime::{self, pending_signals, signal_depth};
use crate::sys::real;
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

const MAX_SIGNALS: usize = 65;

/// The program's handler per signal (a sa_handler or a sa_sigaction, by its SA_SIGINFO flag).
static HANDLERS: [AtomicUsize; MAX_SIGNALS] = [const { AtomicUsize::new(0) }; MAX_SIGNALS];
static TAKES_INFO: [AtomicUsize; MAX_SIGNALS] = [const { AtomicUsize::new(0) }; MAX_SIGNALS];
static RESTARTS: [AtomicUsize; MAX_SIGNALS] = [const { AtomicUsize::new(0) }; MAX_SIGNALS];

extern "C" fn trampoline(signal: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    let index = signal as usize;
    let handler = HANDLERS[index].load(Relaxed);
    let on_hub_thread = runtime::on_hub_thread();
    let _depth = on_hub_thread.then(signal_depth::enter);
    if on_hub_thread {
        pending_signals::note(RESTARTS[index].load(Relaxed) != 0);
        // If the hub is not in epoll_wait right now it soon will be; this makes that wait
        // return at once so the interrupted call sees EINTR.
        runtime::offload::poke_hub();
    }
    if TAKES_INFO[index].load(Relaxed) != 0 {
        // SAFETY: the program installed this as a three-argument SA_SIGINFO handler.
        let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) = unsafe { core::mem::transmute(handler) };
        f(signal, info, context);
    } else {
        // SAFETY: the program installed this as a one-argument handler.
        let f: extern "C" fn(c_int) = unsafe { core::mem::transmute(handler) };
        f(signal);
    }
}

fn is_function(handler: libc::sighandler_t) -> bool {
    handler != libc::SIG_DFL && handler != libc::SIG_IGN && handler != libc::SIG_ERR
}

/// # Safety
/// As for sigaction(2): `action` is null or readable, `old` null or writable.
#[no_mangle]
pub unsafe extern "C" fn sigaction(
    signal: c_int,
    action: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> c_int {
    let index = signal as usize;
    if !(1..MAX_SIGNALS).contains(&index) {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::sigaction(signal, action, old) };
    }
    let previous = (HANDLERS[index].load(Relaxed), TAKES_INFO[index].load(Relaxed));
    // A copy, so that nothing refers to `*action` while the kernel writes `*old`, which may
    // be the same struct.
    // SAFETY: null or readable (caller).
    let wanted = unsafe { action.as_ref() }.copied();
    let result = match wanted {
        Some(wanted) if is_function(wanted.sa_sigaction) => {
            let mut wrapped = wanted;
            wrapped.sa_sigaction = trampoline as *const () as usize;
            wrapped.sa_flags |= libc::SA_SIGINFO;
            // SAFETY: our own readable action; `old` as the program gave it.
            let result = unsafe { runtime::preempt::sigaction(signal, &wrapped, old) };
            if result == 0 {
                HANDLERS[index].store(wanted.sa_sigaction, Relaxed);
                TAKES_INFO[index].store((wanted.sa_flags & libc::SA_SIGINFO != 0) as usize, Relaxed);
                RESTARTS[index].store((wanted.sa_flags & libc::SA_RESTART != 0) as usize, Relaxed);
            }
            result
        }
        // SAFETY: the program's arguments, passed on as it gave them.
        _ => unsafe { runtime::preempt::sigaction(signal, action, old) },
    };
    // SAFETY: null or writable (caller); the call above is over.
    if let Some(old) = unsafe { old.as_mut() }.filter(|_| result == 0) {
        if old.sa_sigaction == trampoline as *const () as usize {
            // Report what the program installed, not our wrapper.
            old.sa_sigaction = previous.0;
            if previous.1 == 0 {
                old.sa_flags &= !libc::SA_SIGINFO;
            }
        }
    }
    result
}

/// signal(2) as glibc defines it: BSD semantics (SA_RESTART, handler stays installed).
///
/// # Safety
/// As for signal(2): `handler` is SIG_DFL, SIG_IGN or a function taking the signal number.
#[no_mangle]
pub unsafe extern "C" fn signal(signal: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    // SAFETY: all-zero bytes are a valid sigaction (plain data: no handler, empty mask).
    let (mut action, mut old): (libc::sigaction, libc::sigaction) = unsafe { core::mem::zeroed() };
    action.sa_sigaction = handler;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: our own sigset; sigaddset checks the signal number.
    unsafe {
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaddset(&mut action.sa_mask, signal);
    }
    // SAFETY: our own readable action and writable old one; the handler is the caller's.
    if unsafe { sigaction(signal, &action, &mut old) } != 0 {
        return libc::SIG_ERR;
    }
    old.sa_sigaction
}
