//! The introspection root's layout: what `green ps` (src/bin/green_ps/) reads from outside a
//! running process and what the runtime (introspect.rs) publishes. Plain data and constants
//! only, with no dependency, so the launcher includes this very file (ARCHITECTURE.md,
//! Diagnostics). A change of meaning or layout bumps [`VERSION`].
//!
//! The root is an exported symbol of libgreen.so, [`SYMBOL`]: an array of 64-bit words,
//! indexed by the constants of [`word`]. [`word::MAGIC`] is written last at start, so a
//! reader that sees it sees the rest. The words that name the thread table change when the
//! table moves; the runtime makes [`word::SEQ`] odd while it moves them (a seqlock: a
//! reader retries when SEQ was odd or changed across its reads).
//!
//! The table is an array of [`word::TABLE_LEN`] record addresses (0 for a free slot). A
//! record is the runtime's `Green`, read at the offsets the root gives; its `state` is one
//! byte ([`state`]), its `waiting_on` a `#[repr(C, u8)]` enum: a tag byte ([`wait`]) and the
//! variant's fields from offset 8 in declaration order.

use core::sync::atomic::AtomicU64;

/// The exported symbol that holds the root.
pub const SYMBOL: &str = "green_introspection";
/// "GREENPS" and the layout version in the last byte.
pub const MAGIC: u64 = u64::from_le_bytes(*b"GREENPS\x02");
pub const VERSION: u64 = 2;

/// Indices of the root's words.
pub mod word {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 1;
    /// Seqlock over TABLE and TABLE_LEN: odd while they change.
    pub const SEQ: usize = 2;
    /// Address of the slot array, and how many slots of it are in use (free ones are 0).
    pub const TABLE: usize = 3;
    pub const TABLE_LEN: usize = 4;
    /// Address of the runtime's counters: [`super::counter`] indexes its u64 words.
    pub const COUNTERS: usize = 5;
    /// Size of a record and the offsets of its fields.
    pub const RECORD_SIZE: usize = 6;
    pub const OFF_ID: usize = 7;
    pub const OFF_STATE: usize = 8;
    pub const OFF_WAITING: usize = 9;
    pub const OFF_NAME: usize = 10;
    pub const OFF_STACK_SIZE: usize = 11;
    pub const OFF_DEADLINE: usize = 12;
    pub const OFF_TIMER_SLOT: usize = 13;
    pub const OFF_PARKED_AT: usize = 14;
    /// Address of the root green thread's record (the main thread).
    pub const ROOT_THREAD: usize = 15;
    /// Default stack size of a green thread.
    pub const DEFAULT_STACK: usize = 16;
    /// Address of the diagnostics' own counters ([`super::extra`] indexes its u64 words).
    pub const EXTRA: usize = 17;
    pub const COUNT: usize = 18;
}

/// The runtime's counters (runtime/state.rs `Stats`, `#[repr(C)]`, all 64-bit), in order.
pub mod counter {
    pub const GREEN_THREADS: usize = 0;
    pub const PEAK_GREEN: usize = 1;
    pub const SWITCHES: usize = 2;
    pub const HUB_WAITS: usize = 3;
    pub const OFFLOADED: usize = 4;
    pub const COUNT: usize = 5;
}

/// The diagnostics' counters (runtime/stats.rs), in order.
pub mod extra {
    /// Bytes of green stacks mapped now, and at most.
    pub const STACK_BYTES: usize = 0;
    pub const PEAK_STACK_BYTES: usize = 1;
    pub const COUNT: usize = 2;
}

/// The state byte (runtime/thread.rs `State`, `#[repr(u8)]`).
pub mod state {
    pub const RUNNABLE: u8 = 0;
    pub const RUNNING: u8 = 1;
    pub const PARKED: u8 = 2;
    pub const DONE: u8 = 3;
}

/// The tag byte of `waiting_on` (runtime/thread.rs `WaitingOn`, `#[repr(C, u8)]`).
pub mod wait {
    pub const NOTHING: u8 = 0;
    pub const FD: u8 = 1;
    pub const POLL: u8 = 2;
    pub const SLEEP: u8 = 3;
    pub const JOIN: u8 = 4;
    pub const LOCK: u8 = 5;
    pub const CONDITION: u8 = 6;
    pub const SEMAPHORE: u8 = 7;
    pub const FUTEX: u8 = 8;
    pub const CHILD: u8 = 9;
    pub const OFFLOAD: u8 = 10;
    pub const RWLOCK: u8 = 11;
    pub const BARRIER: u8 = 12;
    pub const ONCE: u8 = 13;
    pub const SIGNAL: u8 = 14;
    pub const KINDS: usize = 15;
    /// Size of `waiting_on`, at most: what a reader copies.
    pub const BYTES: usize = 32;
    // The variants' fields a reader decodes, as byte offsets into `waiting_on`:
    // FD: fd (i32) at 8, write (u8) at 12. CHILD: pid (i32) at 8. The others with an
    // address: it (u64) at 8; RWLOCK then write (u8) at 16 and the address of its holders
    // ([`super::rwlock`]) at 24. OFFLOAD: the address of the call's NUL-terminated name
    // (in libgreen.so's read-only data) at 8, the fd (i32, -1: none) at 16.
    /// Names for each tag, as the diagnostics print them.
    pub const NAMES: [&str; KINDS] = [
        "none", "fd", "poll", "sleep", "join", "mutex", "cond", "sem", "futex", "child", "offload", "rwlock",
        "barrier", "once", "signal",
    ];
}

/// Who holds a rwlock among green threads (runtime/thread.rs `RwLockHolders`): byte
/// offsets of the writer's owner tag (i32, 0: none) and the green read holds (u32).
pub mod rwlock {
    pub const WRITER: usize = 0;
    pub const READERS: usize = 4;
}

/// The root: [`word::COUNT`] words.
#[repr(C)]
pub struct Root {
    pub words: [AtomicU64; word::COUNT],
}

/// What a record keeps for the diagnostics (a field of `Green`): its slot in the table and
/// when it last parked (CLOCK_MONOTONIC_COARSE ns).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Probe {
    pub parked_at: u64,
    pub slot: u32,
}

/// Bytes `ptrace_scope` refusals and other read failures are reported with.
pub const YAMA: &str = "/proc/sys/kernel/yama/ptrace_scope";
