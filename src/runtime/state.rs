//! The runtime's state: one [`Runtime`] value (one hub per process), owned by the hub's OS
//! thread, the thread that started the runtime (normally the main thread). Plain statics,
//! no TLS: TLS in a cdylib goes through __tls_get_addr, which may allocate, and must never
//! be touched from a signal handler.
//!
//! The `Runtime` holds the data structures (run queue, timer heap, wait queues, stack pool,
//! poller, TLS layout) and the one state change they all share: [`Runtime::wake`], parked
//! to runnable. It sits above the data structures and below everything that schedules.
//! `rt()` asserts, in debug builds, that the caller is on the hub thread
//! (ARCHITECTURE.md, Invariants).

use super::hasher::AddressHasher;
use super::poller::Poller;
use super::queues::WaitQueues;
use super::runqueue::RunQueue;
use super::signals::{running, signal_depth, MaskCounts};
use super::stack::StackPool;
use super::thread::{Green, State, Wake};
use super::timer::TimerHeap;
use super::{thread_slots, tls_blocks};
use crate::sys::raw;
use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::collections::HashMap;

/// Plain 64-bit counters in a fixed order: `green ps` reads them from outside
/// (introspect_abi.rs, `counter`).
#[repr(C)]
#[derive(Default)]
pub struct Stats {
    pub green_threads: u64,
    pub peak_green: usize,
    pub switches: u64,
    pub hub_waits: u64,
    pub offloaded: u64,
}

pub struct Runtime {
    pub root: *mut Green,
    pub current: *mut Green,
    /// The root's kernel tid (see `owner_tag`).
    pub root_tid: i32,
    pub runq: RunQueue,
    pub timers: TimerHeap,
    pub stacks: StackPool,
    /// Every green thread not yet reclaimed, by its pthread_t.
    pub threads: HashMap<libc::pthread_t, *mut Green, AddressHasher>,
    pub queues: WaitQueues,
    pub poller: Poller,
    pub next_id: u64,
    /// Green threads alive besides the root.
    pub live: usize,
    /// Threads parked on fds: while any is, the hub can be woken from outside.
    pub fd_waiters: usize,
    /// Calls running on offload workers: their callers will be woken from outside.
    pub offloads_in_flight: usize,
    /// Threads in sigsuspend or pause: a signal from outside will wake them.
    pub signal_waiters: usize,
    /// pending_signals::handled() when the root last parked in an interruptible wait: only
    /// a handler that ran after that interrupts it.
    pub root_parked_after: u32,
    pub deadlock_reported: bool,
    /// Turns of the scheduler loop so far.
    pub ticks: u32,
    /// The turn of the hub's last look at fds and timers, and how many threads were
    /// runnable after it (see `look_again_due`).
    pub looked_at_tick: u32,
    pub looked_batch: u32,
    /// Which signals green threads accept and wait for (see sigroute.rs).
    pub signal_counts: MaskCounts,
    /// The static TLS blocks swapped per green thread, and whose contents are live now
    /// (null after that thread ended). See tls.rs.
    pub tls: tls_blocks::Layout,
    pub tls_owner: *mut Green,
    /// This OS thread's errno and resolver pointer, saved and restored around every switch
    /// (thread_slots.rs).
    pub slots: thread_slots::Slots,
    pub stats: Stats,
    pub print_stats: bool,
    /// The ring that accepts without waiting (accept_nowait.rs): None until first asked
    /// for, then the ring or the errno that said this kernel cannot.
    pub accept_ring: Option<Result<crate::sys::nowait_ring::NowaitRing, i32>>,
}

impl Runtime {
    /// Makes `g` the running thread, and its mask the one handlers see.
    ///
    /// # Safety
    /// `g` is live.
    #[inline(always)]
    pub unsafe fn set_current(&mut self, g: *mut Green) {
        if super::stats::enabled() {
            // SAFETY: both records are live (caller; the previous one has not been freed yet).
            unsafe { super::stats::switched_in(self.current, (*g).state == State::Running) };
        }
        self.current = g;
        // SAFETY: `g` is live (caller); one plain field read.
        running::set(g as usize, unsafe { (*g).signals.mask });
    }

    /// Sets how many green threads live besides the root, for everyone who mirrors it.
    pub fn set_live(&mut self, live: usize) {
        self.live = live;
        super::slice::set_others(live);
        self.note_crowd();
    }

