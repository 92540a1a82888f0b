//! Lending the OS thread's glibc cancellation words to one green thread for a while
//! (x86-64; cancel_glibc.rs explains why and when).
//!
//! glibc's own cancellation points (the `write` inside `fprintf`, and every other call of
//! glibc's that is a cancellation point and that no hook of ours sees) look at
//! `THREAD_SELF->cancelhandling`, and act by unwinding to the buffer at
//! `%fs:cleanup_jmp_buf` (nptl/cancellation.c, `__do_cancel`). Both belong to the OS thread,
//! whose descriptor the root owns (root_exit.rs). `arm` saves what is there and puts in a
//! request (CANCELED) and the buffer to unwind to; `disarm` puts the saved words back. At
//! most one green thread is armed at a time, and never across a switch: the scheduler
//! disarms as soon as the thread it ran gives the OS thread back.

/// glibc 2.36's x86-64 `struct pthread` offsets (nptl/descr.h; ARCHITECTURE.md's table), of
/// the words lent here and of those root_exit.rs reads of the root's own.
#[cfg(target_arch = "x86_64")]
pub mod offsets {
    pub const CLEANUP_JMP_BUF: usize = 0x300;
    pub const CANCELHANDLING: usize = 0x308;
    pub const RESULT: usize = 0x628;
}

#[cfg(target_arch = "x86_64")]
mod x86_64 {
    use crate::runtime::glibc_cancel_bits::offsets::{CANCELHANDLING, CLEANUP_JMP_BUF, RESULT};
    use core::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering::Relaxed};

    /// glibc's CANCELED_BITMASK.
    const CANCELED: i32 = 1 << 3;

    static ARMED: AtomicBool = AtomicBool::new(false);
    static SAVED_HANDLING: AtomicI32 = AtomicI32::new(0);
    static SAVED_BUF: AtomicUsize = AtomicUsize::new(0);
    static SAVED_RESULT: AtomicUsize = AtomicUsize::new(0);

    fn pointer_guard() -> usize {
        let guard: usize;
        // SAFETY: reads the TCB's pointer_guard word, which glibc sets up for every thread;
        // every green thread's TLS copy holds the same value.
        unsafe { core::arch::asm!("mov {}, fs:[0x30]", out(reg) guard, options(nostack, readonly, preserves_flags)) };
        guard
    }

    /// glibc's PTR_MANGLE, as jump buffers hold the stack pointer, frame pointer and PC.
    pub fn mangle(value: usize) -> usize {
        (value ^ pointer_guard()).rotate_left(0x11)
    }

    /// glibc's PTR_DEMANGLE.
    pub fn demangle(value: usize) -> usize {
        value.rotate_right(0x11) ^ pointer_guard()
    }

    /// `%fs:cleanup_jmp_buf`: glibc reads it %fs-relative (THREAD_GETMEM), so in the running
    /// green thread's TLS copy when it has one.
    fn running_buf() -> usize {
        let buf: usize;
        // SAFETY: a word of the running thread's TCB (its own copy, or the OS thread's).
        unsafe { core::arch::asm!("mov {}, fs:[{at}]", out(reg) buf, at = const CLEANUP_JMP_BUF, options(nostack, readonly, preserves_flags)) };
        buf
    }

    fn set_running_buf(buf: usize) {
        // SAFETY: as above; the word is glibc's cleanup_jmp_buf, which only the thread
        // itself reads.
        unsafe { core::arch::asm!("mov fs:[{at}], {}", in(reg) buf, at = const CLEANUP_JMP_BUF, options(nostack, preserves_flags)) };
    }

    /// Puts a cancellation request in glibc's words, to be acted on by unwinding to `buf`.
    ///
    /// # Safety
    /// Hub thread, on the green thread that is to be cancelled, which keeps `buf` (a jump
    /// buffer as glibc's `__pthread_unwind_buf_t`) live until it is disarmed or unwound.
    pub unsafe fn arm(buf: usize) {
        if ARMED.swap(true, Relaxed) {
            disarm_words();
        }
        let pd = crate::sys::raw::thread_self();
        // SAFETY: the live descriptor's words; only the hub thread changes them while green
        // threads run (the root's own changes happen on the root, never armed).
        unsafe {
            let handling = (pd + CANCELHANDLING) as *mut i32;
            SAVED_HANDLING.store(core::ptr::read_volatile(handling), Relaxed);
            SAVED_RESULT.store(*((pd + RESULT) as *const usize), Relaxed);
            SAVED_BUF.store(running_buf(), Relaxed);
            set_running_buf(buf);
            core::ptr::write_volatile(handling, SAVED_HANDLING.load(Relaxed) | CANCELED);
        }
        ARMED.store(true, Relaxed);
    }

    /// Puts back what `arm` found, if a thread is armed. Hub thread only.
    #[inline]
    pub fn disarm() {
        if ARMED.load(Relaxed) {
            disarm_words();
        }
    }

    #[cold]
    fn disarm_words() {
        let pd = crate::sys::raw::thread_self();
        // SAFETY: as in `arm`; glibc may have added EXITING and the async type on acting,
        // which go with the rest.
        unsafe {
            core::ptr::write_volatile((pd + CANCELHANDLING) as *mut i32, SAVED_HANDLING.load(Relaxed));
            *((pd + RESULT) as *mut usize) = SAVED_RESULT.load(Relaxed);
        }
        set_running_buf(SAVED_BUF.load(Relaxed));
        ARMED.store(false, Relaxed);
    }
}

#[cfg(target_arch = "x86_64")]
pub use x86_64::{arm, demangle, disarm, mangle};

/// Nothing is ever armed elsewhere (green threads cannot be unwound there).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub fn disarm() {}
