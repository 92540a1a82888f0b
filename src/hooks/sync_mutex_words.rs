//! glibc's mutex words (the first five of `struct __pthread_mutex_s`), their flags and
//! cookies, and what the mutex files share about them: the idents green holders write
//! (sync_mutex_kinds.rs explains them) and which robust mutexes are process-private.

use super::hub::{Hub, HubMap};
use crate::sys::raw;
use core::sync::atomic::{AtomicI32, AtomicU32};

/// The first five words of glibc's `struct __pthread_mutex_s`, as glibc 2.36 lays them out
/// in sysdeps/x86/nptl/bits/struct_mutex.h (x86-64) and sysdeps/nptl/bits/struct_mutex.h
/// (aarch64, `__WORDSIZE == 64`): `__lock`, `__count`, `__owner`, `__nusers`, `__kind`.
/// These are the words glibc's own lock and unlock use, so foreign threads running glibc
/// change them while we look: every field is atomic, which makes a shared reference to a
/// live mutex sound (glibc's plain accesses and our relaxed ones are the same loads and
/// stores on both architectures).
#[repr(C)]
pub(crate) struct GlibcMutex {
    pub(super) lock: AtomicI32,
    pub(super) count: AtomicU32,
    pub(super) owner: AtomicI32,
    pub(super) nusers: AtomicU32,
    pub(super) kind: AtomicI32,
}

const _: () = assert!(core::mem::size_of::<GlibcMutex>() <= core::mem::size_of::<libc::pthread_mutex_t>());
const _: () = assert!(core::mem::align_of::<GlibcMutex>() <= core::mem::align_of::<libc::pthread_mutex_t>());

/// `__kind`: the type in the low bits (PTHREAD_MUTEX_KIND_MASK_NP) and glibc's flags above
/// them (nptl's pthreadP.h, glibc 2.36).
pub(super) const TYPE_MASK: i32 = 3;
pub(super) const RECURSIVE: i32 = libc::PTHREAD_MUTEX_RECURSIVE;
pub(super) const ERRORCHECK: i32 = libc::PTHREAD_MUTEX_ERRORCHECK;
/// PTHREAD_MUTEX_ROBUST_NORMAL_NP | PRIO_INHERIT_NP | PRIO_PROTECT_NP: sync_mutex_kinds.rs.
pub(super) const SPECIAL: i32 = 16 | 32 | 64;
/// PTHREAD_MUTEX_PSHARED_BIT.
pub(super) const SHARED: i32 = 128;

/// `__kind` flags (nptl's pthreadP.h).
pub(super) const ROBUST: i32 = 16;
pub(super) const PI: i32 = 32;
pub(super) const PP: i32 = 64;
/// Lock word bits (linux/futex.h).
pub(super) const WAITERS: i32 = i32::MIN;
pub(super) const OWNER_DIED: i32 = 0x4000_0000;
pub(super) const TID_MASK: i32 = 0x3fff_ffff;
/// `__owner` cookies of a robust mutex whose owner died (nptl's pthreadP.h).
pub(super) const INCONSISTENT: i32 = i32::MAX;
pub(super) const NOTRECOVERABLE: i32 = i32::MAX - 1;
/// A PP mutex's ceiling in its lock word.
pub(super) const CEILING_MASK: i32 = 0xfff8_0000_u32 as i32;
pub(super) const CEILING_SHIFT: u32 = 19;
/// Idents of green threads other than the root start here (see the module doc).
pub(super) const IDENT_BASE: i32 = 0x2000_0000;

/// Robust mutexes pthread_mutex_init made process-private on the hub thread, by address.
pub(super) static PRIVATE_ROBUST: HubMap<()> = HubMap::new();

/// Whether a mutex of `kind` at `address` is one sync_mutex.rs locks green: not
/// process-shared (see the module doc for robust ones).
pub(super) fn is_private(hub: Hub, address: usize, kind: i32) -> bool {
    if kind & ROBUST != 0 {
        PRIVATE_ROBUST.with(hub, |set| set.contains_key(&address))
    } else {
        kind & SHARED == 0
    }
}

/// The ident of the green thread whose owner tag (hub.rs) is `tag`.
pub(super) fn ident_of(tag: i32) -> i32 {
    if tag < 0 {
        IDENT_BASE | (tag.wrapping_neg() & (IDENT_BASE - 1))
    } else {
        tag
    }
}

pub(super) fn my_ident(hub: Hub) -> i32 {
    ident_of(hub.my_owner_tag())
}

pub(super) fn os_tid() -> i32 {
    crate::sys::raw::gettid()
}

/// FUTEX_UNLOCK_PI on `word`, which the calling OS thread owns in the kernel's view.
pub(super) fn futex_unlock_pi(word: &AtomicI32, private: bool) {
    let op = libc::FUTEX_UNLOCK_PI | if private { libc::FUTEX_PRIVATE_FLAG } else { 0 };
    // SAFETY: the kernel reads and writes the one aligned word, a live atomic (a reference).
    unsafe { raw::syscall6(libc::SYS_futex, [word.as_ptr() as usize, op as usize, 0, 0, 0, 0]) };
}
