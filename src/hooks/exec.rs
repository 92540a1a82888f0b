//! The exec and spawn families: a program started by exec must never see O_NONBLOCK that
//! its parent did not ask for (nodejs, bun and owl-lisp all shipped that bug). Before any
//! of these calls, descriptions we made non-blocking go back to blocking for good (see
//! `runtime::io::release_inheritable`; fork does the same).
//! execl, execlp and execle are variadic: exec_variadic.rs gathers their arguments and calls
//! the hooks here.

use super::hub::Hub;
use crate::runtime::io::{release_inheritable, Sharer};
use crate::runtime::sigroute;
use crate::sys::{errno, real};
use core::ffi::{c_char, c_int};

/// Another program is about to see our descriptions (`release_inheritable` says why they
/// go back to blocking first).
fn release_before_sharing() {
    // SAFETY: the table's rule for a whole walk is that no other thread changes entries
    // meanwhile. A program that closes or makes descriptors on another thread while this one
    // execs or spawns races natively too (which of them the new program gets is undefined);
    // what we add is only the O_NONBLOCK bit, restored per description.
    unsafe { release_inheritable(Sharer::Program) }
}

/// Makes `call`, which starts a program (exec, or posix_spawn and popen, whose child takes
/// the mask the kernel has at the call), with the calling green thread's own signal mask
/// in the kernel, as natively the new program inherits its caller's mask; the OS thread's
/// real mask is only derived from every green thread's (ARCHITECTURE.md, Signals). Off the
/// hub (a child forked on another OS thread) the kernel's mask is the program's already.
/// The derived mask comes back when the call returns (a failed exec, a spawn).
fn with_own_mask(call: impl FnOnce() -> c_int) -> c_int {
    release_before_sharing();
    if Hub::here().is_none() {
        return call();
    }
    // SAFETY: hub thread (checked just above).
    let own = unsafe { sigroute::current_mask() };
    let derived = sigroute::kernel_mask(libc::SIG_SETMASK, Some(own));
    let result = call();
    let error = errno::get();
    sigroute::kernel_mask(libc::SIG_SETMASK, Some(derived));
    errno::set(error);
    result
}

type Args = *const *const c_char;
type MutArgs = *const *mut c_char;

/// # Safety
/// As for execve(2).
#[no_mangle]
pub unsafe extern "C" fn execve(path: *const c_char, argv: Args, envp: Args) -> c_int {
    // SAFETY: the program's arguments, passed on as it gave them.
    with_own_mask(|| unsafe { real::execve(path, argv, envp) })
}

/// # Safety
/// As for execv(3).
#[no_mangle]
pub unsafe extern "C" fn execv(path: *const c_char, argv: Args) -> c_int {
    // SAFETY: the program's arguments, passed on as it gave them.
    with_own_mask(|| unsafe { real::execv(path, argv) })
}

/// # Safety
/// As for execvp(3).
#[no_mangle]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: Args) -> c_int {
    // SAFETY: the program's arguments, passed on as it gave them.
    with_own_mask(|| unsafe { real::execvp(file, argv) })
}

/// # Safety
/// As for execvpe(3).
#[no_mangle]
pub unsafe extern "C" fn execvpe(file: *const c_char, argv: Args, envp: Args) -> c_int {
    // SAFETY: the program's arguments, passed on as it gave them.
    with_own_mask(|| unsafe { real::execvpe(file, argv, envp) })
}

/// # Safety
/// As for fexecve(3).
#[no_mangle]
pub unsafe extern "C" fn fexecve(fd: c_int, argv: Args, envp: Args) -> c_int {
    // SAFETY: the program's arguments, passed on as it gave them.
    with_own_mask(|| unsafe { real::fexecve(fd, argv, envp) })
}

