//! The program's own action for a signal whose kernel action one of our handlers holds
//! (the preemption tick's SIGURG, SIGSYS for raw system calls, SIGSEGV for the overflow
//! message). The program's sigaction on such a signal reads and changes this record instead
//! of the kernel's; our handler hands the signals that are not ours on to what it says.
//! Plain atomics: a handler reads it in signal context.

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering::Relaxed};

pub struct ProgramAction {
    /// Our handler holds the kernel's action (only then does this record stand in for it).
    installed: AtomicBool,
    handler: AtomicUsize,
    flags: AtomicI32,
    /// The first 64 signals of `sa_mask` (all the kernel has).
    mask: AtomicU64,
}

impl ProgramAction {
    pub const fn new() -> Self {
        ProgramAction {
            installed: AtomicBool::new(false),
            handler: AtomicUsize::new(libc::SIG_DFL),
            flags: AtomicI32::new(0),
            mask: AtomicU64::new(0),
        }
    }

    pub fn installed(&self) -> bool {
        self.installed.load(Relaxed)
    }

    pub fn set_installed(&self, installed: bool) {
        self.installed.store(installed, Relaxed);
    }

    pub fn handler(&self) -> usize {
        self.handler.load(Relaxed)
    }

    pub fn flags(&self) -> c_int {
        self.flags.load(Relaxed)
    }

    pub fn mask(&self) -> u64 {
        self.mask.load(Relaxed)
    }

    /// SA_RESETHAND: the program's handler ran once and is gone.
    pub fn reset_handler(&self) {
        self.handler.store(libc::SIG_DFL, Relaxed);
    }

    /// Runs the program's handler for `signal` with the kernel's arguments, as the kernel
    /// would run it: SA_RESETHAND honoured, `block` (the handler's sa_mask and what else the
    /// caller's handler did not have blocked for it) blocked around it, one argument or
    /// three (SA_SIGINFO).
    ///
    /// # Safety
    /// In our handler of the held signal, with the kernel's arguments; the recorded handler is
    /// a function (not SIG_DFL or SIG_IGN: the caller takes those).
    pub unsafe fn call(&self, signal: c_int, info: *mut libc::siginfo_t, context: *mut c_void, block: u64) {
        let handler = self.handler();
        let flags = self.flags();
        if flags & libc::SA_RESETHAND != 0 {
            self.reset_handler();
        }
        let mut saved = 0u64;
        if block != 0 {
            sigprocmask(libc::SIG_BLOCK, &block, &mut saved);
        }
        if flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the program installed a three-argument SA_SIGINFO handler.
            let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) = unsafe { core::mem::transmute(handler) };
            f(signal, info, context);
        } else {
            // SAFETY: the program installed a one-argument handler.
            let f: extern "C" fn(c_int) = unsafe { core::mem::transmute(handler) };
            f(signal);
        }
        if block != 0 {
            sigprocmask(libc::SIG_SETMASK, &saved, &mut 0);
        }
    }

    /// Takes `action` as the program's.
    pub fn record(&self, action: &libc::sigaction) {
        // SAFETY: a sigset_t begins with the kernel's 64-bit set (signals 1 to 64).
        let mask = unsafe { *(&action.sa_mask as *const libc::sigset_t as *const u64) };
        self.mask.store(mask, Relaxed);
        self.flags.store(action.sa_flags, Relaxed);
        self.handler.store(action.sa_sigaction, Relaxed);
    }

    /// sigaction(2) for the program on the held signal: reports the recorded action in
    /// `old` and records `action`, without touching the kernel's.
    ///
    /// # Safety
    /// As for sigaction(2): `action` is null or readable, `old` null or writable.
    pub unsafe fn exchange(&self, action: *const libc::sigaction, old: *mut libc::sigaction) -> c_int {
        // SAFETY: null or readable (caller), copied before `old` is written (they may alias).
        let wanted = unsafe { action.as_ref() }.copied();
        // SAFETY: null or writable (caller).
        if let Some(old) = unsafe { old.as_mut() } {
            // SAFETY: all-zero bytes are a valid sigaction; the mask's first word is set below.
            *old = unsafe { core::mem::zeroed() };
            old.sa_sigaction = self.handler();
            old.sa_flags = self.flags();
            // SAFETY: a sigset_t begins with the kernel's 64-bit set.
            unsafe { *(&mut old.sa_mask as *mut libc::sigset_t as *mut u64) = self.mask() };
        }
        if let Some(wanted) = wanted {
            self.record(&wanted);
        }
        0
    }
}

/// rt_sigprocmask with raw sets (async-signal-safe: a raw system call).
fn sigprocmask(how: c_int, set: &u64, old: &mut u64) {
    let args = [how as usize, set as *const u64 as usize, old as *mut u64 as usize, 8, 0, 0];
    // SAFETY: rt_sigprocmask reads and writes our 8-byte sets.
    unsafe { crate::sys::raw::syscall6(libc::SYS_rt_sigprocmask, args) };
}

/// What SA_RESETHAND asks for as the signal is delivered.
pub fn reset_to_default(signal: i32) {
    // SAFETY: all-zero bytes are a valid sigaction (SIG_DFL, empty mask, no flags).
    let action: libc::sigaction = unsafe { core::mem::zeroed() };
    // SAFETY: our own readable action; no old action is asked for.
    unsafe { crate::sys::real::sigaction(signal, &action, core::ptr::null_mut()) };
}

/// A signal with no handler of the program's: the kernel's own default action (terminate,
/// stop, ignore), by sending it to the OS thread, which accepts it now.
pub fn default_action(signal: i32) {
    let pid = crate::sys::raw::getpid() as usize;
    let tid = crate::sys::raw::gettid() as usize;
    // SAFETY: tgkill takes numbers only.
    unsafe { crate::sys::raw::syscall6(libc::SYS_tgkill, [pid, tid, signal as usize, 0, 0, 0]) };
}
