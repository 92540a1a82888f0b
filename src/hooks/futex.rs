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
//! So do all syscalls other than futex: they are forwarded to libc's syscall().
//!
//! Differences from the kernel that a correct program does not see: a green wait reads the
//! futex word itself, so a bad address faults instead of failing with EFAULT; and a signal
//! handler does not interrupt a green wait (no EINTR, no restart) yet.
//!
//! Foreign wakers: a foreign OS thread (or a signal handler on the hub thread) that wakes a
//! private futex must not touch the runtime, so it cannot wake a parked green thread. Once
//! one has been seen, green waiters look at the futex word again after a short, growing nap
//! and return 0 (a spurious wake-up, which futex callers must accept) when it changed; a
//! green thread already parked without a deadline when the first such wake comes is not
//! woken by it.

use crate::runtime::green::{self, Green, State, Wake, WaitingOn};
use crate::runtime::{self, on_hub, AddressHasher};
use crate::sys::{clock, errno, raw, real};
use core::cell::UnsafeCell;
use core::ffi::c_long;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::collections::{HashMap, VecDeque};

const FUTEX_WAIT: i32 = 0;
const FUTEX_WAKE: i32 = 1;
const FUTEX_WAIT_BITSET: i32 = 9;
const FUTEX_WAKE_BITSET: i32 = 10;
const FUTEX_PRIVATE_FLAG: i32 = 128;
const FUTEX_CLOCK_REALTIME: i32 = 256;
const FUTEX_CMD_MASK: i32 = !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
const FUTEX_BITSET_MATCH_ANY: u32 = u32::MAX;

/// The first recheck nap of a green waiter that a foreign thread may have to wake; each one
/// after doubles, up to RECHECK_MAX_NS (the same backoff as a green waiter on a mutex that
/// a foreign thread holds).
pub(super) const FIRST_NAP_NS: u64 = 50_000;
const RECHECK_MAX_NS: u64 = 10_000_000;

/// When to wake up next: the caller's deadline, or sooner when `foreign` wakers may exist.
pub(super) fn recheck_deadline(deadline: Option<u64>, foreign: bool, nap: &mut u64) -> Option<u64> {
    if !foreign {
        return deadline;
    }
    let at = clock::monotonic_ns().saturating_add(*nap);
    *nap = (*nap * 2).min(RECHECK_MAX_NS);
    Some(deadline.map_or(at, |d| d.min(at)))
}

/// Set once a private futex was woken from outside the green world (see the header).
static FOREIGN_WAKES: AtomicBool = AtomicBool::new(false);

struct Waiter {
    green: *mut Green,
    bitset: u32,
}

/// Green futex waiters by address, oldest first. A list exists only while someone waits.
struct Waiters(UnsafeCell<Option<HashMap<usize, VecDeque<Waiter>, AddressHasher>>>);

// SAFETY: only the hub thread touches it (every user checks on_hub first).
unsafe impl Sync for Waiters {}

static WAITERS: Waiters = Waiters(UnsafeCell::new(None));

/// # Safety
/// Hub thread only; no other reference from an earlier call may be live.
#[allow(clippy::mut_from_ref)]
unsafe fn waiters() -> &'static mut HashMap<usize, VecDeque<Waiter>, AddressHasher> {
    (*WAITERS.0.get()).get_or_insert_with(|| HashMap::with_hasher(AddressHasher))
}

/// Takes `g` out of `address`'s list if it is still there (it left for another reason
/// than a futex wake: its deadline, a recheck nap).
unsafe fn forget(address: usize, g: *mut Green) {
    let map = waiters();
    let Some(list) = map.get_mut(&address) else { return };
    if let Some(index) = list.iter().position(|w| w.green == g) {
        list.remove(index);
    }
    if list.is_empty() {
        map.remove(&address);
    }
}

/// The futex word at `address`, read as the kernel does; Err(EINVAL) when misaligned.
unsafe fn futex_word(address: usize) -> Result<&'static AtomicU32, i32> {
    if address % 4 != 0 {
        return Err(libc::EINVAL);
    }
    Ok(AtomicU32::from_ptr(address as *mut u32))
}

/// A timeout the kernel would accept, in ns; Err(EINVAL) otherwise.
unsafe fn timeout_ns(timeout: usize) -> Result<Option<u64>, i32> {
    if timeout == 0 {
        return Ok(None);
    }
    clock::timespec_ns(&*(timeout as *const libc::timespec)).map(Some).ok_or(libc::EINVAL)
}

