//! What is known about a rwlock on the hub thread: glibc's own words (its private layout,
//! the lock's kind, glibc's non-blocking calls on it) and the green side table (which green
//! thread writes, how many read holds green threads took, who waits). sync_rwlock.rs does
//! the waiting and the handing over with these.

use super::hub::{Hub, HubMap};
use crate::runtime::green::RwLockHolders;
use crate::sys::real;
use core::ffi::c_int;
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

type RwLock = *mut libc::pthread_rwlock_t;

/// glibc's `__flags` values (pthread_rwlockattr_setkind_np).
pub(super) const PREFER_READER: u32 = 0;
pub(super) const PREFER_WRITER_NONRECURSIVE: u32 = 2;

/// glibc 2.36's `struct __pthread_rwlock_arch_t` on x86-64
/// (sysdeps/x86/nptl/bits/struct_rwlock.h, inside pthread_rwlock_t of pthreadtypes.h). We
/// read only `__shared` and `__flags`, which glibc writes in pthread_rwlock_init alone; the
/// other words change under glibc's atomics while we look, so we never make a reference to
/// the whole struct, only read the two fields through the pointer.
#[cfg(target_arch = "x86_64")]
#[repr(C)]
struct GlibcRwLock {
    /// `__readers`, `__writers`, `__wrphase_futex`, `__writers_futex`, `__pad3`, `__pad4`.
    _words: [u32; 6],
    _cur_writer: i32,
    shared: i32,
    _rwelision: i8,
    _pad1: [u8; 7],
    _pad2: u64,
    flags: u32,
}

/// glibc 2.36's generic `struct __pthread_rwlock_arch_t` (sysdeps/nptl/bits/struct_rwlock.h,
/// little-endian order), which aarch64 uses. Read as the x86-64 one above.
#[cfg(target_arch = "aarch64")]
#[repr(C)]
struct GlibcRwLock {
    /// `__readers`, `__writers`, `__wrphase_futex`, `__writers_futex`, `__pad3`, `__pad4`.
    _words: [u32; 6],
    flags: u8,
    shared: u8,
    _pad1: u8,
    _pad2: u8,
    _cur_writer: i32,
}

const _: () = assert!(core::mem::size_of::<GlibcRwLock>() <= core::mem::size_of::<libc::pthread_rwlock_t>());
const _: () = assert!(core::mem::align_of::<GlibcRwLock>() <= core::mem::align_of::<libc::pthread_rwlock_t>());

/// (`__shared`, `__flags`) of a rwlock.
///
/// # Safety
/// `l` points to a rwlock pthread_rwlock_init (or an initialiser) set up, live for the call.
unsafe fn shared_and_flags(l: *const libc::pthread_rwlock_t) -> (u32, u32) {
    let l = l as *const GlibcRwLock;
    // SAFETY: a live rwlock (caller) whose first bytes are GlibcRwLock; the two fields change
    // only in pthread_rwlock_init, and reading them makes no reference to the other words.
    let (shared, flags) = unsafe { (core::ptr::addr_of!((*l).shared).read(), core::ptr::addr_of!((*l).flags).read()) };
    // `__flags` is a u32 on x86-64 but a byte on aarch64: the cast is a no-op on one of them.
    #[allow(clippy::unnecessary_cast)]
    let flags = flags as u32;
    (shared as u32, flags)
}

const UNKNOWN: u8 = 0;
const LAYOUT_OK: u8 = 1;
const LAYOUT_BAD: u8 = 2;
static LAYOUT: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Whether this glibc keeps `__shared` and `__flags` where GlibcRwLock says: checked once
/// by initialising two rwlocks with glibc's own functions. A glibc that does not passes
/// every rwlock call through.
fn layout_ok() -> bool {
    match LAYOUT.load(Ordering::Relaxed) {
        LAYOUT_OK => true,
        LAYOUT_BAD => false,
        _ => {
            let ok = probe_layout();
            LAYOUT.store(if ok { LAYOUT_OK } else { LAYOUT_BAD }, Ordering::Relaxed);
            if !ok {
                crate::runtime::log::log!(
                    Warn,
                    "unexpected rwlock layout in this glibc; pthread_rwlock_* block the OS thread"
                );
            }
            ok
        }
    }
}

fn probe_layout() -> bool {
    let probe = |shared: c_int, kind: c_int| -> (u32, u32) {
        // SAFETY: all-zero bytes are valid for these plain-data types, and each is
        // initialised by glibc before use.
        let (mut attr, mut l): (libc::pthread_rwlockattr_t, libc::pthread_rwlock_t) = unsafe { core::mem::zeroed() };
        // SAFETY: local objects, initialised with glibc's own functions in the order it asks;
        // the rwlock is read once initialised.
        unsafe {
            libc::pthread_rwlockattr_init(&mut attr);
            libc::pthread_rwlockattr_setpshared(&mut attr, shared);
            libc::pthread_rwlockattr_setkind_np(&mut attr, kind);
            real::pthread_rwlock_init(&mut l, &attr);
            libc::pthread_rwlockattr_destroy(&mut attr);
            shared_and_flags(&l)
        }
    };
    let (shared, kind) = probe(libc::PTHREAD_PROCESS_SHARED, PREFER_WRITER_NONRECURSIVE as c_int);
    let (private, default_kind) = probe(libc::PTHREAD_PROCESS_PRIVATE, PREFER_READER as c_int);
    shared != 0 && kind == PREFER_WRITER_NONRECURSIVE && private == 0 && default_kind == PREFER_READER
}

