//! Ending a green thread early: `pthread_exit` and `pthread_cancel`, with the cleanup
//! handlers the thread registered running first (ARCHITECTURE.md, glibc's thread
//! descriptor).
//!
//! glibc keeps a thread's cancellation state, type and request, and the head of its chain of
//! `pthread_cleanup_push` buffers, in its thread descriptor; green threads share the OS
//! thread's descriptor, so each keeps its own in its record (`Cancel`), reached through the
//! public entry points the program calls (hooks/cancel.rs).
//!
//! Ending a thread is glibc's forced unwind (nptl/unwind.c): `_Unwind_ForcedUnwind` walks the
//! green stack from the caller up, running C++ destructors and `__attribute__((cleanup))`
//! handlers as it passes their frames, and calls our stop function before each frame:
//! * when the frame would leave the frame of the newest C cleanup buffer (registered by the
//!   `pthread_cleanup_push` macro with `__pthread_register_cancel`), it jumps into that
//!   buffer: the macro runs the handler and calls `__pthread_unwind_next`, which takes the
//!   buffer off the chain and starts the unwind again from there;
//! * when the frame lies off the green stack (the coroutine's entry, then the scheduler's
//!   own stack) or the unwinder finds no more frames, the thread's code is all unwound: its
//!   thread-local and key destructors run and the thread ends (`green::exit_current`), on
//!   its own stack, without returning into the unwinder.
//!
//! Acting on a request (deferred cancellation) happens only where the thread holds no link
//! into runtime structures: at the start of a hooked cancellation point
//! (hooks/cancel_point.rs), after a wait has unlinked itself (io.rs, waitqueue.rs, join.rs,
//! the sleep and condition hooks call `point`; waits that hold something of their own ask
//! `pending` and act once they have let go of it), in `pthread_testcancel`, and when the
//! state or type changes. The root never unwinds here: its chain is glibc's own, and glibc
//! unwinds it (root_exit.rs); its points hand a request to glibc there.

pub use super::cancel_state::UnwindBuf;
use super::green::{self, Green, State, WaitingOn, Wake};
use super::state::rt;
use core::ffi::c_void;

/// glibc's PTHREAD_CANCELED.
pub const CANCELED: *mut c_void = usize::MAX as *mut c_void;

/// The running green thread, unless it is the root (whose state is glibc's).
///
/// # Safety
/// Hub thread only.
unsafe fn current_green() -> Option<*mut Green> {
    // SAFETY: hub thread (caller).
    let rt = unsafe { rt() };
    (rt.current != rt.root).then_some(rt.current)
}

/// Registers a `pthread_cleanup_push` buffer on the running green thread. False for the
/// root: glibc keeps its chain.
///
/// # Safety
/// Hub thread only; `buf` is the program's buffer, live until unregistered or unwound.
pub unsafe fn register(buf: *mut UnwindBuf) -> bool {
    // SAFETY: hub thread (caller).
    let Some(g) = (unsafe { current_green() }) else { return false };
    // SAFETY: `g` runs, so it is live; `buf` is writable (caller).
    unsafe {
        (*buf).prev = (*g).cancel.chain;
        (*buf).cleanup = core::ptr::null_mut();
        (*g).cancel.chain = buf;
    }
    true
}

/// Takes `buf` (the newest) off the running green thread's chain. False for the root.
///
/// # Safety
/// Hub thread only; `buf` was registered by `register` on this thread.
pub unsafe fn unregister(buf: *mut UnwindBuf) -> bool {
    // SAFETY: hub thread (caller).
    let Some(g) = (unsafe { current_green() }) else { return false };
    // SAFETY: `g` is live; `buf` is readable (caller).
    unsafe { (*g).cancel.chain = (*buf).prev };
    true
}

/// Sets the cancel state (`disable`) or type (`asynchronous`) of the running green thread
/// and returns the previous one; acts on a pending request that the change makes due
/// asynchronously. None for the root.
///
/// # Safety
/// Hub thread only.
pub unsafe fn set(disable: Option<bool>, asynchronous: Option<bool>) -> Option<(bool, bool)> {
    // SAFETY: hub thread (caller).
    let g = unsafe { current_green() }?;
    // SAFETY: `g` runs, so it is live; the borrow ends before any unwind.
    let c = unsafe { &mut (*g).cancel };
    let old = (c.disabled, c.asynchronous);
    c.disabled = disable.unwrap_or(c.disabled);
    c.asynchronous = asynchronous.unwrap_or(c.asynchronous);
    if c.disabled {
        // A request lent to glibc must not act while cancellation is disabled.
        super::glibc_cancel_bits::disarm();
    }
    // SAFETY: hub thread; nothing of the runtime is linked to `g` here.
    unsafe { act_if(g, true) };
    Some(old)
}

