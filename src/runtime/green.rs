//! The scheduler core: spawn, park, wake, yield and end green threads; the scheduler loop.
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
//! Invariants (ARCHITECTURE.md, Invariants; asserted in debug builds):
//! * `current` is the green thread whose code is executing (the root while the loop runs).
//! * A thread is in the run queue iff its state is Runnable, and in the timer heap only
//!   while Parked with a deadline. `wake` is the only way out of Parked, so a thread is
//!   woken once per park however many events name it; only a Running thread parks.
//! * errno (and glibc's resolver pointer) belong to the OS thread: each green thread's value
//!   is saved when it switches out and restored when it switches back in (thread_slots.rs).

pub use super::state::{lookup, owner_tag};
pub use super::reclaim::{discard_in_child, release};
pub use super::thread::{CallName, Green, RwLockHolders, StackRequest, StartRoutine, State, WaitingOn, Wake};
use super::signals::pending_signals;
use super::stack::StackPool;
use super::state;
use super::thread::{GreenCoroutine, Switch};
use super::thread_slots::ResolverState;
use super::{hub, introspect, sigroute, slice, stack, stats, tls, tsd};
use crate::sys::{errno, log};
use core::ffi::c_void;
use corosensei::CoroutineResult;

/// The running green thread.
///
/// # Safety
/// Hub thread only, runtime initialised.
#[inline]
pub unsafe fn current() -> *mut Green {
    // SAFETY: hub thread (caller).
    unsafe { state::rt() }.current
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
    // SAFETY: hub thread (caller); re-fetched after `tls::prepare`, which uses it too.
    let rt = unsafe { state::rt() };
    // glibc reports no guard for a stack the program supplied; ours have one page.
    let guard_size = if matches!(request, StackRequest::Borrowed(..)) { 0 } else { stack::page_size() };
    let stack = match request {
        StackRequest::Default => rt.stacks.take(None),
        StackRequest::Size(size) => rt.stacks.take(Some(size)),
        StackRequest::Borrowed(low, len) => Some(StackPool::borrowed(low, len)),
    }
    .ok_or(libc::EAGAIN)?;
    let (stack_low, stack_size) = stack.usable();
    let g = Box::into_raw(Box::new(Green::new(rt.next_id)));
    // SAFETY: hub thread; `g` is a fresh record that has not run.
    if !unsafe { tls::prepare(g) } {
        // SAFETY: `g` came from Box::into_raw above and nobody else knows it.
        drop(unsafe { Box::from_raw(g) });
        // SAFETY: hub thread.
        unsafe { state::rt() }.stacks.give_back(stack);
        return Err(libc::EAGAIN);
    }
    let green_address = g as usize;
    let arg_address = arg as usize;
    let coroutine = GreenCoroutine::with_stack(stack, move |yielder, ()| {
        let g = green_address as *mut Green;
        // SAFETY: the Green outlives its coroutine (finish() drops the coroutine first), and
        // the yielder lives on this coroutine's stack for as long as it runs.
        unsafe { (*g).yielder = yielder };
        errno::set(0);
        // It lives in this frame, which lasts as long as the thread (as glibc's is in the
        // thread's descriptor).
        let mut resolver = ResolverState::new();
        // SAFETY: hub thread, `g` starting; `resolver` outlives it (run_exit_destructors
        // runs in this frame or deeper).
        unsafe { state::rt().slots.adopt_resolver(&mut resolver) };
        // SAFETY: `g` is live (as above); where glibc's unwind of it ends (cancel_glibc.rs).
        unsafe { (*g).cancel.entry_sp = crate::sys::raw::stack_pointer() };
        // SAFETY: hub thread, outside handlers; `g` runs (signals handed to it come first).
        unsafe { sigroute::run_pending(g) };
        let retval = start(arg_address as *mut c_void);
        // SAFETY: as above; destructors run on this stack, where they may still block.
        unsafe {
            (*g).retval = retval;
            run_exit_destructors(g);
        }
    });
    // SAFETY: hub thread; `g` is live and only this function knows it yet.
    let (rt, record) = unsafe { (state::rt(), &mut *g) };
    rt.next_id += 1;
    record.handle = g as libc::pthread_t;
    record.coroutine = Some(coroutine);
    record.detached = detached;
    record.stack_low = stack_low;
    record.stack_size = stack_size;
    record.guard_size = guard_size;
    // SAFETY: hub thread; `g` is live and in no table yet.
    unsafe { introspect::insert(rt, g) };
    // SAFETY: `g` and its creator (current) are live. It starts with the creator's mask.
    unsafe { sigroute::adopt(g, (*rt.current).signals.mask) };
    rt.set_live(rt.live + 1);
    rt.stats.green_threads += 1;
    rt.stats.peak_green = rt.stats.peak_green.max(rt.live + 1);
    // SAFETY: a new record is Runnable and in no queue.
    unsafe { rt.runq.push(g) };
    Ok(g)
}

