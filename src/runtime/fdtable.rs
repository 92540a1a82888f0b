//! What we know about each file descriptor, indexed by fd number.
//!
//! Two layers, because POSIX has two:
//! * per open file description ([`Desc`], shared by dup'd fds and refcounted): what kind of
//!   file it is, whether *we* made it O_NONBLOCK (only ever on descriptions we created),
//!   whether the *program* thinks it is (`fcntl(F_GETFL)` shows that, never ours), for a
//!   regular file how its reads may wait, and for a pipe or device whether it refused
//!   RWF_NOWAIT.
//! * per fd number ([`FdEntry`]): the epoll registration (epoll keys on fd + description),
//!   the readiness bits it reported, the waiters parked on it, and a generation number that
//!   changes whenever the number is closed, so a waiter woken after its fd was closed and the
//!   number reused never touches the new file.
//!
//! A data structure only: it never wakes anyone. `FdEntry::waiters` lists the parked threads
//! an event concerns and the hub wakes them (hub.rs).
//!
//! The table is made of chunks allocated on first use and never freed or moved, so an entry
//! stays at one address for the life of the process. Who may touch an entry
//! (ARCHITECTURE.md, Invariants):
//! * the hub thread, for any fd;
//! * another OS thread, only an entry whose number it owns at that moment: one it is
//!   closing, or just created or dup'd onto (it resets the entry, `forget`/`adopt`/`share`),
//!   and for reading, `needs_blocking_emulation` and `view`. Nothing off the hub learns
//!   about an fd it did not create (fdclass.rs asks the kernel instead and records nothing),
//!   and nothing off the hub allocates a chunk for an fd it merely uses.
//!
//! References to entries are handed out by `unsafe fn`s whose contract is that rule plus the
//! usual one for `&mut`: no two live at once for the same entry, so none is held across a
//! park (whoever runs meanwhile may fetch the same entry). Code that waits re-fetches.

use super::file_reads::FileReads;
use super::thread::Green;
use core::sync::atomic::{AtomicPtr, Ordering};

pub const CHUNK: usize = 1024;
/// fds at or above this (2^20, Linux's default nr_open) are left untracked: calls on them
/// pass straight through.
pub const MAX_CHUNKS: usize = 1024;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// SOCK_STREAM sockets: a short read means the receive queue is empty.
    StreamSocket,
    /// Datagram and seqpacket sockets: a short read is just a short message.
    MessageSocket,
    Pipe,
    /// Terminals and other character devices that support poll.
    CharDevice,
    /// Regular files: no readiness to wait for (see hooks/file.rs for what reads do).
    File,
    /// Directories, epoll instances, pidfds and the like: always run inline.
    Inline,
}

/// One open file description as far as we know it.
pub struct Desc {
    refs: u32,
    pub kind: Kind,
    /// We set O_NONBLOCK on this description (we created it), so its calls can simply be
    /// retried on EAGAIN. Never true for descriptions inherited or shared with others.
    pub owned_nonblock: bool,
    /// The program's own view of O_NONBLOCK.
    pub user_nonblock: bool,
    /// SO_RCVTIMEO and SO_SNDTIMEO in ns, each with the epoch it was read in (fdclass.rs,
    /// socket timeouts); epoch 0 is never current.
    pub timeouts: [(u64, u64); 2],
    pub file_reads: FileReads,
    /// The kernel refused RWF_NOWAIT for this pipe or device (fdclass.rs, Attempt::NoWait).
    pub refuses_nowait: bool,
    /// Ours and still non-blocking, but shared by fork (fdclass.rs, `release_inheritable`).
    pub shared: bool,
}

/// A copy of what a description's record says, for readers that must not hold it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DescView {
    pub kind: Kind,
    pub owned_nonblock: bool,
    pub user_nonblock: bool,
}

/// Interest bits of a waiter.
pub const READ: u8 = 1;
pub const WRITE: u8 = 2;

/// A parked thread's place in an fd's waiter list. It lives on the parked thread's own
/// stack, which cannot go away while the thread is parked, and the thread unlinks it
/// itself when it resumes.
pub struct WaitNode {
    prev: *mut WaitNode,
    next: *mut WaitNode,
    pub green: *mut Green,
    pub interest: u8,
}

