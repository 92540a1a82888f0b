//! A green thread that runs into its guard page: one message naming it, then death by
//! SIGSEGV as natively (ARCHITECTURE.md, Diagnostics).
//!
//! Our SIGSEGV handler sits in the kernel from the start, with SA_ONSTACK, and the hub
//! thread gets an alternate signal stack (unless the program set one), because a thread
//! that overflowed has no stack left for a handler. The program's own SIGSEGV action (its
//! handler, always behind hooks/signal.rs's wrapper, or SIG_DFL, SIG_IGN) is recorded here
//! by `sigaction` instead of replacing ours, as preempt.rs does for SIGURG, and reported
//! back as the program's.
//!
//! In the handler (async-signal-safe: atomics, plain reads of the running thread's record,
//! raw system calls): a fault on the hub thread whose address is in the running green
//! thread's guard page, or below its stack with the stack pointer there too (a frame larger
//! than the guard jumps over it), is an overflow. We write the message with one write(2);
//! then the program's handler runs if it has one (as it would natively), else the default
//! action goes back in the kernel and the handler returns: the faulting instruction runs
//! again and the process dies of SIGSEGV with its core, as natively. Any other fault goes to
//! the program's action the same way, except code run on a green stack after glibc made
//! stacks executable: execstack.rs makes the stacks executable and the code runs again.

use super::program_action::{self, ProgramAction};
use super::signals::running;
use super::thread::Green;
use crate::sys::log::Line;
use crate::sys::raw;
use core::ffi::{c_int, c_void};
use core::fmt::Write;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

const SIGNAL: c_int = libc::SIGSEGV;
/// The alternate signal stack we give the hub thread: room for our message buffer and for a
/// program handler we chain to.
const ALT_STACK: usize = 256 << 10;
/// How far below a green stack a fault still counts as its overflow when the stack pointer
/// is below the stack too.
const REACH: usize = 1 << 20;

/// The program's own SIGSEGV action while our handler holds the kernel's.
static PROGRAM: ProgramAction = ProgramAction::new();
/// GREEN_STACK_SIZE's value (or the native default): a stack of another size was asked for.
static DEFAULT_STACK: AtomicUsize = AtomicUsize::new(0);
/// The hub thread's alternate signal stack in the kernel (low address, size; 0: none).
static HUB_ALT_STACK: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

/// The hub thread's alternate signal stack, which the kernel keeps whatever the program
/// asks of sigaltstack (hooks/sigaltstack.rs): (low address, size), size 0 for none.
pub fn hub_alt_stack() -> (usize, usize) {
    (HUB_ALT_STACK[0].load(Relaxed), HUB_ALT_STACK[1].load(Relaxed))
}

/// Puts our handler on SIGSEGV and gives the calling (hub) thread an alternate signal
/// stack. Failures leave the kernel's behaviour as it was: no message, same death.
///
/// # Safety
/// Hub thread, at start, before the program runs threads.
pub unsafe fn install(default_stack: usize) {
    DEFAULT_STACK.store(default_stack, Relaxed);
    super::execstack::note_native_stack();
    // SAFETY: hub thread at start (caller).
    if !unsafe { give_alt_stack() } {
        return;
    }
    // SAFETY: all-zero bytes are valid sigactions (plain data: empty masks).
    let (mut ours, mut old): (libc::sigaction, libc::sigaction) = unsafe { core::mem::zeroed() };
    ours.sa_sigaction = on_fault as *const () as usize;
    ours.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
    // SAFETY: our own readable action and writable old one.
    if unsafe { crate::sys::real::sigaction(SIGNAL, &ours, &mut old) } != 0 {
        return;
    }
    PROGRAM.record(&old);
    PROGRAM.set_installed(true);
}

/// Maps an alternate signal stack (with a guard page below it) for this thread, unless it
/// has one already. Whether the thread has one now.
///
/// # Safety
/// On the thread that is to get it.
unsafe fn give_alt_stack() -> bool {
    // Ours, not the program's: never trapped (sys/own_calls.rs).
    let _own = crate::sys::own_calls::own_calls();
    // SAFETY: all-zero bytes are a valid stack_t.
    let mut current: libc::stack_t = unsafe { core::mem::zeroed() };
    // SAFETY: sigaltstack only writes our stack_t.
    let r = unsafe { raw::syscall6(libc::SYS_sigaltstack, [0, &mut current as *mut _ as usize, 0, 0, 0, 0]) };
    if r == 0 && current.ss_flags & libc::SS_DISABLE == 0 {
        HUB_ALT_STACK[0].store(current.ss_sp as usize, Relaxed);
        HUB_ALT_STACK[1].store(current.ss_size, Relaxed);
        return true; // the program's own, kept
    }
    let page = super::stack::page_size();
    // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing aliases nothing.
    let Ok(low) = (unsafe {
        rustix::mm::mmap_anonymous(
            core::ptr::null_mut(),
            ALT_STACK + page,
            rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
            rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::NORESERVE,
        )
    }) else {
        return false;
    };
    // SAFETY: the lowest page of our own fresh mapping becomes its guard.
    let _ = unsafe { rustix::mm::mprotect(low, page, rustix::mm::MprotectFlags::empty()) };
    let stack = libc::stack_t { ss_sp: (low as usize + page) as *mut c_void, ss_flags: 0, ss_size: ALT_STACK };
    // SAFETY: sigaltstack reads our stack_t, which names memory we mapped for it for good.
    let given = unsafe { raw::syscall6(libc::SYS_sigaltstack, [&stack as *const _ as usize, 0, 0, 0, 0, 0]) == 0 };
    if given {
        HUB_ALT_STACK[0].store(stack.ss_sp as usize, Relaxed);
        HUB_ALT_STACK[1].store(ALT_STACK, Relaxed);
    }
    given
}

