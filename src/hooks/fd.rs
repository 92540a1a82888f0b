//! Fd bookkeeping: close, the dup family, fcntl's flags and duplicates, FIONBIO, fclose, and
//! fork (which must not let a child share the parent's hub).

use crate::runtime::fdtable;
use crate::runtime::io as green_io;
use crate::runtime::{self, on_hub};
use crate::sys::{errno, real};
use core::ffi::{c_int, c_ulong};

#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    if runtime::is_internal_fd(fd) {
        // Ours, not the program's: to the program this number is not open.
        return errno::fail(libc::EBADF);
    }
    green_io::closing(fd, on_hub());
    real::close(fd)
}

#[no_mangle]
pub unsafe extern "C" fn fclose(stream: *mut libc::FILE) -> c_int {
    if !stream.is_null() {
        // fclose closes its fd inside libc, where no hook sees it.
        let fd = libc::fileno(stream);
        if fd >= 0 {
            green_io::closing(fd, on_hub());
        }
    }
    real::fclose(stream)
}

#[no_mangle]
pub unsafe extern "C" fn dup(old: c_int) -> c_int {
    let new = real::dup(old);
    if new >= 0 {
        green_io::duplicated(old, new);
    }
    new
}

#[no_mangle]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    dup_onto(old, new, |old, new| real::dup2(old, new))
}

#[no_mangle]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    dup_onto(old, new, |old, new| real::dup3(old, new, flags))
}

unsafe fn dup_onto(old: c_int, new: c_int, call: impl Fn(c_int, c_int) -> c_int) -> c_int {
    if runtime::is_internal_fd(new) || runtime::is_internal_fd(old) {
        return errno::fail(libc::EBADF);
    }
    if old == new {
        return call(old, new);
    }
    // dup2 closes `new` silently: drop its registration first, or epoll would keep
    // reporting the old file under this number.
    // (-1 cannot even be borrowed; any negative number is EBADF from the real call.)
    let valid_old = old >= 0 && rustix::io::fcntl_getfd(rustix::fd::BorrowedFd::borrow_raw(old)).is_ok();
    if valid_old {
        green_io::closing(new, on_hub());
    }
    let result = call(old, new);
    if result >= 0 {
        green_io::duplicated(old, result);
    }
    result
}

#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    match cmd {
        libc::F_GETFL => {
            let flags = real::fcntl(fd, cmd, arg);
            match owned_desc(fd) {
                Some(desc) if flags >= 0 => {
                    let view = if desc.user_nonblock { libc::O_NONBLOCK } else { 0 };
                    (flags & !libc::O_NONBLOCK) | view
                }
                _ => flags,
            }
        }
        libc::F_SETFL => {
            let wants_nonblock = arg as c_int & libc::O_NONBLOCK != 0;
            match owned_desc(fd) {
                Some(desc) => {
                    let result = real::fcntl(fd, cmd, arg | libc::O_NONBLOCK as usize);
                    if result == 0 {
                        desc.user_nonblock = wants_nonblock;
                    }
                    result
                }
                None => {
                    let result = real::fcntl(fd, cmd, arg);
                    if result == 0 {
                        if let Some(desc) = fdtable::existing(fd).and_then(|e| e.desc()) {
                            desc.user_nonblock = wants_nonblock;
                        }
                    }
                    result
                }
            }
        }
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
            let new = real::fcntl(fd, cmd, arg);
            if new >= 0 {
                green_io::duplicated(fd, new);
            }
            new
        }
        _ => real::fcntl(fd, cmd, arg),
    }
}

#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    fcntl(fd, cmd, arg)
}

#[no_mangle]
pub unsafe extern "C" fn ioctl(fd: c_int, request: c_ulong, arg: usize) -> c_int {
    if request == libc::FIONBIO as c_ulong && arg != 0 {
        if let Some(desc) = owned_desc(fd) {
            // The description stays non-blocking for us; only the program's view changes.
            desc.user_nonblock = *(arg as *const c_int) != 0;
            return 0;
        }
        let result = real_ioctl(fd, request, arg);
        if result == 0 {
            if let Some(desc) = fdtable::existing(fd).and_then(|e| e.desc()) {
                desc.user_nonblock = *(arg as *const c_int) != 0;
            }
        }
        return result;
    }
    real_ioctl(fd, request, arg)
}

unsafe fn real_ioctl(fd: c_int, request: c_ulong, arg: usize) -> c_int {
    static SYMBOL: crate::sys::real::RealSymbol = crate::sys::real::RealSymbol::new(b"ioctl\0");
    // SAFETY: glibc's ioctl is `int ioctl(int, unsigned long, ...)`.
    let f: unsafe extern "C" fn(c_int, c_ulong, ...) -> c_int = core::mem::transmute(SYMBOL.get());
    f(fd, request, arg)
}

/// The description behind `fd` if we made it non-blocking ourselves.
fn owned_desc(fd: c_int) -> Option<&'static mut fdtable::Desc> {
    // SAFETY: fcntl and ioctl use the description at once, for the number they were given.
    unsafe { fdtable::existing(fd).and_then(|e| e.desc()) }.filter(|d| d.owned_nonblock)
}

/// The child shares every description with us; see `release_inheritable` for why they go
/// back to blocking first.
#[no_mangle]
pub unsafe extern "C" fn fork() -> libc::pid_t {
    green_io::release_inheritable();
    let forked_on_hub = runtime::on_hub_thread();
    let pid = real::fork();
    if pid == 0 {
        runtime::after_fork_in_child(forked_on_hub);
    }
    pid
}

/// vfork's child shares our memory, so anything it did through our hooks (close, dup2)
/// would rewrite the parent's fd table and epoll set. A fork is always a correct vfork.
#[no_mangle]
pub unsafe extern "C" fn vfork() -> libc::pid_t {
    fork()
}
