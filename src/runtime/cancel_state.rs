//! A green thread's cancellation state and its chain of C cleanup buffers, as data: the
//! record holds it (thread.rs), cancel.rs acts on it. glibc keeps the same in its thread
//! descriptor (`cancelhandling`, `cleanup_jmp_buf`, `exc`), which green threads share with
//! the OS thread (ARCHITECTURE.md, glibc's thread descriptor).

/// glibc's `__pthread_unwind_buf_t`: the jump buffer `pthread_cleanup_push` fills with
/// `__sigsetjmp`, then the link to the previous buffer (glibc's `priv.data.prev`).
#[repr(C)]
pub struct UnwindBuf {
    pub jump: [usize; 8],
    pub mask_was_saved: i32,
    pub prev: *mut UnwindBuf,
    pub cleanup: *mut core::ffi::c_void,
    pub cancel_type: i32,
}

/// libgcc's `struct _Unwind_Exception` (aligned as the largest scalar type).
#[repr(C, align(16))]
pub struct UnwindException {
    pub class: u64,
    pub cleanup: Option<unsafe extern "C" fn(i32, *mut UnwindException)>,
    private: [usize; 2],
}

/// A green thread's cancellation state and its chain of C cleanup buffers.
pub struct Cancel {
    /// PTHREAD_CANCEL_DISABLE is in force.
    pub disabled: bool,
    /// PTHREAD_CANCEL_ASYNCHRONOUS is in force.
    pub asynchronous: bool,
    /// pthread_cancel was called for it.
    pub requested: bool,
    /// It is ending: no further request is acted on.
    pub exiting: bool,
    /// The newest `pthread_cleanup_push` buffer still registered.
    pub chain: *mut UnwindBuf,
    /// The stack pointer of the thread's entry frame when it called the start routine:
    /// where glibc's own unwind ends (cancel_glibc.rs).
    pub entry_sp: usize,
    /// The exception object of its forced unwind (glibc's `exc`), kept in place while the
    /// unwinder uses it (x86-64 only: elsewhere glibc unwinds the thread itself).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub exception: UnwindException,
}

impl Cancel {
    pub const fn new() -> Self {
        Cancel {
            disabled: false,
            asynchronous: false,
            requested: false,
            exiting: false,
            chain: core::ptr::null_mut(),
            entry_sp: 0,
            exception: UnwindException { class: 0, cleanup: None, private: [0; 2] },
        }
    }

    /// Whether a request is to be acted on now; `anywhere` for points that act only on
    /// asynchronous cancellation.
    pub fn due(&self, anywhere: bool) -> bool {
        self.requested && !self.disabled && !self.exiting && (!anywhere || self.asynchronous)
    }
}

impl Default for Cancel {
    fn default() -> Self {
        Self::new()
    }
}
