//! Fd bookkeeping: close, the dup family, fcntl's flags and duplicates, FIONBIO, fclose.
//! fcntl's waiting lock requests (F_SETLKW, F_OFD_SETLKW) wait green in filelock.rs.
//! The fd table follows every change of what a number refers to, and the program sees the
//! O_NONBLOCK it asked for, whatever we set underneath.
//!
//! Every hook here has the contract of the libc function it replaces.

use super::user_mem::read_user;
use crate::runtime::fdtable::{self, Kind};
use crate::runtime::io::{self as green_io, FileReads};
use crate::runtime::{self, on_hub};
use crate::sys::{errno, real};
use core::ffi::{c_int, c_ulong};

/// # Safety
/// None beyond close(2)'s (it takes no pointers).
#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    // close is a cancellation point (acted on before the descriptor is closed, as glibc).
    super::cancel_point::point();
    // SAFETY: the caller's contract.
    unsafe { close_nocancel(fd) }
}

/// close without the cancellation point (glibc's `__close_nocancel`, what its stdio uses).
///
/// # Safety
/// As for close.
pub(super) unsafe fn close_nocancel(fd: c_int) -> c_int {
    if not_the_programs(fd) {
        // Ours, not the program's: to the program this number is not open.
        return errno::fail(libc::EBADF);
    }
    // SAFETY: the caller is closing number `fd`, so it is the caller's at this moment (the
    // table's rule off the hub thread).
    unsafe { green_io::closing(fd, on_hub()) };
    // SAFETY: a plain fd number.
    unsafe { real::close(fd) }
}

/// # Safety
/// None beyond dup(2)'s (it takes no pointers).
#[no_mangle]
pub unsafe extern "C" fn dup(old: c_int) -> c_int {
    // SAFETY: a plain fd number.
    let new = unsafe { real::dup(old) };
    if new >= 0 {
        // SAFETY: this thread just made number `new` (the table's rule off the hub thread).
        unsafe { green_io::duplicated(old, new) };
    }
    new
}

/// # Safety
/// None beyond dup2(2)'s (it takes no pointers).
#[no_mangle]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    // SAFETY: plain fd numbers.
    dup_onto(old, new, |old, new| unsafe { real::dup2(old, new) })
}

/// # Safety
/// None beyond dup3(2)'s (it takes no pointers).
#[no_mangle]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    // SAFETY: plain fd numbers.
    dup_onto(old, new, |old, new| unsafe { real::dup3(old, new, flags) })
}

/// Whether `fd` is one of our own descriptors (the hub's, a timer's), which to the program
/// is not open.
fn not_the_programs(fd: c_int) -> bool {
    runtime::is_internal_fd(fd) || super::timer_list::is_timer_fd(fd)
}

fn dup_onto(old: c_int, new: c_int, call: impl Fn(c_int, c_int) -> c_int) -> c_int {
    if not_the_programs(new) || not_the_programs(old) {
        return errno::fail(libc::EBADF);
    }
    if old == new {
        return call(old, new);
    }
    // dup2 closes `new` silently: drop its registration first, or epoll would keep
    // reporting the old file under this number.
    // (-1 cannot even be borrowed; any negative number is EBADF from the real call.)
    let valid_old = old >= 0 && {
        let _own = crate::sys::own_calls::own_calls();
        // SAFETY: the borrowed fd lives only for this fcntl, which reads nothing but its number.
        rustix::io::fcntl_getfd(unsafe { rustix::fd::BorrowedFd::borrow_raw(old) }).is_ok()
    };
    if valid_old {
        // SAFETY: the caller is replacing number `new`, so it is the caller's at this moment.
        unsafe { green_io::closing(new, on_hub()) };
    }
    let result = call(old, new);
    if result >= 0 {
        // SAFETY: this thread just made number `result`.
        unsafe { green_io::duplicated(old, result) };
    }
    result
}