/// Makes a parked thread runnable. Does nothing to a thread that is not parked, so every
/// event source may call it without knowing whether someone else already did.
///
/// # Safety
/// Hub thread only; `g` is live.
pub unsafe fn wake(g: *mut Green, why: Wake) {
    // SAFETY: hub thread, `g` live (caller).
    unsafe { state::rt().wake(g, why) };
}

/// Parks the current thread until `wake` (or the deadline, CLOCK_MONOTONIC ns) and says why
/// it woke. The caller must already have made itself findable by whoever will wake it.
///
/// # Safety
/// Hub thread only.
pub unsafe fn park(deadline: Option<u64>, waiting_on: WaitingOn) -> Wake {
    // SAFETY: hub thread (caller); the borrow ends before the switch.
    let rt = unsafe { state::rt() };
    let g = rt.current;
    // SAFETY: the current thread's record is live while it runs.
    let record = unsafe { &mut *g };
    debug_assert_eq!(record.state, State::Running, "only the running thread parks, once");
    record.wake = Wake::Nothing;
    record.waiting_on = waiting_on;
    record.probe.parked_at = introspect::last_clock();
    // The state last: `green ps`, reading from outside, sees a Parked thread's wait with it.
    core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
    record.state = State::Parked;
    if g == rt.root && waiting_on.interruptible() {
        rt.root_parked_after = pending_signals::handled();
    }
    if let Some(deadline) = deadline {
        // SAFETY: a running thread is in no heap slot; it stays live while parked.
        unsafe { rt.timers.insert(g, deadline) };
    }
    // SAFETY: hub thread; `g` is current and has just parked.
    unsafe { switch_out(g) };
    // SAFETY: `g` runs again, so it is live; no other borrow of it is held.
    let record = unsafe { &mut *g };
    debug_assert_eq!(record.state, State::Running);
    debug_assert_eq!(record.timer_slot, super::thread::NOT_IN_HEAP, "a running thread has no timer");
    record.waiting_on = WaitingOn::Nothing;
    let wake = record.wake;
    // SAFETY: hub thread, outside handlers; `g` runs. Signals handed to it meanwhile run
    // their handlers before its call returns (one may park in turn: `wake` is kept).
    unsafe { sigroute::run_pending(g) };
    wake
}

/// Lets every other runnable thread run once, then continues (sched_yield).
///
/// # Safety
/// Hub thread only.
pub unsafe fn yield_now() {
    // SAFETY: hub thread (caller).
    if unsafe { state::rt() }.runq.is_empty() {
        // Nobody else is runnable: whoever spins on sched_yield waits for an event, so
        // look for one now rather than returning straight to the spinner.
        // SAFETY: hub thread.
        unsafe { hub::poll_events(false) };
    }
    // SAFETY: hub thread (caller).
    unsafe { requeue_current() };
}

/// Puts the running thread at the back of the run queue and switches out: whoever was
/// runnable runs first (sched_yield, and preemption's yield).
///
/// # Safety
/// Hub thread only, outside the scheduler loop (a green thread's own code, or the root's).
pub(super) unsafe fn requeue_current() {
    // SAFETY: hub thread (caller).
    let rt = unsafe { state::rt() };
    let g = rt.current;
    // SAFETY: the current thread is live; Running, so in no queue. Once it runs again,
    // outside handlers, signals handed to it meanwhile run their handlers.
    unsafe {
        debug_assert_eq!((*g).state, State::Running);
        (*g).state = State::Runnable;
        rt.runq.push(g);
        switch_out(g);
        sigroute::run_pending(g);
    }
}

/// Leaves `g` (the current thread, parked or queued) until the scheduler runs it again.
///
/// # Safety
/// Hub thread only; `g` is current and no longer Running.
unsafe fn switch_out(g: *mut Green) {
    // SAFETY: hub thread (caller).
    let rt = unsafe { state::rt() };
    if stats::enabled() {
        // SAFETY: hub thread; `g` is current and live.
        unsafe { stats::switched_out(g) };
    }
    // SAFETY: hub thread (caller).
    let saved = unsafe { rt.slots.save() };
    if g == rt.root {
        // SAFETY: hub thread, on the root's stack.
        unsafe { run_until_root_is_resumed() };
    } else {
        // SAFETY: a non-root thread runs inside its coroutine, whose yielder it recorded
        // when it started and which lives on its stack.
        unsafe { Green::suspend(g, Switch::Park) };
    }
    // SAFETY: hub thread; the runtime outlives every switch.
    unsafe { state::rt().slots.restore(saved) };
}