/// sigaction(2) for the program: on SIGSEGV, while our handler holds it, records the
/// program's action (and reports the previous one) without touching the kernel's; any
/// other signal goes to the real call.
///
/// # Safety
/// As for sigaction(2): `action` is null or readable, `old` null or writable.
pub unsafe fn sigaction(signal: c_int, action: *const libc::sigaction, old: *mut libc::sigaction) -> c_int {
    if signal != SIGNAL || !PROGRAM.installed() {
        // SAFETY: the caller's arguments, as they came.
        return unsafe { crate::sys::real::sigaction(signal, action, old) };
    }
    // SAFETY: as the caller's.
    unsafe { PROGRAM.exchange(action, old) }
}

extern "C" fn on_fault(signal: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext to an SA_SIGINFO handler.
    let (code, address, sp) = unsafe { ((*info).si_code, (*info).si_addr() as usize, stack_pointer(context)) };
    // SAFETY: our handler, with the kernel's arguments.
    if unsafe { super::execstack::retry(info, context) } {
        return; // the stack is executable now: the instruction runs again
    }
    if code > 0 && super::state::on_hub_thread() {
        let g = running::thread() as *const Green;
        // SAFETY: the running thread's record is live while it runs, and the hub thread
        // (interrupted, in its own code) does not write it while this handler reads.
        if let Some(g) = unsafe { g.as_ref() } {
            if overflowed(g, address, sp) {
                tell(g, address);
            }
        }
    }
    // SAFETY: our handler, with the kernel's arguments.
    unsafe { chain(signal, info, context) };
}

/// Whether a fault at `address`, with the stack pointer at `sp`, is `g` running off the
/// bottom of its stack.
fn overflowed(g: &Green, address: usize, sp: usize) -> bool {
    if g.guard_size == 0 || g.stack_low == 0 {
        return false; // the root's native stack, or one the program supplied
    }
    let guard_low = g.stack_low - g.guard_size;
    let in_guard = (guard_low..g.stack_low).contains(&address);
    let below = address < g.stack_low && sp < g.stack_low && sp + REACH > g.stack_low && address + REACH > g.stack_low;
    in_guard || below
}

/// The message, in one write(2).
fn tell(g: &Green, address: usize) {
    let mut line = Line::new();
    let _ = write!(line, "green thread {}", g.id);
    let name_len = g.name.iter().position(|&b| b == 0).unwrap_or(g.name.len());
    if name_len > 0 {
        line.push(b" \"");
        line.push(&g.name[..name_len]);
        line.push(b"\"");
    }
    let size = g.stack_size;
    let _ = write!(line, " overflowed its stack of {} (fault at {:#x}, in its guard page). ", Size(size), address);
    let default = DEFAULT_STACK.load(Relaxed);
    if size == default {
        let _ = write!(line, "Give it more with GREEN_STACK_SIZE (now {}), e.g. GREEN_STACK_SIZE={}", Size(size), Size(size * 2));
    } else {
        let _ = write!(line, "The program asked for {} with pthread_attr_setstacksize: ask for more there", Size(size));
    }
    line.emit();
}

/// A size as GREEN_STACK_SIZE takes it: "64K", "8M", or bytes.
struct Size(usize);

impl core::fmt::Display for Size {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            n if n >= 1 << 20 && n % (1 << 20) == 0 => write!(f, "{}M", n >> 20),
            n if n >= 1 << 10 && n % (1 << 10) == 0 => write!(f, "{}K", n >> 10),
            n => write!(f, "{}", n),
        }
    }
}

/// The interrupted stack pointer, from the kernel's ucontext.
///
/// # Safety
/// `context` is the kernel's ucontext for this signal.
unsafe fn stack_pointer(context: *mut c_void) -> usize {
    let uc = context as *const libc::ucontext_t;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the kernel's ucontext (caller).
    return unsafe { (*uc).uc_mcontext.gregs[libc::REG_RSP as usize] as usize };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: the kernel's ucontext (caller).
    return unsafe { (*uc).uc_mcontext.sp as usize };
}

/// The program's action for this fault: its handler (behind hooks/signal.rs's wrapper),
/// or the default action back in the kernel so that the fault, run again on return, kills
/// the process with its core as natively (a SIGSEGV sent with kill is raised again).
///
/// # Safety
/// In our handler, with the kernel's arguments.
unsafe fn chain(signal: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    let handler = PROGRAM.handler();
    // SAFETY: the kernel's siginfo.
    let code = unsafe { (*info).si_code };
    if handler == libc::SIG_IGN && code <= 0 {
        return; // a sent SIGSEGV the program ignores (a fault cannot be ignored)
    }
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        default_action(code);
        return;
    }
    let mut mask = PROGRAM.mask();
    if PROGRAM.flags() & libc::SA_NODEFER == 0 {
        // Our handler runs with SA_NODEFER: the kernel did not block the signal for it.
        mask |= super::signals::bit(signal);
    }
    // SAFETY: our handler of the fault (caller); the handler is a function (checked above).
    unsafe { PROGRAM.call(signal, info, context, mask) };
}

/// SIG_DFL in the kernel; a signal that was sent rather than caused is sent again (it is
/// not blocked: our handler runs with SA_NODEFER).
fn default_action(code: c_int) {
    program_action::reset_to_default(SIGNAL);
    PROGRAM.set_installed(false);
    if code <= 0 {
        // SIGSEGV's default action ends the process.
        program_action::default_action(SIGNAL);
    }
}
