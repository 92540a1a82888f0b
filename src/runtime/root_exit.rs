//! The root's end: `pthread_exit` and `pthread_cancel` of the main thread
//! (ARCHITECTURE.md, glibc's thread descriptor).
//!
//! The root's cleanup chain, cancel state and type are glibc's own (every call passes
//! through for it), so glibc's own forced unwind ends it: `pthread_exit` and an acted-on
//! request run its `pthread_cleanup_push` handlers, C++ destructors and `cleanup`
//! attributes, frame by frame, up to the jump buffer `__libc_start_call_main` registered
//! before it called `main`, the oldest of the chain. glibc jumps into that buffer, runs the
//! key destructors and ends the OS thread, or the process if it was the last OS thread:
//! either way every green thread would go with it. So before the root unwinds, the buffer's
//! saved program counter is pointed at `landing` instead (mangled as glibc mangles it); the
//! saved stack pointer stays, so the landing runs on the root's stack just above `main`'s
//! old frames. There the root's key destructors run (runtime/tsd.rs), and the root ends as
//! by `green::exit_current`: it waits for the other green threads and exits with status 0
//! after the last, as natively.
//!
//! **Requests.** glibc's cancel bits live in the OS thread's descriptor, where every green
//! thread's glibc-internal cancellation points (stdio's write, for one) look: a request left
//! there while a green thread runs would unwind that thread with the root's chain. So the
//! root's request is kept in its record (`Cancel::requested`), and handed to glibc only on
//! the root, at one of its cancellation points with cancellation enabled
//! (`runtime/cancel.rs` calls `point`), where glibc acts on it at once. A request the root
//! makes for itself goes to glibc at once, as natively (it then acts at glibc's own points
//! too), unless other green threads run. (Such a request stays in glibc's bits if the root
//! then starts green threads and blocks before acting on it: their glibc-internal
//! cancellation points would then act on it. Natively it would have acted at that block.)
//!
//! This is x86-64 only (the jump buffer's layout and pointer mangling); elsewhere the root's
//! pthread_exit ends it without unwinding and its cancellation is refused, as before.

use super::green::{self, Green};
use super::state::rt;
use crate::sys::real;
use core::ffi::c_void;

#[cfg(target_arch = "x86_64")]
use super::glibc_cancel_bits::offsets::{CANCELHANDLING, CLEANUP_JMP_BUF, RESULT};
/// `cancelhandling`'s CANCELSTATE_BITMASK (set: disabled) and CANCELTYPE_BITMASK (set:
/// asynchronous).
const DISABLED: i32 = 1;
const ASYNCHRONOUS: i32 = 2;
/// Words of glibc's x86-64 jmp_buf; `__pthread_unwind_buf_t` links the previous buffer in
/// its `priv.data.prev`, after the jmp_buf and `mask_was_saved`.
#[cfg(target_arch = "x86_64")]
const JB_PC: usize = 7;
#[cfg(target_arch = "x86_64")]
const PREV: usize = 9;

/// The OS thread's glibc descriptor (`THREAD_SELF`), the root's.
#[cfg(target_arch = "x86_64")]
fn descriptor() -> usize {
    crate::sys::raw::thread_self()
}

/// glibc's `cancelhandling` word of the root.
#[cfg(target_arch = "x86_64")]
fn cancelhandling() -> i32 {
    // SAFETY: a 4-byte field of the live descriptor; only the hub thread changes it.
    unsafe { core::ptr::read_volatile((descriptor() + CANCELHANDLING) as *const i32) }
}

#[cfg(target_arch = "x86_64")]
mod landing {
    use crate::runtime::green;
    use core::ffi::c_void;

    // glibc's __libc_unwind_longjmp arrives here with the stack pointer of
    // __libc_start_call_main's frame; the call needs it 16-byte aligned.
    core::arch::global_asm!(
        ".pushsection .text.green_root_landing,\"ax\",@progbits",
        ".p2align 4",
        ".globl green_root_landing",
        ".hidden green_root_landing",
        ".type green_root_landing,@function",
        "green_root_landing:",
        "and rsp, -16",
        "call {ended}",
        "ud2",
        ".size green_root_landing, .-green_root_landing",
        ".popsection",
        ended = sym ended,
    );

    extern "C" {
        pub fn green_root_landing();
    }

    /// The root's unwind is complete: its key destructors run, then it ends with the value
    /// glibc recorded (`pthread_exit`'s, or PTHREAD_CANCELED).
    ///
    /// # Safety
    /// Reached only from green_root_landing, on the root, once glibc unwound it.
    unsafe extern "C" fn ended() -> ! {
        // SAFETY: the descriptor's `result` word, which glibc set before unwinding.
        let retval = unsafe { *((crate::runtime::root_exit::descriptor() + crate::runtime::root_exit::RESULT) as *const *mut c_void) };
        crate::runtime::tsd::run_root_destructors();
        // SAFETY: hub thread, on the root, whose frames are all unwound (no Drop values).
        unsafe { green::exit_current(retval) }
    }
}

