//! POSIX timers that notify by starting a thread (`timer_create` with SIGEV_THREAD).
//!
//! glibc runs them with a helper OS thread of its own that waits for the timer's signal and
//! starts a new OS thread for each expiry (sysdeps/unix/sysv/linux/timer_routines.c): threads
//! outside the hub, so the function could not wait for green threads at a mutex, barrier or
//! condition without blocking the OS thread, and green threads could not cancel it as a
//! green thread (glibc's nptl/tst-cancel28). On the hub such a timer is a timerfd that a
//! green thread of ours watches; each expiry starts a green thread that calls the function,
//! with the attributes the program gave (made detached) and every signal blocked, as glibc's
//! helper does. A timerfd keeps the kernel's own timer semantics: absolute CLOCK_REALTIME
//! deadlines follow clock changes, intervals, `timer_gettime`'s remaining time, and
//! overruns (the expirations one read counts beyond the first).
//!
//! Ids: glibc marks a SIGEV_THREAD timer's id by a negative value (its record's address
//! shifted right by one); ours are made the same way from our record's address, and every
//! call looks an id up in our list before it touches a record, so an id of glibc's or the
//! kernel's goes to glibc untouched. Other notifications, clocks a timerfd cannot follow
//! (CPU-time clocks), a call from a thread outside the hub, or a timerfd the system refuses
//! go to glibc as before.

use super::hub::Hub;
use super::timer_list::{list, ours_or, to_id, unlist, with_timer, GreenTimer, Notify};
use crate::sys::{errno, raw, real};
use core::ffi::{c_int, c_void};
use rustix::fd::{FromRawFd, IntoRawFd, OwnedFd};
use core::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// glibc's `struct sigevent` with its SIGEV_THREAD members (the libc crate names only the
/// SIGEV_THREAD_ID one of the union).
#[repr(C)]
struct ThreadSigevent {
    value: libc::sigval,
    signo: c_int,
    notify: c_int,
    function: Option<Notify>,
    attributes: *const libc::pthread_attr_t,
}

/// The clocks a timerfd follows; the CPU-time ones (and any other) stay glibc's.
fn timerfd_clock(clock: libc::clockid_t) -> bool {
    matches!(
        clock,
        libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME | libc::CLOCK_REALTIME_ALARM | libc::CLOCK_BOOTTIME_ALARM
    )
}

/// # Safety
/// As for timer_create(2): `event` is null or a sigevent, `id` writable.
#[no_mangle]
pub unsafe extern "C" fn timer_create(clock: libc::clockid_t, event: *mut libc::sigevent, id: *mut libc::timer_t) -> c_int {
    let thread_event = event as *const ThreadSigevent;
    // SAFETY: a sigevent (caller); the SIGEV_THREAD members are read only when it says so.
    let wanted = match unsafe { thread_event.as_ref() } {
        Some(e) if e.notify == libc::SIGEV_THREAD && timerfd_clock(clock) => e.function.map(|f| (f, e)),
        _ => None,
    };
    if let (Some((function, e)), Some(hub)) = (wanted, Hub::here()) {
        // SAFETY: the program's attributes are null or initialised (its contract with glibc).
        if let Some(timer) = unsafe { create(hub, clock, function, e.value, e.attributes) } {
            // SAFETY: writable (caller).
            unsafe { *id = to_id(timer) };
            return 0;
        }
    }
    // SAFETY: the program's arguments, passed on as it gave them.
    unsafe { real::timer_create(clock, event, id) }
}