/// A spawned child will get `fd` as `new_fd`, inheritable, whatever its close-on-exec flag
/// here: its description is passed on, so it goes back to the flags the program asked for
/// now, for good, as for SCM_RIGHTS (the release before the spawn sees only what is
/// inheritable in this process). Python's subprocess hands pipes to its children so.
///
/// # Safety
/// As for posix_spawn_file_actions_adddup2(3).
#[no_mangle]
pub unsafe extern "C" fn posix_spawn_file_actions_adddup2(
    actions: *mut libc::posix_spawn_file_actions_t,
    fd: c_int,
    new_fd: c_int,
) -> c_int {
    // SAFETY: the program is passing number `fd` on, so it holds it (release_passed's rule).
    unsafe { crate::runtime::io::release_passed(fd) };
    // SAFETY: the program's arguments, passed on as it gave them.
    unsafe { real::posix_spawn_file_actions_adddup2(actions, fd, new_fd) }
}

/// posix_spawn, system and popen start their child inside libc (clone and an internal
/// execve), where no hook runs, so the descriptions are released before the call.
///
/// # Safety
/// As for posix_spawn(3).
#[no_mangle]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut libc::pid_t,
    path: *const c_char,
    file_actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: MutArgs,
    envp: MutArgs,
) -> c_int {
    // SAFETY: the program's arguments, passed on as it gave them.
    with_own_mask(|| unsafe { real::posix_spawn(pid, path, file_actions, attr, argv, envp) })
}

/// # Safety
/// As for posix_spawnp(3).
#[no_mangle]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut libc::pid_t,
    file: *const c_char,
    file_actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: MutArgs,
    envp: MutArgs,
) -> c_int {
    // SAFETY: the program's arguments, passed on as it gave them.
    with_own_mask(|| unsafe { real::posix_spawnp(pid, file, file_actions, attr, argv, envp) })
}

/// The caller's signal state while system(3) runs a command, as glibc sets it: SIGINT and
/// SIGQUIT ignored, SIGCHLD blocked. Dropping it puts the old state back.
struct CallerSignals {
    old_int: libc::sigaction,
    old_quit: libc::sigaction,
    old_mask: libc::sigset_t,
}

impl CallerSignals {
    fn set_for_system() -> Self {
        // SAFETY: all-zero bytes are valid for these plain-data types (no handler, empty
        // sets), and each is filled in below before it is read.
        let (mut ignore, mut old_int, mut old_quit): (libc::sigaction, libc::sigaction, libc::sigaction) =
            unsafe { core::mem::zeroed() };
        // SAFETY: as above.
        let (mut block_chld, mut old_mask): (libc::sigset_t, libc::sigset_t) = unsafe { core::mem::zeroed() };
        ignore.sa_sigaction = libc::SIG_IGN;
        // SAFETY: every pointer is to one of our locals above, of the type the call expects.
        unsafe {
            libc::sigemptyset(&mut ignore.sa_mask);
            real::sigaction(libc::SIGINT, &ignore, &mut old_int);
            real::sigaction(libc::SIGQUIT, &ignore, &mut old_quit);
            libc::sigemptyset(&mut block_chld);
            libc::sigaddset(&mut block_chld, libc::SIGCHLD);
            libc::pthread_sigmask(libc::SIG_BLOCK, &block_chld, &mut old_mask);
        }
        CallerSignals { old_int, old_quit, old_mask }
    }

    /// The signals the shell resets to their default: SIGINT and SIGQUIT, unless the caller
    /// ignored them.
    fn shell_defaults(&self) -> libc::sigset_t {
        // SAFETY: all-zero bytes are a valid sigset_t, emptied properly below.
        let mut defaults: libc::sigset_t = unsafe { core::mem::zeroed() };
        // SAFETY: our own local set, and valid signal numbers.
        unsafe {
            libc::sigemptyset(&mut defaults);
            if self.old_int.sa_sigaction != libc::SIG_IGN {
                libc::sigaddset(&mut defaults, libc::SIGINT);
            }
            if self.old_quit.sa_sigaction != libc::SIG_IGN {
                libc::sigaddset(&mut defaults, libc::SIGQUIT);
            }
        }
        defaults
    }
}

