//! syscall(SYS_futex, ...) as green waits: Rust's std (Mutex, Condvar, RwLock, Once, thread
//! parking) and parking_lot wait on futexes through libc's syscall().
//!
//! On the hub thread, for a process-private futex (FUTEX_PRIVATE_FLAG):
//! * FUTEX_WAIT (relative timeout) and FUTEX_WAIT_BITSET (absolute timeout on
//!   CLOCK_MONOTONIC, or CLOCK_REALTIME with FUTEX_CLOCK_REALTIME) park the green thread in
//!   a FIFO list per address, with its bitset: -1/EAGAIN when the word does not hold the
//!   expected value, -1/ETIMEDOUT at the deadline, 0 when woken.
//! * FUTEX_WAKE and FUTEX_WAKE_BITSET wake up to N green waiters of the address whose bitset
//!   shares a bit with the waker's, oldest first, then ask the kernel to wake the rest from
//!   among foreign OS threads sleeping there; they return how many were woken in all.
//!
//! Everything else goes to the kernel unchanged: process-shared futexes (another process
//! may wake them), FUTEX_REQUEUE, FUTEX_CMP_REQUEUE, FUTEX_WAKE_OP, the priority-inheritance
//! operations and FUTEX_WAIT_REQUEUE_PI. Those that wait block the whole OS thread, and so
//! every green thread; those that wake reach only foreign threads sleeping in the kernel,
//! never a green thread parked here (nothing we know of waits that way through syscall()).
//! Other numbers of blocking calls we hook (read, poll, nanosleep, pause, flock, ...) take
//! the libc function's green path (syscall_route.rs); all others are forwarded to libc's
//! syscall().
//!
//! Differences from the kernel that a correct program does not see: a green wait reads the
//! futex word itself, so a bad address faults instead of failing with EFAULT; and a signal
//! handler does not interrupt a green wait (no EINTR, no restart) yet.
//!
//! Foreign wakers: a foreign OS thread (or a signal handler on the hub thread) that wakes a
//! private futex must not touch the runtime. Its wake goes to the kernel (for foreign
//! sleepers), then to the hub's inbox, which wakes the green waiters of that address: each
//! looks at the word and returns 0 (a spurious wake-up, which futex callers accept) when it
//! changed (ARCHITECTURE.md, Foreign threads). A foreign wake that leaves the word as it
//! was is not seen.

use super::deadline::passed;
use super::hub::{post_foreign, Hub, HubMap};
use crate::runtime::green::{self, Green, State, Wake, WaitingOn};
use crate::sys::{clock, errno, raw, real};
use core::ffi::c_long;
use core::sync::atomic::{AtomicU32, Ordering};
use std::collections::VecDeque;

const FUTEX_WAIT: i32 = 0;
const FUTEX_WAKE: i32 = 1;
const FUTEX_WAIT_BITSET: i32 = 9;
const FUTEX_WAKE_BITSET: i32 = 10;
const FUTEX_PRIVATE_FLAG: i32 = 128;
const FUTEX_CLOCK_REALTIME: i32 = 256;
const FUTEX_CMD_MASK: i32 = !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
const FUTEX_BITSET_MATCH_ANY: u32 = u32::MAX;

struct Waiter {
    green: *mut Green,
    bitset: u32,
}

/// Green futex waiters by address, oldest first. A list exists only while someone waits;
/// a waiter is in it only while it is inside `wait`, so every listed thread is live.
static WAITERS: HubMap<VecDeque<Waiter>> = HubMap::new();

/// Takes `g` out of `address`'s list if it is still there (it left for another reason
/// than a futex wake: its deadline, a foreign wake through the inbox).
fn forget(hub: Hub, address: usize, g: *mut Green) {
    WAITERS.with(hub, |map| {
        let Some(list) = map.get_mut(&address) else { return };
        if let Some(index) = list.iter().position(|w| w.green == g) {
            list.remove(index);
        }
        if list.is_empty() {
            map.remove(&address);
        }
    });
}

