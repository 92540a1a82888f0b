//! The exec and spawn families: a program started by exec must never see O_NONBLOCK that
//! its parent did not ask for (nodejs, bun and owl-lisp all shipped that bug). Before any
//! of these calls, descriptions we made non-blocking go back to blocking for good (see
//! `runtime::io::release_inheritable`; fork does the same).
//!
//! execl, execlp and execle are variadic: stable Rust cannot define them, and glibc builds
//! them on its internal execve, out of our reach. They are safe all the same when the
//! process forked first (fork already released the descriptions); a process that calls
//! them without forking passes our O_NONBLOCK on (README, Limits).

use crate::runtime::io::release_inheritable;
use crate::sys::real;
use core::ffi::{c_char, c_int};

type Args = *const *const c_char;
type MutArgs = *const *mut c_char;

#[no_mangle]
pub unsafe extern "C" fn execve(path: *const c_char, argv: Args, envp: Args) -> c_int {
    release_inheritable();
    real::execve(path, argv, envp)
}

#[no_mangle]
pub unsafe extern "C" fn execv(path: *const c_char, argv: Args) -> c_int {
    release_inheritable();
    real::execv(path, argv)
}

#[no_mangle]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: Args) -> c_int {
    release_inheritable();
    real::execvp(file, argv)
}

#[no_mangle]
pub unsafe extern "C" fn execvpe(file: *const c_char, argv: Args, envp: Args) -> c_int {
    release_inheritable();
    real::execvpe(file, argv, envp)
}

#[no_mangle]
pub unsafe extern "C" fn fexecve(fd: c_int, argv: Args, envp: Args) -> c_int {
    release_inheritable();
    real::fexecve(fd, argv, envp)
}

/// posix_spawn, system and popen start their child inside libc (clone and an internal
/// execve), where no hook runs, so the descriptions are released before the call.
#[no_mangle]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut libc::pid_t,
    path: *const c_char,
    file_actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: MutArgs,
    envp: MutArgs,
) -> c_int {
    release_inheritable();
    real::posix_spawn(pid, path, file_actions, attr, argv, envp)
}

#[no_mangle]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut libc::pid_t,
    file: *const c_char,
    file_actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: MutArgs,
    envp: MutArgs,
) -> c_int {
    release_inheritable();
    real::posix_spawnp(pid, file, file_actions, attr, argv, envp)
}

#[no_mangle]
pub unsafe extern "C" fn system(command: *const c_char) -> c_int {
    release_inheritable();
    real::system(command)
}

#[no_mangle]
pub unsafe extern "C" fn popen(command: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    release_inheritable();
    real::popen(command, mode)
}