/// The scheduler loop, on the root's native stack.
///
/// # Safety
/// Hub thread only, on the root's stack, with the root no longer Running.
unsafe fn run_until_root_is_resumed() {
    loop {
        // SAFETY: hub thread (caller); re-fetched every turn, since threads ran meanwhile.
        let rt = unsafe { state::rt() };
        // SAFETY: the root's record lives as long as the runtime.
        if unsafe { (*rt.root).state } == State::Done && rt.live == 0 {
            // A forked child whose forking green thread has ended: that was its last thread.
            // SAFETY: hub thread; nothing else runs any more.
            unsafe { exit_process(rt.root) };
        }
        rt.ticks = rt.ticks.wrapping_add(1);
        introspect::on_turn(rt.ticks);
        if rt.look_again_due() {
            // With a run queue that never empties we would otherwise never look at fds or
            // timers again (state.rs says how often we do).
            // SAFETY: hub thread.
            unsafe { hub::poll_events(false) };
        } else if super::signals::deferred::take_fresh() {
            // SAFETY: hub thread, outside handlers; kept signals go to threads that take them.
            unsafe { sigroute::route_kept() };
        }
        // SAFETY: hub thread; re-fetched after the poll.
        let rt = unsafe { state::rt() };
        match rt.runq.pop() {
            Some(g) if g == rt.root => {
                // SAFETY: the root is live; it runs next, so its TLS goes live.
                unsafe {
                    (*g).state = State::Running;
                    rt.set_current(g);
                    tls::activate(g);
                }
                slice::switched();
                return;
            }
            // SAFETY: hub thread; a queued thread is live and Runnable.
            Some(g) => unsafe { run(g) },
            // SAFETY: hub thread.
            None => unsafe { wait_in_hub() },
        }
    }
}

/// Waits in the hub for an event (everyone is parked), with the clock looked at after it:
/// the threads the wait wakes may park again at once (introspect.rs, `last_clock`).
///
/// # Safety
/// Hub thread only, from the scheduler loop.
unsafe fn wait_in_hub() {
    // SAFETY: hub thread (caller).
    unsafe { hub::poll_events(true) };
    introspect::refresh_clock();
}

/// Resumes `g` until it parks, yields or ends (inlined: a call around a switch mispredicts).
///
/// # Safety
/// Hub thread only, from the scheduler loop; `g` is live, Runnable and just popped.
#[inline(always)]
unsafe fn run(g: *mut Green) {
    // SAFETY: hub thread (caller).
    let rt = unsafe { state::rt() };
    // SAFETY: `g` is live. Only its `coroutine` field stays borrowed while it runs; the
    // thread's own code reaches its other fields through its pointer.
    let coroutine = unsafe {
        debug_assert_eq!((*g).state, State::Runnable, "the run queue holds Runnable threads");
        (*g).state = State::Running;
        rt.set_current(g);
        (*g).coroutine.as_mut()
    };
    rt.stats.switches += 1;
    slice::switched();
    let Some(coroutine) = coroutine else { return };
    rt.runq.fetch_ahead();
    // SAFETY: hub thread; only `g` runs next.
    unsafe { tls::activate(g) };
    let result = coroutine.resume(());
    // A cancellation request lent to glibc (cancel_glibc.rs) is the thread's alone.
    super::glibc_cancel_bits::disarm();
    // SAFETY: hub thread; re-fetched: the thread ran meanwhile.
    let rt = unsafe { state::rt() };
    // SAFETY: the root's record lives as long as the runtime.
    unsafe { rt.set_current(rt.root) };
    match result {
        CoroutineResult::Yield(Switch::Park) => {}
        CoroutineResult::Yield(Switch::Exit) => {
            // SAFETY: pthread_exit suspended with no Drop values live on the green stack
            // (only C frames and the hook's plain locals), so abandoning them is sound.
            unsafe { coroutine.force_reset() };
            // SAFETY: hub thread; `g` has ended.
            unsafe { finish(g) };
        }
        // SAFETY: hub thread; `g` has ended.
        CoroutineResult::Return(()) => unsafe { finish(g) },
    }
}