    /// Brings [`CROWDED_HUB`] up to date after `live` or the root's cancellation request
    /// changed. Hub thread only (every `&mut Runtime` is).
    pub fn note_crowd(&self) {
        // SAFETY: the root's record lives as long as the runtime.
        let crowded = self.live > 0 || unsafe { (*self.root).cancel.requested };
        CROWDED_HUB.store(if crowded { raw::thread_self() } else { 0 }, Ordering::Relaxed);
    }

    /// Whether the scheduler loop, with threads still to run, should look at fds and timers
    /// now. At most every 61 turns (Go's scheduler looks at its global queue as often); fds
    /// only once every thread runnable after the last look has had its turn, so that a batch
    /// of ready fds is served whole before epoll is asked again (an epoll server does the
    /// same); timers whenever the earliest is due.
    pub fn look_again_due(&self) -> bool {
        if !self.ticks.is_multiple_of(61) {
            return false;
        }
        let fds_due = self.fd_waiters > 0 && self.ticks.wrapping_sub(self.looked_at_tick) >= self.looked_batch;
        fds_due || self.timers.next_deadline().is_some_and(|at| at <= crate::sys::clock::monotonic_ns())
    }

    /// Makes a parked thread runnable (see [`wake_in`]).
    ///
    /// # Safety
    /// `g` is live.
    #[inline]
    pub unsafe fn wake(&mut self, g: *mut Green, why: Wake) {
        // SAFETY: the caller's contract is `wake_in`'s.
        unsafe { wake_in(&mut self.runq, &mut self.timers, &mut self.queues, g, why) };
    }
}

/// Makes a parked thread runnable, given the runtime's queues borrowed apart (for a caller
/// that walks the thread table meanwhile). Does nothing to a thread that is not parked, so
/// every event source may call it without knowing whether someone else already did: a
/// thread is woken once per park however many events name it.
///
/// # Safety
/// `g` is live.
pub unsafe fn wake_in(runq: &mut RunQueue, timers: &mut TimerHeap, queues: &mut WaitQueues, g: *mut Green, why: Wake) {
    // SAFETY: `g` is live (caller); the borrow ends before the queues touch it.
    unsafe {
        if (*g).state != State::Parked {
            return;
        }
        (*g).state = State::Runnable;
        (*g).wake = why;
    }
    // SAFETY: `g` is live. A thread woken by its deadline leaves its wait queue now, so that
    // a later signal or unlock goes to a thread that is still waiting; it was Parked, so it
    // is not in the run queue yet.
    unsafe {
        timers.remove(g);
        queues.remove(g);
        runq.push(g);
    }
}

struct RuntimeCell(UnsafeCell<MaybeUninit<Runtime>>);
// SAFETY: only the hub thread touches the Runtime (`rt`'s contract, asserted in debug
// builds); other threads reach the hub through the poller's atomics.
unsafe impl Sync for RuntimeCell {}

static RUNTIME: RuntimeCell = RuntimeCell(UnsafeCell::new(MaybeUninit::uninit()));

// HOT: the words every hook and every signal delivery reads before anything else (this
// file's HUB_THREAD and CROWDED_HUB, the signal atomics of signals.rs and signals_kept.rs,
// the poller's wait window, signal()'s interrupting set) share the section
// `.data.green_hot`, so that the linker lays them side by side in two cache lines instead
// of scattering them through the data segment. When processes hand work to each other
// through the kernel on one CPU, every call and every handler starts with cold caches, and
// each line fetched is a miss. Nothing written on every switch goes there (the running
// thread's mask, for one): other OS threads read HUB_THREAD and CROWDED_HUB too.

/// The hub thread's thread pointer while the runtime is on; 0 before it starts, when
/// disabled, and in a forked child (until it gets a hub of its own).
#[link_section = ".data.green_hot"] // state.rs, HOT
static HUB_THREAD: AtomicUsize = AtomicUsize::new(0);

static STARTED: AtomicBool = AtomicBool::new(false);

