//! The bottom layer: raw syscalls, the real libc symbols behind our hooks, errno and clocks.
//!
//! Nothing here knows about green threads, and nothing here imports anything above it: the
//! only other module it uses is `crate::settings` (pure parsers, a leaf). The runtime makes its own syscalls through
//! `rustix` or [`raw`], never through a libc symbol we export, so it cannot re-enter a hook;
//! [`own_calls`] keeps those calls out of the raw-call trap (runtime/sud.rs), and
//! [`thread_id`] tells which OS thread runs, in one instruction.

pub mod clock;
pub mod errno;
#[macro_use]
pub mod log;
pub mod nowait_ring;
pub mod own_calls;
pub mod raw;
pub mod real;
pub mod spin;
pub mod thread_id;
pub mod valgrind;
