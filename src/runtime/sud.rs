//! Raw system calls: a `syscall` instruction outside the C library (inline assembly in a
//! program or another library, JIT-compiled code) takes the green path too
//! (ARCHITECTURE.md, Raw system calls). Opt-in: GREEN_RAW_SYSCALLS=1.
//!
//! Syscall User Dispatch (Linux 5.11+, `PR_SET_SYSCALL_USER_DISPATCH`), on the hub thread
//! only (the kernel gives it neither to new threads nor to fork children, and exec clears
//! it). The C library's executable segment is the one range whose calls never trap: every
//! libc function, and with it every hook's real call, runs as before. Any other `syscall`
//! made while the selector byte reads BLOCK raises SIGSYS before it runs, and our handler
//! (which makes no system call) rewrites the context:
//!
//! * a blocking call the hooks route (`set_router`, hooks/syscall_route.rs), made by the
//!   program's own code on the hub thread outside a signal handler, goes to a trampoline
//!   that calls the router outside signal context (it may park) and resumes after the
//!   instruction with the result in %rax as the kernel gives it (-errno);
//! * anything else (a non-blocking call, a call from this library, the loader or the vDSO,
//!   one made in a signal handler) is made again as it was, from a three-instruction
//!   gadget in our code, with the selector at ALLOW for that one call (sud_x86_64.rs).
//!
//! This library's own raw calls (rustix, `sys::raw`) are outside the C library: they set
//! the selector to ALLOW around themselves (sys/own_calls.rs). SIGSYS is kept out of every
//! real mask and handler mask while dispatch is on (`signals::never_blocked`, `sigaction`
//! below): the kernel forces a trap's SIGSYS and kills a thread that blocks it. Off by
//! default: dispatch slows every system call of the thread, libc's included (README,
//! "Raw system calls").
//!
//! SIGSYS is the program's too (seccomp's SECCOMP_RET_TRAP, `kill`): a SIGSYS that is not
//! Syscall User Dispatch's goes to the action the program installed through our
//! `sigaction` hook, which records it here, as preempt.rs does for SIGURG.

use super::program_action::{self, ProgramAction};
use super::codemap;
use super::signals::bit;
#[cfg(target_arch = "x86_64")]
use super::{signals::signal_depth, state};
use crate::sys::{log, own_calls, raw};
use core::ffi::{c_int, c_long, c_void, CStr};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

#[cfg(target_arch = "x86_64")]
use super::sud_x86_64 as arch;
use arch::{ALLOW, BLOCK, SELECTOR};

/// Elsewhere dispatch stays off (`configure`); only the selector is named.
#[cfg(not(target_arch = "x86_64"))]
mod arch {
    pub use crate::sys::own_calls::{SUD_ALLOW as ALLOW, SUD_BLOCK as BLOCK, SUD_SELECTOR as SELECTOR};
}

const PR_SET_SYSCALL_USER_DISPATCH: usize = 59;
const PR_SYS_DISPATCH_ON: usize = 1;
/// si_code of a SIGSYS raised by Syscall User Dispatch.
const SYS_USER_DISPATCH: c_int = 2;
/// si_arch of a 64-bit `syscall` (AUDIT_ARCH_X86_64); `int 0x80` gives AUDIT_ARCH_I386.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// Whether dispatch is on in this process (on its hub thread).
static ON: AtomicBool = AtomicBool::new(false);
/// The C library's executable range, [start, end).
static LIBC_START: AtomicUsize = AtomicUsize::new(0);
static LIBC_END: AtomicUsize = AtomicUsize::new(0);

/// The hooks' side: which numbers they route, and the routing (kernel convention result, or
/// None when the raw call must be made).
pub type Routes = fn(c_long) -> bool;
pub type Router = unsafe fn(c_long, [usize; 6]) -> Option<c_long>;
static ROUTES: AtomicUsize = AtomicUsize::new(0);
static ROUTER: AtomicUsize = AtomicUsize::new(0);

/// The program's own SIGSYS action while our handler holds the kernel's.
static PROGRAM: ProgramAction = ProgramAction::new();