impl WaitNode {
    pub fn new(green: *mut Green, interest: u8) -> Self {
        WaitNode { prev: core::ptr::null_mut(), next: core::ptr::null_mut(), green, interest }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Registration {
    No,
    Yes,
    /// epoll refused it (EPERM: a regular file, /dev/null): every call runs inline.
    Unpollable,
}

pub struct FdEntry {
    desc: *mut Desc,
    pub generation: u32,
    pub registration: Registration,
    /// Readiness as epoll last told us; "not" so that an all-zero entry means "try it".
    pub not_readable: bool,
    pub not_writable: bool,
    /// The peer hung up (EPOLLRDHUP/EPOLLHUP): reads will return EOF from now on, and no
    /// further edge will say so, so a short read must not clear readiness any more.
    pub read_closed: bool,
    waiters: *mut WaitNode,
}

/// The table: chunks of CHUNK entries, allocated zeroed on first use and never freed.
pub struct FdTable {
    chunks: [AtomicPtr<FdEntry>; MAX_CHUNKS],
}

/// The process's table (one per process: a forked child inherits a copy of it).
static TABLE: FdTable = FdTable::new();

impl FdTable {
    pub const fn new() -> Self {
        FdTable { chunks: [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CHUNKS] }
    }

    /// The entry for `fd`, allocating its chunk on first use (`allocate`) or not; None for
    /// negative or huge fds, or a missing chunk.
    fn slot(&self, fd: i32, allocate: bool) -> Option<*mut FdEntry> {
        let fd = usize::try_from(fd).ok()?;
        let chunk = self.chunks.get(fd / CHUNK)?;
        let mut base = chunk.load(Ordering::Acquire);
        if base.is_null() {
            if !allocate {
                return None;
            }
            base = allocate_chunk(chunk);
        }
        // SAFETY: `base` is a live chunk of CHUNK entries (never freed) and fd % CHUNK < CHUNK.
        Some(unsafe { base.add(fd % CHUNK) })
    }

    /// The entry for `fd`, allocating its chunk on first use.
    ///
    /// # Safety
    /// The module's rule: on the hub thread, or on the thread that owns number `fd` now; and
    /// no other reference to this entry is live while the result is used (it is not held
    /// across a park).
    #[allow(clippy::mut_from_ref)] // entries live in chunks the table owns through raw pointers
    pub unsafe fn entry(&self, fd: i32) -> Option<&mut FdEntry> {
        // SAFETY: the entry lives as long as the table; exclusivity is the caller's promise.
        self.slot(fd, true).map(|entry| unsafe { &mut *entry })
    }

    /// The entry for `fd` if its chunk exists already (no allocation).
    ///
    /// # Safety
    /// As for `entry`.
    #[allow(clippy::mut_from_ref)] // as for `entry`
    pub unsafe fn existing(&self, fd: i32) -> Option<&mut FdEntry> {
        // SAFETY: as in `entry`.
        self.slot(fd, false).map(|entry| unsafe { &mut *entry })
    }

    /// Calls `f` for every fd whose chunk exists.
    ///
    /// # Safety
    /// As for `entry`, for every entry: no other thread touches the table meanwhile (the
    /// hub thread before fork or exec, or a freshly forked child) and `f` fetches no entry.
    pub unsafe fn for_each(&self, mut f: impl FnMut(i32, &mut FdEntry)) {
        for (chunk, slot) in self.chunks.iter().enumerate() {
            let base = slot.load(Ordering::Acquire);
            if base.is_null() {
                continue;
            }
            for index in 0..CHUNK {
                // SAFETY: a live chunk; exclusivity as promised by the caller.
                f((chunk * CHUNK + index) as i32, unsafe { &mut *base.add(index) });
            }
        }
    }
}

/// The process table's entry for `fd`, allocating its chunk on first use; None for negative
/// or huge fds.
///
/// # Safety
/// As for [`FdTable::entry`].
pub unsafe fn entry(fd: i32) -> Option<&'static mut FdEntry> {
    // SAFETY: the caller's contract is `FdTable::entry`'s.
    unsafe { TABLE.entry(fd) }
}

/// The process table's entry for `fd` if its chunk exists (no allocation: for foreign
/// threads).
///
/// # Safety
/// As for [`FdTable::entry`].
pub unsafe fn existing(fd: i32) -> Option<&'static mut FdEntry> {
    // SAFETY: the caller's contract is `FdTable::existing`'s.
    unsafe { TABLE.existing(fd) }
}

