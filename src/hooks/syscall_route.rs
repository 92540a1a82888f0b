//! syscall(number, ...) for the numbers of blocking calls we hook: on the hub thread the
//! call takes the same path as the libc function of that name (read, write, readv, writev,
//! recvfrom, sendto, recvmsg, sendmsg, accept, accept4, connect, poll, ppoll, select,
//! pselect6, epoll_wait, epoll_pwait, nanosleep, clock_nanosleep, wait4, waitid, pause,
//! flock), so it parks the calling green thread instead of blocking the OS thread;
//! io_uring_enter with IORING_ENTER_GETEVENTS waits green as liburing's io_uring_enter does
//! (uring.rs). futex.rs holds the `syscall` hook and asks here first.
//!
//! Results are syscall()'s: the value, or -1 with errno (clock_nanosleep's error number,
//! which the libc function returns, becomes errno). Where the raw call takes an argument
//! the libc function cannot express (a signal set size other than the kernel's 8 bytes,
//! waitid's rusage), the raw call is made. Known differences: through ppoll and pselect6
//! the timeout is not updated with the time left, as glibc's functions do not update it
//! either. `pause`, `select`, `poll` and `epoll_wait` exist as system calls on x86-64 only.

use super::hub::Hub;
use super::{epoll, filelock, io, io_msg, io_vec, poll, select, sleep, socket, uring_enter, wait};
use crate::sys::{clock, errno};
use core::ffi::{c_int, c_long};

/// The libc-path result for system call `number` with arguments `a`, or None when the
/// caller makes the raw call (off the hub thread, or a number not routed here).
///
/// # Safety
/// The arguments are valid for system call `number`, as for libc's syscall().
pub(super) unsafe fn route(number: c_long, a: [usize; 6]) -> Option<c_long> {
    Hub::here()?;
    // SAFETY: the caller's contract, passed on to each family.
    unsafe { io_call(number, a).or_else(|| wait_call(number, a)).or_else(|| net_call(number, a)) }
}

/// Whether `route` may take system call `number` (the raw system call trap asks first,
/// in its signal handler: a match on the number, nothing else).
pub(crate) fn raw_routed(number: c_long) -> bool {
    #[cfg(target_arch = "x86_64")]
    if matches!(number, libc::SYS_poll | libc::SYS_select | libc::SYS_epoll_wait | libc::SYS_pause) {
        return true;
    }
    matches!(
        number,
        libc::SYS_read | libc::SYS_write | libc::SYS_readv | libc::SYS_writev | libc::SYS_recvfrom | libc::SYS_sendto
            | libc::SYS_recvmsg | libc::SYS_sendmsg | libc::SYS_flock | libc::SYS_ppoll | libc::SYS_pselect6
            | libc::SYS_epoll_pwait | libc::SYS_nanosleep | libc::SYS_clock_nanosleep | libc::SYS_wait4
            | libc::SYS_waitid | libc::SYS_io_uring_enter | libc::SYS_accept | libc::SYS_accept4 | libc::SYS_connect
    )
}

/// `route` for a raw system call instruction the runtime trapped (runtime/sud.rs): the
/// kernel's convention (the value, or -errno), and errno as it was, since a raw call
/// never touches it.
///
/// # Safety
/// As for `route`.
pub(crate) unsafe fn raw_route(number: c_long, a: [usize; 6]) -> Option<c_long> {
    let saved = errno::get();
    // SAFETY: the caller's contract.
    let result = unsafe { route(number, a) }.map(|r| if r == -1 { -c_long::from(errno::get()) } else { r });
    errno::set(saved);
    result
}

/// Reads and writes.
///
/// # Safety
/// As for `route`.
unsafe fn io_call(number: c_long, a: [usize; 6]) -> Option<c_long> {
    let fd = a[0] as c_int;
    // SAFETY: the program's arguments for this system call (caller); the libc function of
    // the same name has the same contract.
    let result = unsafe {
        match number {
            libc::SYS_read => io::read(fd, a[1] as _, a[2]) as c_long,
            libc::SYS_write => io::write(fd, a[1] as _, a[2]) as c_long,
            libc::SYS_readv => io_vec::readv(fd, a[1] as _, a[2] as c_int) as c_long,
            libc::SYS_writev => io_vec::writev(fd, a[1] as _, a[2] as c_int) as c_long,
            libc::SYS_recvfrom => io::recvfrom(fd, a[1] as _, a[2], a[3] as c_int, a[4] as _, a[5] as _) as c_long,
            libc::SYS_sendto => io::sendto(fd, a[1] as _, a[2], a[3] as c_int, a[4] as _, a[5] as _) as c_long,
            libc::SYS_recvmsg => io_msg::recvmsg(fd, a[1] as _, a[2] as c_int) as c_long,
            libc::SYS_sendmsg => io_msg::sendmsg(fd, a[1] as _, a[2] as c_int) as c_long,
            libc::SYS_flock => filelock::flock(fd, a[1] as c_int) as c_long,
            _ => return None,
        }
    };
    Some(result)
}

