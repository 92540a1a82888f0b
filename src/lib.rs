//! libgreen: load it with LD_PRELOAD and the pthreads of an unmodified blocking program
//! become green threads on one OS thread, and its blocking calls wait on an epoll hub.
//!
//! Layers, one way only: `hooks` (the exported libc surface) -> `runtime` (green threads,
//! scheduler, hub, timers, fd table) -> `sys` (raw syscalls, the real libc symbols, logging),
//! with `settings` (pure parsers) a leaf every layer may use (ARCHITECTURE.md, Layers).

// Unit tests build without `hooks` (they would shadow libc in the test binary itself), so
// the runtime surface only hooks use looks dead there; the library build checks it fully.
#![cfg_attr(test, allow(dead_code, unused_imports))]

mod settings;
mod sys;
mod runtime;
#[cfg(not(test))]
mod hooks;

/// Starts the runtime when the library is loaded, on the thread that loads it (the main
/// thread, for LD_PRELOAD): that thread becomes the hub.
#[cfg(not(test))]
#[used]
#[link_section = ".init_array"]
static START: extern "C" fn() = {
    extern "C" fn start() {
        runtime::start();
        runtime::sud::set_router(hooks::raw_syscall_routed, hooks::raw_syscall_route);
        hooks::install_stdio_reads();
    }
    start
};

#[cfg(not(test))]
#[used]
#[link_section = ".fini_array"]
static FINISH: extern "C" fn() = {
    extern "C" fn finish() {
        runtime::print_stats_if_asked();
    }
    finish
};
