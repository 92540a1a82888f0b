//! The green wait behind every io_uring hook (uring.rs, uring_enter.rs): a ring's fd is
//! pollable, readable while its completion queue holds entries, so a green thread that
//! waits for completions parks on that fd's readiness like any other reader and the OS
//! thread never sleeps in `io_uring_enter` (README.md, "io_uring").
//!
//! Whether enough completions are queued comes from the queue's head and tail: liburing's
//! `struct io_uring` has them mapped; for a raw `io_uring_enter` we map them ourselves for
//! the wait (`CqView`), or, for one completion, ask the kernel with IORING_ENTER_EXT_ARG and
//! a zero timeout. (The kernel's 0 is no count: a wait that times out returns 0 whenever
//! any completion is queued.) Before counting, a non-blocking GETEVENTS posts what the
//! kernel held back (overflow, task work). A completion posted after the count raises an
//! edge on the ring's fd that stays in epoll's ready list until the hub next waits, which
//! is after this thread has parked: none is lost, and a wait for several completions counts
//! again once per edge, never spinning. Rings set up with IORING_SETUP_DEFER_TASKRUN raise
//! no edge: there the wait also counts again after growing naps.
//!
//! `io_uring_enter` is no cancellation point natively (glibc never sees it), so the wait
//! defers cancellation while it parks.

use super::deadline::{passed, recheck_deadline, FIRST_NAP_NS};
use super::hub::Hub;
use crate::runtime::fdtable::READ;
use crate::runtime::green::Wake;
use crate::runtime::{cancel, io as green_io, rt};
use crate::sys::raw;
use core::ffi::c_long;
use core::sync::atomic::{AtomicU32, Ordering};
use rustix::mm::{MapFlags, ProtFlags};

pub(super) const ENTER_GETEVENTS: u32 = 1 << 0;
pub(super) const ENTER_SQ_WAKEUP: u32 = 1 << 1;
pub(super) const ENTER_EXT_ARG: u32 = 1 << 3;
/// A hint for the kernel's iowait accounting (6.15 and later): changes no result.
const ENTER_NO_IOWAIT: u32 = 1 << 7;
/// The `io_uring_enter` flags a green wait takes. The others pass through: a registered
/// ring's index is no fd to poll (REGISTERED_RING), SQ_WAIT waits for submission space,
/// ABS_TIMER and EXT_ARG_REG change what the argument means, and unknown ones are the
/// kernel's to refuse.
pub(super) const GREEN_FLAGS: u32 = ENTER_GETEVENTS | ENTER_SQ_WAKEUP | ENTER_EXT_ARG | ENTER_NO_IOWAIT;
pub(super) const SETUP_IOPOLL: u32 = 1 << 0;
const SETUP_CQE32: u32 = 1 << 11;
pub(super) const SETUP_DEFER_TASKRUN: u32 = 1 << 13;
pub(super) const FEAT_EXT_ARG: u32 = 1 << 8;
/// The kernel's sigset_t, the size liburing passes: 64 signals.
pub(super) const SIGSET_SIZE: usize = 8;

/// The kernel's `struct __kernel_timespec`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct KernelTimespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

pub(super) const ZERO_TIME: KernelTimespec = KernelTimespec { tv_sec: 0, tv_nsec: 0 };

/// The kernel's `struct io_uring_getevents_arg` (IORING_ENTER_EXT_ARG).
#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct GeteventsArg {
    pub sigmask: u64,
    pub sigmask_sz: u32,
    /// `pad` before 6.12, `min_wait_usec` since.
    pub min_wait_usec: u32,
    pub ts: u64,
}

/// liburing's `struct io_uring_sq`, the same in every 2.x release.
#[repr(C)]
struct Sq {
    khead: *mut u32,
    ktail: *mut u32,
    kring_mask: *mut u32,
    kring_entries: *mut u32,
    kflags: *mut u32,
    kdropped: *mut u32,
    array: *mut u32,
    sqes: *mut u8,
    sqe_head: u32,
    sqe_tail: u32,
    ring_sz: usize,
    ring_ptr: *mut u8,
    ring_mask: u32,
    ring_entries: u32,
    pad: [u32; 2],
}

/// liburing's `struct io_uring_cq`.
#[repr(C)]
struct Cq {
    khead: *mut u32,
    ktail: *mut u32,
    kring_mask: *mut u32,
    kring_entries: *mut u32,
    kflags: *mut u32,
    koverflow: *mut u32,
    cqes: *mut Cqe,
    ring_sz: usize,
    ring_ptr: *mut u8,
    ring_mask: u32,
    ring_entries: u32,
    pad: [u32; 2],
}

/// liburing's `struct io_uring_cqe` (16 bytes; twice that with IORING_SETUP_CQE32).
#[repr(C)]
pub(super) struct Cqe {
    user_data: u64,
    res: i32,
    flags: u32,
}

