//! io_uring waits as green waits: liburing's exported functions that can wait for
//! completions (`__io_uring_get_cqe`, behind the inline `io_uring_wait_cqe`,
//! `io_uring_wait_cqe_nr` and `io_uring_peek_cqe`; `io_uring_wait_cqes`,
//! `io_uring_wait_cqe_timeout`, `io_uring_submit_and_wait`,
//! `io_uring_submit_and_wait_timeout`; the raw `io_uring_enter` and `io_uring_enter2`, whose
//! green wait is uring_enter.rs's, as for `syscall(SYS_io_uring_enter)`). liburing enters the
//! kernel with its own inline system calls, so its functions are the only place a preload
//! sees the wait.
//!
//! The model: submit without waiting, park on the ring's fd until enough completions are
//! queued (uring_wait.rs), then make liburing's own call, which now finds them and returns
//! exactly what it returns natively; a timeout that expired is given to it as zero, so it
//! reports -ETIME itself. A signal handler that runs meanwhile makes the call return -EINTR,
//! as the kernel's wait does (it is never restarted). The signal mask argument is the
//! caller's mask for the wait (sigmask.rs). With no other green thread, or what a green
//! wait cannot watch (an IOPOLL ring, a ring whose fd liburing closed, a registered ring's
//! index, a timeout on a kernel without IORING_ENTER_EXT_ARG), the call is made as the
//! program made it. `io_uring_queue_exit` is hooked only to forget the ring's fd, which
//! liburing closes with its own system call.

use super::hub::Hub;
use super::sigmask::masked_wait;
use super::uring_enter;
use super::uring_wait::{
    facts, first_queued, others_exist, ring_ready, timeout_ns, wait_ready, Cqe, KernelTimespec, Ring, Waited,
    FEAT_EXT_ARG, SETUP_DEFER_TASKRUN, SETUP_IOPOLL, SIGSET_SIZE, ZERO_TIME,
};
use super::user_mem::read_user;
use crate::runtime::{io as green_io, on_hub};
use crate::sys::{clock, errno};
use core::cell::Cell;
use core::ffi::{c_int, c_uint, c_void};

/// liburing's own functions, the next definitions after ours.
mod liburing {
    use super::{c_int, c_uint, Cqe, KernelTimespec, Ring};
    use core::sync::atomic::{AtomicUsize, Ordering};

    /// The next definition of `name` (NUL-terminated) after ours, looked up once.
    fn next(slot: &AtomicUsize, name: &'static str) -> Option<usize> {
        let mut address = slot.load(Ordering::Relaxed);
        if address == 0 {
            // SAFETY: `name` is NUL-terminated (the macro appends it); dlsym is not hooked.
            address = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr() as *const libc::c_char) } as usize;
            slot.store(address, Ordering::Relaxed);
        }
        (address != 0).then_some(address)
    }

    macro_rules! liburing_fns {
        ($(fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty;)*) => {$(
            #[doc = concat!("liburing's `", stringify!($name), "`; -ENOSYS (or nothing) where no library after us defines it.")]
            ///
            /// # Safety
            /// The arguments meet liburing's contract for the function.
            pub(super) unsafe fn $name($($arg: $ty),*) -> $ret {
                static ADDRESS: AtomicUsize = AtomicUsize::new(0);
                let Some(address) = next(&ADDRESS, concat!(stringify!($name), "\0")) else { return Missing::missing() };
                // SAFETY: liburing's function of this name has this C signature.
                let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { core::mem::transmute(address) };
                // SAFETY: the caller meets the function's contract.
                unsafe { f($($arg),*) }
            }
        )*};
    }

    /// What a missing function gives back.
    trait Missing {
        fn missing() -> Self;
    }

    impl Missing for c_int {
        fn missing() -> Self {
            -libc::ENOSYS
        }
    }

    impl Missing for () {
        fn missing() -> Self {}
    }

    type Sigset = *mut libc::sigset_t;

    liburing_fns! {
        fn __io_uring_get_cqe(ring: *mut Ring, cqe_ptr: *mut *mut Cqe, submit: c_uint, wait_nr: c_uint, sigmask: Sigset) -> c_int;
        fn io_uring_wait_cqes(ring: *mut Ring, cqe_ptr: *mut *mut Cqe, wait_nr: c_uint, ts: *mut KernelTimespec, sigmask: Sigset) -> c_int;
        fn io_uring_wait_cqe_timeout(ring: *mut Ring, cqe_ptr: *mut *mut Cqe, ts: *mut KernelTimespec) -> c_int;
        fn io_uring_submit(ring: *mut Ring) -> c_int;
        fn io_uring_submit_and_wait(ring: *mut Ring, wait_nr: c_uint) -> c_int;
        fn io_uring_submit_and_wait_timeout(ring: *mut Ring, cqe_ptr: *mut *mut Cqe, wait_nr: c_uint, ts: *mut KernelTimespec, sigmask: Sigset) -> c_int;
        fn io_uring_queue_exit(ring: *mut Ring) -> ();
    }
}

