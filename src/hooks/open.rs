//! open, openat, creat and their 64 forms: cancellation points (cancel_point.rs), and for a
//! FIFO a wait for the other end that parks only the calling green thread.
//!
//! A FIFO opened read-only or write-only, without O_NONBLOCK, waits in the kernel until the
//! other end is opened. Made as it is while other green threads exist, that wait would
//! block them all, the one that was to open the other end included. So when the open may
//! wait and the thread is not alone, the path is looked at first (one statx), and for a
//! FIFO:
//! * write-only: the open is tried with O_NONBLOCK, which fails with ENXIO while no reader
//!   has it open; the green thread naps between tries (50 us doubling to 10 ms, as for a
//!   file lock: nap_retry.rs), and the descriptor it gets is made blocking again;
//! * read-only: the open is made with O_NONBLOCK, which never waits (and counts as a reader
//!   from then on, as the kernel counts a reader that waits). A writer's open announces
//!   nothing epoll could see, so the green thread naps and looks between naps: `tee` of one
//!   byte into a scratch pipe, without waiting, says EAGAIN while a writer holds the FIFO
//!   open and nothing is in it, 0 while no writer does, and copies (without taking) what a
//!   writer wrote; poll's POLLHUP says a writer came and went. Then the descriptor is made
//!   blocking and handed over.
//!
//! A handler ends either wait with EINTR, or lets it go on when installed with SA_RESTART,
//! as the kernel restarts a FIFO's open. Everything else is the real call, as the program
//! made it.

use super::cancel_point;
use super::hub::Hub;
use super::nap_retry::Retry;
use crate::sys::{errno, real};
use core::ffi::{c_char, c_int, c_uint};

/// Whether an open with `flags` waits for a FIFO's other end: read-only or write-only, and
/// blocking.
fn may_wait_for_partner(flags: c_int) -> bool {
    let access = flags & libc::O_ACCMODE;
    (access == libc::O_RDONLY || access == libc::O_WRONLY) && flags & (libc::O_NONBLOCK | libc::O_PATH) == 0
}

/// The open of `path` (relative to `dir`) with `flags` and `mode`: `plain` (the program's
/// own call) unless it is a FIFO's that would wait while other green threads exist.
///
/// # Safety
/// As for openat(2); `plain` makes the program's call.
unsafe fn open_green(dir: c_int, path: *const c_char, flags: c_int, mode: c_uint, plain: impl Fn() -> c_int) -> c_int {
    cancel_point::point();
    let Some(hub) = Hub::here().filter(|_| may_wait_for_partner(flags)) else { return plain() };
    if let Some(result) = hub.call_alone(|| plain() as isize) {
        return result as c_int;
    }
    // SAFETY: as the caller's.
    if !unsafe { is_fifo(dir, path, flags) } {
        return plain();
    }
    // SAFETY: as the caller's: the same open, with O_NONBLOCK.
    let open_nonblocking = || unsafe { real::openat(dir, path, flags | libc::O_NONBLOCK, mode) };
    if flags & libc::O_ACCMODE == libc::O_WRONLY {
        let retry = Retry { cancellable: true, restartable: true, deadline: None };
        let fd = retry.retry(hub, |e| e == libc::ENXIO, || open_nonblocking() as isize) as c_int;
        return blocking_again(fd);
    }
    let fd = open_nonblocking();
    if fd < 0 {
        return fd;
    }
    match wait_for_writer(hub, fd) {
        0 => blocking_again(fd),
        e => {
            // SAFETY: our own descriptor, never handed to the program.
            unsafe { real::close(fd) };
            cancel_point::point();
            errno::fail(e)
        }
    }
}

/// Whether `path` (relative to `dir`, followed as `flags` says) names a FIFO now.
///
/// # Safety
/// `path` is the program's path argument (the kernel reports EFAULT if not, and so do we,
/// through the plain call).
unsafe fn is_fifo(dir: c_int, path: *const c_char, flags: c_int) -> bool {
    let follow = if flags & libc::O_NOFOLLOW != 0 { libc::AT_SYMLINK_NOFOLLOW } else { 0 };
    let mut st = core::mem::MaybeUninit::<libc::statx>::uninit();
    let args = [dir as usize, path as usize, follow as usize, libc::STATX_TYPE as usize, st.as_mut_ptr() as usize, 0];
    // SAFETY: the kernel reads the program's path itself (EFAULT, not a fault, if it is bad)
    // and fills `st`, ours, for the type asked.
    let r = unsafe { crate::sys::raw::syscall6(libc::SYS_statx, args) };
    // SAFETY: filled when the call succeeded.
    r == 0 && u32::from(unsafe { st.assume_init() }.stx_mode) & libc::S_IFMT == libc::S_IFIFO
}