/// A timer of ours and its watcher, or None when the system refuses a part (glibc's own
/// timer then serves the call).
///
/// # Safety
/// `program_attr` is null or an initialised pthread_attr_t.
unsafe fn create(
    _hub: Hub,
    clock: libc::clockid_t,
    function: Notify,
    value: libc::sigval,
    program_attr: *const libc::pthread_attr_t,
) -> Option<*mut GreenTimer> {
    // SAFETY: timerfd_create takes two integers.
    let fd = unsafe { raw::syscall6(libc::SYS_timerfd_create, [clock as usize, libc::TFD_CLOEXEC as usize, 0, 0, 0, 0]) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the new timerfd is ours alone; moved up among the hub's own descriptors, out
    // of the numbers the program counts on getting.
    let fd = crate::runtime::move_high(unsafe { OwnedFd::from_raw_fd(fd as c_int) }).into_raw_fd();
    let timer = Box::into_raw(Box::new(GreenTimer {
        timerfd: fd,
        function,
        value,
        // SAFETY: all-zero bytes are a valid pthread_attr_t to hand to pthread_attr_init.
        attr: unsafe { core::mem::zeroed() },
        overrun: AtomicI32::new(0),
        deleted: AtomicBool::new(false),
        pid: crate::sys::raw::getpid(),
    }));
    // SAFETY: `timer` is ours alone until it is listed; `program_attr` as the caller says.
    unsafe { notification_attr(&mut (*timer).attr, program_attr) };
    let mut watcher_attr = blocking_all_signals_attr();
    watcher_attr.set_small_stack();
    let mut watcher: libc::pthread_t = 0;
    // SAFETY: hub thread; an initialised attribute; `watch` gets a live record.
    let made = unsafe { super::thread::pthread_create(&mut watcher, watcher_attr.as_ptr(), watch, timer as *mut c_void) };
    if made != 0 {
        // SAFETY: never listed, never seen by a watcher: ours to undo.
        unsafe {
            libc::pthread_attr_destroy(&mut (*timer).attr);
            super::fd::close_nocancel(fd);
            drop(Box::from_raw(timer));
        }
        return None;
    }
    list(timer);
    Some(timer)
}

/// A pthread_attr_t we own, destroyed when it goes.
struct OwnedAttr(libc::pthread_attr_t);

impl OwnedAttr {
    fn as_ptr(&self) -> *const libc::pthread_attr_t {
        &self.0
    }

    /// The watcher only reads its timerfd and starts threads.
    fn set_small_stack(&mut self) {
        // SAFETY: an initialised attribute of ours.
        unsafe { libc::pthread_attr_setstacksize(&mut self.0, 64 * 1024) };
    }
}

impl Drop for OwnedAttr {
    fn drop(&mut self) {
        // SAFETY: initialised by blocking_all_signals_attr, destroyed once.
        unsafe { libc::pthread_attr_destroy(&mut self.0) };
    }
}

/// Detached, with every signal blocked: glibc's helper thread blocks them all (signals are
/// for the program's own threads), and so does each notification thread it starts.
fn blocking_all_signals_attr() -> OwnedAttr {
    // SAFETY: all-zero bytes are a valid pthread_attr_t to hand to pthread_attr_init.
    let mut attr = OwnedAttr(unsafe { core::mem::zeroed() });
    // SAFETY: initialises our attribute, then sets two of its fields.
    unsafe {
        libc::pthread_attr_init(&mut attr.0);
        set_detached_all_blocked(&mut attr.0);
    }
    attr
}

/// # Safety
/// `attr` is initialised.
unsafe fn set_detached_all_blocked(attr: *mut libc::pthread_attr_t) {
    extern "C" {
        fn pthread_attr_setsigmask_np(attr: *mut libc::pthread_attr_t, mask: *const libc::sigset_t) -> c_int;
    }
    // SAFETY: all-zero bytes are a valid sigset_t, filled by sigfillset.
    let mut all: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: an initialised attribute (caller) and our set.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_attr_setdetachstate(attr, libc::PTHREAD_CREATE_DETACHED);
        pthread_attr_setsigmask_np(attr, &all);
    }
}

/// What glibc's timer_create copies from the program's attributes (scheduling, guard and
/// stack), onto a fresh attribute, detached and blocking every signal.
///
/// # Safety
/// `attr` is writable; `program` is null or initialised.
unsafe fn notification_attr(attr: *mut libc::pthread_attr_t, program: *const libc::pthread_attr_t) {
    // SAFETY: `attr` is ours to initialise (caller).
    unsafe { libc::pthread_attr_init(attr) };
    if !program.is_null() {
        let (mut size, mut guard, mut policy, mut inherit) = (0usize, 0usize, 0, 0);
        // SAFETY: all-zero bytes are a valid sched_param.
        let mut param: libc::sched_param = unsafe { core::mem::zeroed() };
        let mut address: *mut c_void = core::ptr::null_mut();
        // SAFETY: reads from the program's initialised attribute into our locals, then sets
        // the same values on ours; every value came from a valid attribute.
        unsafe {
            libc::pthread_attr_getstack(program, &mut address, &mut size);
            libc::pthread_attr_getguardsize(program, &mut guard);
            libc::pthread_attr_getschedpolicy(program, &mut policy);
            libc::pthread_attr_getschedparam(program, &mut param);
            libc::pthread_attr_getinheritsched(program, &mut inherit);
            if !super::thread::stack_address(program).is_null() {
                libc::pthread_attr_setstack(attr, address, size);
            } else {
                libc::pthread_attr_setstacksize(attr, size);
            }
            libc::pthread_attr_setguardsize(attr, guard);
            libc::pthread_attr_setschedpolicy(attr, policy);
            libc::pthread_attr_setschedparam(attr, &param);
            libc::pthread_attr_setinheritsched(attr, inherit);
        }
    }
    // SAFETY: initialised above.
    unsafe { set_detached_all_blocked(attr) };
}

/// What a notification thread runs: the program's function with its value.
extern "C" fn notify(arg: *mut c_void) -> *mut c_void {
    // SAFETY: `watch` made this box for this thread alone.
    let (function, value) = *unsafe { Box::from_raw(arg as *mut (Notify, libc::sigval)) };
    function(value);
    core::ptr::null_mut()
}