/// Err(EINVAL) for a futex address the kernel refuses as misaligned.
fn check_aligned(address: usize) -> Result<(), i32> {
    if !address.is_multiple_of(4) {
        return Err(libc::EINVAL);
    }
    Ok(())
}

/// The futex word at `address`, read as the kernel does; Err(EINVAL) when misaligned.
///
/// # Safety
/// If aligned, `address` is a futex word of the program, live for `'a` (syscall's contract).
unsafe fn futex_word<'a>(address: usize) -> Result<&'a AtomicU32, i32> {
    check_aligned(address)?;
    // SAFETY: aligned (checked) and live (caller); the program and the kernel change it only
    // atomically.
    Ok(unsafe { AtomicU32::from_ptr(address as *mut u32) })
}

/// A timeout the kernel would accept, in ns; Err(EINVAL) otherwise.
///
/// # Safety
/// `timeout` is 0 or the address of a readable timespec (syscall's contract for the waits).
unsafe fn timeout_ns(timeout: usize) -> Result<Option<u64>, i32> {
    // SAFETY: null or a readable timespec (caller).
    let Some(ts) = (unsafe { (timeout as *const libc::timespec).as_ref() }) else { return Ok(None) };
    clock::timespec_ns(ts).map(Some).ok_or(libc::EINVAL)
}

/// FUTEX_WAIT(_BITSET) for the current green thread: Ok(()) when woken, or an error number.
fn wait(hub: Hub, address: usize, word: &AtomicU32, expected: u32, deadline: Option<u64>, bitset: u32) -> Result<(), i32> {
    if bitset == 0 {
        return Err(libc::EINVAL);
    }
    if word.load(Ordering::SeqCst) != expected {
        return Err(libc::EAGAIN);
    }
    let me = hub.current();
    loop {
        if passed(deadline) {
            return Err(libc::ETIMEDOUT);
        }
        WAITERS.with(hub, |map| map.entry(address).or_default().push_back(Waiter { green: me, bitset }));
        // Queued by address too, where the hub finds it for a foreign wake (inbox).
        let why = hub.wait(address, deadline, WaitingOn::Futex { address });
        if why == Wake::Handoff {
            return Ok(());
        }
        forget(hub, address, me);
        if let Wake::Interrupted { .. } = why {
            return Err(libc::EINTR);
        }
        if word.load(Ordering::SeqCst) != expected {
            // Changed under us, with no green wake: a foreign waker's doing.
            return Ok(());
        }
    }
}

/// Wakes up to `wanted` green waiters of `address` whose bitset meets `bitset`, oldest
/// first; returns how many.
fn wake_green(hub: Hub, address: usize, wanted: usize, bitset: u32) -> usize {
    WAITERS.with(hub, |map| {
        let Some(list) = map.get_mut(&address) else { return 0 };
        let mut woken = 0;
        let mut index = 0;
        while index < list.len() && woken < wanted {
            if list[index].bitset & bitset == 0 {
                index += 1;
                continue;
            }
            let Some(waiter) = list.remove(index) else { break };
            // SAFETY: hub thread (`hub`); a listed waiter is live (see WAITERS). One already
            // made runnable by its deadline is on its way out: skip it.
            unsafe {
                if (*waiter.green).state == State::Parked {
                    green::wake(waiter.green, Wake::Handoff);
                    woken += 1;
                }
            }
        }
        if list.is_empty() {
            map.remove(&address);
        }
        woken
    })
}

/// FUTEX_WAKE(_BITSET): wakes up to `count` waiters, green ones first; returns how many.
fn wake(hub: Hub, address: usize, op: i32, count: i32, bitset: u32) -> Result<c_long, i32> {
    if bitset == 0 {
        return Err(libc::EINVAL);
    }
    check_aligned(address)?;
    // The kernel wakes one waiter when asked for none (or a negative number).
    let wanted = count.max(1) as usize;
    let mut woken = wake_green(hub, address, wanted, bitset);
    if woken < wanted {
        let rest = wanted - woken;
        let args = [address, op as u32 as usize, rest, 0, 0, bitset as usize];
        // SAFETY: a wake only uses the address as a key; the kernel reads no memory for it.
        let r = unsafe { raw::syscall6(libc::SYS_futex, args) };
        if r >= 0 {
            woken += r as usize;
        } else if woken == 0 {
            return Err((-r) as i32);
        }
    }
    Ok(woken as c_long)
}