/// The running green thread's (disabled, asynchronous); None for the root.
///
/// # Safety
/// Hub thread only.
pub unsafe fn state() -> Option<(bool, bool)> {
    // SAFETY: hub thread (caller); `g` runs, so it is live.
    unsafe { current_green() }.map(|g| unsafe { ((*g).cancel.disabled, (*g).cancel.asynchronous) })
}

/// A cancellation point: acts on a pending request when cancellation is enabled. The
/// caller holds no link into runtime structures (it has left any wait).
///
/// # Safety
/// Hub thread only.
pub unsafe fn point() {
    // SAFETY: hub thread (caller).
    match unsafe { current_green() } {
        // SAFETY: as the caller's.
        Some(g) => unsafe { act_if(g, false) },
        // SAFETY: as the caller's, on the root.
        None => unsafe { super::root_exit::point(false) },
    }
}

/// Whether the running green thread has a request to act on at its next cancellation
/// point (join uses it to leave its target first).
///
/// # Safety
/// Hub thread only.
pub unsafe fn pending() -> bool {
    // SAFETY: hub thread (caller); `g` runs, so it is live.
    match unsafe { current_green() } {
        // SAFETY: as above.
        Some(g) => unsafe { (*g).cancel.due(false) },
        // SAFETY: hub thread, on the root.
        None => unsafe { super::root_exit::due(false) },
    }
}

/// A point where only asynchronous cancellation acts (after a yield).
///
/// # Safety
/// Hub thread only; as for `point`.
pub unsafe fn async_point() {
    // SAFETY: hub thread (caller).
    match unsafe { current_green() } {
        // SAFETY: as the caller's.
        Some(g) => unsafe { act_if(g, true) },
        // SAFETY: as the caller's, on the root.
        None => unsafe { super::root_exit::point(true) },
    }
}

/// # Safety
/// On `g`, the running green thread, holding no link into runtime structures.
unsafe fn act_if(g: *mut Green, asynchronous_only: bool) {
    // SAFETY: `g` is live (caller).
    if unsafe { (*g).cancel.due(asynchronous_only) } {
        // SAFETY: on `g` (caller).
        unsafe { end(g, CANCELED) };
    }
}

/// What pthread_cancel did.
pub enum Request {
    /// Recorded; the target acts on it at a cancellation point (0 for the caller).
    Recorded,
    /// The target is the root, which cannot be unwound here (not x86-64).
    Root,
}

/// pthread_cancel of green thread `g` (not ended). A target parked in a wait that is a
/// cancellation point is woken so it can act; the caller cancelling itself asynchronously
/// ends here.
///
/// # Safety
/// Hub thread only; `g` is live.
pub unsafe fn request(g: *mut Green) -> Request {
    // SAFETY: hub thread (caller).
    let rt = unsafe { rt() };
    if g == rt.root {
        // SAFETY: hub thread (caller).
        return unsafe { request_root(g) };
    }
    // SAFETY: `g` is live (caller); the borrow ends before any wake or unwind.
    let (due, due_anywhere, state, waiting_on) = unsafe {
        (*g).cancel.requested = true;
        ((*g).cancel.due(false), (*g).cancel.due(true), (*g).state, (*g).waiting_on)
    };
    // A lock wait is no cancellation point, but asynchronous cancellation acts anywhere:
    // natively SIGCANCEL interrupts the futex wait. The lock waits act once they have left
    // their queue (runtime/waitqueue.rs, hooks/hub.rs `park`).
    let wakes = wakes_for_cancel(waiting_on) || (due_anywhere && matches!(waiting_on, WaitingOn::Lock { .. }));
    if g == rt.current {
        // SAFETY: on `g`, in a hook that holds no runtime link.
        unsafe { act_if(g, true) };
    } else if due && state == State::Parked && wakes {
        // SAFETY: hub thread, `g` live and parked.
        unsafe { green::wake(g, Wake::Ready) };
    }
    Request::Recorded
}

/// pthread_cancel of the root (runtime/root_exit.rs), woken like any target.
///
/// # Safety
/// Hub thread only; `root` is the root.
unsafe fn request_root(root: *mut Green) -> Request {
    // SAFETY: hub thread (caller).
    if !unsafe { super::root_exit::request(root) } {
        return Request::Root;
    }
    // SAFETY: hub thread; the root's record lives as long as the runtime.
    let (current, state, waiting_on) = unsafe { (rt().current, (*root).state, (*root).waiting_on) };
    // SAFETY: hub thread (caller).
    let due = unsafe { super::root_exit::due(false) };
    if current != root && due && state == State::Parked && wakes_for_cancel(waiting_on) {
        // SAFETY: hub thread, the root parked.
        unsafe { green::wake(root, Wake::Ready) };
    }
    Request::Recorded
}