/// Runs `f` on the process table's entry for `fd` (allocating its chunk if need be); None
/// for a bad number. The borrow is scoped to `f`.
///
/// # Safety
/// Hub thread only; `f` fetches no entry and does not park.
#[inline(always)]
pub unsafe fn with_entry<R>(fd: i32, f: impl FnOnce(&mut FdEntry) -> R) -> Option<R> {
    // SAFETY: hub thread (caller); the reference lives only for `f`, which fetches no other.
    unsafe { TABLE.entry(fd) }.map(f)
}

/// Calls `f` for every fd of the process table whose entry exists.
///
/// # Safety
/// As for [`FdTable::for_each`].
pub unsafe fn for_each(f: impl FnMut(i32, &mut FdEntry)) {
    // SAFETY: the caller's contract is `FdTable::for_each`'s.
    unsafe { TABLE.for_each(f) }
}

/// What we know of `fd`'s description (its kind, ...), copied out. Read-only: any thread.
pub fn view(fd: i32) -> Option<DescView> {
    let entry = TABLE.slot(fd, false)?;
    // SAFETY: a live entry; only plain values are copied out. A description is freed only
    // by the thread closing the last number that names it, which then owns this number.
    unsafe { (*entry).view() }
}

#[cold]
fn allocate_chunk(slot: &AtomicPtr<FdEntry>) -> *mut FdEntry {
    let layout = core::alloc::Layout::array::<FdEntry>(CHUNK).expect("chunk layout");
    // SAFETY: the layout is not zero-sized; an all-zero FdEntry is valid (null pointers,
    // false, generation 0, Registration::No, the first variant).
    let fresh = unsafe { std::alloc::alloc_zeroed(layout) } as *mut FdEntry;
    if fresh.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    match slot.compare_exchange(core::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => fresh,
        Err(winner) => {
            // SAFETY: we allocated it just above with this layout and nobody else saw it.
            unsafe { std::alloc::dealloc(fresh as *mut u8, layout) };
            winner
        }
    }
}

/// The parked threads whose interest intersects an event's (see `FdEntry::waiters`).
pub struct Waiters {
    node: *mut WaitNode,
    interest: u8,
}

impl Iterator for Waiters {
    type Item = *mut Green;

    fn next(&mut self) -> Option<*mut Green> {
        while !self.node.is_null() {
            // SAFETY: linked nodes are live until unlinked (`link`'s contract), and
            // `waiters`' caller keeps them linked while iterating.
            let node = unsafe { &*self.node };
            self.node = node.next;
            if node.interest & self.interest != 0 {
                return Some(node.green);
            }
        }
        None
    }
}