/// One liburing wait as the program asked for it.
#[derive(Clone, Copy)]
struct RingWait {
    ring: *mut Ring,
    wait_nr: c_uint,
    ts: *mut KernelTimespec,
    sigmask: *mut libc::sigset_t,
    /// Where liburing leaves the first completion (null for submit_and_wait).
    cqe_ptr: *mut *mut Cqe,
}

impl RingWait {
    /// The proof of a green wait and its deadline, or None when the call is made as the
    /// program made it (see the top of this file).
    ///
    /// # Safety
    /// `ring` is null or a ring liburing set up; `ts` is null or anything.
    unsafe fn plan(&self) -> Option<(Hub, Option<u64>)> {
        let hub = Hub::here()?;
        if self.wait_nr == 0 || self.ring.is_null() || !others_exist(hub) {
            return None;
        }
        // SAFETY: a set-up ring (caller).
        let facts = unsafe { facts(self.ring) };
        if facts.fd < 0 || facts.flags & SETUP_IOPOLL != 0 {
            return None;
        }
        if self.ts.is_null() {
            return Some((hub, None));
        }
        if facts.features & FEAT_EXT_ARG == 0 {
            return None;
        }
        // Unreadable or invalid: liburing's own call reports it as natively.
        // SAFETY: read without faulting.
        let ns = timeout_ns(&unsafe { read_user(self.ts) }?)?;
        (ns > 0).then(|| (hub, Some(clock::monotonic_ns().saturating_add(ns))))
    }

    /// A wait that ended without its completions: what liburing leaves in `*cqe_ptr`
    /// (the first queued completion, or null) and the error it returns.
    ///
    /// # Safety
    /// As for `plan`, with a ring.
    unsafe fn ended(&self, error: c_int) -> c_int {
        if !self.cqe_ptr.is_null() {
            // SAFETY: the program's result pointer (liburing's contract: writable).
            unsafe { *self.cqe_ptr = first_queued(self.ring) };
        }
        -error
    }

