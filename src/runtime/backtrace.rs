//! Backtraces of an interrupted green thread, for the watchdog (runtime/watchdog.rs). A leaf
//! of the runtime.
//!
//! Two halves, for two contexts:
//! * [`capture`] runs in the preemption tick's signal handler: it reads the interrupted
//!   registers and follows the frame-pointer chain on the thread's own stack. It only reads
//!   memory inside the stack's bounds, at 8-byte aligned addresses, going up: no call, no
//!   allocation, no lock. Code built without frame pointers leaves %rbp holding anything:
//!   the walk stops at the first link that leaves the bounds or does not go up, so what it
//!   returns may be short or end in a wrong frame, but the first entry is always the
//!   interrupted PC itself.
//! * [`describe`] runs later, outside the handler: it names an address with `dladdr`,
//!   which reads the loader's symbol tables (the exported symbols: `-rdynamic` for a
//!   program's own functions). glibc's `dladdr` takes the loader's lock through its own
//!   internal calls, never through a symbol the library exports, so no hook runs.

use crate::sys::log::Line;
use core::ffi::{c_void, CStr};
use core::fmt::Write;

/// The deepest backtrace kept.
pub const MAX_FRAMES: usize = 16;

/// A main thread's stack deeper than this below its top is not walked (a handler on an
/// alternate stack would otherwise make us read the gap between the two).
const ROOT_STACK_LIMIT: usize = 64 << 20;

/// Where the interrupted code was: its PC, stack pointer and frame pointer.
#[derive(Clone, Copy, Default)]
pub struct Registers {
    pub pc: usize,
    pub sp: usize,
    pub fp: usize,
}

/// The interrupted registers.
///
/// # Safety
/// `context` is the ucontext_t the kernel passed to an SA_SIGINFO handler.
#[cfg(target_arch = "x86_64")]
pub unsafe fn registers(context: *mut c_void) -> Registers {
    let uc = context as *const libc::ucontext_t;
    // SAFETY: the kernel's ucontext for this signal (caller); plain reads.
    let gregs = unsafe { &(*uc).uc_mcontext.gregs };
    let reg = |r: i32| gregs[r as usize] as usize;
    Registers { pc: reg(libc::REG_RIP), sp: reg(libc::REG_RSP), fp: reg(libc::REG_RBP) }
}

/// Elsewhere the tick does not run (preempt.rs); nothing to read.
///
/// # Safety
/// None beyond x86-64's.
#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn registers(_context: *mut c_void) -> Registers {
    Registers::default()
}

/// The stack a thread runs on, `[low, high)`: a green thread's own (`size` > 0), or the
/// main thread's (`size` == 0), which ends at glibc's `__libc_stack_end`.
pub fn bounds(low: usize, size: usize, sp: usize) -> (usize, usize) {
    if size != 0 {
        return (low, low + size);
    }
    extern "C" {
        static __libc_stack_end: *mut c_void;
    }
    // SAFETY: the loader sets it before any code of ours runs and never changes it.
    let top = unsafe { __libc_stack_end } as usize;
    (top.saturating_sub(ROOT_STACK_LIMIT).max(sp.min(top)), top)
}

/// Fills `out` with the interrupted PC and the return addresses of the frame-pointer chain,
/// within the stack `[low, high)`; returns how many. Async-signal-safe.
///
/// # Safety
/// `[low, high)` is mapped, readable memory while the call runs (the interrupted thread's
/// stack), and `out` is not empty.
pub unsafe fn capture(regs: Registers, low: usize, high: usize, out: &mut [usize]) -> usize {
    out[0] = regs.pc;
    let mut n = 1;
    if !cfg!(target_arch = "x86_64") || regs.sp < low || regs.sp >= high {
        return n; // not on its own stack (an alternate signal stack): the PC only
    }
    let (mut fp, mut floor) = (regs.fp, regs.sp);
    while n < out.len() {
        // A frame is [saved fp, return address] at fp, above everything walked so far.
        if fp < floor || fp % 8 != 0 || fp.saturating_add(16) > high {
            break;
        }
        // SAFETY: fp..fp+16 lies inside the stack bounds (checked), readable (caller).
        let (next, ret) = unsafe { ((fp as *const usize).read_volatile(), ((fp + 8) as *const usize).read_volatile()) };
        if ret == 0 {
            break;
        }
        out[n] = ret;
        n += 1;
        floor = fp + 16;
        fp = next;
    }
    n
}

/// Appends one frame to `line`: `#i 0xADDR symbol+0xOFF (object)`, with what the loader
/// knows. A return address (i > 0) is looked up one byte back, inside the call. Not from a
/// signal handler (dladdr takes the loader's lock).
pub fn describe(line: &mut Line, index: usize, pc: usize) {
    let _ = write!(line, "  #{index} {pc:#x}");
    let probe = if index == 0 { pc } else { pc.wrapping_sub(1) };
    // SAFETY: all-zero bytes are a valid Dl_info (null pointers).
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    // SAFETY: dladdr only reads the loader's tables and writes our Dl_info.
    if unsafe { libc::dladdr(probe as *const c_void, &mut info) } == 0 {
        line.push(b" ?");
        return;
    }
    let text = |p: *const libc::c_char| {
        // SAFETY: dladdr's names are NUL-terminated strings owned by the loader, alive while
        // the object is loaded (for the length of this call).
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes())
    };
    match text(info.dli_sname) {
        Some(name) => {
            line.push(b" ");
            line.push(name);
            let _ = write!(line, "+{:#x}", pc.wrapping_sub(info.dli_saddr as usize));
        }
        None => line.push(b" ?"),
    }
    if let Some(object) = text(info.dli_fname).filter(|name| !name.is_empty()) {
        line.push(b" (");
        line.push(object);
        line.push(b")");
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::backtrace::*;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_walk_follows_frames_up_and_stops_at_a_bad_link() {
        // A fake stack: three frames going up, then a link that goes down.
        let mut stack = [0usize; 16];
        let slots = stack.as_mut_ptr();
        let base = slots as usize;
        let at = |i: usize| base + i * 8;
        // SAFETY: every index is inside the array, written through its one pointer.
        let set = |i: usize, value: usize| unsafe { slots.add(i).write(value) };
        set(2, at(6)); // frame 0 at slot 2: next frame at slot 6
        set(3, 0x1111);
        set(6, at(10));
        set(7, 0x2222);
        set(10, at(4)); // goes down: the walk ends after this frame
        set(11, 0x3333);
        let regs = Registers { pc: 0x9999, sp: at(0), fp: at(2) };
        let mut out = [0usize; MAX_FRAMES];
        // SAFETY: the bounds are the array, alive and readable.
        let n = unsafe { capture(regs, base, base + 16 * 8, &mut out) };
        assert_eq!(&out[..n], &[0x9999, 0x1111, 0x2222, 0x3333]);
        // A frame pointer outside the bounds or misaligned: the PC only.
        for fp in [0, 1, at(2) + 3, base + 16 * 8] {
            let regs = Registers { fp, ..regs };
            // SAFETY: as above.
            assert_eq!(unsafe { capture(regs, base, base + 16 * 8, &mut out) }, 1, "{fp:#x}");
        }
        // A stack pointer off the stack: the PC only.
        let regs = Registers { sp: base - 64, ..regs };
        // SAFETY: as above.
        assert_eq!(unsafe { capture(regs, base, base + 16 * 8, &mut out) }, 1);
    }
}
