//! glibc's own cancellation points, for green threads (x86-64).
//!
//! A green thread that loops in calls glibc makes cancellation points internally, which no
//! hook sees (`fprintf` to a file writes with glibc's internal `__write`; glibc's nptl
//! tst-cancel9), would never act on `pthread_cancel`: glibc looks for the request in the OS
//! thread's descriptor, and ours is in the green thread's record. So when such a thread
//! goes back to its own code after preemption (the one way back into the program that is
//! not through a hook of ours, which are cancellation points themselves where that is due)
//! with a request it would act on, the request is lent to glibc (glibc_cancel_bits.rs):
//! glibc's next internal cancellation point acts on it as for a native thread, unwinding
//! the green stack with its own stop function to the buffer we name:
//! * the thread's newest `pthread_cleanup_push` buffer: the macro runs the handler and calls
//!   `__pthread_unwind_next`, which is ours (cancel.rs), and our unwind goes on from there;
//! * with none, `LANDING`: its stack pointer is the thread's entry frame's when it called
//!   the start routine, so glibc runs every frame's cleanups up to the start routine's own,
//!   then jumps to `green_glibc_landing` on that stack pointer, where the thread ends as
//!   cancelled.
//!
//! The loan ends at the thread's next switch (green.rs `run`), when it acts on a request
//! our way (cancel.rs `end`), or changes its cancel state.

use super::cancel_state::UnwindBuf;
use super::glibc_cancel_bits as bits;
use super::green::{self, Green};
use super::state::rt;
use core::cell::UnsafeCell;

/// glibc's x86-64 jump buffer slots (sysdeps/x86_64/jmpbuf-offsets.h).
const JB_RBP: usize = 1;
const JB_RSP: usize = 6;
const JB_PC: usize = 7;

/// The buffer glibc unwinds to for a green thread with no cleanup buffer of its own; one
/// suffices, since one thread at most is armed.
struct Landing(UnsafeCell<UnwindBuf>);
// SAFETY: written and read by the hub thread only.
unsafe impl Sync for Landing {}

static LANDING: Landing = Landing(UnsafeCell::new(UnwindBuf {
    jump: [0; 8],
    mask_was_saved: 0,
    prev: core::ptr::null_mut(),
    cleanup: core::ptr::null_mut(),
    cancel_type: 0,
}));

/// After a preemption, on the thread about to go back to its code: lends it glibc's
/// cancellation words if a request is due.
///
/// # Safety
/// Hub thread, on a green thread back from preemption, in no hook and holding no runtime
/// link.
pub unsafe fn arm_if_due() {
    // SAFETY: hub thread (caller).
    let rt = unsafe { rt() };
    let g = rt.current;
    // SAFETY: the running thread's record is live.
    if g == rt.root || !unsafe { (*g).cancel.due(false) } || unsafe { (*g).cancel.entry_sp } == 0 {
        return;
    }
    // SAFETY: as above.
    let chain = unsafe { (*g).cancel.chain };
    let buf = if chain.is_null() {
        let landing = LANDING.0.get();
        // SAFETY: hub thread only; nobody is armed with LANDING now (arm replaces any loan).
        unsafe {
            (*landing).jump = [0; 8];
            (*landing).jump[JB_RBP] = bits::mangle(0);
            (*landing).jump[JB_RSP] = bits::mangle((*g).cancel.entry_sp);
            (*landing).jump[JB_PC] = bits::mangle(green_glibc_landing as *const () as usize);
        }
        landing
    } else {
        chain
    };
    // SAFETY: on `g`, whose entry frame (LANDING's stack pointer) and registered buffers
    // stay live until it ends or the loan does.
    unsafe { bits::arm(buf as usize) };
}

// glibc's __libc_unwind_longjmp arrives here with the stack pointer of the green thread's
// entry frame, every frame below it unwound; the call needs it 16-byte aligned.
core::arch::global_asm!(
    ".pushsection .text.green_glibc_landing,\"ax\",@progbits",
    ".p2align 4",
    ".globl green_glibc_landing",
    ".hidden green_glibc_landing",
    ".type green_glibc_landing,@function",
    "green_glibc_landing:",
    "and rsp, -16",
    "call {ended}",
    "ud2",
    ".size green_glibc_landing, .-green_glibc_landing",
    ".popsection",
    ended = sym ended,
);

extern "C" {
    fn green_glibc_landing();
}

/// glibc acted on the lent request and unwound the whole thread: it ends as cancelled.
///
/// # Safety
/// Reached only from green_glibc_landing, on the armed green thread.
unsafe extern "C" fn ended() -> ! {
    bits::disarm();
    // SAFETY: hub thread; the running thread is the armed one, live.
    let g: *mut Green = unsafe { rt() }.current;
    // SAFETY: as above.
    unsafe { (*g).cancel.exiting = true };
    // SAFETY: hub thread, on `g`, whose frames are all unwound (no Drop values).
    unsafe { green::exit_current(super::cancel::CANCELED) }
}