/// The waits that are cancellation points and act on a request once they have unlinked
/// themselves (a child wait and sigsuspend/pause once they have let go of what they hold:
/// hooks/wait.rs, hooks/sigwait.rs). Lock, barrier and once waits are not cancellation
/// points; offloaded calls must be collected first (their job lives on the thread's stack).
fn wakes_for_cancel(waiting_on: WaitingOn) -> bool {
    matches!(
        waiting_on,
        WaitingOn::Fd { .. }
            | WaitingOn::Poll { .. }
            | WaitingOn::Sleep
            | WaitingOn::Join { .. }
            | WaitingOn::Semaphore { .. }
            | WaitingOn::Condition { .. }
            | WaitingOn::Child { .. }
            | WaitingOn::Signal
    )
}

/// pthread_exit: ends the running thread with `retval`, running its cleanup handlers first
/// (the root's are glibc's: glibc unwinds it, runtime/root_exit.rs).
///
/// # Safety
/// Hub thread only; the frames between the caller and the thread's start are C or C++
/// frames, or Rust frames without Drop values.
pub unsafe fn exit(retval: *mut c_void) -> ! {
    // SAFETY: hub thread (caller).
    match unsafe { current_green() } {
        // SAFETY: on `g` itself (caller).
        Some(g) => unsafe { end(g, retval) },
        // SAFETY: hub thread, on the root.
        None => unsafe { super::root_exit::exit(retval) },
    }
}

/// Ends green thread `g` (the running one) with `retval`, unwinding its stack first.
///
/// # Safety
/// On `g`, as for `exit`.
unsafe fn end(g: *mut Green, retval: *mut c_void) -> ! {
    // A request lent to glibc must not act again inside the cleanup handlers.
    super::glibc_cancel_bits::disarm();
    // SAFETY: `g` runs, so it is live; a wait it is still linked into (when a handler
    // that runs inside it ends the thread) unlinks first (wait_leave.rs).
    unsafe {
        (*g).signals.leave.run();
        (*g).cancel.exiting = true;
        (*g).retval = retval;
    }
    // SAFETY: on `g` (caller).
    unsafe { unwind(g) }
}

#[cfg(target_arch = "x86_64")]
mod unwinding {
    use crate::runtime::cancel_state::{UnwindBuf, UnwindException};
    use crate::runtime::green::Green;
    use crate::runtime::green;
    use crate::sys::log;
    use core::ffi::c_void;

    type Stop = unsafe extern "C" fn(i32, i32, u64, *mut UnwindException, *mut c_void, *mut c_void) -> i32;

    // Declared without "-unwind": the forced unwind never comes back through this call (the
    // stop function ends the thread), and Rust would otherwise wrap the call in an abort
    // pad. The Rust frames it crosses on the way to the program's have no landing pads
    // (panic = "abort", no Drop values), so it passes them as it passes C frames.
    extern "C" {
        fn _Unwind_ForcedUnwind(exception: *mut UnwindException, stop: Stop, parameter: *mut c_void) -> i32;
        fn _Unwind_GetCFA(context: *mut c_void) -> usize;
    }

    /// libgcc's _UA_END_OF_STACK and _URC_NO_REASON.
    const END_OF_STACK: i32 = 16;
    const NO_REASON: i32 = 0;
    /// Slots of glibc's x86-64 jmp_buf that hold mangled pointers.
    const JB_RSP: usize = 6;

    /// Unwinds the running green thread `g` from the caller up, then ends it.
    ///
    /// # Safety
    /// On `g`, as for `super::exit`.
    pub unsafe fn unwind(g: *mut Green) -> ! {
        // SAFETY: `g` is live; its record (a Box) keeps the exception object in place while
        // the unwinder uses it.
        let exception = unsafe {
            let e = core::ptr::addr_of_mut!((*g).cancel.exception);
            (*e).class = 0;
            (*e).cleanup = Some(not_rethrown);
            e
        };
        // SAFETY: a valid exception object and stop function; the stop function ends the
        // thread without returning, so this returns only if the unwinder fails.
        unsafe { _Unwind_ForcedUnwind(exception, stop, g as *mut c_void) };
        // SAFETY: as the caller's; no handler can run any more, the thread still ends.
        unsafe { green::exit_current((*g).retval) }
    }

    /// A C++ `catch (...)` swallowed the unwind instead of rethrowing it: glibc aborts.
    unsafe extern "C" fn not_rethrown(_reason: i32, _exception: *mut UnwindException) {
        log::fatal(&[b"FATAL: exception not rethrown"])
    }

