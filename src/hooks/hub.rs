//! What a hook may do once it knows it runs green on the hub thread.
//!
//! Most runtime operations have one precondition: the caller is on the hub thread, with no
//! signal handler running there (ARCHITECTURE.md, Invariants). A [`Hub`] is the proof of it,
//! made once per call by [`Hub::here`]; the operations below take it and are safe. The sync
//! hooks also keep side tables keyed by an object's address ([`HubMap`]), which only the hub
//! thread touches.

use crate::runtime::green::{self, Green, Wake, WaitingOn};
use crate::runtime::{cancel, inbox, on_hub, preempt, rt, started, waitqueue, AddressHasher};
use crate::runtime::io as green_io;
use core::cell::RefCell;
use core::marker::PhantomData;
use std::collections::HashMap;

/// Proof that the caller runs green on the hub thread (`on_hub()` held when it was made).
/// Neither Send nor Sync, so it cannot reach another OS thread; a signal handler, where
/// `on_hub()` is false, cannot make one.
#[derive(Clone, Copy)]
pub(crate) struct Hub(PhantomData<*const ()>);

impl Hub {
    /// The proof, or None when the caller must make the real call (ARCHITECTURE.md,
    /// Pass-through rules).
    #[inline(always)]
    pub(crate) fn here() -> Option<Hub> {
        on_hub().then_some(Hub(PhantomData))
    }

    /// The running green thread.
    #[inline(always)]
    pub(crate) fn current(self) -> *mut Green {
        // SAFETY: `self` proves we are on the hub thread, the only precondition.
        unsafe { green::current() }
    }

    /// The root (main) green thread.
    #[inline(always)]
    pub(crate) fn root(self) -> *mut Green {
        // SAFETY: hub thread (`self`); a copy of one field, no reference kept.
        unsafe { rt().root }
    }

    /// The green thread behind a pthread_t, if it is one of ours, live and not reclaimed.
    #[inline(always)]
    pub(crate) fn lookup(self, thread: libc::pthread_t) -> Option<*mut Green> {
        // SAFETY: hub thread (`self`), the only precondition.
        unsafe { green::lookup(thread) }
    }

    /// The owner tag lock words record for the running green thread (see green::owner_tag).
    #[inline(always)]
    pub(crate) fn my_owner_tag(self) -> i32 {
        // SAFETY: hub thread (`self`); the running thread is live.
        unsafe { green::owner_tag(green::current()) }
    }

    /// Whether a lock word's owner tag names a green thread: one of our negative tags, or
    /// the root's kernel tid. Any other owner is a foreign OS thread.
    #[inline(always)]
    pub(crate) fn is_green_owner(self, tag: i32) -> bool {
        // SAFETY: hub thread (`self`); a copy of one field, no reference kept.
        tag < 0 || tag == unsafe { rt().root_tid }
    }

    /// A blocking call of the program's made as it is when the running thread is alone
    /// (runtime::io::call_alone): Some(its result), or None when the caller is to wait green.
    #[inline(always)]
    pub(crate) fn call_alone(self, call: impl FnOnce() -> isize) -> Option<isize> {
        // SAFETY: hub thread (`self`), the only precondition.
        unsafe { green_io::call_alone(call) }
    }

    /// Parks the running green thread until woken or `deadline` (CLOCK_MONOTONIC ns).
    #[inline(always)]
    pub(crate) fn park(self, deadline: Option<u64>, waiting_on: WaitingOn) -> Wake {
        // SAFETY: hub thread (`self`), the only precondition.
        let wake = unsafe { green::park(deadline, waiting_on) };
        if matches!(waiting_on, WaitingOn::Lock { .. }) {
            // A lock held by a foreign thread is polled with naps: asynchronous
            // cancellation acts between them, as it interrupts a futex wait natively.
            // SAFETY: hub thread; a bare park holds no runtime link.
            unsafe { cancel::async_point() };
        }
        wake
    }

    /// Lets every other runnable green thread run once.
    #[inline(always)]
    pub(crate) fn yield_now(self) {
        // SAFETY: hub thread (`self`), the only precondition.
        unsafe { green::yield_now() }
    }

    /// The fair path (runtime/preempt.rs): yields if the running thread has used its slice.
    #[inline(always)]
    pub(crate) fn yield_if_due(self) {
        // SAFETY: hub thread (`self`), at a hook's entry or exit.
        unsafe { preempt::yield_if_due() }
    }

    /// A green thread was just created: preemption's tick starts if it is not running,
    /// and the creator lets the new thread in if it has used its slice.
    pub(crate) fn spawned(self) {
        // SAFETY: hub thread (`self`), at the hook's exit.
        if unsafe { preempt::arm_if_needed() } {
            // The tick's signal leaves the real mask for good (runtime/signals.rs, PREEMPT).
            // SAFETY: hub thread (`self`).
            unsafe { crate::runtime::sigroute::resync_kernel_mask() };
        }
        self.yield_if_due();
    }

