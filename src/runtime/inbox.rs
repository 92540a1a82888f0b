//! The foreign inbox: how a thread that must not touch the runtime (an OS thread the runtime
//! did not create, such as glibc's SIGEV_THREAD helper or a library's own thread, and a
//! signal handler running on the hub thread) tells the hub that green threads waiting on an
//! object should look at it again (ARCHITECTURE.md, Foreign threads).
//!
//! The sender has already done the operation on glibc's own words (posted the semaphore,
//! signalled the condition through glibc, changed and woken the futex word); what it posts
//! is only the object's address. A set, not a queue: an address already pending is not
//! added again, so a foreign thread that posts in a loop while the hub is busy fills one
//! slot. The hub (hub.rs) takes every pending address and wakes the green threads waiting
//! there with `Wake::Ready`; each looks again, as after a spurious wake-up, which every one
//! of those waits accepts (a condition wait returns 0, a semaphore wait takes a unit or
//! parks again, a futex wait returns 0 if the word changed).
//!
//! Nothing is lost: the sender does its operation, then fills a slot, then raises `PENDING`,
//! then writes the hub's eventfd (all sequentially consistent). The hub lowers `PENDING`
//! before it empties the slots, so an address added after the hub passed its slot raises
//! `PENDING` again, and the eventfd write makes an epoll wait the hub is in, or about to
//! enter, return. A sender that finds its address already pending saw it before the hub
//! took it, so the hub's waking comes after the sender's operation. When every slot is
//! taken, `OVERFLOW` makes the hub wake every green thread waiting on any such object.
//!
//! Async-signal-safe and allocation-free: fixed slots, compare-and-swap, one write(2).
//! A data structure below the state: it knows addresses, not threads.

use super::poller::poke_hub;
use super::hasher::AddressHasher;
use core::hash::{BuildHasher, Hasher};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

const SLOTS: usize = 256;
/// How many slots a sender tries, from the address's own, before it calls it an overflow.
const PROBES: usize = 16;

#[allow(clippy::declare_interior_mutable_const)] // only used to initialise the array below
const EMPTY: AtomicUsize = AtomicUsize::new(0);
static ADDRESSES: [AtomicUsize; SLOTS] = [EMPTY; SLOTS];
static PENDING: AtomicBool = AtomicBool::new(false);
static OVERFLOW: AtomicBool = AtomicBool::new(false);

fn home(address: usize) -> usize {
    let mut h = AddressHasher.build_hasher();
    h.write_usize(address);
    h.finish() as usize % SLOTS
}

/// Asks the hub to wake the green threads waiting on `address`. Any thread, signal
/// handlers included; call it after the operation on the object is done.
pub fn post(address: usize) {
    if address == 0 {
        return;
    }
    let start = home(address);
    let mut added = false;
    for i in 0..PROBES {
        let slot = &ADDRESSES[(start + i) % SLOTS];
        match slot.compare_exchange(0, address, SeqCst, SeqCst) {
            Ok(_) => {
                added = true;
                break;
            }
            Err(present) if present == address => return,
            Err(_) => {}
        }
    }
    if !added {
        OVERFLOW.store(true, SeqCst);
    }
    PENDING.store(true, SeqCst);
    poke_hub();
}

/// Whether anything was posted since the last `take`: one load, for the hub's step.
#[inline(always)]
pub fn pending() -> bool {
    PENDING.load(SeqCst)
}

/// Hands every pending address to `wake`, and returns whether an overflow asks for every
/// waiter to look again. Hub thread only (one taker).
pub fn take(mut wake: impl FnMut(usize)) -> bool {
    if !PENDING.swap(false, SeqCst) {
        return false;
    }
    let overflow = OVERFLOW.swap(false, SeqCst);
    for slot in &ADDRESSES {
        if slot.load(SeqCst) != 0 {
            let address = slot.swap(0, SeqCst);
            if address != 0 {
                wake(address);
            }
        }
    }
    overflow
}

/// Empties the inbox (tests).
#[cfg(test)]
fn clear() {
    PENDING.store(false, SeqCst);
    OVERFLOW.store(false, SeqCst);
    for slot in &ADDRESSES {
        slot.store(0, SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::inbox::{clear, pending, post, take, SLOTS};

    #[test]
    fn posts_are_a_set_and_taking_empties_it() {
        // One test touches the statics, so nothing else races with it.
        clear();
        post(0x1000);
        post(0x1000);
        post(0x2008);
        assert!(pending());
        let mut seen = Vec::new();
        assert!(!take(|a| seen.push(a)));
        seen.sort_unstable();
        assert_eq!(seen, [0x1000, 0x2008]);
        assert!(!pending());
        assert!(!take(|_| panic!("nothing is pending")));
        for i in 0..(SLOTS + 1) {
            post(0x10_0000 + i * 8);
        }
        let mut n = 0;
        assert!(take(|_| n += 1), "more addresses than slots overflow");
        assert!(n <= SLOTS);
    }
}
