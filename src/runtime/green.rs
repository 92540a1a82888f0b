//! Green threads and the scheduler.
//!
//! Model (gevent's and Capriccio's): every green thread of the process runs on the hub's OS
//! thread. The main thread is the *root*: it runs on its native stack and has no coroutine.
//! All other green threads are corosensei coroutines, which can only yield to whoever resumed
//! them. So the scheduler loop runs on the root's stack, inside whatever hook the root is
//! blocked in: when the root parks, that hook runs the loop until the root is runnable again;
//! when a green thread parks, it suspends back into that loop, which resumes the next runnable
//! one or waits in the hub. A green thread only ever runs from that loop, so whenever one
//! suspends the loop is there to receive it.
//!
//! Invariants:
//! * `current` is the green thread whose code is executing (the root while the loop runs).
//! * A thread is in the run queue iff its state is Runnable, and in the timer heap only
//!   while Parked with a deadline. `wake` is the only way out of Parked, so a thread is
//!   woken once per park however many events name it.
//! * errno belongs to the OS thread: each green thread's value is saved when it switches out
//!   and restored when it switches back in.

pub use super::join::{detach, join, lookup, owner_tag};
pub use super::runqueue::RunQueue;
use super::stack::{GreenStack, StackPool};
use super::{rt, timer::NOT_IN_HEAP};
use crate::sys::errno;
use core::ffi::c_void;
use corosensei::{Coroutine, CoroutineResult, Yielder};

pub type StartRoutine = extern "C" fn(*mut c_void) -> *mut c_void;
type GreenCoroutine = Coroutine<(), Switch, (), GreenStack>;

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

/// What a parked thread waits for; only used to explain a deadlock.
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
    Offload,
    RwLock { address: usize, write: bool },
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
    /// Wait-queue links (locks, conditions): see waitqueue.rs.
    pub queue_key: usize,
    pub queue_prev: *mut Green,
    pub queue_next: *mut Green,
    /// Usable stack range and the guard below it, for pthread_getattr_np.
    pub stack_low: usize,
    pub stack_size: usize,
    pub guard_size: usize,
    /// pthread key values (see tsd.rs); empty until the thread sets one.
    pub tsd: Vec<super::tsd::Slot>,
    /// pthread_setname_np's name with its NUL; all zero until the thread is named (see
    /// hooks/thread_extra.rs).
    pub name: [u8; 16],
    /// Its thread-local variables and their destructors (see tls.rs).
    pub tls: super::tls::GreenTls,
    coroutine: Option<GreenCoroutine>,
    yielder: *const Yielder<(), Switch>,
}

impl Green {
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
            tls: super::tls::GreenTls::new(),
            coroutine: None,
            yielder: core::ptr::null(),
        }
    }
}

/// How a new thread gets its stack.
pub enum StackRequest {
    Default,
    Size(usize),
    /// Memory the program supplied (pthread_attr_setstack): low address and length.
    Borrowed(usize, usize),
}

/// The running green thread.
///
/// # Safety
/// Hub thread only, runtime initialised.
#[inline]
pub unsafe fn current() -> *mut Green {
    rt().current
}