/// Gives the runtime the hooks' routing of blocking system calls (lib.rs, at start).
pub fn set_router(routes: Routes, router: Router) {
    ROUTER.store(router as usize, Relaxed);
    ROUTES.store(routes as usize, Relaxed);
}

/// At start, on the hub thread: turns dispatch on when GREEN_RAW_SYSCALLS=1 asks for it.
pub fn configure(wanted: bool) {
    if !wanted {
        return;
    }
    if cfg!(not(target_arch = "x86_64")) {
        log::log!(Info, "raw system calls are not covered on this architecture (x86-64 only for now)");
        return;
    }
    let Some((start, end)) = libc_text() else {
        log::log!(Info, "raw system calls are not covered: the C library's code was not found");
        return;
    };
    LIBC_START.store(start, Relaxed);
    LIBC_END.store(end, Relaxed);
    #[cfg(target_arch = "x86_64")]
    arch::init(routed);
    codemap::refresh();
    // SAFETY: at start, on the hub thread.
    if !PROGRAM.installed() && !unsafe { install_handler() } {
        log::log!(Info, "raw system calls are not covered: SIGSYS could not be handled");
        return;
    }
    match turn_on() {
        0 => {
            ON.store(true, Relaxed);
            // A trap with SIGSYS blocked kills the process: from now on no real mask and no
            // handler's mask blocks it (signals.rs, `never_blocked`), starting with this one.
            super::signals::trapping_raw_syscalls();
            super::sigroute::kernel_mask(libc::SIG_UNBLOCK, Some(super::signals::bit(libc::SIGSYS)));
            log::log!(Info, "raw system calls are covered (Syscall User Dispatch)");
        }
        e if e == libc::EINVAL => {
            log::log!(Info, "raw system calls are not covered: this kernel has no Syscall User Dispatch (Linux 5.11+)")
        }
        e => log::log!(Info, "raw system calls are not covered (prctl errno {})", e),
    }
}

/// In a forked child's hub: the kernel did not carry dispatch over to it.
pub fn after_fork() {
    if ON.load(Relaxed) && turn_on() != 0 {
        ON.store(false, Relaxed);
        own_calls::set_sud_thread(0);
    }
}

/// Turns dispatch on for the calling thread; returns 0 or the errno.
fn turn_on() -> i32 {
    let (start, end) = (LIBC_START.load(Relaxed), LIBC_END.load(Relaxed));
    SELECTOR.store(ALLOW, Relaxed);
    let selector = SELECTOR.as_ptr() as usize;
    let args = [PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, start, end - start, selector, 0];
    // SAFETY: prctl reads our arguments; the selector is a static byte, alive for ever.
    let r = unsafe { raw::syscall6(libc::SYS_prctl, args) };
    if r < 0 {
        return -r as i32;
    }
    own_calls::set_sud_thread(raw::thread_self());
    SELECTOR.store(BLOCK, Relaxed);
    0
}