/// Points the oldest buffer of glibc's chain (`__libc_start_call_main`'s) at our landing,
/// once. False when there is no such buffer (the chain is empty, or not x86-64).
///
/// # Safety
/// Hub thread, on the root.
#[cfg(target_arch = "x86_64")]
unsafe fn redirect_start() -> bool {
    use core::sync::atomic::{AtomicBool, Ordering};
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.load(Ordering::Relaxed) {
        return true;
    }
    // SAFETY: the descriptor's `cleanup_jmp_buf` word, the head of the root's chain.
    let mut buf = unsafe { *((descriptor() + CLEANUP_JMP_BUF) as *const *mut usize) };
    if buf.is_null() {
        return false;
    }
    // SAFETY: every buffer on glibc's chain lives in a frame not yet left (the oldest in
    // __libc_start_call_main's, which never returns); `prev` links them.
    unsafe {
        while !(*buf.add(PREV) as *mut usize).is_null() {
            buf = *buf.add(PREV) as *mut usize;
        }
        *buf.add(JB_PC) = super::glibc_cancel_bits::mangle(landing::green_root_landing as *const () as usize);
    }
    DONE.store(true, Ordering::Relaxed);
    true
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn redirect_start() -> bool {
    false
}

/// pthread_exit on the root: glibc's unwind, then the landing. Where that cannot be, the
/// root ends at once, as before.
///
/// # Safety
/// Hub thread, on the root.
pub unsafe fn exit(retval: *mut c_void) -> ! {
    // SAFETY: as the caller's.
    unsafe { leave_wait() };
    // SAFETY: as the caller's.
    if unsafe { redirect_start() } {
        // SAFETY: glibc's pthread_exit on the root's own stack; it does not return.
        unsafe { real::pthread_exit(retval) };
    }
    // SAFETY: as the caller's.
    unsafe { green::exit_current(retval) }
}

/// pthread_cancel of the root. False where the root cannot be unwound.
///
/// # Safety
/// Hub thread only.
pub unsafe fn request(root: *mut Green) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: hub thread (caller).
        let rt = unsafe { rt() };
        if rt.current == root && rt.live == 0 {
            // SAFETY: on the root (the caller's promise and the test above).
            if !unsafe { redirect_start() } {
                return false;
            }
            // SAFETY: glibc's own request for itself; it acts at once when asynchronous.
            unsafe { real::pthread_cancel((*root).handle) };
            return true;
        }
        // SAFETY: the root's record lives as long as the runtime.
        unsafe { (*root).cancel.requested = true };
        rt.note_crowd();
        if rt.current == root {
            // SAFETY: on the root, in a hook that holds no runtime link.
            unsafe { point(true) };
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = root;
        false
    }
}

/// Whether the root has a request to act on at its next cancellation point (`anywhere`:
/// at a point where only asynchronous cancellation acts).
///
/// # Safety
/// Hub thread only.
pub unsafe fn due(anywhere: bool) -> bool {
    // SAFETY: hub thread (caller); the root's record lives as long as the runtime.
    let requested = unsafe { (*rt().root).cancel.requested };
    #[cfg(target_arch = "x86_64")]
    let state = cancelhandling();
    #[cfg(not(target_arch = "x86_64"))]
    let state = DISABLED;
    requested && state & DISABLED == 0 && (!anywhere || state & ASYNCHRONOUS != 0)
}

/// A cancellation point of the root: a request that is due goes to glibc, which acts on
/// it here.
///
/// # Safety
/// Hub thread, on the root, holding no link into runtime structures.
pub unsafe fn point(anywhere: bool) {
    // SAFETY: as the caller's.
    if !unsafe { due(anywhere) } || !unsafe { redirect_start() } {
        return;
    }
    // SAFETY: hub thread; the root's record lives as long as the runtime.
    let root = unsafe { rt() }.root;
    // SAFETY: as above; then glibc's own request for itself and its own point, on the root.
    unsafe {
        leave_wait();
        (*root).cancel.requested = false;
        rt().note_crowd();
        real::pthread_cancel((*root).handle);
        real::pthread_testcancel();
    }
}

/// Unlinks a wait the root is still linked into (a handler that runs inside it ends the
/// root) before glibc unwinds its frame (wait_leave.rs).
///
/// # Safety
/// Hub thread, on the root.
unsafe fn leave_wait() {
    // SAFETY: hub thread (caller); the root's record lives as long as the runtime.
    unsafe { (*rt().root).signals.leave.run() };
}
