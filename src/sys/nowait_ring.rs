//! A private io_uring of one entry, used as a system call that cannot block: the way to make
//! accept4 non-blocking for one call on a listening socket whose O_NONBLOCK is not ours to
//! set. accept4 takes no MSG_DONTWAIT, and a poll(2) first does not make the accept safe: a
//! sibling process sharing the socket may take the connection between the two, and the
//! accept then blocks the whole OS thread until the next one. IORING_OP_ACCEPT with
//! IORING_ACCEPT_DONTWAIT (Linux 6.10) is accept4 through the kernel's non-blocking path for
//! this request only, EAGAIN included, the description untouched.
//!
//! The request is submitted and reaped in one io_uring_enter: an accept that may not wait
//! completes during its submission, so its completion is posted before the call returns.
//! The ring is never shared: one thread submits, and a forked child makes its own (the
//! mapping is MAP_SHARED with the parent's).

use super::raw::syscall6;
use rustix::fd::{AsRawFd, FromRawFd, OwnedFd};
use core::sync::atomic::{AtomicU32, Ordering::{Acquire, Release}};

const IORING_OP_ACCEPT: u8 = 13;
const IORING_ACCEPT_DONTWAIT: u16 = 1 << 1;
const IORING_ENTER_GETEVENTS: usize = 1;
const IORING_FEAT_SINGLE_MMAP: u32 = 1;
const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_CQ_RING: i64 = 0x800_0000;
const IORING_OFF_SQES: i64 = 0x1000_0000;

/// struct io_sqring_offsets and io_cqring_offsets share this shape (field names differ).
#[repr(C)]
#[derive(Default, Clone, Copy)]
#[allow(dead_code)] // the kernel's layout: fields we never read still hold their place
struct RingOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    flags_or_overflow: u32,
    dropped_or_cqes: u32,
    array_or_flags: u32,
    resv1: u32,
    user_addr: u64,
}

/// struct io_uring_params.
#[repr(C)]
#[derive(Default)]
#[allow(dead_code)] // the kernel's layout: fields we never read still hold their place
struct Params {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    sq_off: RingOffsets,
    cq_off: RingOffsets,
}

/// struct io_uring_sqe, with the fields an accept uses named for it.
#[repr(C)]
#[derive(Default)]
#[allow(dead_code)] // the kernel's layout: fields we never read still hold their place
struct Sqe {
    opcode: u8,
    flags: u8,
    ioprio: u16,
    fd: i32,
    addr2: u64,
    addr: u64,
    len: u32,
    op_flags: u32,
    user_data: u64,
    buf_index: u16,
    personality: u16,
    file_index: u32,
    addr3: u64,
    pad: u64,
}

/// struct io_uring_cqe.
#[repr(C)]
#[allow(dead_code)] // the kernel's layout: fields we never read still hold their place
struct Cqe {
    user_data: u64,
    res: i32,
    flags: u32,
}

/// One mapping of the ring's fd.
struct Mapping {
    addr: *mut u8,
    len: usize,
}

impl Mapping {
    fn new(fd: i32, len: usize, offset: i64) -> Result<Mapping, i32> {
        let prot = (libc::PROT_READ | libc::PROT_WRITE) as usize;
        let flags = (libc::MAP_SHARED | libc::MAP_POPULATE) as usize;
        // SAFETY: a fresh shared mapping of the ring's own fd; it touches no existing memory.
        let addr = unsafe { syscall6(libc::SYS_mmap, [0, len, prot, flags, fd as usize, offset as usize]) };
        if addr < 0 {
            return Err(-addr as i32);
        }
        Ok(Mapping { addr: addr as *mut u8, len })
    }

    /// The u32 the kernel shares at `offset`.
    fn word(&self, offset: u32) -> *const AtomicU32 {
        self.addr.wrapping_add(offset as usize) as *const AtomicU32
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once; nothing refers to it once the ring drops.
        unsafe { syscall6(libc::SYS_munmap, [self.addr as usize, self.len, 0, 0, 0, 0]) };
    }
}

/// The ring: its fd, its shared memory, and where the kernel's indexes sit in it.
pub struct NowaitRing {
    fd: OwnedFd,
    /// The submission ring, and the completion ring when the kernel maps both at once.
    rings: Mapping,
    /// The completion ring when the kernel maps it apart.
    cq_apart: Option<Mapping>,
    sqes: Mapping,
    sq: RingOffsets,
    cq: RingOffsets,
}