/// `g` has ended: reclaim its stack and TLS, wake its joiner, free it if detached.
///
/// # Safety
/// Hub thread only; `g` is live, has ended and will never run again.
unsafe fn finish(g: *mut Green) {
    // SAFETY: hub thread (caller).
    let rt = unsafe { state::rt() };
    // SAFETY: `g` is live; the borrow ends before `tls::forget` and `release` use it.
    let joiner = unsafe {
        (*g).state = State::Done;
        (*g).joiner
    };
    rt.set_live(rt.live - 1);
    // SAFETY: hub thread; `g` never runs again.
    unsafe {
        tls::forget(g);
        sigroute::forget(g);
    }
    // SAFETY: as above; the coroutine has ended, so its stack is free.
    if let Some(coroutine) = unsafe { (*g).coroutine.take() } {
        rt.stacks.give_back(coroutine.into_stack());
    }
    if !joiner.is_null() {
        // SAFETY: a joiner is parked on `g`, hence live.
        unsafe { rt.wake(joiner, Wake::Ready) };
    }
    // SAFETY: `g` is live; a detached thread is nobody's to join, so it goes now.
    if unsafe { (*g).detached } {
        // SAFETY: hub thread; nobody refers to a detached, ended thread.
        unsafe { release(g) };
    }
}

/// What glibc runs when a thread ends, in its order: thread-local destructors, pthread key
/// destructors, the resolver's cleanup; then what the kernel does at its exit (robust.rs).
///
/// # Safety
/// On `g` itself, as it ends.
unsafe fn run_exit_destructors(g: *mut Green) {
    // SAFETY: the caller's contract is theirs; `g` adopted its resolver state when it started.
    unsafe {
        tls::run_destructors(g);
        tsd::run_destructors(g);
        state::rt().slots.resolver_thread_ends();
    }
    super::robust::thread_ends();
}

/// Ends the current thread with `retval` (pthread_exit). For the root, the process lives on
/// until the last green thread ends, then exits with status 0, as glibc does.
///
/// # Safety
/// Hub thread only; no Drop values may be live on the calling green stack.
pub unsafe fn exit_current(retval: *mut c_void) -> ! {
    // SAFETY: hub thread (caller).
    let rt = unsafe { state::rt() };
    let g = rt.current;
    // SAFETY: the current thread is live.
    unsafe { (*g).retval = retval };
    if g == rt.root {
        // SAFETY: hub thread, on the root.
        unsafe { exit_root() };
    }
    // SAFETY: on `g` itself, as it ends; then it suspends for good, and its coroutine (whose
    // yielder lives on its stack) is reset by the loop without running it again.
    unsafe {
        run_exit_destructors(g);
        (*(*g).yielder).suspend(Switch::Exit);
    }
    log::fatal(&[b"a green thread ran again after pthread_exit"]);
}

/// The root called pthread_exit: run the others until none is left, then exit.
///
/// # Safety
/// Hub thread only, on the root.
unsafe fn exit_root() -> ! {
    // SAFETY: hub thread (caller).
    let root = unsafe { state::rt() }.root;
    // SAFETY: the root's record lives as long as the runtime; its joiner, if any, is parked.
    unsafe {
        (*root).state = State::Done;
        if !(*root).joiner.is_null() {
            wake((*root).joiner, Wake::Ready);
        }
    }
    loop {
        // SAFETY: hub thread; re-fetched every turn.
        let rt = unsafe { state::rt() };
        if rt.live == 0 {
            // SAFETY: hub thread; nothing else runs any more.
            unsafe { exit_process(root) };
        }
        match rt.runq.pop() {
            // SAFETY: hub thread; a queued thread is live and Runnable.
            Some(g) => unsafe { run(g) },
            // SAFETY: hub thread, from the loop above.
            None => unsafe { wait_in_hub() },
        }
    }
}

/// The last green thread has ended: exit(0), as glibc does then. exit's handlers and
/// destructors run in the root's place: its thread-locals live, and its signal mask in the
/// kernel (the derived mask blocks every signal once no thread accepts any, and an atexit
/// handler that raises a signal must see it delivered, as natively).
///
/// # Safety
/// Hub thread only; no green thread is left to run.
unsafe fn exit_process(root: *mut Green) -> ! {
    // SAFETY: hub thread (caller); the root's record lives as long as the runtime.
    unsafe {
        tls::activate(root);
        sigroute::kernel_mask(libc::SIG_SETMASK, Some((*root).signals.mask));
        libc::exit(0)
    }
}