    /// Waits green as asked, then makes liburing's `call` with the timeout it must see: the
    /// program's when the completions are there, zero when the time is up.
    ///
    /// # Safety
    /// As for `plan`; `call` is liburing's function with the program's other arguments.
    unsafe fn run(self, call: impl Fn(*mut KernelTimespec) -> c_int) -> c_int {
        // SAFETY: the caller's ring and timespec.
        let Some((hub, deadline)) = (unsafe { self.plan() }) else { return call(self.ts) };
        // SAFETY: as above.
        if unsafe { ring_ready(self.ring, self.wait_nr) } == Some(true) {
            return call(self.ts);
        }
        let saved_errno = errno::get();
        // SAFETY: a set-up ring (`plan`).
        let facts = unsafe { facts(self.ring) };
        let (fd, nap) = (facts.fd, facts.flags & SETUP_DEFER_TASKRUN != 0);
        let mut zero = ZERO_TIME;
        let result = Cell::new(None);
        let real = || {
            result.set(Some(call(self.ts)));
            0
        };
        let green = || {
            // SAFETY: the caller's ring, live across the wait (liburing's contract).
            let waited = wait_ready(hub, fd, deadline, nap, || unsafe { ring_ready(self.ring, self.wait_nr) });
            result.set(Some(match waited {
                Waited::Ready | Waited::Cannot => call(self.ts),
                Waited::TimedOut => call(&mut zero),
                // SAFETY: as above.
                Waited::Interrupted => unsafe { self.ended(libc::EINTR) },
                // SAFETY: as above.
                Waited::Closed => unsafe { self.ended(libc::EBADF) },
            }));
            0
        };
        // SAFETY: hub thread (`hub`), outside handlers; the program's mask pointer.
        let status = unsafe { masked_wait(self.sigmask, real, green) };
        // masked_wait's own refusals: a bad mask, or a signal it unblocked, whose handler ran.
        // SAFETY: as above.
        let value = result.get().unwrap_or_else(|| unsafe { self.ended(if status < 0 { errno::get() } else { libc::EINTR }) });
        errno::set(saved_errno);
        value
    }

    /// Submits what the program queued without waiting, then waits as `run`; liburing
    /// returns the number submitted when it is not 0, as the kernel's io_uring_enter does.
    ///
    /// # Safety
    /// As for `run`; `call` gets the count of what is left to submit.
    unsafe fn submit_then_run(self, submit: c_uint, call: impl Fn(c_uint, *mut KernelTimespec) -> c_int) -> c_int {
        // SAFETY: the caller's ring and timespec.
        if unsafe { self.plan() }.is_none() {
            return call(submit, self.ts);
        }
        // SAFETY: a set-up ring (`plan`); io_uring_submit never waits.
        let submitted = unsafe { liburing::io_uring_submit(self.ring) };
        if submitted < 0 {
            // SAFETY: as above.
            return unsafe { self.ended(-submitted) };
        }
        let left = submit.saturating_sub(submitted as c_uint);
        // SAFETY: the caller's contract.
        let waited = unsafe { self.run(|ts| call(left, ts)) };
        if submitted > 0 {
            submitted
        } else {
            waited
        }
    }
}

/// # Safety
/// As for liburing's `__io_uring_get_cqe`.
#[no_mangle]
pub unsafe extern "C" fn __io_uring_get_cqe(
    ring: *mut Ring,
    cqe_ptr: *mut *mut Cqe,
    submit: c_uint,
    wait_nr: c_uint,
    sigmask: *mut libc::sigset_t,
) -> c_int {
    let wait = RingWait { ring, wait_nr, ts: core::ptr::null_mut(), sigmask, cqe_ptr };
    // SAFETY: the program's arguments, liburing's contract.
    let call = |left, _| unsafe { liburing::__io_uring_get_cqe(ring, cqe_ptr, left, wait_nr, sigmask) };
    if submit == 0 {
        // SAFETY: as above.
        return unsafe { wait.run(|ts| call(0, ts)) };
    }
    // SAFETY: as above.
    unsafe { wait.submit_then_run(submit, call) }
}

/// # Safety
/// As for liburing's `io_uring_wait_cqes`.
#[no_mangle]
pub unsafe extern "C" fn io_uring_wait_cqes(
    ring: *mut Ring,
    cqe_ptr: *mut *mut Cqe,
    wait_nr: c_uint,
    ts: *mut KernelTimespec,
    sigmask: *mut libc::sigset_t,
) -> c_int {
    let wait = RingWait { ring, wait_nr, ts, sigmask, cqe_ptr };
    // SAFETY: the program's arguments, liburing's contract.
    unsafe { wait.run(|ts| liburing::io_uring_wait_cqes(ring, cqe_ptr, wait_nr, ts, sigmask)) }
}

