//! The program's own action for a signal whose kernel action one of our handlers holds
//! (the preemption tick's SIGURG, SIGSYS for raw system calls, SIGSEGV for the overflow
//! message). The program's sigaction on such a signal reads and changes this record instead
//! of the kernel's; our handler hands the signals that are not ours on to what it says.
//! Plain atomics: a handler reads it in signal context.

use core::ffi::c_int;
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
