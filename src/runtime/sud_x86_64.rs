//! x86-64: where a trapped raw system call goes after the SIGSYS handler returns
//! (ARCHITECTURE.md, Raw system calls).
//!
//! The kernel stops a trapped `syscall` instruction before it runs, rolls %rax back to the
//! system call number and leaves %rip after the instruction, so the ucontext holds the call
//! exactly as the program made it: number in %rax, arguments in %rdi, %rsi, %rdx, %r10,
//! %r8, %r9. %rcx and %r11 are dead at a `syscall` (the kernel clobbers them), so the
//! handler may use %rcx to hand the resume address over: a register travels with the
//! context through sigreturn and any signal that comes in between, where a static would
//! not. Two ways out of the handler:
//!
//! * **Routed** (`green_sud_route_trampoline`): as the preemption trampoline
//!   (preempt_x86_64.rs), the thread "calls" the trampoline below the 128-byte red zone: it
//!   pushes the resume address, the flags and the fifteen general registers, saves the
//!   FP/SIMD state (`xsave`, or `fxsave`), calls the entry with the address of the saved
//!   registers, restores everything and returns with `ret 128`. The entry replaces the
//!   saved %rax with the result, so the program sees what the kernel would have given it.
//! * **Direct** (`green_sud_direct`): the `syscall` instruction made again, from our code,
//!   with the context untouched (the stack pointer too: clone's child, vfork and
//!   rt_sigreturn need it as it was). The handler set the selector to ALLOW and the resume
//!   address in `RESUME`; after the call the gadget loads `RESUME` into %rcx (dead, as after
//!   any syscall) *before* it sets the selector back to BLOCK, and jumps there. Until the
//!   selector is BLOCK again no call traps, so no nested SIGSYS can overwrite `RESUME`
//!   while it is still needed. A clone child or a fork child runs the same three
//!   instructions and lands at the same place, as natively.

use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The hub thread's selector byte and its values (sys/own_calls.rs: our own calls set it to
/// ALLOW around themselves); the gadget sets it back to BLOCK.
pub use crate::sys::own_calls::{SUD_ALLOW as ALLOW, SUD_BLOCK as BLOCK, SUD_SELECTOR as SELECTOR};

/// What the routed trampoline calls: an `extern "C" fn(regs: *mut u64)`.
static ENTRY: AtomicUsize = AtomicUsize::new(0);
/// Where the direct gadget resumes; written by the handler with the selector at ALLOW.
static RESUME: AtomicUsize = AtomicUsize::new(0);

const RED_ZONE: i64 = 128;

/// Offsets (in words) of the registers the trampoline saves, from the lowest address.
pub const RAX: usize = 14;
pub const RDI: usize = 8;
pub const RSI: usize = 9;
pub const RDX: usize = 12;
pub const R10: usize = 5;
pub const R8: usize = 7;
pub const R9: usize = 6;

// The resume address travels in %rcx (dead at a `syscall`); the entry gets the address of
// the saved registers.
super::preempt_x86_64::register_saving_trampoline!(
    "green_sud_route_trampoline",
    push_return: "push rcx",
    first_argument: "mov rdi, rbp",
    entry = sym ENTRY,
);

core::arch::global_asm!(
    ".pushsection .text.green_sud_direct,\"ax\",@progbits",
    ".p2align 4",
    ".hidden green_sud_direct",
    ".globl green_sud_direct",
    "green_sud_direct:",
    "syscall",
    "mov rcx, qword ptr [rip + {resume}]",
    "mov byte ptr [rip + {selector}], 1", // BLOCK
    "jmp rcx",
    ".popsection",
    resume = sym RESUME,
    selector = sym SELECTOR,
);

extern "C" {
    fn green_sud_route_trampoline();
    fn green_sud_direct();
}

/// Records what the routed trampoline calls and sizes its save area. Before enabling.
pub fn init(entry: extern "C" fn(*mut u64)) {
    ENTRY.store(entry as usize, Relaxed);
    super::preempt_x86_64::detect_save_area();
}

/// The trapped call's number (the kernel rolled %rax back to it).
///
/// # Safety
/// `context` is the ucontext_t the kernel passed to the SIGSYS handler.
pub unsafe fn number(context: *mut libc::c_void) -> i64 {
    let uc = context as *const libc::ucontext_t;
    // SAFETY: the kernel's ucontext for this signal (caller).
    unsafe { (*uc).uc_mcontext.gregs[libc::REG_RAX as usize] }
}

/// Makes the thread run the routed trampoline when the handler returns.
///
/// # Safety
/// `context` is the kernel's ucontext for a SIGSYS of Syscall User Dispatch on the hub
/// thread, trapped in the program's own code (its stack has room for the trampoline's
/// frame, as for any call it could make).
pub unsafe fn route(context: *mut libc::c_void) {
    let uc = context as *mut libc::ucontext_t;
    // SAFETY: the kernel's ucontext (caller); %rcx is dead at a syscall instruction.
    let gregs = unsafe { &mut (*uc).uc_mcontext.gregs };
    gregs[libc::REG_RCX as usize] = gregs[libc::REG_RIP as usize];
    gregs[libc::REG_RSP as usize] -= RED_ZONE;
    gregs[libc::REG_RIP as usize] = green_sud_route_trampoline as *const () as usize as i64;
}

/// Makes the thread make the call itself, from our code, when the handler returns, with
/// the selector at ALLOW for that call (the gadget sets it back).
///
/// # Safety
/// As for `route`, from any code.
pub unsafe fn direct(context: *mut libc::c_void) {
    let uc = context as *mut libc::ucontext_t;
    // SAFETY: the kernel's ucontext (caller); only %rip changes.
    let gregs = unsafe { &mut (*uc).uc_mcontext.gregs };
    RESUME.store(gregs[libc::REG_RIP as usize] as usize, Relaxed);
    SELECTOR.store(ALLOW, Relaxed);
    gregs[libc::REG_RIP as usize] = green_sud_direct as *const () as usize as i64;
}
