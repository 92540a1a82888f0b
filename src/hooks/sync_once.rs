//! pthread_once on the hub thread.
//!
//! It keeps glibc's protocol on the control word, so green and foreign threads can share a
//! control: 0 = not run, bit 1 = done, bit 0 = in progress, with glibc's fork generation in
//! the bits above (glibc reruns a routine a fork interrupted). The generation is
//! glibc-internal: we read it by letting glibc run a tiny routine on a fresh control and
//! looking at that control while it runs. When a green thread runs the routine and it
//! blocks (sleeps, waits for I/O), other green threads calling pthread_once on the same
//! control park until it is done, instead of sleeping on the futex with the whole OS
//! thread (which would deadlock: the runner could never finish). After that, a call is one
//! load and a test. A foreign runner is waited for with short, growing naps.
//!
//! **A routine that does not return**: cancelled, ended with pthread_exit, or left by a C++
//! exception (std::call_once's contract). glibc's pthread_once wraps the routine in a
//! cleanup handler that puts the control back to "not run" and wakes the waiters, so the
//! next of them runs the routine itself, and the exception passes on to the caller. Our
//! frames are Rust's, which have no landing pads (panic = "abort"), so the routine is
//! called through a small x86-64 trampoline (`green_once_call`) whose unwind information
//! names a personality routine of ours: the unwinder calls it in its cleanup phase as the
//! unwind (forced or not) leaves the trampoline's frame, and it resets the control there,
//! then lets the unwind go on. The trampoline keeps the control in a callee-saved
//! register, whose value in its frame the personality asks the unwinder for.
//!
//! An unwind does not always pass the trampoline: ours, as glibc's, stops at the first frame
//! without unwind information (a routine built with -fno-asynchronous-unwind-tables) and
//! jumps into the newest `pthread_cleanup_push` buffer beyond it, and aarch64 does not
//! unwind at all. glibc runs the cleanup from its older, frame-less chain then; for a green
//! thread a pthread key does it: while a routine runs its value is the thread's id, and
//! its destructor resets every control RUNNING still lists for the thread. The root's
//! routines have no such key (its keys are glibc's): where it ends inside a routine
//! without unwinding it, the waiters stay parked (the deadlock report names them).

use super::deadline::{recheck_deadline, FIRST_NAP_NS};
use super::hub::{Hub, HubMap};
use crate::runtime::green::{Wake, WaitingOn};
use crate::runtime::tsd;
use crate::sys::{raw, real};
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicUsize, Ordering};

/// glibc's __PTHREAD_ONCE_INPROGRESS and __PTHREAD_ONCE_DONE (glibc 2.36, nptl's
/// pthreadP.h); the bits above hold the fork generation.
const ONCE_IN_PROGRESS: i32 = 1;
const ONCE_DONE: i32 = 2;

/// Controls whose routine a green thread is running now, with that thread's id.
static RUNNING: HubMap<u64> = HubMap::new();

type InitRoutine = Option<unsafe extern "C" fn()>;

/// glibc's fork generation: the value of a fresh control while glibc runs its routine,
/// without the in-progress bit. (The routine runs on the calling thread, right here; the
/// Hub keeps the statics to one thread.)
fn fork_generation(_hub: Hub) -> i32 {
    static PROBE: AtomicUsize = AtomicUsize::new(0);
    static GENERATION: AtomicI32 = AtomicI32::new(0);
    extern "C" fn look() {
        // SAFETY: PROBE holds the address of the control below, which lives on the caller's
        // stack for as long as glibc runs this routine on it.
        let control = unsafe { &*(PROBE.load(Ordering::Relaxed) as *const AtomicI32) };
        let generation = control.load(Ordering::Relaxed) & !(ONCE_IN_PROGRESS | ONCE_DONE);
        GENERATION.store(generation, Ordering::Relaxed);
    }
    let control = AtomicI32::new(0);
    PROBE.store(&control as *const AtomicI32 as usize, Ordering::Relaxed);
    // SAFETY: a live, zero (not run) control of our own, and a routine that reads only it.
    unsafe { real::pthread_once(control.as_ptr(), Some(look)) };
    GENERATION.load(Ordering::Relaxed)
}

/// The pthread key whose value, while a green thread runs routines, is that thread's id
/// (u32::MAX: none made yet; glibc's keys are below 1024). Its destructor resets the
/// controls RUNNING still lists for the thread.
static ONCE_KEY: AtomicU32 = AtomicU32::new(u32::MAX);