impl NowaitRing {
    /// A new ring that accepts without waiting, its fd first put where `place` says (the
    /// runtime keeps its own fds out of the program's range); or the errno that says this
    /// kernel cannot (io_uring missing or forbidden, or no IORING_ACCEPT_DONTWAIT: EINVAL).
    pub fn new(place: impl FnOnce(OwnedFd) -> OwnedFd) -> Result<NowaitRing, i32> {
        // Ours, not the program's: never trapped (own_calls.rs), the close of a ring that
        // failed its probe included (the guard outlives it).
        let _own = super::own_calls::own_calls();
        let mut params = Params::default();
        let params_at = &mut params as *mut Params as usize;
        // SAFETY: the kernel fills `params`, which lives across the call.
        let fd = unsafe { syscall6(libc::SYS_io_uring_setup, [1, params_at, 0, 0, 0, 0]) };
        if fd < 0 {
            return Err(-fd as i32);
        }
        // SAFETY: the kernel just made this fd (close-on-exec), and nothing else owns it.
        let fd = place(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        let ring = Self::map(fd, &params)?;
        // An accept of fd -1 passes the flag check first: EBADF where the flag is known.
        match ring.accept(-1, 0, 0, 0) {
            e if e == -libc::EBADF => Ok(ring),
            e if e < 0 => Err(-e),
            _ => Err(libc::EINVAL),
        }
    }

    /// The ring's fd.
    pub fn fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    fn map(fd: OwnedFd, params: &Params) -> Result<NowaitRing, i32> {
        let (sq, cq) = (params.sq_off, params.cq_off);
        let sq_len = sq.array_or_flags as usize + params.sq_entries as usize * 4;
        let cq_len = cq.dropped_or_cqes as usize + params.cq_entries as usize * size_of::<Cqe>();
        let single = params.features & IORING_FEAT_SINGLE_MMAP != 0;
        let raw = fd.as_raw_fd();
        let rings = Mapping::new(raw, if single { sq_len.max(cq_len) } else { sq_len }, IORING_OFF_SQ_RING)?;
        let cq_apart = if single { None } else { Some(Mapping::new(raw, cq_len, IORING_OFF_CQ_RING)?) };
        let sqes = Mapping::new(raw, params.sq_entries as usize * size_of::<Sqe>(), IORING_OFF_SQES)?;
        Ok(NowaitRing { fd, rings, cq_apart, sqes, sq, cq })
    }

    /// accept4(listener, addr, addrlen, flags) that never waits: the new fd, or minus the
    /// errno (EAGAIN when no connection is queued), as the kernel's accept4 reports them.
    /// The caller keeps the ring to one thread at a time.
    pub fn accept(&self, listener: i32, addr: usize, addrlen: usize, flags: i32) -> i32 {
        let sqe = Sqe {
            opcode: IORING_OP_ACCEPT,
            ioprio: IORING_ACCEPT_DONTWAIT,
            fd: listener,
            addr: addr as u64,
            addr2: addrlen as u64,
            op_flags: flags as u32,
            ..Sqe::default()
        };
        self.submit_and_reap(sqe)
    }

    fn submit_and_reap(&self, sqe: Sqe) -> i32 {
        let tail_word = self.rings.word(self.sq.tail);
        // SAFETY: the kernel's indexes and entries lie inside our mappings at the offsets
        // it gave; only this thread submits, so the tail is ours to advance, and the entry
        // at it is free (every earlier one was reaped before its call returned).
        unsafe {
            let mask = *self.rings.word(self.sq.ring_mask).cast::<u32>();
            let tail = (*tail_word).load(Acquire);
            let index = tail & mask;
            core::ptr::write((self.sqes.addr as *mut Sqe).add(index as usize), sqe);
            let array = self.rings.addr.add(self.sq.array_or_flags as usize) as *mut u32;
            *array.add(index as usize) = index;
            (*tail_word).store(tail.wrapping_add(1), Release);
        }
        let mut to_submit = 1;
        loop {
            let args = [self.fd() as usize, to_submit, 1, IORING_ENTER_GETEVENTS, 0, 0];
            // SAFETY: the entry and the memory it names (the caller's) are valid.
            let entered = unsafe { syscall6(libc::SYS_io_uring_enter, args) };
            if entered >= 0 {
                to_submit = 0;
            }
            if let Some(res) = self.reap() {
                return res;
            }
            if entered < 0 && entered != -(libc::EINTR as isize) {
                return entered as i32;
            }
        }
    }

    /// The result of the one completion posted, if it is there yet.
    fn reap(&self) -> Option<i32> {
        let cq_ring = self.cq_apart.as_ref().unwrap_or(&self.rings);
        // SAFETY: as in submit_and_reap: the completion ring's indexes and entries lie in
        // our mapping; only this thread reaps, so the head is ours to advance.
        unsafe {
            let head_word = cq_ring.word(self.cq.head);
            let head = (*head_word).load(Acquire);
            if (*cq_ring.word(self.cq.tail)).load(Acquire) == head {
                return None;
            }
            let mask = *cq_ring.word(self.cq.ring_mask).cast::<u32>();
            let cqes = cq_ring.addr.add(self.cq.dropped_or_cqes as usize) as *const Cqe;
            let res = (*cqes.add((head & mask) as usize)).res;
            (*head_word).store(head.wrapping_add(1), Release);
            Some(res)
        }
    }
}
