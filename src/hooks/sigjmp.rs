//! `longjmp` and `siglongjmp`, the way out of a signal handler many programs take (a timeout
//! with `alarm`, a fault caught with SIGSEGV).
//!
//! * A handler the kernel ran on the hub thread counts as running until it returns
//!   (hooks/signal.rs), and while one runs every hook passes straight through. A jump out
//!   of it never returns, so the jump counts it out: every handler level whose own frames
//!   do not hold the target frame (runtime `signal_depth::leave_for`).
//! * `sigsetjmp(env, 1)` saved the signal mask, which glibc's jump puts back with its own
//!   system call, into the OS thread's real mask, which the runtime derives from every
//!   green thread's (runtime/sigroute.rs). So the saved mask becomes the running green
//!   thread's own, as `sigprocmask` would make it, and glibc jumps with a copy of the
//!   buffer that says no mask was saved. A jump out of a kernel-run handler without a saved
//!   mask leaves the handler's mask in force, natively the thread's: the running green
//!   thread takes it, and the real mask is derived again.
//!
//! The buffer is glibc's `struct __jmp_buf_tag`: the registers, `__mask_was_saved`, then
//! `__saved_mask`.

use super::hub::Hub;
use crate::runtime::signals::signal_depth;
use crate::runtime::{sigroute, SigSet};
use crate::sys::{log, real};
use core::ffi::{c_int, c_void};

/// Words of glibc's `__jmp_buf`.
#[cfg(target_arch = "x86_64")]
const REGISTERS: usize = 8;
#[cfg(target_arch = "aarch64")]
const REGISTERS: usize = 22;

#[repr(C)]
#[derive(Clone, Copy)]
struct JmpBuf {
    registers: [usize; REGISTERS],
    mask_was_saved: c_int,
    saved_mask: libc::sigset_t,
}

/// The stack pointer the jump lands with (x86-64: slot 6, mangled as glibc mangles it).
#[cfg(target_arch = "x86_64")]
fn target_sp(env: &JmpBuf) -> usize {
    crate::runtime::demangle_pointer(env.registers[6])
}

/// Elsewhere the slot is not known here: a jump counts as leaving every handler.
#[cfg(not(target_arch = "x86_64"))]
fn target_sp(_env: &JmpBuf) -> usize {
    usize::MAX
}

/// Does what the jump means to the runtime, and returns the buffer glibc is to jump with.
///
/// # Safety
/// `env` was filled by setjmp or sigsetjmp in a frame that is still live.
unsafe fn prepare(env: *mut c_void) -> JmpBuf {
    // SAFETY: a jump buffer (caller); copied, never written.
    let mut copy = unsafe { *(env as *const JmpBuf) };
    let left_handler = signal_depth::leave_for(target_sp(&copy));
    let Some(hub) = Hub::here() else { return copy };
    let g = hub.current();
    // SAFETY: a sigset_t starts with the kernel's 64 bits.
    let saved = unsafe { (&copy.saved_mask as *const libc::sigset_t as *const SigSet).read_unaligned() };
    let mask = if copy.mask_was_saved != 0 {
        Some(saved)
    } else if left_handler {
        // The OS thread's real mask now, the handler's.
        Some(sigroute::kernel_mask(libc::SIG_BLOCK, None))
    } else {
        None
    };
    // SAFETY: hub thread, outside handlers (`hub`); `g` is the running thread.
    unsafe {
        if let Some(mask) = mask {
            sigroute::set_mask(g, mask);
        }
        if left_handler {
            sigroute::rewrite_kernel_mask();
        }
        if mask.is_some() {
            sigroute::run_pending(g);
        }
    }
    copy.mask_was_saved = 0;
    copy
}

macro_rules! jump_hooks {
    ($($name:ident),*) => {$(
        /// # Safety
        /// As for the C library's function of this name: `env` was filled by setjmp or
        /// sigsetjmp in a frame that is still live.
        #[no_mangle]
        pub unsafe extern "C" fn $name(env: *mut c_void, value: c_int) -> ! {
            // SAFETY: the caller's buffer.
            let mut copy = unsafe { prepare(env) };
            // SAFETY: the same registers as the program's buffer; it does not return.
            unsafe { real::$name(&mut copy as *mut JmpBuf as *mut c_void, value) };
            log::fatal(&[concat!(stringify!($name), " returned").as_bytes()])
        }
    )*};
}

jump_hooks!(siglongjmp, longjmp, _longjmp, __longjmp_chk);