/// The hub thread's pointer while its root does not have the hub to itself: another green
/// thread lives, or a cancellation request waits for the root (root_exit.rs); 0 otherwise.
/// The hooks' shortcut (direct_wait.rs, `plain_now`) reads this one word where the full
/// test (`may_call_plain`) reads half a dozen cache lines, and when processes hand work to
/// each other through the kernel on one CPU, every call starts with cold caches.
#[link_section = ".data.green_hot"] // state.rs, HOT
static CROWDED_HUB: AtomicUsize = AtomicUsize::new(0);

/// The runtime.
///
/// # Safety
/// Only on the hub thread after `install`, and no two results may be used to alias the
/// same field at once; callers re-fetch it after anything that can switch threads.
#[inline(always)]
#[allow(clippy::mut_from_ref)] // there is no `&self`: the reference comes from the static
pub unsafe fn rt() -> &'static mut Runtime {
    debug_assert!(on_hub_thread(), "the runtime is touched on the hub thread only");
    // SAFETY: initialised by `install` before HUB_THREAD was set (so before any caller can
    // be on the hub thread); exclusivity is the caller's promise.
    unsafe { (*RUNTIME.0.get()).assume_init_mut() }
}

/// Whether the caller may act green: the runtime is on, this is its OS thread, and no
/// signal handler is running on it (a handler interrupted arbitrary code, maybe the
/// scheduler itself, so it gets plain libc calls).
#[inline(always)]
pub fn on_hub() -> bool {
    on_hub_thread() && !signal_depth::running()
}

/// Whether this is the hub's OS thread and the runtime is on.
#[inline(always)]
pub fn on_hub_thread() -> bool {
    let hub = HUB_THREAD.load(Ordering::Relaxed);
    hub != 0 && hub == raw::thread_self()
}

/// Whether this is the hub's OS thread while its root does not have it to itself (see
/// [`CROWDED_HUB`]): false on every other thread, and before the runtime starts.
#[inline(always)]
pub fn crowded_here() -> bool {
    CROWDED_HUB.load(Ordering::Relaxed) == raw::thread_self()
}

/// Whether the runtime was ever started in this process (the internal fds exist).
pub fn started() -> bool {
    STARTED.load(Ordering::Acquire) && HUB_THREAD.load(Ordering::Relaxed) != 0
}

/// Claims the one start of the runtime: true for the first caller only.
pub fn claim_start() -> bool {
    !STARTED.swap(true, Ordering::AcqRel)
}

/// Publishes `runtime` and makes the calling thread the hub.
///
/// # Safety
/// Once per process, by the caller `claim_start` chose, before anything uses `rt`.
pub unsafe fn install(runtime: Runtime) {
    // SAFETY: nobody can read the cell yet: HUB_THREAD is still 0, so no thread is on
    // the hub (caller's promise: once).
    unsafe { (*RUNTIME.0.get()).write(runtime) };
    HUB_THREAD.store(raw::thread_pointer(), Ordering::Release);
}

/// In a forked child whose only thread is not (or no longer) a hub: green threads are off.
pub fn leave_hub() {
    HUB_THREAD.store(0, Ordering::Release);
}

/// The green thread behind a pthread_t, if it is one of ours.
///
/// # Safety
/// Hub thread only.
pub unsafe fn lookup(handle: libc::pthread_t) -> Option<*mut Green> {
    // SAFETY: hub thread (caller).
    unsafe { rt() }.threads.get(&handle).copied()
}