/// Creates a green thread that will run `start(arg)` at the next opportunity
/// (like gevent's spawn: the caller keeps running). Err(errno) when no stack can be had.
///
/// # Safety
/// Hub thread only.
pub unsafe fn spawn(
    start: StartRoutine,
    arg: *mut c_void,
    request: StackRequest,
    detached: bool,
) -> Result<*mut Green, i32> {
    let rt = rt();
    // glibc reports no guard for a stack the program supplied; ours have one page.
    let guard_size = match request {
        StackRequest::Borrowed(..) => 0,
        _ => super::stack::page_size(),
    };
    let stack = match request {
        StackRequest::Default => rt.stacks.take(None),
        StackRequest::Size(size) => rt.stacks.take(Some(size)),
        StackRequest::Borrowed(low, len) => Some(StackPool::borrowed(low, len)),
    }
    .ok_or(libc::EAGAIN)?;
    let (stack_low, stack_size) = stack.usable();
    let g = Box::into_raw(Box::new(Green::new(rt.next_id)));
    if !super::tls::prepare(g) {
        drop(Box::from_raw(g));
        rt.stacks.give_back(stack);
        return Err(libc::EAGAIN);
    }
    rt.next_id += 1;
    let green_address = g as usize;
    let arg_address = arg as usize;
    let coroutine = GreenCoroutine::with_stack(stack, move |yielder, ()| {
        let g = green_address as *mut Green;
        // SAFETY: the Green outlives its coroutine (finish() drops the coroutine first), and
        // the yielder lives on this coroutine's stack for as long as it runs.
        unsafe { (*g).yielder = yielder };
        errno::set(0);
        let retval = start(arg_address as *mut c_void);
        // SAFETY: as above; destructors run on this stack, where they may still block.
        unsafe {
            (*g).retval = retval;
            run_exit_destructors(g);
        }
    });
    (*g).handle = g as libc::pthread_t;
    (*g).coroutine = Some(coroutine);
    (*g).detached = detached;
    (*g).stack_low = stack_low;
    (*g).stack_size = stack_size;
    (*g).guard_size = guard_size;
    rt.threads.insert((*g).handle, g);
    rt.live += 1;
    rt.stats.green_threads += 1;
    rt.stats.peak_green = rt.stats.peak_green.max(rt.live + 1);
    rt.runq.push(g);
    Ok(g)
}

/// Makes a parked thread runnable. Does nothing to a thread that is not parked, so every
/// event source may call it without knowing whether someone else already did.
///
/// # Safety
/// Hub thread only; `g` is live.
pub unsafe fn wake(g: *mut Green, why: Wake) {
    if (*g).state != State::Parked {
        return;
    }
    let rt = rt();
    (*g).state = State::Runnable;
    (*g).wake = why;
    rt.timers.remove(g);
    // A thread woken by its deadline leaves its wait queue now, so that a later
    // signal or unlock goes to a thread that is still waiting.
    rt.queues.remove(g);
    rt.runq.push(g);
}

/// Parks the current thread until `wake` (or the deadline, CLOCK_MONOTONIC ns) and says why
/// it woke. The caller must already have made itself findable by whoever will wake it.
///
/// # Safety
/// Hub thread only.
pub unsafe fn park(deadline: Option<u64>, waiting_on: WaitingOn) -> Wake {
    let rt = rt();
    let g = rt.current;
    (*g).state = State::Parked;
    (*g).wake = Wake::Nothing;
    (*g).waiting_on = waiting_on;
    if g == rt.root && waiting_on.interruptible() {
        rt.root_parked_after = super::pending_signals::handled();
    }
    if let Some(deadline) = deadline {
        rt.timers.insert(g, deadline);
    }
    switch_out(g);
    (*g).waiting_on = WaitingOn::Nothing;
    (*g).wake
}

/// Lets every other runnable thread run once, then continues (sched_yield).
///
/// # Safety
/// Hub thread only.
pub unsafe fn yield_now() {
    let rt = rt();
    let g = rt.current;
    if rt.runq.len() == 0 {
        // Nobody else is runnable: whoever spins on sched_yield waits for an event, so
        // look for one now rather than returning straight to the spinner.
        super::poller::poll_events(false);
    }
    (*g).state = State::Runnable;
    rt.runq.push(g);
    switch_out(g);
}

unsafe fn switch_out(g: *mut Green) {
    // The hub thread's errno slot never moves, so it is looked up once, at start.
    let errno_slot = rt().errno_slot;
    let saved_errno = *errno_slot;
    if g == rt().root {
        run_until_root_is_resumed();
    } else {
        (*(*g).yielder).suspend(Switch::Park);
    }
    *errno_slot = saved_errno;
}