/// FUTEX_WAIT(_BITSET) for the current green thread: Ok(()) when woken, or an error number.
unsafe fn wait(address: usize, expected: u32, deadline: Option<u64>, bitset: u32) -> Result<(), i32> {
    if bitset == 0 {
        return Err(libc::EINVAL);
    }
    let word = futex_word(address)?;
    if word.load(Ordering::SeqCst) != expected {
        return Err(libc::EAGAIN);
    }
    let me = green::current();
    let mut nap = FIRST_NAP_NS;
    loop {
        if deadline.is_some_and(|d| clock::monotonic_ns() >= d) {
            return Err(libc::ETIMEDOUT);
        }
        let wake_at = recheck_deadline(deadline, FOREIGN_WAKES.load(Ordering::Relaxed), &mut nap);
        waiters().entry(address).or_default().push_back(Waiter { green: me, bitset });
        let why = green::park(wake_at, WaitingOn::Futex { address });
        if why == Wake::Handoff {
            return Ok(());
        }
        forget(address, me);
        if let Wake::Interrupted { .. } = why {
            return Err(libc::EINTR);
        }
        if word.load(Ordering::SeqCst) != expected {
            // Changed under us, with no green wake: a foreign waker's doing.
            return Ok(());
        }
    }
}

/// FUTEX_WAKE(_BITSET): wakes up to `count` waiters, green ones first; returns how many.
unsafe fn wake(address: usize, op: i32, count: i32, bitset: u32) -> Result<c_long, i32> {
    if bitset == 0 {
        return Err(libc::EINVAL);
    }
    futex_word(address)?;
    // The kernel wakes one waiter when asked for none (or a negative number).
    let wanted = count.max(1) as usize;
    let mut woken = 0usize;
    let map = waiters();
    if let Some(list) = map.get_mut(&address) {
        let mut index = 0;
        while index < list.len() && woken < wanted {
            if list[index].bitset & bitset == 0 {
                index += 1;
                continue;
            }
            let Some(waiter) = list.remove(index) else { break };
            // A waiter already made runnable by its deadline is on its way out: skip it.
            if (*waiter.green).state == State::Parked {
                green::wake(waiter.green, Wake::Handoff);
                woken += 1;
            }
        }
        if list.is_empty() {
            map.remove(&address);
        }
    }
    if woken < wanted {
        let rest = wanted - woken;
        let args = [address, op as u32 as usize, rest, 0, 0, bitset as usize];
        let r = raw::syscall6(libc::SYS_futex, args);
        if r >= 0 {
            woken += r as usize;
        } else if woken == 0 {
            return Err((-r) as i32);
        }
    }
    Ok(woken as c_long)
}

/// The green futex operation, or None to hand the call to the kernel.
unsafe fn green_futex(address: usize, op: i32, value: u32, timeout: usize, bitset: u32) -> Option<c_long> {
    if op & FUTEX_PRIVATE_FLAG == 0 {
        return None;
    }
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    let result = match op & FUTEX_CMD_MASK {
        FUTEX_WAIT => timeout_ns(timeout).and_then(|relative| {
            let deadline = relative.map(|ns| clock::monotonic_ns().saturating_add(ns));
            wait(address, value, deadline, FUTEX_BITSET_MATCH_ANY).map(|()| 0)
        }),
        FUTEX_WAIT_BITSET => timeout_ns(timeout).and_then(|absolute| {
            let clock_id = if realtime { libc::CLOCK_REALTIME } else { libc::CLOCK_MONOTONIC };
            let deadline = absolute.map(|ns| clock::deadline_from_abs(clock_id, ns).unwrap_or(0));
            wait(address, value, deadline, bitset).map(|()| 0)
        }),
        // FUTEX_CLOCK_REALTIME on a wake is ENOSYS: the kernel says so.
        FUTEX_WAKE if !realtime => wake(address, op, value as i32, FUTEX_BITSET_MATCH_ANY),
        FUTEX_WAKE_BITSET if !realtime => wake(address, op, value as i32, bitset),
        _ => return None,
    };
    Some(match result {
        Ok(n) => n,
        Err(e) => errno::fail(e),
    })
}

/// A private futex wake from a thread that must not touch the runtime while it is running.
fn note_foreign_wake(op: i32) {
    let cmd = op & FUTEX_CMD_MASK;
    if op & FUTEX_PRIVATE_FLAG != 0
        && (cmd == FUTEX_WAKE || cmd == FUTEX_WAKE_BITSET)
        && !FOREIGN_WAKES.load(Ordering::Relaxed)
        && runtime::started()
    {
        FOREIGN_WAKES.store(true, Ordering::Relaxed);
    }
}

/// libc's syscall() is variadic; callers pass the number and up to six arguments in the
/// registers (and, on x86-64, the stack slot) a fixed seven-argument function reads, so we
/// take seven and forward all of them: unused ones are ignored by the kernel.
/// `int` arguments (the futex op, value and bitset) only have their low 32 bits defined.
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
    if number == libc::SYS_futex {
        let op = a2 as u32 as i32;
        if on_hub() {
            if let Some(result) = green_futex(a1, op, a3 as u32, a4, a6 as u32) {
                return result;
            }
        } else {
            note_foreign_wake(op);
        }
    }
    real::syscall(number, a1, a2, a3, a4, a5, a6)
}
