//! What we know about each file descriptor, indexed by fd number.
//!
//! Two layers, because POSIX has two:
//! * per open file description ([`Desc`], shared by dup'd fds and refcounted): what kind of
//!   file it is, whether *we* switched it to O_NONBLOCK (only ever on descriptions we
//!   created), and whether the *program* thinks it is non-blocking. `fcntl(F_GETFL)` shows the
//!   program's view, never ours.
//! * per fd number ([`FdEntry`]): the epoll registration (epoll keys on fd + description),
//!   the readiness bits it reported, the waiters parked on it, and a generation number that
//!   changes whenever the number is closed, so a waiter woken after its fd was closed and the
//!   number reused never touches the new file.
//!
//! The table is made of chunks allocated on first use and never freed or moved, so an entry
//! pointer stays valid across parks. Entries are mutated on the hub thread; other threads
//! only reset entries of fds they close or create (those numbers are theirs at that moment).

use super::green::{self, Green, Wake};
use core::sync::atomic::{AtomicPtr, Ordering};

const CHUNK: usize = 1024;
/// fds at or above this (2^20, Linux's default nr_open) are left untracked: calls on them
/// pass straight through.
const MAX_CHUNKS: usize = 1024;

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

pub struct Desc {
    refs: u32,
    pub kind: Kind,
    /// We set O_NONBLOCK on this description (we created it), so its calls can simply be
    /// retried on EAGAIN. Never true for descriptions inherited or shared with others.
    pub owned_nonblock: bool,
    /// The program's own view of O_NONBLOCK.
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
        WaitNode {
            prev: core::ptr::null_mut(),
            next: core::ptr::null_mut(),
            green,
            interest,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    No,
    Yes,
    /// epoll refused it (EPERM: a regular file, /dev/null): every call runs inline.
    Unpollable,
}

pub struct FdEntry {
    pub desc: *mut Desc,
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

static CHUNKS: [AtomicPtr<FdEntry>; MAX_CHUNKS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CHUNKS];

/// The entry for `fd`, allocating its chunk on first use; None for negative or huge fds.
pub fn entry(fd: i32) -> Option<&'static mut FdEntry> {
    if fd < 0 {
        return None;
    }
    let (chunk, slot) = (fd as usize / CHUNK, fd as usize % CHUNK);
    let slot_ptr = CHUNKS.get(chunk)?;
    let mut base = slot_ptr.load(Ordering::Acquire);
    if base.is_null() {
        base = allocate_chunk(slot_ptr);
    }
    // SAFETY: chunks are never freed; `slot` < CHUNK. Mutation happens on the hub thread, or
    // by the thread that owns the fd number at that moment (see module doc).
    Some(unsafe { &mut *base.add(slot) })
}

/// The entry for `fd` if its chunk already exists (no allocation: for foreign threads).
pub fn existing(fd: i32) -> Option<&'static mut FdEntry> {
    if fd < 0 {
        return None;
    }
    let base = CHUNKS.get(fd as usize / CHUNK)?.load(Ordering::Acquire);
    // SAFETY: as in `entry`.
    (!base.is_null()).then(|| unsafe { &mut *base.add(fd as usize % CHUNK) })
}

#[cold]
fn allocate_chunk(slot: &AtomicPtr<FdEntry>) -> *mut FdEntry {
    let layout = core::alloc::Layout::array::<FdEntry>(CHUNK).expect("chunk layout");
    // SAFETY: an all-zero FdEntry is valid (null pointers, false, generation 0, No).
    let fresh = unsafe { std::alloc::alloc_zeroed(layout) } as *mut FdEntry;
    if fresh.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    match slot.compare_exchange(core::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire)
    {
        Ok(_) => fresh,
        Err(winner) => {
            // SAFETY: we allocated it just above and nobody else saw it.
            unsafe { std::alloc::dealloc(fresh as *mut u8, layout) };
            winner
        }
    }
}

impl FdEntry {
    pub fn desc(&self) -> Option<&'static mut Desc> {
        // SAFETY: a non-null desc is a live Box we own (refcounted by fd entries).
        (!self.desc.is_null()).then(|| unsafe { &mut *self.desc })
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

    /// # Safety
    /// `node` lives until `unlink` is called on it.
    pub unsafe fn link(&mut self, node: *mut WaitNode) {
        (*node).prev = core::ptr::null_mut();
        (*node).next = self.waiters;
        if !self.waiters.is_null() {
            (*self.waiters).prev = node;
        }
        self.waiters = node;
    }

    /// # Safety
    /// `node` was linked into this entry with `link`.
    pub unsafe fn unlink(&mut self, node: *mut WaitNode) {
        if (*node).prev.is_null() {
            self.waiters = (*node).next;
        } else {
            (*(*node).prev).next = (*node).next;
        }
        if !(*node).next.is_null() {
            (*(*node).next).prev = (*node).prev;
        }
    }

    /// Wakes every waiter whose interest intersects `interest`.
    ///
    /// # Safety
    /// Hub thread only.
    pub unsafe fn wake_waiters(&mut self, interest: u8, why: Wake) {
        let mut node = self.waiters;
        while !node.is_null() {
            if (*node).interest & interest != 0 {
                green::wake((*node).green, why);
            }
            node = (*node).next;
        }
    }

    /// Forgets the file behind this number: the number was closed, or now names a new file.
    /// Waiters are not touched (see `closed`).
    pub fn forget(&mut self) {
        if let Some(desc) = self.desc() {
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
        self.desc =
            Box::into_raw(Box::new(Desc { refs: 1, kind, owned_nonblock, user_nonblock }));
    }

    /// This number is now a duplicate of `source`'s (dup, dup2, F_DUPFD).
    pub fn share(&mut self, source: &FdEntry) {
        self.forget();
        if let Some(desc) = source.desc() {
            desc.refs += 1;
            self.desc = source.desc;
        }
    }
}

/// Calls `f` for every fd whose entry exists.
pub fn for_each(mut f: impl FnMut(i32, &mut FdEntry)) {
    for (chunk, slot) in CHUNKS.iter().enumerate() {
        let base = slot.load(Ordering::Acquire);
        if base.is_null() {
            continue;
        }
        for index in 0..CHUNK {
            // SAFETY: as in `entry`.
            f((chunk * CHUNK + index) as i32, unsafe { &mut *base.add(index) });
        }
    }
}

/// True when a blocking-mode call on `fd` from a thread that is not green must be made to
/// block by hand, because we set O_NONBLOCK on its description behind the program's back.
pub fn needs_blocking_emulation(fd: i32) -> bool {
    existing(fd)
        .and_then(|e| e.desc())
        .is_some_and(|d| d.owned_nonblock && !d.user_nonblock)
}
