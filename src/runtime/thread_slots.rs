//! Words of libc's per-thread state that every green thread keeps its own value of, though
//! they live in the OS thread's TLS: `errno`, and glibc's resolver state pointer.
//!
//! * **errno.** Each green thread's value is saved (on its own stack) when it switches out and
//!   put back when it switches in, so a call that parks never changes the errno another
//!   thread reads.
//! * **The resolver state** (`_res`, a `struct __res_state`: what `res_ninit` reads from
//!   resolv.conf, the options a program sets, the resolver's open sockets). glibc gives each
//!   thread its own, inside the thread's descriptor, and points the thread's `__resp` at it
//!   when the thread starts (nptl/pthread_create.c, start_thread); `_res` and `__res_state()`
//!   read `__resp`, and so do glibc's own resolver functions. A green thread does the same
//!   with a state on its own stack (`ResolverState`, in the frame that lives for the whole
//!   thread), so green threads' resolver options and sockets are theirs, as natively; the
//!   root keeps glibc's `_res`. When the thread ends, sockets the resolver left open are
//!   closed, as glibc's `__res_thread_freeres` does.
//!
//! Both are saved and restored around a switch of the OS thread's own slots. A green thread
//! with a TLS area of its own (tls_area.rs) also has slots of its own there, which nobody
//! else writes; saving the OS thread's slots then only keeps the root's values, as before.

use core::ffi::c_void;

/// sizeof(struct __res_state) on LP64 glibc (resolv/bits/types/res_state.h), in words.
const RESOLVER_WORDS: usize = 568 / 8;
/// offsetof(struct __res_state, nscount) in words: nonzero once `res_ninit` has filled it.
const NSCOUNT_WORD: usize = 2;

/// A green thread's resolver state: all zero, as glibc's is in a new thread's descriptor.
#[repr(C, align(8))]
pub struct ResolverState([u64; RESOLVER_WORDS]);

impl ResolverState {
    pub const fn new() -> ResolverState {
        ResolverState([0; RESOLVER_WORDS])
    }
}

/// The OS thread's own slots, found once when the runtime starts, on the hub thread.
pub struct Slots {
    errno: *mut i32,
    /// glibc's `__resp` (GLIBC_PRIVATE); null where it is not exported.
    resolver: *mut *mut c_void,
    /// Where the OS thread's TLS area starts: a slot lies at the same distance from the
    /// thread pointer in a green thread's own area.
    thread_pointer: usize,
}

/// The values saved over one switch.
pub struct Saved {
    errno: i32,
    resolver: *mut c_void,
}

impl Slots {
    /// The calling (hub) thread's slots.
    pub fn discover() -> Slots {
        // SAFETY: __errno_location has no preconditions; dlsym with a NUL-terminated name
        // only looks it up, and for a TLS symbol answers the calling thread's instance.
        let (errno, resolver) = unsafe { (libc::__errno_location(), libc::dlsym(libc::RTLD_DEFAULT, c"__resp".as_ptr())) };
        Slots { errno, resolver: resolver as *mut *mut c_void, thread_pointer: crate::sys::raw::thread_pointer() }
    }

    /// Reads the OS thread's values before a switch.
    ///
    /// # Safety
    /// On the hub thread.
    #[inline(always)]
    pub unsafe fn save(&self) -> Saved {
        // SAFETY: both slots are this OS thread's, valid for its life (hub thread: caller).
        unsafe {
            Saved {
                errno: *self.errno,
                resolver: if self.resolver.is_null() { core::ptr::null_mut() } else { *self.resolver },
            }
        }
    }

    /// Puts back what `save` read, when the thread that saved them runs again.
    ///
    /// # Safety
    /// On the hub thread.
    #[inline(always)]
    pub unsafe fn restore(&self, saved: Saved) {
        // SAFETY: as for `save`.
        unsafe {
            *self.errno = saved.errno;
            if !self.resolver.is_null() {
                *self.resolver = saved.resolver;
            }
        }
    }

    /// The running green thread's `__resp`: in its own TLS area if it has one, else the OS
    /// thread's.
    fn resolver_slot_now(&self) -> *mut *mut c_void {
        let distance = crate::sys::raw::thread_pointer().wrapping_sub(self.thread_pointer);
        (self.resolver as usize).wrapping_add(distance) as *mut *mut c_void
    }

    /// Makes `state` the running green thread's resolver state, as glibc's start_thread does.
    ///
    /// # Safety
    /// On a green thread other than the root, as it starts; `state` lives until the thread
    /// ends (`thread_ends`).
    pub unsafe fn adopt_resolver(&self, state: *mut ResolverState) {
        if !self.resolver.is_null() {
            // SAFETY: the slot lies in the running thread's TLS area (its own or the OS
            // thread's), at the distance glibc placed `__resp` from the thread pointer.
            unsafe { *self.resolver_slot_now() = state as *mut c_void };
        }
    }

    /// The running green thread ends: close the sockets its resolver state holds, as glibc's
    /// `__res_thread_freeres` does (only a state `res_ninit` filled has any).
    ///
    /// # Safety
    /// On a green thread other than the root, as it ends, after `adopt_resolver`.
    pub unsafe fn resolver_thread_ends(&self) {
        if self.resolver.is_null() {
            return;
        }
        // SAFETY: the running thread's slot (see adopt_resolver) holds its own state, which
        // lives on its stack until it ends (caller).
        let state = unsafe { *self.resolver_slot_now() } as *mut ResolverState;
        // SAFETY: as above; `state` is a ResolverState, RESOLVER_WORDS long.
        if state.is_null() || unsafe { (*state).0[NSCOUNT_WORD] } as u32 == 0 {
            return;
        }
        extern "C" {
            fn __res_nclose(state: *mut c_void);
        }
        // SAFETY: glibc's res_nclose on a state res_ninit filled: it closes the resolver's
        // sockets with its internal close and frees the addresses it allocated.
        unsafe { __res_nclose(state as *mut c_void) };
    }
}
