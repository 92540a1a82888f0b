//! flockfile, ftrylockfile and funlockfile between green threads.
//!
//! glibc's stream lock (`_IO_lock_t`: a lock word, a count and an owner, which is
//! `THREAD_SELF`) belongs to the OS thread, which every green thread shares, so by itself it
//! lets every green thread in (ARCHITECTURE.md, glibc's thread descriptor). On the hub thread
//! these calls therefore also take a green lock per stream, keyed by the FILE's address: a
//! green thread that asks for a stream another green thread holds parks until the holder's
//! last funlockfile hands it over (FIFO), and ftrylockfile fails with EBUSY there. glibc's
//! own lock is still taken and released (through its `_IO_` names, which we do not hook)
//! so that foreign OS threads keep being held off, as natively.
//!
//! What this does not cover: the locking glibc's stdio functions do internally (`printf`,
//! `fputs`, `fgets` take `_IO_lock_lock` inline, where no hook sees it). It is recursive by
//! owner, and every green thread is the same owner, so while one green thread holds
//! `flockfile(stdout)` across a call that parks, another green thread's `printf(...)` still
//! goes in, as before. Only threads that take the lock with flockfile wait for each other.

use super::hub::{Hub, HubMap};
use crate::runtime::green::{Wake, WaitingOn};
use core::ffi::c_int;

extern "C" {
    // glibc's own names for the same functions, which this library does not export.
    fn _IO_flockfile(fp: *mut libc::FILE);
    fn _IO_ftrylockfile(fp: *mut libc::FILE) -> c_int;
    fn _IO_funlockfile(fp: *mut libc::FILE);
}

/// Streams a green thread holds: the holder's owner tag and how many times it holds it.
static HELD: HubMap<(i32, u32)> = HubMap::new();

/// Takes the green lock of `key` for the running thread if it is free or already its own;
/// false when another green thread holds it. A call made from inside the table's own
/// allocation (glibc's malloc tracing locks its log stream) takes only glibc's lock: it is
/// the running thread's, nested in one of our calls, and holds nothing across a switch.
fn try_take(hub: Hub, key: usize) -> bool {
    let me = hub.my_owner_tag();
    HELD.try_with(hub, |map| match map.get_mut(&key) {
        None => {
            map.insert(key, (me, 1));
            true
        }
        Some((owner, count)) if *owner == me => {
            *count += 1;
            true
        }
        Some(_) => false,
    })
    .unwrap_or(true)
}

/// # Safety
/// As for glibc's flockfile: `fp` is an open stream.
#[no_mangle]
pub unsafe extern "C" fn flockfile(fp: *mut libc::FILE) {
    if let Some(hub) = Hub::here() {
        let key = fp as usize;
        if !try_take(hub, key) {
            // The holder's last funlockfile makes us the holder before it wakes us.
            while hub.wait(key, None, WaitingOn::Lock { address: key }) != Wake::Handoff {}
        }
    }
    // SAFETY: the program's argument, passed on as it gave it.
    unsafe { _IO_flockfile(fp) }
}

/// # Safety
/// As for glibc's ftrylockfile: `fp` is an open stream.
#[no_mangle]
pub unsafe extern "C" fn ftrylockfile(fp: *mut libc::FILE) -> c_int {
    let Some(hub) = Hub::here() else {
        // SAFETY: the program's argument, passed on as it gave it.
        return unsafe { _IO_ftrylockfile(fp) };
    };
    let key = fp as usize;
    if !try_take(hub, key) {
        super::hub::fair_turn();
        return libc::EBUSY;
    }
    // SAFETY: as above.
    let result = unsafe { _IO_ftrylockfile(fp) };
    if result != 0 {
        // A foreign OS thread holds glibc's lock: give ours back.
        release(hub, key);
    }
    result
}

/// One hold of `key` less for the running thread; at the last, the longest waiter becomes
/// the holder.
fn release(hub: Hub, key: usize) {
    let me = hub.my_owner_tag();
    // Nested in the table's own allocation: the matching take left the table alone too.
    let last = HELD.try_with(hub, |map| match map.get_mut(&key) {
        Some((owner, count)) if *owner == me => {
            *count -= 1;
            *count == 0
        }
        _ => false,
    });
    let Some(last) = last else { return };
    if !last {
        return;
    }
    match hub.hand_over(key) {
        Some(next) => HELD.with(hub, |map| map.insert(key, (next, 1))),
        None => HELD.with(hub, |map| map.remove(&key)),
    };
}

/// # Safety
/// As for glibc's funlockfile: `fp` is an open stream.
#[no_mangle]
pub unsafe extern "C" fn funlockfile(fp: *mut libc::FILE) {
    // SAFETY: the program's argument, passed on as it gave it.
    unsafe { _IO_funlockfile(fp) };
    if let Some(hub) = Hub::here() {
        release(hub, fp as usize);
    }
}
