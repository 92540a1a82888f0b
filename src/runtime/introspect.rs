//! What `green ps` reads from outside: the exported root (introspect_abi.rs) and the table
//! of every green thread record, kept here on the hub thread (ARCHITECTURE.md,
//! Diagnostics).
//!
//! Nothing here runs unless a thread is created or reclaimed: the reader takes what the
//! runtime stores anyway (state, what a thread waits on, its name, its deadline), through
//! process_vm_readv, which the kernel allows only to the process's owner or root. The one
//! thing a park adds is its time, and that is a copy of a word ([`last_clock`]), not a clock
//! read: the scheduler refreshes the word where a clock read costs nothing next to what it
//! does anyway (ARCHITECTURE.md, Diagnostics, "What the target pays"). The table
//! is an array of record addresses with a free list; slots change one aligned word at a
//! time, and when the array itself moves (it grows) the root's seqlock word is odd while
//! its address and length change, so a reader retries.

use super::introspect_abi::{self as abi, word, Probe, Root};
use super::state::Runtime;
use super::thread::Green;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed, Ordering::Release};

/// The root, found by name in libgreen.so's dynamic symbol table.
#[no_mangle]
pub static green_introspection: Root = Root { words: [const { AtomicU64::new(0) }; word::COUNT] };

// The counters `green ps` reads are the runtime's `Stats`, 64-bit words in the ABI's order.
const _: () = assert!(core::mem::size_of::<super::state::Stats>() == abi::counter::COUNT * 8);

/// CLOCK_MONOTONIC_COARSE ns as the scheduler last looked (see [`refresh_clock`]).
static CLOCK: AtomicU64 = AtomicU64::new(0);

/// Scheduler turns between two looks at the clock while the run queue never empties.
const CLOCK_EVERY_TURNS: u32 = 16;

/// When a thread parks now, as far as `green ps` is told: the scheduler's last look at the
/// clock, at most [`CLOCK_EVERY_TURNS`] switches ago (the park itself reads no clock).
#[inline(always)]
pub fn last_clock() -> u64 {
    CLOCK.load(Relaxed)
}

/// Looks at the coarse clock (a few nanoseconds from the vDSO, no system call). The
/// scheduler calls it around its blocking waits (a system call anyway) and every
/// [`CLOCK_EVERY_TURNS`]th turn; a spawn calls it too (a whole stack set-up).
pub fn refresh_clock() {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
    CLOCK.store(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64, Relaxed);
}

/// One scheduler turn (`turn` counts them): every [`CLOCK_EVERY_TURNS`]th looks at the
/// clock, so that a busy run queue keeps the parks' times close.
#[inline(always)]
pub fn on_turn(turn: u32) {
    if turn.is_multiple_of(CLOCK_EVERY_TURNS) {
        refresh_clock();
    }
}

struct Table {
    slots: Vec<AtomicU64>,
    free: Vec<u32>,
}

struct TableCell(UnsafeCell<Table>);
// SAFETY: touched only on the hub thread (every caller's contract); readers in other
// processes only copy its memory.
unsafe impl Sync for TableCell {}

static TABLE: TableCell = TableCell(UnsafeCell::new(Table { slots: Vec::new(), free: Vec::new() }));

fn set(index: usize, value: u64) {
    green_introspection.words[index].store(value, Release);
}

/// Publishes the root once the runtime sits at its final address: offsets, counters, and
/// the root thread's record, which goes into the table first.
///
/// # Safety
/// Hub thread, once, right after `state::install`.
pub unsafe fn publish(rt: &mut Runtime, stats_extra: u64) {
    use core::mem::offset_of;
    let probe = offset_of!(Green, probe);
    let offsets = [
        (word::RECORD_SIZE, core::mem::size_of::<Green>()),
        (word::OFF_ID, offset_of!(Green, id)),
        (word::OFF_STATE, offset_of!(Green, state)),
        (word::OFF_WAITING, offset_of!(Green, waiting_on)),
        (word::OFF_NAME, offset_of!(Green, name)),
        (word::OFF_STACK_SIZE, offset_of!(Green, stack_size)),
        (word::OFF_DEADLINE, offset_of!(Green, deadline)),
        (word::OFF_TIMER_SLOT, offset_of!(Green, timer_slot)),
        (word::OFF_PARKED_AT, probe + offset_of!(Probe, parked_at)),
    ];
    for (index, value) in offsets {
        set(index, value as u64);
    }
    set(word::VERSION, abi::VERSION);
    set(word::COUNTERS, &rt.stats as *const _ as u64);
    set(word::EXTRA, stats_extra);
    set(word::ROOT_THREAD, rt.root as u64);
    set(word::DEFAULT_STACK, rt.stacks.default_size() as u64);
    refresh_clock();
    // SAFETY: hub thread (caller); the root's record lives as long as the runtime.
    unsafe { add(rt.root) };
    set(word::MAGIC, abi::MAGIC);
}