/// What the green world knows about one rwlock.
#[derive(Default)]
pub(super) struct State {
    /// The green writer's owner tag (0 when none) and the read holds green threads took.
    pub(super) held: RwLockHolders,
    pub(super) readers_waiting: u32,
    pub(super) writers_waiting: u32,
}

impl State {
    fn idle(&self) -> bool {
        self.held.writer == 0 && self.held.readers == 0 && self.readers_waiting == 0 && self.writers_waiting == 0
    }
}

/// The side table, keyed by the rwlock's address: an entry while a green thread holds the
/// lock or waits for it, and idle ones until the next sweep (`tidy`). Boxed, so that `held`
/// stays in place while the map grows: a waiter's record points at it (`WaitingOn::RwLock`)
/// for the deadlock report and `green ps`, and an entry with a waiter is never idle, so
/// never dropped under it.
static TABLE: HubMap<Box<State>> = HubMap::new();

/// Drops what the side table knows about the rwlock at `address` (pthread_rwlock_init and
/// _destroy on the hub thread), unless a green thread waits for it: destroying a rwlock
/// with waiters is undefined, and their records still point at the entry.
pub(super) fn forget(hub: Hub, address: usize) {
    TABLE.with(hub, |map| {
        if map.get(&address).is_some_and(|s| s.readers_waiting == 0 && s.writers_waiting == 0) {
            map.remove(&address);
        }
    });
}

/// A process-private rwlock on the hub thread, with glibc's layout as expected: one we
/// handle green.
#[derive(Clone, Copy)]
pub(super) struct GreenRwLock {
    /// Live for as long as this value is used (the contract of `new`).
    l: RwLock,
    kind: u32,
    hub: Hub,
}

impl GreenRwLock {
    /// The green-handled rwlock behind `l`, or None: pass through to glibc.
    ///
    /// # Safety
    /// `l` is null or a rwlock pthread_rwlock_init (or an initialiser) set up, which stays in
    /// place while the result is used.
    #[inline(always)]
    pub(super) unsafe fn new(l: RwLock) -> Option<Self> {
        if l.is_null() {
            return None;
        }
        let hub = Hub::here()?;
        if !layout_ok() {
            return None;
        }
        // SAFETY: not null, so a live rwlock (caller).
        let (shared, kind) = unsafe { shared_and_flags(l) };
        (shared == 0).then_some(GreenRwLock { l, kind, hub })
    }

    pub(super) fn hub(self) -> Hub {
        self.hub
    }

    pub(super) fn kind(self) -> u32 {
        self.kind
    }

    pub(super) fn address(self) -> usize {
        self.l as usize
    }

    /// The key of the wait queue of green writers: the address + 1 (odd, so no other
    /// object's queue). Green readers wait in the queue of the address itself.
    pub(super) fn writers_key(self) -> usize {
        self.address() + 1
    }

    /// glibc's pthread_rwlock_tryrdlock.
    pub(super) fn glibc_tryrdlock(self) -> c_int {
        // SAFETY: `l` is a live rwlock (the contract of `new`).
        unsafe { real::pthread_rwlock_tryrdlock(self.l) }
    }

    /// glibc's pthread_rwlock_trywrlock.
    pub(super) fn glibc_trywrlock(self) -> c_int {
        // SAFETY: `l` is a live rwlock (the contract of `new`).
        unsafe { real::pthread_rwlock_trywrlock(self.l) }
    }

    /// glibc's pthread_rwlock_unlock.
    pub(super) fn glibc_unlock(self) -> c_int {
        // SAFETY: `l` is a live rwlock (the contract of `new`).
        unsafe { real::pthread_rwlock_unlock(self.l) }
    }

    /// Runs `f` on the side-table entry, made if missing; `held` in it stays in place while
    /// the entry is not idle. `f` must not park.
    pub(super) fn state<R>(self, f: impl FnOnce(&mut State) -> R) -> R {
        TABLE.with(self.hub, |map| f(map.entry(self.address()).or_default()))
    }

    /// What `f` reads of the entry, or what it reads of an idle one; makes no entry.
    pub(super) fn peek<R>(self, f: impl FnOnce(&State) -> R) -> R {
        TABLE.with(self.hub, |map| match map.get(&self.address()) {
            Some(s) => f(s),
            None => f(&State::default()),
        })
    }

    /// The lock is idle now, perhaps. An idle entry reads as no entry, so it is kept for the
    /// lock's next use (dropping it would cost an allocation per lock and unlock); idle
    /// entries are swept out together once the table has doubled since the last sweep.
    pub(super) fn tidy(self) {
        TABLE.with(self.hub, |map| {
            if map.len() >= SWEEP_AT.load(Ordering::Relaxed) {
                map.retain(|_, s| !s.idle());
                SWEEP_AT.store((2 * map.len()).max(FIRST_SWEEP), Ordering::Relaxed);
            }
        });
    }
}

/// Entries in the side table at which idle ones are next swept out (hub thread only).
static SWEEP_AT: AtomicUsize = AtomicUsize::new(FIRST_SWEEP);
const FIRST_SWEEP: usize = 64;
