//! The exported libc surface, one file per call family. Each hook decides between the
//! green path (we are on the hub thread and the call would block) and the real call
//! (DESIGN.md section 2: not started, disabled, another OS thread, a forked child, an fd the
//! program made non-blocking, an fd epoll cannot watch).

mod aio;
mod epoll;
mod exec;
mod fd;
mod file;
mod futex;
mod io;
mod io_msg;
mod io_route;
mod io_vec;
mod poll;
mod select;
mod resolve;
mod sendfile;
mod signal;
mod sigwait;
mod sleep;
mod socket;
mod stdio;
mod sync_cond;
mod sync_misc;
mod sync_mutex;
mod sync_rwlock;
mod sync_sem;
mod thread;
mod thread_extra;
mod wait;

use crate::runtime::fdtable::{self, READ};
use crate::runtime::io::{self as green_io, Attempt, Plan};
use crate::runtime::on_hub;
use crate::sys::errno;
use core::ffi::c_int;

/// A blocking-mode input call (read, recv, accept, ...). `call(dontwait)` makes the real
/// call; with `dontwait` it must add MSG_DONTWAIT. `wanted` is the buffer size, for the
/// short-read rule (0 when it does not apply).
pub(crate) unsafe fn input(fd: i32, wanted: usize, call: impl FnMut(bool) -> isize) -> isize {
    input_until(fd, wanted, None, call)
}

/// `input` with the wait bounded by `deadline` (CLOCK_MONOTONIC ns) instead of the socket's
/// own SO_RCVTIMEO counted from this call: for calls made of several receives.
pub(crate) unsafe fn input_until(
    fd: i32,
    wanted: usize,
    deadline: Option<u64>,
    mut call: impl FnMut(bool) -> isize,
) -> isize {
    if !on_hub() {
        return off_hub(fd, READ, || call(false));
    }
    match green_io::plan(fd) {
        Plan::Passthrough => call(false),
        Plan::Green(mode) => {
            let result = green_io::drive(fd, READ, deadline, mode, || call(mode == Attempt::DontWait));
            green_io::note_read(fd, result, wanted);
            result
        }
    }
}

/// A blocking-mode output call (write, send): returns only when all `len` bytes are queued,
/// or with the count queued so far when an error stops it after progress, as a blocking
/// write does. `call(offset, attempt)` writes the bytes from `offset` on, without blocking
/// as `attempt` says (Direct: the plain call).
pub(crate) unsafe fn output(
    fd: i32,
    len: usize,
    mut call: impl FnMut(usize, Attempt) -> isize,
) -> isize {
    let green = on_hub();
    let plan = if green { green_io::plan(fd) } else { Plan::Passthrough };
    let emulate = !green && fdtable::needs_blocking_emulation(fd);
    if plan == Plan::Passthrough && !emulate {
        return if green { keeping_own_sigpipe(|| call(0, Attempt::Direct)) } else { call(0, Attempt::Direct) };
    }
    let started = if green { crate::sys::clock::monotonic_ns() } else { 0 };
    // Fixed once a send needed more than one wait: see tcp_send_deadline.
    let mut deadline: Option<Option<u64>> = None;
    let mut done = 0usize;
    loop {
        let result = match plan {
            Plan::Green(mode) => green_io::drive(fd, fdtable::WRITE, deadline.flatten(), mode, || {
                keeping_own_sigpipe(|| call(done, mode))
            }),
            Plan::Passthrough => off_hub(fd, fdtable::WRITE, || call(done, Attempt::Direct)),
        };
        if result < 0 {
            return if done > 0 { done as isize } else { result };
        }
        done += result as usize;
        if done >= len {
            return done as isize;
        }
        green_io::note_short_write(fd);
        if green && deadline.is_none() {
            deadline = Some(green_io::tcp_send_deadline(fd, started));
        }
    }
}

/// Makes one write attempt on the hub thread. The SIGPIPE a write to a closed pipe or
/// socket raises goes to the writing thread only: a handler it runs must not count as a
/// signal for the main thread's wait.
pub(crate) fn keeping_own_sigpipe(call: impl FnOnce() -> isize) -> isize {
    use crate::runtime::pending_signals;
    let earlier = pending_signals::take();
    let result = call();
    let raised = pending_signals::take();
    pending_signals::restore(earlier);
    if !(result < 0 && errno::get() == libc::EPIPE) {
        pending_signals::restore(raised);
    }
    result
}

/// Runs `call` on an offload worker while the calling green thread parks (inline if no
/// worker can be had), with errno as the call left it on the worker.
pub(crate) unsafe fn offloaded<T: Copy>(mut call: impl FnMut() -> T) -> T {
    let mut outcome: Option<(T, c_int)> = None;
    let mut job = || {
        let value = call();
        outcome = Some((value, errno::get()));
    };
    if !crate::runtime::offload::run(&mut job) {
        job();
    }
    let (value, call_errno) = outcome.expect("the job ran");
    errno::set(call_errno);
    value
}

/// A blocking-mode call from a thread that is not green. If we made the description
/// non-blocking behind the program's back, block by hand with poll(2) so the program still
/// sees blocking semantics.
pub(crate) fn off_hub(fd: i32, interest: u8, mut call: impl FnMut() -> isize) -> isize {
    loop {
        let result = call();
        if result >= 0 || errno::get() != libc::EAGAIN || !fdtable::needs_blocking_emulation(fd) {
            return result;
        }
        let saved = errno::get();
        wait_with_real_poll(fd, interest);
        errno::set(saved);
    }
}

/// Blocks the calling OS thread until `fd` is ready (raw poll: not our hook).
pub(crate) fn wait_with_real_poll(fd: i32, interest: u8) {
    use rustix::event::{PollFd, PollFlags};
    // SAFETY: poll only reads the fd number.
    let borrowed = unsafe { rustix::fd::BorrowedFd::borrow_raw(fd) };
    let flags = if interest == READ { PollFlags::IN } else { PollFlags::OUT };
    let mut fds = [PollFd::new(&borrowed, flags)];
    let _ = rustix::event::poll(&mut fds, None);
}

/// glibc's fortify failure: "*** buffer overflow detected ***" and abort.
pub(crate) fn fortify_fail() -> ! {
    // SAFETY: __chk_fail takes no arguments and never returns.
    unsafe { crate::sys::real::__chk_fail() };
    crate::runtime::log::fatal(&[b"__chk_fail returned"])
}
