//! execl, execlp and execle: variadic, so no Rust function can take their arguments, and
//! glibc builds them on its internal execve, out of our reach. Without a hook of their own, a
//! process that calls them without forking first (a launcher that sets up a socket and
//! becomes the server) passed our O_NONBLOCK on to the new program.
//!
//! Each is a small naked function that stores the argument registers next to each other and
//! hands the Rust side two pointers: to those registers, and to the caller's stack, where
//! arguments past the registers lie (the System V and AAPCS64 variadic conventions on Linux
//! pass pointer arguments exactly as named ones). The Rust side collects the NULL-terminated
//! list into an argv and calls our execv, execvp or execve hook, so the exec is made as
//! theirs is (descriptions released, the green thread's own mask).

use super::exec::{execv, execve, execvp};
use core::ffi::{c_char, c_int};

/// Argument registers of the C calling convention, stored in order by the trampolines.
#[cfg(target_arch = "x86_64")]
const REGISTER_ARGS: usize = 6;
#[cfg(target_arch = "aarch64")]
const REGISTER_ARGS: usize = 8;

/// Arguments held in a buffer on our stack; longer lists go to the heap.
const ON_STACK: usize = 256;

/// The variadic call's arguments, one machine word each, in order.
struct VarArgs {
    registers: *const usize,
    stack: *const usize,
}

impl VarArgs {
    /// The `i`th argument.
    ///
    /// # Safety
    /// The caller passed at least `i + 1` arguments.
    unsafe fn get(&self, i: usize) -> usize {
        // SAFETY: the first REGISTER_ARGS words were stored by the trampoline; later ones
        // are the caller's stack arguments, which it passed (the caller's promise).
        unsafe {
            if i < REGISTER_ARGS {
                *self.registers.add(i)
            } else {
                *self.stack.add(i - REGISTER_ARGS)
            }
        }
    }
}

/// Collects the NULL-terminated list that starts at argument `first` into an argv and calls
/// `exec(path, argv, argument after the NULL)`.
///
/// # Safety
/// The arguments are an exec*l call's: a NULL-terminated list of strings from `first`
/// (and, for execle, the environment after it).
unsafe fn with_argv(
    args: &VarArgs,
    first: usize,
    exec: impl FnOnce(*const *const c_char, usize) -> c_int,
) -> c_int {
    let mut on_stack = [core::ptr::null::<c_char>(); ON_STACK];
    let mut on_heap = Vec::new();
    let mut count = 0;
    loop {
        // SAFETY: the list goes on until its NULL (the caller's promise).
        let arg = unsafe { args.get(first + count) } as *const c_char;
        if count < ON_STACK - 1 {
            on_stack[count] = arg;
        } else {
            if on_heap.is_empty() {
                on_heap.extend_from_slice(&on_stack[..count]);
            }
            on_heap.push(arg);
        }
        count += 1;
        if arg.is_null() {
            break;
        }
    }
    let argv = if on_heap.is_empty() { on_stack.as_ptr() } else { on_heap.as_ptr() };
    // SAFETY: the argument after the list's NULL, read only by execle, which passes one.
    exec(argv, first + count)
}

/// execl(path, arg, ..., NULL), with its arguments as the trampoline stored them.
///
/// # Safety
/// As for execl(3).
unsafe extern "C" fn execl_args(registers: *const usize, stack: *const usize) -> c_int {
    let args = VarArgs { registers, stack };
    // SAFETY: execl's arguments: the path, then the list (the caller's promise).
    unsafe {
        let path = args.get(0) as *const c_char;
        with_argv(&args, 1, |argv, _| execv(path, argv))
    }
}

/// execlp(file, arg, ..., NULL), as above.
///
/// # Safety
/// As for execlp(3).
unsafe extern "C" fn execlp_args(registers: *const usize, stack: *const usize) -> c_int {
    let args = VarArgs { registers, stack };
    // SAFETY: execlp's arguments: the file, then the list (the caller's promise).
    unsafe {
        let file = args.get(0) as *const c_char;
        with_argv(&args, 1, |argv, _| execvp(file, argv))
    }
}

/// execle(path, arg, ..., NULL, envp), as above.
///
/// # Safety
/// As for execle(3).
unsafe extern "C" fn execle_args(registers: *const usize, stack: *const usize) -> c_int {
    let args = VarArgs { registers, stack };
    // SAFETY: execle's arguments: the path, the list, then the environment after its NULL
    // (the caller's promise).
    unsafe {
        let path = args.get(0) as *const c_char;
        with_argv(&args, 1, |argv, after| execve(path, argv, args.get(after) as *const *const c_char))
    }
}

/// A variadic hook: stores the argument registers in order, passes where they and the
/// caller's stack arguments are to `$args`, and returns what it returns.
macro_rules! variadic_trampoline {
    ($name:ident, $args:ident) => {
        /// # Safety
        /// As for the C library function of this name.
        #[unsafe(naked)]
        #[no_mangle]
        pub unsafe extern "C" fn $name() -> c_int {
            #[cfg(target_arch = "x86_64")]
            core::arch::naked_asm!(
                // On entry the caller's stack arguments start above the return address;
                // after the push they are at rbp + 16, and rsp is 16-byte aligned.
                "push rbp",
                "mov rbp, rsp",
                "sub rsp, 48",
                "mov [rsp], rdi",
                "mov [rsp + 8], rsi",
                "mov [rsp + 16], rdx",
                "mov [rsp + 24], rcx",
                "mov [rsp + 32], r8",
                "mov [rsp + 40], r9",
                "mov rdi, rsp",
                "lea rsi, [rbp + 16]",
                "call {args}",
                "leave",
                "ret",
                args = sym $args,
            );
            #[cfg(target_arch = "aarch64")]
            core::arch::naked_asm!(
                // The caller's stack arguments start at sp on entry, 80 bytes above the
                // frame made here.
                "stp x29, x30, [sp, #-80]!",
                "mov x29, sp",
                "stp x0, x1, [sp, #16]",
                "stp x2, x3, [sp, #32]",
                "stp x4, x5, [sp, #48]",
                "stp x6, x7, [sp, #64]",
                "add x0, sp, #16",
                "add x1, sp, #80",
                "bl {args}",
                "ldp x29, x30, [sp], #80",
                "ret",
                args = sym $args,
            );
        }
    };
}

variadic_trampoline!(execl, execl_args);
variadic_trampoline!(execlp, execlp_args);
variadic_trampoline!(execle, execle_args);