/// The C library's executable segment(s), as one range.
fn libc_text() -> Option<(usize, usize)> {
    extern "C" fn find(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
        // SAFETY: dl_iterate_phdr hands a valid entry for the call; `data` is our pair.
        let (info, found) = unsafe { (&*info, &mut *(data as *mut (usize, usize))) };
        if info.dlpi_name.is_null() || info.dlpi_phdr.is_null() {
            return 0;
        }
        // SAFETY: a non-null dlpi_name is a NUL-terminated path.
        let name = unsafe { CStr::from_ptr(info.dlpi_name) }.to_bytes();
        let base = name.rsplit(|&b| b == b'/').next().unwrap_or(name);
        if !base.starts_with(b"libc.so") {
            return 0;
        }
        // SAFETY: the entry's program headers, dlpi_phnum of them, live as long as the object.
        let segments = unsafe { core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
        for p in segments.iter().filter(|p| p.p_type == libc::PT_LOAD && p.p_flags & libc::PF_X != 0) {
            let start = info.dlpi_addr as usize + p.p_vaddr as usize;
            let end = start + p.p_memsz as usize;
            *found = if found.1 == 0 { (start, end) } else { (found.0.min(start), found.1.max(end)) };
        }
        1
    }
    let mut found = (0usize, 0usize);
    // SAFETY: `find` matches dl_iterate_phdr's contract and writes only our local.
    unsafe { libc::dl_iterate_phdr(Some(find), &mut found as *mut (usize, usize) as *mut c_void) };
    (found.1 > found.0).then_some(found)
}

/// Puts our handler on SIGSYS, keeping what was there as the program's action.
///
/// # Safety
/// Hub thread, at start.
unsafe fn install_handler() -> bool {
    // SAFETY: all-zero bytes are valid sigactions (plain data: empty masks).
    let (mut ours, mut old): (libc::sigaction, libc::sigaction) = unsafe { core::mem::zeroed() };
    ours.sa_sigaction = on_sigsys as *const () as usize;
    ours.sa_flags = libc::SA_SIGINFO;
    // Nothing nests in the handler: a handler of ours interrupting it would make its raw
    // calls with SIGSYS blocked, and a trap then kills the process. What comes meanwhile
    // is delivered after sigreturn, in the program's code or with the selector at ALLOW.
    // SAFETY: sigfillset writes the set it is given, ours.
    unsafe { libc::sigfillset(&mut ours.sa_mask) };
    // SAFETY: our own readable action and writable old one; glibc's sigaction gives the
    // handler glibc's restorer, whose rt_sigreturn is in the C library and never traps.
    if unsafe { crate::sys::real::sigaction(libc::SIGSYS, &ours, &mut old) } != 0 {
        return false;
    }
    PROGRAM.record(&old);
    PROGRAM.set_installed(true);
    true
}

/// The SIGSYS handler. It makes no system call: the selector may read BLOCK, and a trap
/// in here, with SIGSYS blocked, would kill the process.
extern "C" fn on_sigsys(signal: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let code = unsafe { (*info).si_code };
    if code != SYS_USER_DISPATCH || !ON.load(Relaxed) {
        // SAFETY: the program's action gets what the kernel gave us.
        unsafe { chain(signal, info, context) };
    } else {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a SIGSYS of Syscall User Dispatch with the kernel's siginfo and ucontext.
        unsafe {
            dispatch(info, context)
        };
    }
}

/// Where a trapped call goes: the routed trampoline or the direct gadget.
///
/// # Safety
/// In `on_sigsys`, for a SIGSYS of Syscall User Dispatch.
#[cfg(target_arch = "x86_64")]
unsafe fn dispatch(info: *mut libc::siginfo_t, context: *mut c_void) {
    // SAFETY: si_arch sits after si_call_addr (a pointer) and si_syscall (an int) in the
    // SIGSYS member of the kernel's siginfo, which begins 16 bytes in.
    let arch_id = unsafe { *((info as *const u8).add(16 + 8 + 4) as *const u32) };
    if arch_id != AUDIT_ARCH_X86_64 {
        // An `int 0x80` call: make it again, natively, and stop covering (the gadget speaks
        // the 64-bit convention only). The instruction is two bytes, as `syscall`.
        SELECTOR.store(ALLOW, Relaxed);
        ON.store(false, Relaxed);
        let uc = context as *mut libc::ucontext_t;
        // SAFETY: the kernel's ucontext for this signal.
        unsafe { (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] -= 2 };
        return;
    }
    // SAFETY: the kernel's ucontext for this signal.
    let (number, pc) = unsafe { (arch::number(context), super::preempt_x86_64::interrupted_pc(context)) };
    if routable(number as c_long, pc) {
        // SAFETY: program code on the hub thread, outside any handler (checked).
        unsafe { arch::route(context) };
    } else {
        // SAFETY: the kernel's ucontext for this signal.
        unsafe { arch::direct(context) };
    }
}

/// Whether the call at `pc` takes the green path: a number the hooks route, made by the
/// program's own code on the hub thread, not in a signal handler.
#[cfg(target_arch = "x86_64")]
fn routable(number: c_long, pc: usize) -> bool {
    let routes = ROUTES.load(Relaxed);
    if routes == 0 || !state::on_hub_thread() || signal_depth::running() || codemap::is_excluded(pc) {
        return false;
    }
    // SAFETY: set_router stored a `Routes`.
    let routes: Routes = unsafe { core::mem::transmute::<usize, Routes>(routes) };
    routes(number)
}

/// Where the routed trampoline lands, outside signal context, on the trapping thread's own
/// stack: `regs` are its saved registers (sud_x86_64.rs); the result replaces %rax.
#[cfg(target_arch = "x86_64")]
extern "C" fn routed(regs: *mut u64) {
    use arch::{R10, R8, R9, RAX, RDI, RDX, RSI};
    // SAFETY: the trampoline passes the fifteen registers it pushed, the flags and the
    // resume address, on its own stack, for the length of this call.
    let r = unsafe { core::slice::from_raw_parts_mut(regs, 17) };
    let number = r[RAX] as c_long;
    let a = [r[RDI], r[RSI], r[RDX], r[R10], r[R8], r[R9]].map(|v| v as usize);
    let router = ROUTER.load(Relaxed);
    let mut result = None;
    if router != 0 {
        // SAFETY: set_router stored a `Router`.
        let router: Router = unsafe { core::mem::transmute::<usize, Router>(router) };
        // SAFETY: the program's own arguments for this system call, as it made it.
        result = unsafe { router(number, a) };
    }
    // SAFETY: as above; a number the hooks decline is made as it was (it traps into the
    // direct gadget, from our code).
    let result = result.unwrap_or_else(|| unsafe { raw::syscall6(number, a) } as c_long);
    r[RAX] = result as u64;
}

/// A SIGSYS that is not Syscall User Dispatch's: what the program asked for. Its default
/// action ends the process with a core dump: the signal is raised again with it.
///
/// # Safety
/// In our handler, with the kernel's arguments.
unsafe fn chain(signal: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    let handler = PROGRAM.handler();
    if handler == libc::SIG_IGN {
        return;
    }
    if handler == libc::SIG_DFL {
        // No more trap can come: the process is about to die of the signal.
        SELECTOR.store(ALLOW, Relaxed);
        program_action::reset_to_default(signal);
        // SIGSYS stays pending until this handler returns.
        program_action::default_action(signal);
        return;
    }
    // SAFETY: our SIGSYS handler (caller); the handler is a function (checked above). The
    // program's sa_mask is not applied here, as before.
    unsafe { PROGRAM.call(signal, info, context, 0) };
}

/// sigaction(2) for the program: on SIGSYS, while our handler holds it, records the
/// program's action (and reports the previous one) without touching the kernel's; any
/// other signal goes on to overflow.rs (SIGSEGV) and the real call.
///
/// # Safety
/// As for sigaction(2): `action` is null or readable, `old` null or writable.
pub unsafe fn sigaction(signal: c_int, action: *const libc::sigaction, old: *mut libc::sigaction) -> c_int {
    if signal != libc::SIGSYS || !PROGRAM.installed() {
        // SAFETY: null or readable (caller).
        let Some(wanted) = (unsafe { action.as_ref() }).filter(|a| blocks_sigsys(a) && ON.load(Relaxed)) else {
            // SAFETY: the caller's arguments, as they came.
            return unsafe { super::overflow::sigaction(signal, action, old) };
        };
        // While the handler runs SIGSYS must stay deliverable (a trap kills the process
        // otherwise); the program's own mask, SIGSYS included, is what hooks/signal.rs
        // records and reports.
        let mut open = *wanted;
        // SAFETY: our own copy's sigset; SIGSYS is a valid signal.
        unsafe { libc::sigdelset(&mut open.sa_mask, libc::SIGSYS) };
        // SAFETY: our own readable action; `old` as the caller gave it.
        return unsafe { super::overflow::sigaction(signal, &open, old) };
    }
    // SAFETY: as the caller's.
    unsafe { PROGRAM.exchange(action, old) }
}

/// Whether running `action`'s handler would block SIGSYS.
fn blocks_sigsys(action: &libc::sigaction) -> bool {
    let handler = action.sa_sigaction;
    // SAFETY: a sigset_t begins with the kernel's 64-bit set; only read.
    let masked = unsafe { (&action.sa_mask as *const libc::sigset_t as *const u64).read_unaligned() } & bit(libc::SIGSYS) != 0;
    handler != libc::SIG_DFL && handler != libc::SIG_IGN && masked
}
