//! accept4 on a listening socket whose O_NONBLOCK is not ours to set (made by a raw system
//! call, or inherited), made non-blocking for the one call through a private io_uring
//! (sys/nowait_ring.rs). Several processes may share such a socket, a master's passed to
//! pre-forked workers: when a sibling takes a connection first, the accept fails with
//! EAGAIN and the green thread waits for the next one, where a poll followed by the plain
//! accept would block the hub, and every green thread with it, until then.
//!
//! Kernels without IORING_ACCEPT_DONTWAIT (before 6.10), or where io_uring is forbidden,
//! keep that older way (README.md, Limits). The ring is set up the first time an accept
//! needs it, once per process; a forked child sets up its own.

use super::state::rt;
use crate::sys::errno;
use crate::sys::nowait_ring::NowaitRing;
use core::sync::atomic::{AtomicI32, Ordering};

/// The ring's fd, for other threads asking whether a number is ours (-1: none).
static RING_FD: AtomicI32 = AtomicI32::new(-1);

/// The ring's fd, or -1 while there is none (programs may not close or replace it). Any
/// thread.
pub fn ring_fd() -> i32 {
    RING_FD.load(Ordering::Acquire)
}

/// Whether [`accept`] can be made here, setting the ring up the first time.
///
/// # Safety
/// Hub thread only.
pub unsafe fn available() -> bool {
    // SAFETY: hub thread (caller); the borrow ends in this function.
    let rt = unsafe { rt() };
    let ring = rt.accept_ring.get_or_insert_with(|| {
        let ring = NowaitRing::new(super::poller::move_high);
        match &ring {
            Ok(ring) => RING_FD.store(ring.fd(), Ordering::Release),
            Err(e) => crate::sys::log::log!(Info, "accept without waiting unavailable (errno {}): poll first", e),
        }
        ring
    });
    ring.is_ok()
}

/// accept4(listener, addr, addrlen, flags) that fails with EAGAIN instead of waiting, with
/// the kernel's own results and errno otherwise.
///
/// # Safety
/// Hub thread only, after [`available`] said true; `addr` and `addrlen` as for accept4.
pub unsafe fn accept(listener: i32, addr: *mut libc::sockaddr, addrlen: *mut libc::socklen_t, flags: i32) -> isize {
    // SAFETY: hub thread (caller); the borrow ends in this function.
    let Some(Ok(ring)) = (unsafe { &rt().accept_ring }) else { return errno::fail(libc::EAGAIN) };
    match ring.accept(listener, addr as usize, addrlen as usize, flags) {
        fd if fd >= 0 => fd as isize,
        e => errno::fail(-e),
    }
}

/// A forked child must not submit to its parent's ring (the mapping is shared): it forgets
/// it, and sets up its own when it first needs one.
///
/// # Safety
/// In the child, on its only thread.
pub unsafe fn forget_in_child() {
    // Ours, not the program's: never trapped (sys/own_calls.rs), the close included.
    let _own = crate::sys::own_calls::own_calls();
    RING_FD.store(-1, Ordering::Release);
    // SAFETY: the child's one thread (caller). Dropping closes and unmaps the child's copies only.
    unsafe { rt() }.accept_ring = None;
}