    /// The unwinder's stop function, called before each frame is unwound (nptl/unwind.c's
    /// unwind_stop, with the chain and the end of the thread kept by us).
    ///
    /// # Safety
    /// Called by _Unwind_ForcedUnwind only, on green thread `parameter`.
    unsafe extern "C" fn stop(
        _version: i32,
        actions: i32,
        _class: u64,
        _exception: *mut UnwindException,
        context: *mut c_void,
        parameter: *mut c_void,
    ) -> i32 {
        let g = parameter as *mut Green;
        let end = actions & END_OF_STACK != 0;
        // SAFETY: a context the unwinder passed for this frame.
        let cfa = if end { usize::MAX } else { unsafe { _Unwind_GetCFA(context) } };
        // SAFETY: `g` is the running thread, live; only plain fields are read.
        let (chain, low, high) = unsafe { ((*g).cancel.chain, (*g).stack_low, (*g).stack_low + (*g).stack_size) };
        // SAFETY: a registered buffer lives in a frame not yet unwound.
        if !chain.is_null() && (end || cfa >= crate::runtime::glibc_cancel_bits::demangle(unsafe { (*chain).jump[JB_RSP] })) {
            // SAFETY: the buffer's frame is still on the stack (this frame is its callee or
            // the buffer's own frame is next), and __sigsetjmp filled it.
            unsafe { long_jump(chain) }
        }
        if end || cfa < low || cfa > high {
            // SAFETY: every frame of the thread's code is unwound; its stack stays intact
            // below us until the scheduler reclaims it.
            unsafe { green::exit_current((*g).retval) }
        }
        NO_REASON
    }

    /// Jumps into a jump buffer glibc's `__sigsetjmp(buf, 0)` filled, making it return 1
    /// (glibc's __longjmp, without the signal mask, which `pthread_cleanup_push` never
    /// saves).
    ///
    /// # Safety
    /// `buf` was filled by __sigsetjmp in a frame that is still live on this stack.
    unsafe fn long_jump(buf: *mut UnwindBuf) -> ! {
        // SAFETY: restores the callee-saved registers, stack and program counter the frame
        // saved (three of them mangled with the guard at %fs:0x30), as glibc's __longjmp.
        unsafe {
            core::arch::asm!(
                "mov rbx, [rdi]",
                "mov r12, [rdi + 16]",
                "mov r13, [rdi + 24]",
                "mov r14, [rdi + 32]",
                "mov r15, [rdi + 40]",
                "mov r8, [rdi + 8]",
                "ror r8, 0x11",
                "xor r8, fs:[0x30]",
                "mov rdx, [rdi + 48]",
                "ror rdx, 0x11",
                "xor rdx, fs:[0x30]",
                "mov rcx, [rdi + 56]",
                "ror rcx, 0x11",
                "xor rcx, fs:[0x30]",
                "mov rbp, r8",
                "mov rsp, rdx",
                "mov eax, 1",
                "jmp rcx",
                in("rdi") buf,
                options(noreturn)
            )
        }
    }
}

/// Whether green threads can be cancelled here (the unwinding is x86-64's).
pub const SUPPORTED: bool = cfg!(target_arch = "x86_64");

/// # Safety
/// On `g`, as for `exit`.
#[cfg(target_arch = "x86_64")]
unsafe fn unwind(g: *mut Green) -> ! {
    // SAFETY: as the caller's.
    unsafe { unwinding::unwind(g) }
}

/// Elsewhere the thread ends without running its C cleanup handlers, as before.
///
/// # Safety
/// On `g`, as for `exit`.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn unwind(g: *mut Green) -> ! {
    // SAFETY: as the caller's.
    unsafe { green::exit_current((*g).retval) }
}

/// `__pthread_unwind_next`: the handler of `buf` ran; unwind on from its frame. False for
/// the root (glibc's chain).
///
/// # Safety
/// Hub thread only; `buf` is the running thread's newest registered buffer, and its handler
/// was entered by our unwind.
pub unsafe fn unwind_next(buf: *mut UnwindBuf) -> bool {
    // SAFETY: hub thread (caller).
    let Some(g) = (unsafe { current_green() }) else { return false };
    // The unwind may be glibc's, acting on a request lent to it (cancel_glibc.rs): from
    // here on the thread is ending, cancelled, our way.
    super::glibc_cancel_bits::disarm();
    // SAFETY: `g` is live; `buf` readable (caller); then on `g` as `end` requires.
    unsafe {
        if !(*g).cancel.exiting {
            (*g).cancel.exiting = true;
            (*g).retval = CANCELED;
        }
        (*g).cancel.chain = (*buf).prev;
        unwind(g)
    }
}