    /// Parks the running green thread in `key`'s wait queue.
    #[inline(always)]
    pub(crate) fn wait(self, key: usize, deadline: Option<u64>, waiting_on: WaitingOn) -> Wake {
        // SAFETY: hub thread (`self`), the only precondition.
        unsafe { waitqueue::wait(key, deadline, waiting_on) }
    }

    /// Wakes the longest waiter in `key`'s queue with `why`; says whether there was one.
    #[inline(always)]
    pub(crate) fn wake_one(self, key: usize, why: Wake) -> bool {
        // SAFETY: hub thread (`self`), the only precondition.
        unsafe { waitqueue::wake_one(key, why) }.is_some()
    }

    /// Wakes every waiter in `key`'s queue with `why`.
    #[inline(always)]
    pub(crate) fn wake_all(self, key: usize, why: Wake) {
        // SAFETY: hub thread (`self`), the only precondition.
        unsafe { waitqueue::wake_all(key, why) }
    }

    /// Hands something over to the longest waiter in `key`'s queue (it wakes with
    /// `Wake::Handoff`); returns its owner tag, or None when nobody waits.
    #[inline(always)]
    pub(crate) fn hand_over(self, key: usize) -> Option<i32> {
        // SAFETY: hub thread (`self`); the thread just woken is live (runnable, not ended).
        unsafe { waitqueue::wake_one(key, Wake::Handoff).map(|g| green::owner_tag(g)) }
    }

    /// Takes the longest waiter out of `key`'s queue and wakes it with what `decide` says,
    /// given its owner tag; returns whether there was one.
    pub(crate) fn wake_one_with(self, key: usize, decide: impl FnOnce(i32) -> Wake) -> bool {
        // SAFETY: hub thread (`self`), the precondition of rt() and the wait queues.
        let Some(g) = (unsafe { rt().queues.pop(key) }) else { return false };
        // SAFETY: hub thread; `g` was queued, so it is live and parked until woken here.
        let tag = unsafe { green::owner_tag(g) };
        let why = decide(tag);
        // SAFETY: as above: `decide` cannot end a thread, so `g` is still live.
        unsafe { green::wake(g, why) };
        true
    }
}

/// For a call that cannot block in the program's own view (a zero timeout, a failed try),
/// which a program may make in a loop without ever parking: gives the other green threads
/// a turn when the caller, green on the hub thread, has used its slice.
#[inline(always)]
pub(crate) fn fair_turn() {
    if let Some(hub) = Hub::here() {
        hub.yield_if_due();
    }
}

/// For a wake-up made where the runtime must not be touched (a foreign OS thread, or a
/// signal handler on the hub thread), after the operation on the object itself: asks the
/// hub to let the green threads waiting on `address` look again (runtime/inbox.rs).
#[inline]
pub(crate) fn post_foreign(address: usize) {
    if started() {
        inbox::post(address);
    }
}

/// A side table keyed by an object's address, which only the hub thread touches: every
/// access goes through [`HubMap::with`], which takes a [`Hub`]. The RefCell catches a
/// second access while one is under way (a closure that parked and let another green
/// thread in), which would otherwise alias.
pub(crate) struct HubMap<V>(RefCell<Option<HashMap<usize, V, AddressHasher>>>);

// SAFETY: `with` needs a Hub, which exists only on the hub thread: the map is never
// touched from two OS threads.
unsafe impl<V> Sync for HubMap<V> {}

impl<V> HubMap<V> {
    pub(crate) const fn new() -> Self {
        HubMap(RefCell::new(None))
    }

    /// Runs `f` on the map (made empty on first use). `f` must not park.
    #[inline]
    pub(crate) fn with<R>(&self, _hub: Hub, f: impl FnOnce(&mut HashMap<usize, V, AddressHasher>) -> R) -> R {
        let mut map = self.0.borrow_mut();
        f(map.get_or_insert_with(|| HashMap::with_hasher(AddressHasher)))
    }

    /// As [`HubMap::with`], or None when the map is in use further up this thread's stack:
    /// a hook that the map's own allocation can reach again (a malloc interposer, such as
    /// glibc's malloc tracing, locking its log stream) must then do without it.
    #[inline]
    pub(crate) fn try_with<R>(&self, _hub: Hub, f: impl FnOnce(&mut HashMap<usize, V, AddressHasher>) -> R) -> Option<R> {
        let mut map = self.0.try_borrow_mut().ok()?;
        Some(f(map.get_or_insert_with(|| HashMap::with_hasher(AddressHasher))))
    }
}
