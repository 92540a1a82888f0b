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

/// system(3) on the hub: glibc's would wait for the shell inside libc, blocking every green
/// thread for as long as the command runs. Same steps as glibc, with a green wait: SIGINT
/// and SIGQUIT ignored and SIGCHLD blocked in the caller meanwhile, the shell started with
/// default SIGINT/SIGQUIT and the caller's signal mask, EINTR retried, 127 if no shell.
#[no_mangle]
pub unsafe extern "C" fn system(command: *const c_char) -> c_int {
    release_inheritable();
    if !crate::runtime::on_hub() || command.is_null() {
        return real::system(command);
    }
    let mut ignore: libc::sigaction = core::mem::zeroed();
    ignore.sa_sigaction = libc::SIG_IGN;
    libc::sigemptyset(&mut ignore.sa_mask);
    let mut old_int: libc::sigaction = core::mem::zeroed();
    let mut old_quit: libc::sigaction = core::mem::zeroed();
    real::sigaction(libc::SIGINT, &ignore, &mut old_int);
    real::sigaction(libc::SIGQUIT, &ignore, &mut old_quit);
    let mut block_chld: libc::sigset_t = core::mem::zeroed();
    let mut old_mask: libc::sigset_t = core::mem::zeroed();
    libc::sigemptyset(&mut block_chld);
    libc::sigaddset(&mut block_chld, libc::SIGCHLD);
    libc::pthread_sigmask(libc::SIG_BLOCK, &block_chld, &mut old_mask);

    let mut defaults: libc::sigset_t = core::mem::zeroed();
    libc::sigemptyset(&mut defaults);
    if old_int.sa_sigaction != libc::SIG_IGN {
        libc::sigaddset(&mut defaults, libc::SIGINT);
    }
    if old_quit.sa_sigaction != libc::SIG_IGN {
        libc::sigaddset(&mut defaults, libc::SIGQUIT);
    }
    let mut attr: libc::posix_spawnattr_t = core::mem::zeroed();
    libc::posix_spawnattr_init(&mut attr);
    libc::posix_spawnattr_setsigmask(&mut attr, &old_mask);
    libc::posix_spawnattr_setsigdefault(&mut attr, &defaults);
    libc::posix_spawnattr_setflags(
        &mut attr,
        (libc::POSIX_SPAWN_SETSIGDEF | libc::POSIX_SPAWN_SETSIGMASK) as libc::c_short,
    );
    let argv: [*mut c_char; 4] = [
        c"sh".as_ptr() as *mut c_char,
        c"-c".as_ptr() as *mut c_char,
        command as *mut c_char,
        core::ptr::null_mut(),
    ];
    let mut pid: libc::pid_t = 0;
    let spawned =
        real::posix_spawn(&mut pid, c"/bin/sh".as_ptr(), core::ptr::null(), &attr, argv.as_ptr(), environ);
    let mut status: c_int = 127 << 8;
    if spawned == 0 {
        while super::wait::waitpid(pid, &mut status, 0) < 0 && crate::sys::errno::get() == libc::EINTR {}
    }
    libc::posix_spawnattr_destroy(&mut attr);
    real::sigaction(libc::SIGINT, &old_int, core::ptr::null_mut());
    real::sigaction(libc::SIGQUIT, &old_quit, core::ptr::null_mut());
    libc::pthread_sigmask(libc::SIG_SETMASK, &old_mask, core::ptr::null_mut());
    status
}

extern "C" {
    static environ: *const *mut c_char;
}

#[no_mangle]
pub unsafe extern "C" fn popen(command: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    release_inheritable();
    real::popen(command, mode)
}
