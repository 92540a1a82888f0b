//! fork and vfork: the child must not share the parent's hub, nor inherit the O_NONBLOCK
//! we set on descriptions the program thinks blocking.
//!
//! Every hook here has the contract of the libc function it replaces.

use crate::runtime;
use crate::runtime::io as green_io;
use crate::sys::real;

/// The child shares every description with us; see `release_inheritable` for why they go
/// back to blocking first.
///
/// # Safety
/// As for fork(2).
#[no_mangle]
pub unsafe extern "C" fn fork() -> libc::pid_t {
    // SAFETY: as for exec (exec.rs, `release_before_sharing`): no other thread may change
    // the table during the walk, a race the program has natively with fork as well.
    unsafe { green_io::release_inheritable(green_io::Sharer::Child) };
    let forked_on_hub = runtime::on_hub_thread();
    // SAFETY: the program's call; the child resets the runtime before anything else runs.
    let pid = unsafe { real::fork() };
    if pid == 0 {
        // SAFETY: in the child, right after fork returned, on the thread that called it.
        unsafe { runtime::after_fork_in_child(forked_on_hub) };
        super::timer_list::forget_in_child();
    }
    pid
}

/// vfork's child shares our memory, so anything it did through our hooks (close, dup2)
/// would rewrite the parent's fd table and epoll set. A fork is always a correct vfork.
///
/// # Safety
/// As for vfork(2) (a fork satisfies every vfork contract).
#[no_mangle]
pub unsafe extern "C" fn vfork() -> libc::pid_t {
    // SAFETY: as for fork.
    unsafe { fork() }
}