/// The watcher of one timer: a green thread that waits for the timerfd and starts a
/// notification thread per expiry read, until timer_delete.
extern "C" fn watch(arg: *mut c_void) -> *mut c_void {
    let timer = arg as *mut GreenTimer;
    loop {
        let mut expirations = 0u64;
        // SAFETY: the record lives until this thread frees it below; the read parks this
        // green thread until the timerfd has expirations to tell.
        let got = unsafe { super::io::read((*timer).timerfd, &mut expirations as *mut u64 as *mut c_void, 8) };
        // SAFETY: as above.
        if unsafe { (*timer).deleted.load(Ordering::Acquire) } || (got < 0 && errno::get() == libc::EBADF) {
            break;
        }
        if got != 8 {
            continue;
        }
        let overrun = (expirations - 1).min(libc::c_int::MAX as u64) as c_int;
        // SAFETY: as above; the box goes to the new thread, or back here if none starts.
        unsafe {
            (*timer).overrun.store(overrun, Ordering::Release);
            let job = Box::into_raw(Box::new(((*timer).function, (*timer).value)));
            let mut thread: libc::pthread_t = 0;
            if super::thread::pthread_create(&mut thread, &(*timer).attr, notify, job as *mut c_void) != 0 {
                drop(Box::from_raw(job));
            }
        }
    }
    // Unlisted by timer_delete, or (the program closed the timerfd behind our back) now.
    unlist(timer);
    // SAFETY: unlisted, so nobody else can reach the record any more.
    unsafe {
        super::fd::close_nocancel((*timer).timerfd);
        libc::pthread_attr_destroy(&mut (*timer).attr);
        drop(Box::from_raw(timer));
    }
    core::ptr::null_mut()
}

/// # Safety
/// As for timer_delete(2).
#[no_mangle]
pub unsafe extern "C" fn timer_delete(id: libc::timer_t) -> c_int {
    let unlisted = match with_timer(id, |timer| timer) {
        Some(Err(stale)) => return stale,
        found => found.and_then(Result::ok),
    };
    let Some(timer) = unlisted.filter(|&timer| unlist(timer)) else {
        // SAFETY: not ours (or not any more): glibc's to judge.
        return unsafe { real::timer_delete(id) };
    };
    // SAFETY: unlisted by us just now, so the watcher is its only other user; it frees the
    // record once it sees `deleted`, which the expiry armed here makes it look at at once.
    unsafe {
        (*timer).deleted.store(true, Ordering::Release);
        settime((*timer).timerfd, 0, &ONE_NANOSECOND, core::ptr::null_mut());
    }
    0
}

const ONE_NANOSECOND: libc::itimerspec =
    libc::itimerspec { it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 }, it_value: libc::timespec { tv_sec: 0, tv_nsec: 1 } };

/// timerfd_settime; 0 or -1 with errno.
///
/// # Safety
/// `new` points at an itimerspec, `old` is null or writable.
unsafe fn settime(fd: c_int, flags: c_int, new: *const libc::itimerspec, old: *mut libc::itimerspec) -> c_int {
    let args = [fd as usize, flags as usize, new as usize, old as usize, 0, 0];
    // SAFETY: the kernel reads `new` and writes `old` when not null (caller).
    errno::from_syscall(unsafe { raw::syscall6(libc::SYS_timerfd_settime, args) })
}

/// # Safety
/// As for timer_settime(2).
#[no_mangle]
pub unsafe extern "C" fn timer_settime(
    id: libc::timer_t,
    flags: c_int,
    new: *const libc::itimerspec,
    old: *mut libc::itimerspec,
) -> c_int {
    // SAFETY: a live record; the pointers are the program's (caller). timer_settime knows one
    // flag, TIMER_ABSTIME, which is timerfd's TFD_TIMER_ABSTIME.
    let ours = with_timer(id, |timer| unsafe { settime((*timer).timerfd, flags & libc::TIMER_ABSTIME, new, old) });
    // SAFETY: not ours: glibc's to judge.
    ours_or(ours, || unsafe { real::timer_settime(id, flags, new, old) })
}

/// # Safety
/// As for timer_gettime(2).
#[no_mangle]
pub unsafe extern "C" fn timer_gettime(id: libc::timer_t, current: *mut libc::itimerspec) -> c_int {
    let ours = with_timer(id, |timer| {
        // SAFETY: a live record; the kernel writes the program's itimerspec (EFAULT if bad).
        errno::from_syscall(unsafe { raw::syscall6(libc::SYS_timerfd_gettime, [(*timer).timerfd as usize, current as usize, 0, 0, 0, 0]) })
    });
    // SAFETY: not ours: glibc's to judge.
    ours_or(ours, || unsafe { real::timer_gettime(id, current) })
}

/// # Safety
/// As for timer_getoverrun(2).
#[no_mangle]
pub unsafe extern "C" fn timer_getoverrun(id: libc::timer_t) -> c_int {
    // SAFETY: a live record.
    let ours = with_timer(id, |timer| unsafe { (*timer).overrun.load(Ordering::Acquire) });
    // SAFETY: not ours: glibc's to judge.
    ours_or(ours, || unsafe { real::timer_getoverrun(id) })
}