fn once_key() -> Option<u32> {
    let key = ONCE_KEY.load(Ordering::Relaxed);
    if key != u32::MAX {
        return Some(key);
    }
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: a valid place for the key, and a destructor of the signature glibc calls.
    if unsafe { super::thread::pthread_key_create(&mut key, Some(abandon_routines)) } != 0 {
        return None;
    }
    ONCE_KEY.store(key, Ordering::Relaxed);
    Some(key)
}

/// Wakes every thread waiting for `control`'s routine: green ones (when `hub` is given)
/// and foreign ones.
fn wake_once_waiters(hub: Option<Hub>, control: &AtomicI32) {
    if let Some(hub) = hub {
        hub.wake_all(control as *const AtomicI32 as usize, Wake::Ready);
    }
    raw::futex_wake(control.as_ptr(), i32::MAX, true);
}

/// The routine of `control` will not return: the control goes back to "not run" and its
/// waiters wake to run the routine themselves (glibc's clear_once_control).
fn abandon(hub: Option<Hub>, control: &AtomicI32) {
    if let Some(hub) = hub {
        RUNNING.with(hub, |map| map.remove(&(control as *const AtomicI32 as usize)));
    }
    control.store(0, Ordering::Relaxed);
    wake_once_waiters(hub, control);
}

/// Key destructor: the thread ends, and RUNNING still lists the controls of the routines
/// it did not return from and that no unwind passed (see the module's doc).
///
/// # Safety
/// Called by the key machinery on the ending thread, with a non-null value (its id).
unsafe extern "C" fn abandon_routines(_id: *mut c_void) {
    let Some(hub) = Hub::here() else { return };
    // SAFETY: the running green thread is live.
    let me = unsafe { (*hub.current()).id };
    let left: Vec<usize> =
        RUNNING.with(hub, |map| map.iter().filter(|&(_, &id)| id == me).map(|(&control, _)| control).collect());
    for control in left {
        // SAFETY: a control whose routine this thread was running: the program's, and it
        // stays live while the routine may still be waited for.
        abandon(Some(hub), unsafe { &*(control as *const AtomicI32) });
    }
}

#[cfg(target_arch = "x86_64")]
mod unwinding {
    use super::abandon;
    use crate::hooks::hub::Hub;
    use core::ffi::{c_int, c_void};
    use core::sync::atomic::AtomicI32;

    extern "C" {
        fn _Unwind_GetGR(context: *mut c_void, register: c_int) -> usize;
        /// `init()`, with `control` kept in rbx for the call (the asm below).
        pub fn green_once_call(init: unsafe extern "C" fn(), control: *const AtomicI32);
    }

    /// libgcc's _UA_CLEANUP_PHASE and _URC_CONTINUE_UNWIND; rbx's DWARF number.
    const CLEANUP_PHASE: c_int = 2;
    const CONTINUE_UNWIND: c_int = 8;
    const RBX: c_int = 3;

    // The trampoline keeps the control in rbx (callee-saved, so the unwinder knows its
    // value in this frame), saving the caller's rbx at CFA - 16, which also aligns the
    // stack for the call. Its CIE names `personality` (pc-relative: it lives in this
    // object) and no LSDA.
    core::arch::global_asm!(
        ".pushsection .text.green_once_call,\"ax\",@progbits",
        ".p2align 4",
        ".globl green_once_call",
        ".hidden green_once_call",
        ".type green_once_call,@function",
        "green_once_call:",
        ".cfi_startproc",
        ".cfi_personality 0x1b, {personality}",
        "push rbx",
        ".cfi_adjust_cfa_offset 8",
        ".cfi_offset rbx, -16",
        "mov rbx, rsi",
        "call rdi",
        "pop rbx",
        ".cfi_adjust_cfa_offset -8",
        ".cfi_restore rbx",
        "ret",
        ".cfi_endproc",
        ".size green_once_call, .-green_once_call",
        ".popsection",
        personality = sym personality,
    );

    /// The trampoline's personality routine: in the cleanup phase of an unwind leaving it
    /// (a cancellation, pthread_exit, a C++ exception), the routine's control is reset; the
    /// search phase and the unwind go on.
    ///
    /// # Safety
    /// Called by the unwinder only, for green_once_call's frame, whose rbx holds the
    /// control of a routine that is running.
    unsafe extern "C" fn personality(
        _version: c_int,
        actions: c_int,
        _class: u64,
        _exception: *mut c_void,
        context: *mut c_void,
    ) -> c_int {
        if actions & CLEANUP_PHASE != 0 {
            // SAFETY: the unwinder's context for the trampoline's frame, whose rbx is the
            // control run_routine passed: the program's, live while its routine runs.
            let control = unsafe { &*(_Unwind_GetGR(context, RBX) as *const AtomicI32) };
            abandon(Hub::here(), control);
        }
        CONTINUE_UNWIND
    }
}

