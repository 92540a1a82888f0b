//! The program's handlers, as it installed them with sigaction (hooks/signal.rs installs a
//! wrapper in their place): the wrapper calls them, and the runtime calls them for a signal
//! it hands to a green thread. Reached as `signals::handlers`; a leaf: no runtime file is
//! imported (signal sets are the kernel's 64-bit layout, as `signals::SigSet`).

use core::ffi::c_void;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

const COUNT: usize = 65;

/// One signal's record, within one cache line: sigaction and every delivery read it.
#[repr(align(32))]
struct Slot {
    function: AtomicUsize,
    flags: AtomicUsize,
    mask: AtomicU64,
}

static SLOTS: [Slot; COUNT] =
    [const { Slot { function: AtomicUsize::new(0), flags: AtomicUsize::new(0), mask: AtomicU64::new(0) } }; COUNT];

/// A handler the program installed for one signal.
#[derive(Clone, Copy)]
pub struct Handler {
    pub function: usize,
    pub flags: i32,
    /// sa_mask, in the kernel's layout.
    pub mask: u64,
}

impl Handler {
    pub fn restarts(self) -> bool {
        self.flags & libc::SA_RESTART != 0
    }

    /// Calls it as the kernel would: with the siginfo and context when it asked for
    /// them (SA_SIGINFO).
    ///
    /// # Safety
    /// `function` is the program's handler for `signal`; `info` and `context` are what
    /// the handler may read.
    pub unsafe fn call(self, signal: i32, info: *mut libc::siginfo_t, context: *mut c_void) {
        if self.flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the program installed this as a three-argument SA_SIGINFO handler.
            let f: extern "C" fn(i32, *mut libc::siginfo_t, *mut c_void) =
                unsafe { core::mem::transmute(self.function) };
            f(signal, info, context);
        } else {
            // SAFETY: the program installed this as a one-argument handler.
            let f: extern "C" fn(i32) = unsafe { core::mem::transmute(self.function) };
            f(signal);
        }
    }
}

fn index(signal: i32) -> Option<usize> {
    (1..COUNT as i32).contains(&signal).then_some(signal as usize)
}

/// Records the program's handler for `signal`, or none (SIG_DFL, SIG_IGN) with 0.
pub fn set(signal: i32, function: usize, flags: i32, mask: u64) {
    if let Some(slot) = index(signal).map(|i| &SLOTS[i]) {
        slot.flags.store(flags as usize, Relaxed);
        slot.mask.store(mask, Relaxed);
        slot.function.store(function, Relaxed);
    }
}

/// The program's handler for `signal`, if it installed one.
pub fn get(signal: i32) -> Option<Handler> {
    let slot = &SLOTS[index(signal)?];
    let function = slot.function.load(Relaxed);
    (function != 0).then(|| Handler { function, flags: slot.flags.load(Relaxed) as i32, mask: slot.mask.load(Relaxed) })
}

/// The kernel reset a SA_RESETHAND handler to SIG_DFL as it delivered the signal.
pub fn delivered(signal: i32, handler: Handler) {
    if handler.flags & libc::SA_RESETHAND != 0 {
        set(signal, 0, 0, 0);
    }
}
