//! x86-64: making an interrupted green thread "call" the yield (ARCHITECTURE.md, Preemption).
//!
//! The tick's handler rewrites the interrupted context so that the thread, when the handler
//! returns, runs `green_preempt_trampoline` as if it had been called at the interrupted
//! instruction: it moves the stack pointer below the 128-byte red zone (leaf code may keep
//! data there without moving %rsp), points %rip at the trampoline and leaves the
//! interrupted %rip in `RESUME_PC`. The handler writes nothing on the stack: right below the
//! red zone lies the kernel's signal frame, whose saved FP state the kernel checks and
//! restores at sigreturn. The trampoline's first instruction pushes `RESUME_PC` as its
//! return address (the frame is gone by then; no other preemption can come in between, as
//! the trampoline is this library's code, which is never preempted). Then it saves every register the interrupted code may be using (the general registers,
//! the flags, and the whole x87/SSE/AVX/AVX-512 state with `xsave`, or `fxsave` where the
//! OS has not enabled xsave), aligns the stack, calls [`super::preempt::preempted`] with
//! the interrupted %rip, restores everything, and returns with `ret 128`, which pops the
//! interrupted %rip and gives the red zone back: every register, the flags and the stack
//! are as they were.

use core::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};

/// Bytes of the save area (a multiple of 64), and whether it is an xsave area. The raw
/// system call trampoline (sud_x86_64.rs) saves the same state the same way.
pub(super) static SAVE_SIZE: AtomicU64 = AtomicU64::new(512);
pub(super) static USE_XSAVE: AtomicU8 = AtomicU8::new(0);
/// What the trampoline calls: an `extern "C" fn(pc: usize)`, set by `init` before any tick.
static ENTRY: AtomicUsize = AtomicUsize::new(0);
/// The interrupted %rip, from the handler to the trampoline's first instruction.
static RESUME_PC: AtomicUsize = AtomicUsize::new(0);

const RED_ZONE: usize = 128;

/// A trampoline that "is called" from an interrupted context (the handler moved %rsp below
/// the red zone and pointed %rip here): pushes the return address (`$push_return`), the
/// flags and the fifteen general registers, saves the FP/SIMD state (`xsave`, or `fxsave`),
/// aligns the stack, calls the function at `{entry}` with `$first_argument` in %rdi,
/// restores everything and returns with `ret 128`, which gives the red zone back. The
/// preemption and raw system call trampolines (sud_x86_64.rs) differ only in those two
/// instructions. The caller's operands must name `entry` (and whatever `$push_return` uses).
macro_rules! register_saving_trampoline {
    ($name:literal, push_return: $push_return:literal, first_argument: $first_argument:literal, $($operands:tt)*) => {
        core::arch::global_asm!(
            concat!(".pushsection .text.", $name, ",\"ax\",@progbits"),
            ".p2align 4",
            concat!(".hidden ", $name),
            concat!(".globl ", $name),
            concat!($name, ":"),
            $push_return,
            "pushfq",
            "push rax", "push rcx", "push rdx", "push rbx", "push rbp", "push rsi", "push rdi",
            "push r8", "push r9", "push r10", "push r11", "push r12", "push r13", "push r14", "push r15",
            "mov rbp, rsp",
            "and rsp, -64",
            "sub rsp, qword ptr [rip + {size}]",
            "cld",
            "cmp byte ptr [rip + {xsave}], 0",
            "je 2f",
            // xrstor refuses a header whose reserved bytes are not zero; xsave leaves them alone.
            "xor eax, eax",
            "mov qword ptr [rsp + 512], rax", "mov qword ptr [rsp + 520], rax",
            "mov qword ptr [rsp + 528], rax", "mov qword ptr [rsp + 536], rax",
            "mov qword ptr [rsp + 544], rax", "mov qword ptr [rsp + 552], rax",
            "mov qword ptr [rsp + 560], rax", "mov qword ptr [rsp + 568], rax",
            "mov eax, -1",
            "mov edx, -1",
            "xsave64 [rsp]",
            "jmp 3f",
            "2:",
            "fxsave64 [rsp]",
            "3:",
            $first_argument,
            "call qword ptr [rip + {entry}]",
            "cmp byte ptr [rip + {xsave}], 0",
            "je 4f",
            "mov eax, -1",
            "mov edx, -1",
            "xrstor64 [rsp]",
            "jmp 5f",
            "4:",
            "fxrstor64 [rsp]",
            "5:",
            "mov rsp, rbp",
            "pop r15", "pop r14", "pop r13", "pop r12", "pop r11", "pop r10", "pop r9", "pop r8",
            "pop rdi", "pop rsi", "pop rbp", "pop rbx", "pop rdx", "pop rcx", "pop rax",
            "popfq",
            "ret 128",
            ".popsection",
            size = sym $crate::runtime::preempt_x86_64::SAVE_SIZE,
            xsave = sym $crate::runtime::preempt_x86_64::USE_XSAVE,
            $($operands)*
        );
    };
}
pub(super) use register_saving_trampoline;

register_saving_trampoline!(
    "green_preempt_trampoline",
    push_return: "push qword ptr [rip + {resume}]",
    // The interrupted %rip: the return address, above the flags and 15 registers.
    first_argument: "mov rdi, qword ptr [rbp + 128]",
    entry = sym ENTRY,
    resume = sym RESUME_PC,
);

extern "C" {
    fn green_preempt_trampoline();
}

/// Records what the trampoline calls and finds how large the save area must be. Before
/// the first tick.
pub fn init(entry: extern "C" fn(usize)) {
    ENTRY.store(entry as usize, Relaxed);
    detect_save_area();
}

/// Sizes the FP/SIMD save area: xsave's for the features the OS enabled, else fxsave's.
pub(super) fn detect_save_area() {
    // CPUID.1:ECX bit 27: the OS enabled xsave (OSXSAVE).
    let features = core::arch::x86_64::__cpuid(1);
    if features.ecx & (1 << 27) == 0 {
        return;
    }
    // CPUID.(EAX=0xD,ECX=0):EBX: the xsave area size for the features enabled in XCR0.
    let size = core::arch::x86_64::__cpuid_count(0xd, 0).ebx as u64;
    if size >= 576 {
        SAVE_SIZE.store((size + 63) & !63, Relaxed);
        USE_XSAVE.store(1, Relaxed);
    }
}

/// The interrupted instruction's address.
///
/// # Safety
/// `context` is the ucontext_t the kernel passed to an SA_SIGINFO handler.
#[inline]
pub unsafe fn interrupted_pc(context: *mut libc::c_void) -> usize {
    let uc = context as *const libc::ucontext_t;
    // SAFETY: the kernel's ucontext for this signal (caller).
    unsafe { (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] as usize }
}

/// Makes the interrupted thread call the trampoline when the handler returns.
///
/// # Safety
/// `context` is the ucontext_t the kernel passed to an SA_SIGINFO handler on the hub
/// thread, and the interrupted code is the program's own (its stack has room for the
/// trampoline's frame, as for any call it could make).
pub unsafe fn redirect(context: *mut libc::c_void) {
    let uc = context as *mut libc::ucontext_t;
    // SAFETY: the kernel's ucontext (caller); we change only %rip and %rsp.
    let gregs = unsafe { &mut (*uc).uc_mcontext.gregs };
    RESUME_PC.store(gregs[libc::REG_RIP as usize] as usize, Relaxed);
    gregs[libc::REG_RSP as usize] -= RED_ZONE as i64;
    gregs[libc::REG_RIP as usize] = green_preempt_trampoline as *const () as usize as i64;
}