/// liburing's `struct io_uring`: its layout is part of liburing's ABI (the inline
/// functions of liburing.h read it) and has not changed since 2.0.
#[repr(C)]
pub(super) struct Ring {
    sq: Sq,
    cq: Cq,
    flags: u32,
    ring_fd: i32,
    features: u32,
    enter_ring_fd: i32,
    int_flags: u8,
    pad: [u8; 3],
    pad2: u32,
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(core::mem::size_of::<Ring>() == 216);

/// What a ring tells the hooks before they wait: its fd, setup flags and features.
#[derive(Clone, Copy)]
pub(super) struct RingFacts {
    pub fd: i32,
    pub flags: u32,
    pub features: u32,
}

/// # Safety
/// `ring` points to a ring liburing set up (the program's promise to liburing).
pub(super) unsafe fn facts(ring: *const Ring) -> RingFacts {
    // SAFETY: a set-up ring (caller); plain fields liburing wrote once at setup.
    unsafe { RingFacts { fd: (*ring).ring_fd, flags: (*ring).flags, features: (*ring).features } }
}

/// Completions in the queue that the program has not consumed yet.
///
/// # Safety
/// As for `facts`.
unsafe fn queued(ring: *const Ring) -> u32 {
    // SAFETY: a set-up ring (caller): khead and ktail point into the mapped queue. The
    // kernel writes the tail with release semantics and liburing reads it with acquire;
    // the head is the program's own.
    unsafe {
        let tail = AtomicU32::from_ptr((*ring).cq.ktail).load(Ordering::Acquire);
        tail.wrapping_sub((*ring).cq.khead.read_volatile())
    }
}

/// The first queued completion, or null: what liburing's peek leaves in `*cqe_ptr`.
///
/// # Safety
/// As for `facts`.
pub(super) unsafe fn first_queued(ring: *const Ring) -> *mut Cqe {
    // SAFETY: as for `queued`; the mask and the array are liburing's view of the mapping.
    unsafe {
        if queued(ring) == 0 {
            return core::ptr::null_mut();
        }
        let head = (*ring).cq.khead.read_volatile();
        let shift = u32::from((*ring).flags & SETUP_CQE32 != 0);
        (*ring).cq.cqes.add(((head & (*ring).cq.kring_mask.read()) << shift) as usize)
    }
}

/// Whether `min` completions are queued. When the mapped queue holds fewer, the kernel is
/// asked first (without waiting) to post what it held back: completions on its overflow
/// list, task work that completes requests (deferred to the ring's own calls under
/// IORING_SETUP_DEFER_TASKRUN). Some(false) when not yet.
///
/// # Safety
/// As for `facts`.
pub(super) unsafe fn ring_ready(ring: *const Ring, min: u32) -> Option<bool> {
    // SAFETY: the caller's ring.
    if unsafe { queued(ring) } >= min {
        return Some(true);
    }
    // SAFETY: as above.
    flush(unsafe { facts(ring) }.fd);
    // SAFETY: as above.
    Some(unsafe { queued(ring) } >= min)
}

/// io_uring_enter(GETEVENTS) for no completion: never sleeps, runs the ring's pending
/// task work and flushes its overflow list.
fn flush(fd: i32) {
    // SAFETY: no argument for the kernel to read; a bad fd just fails.
    let _ = unsafe { raw_enter(fd as u32, 0, 0, ENTER_GETEVENTS, 0, 0) };
}

/// The raw system call; the kernel's result, -errno on failure.
///
/// # Safety
/// `arg` and `size` are valid for `flags`, as the kernel reads them.
pub(super) unsafe fn raw_enter(fd: u32, to_submit: u32, min_complete: u32, flags: u32, arg: usize, size: usize) -> c_long {
    let args = [fd as usize, to_submit as usize, min_complete as usize, flags as usize, arg, size];
    // SAFETY: the caller's arguments.
    unsafe { raw::syscall6(libc::SYS_io_uring_enter, args) as c_long }
}

/// A ring's completion queue head and tail, mapped read-only for the length of one raw
/// `io_uring_enter` wait: the program's own mapping is nowhere we know. Both sit at fixed
/// offsets of the kernel's `struct io_rings` (the `cq_off.head` and `cq_off.tail` every
/// kernel reports), at the start of the ring mapping.
pub(super) struct CqView(*mut core::ffi::c_void);

const RINGS_CQ_HEAD: usize = 8;
const RINGS_CQ_TAIL: usize = 12;
const RINGS_VIEW_LEN: usize = 16;

impl CqView {
    /// None where the ring cannot be mapped (IORING_SETUP_NO_MMAP, not a ring).
    pub(super) fn map(fd: i32) -> Option<CqView> {
        // Ours, not the program's: never trapped (sys/own_calls.rs).
        let _own = crate::sys::own_calls::own_calls();
        // SAFETY: a fresh shared read-only mapping chosen by the kernel; the fd is only
        // read (a bad one fails).
        let base = unsafe {
            let ring = rustix::fd::BorrowedFd::borrow_raw(fd);
            rustix::mm::mmap(core::ptr::null_mut(), RINGS_VIEW_LEN, ProtFlags::READ, MapFlags::SHARED, ring, 0)
        };
        base.ok().map(CqView)
    }