/// Naps until a writer has opened the FIFO whose read end is `fd` (ours, non-blocking): 0,
/// or EINTR for a handler without SA_RESTART, or ECANCELED for a cancellation request the
/// caller acts on once it has closed `fd`.
fn wait_for_writer(hub: Hub, fd: c_int) -> c_int {
    use crate::sys::own_calls::own_calls;
    use rustix::pipe::{pipe_with, tee, PipeFlags, SpliceFlags};
    // Our own calls, each untrapped on its own: the wait parks in between (own_calls.rs).
    let made = {
        let _own = own_calls();
        pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)
    };
    // Without a scratch pipe nothing can be learnt: the descriptor is handed over as it is.
    let Ok(scratch) = made else { return 0 };
    // SAFETY: `fd` is our own open descriptor for the whole wait.
    let fifo = unsafe { rustix::fd::BorrowedFd::borrow_raw(fd) };
    let writer_seen = || {
        if cancel_point::pending() {
            return errno::fail::<isize>(libc::ECANCELED);
        }
        let _own = own_calls();
        match tee(fifo, &scratch.1, 1, SpliceFlags::NONBLOCK) {
            // A writer holds it open, or wrote; or tee cannot tell: hand it over.
            Ok(1..) | Err(_) => 0,
            Ok(0) if hung_up(fifo) => 0,
            Ok(0) => errno::fail::<isize>(libc::EAGAIN),
        }
    };
    let retry = Retry { cancellable: false, restartable: true, deadline: None };
    let seen = retry.retry(hub, |e| e == libc::EAGAIN, writer_seen);
    let e = errno::get();
    let _own = own_calls();
    drop(scratch);
    if seen == 0 {
        0
    } else {
        e
    }
}

/// Whether poll says POLLHUP for the FIFO read end `fifo`: a writer came and went. Our own
/// call: the caller keeps it untrapped.
fn hung_up(fifo: rustix::fd::BorrowedFd<'_>) -> bool {
    use rustix::event::{poll, PollFd, PollFlags};
    let mut fds = [PollFd::new(&fifo, PollFlags::IN)];
    let zero = rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 };
    poll(&mut fds, Some(&zero)).is_ok() && fds[0].revents().contains(PollFlags::HUP)
}

/// Clears the O_NONBLOCK our tries added to `fd` (a descriptor, or -1 with errno, passed
/// on).
fn blocking_again(fd: c_int) -> c_int {
    if fd >= 0 {
        // SAFETY: our own new descriptor; F_GETFL and F_SETFL take numbers.
        unsafe {
            let status = real::fcntl(fd, libc::F_GETFL, 0);
            real::fcntl(fd, libc::F_SETFL, (status & !libc::O_NONBLOCK) as usize);
        }
    }
    fd
}

// open and openat are variadic in C: the mode, read only with O_CREAT or O_TMPFILE, comes
// in the register of the next integer argument on x86-64 and aarch64 (sys/real.rs).

/// # Safety
/// As for open(2).
#[no_mangle]
pub unsafe extern "C" fn open(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    // SAFETY: the program's call as it made it.
    unsafe { open_green(libc::AT_FDCWD, path, flags, mode, || real::open(path, flags, mode)) }
}

/// # Safety
/// As for open(2).
#[no_mangle]
pub unsafe extern "C" fn open64(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    // SAFETY: the program's call as it made it.
    unsafe { open_green(libc::AT_FDCWD, path, flags, mode, || real::open64(path, flags, mode)) }
}

/// # Safety
/// As for openat(2).
#[no_mangle]
pub unsafe extern "C" fn openat(dir: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    // SAFETY: the program's call as it made it.
    unsafe { open_green(dir, path, flags, mode, || real::openat(dir, path, flags, mode)) }
}

/// # Safety
/// As for openat(2).
#[no_mangle]
pub unsafe extern "C" fn openat64(dir: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    // SAFETY: the program's call as it made it.
    unsafe { open_green(dir, path, flags, mode, || real::openat64(dir, path, flags, mode)) }
}

/// creat is open with O_CREAT | O_WRONLY | O_TRUNC: on an existing FIFO it waits for a reader.
///
/// # Safety
/// As for creat(2).
#[no_mangle]
pub unsafe extern "C" fn creat(path: *const c_char, mode: libc::mode_t) -> c_int {
    let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC;
    // SAFETY: the program's call as it made it.
    unsafe { open_green(libc::AT_FDCWD, path, flags, mode, || real::creat(path, mode)) }
}

/// # Safety
/// As for creat(2).
#[no_mangle]
pub unsafe extern "C" fn creat64(path: *const c_char, mode: libc::mode_t) -> c_int {
    let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC;
    // SAFETY: the program's call as it made it.
    unsafe { open_green(libc::AT_FDCWD, path, flags, mode, || real::creat64(path, mode)) }
}