/// # Safety
/// As for liburing's `io_uring_wait_cqe_timeout`.
#[no_mangle]
pub unsafe extern "C" fn io_uring_wait_cqe_timeout(ring: *mut Ring, cqe_ptr: *mut *mut Cqe, ts: *mut KernelTimespec) -> c_int {
    let wait = RingWait { ring, wait_nr: 1, ts, sigmask: core::ptr::null_mut(), cqe_ptr };
    // SAFETY: the program's arguments, liburing's contract.
    unsafe { wait.run(|ts| liburing::io_uring_wait_cqe_timeout(ring, cqe_ptr, ts)) }
}

/// # Safety
/// As for liburing's `io_uring_submit_and_wait`.
#[no_mangle]
pub unsafe extern "C" fn io_uring_submit_and_wait(ring: *mut Ring, wait_nr: c_uint) -> c_int {
    let null = core::ptr::null_mut();
    let wait = RingWait { ring, wait_nr, ts: null, sigmask: null as _, cqe_ptr: null as _ };
    // SAFETY: the program's arguments, liburing's contract.
    unsafe { wait.submit_then_run(0, |_, _| liburing::io_uring_submit_and_wait(ring, wait_nr)) }
}

/// # Safety
/// As for liburing's `io_uring_submit_and_wait_timeout`.
#[no_mangle]
pub unsafe extern "C" fn io_uring_submit_and_wait_timeout(
    ring: *mut Ring,
    cqe_ptr: *mut *mut Cqe,
    wait_nr: c_uint,
    ts: *mut KernelTimespec,
    sigmask: *mut libc::sigset_t,
) -> c_int {
    let wait = RingWait { ring, wait_nr, ts, sigmask, cqe_ptr };
    // SAFETY: the program's arguments, liburing's contract.
    let call = |_, ts| unsafe { liburing::io_uring_submit_and_wait_timeout(ring, cqe_ptr, wait_nr, ts, sigmask) };
    // SAFETY: as above.
    unsafe { wait.submit_then_run(0, call) }
}

/// liburing closes the ring's fd with its own system call, where the close hook never sees
/// it: the hub forgets the number first, as for close (a ring made later on the same
/// number must be registered afresh).
///
/// # Safety
/// As for liburing's `io_uring_queue_exit`: a ring it set up, not used again.
#[no_mangle]
pub unsafe extern "C" fn io_uring_queue_exit(ring: *mut Ring) {
    if !ring.is_null() {
        // SAFETY: a set-up ring (the caller's promise).
        let fd = unsafe { facts(ring) }.fd;
        if fd >= 0 {
            // SAFETY: the caller is closing number `fd`, so it is the caller's now (the
            // table's rule off the hub thread).
            unsafe { green_io::closing(fd, on_hub()) };
        }
    }
    // SAFETY: the program's call as it made it.
    unsafe { liburing::io_uring_queue_exit(ring) }
}

/// # Safety
/// As for liburing's `io_uring_enter`: `sig` is null or a kernel signal set.
#[no_mangle]
pub unsafe extern "C" fn io_uring_enter(
    fd: c_uint,
    to_submit: c_uint,
    min_complete: c_uint,
    flags: c_uint,
    sig: *mut libc::sigset_t,
) -> c_int {
    // SAFETY: the program's arguments, with the size liburing passes for a signal set.
    unsafe { uring_enter::enter(fd, to_submit, min_complete, flags, sig as usize, SIGSET_SIZE) as c_int }
}

/// # Safety
/// As for liburing's `io_uring_enter2`: `arg` and `size` are valid for `flags`.
#[no_mangle]
pub unsafe extern "C" fn io_uring_enter2(
    fd: c_uint,
    to_submit: c_uint,
    min_complete: c_uint,
    flags: c_uint,
    arg: *mut c_void,
    size: usize,
) -> c_int {
    // SAFETY: the program's arguments.
    unsafe { uring_enter::enter(fd, to_submit, min_complete, flags, arg as usize, size) as c_int }
}