/// fcntl's flags as the program set them, whatever we set underneath; the duplicates it
/// makes join the fd table.
///
/// # Safety
/// As for fcntl(2): `arg` is what `cmd` expects.
#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    // SAFETY: the program's call, with the argument `cmd` expects (the caller's promise).
    let call = |arg: usize| unsafe { real::fcntl(fd, cmd, arg) };
    match cmd {
        libc::F_GETFL => {
            let flags = call(arg);
            match owned_user_nonblock(fd) {
                Some(user_nonblock) if flags >= 0 => {
                    let view = if user_nonblock { libc::O_NONBLOCK } else { 0 };
                    (flags & !libc::O_NONBLOCK) | view
                }
                _ => flags,
            }
        }
        libc::F_SETFL => {
            let owned = owned_user_nonblock(fd).is_some();
            // On a description we own, O_NONBLOCK stays set underneath.
            let extra = if owned { libc::O_NONBLOCK as usize } else { 0 };
            let result = call(arg | extra);
            if result == 0 {
                note_user_nonblock(fd, arg as c_int & libc::O_NONBLOCK != 0);
                note_direct(fd, arg as c_int & libc::O_DIRECT != 0);
            }
            result
        }
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
            let new = call(arg);
            if new >= 0 {
                // SAFETY: this thread just made number `new`.
                unsafe { green_io::duplicated(fd, new) };
            }
            new
        }
        libc::F_SETLKW | libc::F_OFD_SETLKW => {
            // SAFETY: `arg` is a struct flock's address (the caller's promise).
            unsafe { super::filelock::fcntl_lock_wait(fd, cmd, arg) }.unwrap_or_else(|| call(arg))
        }
        _ => call(arg),
    }
}

/// The program's view of O_NONBLOCK on `fd`'s description changed.
fn note_user_nonblock(fd: c_int, nonblock: bool) {
    // SAFETY: the program holds number `fd` for the fcntl or ioctl that changed it (the
    // table's rule off the hub thread); the flag is stored at once and no reference is kept.
    // Two OS threads setting flags on one description at once race on this bool as they
    // race on the kernel's answer natively.
    if let Some(desc) = unsafe { fdtable::existing(fd).and_then(|e| e.desc()) } {
        desc.user_nonblock = nonblock;
    }
}

/// O_DIRECT was set or cleared on `fd`'s description: its reads, if it is a regular file,
/// now go to the device or through the page cache (runtime/file_reads.rs).
fn note_direct(fd: c_int, direct: bool) {
    // SAFETY: as in note_user_nonblock.
    if let Some(desc) = unsafe { fdtable::existing(fd).and_then(|e| e.desc()) } {
        match (desc.kind, desc.file_reads, direct) {
            (Kind::File, FileReads::PageCache, true) => desc.file_reads = FileReads::Direct,
            (Kind::File, FileReads::Direct, false) => desc.file_reads = FileReads::PageCache,
            _ => {}
        }
    }
}

/// # Safety
/// As for fcntl(2).
#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    // SAFETY: the program's arguments.
    unsafe { fcntl(fd, cmd, arg) }
}

/// FIONBIO changes the program's view of O_NONBLOCK; on a description we own it stays
/// non-blocking underneath.
///
/// # Safety
/// As for ioctl(2): `arg` is what `request` expects.
#[no_mangle]
pub unsafe extern "C" fn ioctl(fd: c_int, request: c_ulong, arg: usize) -> c_int {
    if request == libc::FIONBIO as c_ulong && arg != 0 {
        // SAFETY: read_user checks the pointer itself (a bad one: the real call's EFAULT).
        let on = unsafe { read_user(arg as *const c_int) };
        if let (Some(on), Some(_)) = (on, owned_user_nonblock(fd)) {
            note_user_nonblock(fd, on != 0);
            return 0;
        }
        // SAFETY: the program's call as it made it.
        let result = unsafe { real_ioctl(fd, request, arg) };
        if let (0, Some(on)) = (result, on) {
            note_user_nonblock(fd, on != 0);
        }
        return result;
    }
    // SAFETY: the program's call as it made it.
    unsafe { real_ioctl(fd, request, arg) }
}

/// # Safety
/// As for ioctl(2).
unsafe fn real_ioctl(fd: c_int, request: c_ulong, arg: usize) -> c_int {
    static SYMBOL: crate::sys::real::RealSymbol = crate::sys::real::RealSymbol::new(b"ioctl\0");
    // SAFETY: glibc's ioctl is `int ioctl(int, unsigned long, ...)`.
    let f: unsafe extern "C" fn(c_int, c_ulong, ...) -> c_int = unsafe { core::mem::transmute(SYMBOL.get()) };
    // SAFETY: the caller's promise: `arg` is what `request` expects.
    unsafe { f(fd, request, arg) }
}

/// The program's own view of O_NONBLOCK on `fd`'s description, if we made that description
/// non-blocking ourselves (None for every other description).
fn owned_user_nonblock(fd: c_int) -> Option<bool> {
    // SAFETY: the program holds number `fd` for this fcntl or ioctl (the table's rule off the
    // hub thread); the view is copied out at once.
    let view = unsafe { fdtable::existing(fd) }.and_then(|entry| entry.view())?;
    view.owned_nonblock.then_some(view.user_nonblock)
}
