//! The wait family and system(3): waiting for a child parks the calling green thread, not
//! the process. Each call is made with WNOHANG (the program's other options kept); while no
//! child is ready we park on the child's pidfd, or nap (runtime::child). A signal handler
//! interrupts the wait with EINTR, or restarts it under SA_RESTART, as the kernel does.
//!
//! The wait family are cancellation points (cancel_point.rs): a request pending at the call
//! is acted on before the child is looked at, one made while the thread waits wakes it and
//! is acted on once the watch (and its pidfd) is dropped. system(3) is one too, as glibc's:
//! a cancelled caller kills the shell with SIGKILL and reaps it before it unwinds
//! (sysdeps/posix/system.c, `cancel_handler`).

use super::cancel_point;
use super::hub::Hub;
use crate::runtime::child::ChildWatch;
use crate::runtime::green::Wake;
use crate::sys::{errno, real};
use core::ffi::c_int;

/// Repeats `attempt` (a WNOHANG call: > 0 done, 0 nothing yet, < 0 error) until it is done.
/// None when the thread has a cancellation request to act on (only when `cancellable`):
/// the watch is dropped by then, so the caller can act on it or clean up first.
fn park_until(_hub: Hub, pid: i32, cancellable: bool, mut attempt: impl FnMut() -> c_int) -> Option<c_int> {
    let saved_errno = errno::get();
    let mut watch = ChildWatch::new(pid);
    loop {
        let result = attempt();
        if result != 0 {
            if result > 0 {
                errno::set(saved_errno);
            }
            return Some(result);
        }
        if cancellable && cancel_point::pending() {
            return None;
        }
        // SAFETY: hub thread (`_hub`), the one precondition.
        if let Wake::Interrupted { restart: false } = unsafe { watch.wait() } {
            return Some(errno::fail(libc::EINTR));
        }
    }
}

/// A wait-family call on the hub: a cancellation point before and during the wait. `plain`
/// is the program's call as it made it, which a lone thread makes instead (direct_wait.rs).
fn cancellable_wait(hub: Hub, pid: i32, plain: impl FnOnce() -> c_int, attempt: impl FnMut() -> c_int) -> c_int {
    cancel_point::point();
    if let Some(result) = hub.call_alone(|| plain() as isize) {
        return result as c_int;
    }
    let result = park_until(hub, pid, true, attempt);
    // The watch is gone: a request that ended the wait is acted on here.
    cancel_point::point();
    result.unwrap_or(-1)
}

/// system(3)'s wait for its shell, `pid`: the shell's status in `status`, EINTR retried. A
/// cancellation request kills the shell and reaps it, as glibc's cancellation handler does;
/// false then: the caller restores its signal state and acts on the request.
pub(super) fn wait_for_shell(hub: Hub, pid: libc::pid_t, status: &mut c_int) -> bool {
    loop {
        // SAFETY: `status` is the caller's writable int.
        let waited = park_until(hub, pid, true, || unsafe { real::waitpid(pid, status, libc::WNOHANG) });
        match waited {
            Some(r) if r < 0 && errno::get() == libc::EINTR => {}
            Some(_) => return true,
            None => break,
        }
    }
    // Our own child, not yet reaped, so the pid cannot name another process.
    if let Some(shell) = rustix::process::Pid::from_raw(pid) {
        let _own = crate::sys::own_calls::own_calls();
        let _ = rustix::process::kill_process(shell, rustix::process::Signal::KILL);
    }
    // SAFETY: as above; the status is not wanted.
    while park_until(hub, pid, false, || unsafe { real::waitpid(pid, core::ptr::null_mut(), libc::WNOHANG) })
        .is_some_and(|r| r < 0 && errno::get() == libc::EINTR)
    {}
    false
}

