//! Thread names and pthread_kill for green threads.
//!
//! On the hub thread a pthread_t is a green thread's handle (see thread.rs). glibc would
//! read it as its own thread descriptor, so every call here that names a thread answers for
//! green threads itself; off the hub thread everything goes to glibc. An id that is no live
//! or unjoined green thread (one already joined, or a detached thread that ended) gets
//! ESRCH: natively using such an id is undefined, and glibc would read freed memory.
//!
//! **Names**: a green thread's name lives in its record (16 bytes with the NUL, as the
//! kernel's), set and read with glibc's errors: ERANGE for a name of 16 bytes or more or a
//! buffer under 16 bytes, ENOENT for a thread that has ended (glibc finds no /proc entry).
//! A green thread that was never named reports the OS thread's name, which is what a new
//! native thread inherits (the program's name, unless the main thread renamed itself since).
//! The main thread's name is the OS thread's: set and read through glibc, it shows in `ps`.
//! The record's all-zero name means "never named"; an empty name is stored as NUL, 1.
//!
//! **pthread_kill**: signal 0 answers whether the thread exists: 0 while it runs or has
//! ended but is not joined yet (glibc 2.34 and later say 0 for an ended thread too; the
//! pre-2.34 symbol version said ESRCH), ESRCH once it is reclaimed. A real signal is the
//! target's: sigsend.rs delivers it (its handler runs in the target, whose interruptible
//! wait returns EINTR or restarts, as natively; a signal it blocks stays pending for it).
//! glibc's internal signals (SIGCANCEL, SIGSETXID) are EINVAL; an ended, unjoined thread
//! is sent nothing (0), as in glibc.
//!
//! pthread_cancel is hooks/cancel.rs's.

use super::hub::Hub;
use crate::runtime::green::{Green, State};
use crate::sys::real;
use core::ffi::{c_char, c_int, CStr};

/// The kernel's TASK_COMM_LEN: names are at most 15 bytes and a NUL.
const NAME_LEN: usize = 16;
/// glibc's internal signals, which pthread_kill refuses.
const SIGCANCEL: c_int = 32;
const SIGSETXID: c_int = 33;

enum Target {
    /// Off the hub thread: glibc's business.
    Passthrough,
    /// Not a live or unjoined green thread.
    Gone,
    /// A green thread, live until it is joined or reclaimed, with the proof we are on the
    /// hub thread.
    Green(Hub, *mut Green),
}

fn target(thread: libc::pthread_t) -> Target {
    let Some(hub) = Hub::here() else { return Target::Passthrough };
    match hub.lookup(thread) {
        Some(g) => Target::Green(hub, g),
        None => Target::Gone,
    }
}

/// A green thread other than the root, which names and reads names through the OS thread.
fn named_target(thread: libc::pthread_t) -> Target {
    match target(thread) {
        Target::Green(hub, g) if g == hub.root() => Target::Passthrough,
        other => other,
    }
}

/// Whether `g` has ended (it is not reclaimed until joined).
///
/// # Safety
/// `g` came from Hub::lookup during this call, so it is live.
unsafe fn ended(g: *mut Green) -> bool {
    // SAFETY: live (caller); one plain field read.
    unsafe { (*g).state == State::Done }
}

/// # Safety
/// As for glibc's pthread_setname_np: `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pthread_setname_np(thread: libc::pthread_t, name: *const c_char) -> c_int {
    let g = match named_target(thread) {
        Target::Green(_, g) => g,
        // SAFETY: the program's arguments, passed on as it gave them.
        Target::Passthrough => return unsafe { real::pthread_setname_np(thread, name) },
        Target::Gone => core::ptr::null_mut(),
    };
    // SAFETY: a NUL-terminated string (caller).
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    if name.len() >= NAME_LEN {
        return libc::ERANGE;
    }
    if g.is_null() {
        return libc::ESRCH;
    }
    // SAFETY: `g` came from lookup in this call.
    if unsafe { ended(g) } {
        return libc::ENOENT;
    }
    let mut stored = [0u8; NAME_LEN];
    stored[..name.len()].copy_from_slice(name);
    if name.is_empty() {
        stored[1] = 1;
    }
    // SAFETY: live (from lookup); only the hub thread touches green records.
    unsafe { (*g).name = stored };
    0
}

/// # Safety
/// As for glibc's pthread_getname_np: `buf` has room for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn pthread_getname_np(thread: libc::pthread_t, buf: *mut c_char, len: usize) -> c_int {
    let g = match named_target(thread) {
        Target::Green(_, g) => g,
        Target::Gone => return if len < NAME_LEN { libc::ERANGE } else { libc::ESRCH },
        // SAFETY: the program's arguments, passed on as it gave them.
        Target::Passthrough => return unsafe { real::pthread_getname_np(thread, buf, len) },
    };
    if len < NAME_LEN {
        return libc::ERANGE;
    }
    // SAFETY: `g` came from lookup in this call.
    if unsafe { ended(g) } {
        return libc::ENOENT;
    }
    // SAFETY: live (from lookup); a copy of a plain field.
    let name = unsafe { (*g).name };
    if name == [0u8; NAME_LEN] {
        // Never named: what a native thread inherits, the OS thread's name.
        // SAFETY: the program's buffer, of `len` bytes (caller).
        return unsafe { real::pthread_getname_np(real::pthread_self(), buf, len) };
    }
    let end = name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN - 1);
    // SAFETY: `buf` has room for `len` >= NAME_LEN > `end` bytes (caller, checked above).
    let out = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), end + 1) };
    out[..end].copy_from_slice(&name[..end]);
    out[end] = 0;
    0
}

/// # Safety
/// None beyond glibc's: both arguments are numbers.
#[no_mangle]
pub unsafe extern "C" fn pthread_kill(thread: libc::pthread_t, signal: c_int) -> c_int {
    let (hub, g) = match target(thread) {
        Target::Green(hub, g) => (hub, g),
        Target::Gone => return libc::ESRCH,
        // SAFETY: the program's arguments, passed on as it gave them.
        Target::Passthrough => return unsafe { real::pthread_kill(thread, signal) },
    };
    if signal == SIGCANCEL || signal == SIGSETXID {
        return libc::EINVAL;
    }
    // SAFETY: `g` came from lookup in this call.
    if unsafe { ended(g) } || signal == 0 {
        return 0;
    }
    super::sigsend::send(hub, g, signal, None)
}