/// Calls `init` so that an unwind out of it resets `control` (see the module's doc).
///
/// # Safety
/// `init` is the program's routine for `control`.
#[cfg(target_arch = "x86_64")]
unsafe fn call_init(init: unsafe extern "C" fn(), control: &AtomicI32) {
    // SAFETY: as the caller's; the trampoline calls `init` with no argument.
    unsafe { unwinding::green_once_call(init, control) }
}

/// Elsewhere an unwind out of `init` leaves the control in progress, as before.
///
/// # Safety
/// `init` is the program's routine.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn call_init(init: unsafe extern "C" fn(), _control: &AtomicI32) {
    // SAFETY: the program's routine (caller).
    unsafe { init() }
}

/// Runs the routine on the current green thread, listed in RUNNING so that waiters know
/// who runs it and an end of the thread inside it is noticed.
///
/// # Safety
/// `init` is the program's routine, callable with no argument (pthread_once's contract).
unsafe fn run_routine(hub: Hub, control: &AtomicI32, init: InitRoutine) {
    let me = hub.current();
    let address = control as *const AtomicI32 as usize;
    // SAFETY: the running green thread is live.
    let id = unsafe { (*me).id };
    RUNNING.with(hub, |map| map.insert(address, id));
    let key = if me == hub.root() { None } else { once_key() };
    // SAFETY: hub thread, and `me` is live (it is running this); a non-null value makes the
    // destructor run if the thread ends inside `init`.
    let outer = key.map(|key| unsafe {
        let outer = tsd::get(me, key);
        let _ = tsd::set(me, key, id as usize as *const c_void);
        outer
    });
    if let Some(init) = init {
        // SAFETY: the program's routine (caller).
        unsafe { call_init(init, control) };
    }
    if let (Some(key), Some(outer)) = (key, outer) {
        // SAFETY: as above.
        let _ = unsafe { tsd::set(me, key, outer) };
    }
    RUNNING.with(hub, |map| map.remove(&address));
}

/// Moves `control` from "not run" (or an interrupted run of an earlier fork generation) to
/// `running`: Ok(true) if it is ours to run, Ok(false) if it is done, Err(()) if someone
/// of this generation runs it.
fn claim(control: &AtomicI32, running: i32) -> Result<bool, ()> {
    let mut seen = control.load(Ordering::Acquire);
    loop {
        if seen & ONCE_DONE != 0 {
            return Ok(false);
        }
        match control.compare_exchange_weak(seen, running, Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => break,
            Err(now) => seen = now,
        }
    }
    if seen == running {
        Err(())
    } else {
        Ok(true)
    }
}

/// # Safety
/// As for `run_routine`.
unsafe fn once_slow(hub: Hub, control: &AtomicI32, init: InitRoutine) -> c_int {
    let address = control as *const AtomicI32 as usize;
    let mut nap = FIRST_NAP_NS;
    loop {
        match claim(control, fork_generation(hub) | ONCE_IN_PROGRESS) {
            Ok(false) => return 0,
            Ok(true) => break,
            Err(()) => {
                // Someone of this process's generation runs it: wait until it is done. A
                // green runner wakes us; a foreign one only wakes the futex, so look again
                // now and then.
                let foreign = !RUNNING.with(hub, |map| map.contains_key(&address));
                let wake_at = recheck_deadline(None, foreign, &mut nap);
                hub.wait(address, wake_at, WaitingOn::Once { address });
            }
        }
    }
    // Not run, or interrupted by a fork: ours to run.
    // SAFETY: the caller's contract is run_routine's.
    unsafe { run_routine(hub, control, init) };
    control.store(ONCE_DONE, Ordering::Release);
    wake_once_waiters(Some(hub), control);
    0
}

/// # Safety
/// `control` is null or a pthread_once_t of the program; `init` is its routine.
#[no_mangle]
pub unsafe extern "C" fn pthread_once(control: *mut libc::pthread_once_t, init: InitRoutine) -> c_int {
    // SAFETY: null or the program's control word, an int that glibc and our code change
    // only atomically.
    let word = unsafe { (control as *const AtomicI32).as_ref() };
    if word.is_some_and(|w| w.load(Ordering::Acquire) & ONCE_DONE != 0) {
        return 0;
    }
    match (word, Hub::here()) {
        // SAFETY: the program's routine (caller).
        (Some(word), Some(hub)) => unsafe { once_slow(hub, word, init) },
        // SAFETY: the program's arguments, passed on as it gave them.
        _ => unsafe { real::pthread_once(control, init) },
    }
}