impl Drop for CallerSignals {
    fn drop(&mut self) {
        // SAFETY: the actions and mask saved by set_for_system, all readable.
        unsafe {
            real::sigaction(libc::SIGINT, &self.old_int, core::ptr::null_mut());
            real::sigaction(libc::SIGQUIT, &self.old_quit, core::ptr::null_mut());
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old_mask, core::ptr::null_mut());
        }
    }
}

extern "C" {
    static environ: *const *mut c_char;
}

/// Starts `sh -c command` with the caller's signal mask and the default SIGINT/SIGQUIT
/// `signals` asks for; returns its pid, or None when it could not be started.
///
/// # Safety
/// `command` is a NUL-terminated string.
unsafe fn spawn_shell(command: *const c_char, signals: &CallerSignals) -> Option<libc::pid_t> {
    let defaults = signals.shell_defaults();
    // SAFETY: all-zero bytes are valid storage for an attr, initialised below.
    let mut attr: libc::posix_spawnattr_t = unsafe { core::mem::zeroed() };
    let flags = (libc::POSIX_SPAWN_SETSIGDEF | libc::POSIX_SPAWN_SETSIGMASK) as libc::c_short;
    // SAFETY: our local attr, initialised first, and readable sets.
    unsafe {
        libc::posix_spawnattr_init(&mut attr);
        libc::posix_spawnattr_setsigmask(&mut attr, &signals.old_mask);
        libc::posix_spawnattr_setsigdefault(&mut attr, &defaults);
        libc::posix_spawnattr_setflags(&mut attr, flags);
    }
    let argv: [*mut c_char; 4] = [
        c"sh".as_ptr() as *mut c_char,
        c"-c".as_ptr() as *mut c_char,
        command as *mut c_char,
        core::ptr::null_mut(),
    ];
    let mut pid: libc::pid_t = 0;
    // SAFETY: NUL-terminated strings (the command: caller), a null-terminated argv, an
    // initialised attr, and the process's environment as glibc's system passes it.
    let spawned = unsafe {
        real::posix_spawn(&mut pid, c"/bin/sh".as_ptr(), core::ptr::null(), &attr, argv.as_ptr(), environ)
    };
    // SAFETY: initialised above, and not used after.
    unsafe { libc::posix_spawnattr_destroy(&mut attr) };
    (spawned == 0).then_some(pid)
}

/// system(3) on the hub: glibc's would wait for the shell inside libc, blocking every green
/// thread for as long as the command runs. Same steps as glibc, with a green wait: SIGINT
/// and SIGQUIT ignored and SIGCHLD blocked in the caller meanwhile, the shell started with
/// default SIGINT/SIGQUIT and the caller's signal mask, EINTR retried, 127 if no shell.
///
/// # Safety
/// As for system(3): `command` is null or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn system(command: *const c_char) -> c_int {
    release_before_sharing();
    let (Some(hub), false) = (Hub::here(), command.is_null()) else {
        // SAFETY: the program's argument, passed on as it gave it.
        return unsafe { real::system(command) };
    };
    let signals = CallerSignals::set_for_system();
    let mut status: c_int = 127 << 8;
    // SAFETY: not null, so a NUL-terminated string (caller).
    let shell = unsafe { spawn_shell(command, &signals) };
    // A cancelled caller has had its shell killed and reaped (wait.rs).
    let cancelled = shell.is_some_and(|pid| !super::wait::wait_for_shell(hub, pid, &mut status));
    drop(signals);
    if cancelled {
        super::cancel_point::point();
    }
    status
}

/// # Safety
/// As for popen(3).
#[no_mangle]
pub unsafe extern "C" fn popen(command: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    let mut stream = core::ptr::null_mut();
    with_own_mask(|| {
        // SAFETY: the program's arguments, passed on as it gave them.
        stream = unsafe { real::popen(command, mode) };
        0
    });
    // SAFETY: what popen just returned, and its mode string.
    unsafe { super::popen_streams::hand_out(stream, mode) }
}
