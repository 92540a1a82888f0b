//! The green thread record: what the runtime knows about one green thread, and the states
//! and reasons the scheduler speaks of. The bottom of the runtime: every queue, heap and
//! table links these records, and this file knows none of them.
//!
//! Links a record carries, and who owns each (ARCHITECTURE.md, Invariants):
//! * `run_next`: the run queue (runqueue.rs), while the state is Runnable;
//! * `deadline`, `timer_slot`: the timer heap (timer.rs), while Parked with a deadline;
//! * `queue_key`, `queue_prev`, `queue_next`: one wait queue (queues.rs), while it waits on
//!   a lock, condition or other address;
//! * fd waits link a node on the thread's own stack instead (fdtable.rs).

use super::cancel_state::Cancel;
use super::introspect_abi::Probe;
use super::stack::GreenStack;
use super::tls_blocks::GreenTls;
use core::ffi::c_void;
use corosensei::{Coroutine, Yielder};

pub type StartRoutine = extern "C" fn(*mut c_void) -> *mut c_void;
pub type GreenCoroutine = Coroutine<(), Switch, (), GreenStack>;

/// `timer_slot` of a thread that is not in the timer heap.
pub const NOT_IN_HEAP: usize = usize::MAX;

/// One byte, as `green ps` reads it (introspect_abi.rs, `state`).
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    Runnable,
    Running,
    Parked,
    Done,
}

/// Why a parked thread was made runnable.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Wake {
    /// Not woken yet (or woken by a plain yield).
    Nothing,
    /// What it waited for may have happened: retry.
    Ready,
    /// Its deadline passed.
    Timeout,
    /// The fd it waited on was closed under it.
    Closed,
    /// A lock was handed to it, or a condition signalled it.
    Handoff,
    /// A signal handler ran while it waited in an interruptible call: the call returns
    /// EINTR, or starts over when `restart` (SA_RESTART, for calls that honour it).
    Interrupted { restart: bool },
}

/// The name of an offloaded call: a NUL-terminated string the caller keeps for the whole
/// run, so that a report (and `green ps`, from outside) can read it.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CallName(*const u8);

impl CallName {
    pub const fn new(name: &'static core::ffi::CStr) -> Self {
        CallName(name.as_ptr().cast())
    }

    pub fn bytes(self) -> &'static [u8] {
        // SAFETY: made by `new` alone, from a static NUL-terminated string.
        unsafe { core::ffi::CStr::from_ptr(self.0.cast()) }.to_bytes()
    }
}

/// Who holds a rwlock among green threads, in the layout `green ps` reads (introspect_abi.rs,
/// `rwlock`): the writer's owner tag (0: none) and the green read holds.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct RwLockHolders {
    pub writer: i32,
    pub readers: u32,
}

/// What a parked thread waits for; only used to explain a deadlock and in `green ps`, which
/// reads it from outside in this fixed layout (introspect_abi.rs, `wait`).
#[repr(C, u8)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WaitingOn {
    Nothing,
    Fd { fd: i32, write: bool },
    Poll { nfds: usize },
    Sleep,
    Join { id: u64 },
    Lock { address: usize },
    Condition { address: usize },
    Semaphore { address: usize },
    Futex { address: usize },
    Child { pid: i32 },
    /// A call run on an offload worker: its name, NUL-terminated and static, and the fd it
    /// acts on (-1 for none).
    Offload { call: CallName, fd: i32 },
    /// `holders`: who holds the rwlock among green threads, kept where it stays while
    /// anyone waits (hooks/sync_rwlock_state.rs).
    RwLock { address: usize, write: bool, holders: *const RwLockHolders },
    Barrier { address: usize },
    Once { address: usize },
    /// sigsuspend, pause: until a signal handler runs.
    Signal,
}

impl WaitingOn {
    /// Waits a signal interrupts with EINTR natively (locks, joins and conditions are
    /// never interrupted).
    pub fn interruptible(self) -> bool {
        matches!(
            self,
            WaitingOn::Fd { .. }
                | WaitingOn::Poll { .. }
                | WaitingOn::Sleep
                | WaitingOn::Semaphore { .. }
                | WaitingOn::Futex { .. }
                | WaitingOn::Child { .. }
                | WaitingOn::Signal
        )
    }
}

/// What a green thread tells the scheduler when it suspends.
pub enum Switch {
    Park,
    Exit,
}

/// One pthread key value of a green thread, with the key's sequence number when it was set
/// (tsd.rs explains the sequence).
#[derive(Clone, Copy)]
pub struct KeySlot {
    pub(super) sequence: u32,
    pub(super) value: *mut c_void,
}

