//! Signal handlers run on whatever stack was interrupted, in the middle of anything, even of
//! the scheduler. A handler that calls write() or sleep() must get the plain libc call, never
//! a green wait: we wrap every handler the program installs so the runtime knows when one
//! is running on the hub thread (ARCHITECTURE.md, Pass-through rules).

use crate::runtime::signals::{deferred, handlers, pending_signals, running, signal_depth, sigwaited};
use crate::runtime::{self, bit};
use crate::sys::real;
use core::ffi::{c_int, c_void};

const MAX_SIGNALS: usize = 65;

/// What the kernel calls for every handler the program installs.
extern "C" fn trampoline(signal: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    // A reset raced with this delivery: nothing of the program's to call.
    let Some(handler) = handlers::get(signal) else { return };
    let on_hub_thread = runtime::on_hub_thread();
    if on_hub_thread && !runs_here(signal, info) {
        // The running green thread blocks it: the hub hands it to a thread that takes it
        // (runtime/sigroute.rs). A signal sent to this OS thread (raise, tgkill) stays the
        // running thread's, as it would natively.
        // SAFETY: a siginfo is all we read, and only its code.
        let to_thread = !info.is_null() && unsafe { (*info).si_code } == libc::SI_TKILL;
        let target = if to_thread { running::thread() } else { 0 };
        // SAFETY: hub thread; `info` is the kernel's siginfo (or null).
        unsafe { deferred::record(signal, info, target) };
        runtime::offload::poke_from_handler();
        return;
    }
    // SAFETY: the kernel's ucontext for this delivery (or null).
    let _depth = on_hub_thread.then(|| signal_depth::enter(crate::sys::raw::stack_pointer(), unsafe { stack_low(context) }));
    if on_hub_thread {
        pending_signals::note(signal, handler.restarts());
        // The hub looks at this before it next waits; if it may have looked already, this
        // makes that wait return at once, so that the interrupted call sees EINTR.
        runtime::offload::poke_from_handler();
    }
    handlers::delivered(signal, handler);
    // SAFETY: the program's handler for this signal, with the kernel's own arguments.
    unsafe { handler.call(signal, info, context) };
}

/// The lowest address of the stack this handler runs on when it is the alternate signal
/// stack (the kernel saves its bounds in the context), else 0.
///
/// # Safety
/// `context` is null or the kernel's ucontext for this delivery.
unsafe fn stack_low(context: *mut c_void) -> usize {
    // SAFETY: the kernel's ucontext (caller); only its uc_stack is read.
    let Some(context) = (unsafe { (context as *const libc::ucontext_t).as_ref() }) else { return 0 };
    let (base, size) = (context.uc_stack.ss_sp as usize, context.uc_stack.ss_size);
    let here = crate::sys::raw::stack_pointer();
    if here >= base && here < base.wrapping_add(size) {
        base
    } else {
        0
    }
}

/// Whether the handler runs in the running green thread now: it accepts the signal and no
/// thread waits for it in sigwait (the waiter takes it), or the signal is a fault this very
/// code caused, or was sent to this OS thread, which the running thread accepts.
fn runs_here(signal: c_int, info: *const libc::siginfo_t) -> bool {
    // SAFETY: the kernel's siginfo (or null); only its code is read.
    let code = if info.is_null() { 0 } else { unsafe { (*info).si_code } };
    let fault = matches!(signal, libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP);
    if fault && code > 0 {
        return true;
    }
    let accepts = running::mask() & bit(signal) == 0;
    accepts && (code == libc::SI_TKILL || sigwaited::get() & bit(signal) == 0)
}

/// A sigset_t's first 64 signals, the kernel's layout.
fn set_bits(set: &libc::sigset_t) -> u64 {
    // SAFETY: a sigset_t is at least 8 bytes, the kernel's 64 signals first.
    unsafe { (set as *const libc::sigset_t as *const u64).read_unaligned() }
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
    let previous = handlers::get(signal);
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
                handlers::set(signal, wanted.sa_sigaction, wanted.sa_flags, set_bits(&wanted.sa_mask));
            }
            result
        }
        _ => {
            // SAFETY: the program's arguments, passed on as it gave them.
            let result = unsafe { runtime::preempt::sigaction(signal, action, old) };
            if result == 0 && wanted.is_some() {
                handlers::set(signal, 0, 0, 0);
            }
            result
        }
    };
    // SAFETY: null or writable (caller); the call above is over.
    if let Some(old) = unsafe { old.as_mut() }.filter(|_| result == 0) {
        if let Some(previous) = previous.filter(|_| old.sa_sigaction == trampoline as *const () as usize) {
            // Report what the program installed, not our wrapper.
            old.sa_sigaction = previous.function;
            if previous.flags & libc::SA_SIGINFO == 0 {
                old.sa_flags &= !libc::SA_SIGINFO;
            }
            // The kernel's copy may lack SIGSYS, kept open while raw calls are trapped
            // (runtime/sud.rs); the program reads back the mask it gave.
            if previous.mask & bit(libc::SIGSYS) != 0 {
                // SAFETY: the caller's writable action; SIGSYS is a valid signal.
                unsafe { libc::sigaddset(&mut old.sa_mask, libc::SIGSYS) };
            }
        }
    }
    result
}
