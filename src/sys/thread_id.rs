//! Which OS thread this is, in one instruction and without a system call: for the hooks'
//! "am I on the hub thread?" and for Syscall User Dispatch's own-call check (own_calls.rs).

use core::arch::asm;

/// The OS thread's thread pointer: unique per live OS thread and readable in one
/// instruction, so hooks can tell "am I on the hub thread?" without TLS or a syscall.
#[inline(always)]
pub fn thread_pointer() -> usize {
    let tp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: on x86-64 glibc, %fs:0 holds the TCB's self pointer; the read has no effects.
    unsafe {
        asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly, preserves_flags))
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reading TPIDR_EL0 has no side effects.
    unsafe {
        asm!("mrs {}, tpidr_el0", out(reg) tp, options(nomem, nostack, preserves_flags))
    };
    tp
}

/// Who this OS thread is, in one instruction: glibc's THREAD_SELF, the address of its
/// thread descriptor. It equals the thread pointer of every thread glibc made, and stays the
/// hub thread's own while %fs points at a green thread's TLS copy (runtime/tls_area.rs).
#[inline(always)]
pub fn thread_self() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let this: usize;
        // SAFETY: on x86-64 glibc, %fs:16 holds the descriptor's self pointer (tcbhead_t.self);
        // the read has no effects.
        unsafe { asm!("mov {}, fs:16", out(reg) this, options(nostack, readonly, preserves_flags)) };
        this
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        thread_pointer()
    }
}
