//! The bottom layer: raw syscalls, the real libc symbols behind our hooks, errno and clocks.
//!
//! Nothing here knows about green threads. The runtime makes its own syscalls through
//! `rustix` or [`raw`], never through a libc symbol we export, so it cannot re-enter a hook.

pub mod clock;
pub mod errno;
pub mod raw;
pub mod real;