/// Makes `g` known: in the runtime's thread table by its handle, and in ours.
///
/// # Safety
/// Hub thread only; `g` is live and in neither table yet.
pub unsafe fn insert(rt: &mut Runtime, g: *mut Green) {
    refresh_clock();
    // SAFETY: `g` is live (caller).
    rt.threads.insert(unsafe { (*g).handle }, g);
    // SAFETY: as above.
    unsafe { add(g) };
}

/// Forgets `g` in both tables (it is about to be freed).
///
/// # Safety
/// Hub thread only; `g` is live and was inserted.
pub unsafe fn remove(rt: &mut Runtime, g: *mut Green) {
    // SAFETY: `g` is live (caller); hub thread, so the table is ours to change.
    let (record, table) = unsafe { (&mut *g, &mut *TABLE.0.get()) };
    rt.threads.remove(&record.handle);
    if let Some(slot) = table.slots.get(record.probe.slot as usize) {
        if slot.load(Relaxed) == g as u64 {
            slot.store(0, Release);
            table.free.push(record.probe.slot);
        }
    }
}

/// # Safety
/// Hub thread only; `g` is live.
unsafe fn add(g: *mut Green) {
    // SAFETY: hub thread (caller).
    let table = unsafe { &mut *TABLE.0.get() };
    let slot = match table.free.pop() {
        Some(slot) => slot,
        None => {
            if table.slots.len() == table.slots.capacity() {
                grow(table);
            }
            table.slots.push(AtomicU64::new(0));
            set(word::TABLE_LEN, table.slots.len() as u64);
            (table.slots.len() - 1) as u32
        }
    };
    table.slots[slot as usize].store(g as u64, Release);
    // SAFETY: `g` is live (caller).
    unsafe { (*g).probe.slot = slot };
}

/// Doubles the slot array, under the root's seqlock: a reader that raced with the move
/// sees SEQ odd or changed and reads again.
fn grow(table: &mut Table) {
    let seq = &green_introspection.words[word::SEQ];
    seq.store(seq.load(Relaxed) + 1, Release);
    let more = table.slots.capacity().max(256);
    table.slots.reserve_exact(more);
    set(word::TABLE, table.slots.as_ptr() as u64);
    seq.store(seq.load(Relaxed) + 1, Release);
}

#[cfg(test)]
mod tests {
    use crate::runtime::introspect_abi::{rwlock, state, wait};
    use crate::runtime::thread::{CallName, RwLockHolders, State, WaitingOn};

    fn bytes<T>(value: &T) -> &[u8] {
        // SAFETY: any initialised value may be viewed as its bytes for reading; padding is
        // not read below.
        unsafe { core::slice::from_raw_parts(value as *const T as *const u8, core::mem::size_of::<T>()) }
    }

    #[test]
    fn state_and_wait_layouts_are_what_the_reader_decodes() {
        assert_eq!(bytes(&State::Runnable)[0], state::RUNNABLE);
        assert_eq!(bytes(&State::Running)[0], state::RUNNING);
        assert_eq!(bytes(&State::Parked)[0], state::PARKED);
        assert_eq!(bytes(&State::Done)[0], state::DONE);
        let fd = WaitingOn::Fd { fd: 7, write: true };
        let b = bytes(&fd);
        assert_eq!((b[0], i32::from_ne_bytes(b[8..12].try_into().unwrap()), b[12]), (wait::FD, 7, 1));
        let rw = WaitingOn::RwLock { address: 0x1234, write: true, holders: 0x5678 as *const _ };
        let b = bytes(&rw);
        let word = |at: usize| u64::from_ne_bytes(b[at..at + 8].try_into().unwrap());
        assert_eq!((b[0], word(8), b[16], word(24)), (wait::RWLOCK, 0x1234, 1, 0x5678));
        assert!(b.len() <= wait::BYTES);
        let held = RwLockHolders { writer: -3, readers: 2 };
        let h = bytes(&held);
        let at = |offset: usize| u32::from_ne_bytes(h[offset..offset + 4].try_into().unwrap());
        assert_eq!((at(rwlock::WRITER) as i32, at(rwlock::READERS)), (-3, 2));
        assert_eq!(bytes(&WaitingOn::Lock { address: 9 })[0], wait::LOCK);
        assert_eq!(bytes(&WaitingOn::Child { pid: 5 })[0], wait::CHILD);
        assert_eq!(bytes(&WaitingOn::Signal)[0], wait::SIGNAL);
        let name = CallName::new(c"fsync");
        let offload = WaitingOn::Offload { call: name, fd: 12 };
        let b = bytes(&offload);
        let call = u64::from_ne_bytes(b[8..16].try_into().unwrap());
        let fd = i32::from_ne_bytes(b[16..20].try_into().unwrap());
        assert_eq!((b[0], call, fd), (wait::OFFLOAD, c"fsync".as_ptr() as u64, 12));
        assert_eq!(name.bytes(), b"fsync");
    }
}