/// Whether a raw signal set argument is one the libc function can take: none, or the
/// kernel's size.
fn plain_sigset(set: usize, size: usize) -> bool {
    // The kernel's sigset_t: 64 signals.
    set == 0 || size == 8
}

/// Polls, sleeps and waits.
///
/// # Safety
/// As for `route`.
unsafe fn wait_call(number: c_long, a: [usize; 6]) -> Option<c_long> {
    // SAFETY: the program's arguments for this system call (caller); the libc function of
    // the same name has the same contract for them.
    let result = unsafe {
        match number {
            libc::SYS_ppoll if plain_sigset(a[3], a[4]) => poll::ppoll(a[0] as _, a[1] as _, a[2] as _, a[3] as _),
            libc::SYS_pselect6 => return pselect6(a),
            libc::SYS_epoll_pwait if plain_sigset(a[4], a[5]) => {
                epoll::epoll_pwait(a[0] as c_int, a[1] as _, a[2] as c_int, a[3] as c_int, a[4] as _)
            }
            libc::SYS_nanosleep => sleep::nanosleep(a[0] as _, a[1] as _),
            // Clocks the libc function does not sleep on green keep the kernel's own errors.
            libc::SYS_clock_nanosleep if clock::now_on(a[0] as _).is_some() => match sleep::clock_nanosleep(a[0] as _, a[1] as c_int, a[2] as _, a[3] as _) {
                0 => 0,
                e => errno::fail(e),
            },
            libc::SYS_wait4 => wait::wait4(a[0] as _, a[1] as _, a[2] as c_int, a[3] as _),
            libc::SYS_waitid if a[4] == 0 => wait::waitid(a[0] as _, a[1] as _, a[2] as _, a[3] as c_int),
            libc::SYS_io_uring_enter => return Some(uring_enter::enter_syscall(a)),
            #[cfg(target_arch = "x86_64")]
            libc::SYS_poll => poll::poll(a[0] as _, a[1] as _, a[2] as c_int),
            #[cfg(target_arch = "x86_64")]
            libc::SYS_select => select::select(a[0] as c_int, a[1] as _, a[2] as _, a[3] as _, a[4] as _),
            #[cfg(target_arch = "x86_64")]
            libc::SYS_epoll_wait => epoll::epoll_wait(a[0] as c_int, a[1] as _, a[2] as c_int, a[3] as c_int),
            #[cfg(target_arch = "x86_64")]
            libc::SYS_pause => super::sigwait::pause(),
            _ => return None,
        }
    };
    Some(result as c_long)
}

/// pselect6's sixth argument is the address of {sigset address, sigset size}, or null.
///
/// # Safety
/// As for `route`, with `a` pselect6's arguments.
unsafe fn pselect6(a: [usize; 6]) -> Option<c_long> {
    let mut set = 0usize;
    if a[5] != 0 {
        // SAFETY: pselect6's contract: a readable pair of words. A bad address is left to
        // the kernel's EFAULT.
        let pair = unsafe { super::user_mem::read_user(a[5] as *const [usize; 2]) }?;
        if !plain_sigset(pair[0], pair[1]) {
            return None;
        }
        set = pair[0];
    }
    // SAFETY: the program's arguments (caller), with the signal set pselect takes.
    Some(unsafe { select::pselect(a[0] as c_int, a[1] as _, a[2] as _, a[3] as _, a[4] as _, set as _) } as c_long)
}

/// Connections.
///
/// # Safety
/// As for `route`.
unsafe fn net_call(number: c_long, a: [usize; 6]) -> Option<c_long> {
    let fd = a[0] as c_int;
    // SAFETY: the program's arguments for this system call (caller); the libc function of
    // the same name has the same contract.
    let result = unsafe {
        match number {
            libc::SYS_accept => socket::accept(fd, a[1] as _, a[2] as _),
            libc::SYS_accept4 => socket::accept4(fd, a[1] as _, a[2] as _, a[3] as c_int),
            libc::SYS_connect => socket::connect(fd, a[1] as _, a[2] as _),
            _ => return None,
        }
    };
    Some(result as c_long)
}