pub struct Green {
    pub id: u64,
    /// The value pthread_self() returns in this thread: the Green's own address, or the
    /// real pthread_t for the root.
    pub handle: libc::pthread_t,
    pub state: State,
    pub wake: Wake,
    pub waiting_on: WaitingOn,
    pub detached: bool,
    pub retval: *mut c_void,
    /// The thread blocked in pthread_join on this one.
    pub joiner: *mut Green,
    /// Valid while Parked with a deadline (see TimerHeap).
    pub deadline: u64,
    pub timer_slot: usize,
    /// Run-queue link.
    pub run_next: *mut Green,
    /// Wait-queue links (locks, conditions): see queues.rs. `queue_key` is 0 while the
    /// thread is in no queue.
    pub queue_key: usize,
    pub queue_prev: *mut Green,
    pub queue_next: *mut Green,
    /// Usable stack range and the guard below it, for pthread_getattr_np.
    pub stack_low: usize,
    pub stack_size: usize,
    pub guard_size: usize,
    /// pthread key values (see tsd.rs); empty until the thread sets one.
    pub tsd: Vec<KeySlot>,
    /// pthread_setname_np's name with its NUL; all zero until the thread is named (see
    /// hooks/thread_extra.rs).
    pub name: [u8; 16],
    /// Its thread-local variables and their destructors (see tls.rs).
    pub tls: GreenTls,
    /// Its cancellation state and C cleanup chain (see cancel.rs).
    pub cancel: Cancel,
    /// Its signal mask, the signals pending for it with their siginfo, and the set it
    /// waits for in sigwait (see sigroute.rs).
    pub signals: GreenSignals,
    /// Its slot in the table `green ps` reads, and when it last parked (introspect.rs).
    pub probe: Probe,
    /// When the watchdog last reported it (0: never; see watchdog.rs).
    pub watchdog_reported_ns: u64,
    /// Its coroutine; None for the root (which runs on the native stack) and once ended.
    pub(super) coroutine: Option<GreenCoroutine>,
    /// Set by the coroutine when it first runs; it lives on the coroutine's own stack.
    pub(super) yielder: *const Yielder<(), Switch>,
    /// Its stack pointer when it last switched out (0 before): where its resumption reads
    /// first, fetched into the cache ahead of it (runqueue.rs, `fetch_ahead`).
    pub(super) switched_out_sp: usize,
}

impl Green {
    /// Suspends `g`, the running thread, back into the scheduler loop that resumed it, noting
    /// where its stack stands (`switched_out_sp`). No reference to the record is held across
    /// the switch: the loop changes it meanwhile.
    ///
    /// # Safety
    /// Hub thread only; `g` runs inside its coroutine, whose yielder it recorded when it
    /// started and which lives on its stack.
    #[inline(always)]
    pub(super) unsafe fn suspend(g: *mut Green, why: Switch) {
        // SAFETY: `g` is live (it runs); the yielder lives on its stack while it runs.
        unsafe {
            (*g).switched_out_sp = crate::sys::raw::stack_pointer();
            (*(*g).yielder).suspend(why)
        };
    }

    pub fn new(id: u64) -> Self {
        Green {
            id,
            handle: 0,
            state: State::Runnable,
            wake: Wake::Nothing,
            waiting_on: WaitingOn::Nothing,
            detached: false,
            retval: core::ptr::null_mut(),
            joiner: core::ptr::null_mut(),
            deadline: 0,
            timer_slot: NOT_IN_HEAP,
            run_next: core::ptr::null_mut(),
            queue_key: 0,
            queue_prev: core::ptr::null_mut(),
            queue_next: core::ptr::null_mut(),
            stack_low: 0,
            stack_size: 0,
            guard_size: 0,
            tsd: Vec::new(),
            name: [0; 16],
            tls: GreenTls::new(),
            cancel: Cancel::new(),
            signals: GreenSignals::default(),
            probe: Probe::default(),
            watchdog_reported_ns: 0,
            coroutine: None,
            yielder: core::ptr::null(),
            switched_out_sp: 0,
        }
    }
}

/// A green thread's own signal state (masks in the kernel's layout: bit n-1 for signal n).
#[derive(Default)]
pub struct GreenSignals {
    pub mask: u64,
    pub pending: u64,
    /// One siginfo per pending signal.
    pub info: Vec<libc::siginfo_t>,
    /// What it waits for in sigwait and its kin; empty otherwise.
    pub waiting: u64,
    /// How the wait it is parked in unlinks itself: run before a handler runs on its stack
    /// or it ends (see wait_leave.rs).
    pub leave: super::wait_leave::Leave,
    /// The alternate signal stack it set with sigaltstack, as it set it: (ss_sp, ss_size,
    /// ss_flags), size 0 for none (hooks/sigaltstack.rs).
    pub alt_stack: (usize, usize, i32),
}

/// How a new thread gets its stack.
pub enum StackRequest {
    Default,
    Size(usize),
    /// Memory the program supplied (pthread_attr_setstack): low address and length.
    Borrowed(usize, usize),
}