/// The scheduler loop, on the root's native stack.
unsafe fn run_until_root_is_resumed() {
    loop {
        let rt = rt();
        if (*rt.root).state == State::Done && rt.live == 0 {
            // A forked child whose forking green thread has ended: that was its last thread.
            super::tls::activate(rt.root);
            libc::exit(0);
        }
        rt.ticks = rt.ticks.wrapping_add(1);
        if rt.ticks % 61 == 0 && (rt.fd_waiters > 0 || !rt.timers.is_empty()) {
            // With a run queue that never empties we would otherwise never look at fds or
            // timers again (Go's scheduler does the same every 61 ticks).
            super::poller::poll_events(false);
        }
        match rt.runq.pop() {
            Some(g) if g == rt.root => {
                (*g).state = State::Running;
                rt.current = g;
                super::tls::activate(g);
                return;
            }
            Some(g) => run(g),
            None => super::poller::poll_events(true),
        }
    }
}

/// Resumes `g` until it parks, yields or ends.
unsafe fn run(g: *mut Green) {
    let rt = rt();
    rt.current = g;
    (*g).state = State::Running;
    rt.stats.switches += 1;
    let coroutine = match (*g).coroutine.as_mut() {
        Some(coroutine) => coroutine,
        None => return,
    };
    super::tls::activate(g);
    let result = coroutine.resume(());
    let rt = super::rt();
    rt.current = rt.root;
    match result {
        CoroutineResult::Yield(Switch::Park) => {}
        CoroutineResult::Yield(Switch::Exit) => {
            // SAFETY: pthread_exit suspended with no Drop values live on the green stack
            // (only C frames and the hook's plain locals), so abandoning them is sound.
            coroutine.force_reset();
            finish(g);
        }
        CoroutineResult::Return(()) => finish(g),
    }
}

unsafe fn finish(g: *mut Green) {
    let rt = rt();
    (*g).state = State::Done;
    rt.live -= 1;
    super::tls::forget(g);
    if let Some(coroutine) = (*g).coroutine.take() {
        rt.stacks.give_back(coroutine.into_stack());
    }
    let joiner = (*g).joiner;
    if !joiner.is_null() {
        wake(joiner, Wake::Ready);
    }
    if (*g).detached {
        release(g);
    }
}

/// What glibc runs when a thread ends, in its order: thread-local destructors, then pthread
/// key destructors.
unsafe fn run_exit_destructors(g: *mut Green) {
    super::tls::run_destructors(g);
    super::tsd::run_destructors(g);
}

/// In a forked child: `g` does not exist here. Its stack goes back to the pool (nothing of
/// it will ever run) and its record is freed.
///
/// # Safety
/// In the child, from fork.rs, for a thread other than the caller of fork.
pub(super) unsafe fn discard_in_child(g: *mut Green) {
    if let Some(mut coroutine) = (*g).coroutine.take() {
        // SAFETY: the coroutine will never run again; nothing on its stack needs dropping
        // for the child's sake (its frames belong to a thread that does not exist here).
        coroutine.force_reset();
        rt().stacks.give_back(coroutine.into_stack());
    }
    release(g);
}

pub(super) unsafe fn release(g: *mut Green) {
    rt().threads.remove(&(*g).handle);
    drop(Box::from_raw(g));
}

/// Ends the current thread with `retval` (pthread_exit). For the root, the process lives on
/// until the last green thread ends, then exits with status 0, as glibc does.
///
/// # Safety
/// Hub thread only; no Drop values may be live on the calling green stack.
pub unsafe fn exit_current(retval: *mut c_void) -> ! {
    let rt = rt();
    let g = rt.current;
    (*g).retval = retval;
    if g == rt.root {
        exit_root();
    }
    run_exit_destructors(g);
    (*(*g).yielder).suspend(Switch::Exit);
    super::log::fatal(&[b"a green thread ran again after pthread_exit"]);
}

unsafe fn exit_root() -> ! {
    let root = rt().root;
    (*root).state = State::Done;
    if !(*root).joiner.is_null() {
        wake((*root).joiner, Wake::Ready);
    }
    loop {
        let rt = rt();
        if rt.live == 0 {
            // glibc runs the root's thread-local destructors at exit, on live contents.
            super::tls::activate(root);
            libc::exit(0);
        }
        match rt.runq.pop() {
            Some(g) => run(g),
            None => super::poller::poll_events(true),
        }
    }
}