/// # Safety
/// As for waitpid(2): `status` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn waitpid(pid: libc::pid_t, status: *mut c_int, options: c_int) -> libc::pid_t {
    // SAFETY: the program's arguments, passed on as it gave them.
    let plain = || unsafe { real::waitpid(pid, status, options) };
    match Hub::here().filter(|_| options & libc::WNOHANG == 0) {
        // SAFETY: the program's arguments, with WNOHANG added.
        Some(hub) => cancellable_wait(hub, pid, plain, || unsafe { real::waitpid(pid, status, options | libc::WNOHANG) }),
        None => plain(),
    }
}

/// # Safety
/// As for wait(2): `status` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn wait(status: *mut c_int) -> libc::pid_t {
    // SAFETY: the same pointer, under the same contract.
    unsafe { waitpid(-1, status, 0) }
}

/// # Safety
/// As for wait4(2): `status` and `usage` are null or writable.
#[no_mangle]
pub unsafe extern "C" fn wait4(
    pid: libc::pid_t,
    status: *mut c_int,
    options: c_int,
    usage: *mut libc::rusage,
) -> libc::pid_t {
    // SAFETY: the program's arguments, passed on as it gave them.
    let plain = || unsafe { real::wait4(pid, status, options, usage) };
    match Hub::here().filter(|_| options & libc::WNOHANG == 0) {
        Some(hub) => {
            // SAFETY: the program's arguments, with WNOHANG added.
            let attempt = || unsafe { real::wait4(pid, status, options | libc::WNOHANG, usage) };
            cancellable_wait(hub, pid, plain, attempt)
        }
        None => plain(),
    }
}

/// # Safety
/// As for wait3(2): `status` and `usage` are null or writable.
#[no_mangle]
pub unsafe extern "C" fn wait3(status: *mut c_int, options: c_int, usage: *mut libc::rusage) -> libc::pid_t {
    // SAFETY: the same pointers, under the same contract.
    unsafe { wait4(-1, status, options, usage) }
}

/// Where the kernel puts si_pid in a siginfo_t for SIGCHLD (after signo, errno, code and
/// the 64-bit alignment padding): the same on x86-64 and aarch64.
const SI_PID_OFFSET: usize = 16;

/// waitid with WNOHANG, as park_until wants it: 1 when a child was reported, 0 when none
/// was yet, -1 on error.
///
/// # Safety
/// `info` is writable for a siginfo_t.
unsafe fn waitid_now(id_type: libc::idtype_t, id: libc::id_t, info: *mut libc::siginfo_t, options: c_int) -> c_int {
    // waitid says "nothing yet" with 0 and si_pid 0; clear it so a stale value cannot
    // pass for a child.
    // SAFETY: `info` is writable (caller), and si_pid is an aligned pid_t at SI_PID_OFFSET.
    unsafe {
        (*info).si_signo = 0;
        info.cast::<u8>().add(SI_PID_OFFSET).cast::<libc::pid_t>().write(0);
    }
    // SAFETY: the program's arguments, with WNOHANG added.
    let result = unsafe { real::waitid(id_type, id, info, options | libc::WNOHANG) };
    // SAFETY: the kernel filled `info` in (or left it as we cleared it).
    if result == 0 && unsafe { (*info).si_pid() } == 0 {
        0
    } else if result == 0 {
        1
    } else {
        result
    }
}

/// # Safety
/// As for waitid(2): `info` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn waitid(
    id_type: libc::idtype_t,
    id: libc::id_t,
    info: *mut libc::siginfo_t,
    options: c_int,
) -> c_int {
    // SAFETY: the program's arguments, passed on as it gave them.
    let plain = || unsafe { real::waitid(id_type, id, info, options) };
    let Some(hub) = Hub::here().filter(|_| options & libc::WNOHANG == 0 && !info.is_null()) else {
        return plain();
    };
    let pid = if id_type == libc::P_PID { id as i32 } else { -1 };
    // SAFETY: `info` is not null, so writable (caller).
    cancellable_wait(hub, pid, plain, || unsafe { waitid_now(id_type, id, info, options) }).min(0)
}