impl FdEntry {
    /// The description behind this number, if we know it.
    ///
    /// # Safety
    /// No other reference to the description is live while the result is used (it may be
    /// shared by other fd numbers), and no number naming it is closed meanwhile.
    pub unsafe fn desc(&self) -> Option<&'static mut Desc> {
        // SAFETY: a non-null desc is a live Box we own (refcounted by fd entries);
        // exclusivity is the caller's promise.
        unsafe { self.desc.as_mut() }
    }

    /// What kind of file this is, if we know it.
    pub fn kind(&self) -> Option<Kind> {
        self.view().map(|desc| desc.kind)
    }

    /// A copy of the description's record, if we know it.
    pub fn view(&self) -> Option<DescView> {
        // SAFETY: a non-null desc is a live Box; only plain values are copied out.
        unsafe { self.desc.as_ref() }.map(|d| DescView {
            kind: d.kind,
            owned_nonblock: d.owned_nonblock,
            user_nonblock: d.user_nonblock,
        })
    }

    pub fn ready(&self, interest: u8) -> bool {
        if interest == READ {
            !self.not_readable
        } else {
            !self.not_writable
        }
    }

    pub fn clear_ready(&mut self, interest: u8) {
        if interest == READ {
            self.not_readable = true;
        } else {
            self.not_writable = true;
        }
    }

    pub fn has_waiters(&self) -> bool {
        !self.waiters.is_null()
    }

    /// Whether `node` is in this entry's waiter list (for assertions: walks the list).
    fn is_linked(&self, node: *mut WaitNode) -> bool {
        let mut at = self.waiters;
        while !at.is_null() {
            if at == node {
                return true;
            }
            // SAFETY: linked nodes are live (`link`'s contract).
            at = unsafe { (*at).next };
        }
        false
    }

    /// # Safety
    /// `node` is live, in no list, and stays live until `unlink` is called on it.
    pub unsafe fn link(&mut self, node: *mut WaitNode) {
        debug_assert!(!self.is_linked(node), "a wait node is linked once");
        // SAFETY: `node` is live (caller); the head, if any, is a live linked node.
        unsafe {
            (*node).prev = core::ptr::null_mut();
            (*node).next = self.waiters;
            if !self.waiters.is_null() {
                (*self.waiters).prev = node;
            }
        }
        self.waiters = node;
    }

    /// # Safety
    /// `node` was linked into this entry with `link` and not unlinked since.
    pub unsafe fn unlink(&mut self, node: *mut WaitNode) {
        debug_assert!(self.is_linked(node), "a wait node is unlinked once, from its own list");
        // SAFETY: `node` and its neighbours are live linked nodes (caller, `link`).
        unsafe {
            let (prev, next) = ((*node).prev, (*node).next);
            if prev.is_null() {
                self.waiters = next;
            } else {
                (*prev).next = next;
            }
            if !next.is_null() {
                (*next).prev = prev;
            }
            (*node).prev = core::ptr::null_mut();
            (*node).next = core::ptr::null_mut();
        }
    }

    /// The parked threads waiting for any of `interest` (the caller wakes them).
    ///
    /// # Safety
    /// No waiter is unlinked while the iterator is in use (waking a thread does not unlink
    /// it: it unlinks itself when it runs).
    pub unsafe fn waiters(&self, interest: u8) -> Waiters {
        Waiters { node: self.waiters, interest }
    }

    /// Forgets the file behind this number: the number was closed, or now names a new file.
    /// Waiters are not touched (they see the generation change when they wake).
    pub fn forget(&mut self) {
        // SAFETY: a non-null desc is a live Box; this entry's reference is one of `refs`.
        if let Some(desc) = unsafe { self.desc.as_mut() } {
            debug_assert!(desc.refs > 0, "a description is named by the entries counted");
            desc.refs -= 1;
            if desc.refs == 0 {
                // SAFETY: the last fd sharing this description let go of it.
                drop(unsafe { Box::from_raw(self.desc) });
            }
        }
        self.desc = core::ptr::null_mut();
        self.generation = self.generation.wrapping_add(1);
        self.registration = Registration::No;
        self.not_readable = false;
        self.not_writable = false;
        self.read_closed = false;
    }

    /// A new hub (in a forked child) knows nothing of this fd yet: no registration, no
    /// readiness, and no waiters (they were threads of the parent). The description stays.
    pub fn forget_hub_state(&mut self) {
        if self.registration == Registration::Yes {
            self.registration = Registration::No;
        }
        self.not_readable = false;
        self.not_writable = false;
        self.read_closed = false;
        self.waiters = core::ptr::null_mut();
    }

    /// This number now names a new description we just learnt about.
    pub fn adopt(&mut self, kind: Kind, owned_nonblock: bool, user_nonblock: bool) {
        self.forget();
        let (timeouts, file_reads, refuses_nowait, shared) = ([(0, 0); 2], FileReads::PageCache, false, false);
        let desc = Desc { refs: 1, kind, owned_nonblock, user_nonblock, timeouts, file_reads, refuses_nowait, shared };
        self.desc = Box::into_raw(Box::new(desc));
    }

    /// This number is now a duplicate of `source`'s (dup, dup2, F_DUPFD).
    pub fn share(&mut self, source: &FdEntry) {
        self.forget();
        // SAFETY: a non-null desc is a live Box; the count changes while no reference to it
        // is handed out (this entry and `source` are borrowed here).
        if let Some(desc) = unsafe { source.desc.as_mut() } {
            desc.refs += 1;
            self.desc = source.desc;
        }
    }
}

/// True when a blocking-mode call on `fd` from a thread that is not green must be made to
/// block by hand, because we set O_NONBLOCK on its description behind the program's back.
/// Read-only: any thread.
pub fn needs_blocking_emulation(fd: i32) -> bool {
    let Some(entry) = TABLE.slot(fd, false) else { return false };
    // SAFETY: a live entry; only plain values are copied out (as in `kind`).
    unsafe { (*entry).desc.as_ref() }.is_some_and(|d| d.owned_nonblock && !d.user_nonblock)
}

#[cfg(test)]
#[path = "fdtable_tests.rs"]
mod tests;
