//! sigaltstack per green thread. The kernel keeps one alternate signal stack per OS thread,
//! and every green thread shares the hub's: a thread that sets its own (Rust's std does, for
//! each thread it starts, and takes it down again when the thread ends) would take it from
//! every other green thread and from our SIGSEGV handler, which needs it to report a green
//! stack overflow (runtime/overflow.rs); one that frees its stack without taking it down
//! would leave the kernel writing signal frames into freed memory.
//!
//! So on the hub thread the kernel keeps the hub's alternate stack, and each green thread's
//! sigaltstack is its own record (`GreenSignals::alt_stack`), checked and reported back as
//! the kernel checks and reports it (linux kernel/signal.c, do_sigaltstack): EINVAL for a
//! flag other than 0, SS_ONSTACK or SS_DISABLE (SS_AUTODISARM aside), ENOMEM for a stack
//! under MINSIGSTKSZ, EPERM while a handler runs on the alternate stack, EFAULT for a
//! pointer the kernel could not read or write; the old stack comes back with SS_DISABLE,
//! SS_ONSTACK or 0 in its flags. A handler installed with SA_ONSTACK runs on the hub's
//! alternate stack (README.md, Limits). Any other OS thread: the real call.

use super::user_mem::{read_user, write_user};
use crate::runtime::green::Green;
use crate::runtime::signals::running;
use crate::runtime::{self, hub_alt_stack};
use crate::sys::{errno, raw, real};
use core::ffi::c_int;

/// The flag that takes the stack down while a handler runs on it (linux/signal.h).
const SS_AUTODISARM: c_int = 1 << 31;

/// # Safety
/// As for sigaltstack(2): `new` and `old` are null or point to stack_t (EFAULT if not).
#[no_mangle]
pub unsafe extern "C" fn sigaltstack(new: *const libc::stack_t, old: *mut libc::stack_t) -> c_int {
    // The running green thread's record, also inside a handler (the kernel's stack is the
    // hub thread's there too).
    let thread = running::thread();
    if !runtime::on_hub_thread() || thread == 0 {
        // SAFETY: the program's call as it made it.
        return unsafe { real::sigaltstack(new, old) };
    }
    let record = thread as *mut Green;
    let (low, size) = hub_alt_stack();
    let sp = raw::stack_pointer();
    let on_alt_stack = size != 0 && sp > low && sp <= low + size;
    // SAFETY: the running thread's record lives while it runs; its alt_stack is touched by
    // nothing but this call, on this thread.
    let current = unsafe { (*record).signals.alt_stack };
    let mut previous = libc::stack_t { ss_sp: current.0 as *mut _, ss_size: current.1, ss_flags: 0 };
    previous.ss_flags = if current.1 == 0 {
        libc::SS_DISABLE
    } else if on_alt_stack {
        libc::SS_ONSTACK
    } else {
        0
    } | (current.2 & SS_AUTODISARM);
    if !new.is_null() {
        // SAFETY: the program's pointer, read without faulting.
        let Some(wanted) = (unsafe { read_user(new) }) else { return errno::fail(libc::EFAULT) };
        let updated = match checked(&wanted, on_alt_stack) {
            Ok(updated) => updated,
            Err(e) => return errno::fail(e),
        };
        // SAFETY: as above.
        unsafe { (*record).signals.alt_stack = updated };
    }
    // SAFETY: the program's pointer, written without faulting.
    if !old.is_null() && !unsafe { write_user(old, previous) } {
        return errno::fail(libc::EFAULT);
    }
    0
}

/// The record a sigaltstack of `wanted` leaves, or the kernel's errno for it.
fn checked(wanted: &libc::stack_t, on_alt_stack: bool) -> Result<(usize, usize, i32), c_int> {
    if on_alt_stack {
        return Err(libc::EPERM);
    }
    let mode = wanted.ss_flags & !SS_AUTODISARM;
    if mode != 0 && mode != libc::SS_ONSTACK && mode != libc::SS_DISABLE {
        return Err(libc::EINVAL);
    }
    if mode == libc::SS_DISABLE {
        return Ok((0, 0, wanted.ss_flags));
    }
    if wanted.ss_size < libc::MINSIGSTKSZ {
        return Err(libc::ENOMEM);
    }
    Ok((wanted.ss_sp as usize, wanted.ss_size, wanted.ss_flags))
}
