//! The wait family and system(3): waiting for a child parks the calling green thread, not
//! the process. Each call is made with WNOHANG (the program's other options kept); while no
//! child is ready we park on the child's pidfd, or nap (runtime::child). A signal handler
//! interrupts the wait with EINTR, or restarts it under SA_RESTART, as the kernel does.

use crate::runtime::child::ChildWatch;
use crate::runtime::green::Wake;
use crate::runtime::on_hub;
use crate::sys::{errno, real};
use core::ffi::c_int;

/// Repeats `attempt` (a WNOHANG call: > 0 done, 0 nothing yet, < 0 error) until it is done.
unsafe fn park_until(pid: i32, mut attempt: impl FnMut() -> c_int) -> c_int {
    let saved_errno = errno::get();
    let mut watch = ChildWatch::new(pid);
    loop {
        let result = attempt();
        if result != 0 {
            if result > 0 {
                errno::set(saved_errno);
            }
            return result;
        }
        if let Wake::Interrupted { restart: false } = watch.wait() {
            return errno::fail(libc::EINTR);
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn waitpid(pid: libc::pid_t, status: *mut c_int, options: c_int) -> libc::pid_t {
    if !on_hub() || options & libc::WNOHANG != 0 {
        return real::waitpid(pid, status, options);
    }
    park_until(pid, || real::waitpid(pid, status, options | libc::WNOHANG))
}

#[no_mangle]
pub unsafe extern "C" fn wait(status: *mut c_int) -> libc::pid_t {
    waitpid(-1, status, 0)
}

#[no_mangle]
pub unsafe extern "C" fn wait4(
    pid: libc::pid_t,
    status: *mut c_int,
    options: c_int,
    usage: *mut libc::rusage,
) -> libc::pid_t {
    if !on_hub() || options & libc::WNOHANG != 0 {
        return real::wait4(pid, status, options, usage);
    }
    park_until(pid, || real::wait4(pid, status, options | libc::WNOHANG, usage))
}

#[no_mangle]
pub unsafe extern "C" fn wait3(status: *mut c_int, options: c_int, usage: *mut libc::rusage) -> libc::pid_t {
    wait4(-1, status, options, usage)
}

#[no_mangle]
pub unsafe extern "C" fn waitid(
    id_type: libc::idtype_t,
    id: libc::id_t,
    info: *mut libc::siginfo_t,
    options: c_int,
) -> c_int {
    if !on_hub() || options & libc::WNOHANG != 0 || info.is_null() {
        return real::waitid(id_type, id, info, options);
    }
    let pid = if id_type == libc::P_PID { id as i32 } else { -1 };
    // waitid says "nothing yet" with 0 and si_pid 0; clear it so a stale value cannot
    // pass for a child.
    park_until(pid, || {
        (*info).si_signo = 0;
        *(core::ptr::addr_of_mut!(*info) as *mut u8).add(SI_PID_OFFSET).cast::<libc::pid_t>() = 0;
        let result = real::waitid(id_type, id, info, options | libc::WNOHANG);
        if result == 0 && (*info).si_pid() == 0 {
            0
        } else if result == 0 {
            1
        } else {
            result
        }
    })
    .min(0)
}

/// Where the kernel puts si_pid in a siginfo_t for SIGCHLD (after signo, errno, code and
/// the 64-bit alignment padding): the same on x86-64 and aarch64.
const SI_PID_OFFSET: usize = 16;
