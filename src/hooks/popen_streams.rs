//! popen's streams, and fclose and pclose.
//!
//! glibc's popen stream reads and writes its pipe with the internal `__read` and `__write`,
//! which no hook sees: a green thread's `fgets` on it would block every green thread until
//! the command writes. So on the hub thread our popen hands out a cookie stream on the same
//! pipe whose reads and writes are ours (stdio.rs, as fdopen makes them), and keeps glibc's
//! own stream behind it, unread, for the close.
//!
//! Closing glibc's stream closes the pipe and then waits for the command in waitpid, inside
//! libc again. So closing a stream popen handed out flushes and lets go of the cookie
//! stream (whose close function leaves the pipe alone), then closes glibc's stream on an
//! offload worker while the green thread parks: its own close and wait, exactly as natively
//! (it retries the wait after EINTR and holds off cancellation meanwhile).

use super::stdio::{let_go, stream_over};
use crate::runtime::io as green_io;
use crate::runtime::on_hub;
use crate::sys::{errno, real};
use core::ffi::{c_char, c_int, c_void};
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering::Relaxed};

/// Streams open at once that are remembered; a program with more reads and closes the rest
/// with calls that block the OS thread, as glibc makes them.
const SLOTS: usize = 64;

/// Per slot: the stream handed to the program, and glibc's popen stream behind it (the same
/// stream when no cookie stream could be made).
static HANDED: [AtomicPtr<libc::FILE>; SLOTS] = [const { AtomicPtr::new(null_mut()) }; SLOTS];
static GLIBC: [AtomicPtr<libc::FILE>; SLOTS] = [const { AtomicPtr::new(null_mut()) }; SLOTS];
/// How many slots hold a stream: fclose looks no further when there are none.
static HELD: AtomicUsize = AtomicUsize::new(0);

/// The stream to hand out for `glibc`, which popen made with `mode`: a cookie stream on its
/// pipe on the hub thread, else `glibc` itself; remembered either way.
///
/// # Safety
/// `glibc` is a stream popen just returned (or null); `mode` is popen's mode string.
pub(super) unsafe fn hand_out(glibc: *mut libc::FILE, mode: *const c_char) -> *mut libc::FILE {
    if glibc.is_null() {
        return glibc;
    }
    let mut handed = glibc;
    if on_hub() {
        // SAFETY: a stream popen just made; fileno only reads it.
        let fd = unsafe { libc::fileno(glibc) };
        // SAFETY: hub thread; popen accepted `mode`, a NUL-terminated string.
        let ours = unsafe { stream_over(fd, mode, close_leaving_pipe) };
        if !ours.is_null() {
            handed = ours;
        }
    }
    for (slot, behind) in HANDED.iter().zip(&GLIBC) {
        if slot.compare_exchange(null_mut(), handed, Relaxed, Relaxed).is_ok() {
            behind.store(glibc, Relaxed);
            HELD.fetch_add(1, Relaxed);
            return handed;
        }
    }
    // No room to remember it: the program gets glibc's stream, closed as glibc closes it.
    if handed != glibc {
        // SAFETY: our own cookie stream, never handed out.
        unsafe { real::fclose(handed) };
    }
    glibc
}

/// Whether `stream` is one popen handed out: Some(glibc's stream behind it), which from now
/// on, since it is being closed, is forgotten.
pub(super) fn forget(stream: *mut libc::FILE) -> Option<*mut libc::FILE> {
    if HELD.load(Relaxed) == 0 || stream.is_null() {
        return None;
    }
    for (slot, behind) in HANDED.iter().zip(&GLIBC) {
        if slot.load(Relaxed) == stream {
            let glibc = behind.load(Relaxed);
            slot.store(null_mut(), Relaxed);
            HELD.fetch_sub(1, Relaxed);
            return Some(glibc);
        }
    }
    None
}

/// The cookie stream's close function: glibc's popen stream closes the pipe (and waits), so
/// this one lets go of the cookie and makes the fd table forget the number, which the
/// stream's last flush may have taught it again.
///
/// # Safety
/// Called once by glibc with the cookie, when it closes the stream.
unsafe extern "C" fn close_leaving_pipe(cookie: *mut c_void) -> c_int {
    // SAFETY: glibc's last call with the cookie stream_over made.
    let fd = unsafe { let_go(cookie) };
    // SAFETY: the pipe is about to be closed by glibc's stream, on this thread's behalf.
    unsafe { green_io::closing(fd, on_hub()) };
    0
}

/// # Safety
/// As for fclose(3): `stream` is an open FILE (or null, which glibc rejects itself).
#[no_mangle]
pub unsafe extern "C" fn fclose(stream: *mut libc::FILE) -> c_int {
    // SAFETY: an open FILE (the caller's promise); fileno only reads it.
    let fd = if stream.is_null() { -1 } else { unsafe { libc::fileno(stream) } };
    if fd >= 0 {
        // fclose closes its fd inside libc, where no hook sees it.
        // SAFETY: the caller is closing the stream, hence number `fd` (as for close).
        unsafe { green_io::closing(fd, on_hub()) };
    }
    if let Some(glibc) = forget(stream) {
        // Our cookie stream on the pipe is flushed and let go, the pipe left to glibc's.
        // SAFETY: the program is closing it, and nothing else uses it.
        let flushed = if glibc == stream { 0 } else { unsafe { real::fclose(stream) } };
        let flush_errno = errno::get();
        let status = if on_hub() {
            // SAFETY: on the hub thread (checked); the worker closes glibc's popen stream,
            // which nothing else uses any more, before this returns.
            unsafe { super::offload::offloaded(c"pclose", fd, || real::fclose(glibc)) }
        } else {
            // SAFETY: as above, on this thread.
            unsafe { real::fclose(glibc) }
        };
        // As glibc's fclose: the command's status, else the failure of the last flush.
        if status == 0 && flushed != 0 {
            return errno::fail(flush_errno);
        }
        return status;
    }
    // SAFETY: the program's call as it made it.
    unsafe { real::fclose(stream) }
}

/// glibc's pclose is its fclose (of a stream popen made, which waits for the command).
///
/// # Safety
/// As for pclose(3): `stream` is a stream popen returned, not yet closed.
#[no_mangle]
pub unsafe extern "C" fn pclose(stream: *mut libc::FILE) -> c_int {
    // SAFETY: as the caller's.
    unsafe { fclose(stream) }
}