    /// Completions queued and not yet consumed, as the kernel counts them.
    fn queued(&self) -> u32 {
        // SAFETY: the mapping covers both words while `self` lives; the kernel writes the
        // tail with release semantics, the program moves the head.
        unsafe {
            let base = self.0 as *mut u8;
            let tail = AtomicU32::from_ptr(base.add(RINGS_CQ_TAIL) as *mut u32).load(Ordering::Acquire);
            let head = AtomicU32::from_ptr(base.add(RINGS_CQ_HEAD) as *mut u32).load(Ordering::Acquire);
            tail.wrapping_sub(head)
        }
    }
}

impl Drop for CqView {
    fn drop(&mut self) {
        // Ours, not the program's: never trapped (sys/own_calls.rs).
        let _own = crate::sys::own_calls::own_calls();
        // SAFETY: our own mapping, unused from here on.
        let _ = unsafe { rustix::mm::munmap(self.0, RINGS_VIEW_LEN) };
    }
}

/// Whether `min` completions are queued on ring `fd`, for a raw `io_uring_enter`: from the
/// mapped head and tail after a flush, or, for one completion and no mapping, from the
/// kernel asked with EXT_ARG and a zero timeout (0 when any completion is queued, -ETIME
/// when none; with more than one wanted its 0 says too little). None when neither can tell.
pub(super) fn enter_ready(fd: i32, min: u32, view: Option<&CqView>) -> Option<bool> {
    if let Some(view) = view {
        flush(fd);
        return Some(view.queued() >= min);
    }
    if min > 1 {
        return None;
    }
    let zero = ZERO_TIME;
    let arg = GeteventsArg { sigmask: 0, sigmask_sz: 0, min_wait_usec: 0, ts: &zero as *const KernelTimespec as u64 };
    let size = core::mem::size_of::<GeteventsArg>();
    // SAFETY: `arg` and the timespec it names live across the call; nothing to submit.
    let r = unsafe { raw_enter(fd as u32, 0, 1, ENTER_GETEVENTS | ENTER_EXT_ARG, &arg as *const GeteventsArg as usize, size) };
    match r {
        0 => Some(true),
        // A signal during the check: the caller parks and its handler runs meanwhile.
        _ if r == -(libc::ETIME as c_long) || r == -(libc::EINTR as c_long) => Some(false),
        _ => None,
    }
}

/// How a green wait for completions ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Waited {
    Ready,
    TimedOut,
    Interrupted,
    /// The ring's fd was closed under the waiter.
    Closed,
    /// Nothing can tell when the completions come: the caller makes the real call.
    Cannot,
}

/// Whether green threads other than the caller exist: with none, blocking the OS thread
/// in the kernel keeps nobody waiting, and is the cheapest wait.
pub(super) fn others_exist(_hub: Hub) -> bool {
    // SAFETY: hub thread (`_hub`); one field read at once.
    unsafe { rt().live > 0 }
}

/// Parks the running green thread on `fd`'s readiness until `ready` says yes, the
/// deadline (CLOCK_MONOTONIC ns) passes, or a signal handler runs for it. With `nap`, it
/// also looks again after growing naps (50 us, doubling to 10 ms): a ring set up with
/// IORING_SETUP_DEFER_TASKRUN raises no edge on its fd when a request completes, only
/// when its task next asks the kernel.
pub(super) fn wait_ready(_hub: Hub, fd: i32, deadline: Option<u64>, nap: bool, mut ready: impl FnMut() -> Option<bool>) -> Waited {
    // SAFETY: hub thread (`_hub`); the root has no cancel state (None).
    let cancel_was = unsafe { cancel::set(Some(true), None) };
    let mut next_nap = FIRST_NAP_NS;
    let waited = loop {
        match ready() {
            Some(true) => break Waited::Ready,
            None => break Waited::Cannot,
            Some(false) => {}
        }
        let until = recheck_deadline(deadline, nap, &mut next_nap);
        // SAFETY: hub thread (`_hub`).
        match unsafe { green_io::wait_fd(fd, READ, until) } {
            Ok(Wake::Timeout) if passed(deadline) => break Waited::TimedOut,
            Ok(Wake::Interrupted { .. }) => break Waited::Interrupted,
            Ok(Wake::Closed) => break Waited::Closed,
            Ok(_) => {}
            Err(_) => break Waited::Cannot,
        }
    };
    if let Some((disabled, _)) = cancel_was {
        // SAFETY: hub thread; the wait is over and holds no link. Only an asynchronous
        // request acts here, as natively it would have acted during the call.
        unsafe { cancel::set(Some(disabled), None) };
    }
    waited
}

/// A relative `__kernel_timespec` in nanoseconds; None when the kernel would refuse it.
pub(super) fn timeout_ns(ts: &KernelTimespec) -> Option<u64> {
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return None;
    }
    Some((ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64))
}