/// The green futex operation, or None to hand the call to the kernel.
///
/// # Safety
/// syscall(SYS_futex)'s contract: for the waits, `address` (if aligned) is a live futex
/// word and `timeout` is 0 or the address of a readable timespec.
unsafe fn green_futex(hub: Hub, address: usize, op: i32, value: u32, timeout: usize, bitset: u32) -> Option<c_long> {
    if op & FUTEX_PRIVATE_FLAG == 0 {
        return None;
    }
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    let result = match op & FUTEX_CMD_MASK {
        // SAFETY: a wait: the caller's contract is timeout_ns's and futex_word's.
        FUTEX_WAIT => unsafe { timeout_ns(timeout) }.and_then(|relative| {
            let deadline = relative.map(|ns| clock::monotonic_ns().saturating_add(ns));
            // SAFETY: as above.
            let word = unsafe { futex_word(address) }?;
            wait(hub, address, word, value, deadline, FUTEX_BITSET_MATCH_ANY).map(|()| 0)
        }),
        // SAFETY: a wait: the caller's contract is timeout_ns's and futex_word's.
        FUTEX_WAIT_BITSET => unsafe { timeout_ns(timeout) }.and_then(|absolute| {
            let clock_id = if realtime { libc::CLOCK_REALTIME } else { libc::CLOCK_MONOTONIC };
            let deadline = absolute.map(|ns| clock::deadline_from_abs(clock_id, ns).unwrap_or(0));
            // SAFETY: as above.
            let word = unsafe { futex_word(address) }?;
            wait(hub, address, word, value, deadline, bitset).map(|()| 0)
        }),
        // FUTEX_CLOCK_REALTIME on a wake is ENOSYS: the kernel says so.
        FUTEX_WAKE if !realtime => wake(hub, address, op, value as i32, FUTEX_BITSET_MATCH_ANY),
        FUTEX_WAKE_BITSET if !realtime => wake(hub, address, op, value as i32, bitset),
        _ => return None,
    };
    Some(match result {
        Ok(n) => n,
        Err(e) => errno::fail(e),
    })
}

/// Whether `op` is a private wake, which may concern green waiters.
fn private_wake(op: i32) -> bool {
    let cmd = op & FUTEX_CMD_MASK;
    op & FUTEX_PRIVATE_FLAG != 0 && (cmd == FUTEX_WAKE || cmd == FUTEX_WAKE_BITSET)
}

/// libc's syscall() is variadic; callers pass the number and up to six arguments in the
/// registers (and, on x86-64, the stack slot) a fixed seven-argument function reads, so we
/// take seven and forward all of them: unused ones are ignored by the kernel.
/// `int` arguments (the futex op, value and bitset) only have their low 32 bits defined.
///
/// # Safety
/// The arguments are valid for system call `number`, as for libc's syscall().
#[no_mangle]
pub unsafe extern "C" fn syscall(
    number: c_long,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
    a6: usize,
) -> c_long {
    if number != libc::SYS_futex {
        // SAFETY: valid arguments for system call `number` (our caller's contract).
        if let Some(result) = unsafe { super::syscall_route::route(number, [a1, a2, a3, a4, a5, a6]) } {
            return result;
        }
    } else {
        let op = a2 as u32 as i32;
        match Hub::here() {
            Some(hub) => {
                // SAFETY: valid futex arguments (our caller's contract).
                if let Some(result) = unsafe { green_futex(hub, a1, op, a3 as u32, a4, a6 as u32) } {
                    return result;
                }
            }
            None if private_wake(op) => {
                // SAFETY: the program's arguments, passed on as it gave them.
                let result = unsafe { real::syscall(number, a1, a2, a3, a4, a5, a6) };
                post_foreign(a1);
                return result;
            }
            None => {}
        }
    }
    // SAFETY: the program's arguments, passed on as it gave them.
    unsafe { real::syscall(number, a1, a2, a3, a4, a5, a6) }
}
