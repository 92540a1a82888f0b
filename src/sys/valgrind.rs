//! Valgrind client requests: telling Valgrind where green thread stacks are.
//!
//! Valgrind follows the stack pointer to know which memory is stack. A jump of the stack
//! pointer to a stack it has not been told of looks like a huge frame or a stack it knows
//! nothing about; memcheck then misreads the green thread's frames, and Valgrind 3.19 even
//! dies of its own SIGSEGV on the first switch. `VALGRIND_STACK_REGISTER` (valgrind.h) is
//! the documented way for a coroutine library to say "this range is a stack".
//!
//! A client request is a magic instruction sequence: a run of rotations of one register
//! whose amounts add up to a whole turn (so it changes nothing on a real CPU), then a
//! marker instruction that also changes nothing. Under Valgrind the sequence hands the
//! address of six words (the request code and five arguments) to Valgrind and yields its
//! answer; on a real CPU the answer is the default that was passed in. It costs a few
//! instructions and is made only when a stack is mapped, unmapped or lent to us.
//!
//! The sequences and request codes are those of valgrind.h (the ABI Valgrind documents
//! for programs that do not include the header).

/// `VG_USERREQ__STACK_REGISTER`: (start, end) of a stack; answers its id.
const STACK_REGISTER: usize = 0x1501;
/// `VG_USERREQ__STACK_DEREGISTER`: (id).
const STACK_DEREGISTER: usize = 0x1502;

/// Hands `args` (request code and five arguments) to Valgrind; `default` when not under it.
#[inline(never)]
fn client_request(default: usize, args: &[usize; 6]) -> usize {
    let answer: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the four rotations of rdi add up to 128 bits, two whole turns, so rdi holds
    // its value afterwards; `xchg rbx, rbx` changes nothing. Only the flags change (the
    // block does not claim to preserve them). Valgrind reads `args` through rax and writes
    // its answer into rdx, which the block declares as an output.
    unsafe {
        core::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            in("rax") args.as_ptr(),
            inout("rdx") default => answer,
            options(nostack),
        );
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: the four rotations of x12 add up to 128 bits, two whole turns, so x12 holds
    // its value afterwards; `orr x10, x10, x10` changes nothing. Valgrind reads `args`
    // through x4 and writes its answer into x3, which the block declares as an output.
    unsafe {
        core::arch::asm!(
            "ror x12, x12, #3",
            "ror x12, x12, #13",
            "ror x12, x12, #51",
            "ror x12, x12, #61",
            "orr x10, x10, x10",
            in("x4") args.as_ptr(),
            inout("x3") default => answer,
            options(nostack),
        );
    }
    answer
}

/// Tells Valgrind that `[low, high)` is a stack; the answer is its id for [`forget_stack`]
/// (0 when not under Valgrind, where forgetting it does nothing either).
pub fn register_stack(low: usize, high: usize) -> usize {
    client_request(0, &[STACK_REGISTER, low, high, 0, 0, 0])
}

/// Tells Valgrind that the stack `id` ([`register_stack`]) is one no longer.
pub fn forget_stack(id: usize) {
    client_request(0, &[STACK_DEREGISTER, id, 0, 0, 0, 0]);
}