/// The value glibc-compatible lock words store as owner: the kernel tid for the root (so a
/// lock taken before the runtime started still belongs to it) and a negative id for other
/// green threads, which no kernel tid can equal.
///
/// # Safety
/// Hub thread only; `g` is live.
pub unsafe fn owner_tag(g: *mut Green) -> i32 {
    // SAFETY: hub thread (caller).
    let rt = unsafe { rt() };
    if g == rt.root {
        rt.root_tid
    } else {
        // SAFETY: `g` is live (caller).
        -(unsafe { (*g).id } as i32 & i32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::queues::WaitQueues;
    use crate::runtime::runqueue::RunQueue;
    use crate::runtime::state::wake_in;
    use crate::runtime::thread::{Green, State, Wake, NOT_IN_HEAP};
    use crate::runtime::timer::TimerHeap;

    struct Queues {
        runq: RunQueue,
        timers: TimerHeap,
        waits: WaitQueues,
    }

    impl Queues {
        fn new() -> Self {
            Queues { runq: RunQueue::new(), timers: TimerHeap::new(), waits: WaitQueues::new() }
        }

        /// What waitqueue::wake_one does, on these queues.
        fn wake_one(&mut self, key: usize, why: Wake) -> Option<*mut Green> {
            let g = self.waits.pop(key)?;
            // SAFETY: the tests' records outlive the queues.
            unsafe { wake_in(&mut self.runq, &mut self.timers, &mut self.waits, g, why) };
            Some(g)
        }

        /// What green::park does to the record and queues before it switches out.
        fn park(&mut self, g: &mut Green, key: usize, deadline: Option<u64>) {
            g.state = State::Parked;
            // SAFETY: as above; a running record is in no queue and no heap slot.
            unsafe {
                self.waits.push(key, g);
                if let Some(deadline) = deadline {
                    self.timers.insert(g, deadline);
                }
            }
        }
    }

    fn ids(runq: &mut RunQueue) -> Vec<u64> {
        // SAFETY: the records outlive the queue.
        core::iter::from_fn(|| runq.pop()).map(|g| unsafe { (*g).id }).collect()
    }

    #[test]
    fn wake_one_goes_in_waiting_order() {
        let mut gs: Vec<Box<Green>> = (1..=3).map(|id| Box::new(Green::new(id))).collect();
        let mut q = Queues::new();
        for g in gs.iter_mut() {
            q.park(g, 0x40, None);
        }
        assert!(q.wake_one(0x40, Wake::Handoff).is_some());
        assert!(q.wake_one(0x40, Wake::Handoff).is_some());
        assert_eq!(ids(&mut q.runq), [1, 2]);
        assert_eq!(gs[0].state, State::Runnable);
        assert_eq!(gs[0].wake, Wake::Handoff);
        assert_eq!(gs[2].state, State::Parked, "the third still waits");
    }

    #[test]
    fn wake_all_empties_the_queue() {
        let mut gs: Vec<Box<Green>> = (1..=4).map(|id| Box::new(Green::new(id))).collect();
        let mut q = Queues::new();
        for g in gs.iter_mut() {
            q.park(g, 0x50, Some(1000));
        }
        while q.wake_one(0x50, Wake::Ready).is_some() {}
        assert_eq!(ids(&mut q.runq), [1, 2, 3, 4]);
        assert!(q.timers.is_empty(), "woken threads leave the timer heap");
        assert!(gs.iter().all(|g| g.queue_key == 0 && g.timer_slot == NOT_IN_HEAP));
    }

    #[test]
    fn a_timeout_takes_the_thread_out_of_its_wait_queue() {
        let mut gs: Vec<Box<Green>> = (1..=3).map(|id| Box::new(Green::new(id))).collect();
        let mut q = Queues::new();
        q.park(&mut gs[0], 0x60, None);
        q.park(&mut gs[1], 0x60, Some(5));
        q.park(&mut gs[2], 0x60, None);
        let expired = q.timers.pop_expired(10).expect("due");
        // SAFETY: as above.
        unsafe { wake_in(&mut q.runq, &mut q.timers, &mut q.waits, expired, Wake::Timeout) };
        assert_eq!(gs[1].wake, Wake::Timeout);
        assert_eq!(gs[1].queue_key, 0);
        // The next handoff goes to a thread that still waits.
        let next = q.wake_one(0x60, Wake::Handoff).unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { (*next).id }, 1);
        assert_eq!(ids(&mut q.runq), [2, 1]);
    }

    #[test]
    fn waking_twice_or_waking_a_running_thread_does_nothing() {
        let mut g = Box::new(Green::new(1));
        let mut q = Queues::new();
        q.park(&mut g, 0x70, Some(3));
        let p: *mut Green = &mut *g;
        // SAFETY: as above.
        unsafe {
            wake_in(&mut q.runq, &mut q.timers, &mut q.waits, p, Wake::Ready);
            wake_in(&mut q.runq, &mut q.timers, &mut q.waits, p, Wake::Timeout);
        }
        assert_eq!(g.wake, Wake::Ready, "the first reason stands");
        assert_eq!(ids(&mut q.runq), [1]);
        g.state = State::Running;
        // SAFETY: as above.
        unsafe { wake_in(&mut q.runq, &mut q.timers, &mut q.waits, p, Wake::Ready) };
        assert!(q.runq.is_empty());
    }
}
