//! The runtime: green threads, the scheduler, the hub (epoll + timers), the fd table and wait
//! queues. It knows nothing about which libc names exist; `hooks` translates libc calls into
//! the operations here.
//!
//! Internal layers, bottom-up; a file uses only files of its own layer or below, and the
//! file-level import graph has no cycle (ARCHITECTURE.md, Layers):
//!
//! 1. Leaves: `hasher` (the maps' hasher), `signals` (what handlers leave for the hub and
//!    read: sets, the running mask, kept signals), `signals_kept` (the signals kept for the
//!    hub, realtime ones queued), `signal_handlers` (the program's handlers), `program_action` (the program's
//!    action for a signal one of our handlers holds),
//!    `stack` (stacks and their pool), `tls_area` (a copy of the OS thread's TLS area),
//!    `preload` (LD_PRELOAD editing), `robust` (the hooks' call at a green thread's end),
//!    `slice` (time slices: what the scheduler, the preemption tick and the fair path
//!    share), `codemap` (code preemption never stops), `backtrace` (the frame walk in the
//!    tick's handler, and symbols outside it), `introspect_abi` (the layout `green ps`
//!    reads), `stackmem` (stack memory counters), `detect` (runtimes that cannot be
//!    greened, found at start), `wait_leave` (how a parked thread's wait unlinks itself
//!    before a handler or its end runs on its stack), `thread_slots` (errno and the
//!    resolver state: libc's per-thread words each green thread keeps its own value of),
//!    `glibc_cancel_bits` (glibc's cancellation words, lent to one green thread at a time),
//!    `file_reads` (how a regular file's reads may wait).
//! 2. The green thread record: `thread` (Green, its states and wake reasons), with
//!    `tls_blocks` and `cancel_state` below it (the per-thread TLS data and cancellation
//!    state it holds).
//! 3. Data structures over records, which never call the scheduler and return what is due
//!    instead: `runqueue`, `timer` (returns expired threads), `queues` (wait queues, return
//!    the thread to wake), `fdtable` (lists an fd's waiters), `poller` (returns epoll
//!    events, as Go's netpoll returns a list for injectglist), `workers` (the offload pool,
//!    returns finished jobs' callers), `inbox` (addresses foreign threads posted, for the
//!    hub to wake their waiters).
//! 4. State: `state`, the one `Runtime` value that owns the structures above, `rt()` (hub
//!    thread only, asserted in debug builds), `on_hub`, and `Runtime::wake`, the one way
//!    from Parked to Runnable.
//! 5. Below the scheduler: `hub` (wait for events and wake what they name), `sigroute`
//!    (masks per green thread, where and when a handler runs), `condwait` (condition
//!    waiters a handler took out of their queue), `deadlock`, `watchdog` (a thread that
//!    ran too long without a switch: captured by the tick, printed here), `overflow` (the
//!    stack overflow message; `execstack`, green stacks made executable when glibc makes
//!    thread stacks so, below it), `introspect` (the table `green ps` reads), `stats` (what
//!    GREEN_STATS adds), `reclaim` (freeing a record),
//!    `tls` (whose thread-locals are live), `tsd` (pthread key values), `fdclass` (what an
//!    fd is, the plan for a call on it), `accept_nowait` (accept4 that never waits, through
//!    a private io_uring).
//! 6. The scheduler core: `green` (spawn, park, wake, yield, exit, the scheduler loop).
//! 7. Above it: `cancel` (ending a thread early: cleanup handlers, cancellation requests
//!    and points; `root_exit`, the main thread's end by glibc's unwinding, below it;
//!    `cancel_glibc`, a request glibc's own cancellation points act on, above it), `io`
//!    (fd waits; `direct_wait`, a lone thread's wait in ppoll, below it), `waitqueue`
//!    (waits on an address), `join`, `child`,
//!    `offload` (a call on a worker), `fork` (a hub for a forked child), `preempt` (the
//!    tick, its handler, the fair path; `preempt_x86_64`, the trampoline, below it), `sud`
//!    (raw system calls through SIGSYS; `sud_x86_64`, its trampoline and gadget, below it).
//! 8. This file: starting the runtime and the surface hooks use (re-exports). No file of
//!    the runtime imports it.

pub mod accept_nowait;
pub mod cancel;
#[cfg(target_arch = "x86_64")]
mod cancel_glibc;
mod backtrace;
mod cancel_state;
pub mod child;
mod codemap;
pub mod condwait;
mod deadlock;
mod detect;
mod direct_wait;
mod execstack;
mod fdclass;
mod file_reads;
mod glibc_cancel_bits;
pub mod fdtable;
mod fork;
pub mod green;
mod hasher;
mod hub;
pub mod inbox;
mod introspect;
// The layout `green ps` reads: the launcher includes the same file and uses the names the
// library only writes by index.
#[allow(dead_code)]
mod introspect_abi;
pub mod io;
pub mod join;
pub mod offload;
mod poller;
pub mod preempt;
#[cfg(target_arch = "x86_64")]
mod preempt_x86_64;
mod program_action;
mod overflow;
mod preload;
mod queues;
mod reclaim;
pub mod robust;
mod root_exit;
mod runqueue;
pub mod signals;
pub(crate) mod signal_handlers;
pub(crate) mod signals_kept;
pub mod sigroute;
mod slice;
mod stack;
mod stackmem;
mod state;
mod stats;
pub mod sud;
#[cfg(target_arch = "x86_64")]
mod sud_x86_64;
mod thread;
mod thread_slots;
mod timer;
pub mod tls;
#[cfg(target_arch = "x86_64")]
mod tls_area;
mod tls_blocks;
pub mod tsd;
mod wait_leave;
pub mod waitqueue;
mod watchdog;
mod workers;

pub use crate::sys::log;
pub use fork::after_fork_in_child;
pub use overflow::hub_alt_stack;
pub use hasher::AddressHasher;
pub use direct_wait::suspend as sigsuspend_alone;
pub use poller::{move_high, INTERNAL_FD_FLOOR};
#[cfg(target_arch = "x86_64")]
pub use glibc_cancel_bits::demangle as demangle_pointer;
pub use signals::{bit, pending_signals, SigSet};
pub use state::{on_hub, on_hub_thread, rt, started};

use crate::settings::{self, LogLevel};
use green::Green;
use state::{Runtime, Stats};
use std::collections::HashMap;

/// Starts the runtime on the calling thread, once. Reads the GREEN_* settings; a bad value
/// ends the process with a one-line error (exit status 2), because running a program
/// half-configured would be worse than not running it.
pub fn start() {
    if !state::claim_start() {
        return;
    }
    let config = read_settings();
    log::set_level(config.log);
    if !config.children {
        preload::leave_out_children();
    }
    if config.disabled {
        return;
    }
    if let Some(found) = detect::unsupported() {
        log::log!(Warn, "{} detected ({}): running natively; GREEN_DISABLE=1 silences this", found.what, found.why);
        return;
    }
    watchdog::configure(config.watchdog_ms);
    preempt::configure(config.preempt, config.timeslice_us * 1000);
    let poller = match poller::Poller::new() {
        Ok(poller) => poller,
        Err(e) => {
            log::log!(Error, "cannot create the hub ({}); running without green threads", e);
            return;
        }
    };
    let runtime = new_runtime(poller, config.stack_size.unwrap_or_else(native_stack_size), config.stats);
    let stack_size = runtime.stacks.default_size();
    if config.stats {
        stats::enable();
    }
    // SAFETY: `claim_start` chose this caller, once, and nothing has used `rt` yet; then,
    // on the hub thread at start, the root is published and SIGSEGV watched for overflows.
    unsafe {
        state::install(runtime);
        introspect::publish(rt(), stackmem::address());
        overflow::install(stack_size);
    }
    sud::configure(config.raw_syscalls);
    let stack_kib = stack_size / 1024;
    log::log!(Info, "runtime started (stack {} KiB)", stack_kib);
}

/// The runtime of a process whose only green thread is the calling one, the root.
fn new_runtime(poller: poller::Poller, stack_size: usize, print_stats: bool) -> Runtime {
    let mut stacks = stack::StackPool::new();
    stacks.set_default_size(stack_size);
    let mut root = Box::new(Green::new(1));
    // SAFETY: pthread_self has no preconditions; our hook is not involved (real symbol).
    root.handle = unsafe { crate::sys::real::pthread_self() };
    root.state = green::State::Running;
    root.signals.mask = sigroute::initial_mask();
    let mut signal_counts = signals::MaskCounts::new();
    signal_counts.count(root.signals.mask, true);
    signal_counts.applied = root.signals.mask;
    let root_handle = root.handle;
    let root = Box::into_raw(root);
    signals::running::set(root as usize, signal_counts.applied);
    let mut threads = HashMap::with_hasher(AddressHasher);
    threads.insert(root_handle, root);
    Runtime {
        root,
        current: root,
        root_tid: crate::sys::raw::gettid(),
        runq: runqueue::RunQueue::new(),
        timers: timer::TimerHeap::new(),
        stacks,
        threads,
        queues: queues::WaitQueues::new(),
        poller,
        next_id: 2,
        live: 0,
        fd_waiters: 0,
        offloads_in_flight: 0,
        signal_waiters: 0,
        root_parked_after: 0,
        deadlock_reported: false,
        ticks: 0,
        looked_at_tick: 0,
        looked_batch: 0,
        signal_counts,
        tls: tls_blocks::discover(),
        tls_owner: root,
        slots: thread_slots::Slots::discover(),
        stats: Stats { peak_green: 1, ..Stats::default() },
        print_stats,
        accept_ring: None,
    }
}

/// Whether `fd` is one of the runtime's own, the hub's or the accept ring's (programs may
/// not close or replace it).
pub fn is_internal_fd(fd: i32) -> bool {
    fd >= 0 && internal_fds().contains(&fd)
}

/// The numbers [`is_internal_fd`] says yes to (-1 for one not made), in no particular order.
pub fn internal_fds() -> [i32; 3] {
    let [epoll, waker] = poller::internal_fds();
    if started() {
        [epoll, waker, accept_nowait::ring_fd()]
    } else {
        [-1; 3]
    }
}

/// At exit, when GREEN_STATS=1: the diagnostics' lines (stats.rs), then one summary line. The counters are the hub thread's, so
/// only an exit on the hub thread reports them.
pub fn print_stats_if_asked() {
    if !started() || !on_hub_thread() {
        return;
    }
    // SAFETY: on the hub thread, at exit; the counters are only read.
    let rt = unsafe { rt() };
    if rt.print_stats {
        let s = &rt.stats;
        let mut line = log::Line::new();
        let _ = core::fmt::Write::write_fmt(
            &mut line,
            format_args!(
                "stats green_threads={} peak_green={} switches={} hub_waits={} offloaded={} preemptions={}",
                s.green_threads,
                s.peak_green,
                s.switches,
                s.hub_waits,
                s.offloaded,
                slice::preemptions()
            ),
        );
        measure_live_stacks(rt);
        // The extra lines first: the summary stays the last line, which tools parse.
        stats::print(s.peak_green);
        line.emit();
    }
}

/// For GREEN_STATS's deepest stack use, threads still alive at exit count too (a server's
/// connection threads often never end), and so do the pooled stacks that kept their pages
/// (the others were measured as their pages went).
fn measure_live_stacks(rt: &Runtime) {
    rt.stacks.measure_pooled();
    for &g in rt.threads.values() {
        // SAFETY: every record in the table is live until reclaimed; only read.
        let g = unsafe { &*g };
        // A guard page means the stack is ours (the program's own memory has none).
        if g.guard_size != 0 && g.stack_low != 0 && g.state != green::State::Done {
            stackmem::used(stack::deepest_use(g.stack_low, g.stack_size).unwrap_or(0));
        }
    }
}

struct Config {
    disabled: bool,
    log: LogLevel,
    stack_size: Option<usize>,
    stats: bool,
    /// Whether programs this one starts inherit libgreen through LD_PRELOAD.
    children: bool,
    preempt: bool,
    timeslice_us: u64,
    /// The watchdog's limit (0: off).
    watchdog_ms: u64,
    /// Whether raw system calls are trapped (sud.rs).
    raw_syscalls: bool,
}

fn read_settings() -> Config {
    Config {
        disabled: setting("GREEN_DISABLE", settings::parse_bool).unwrap_or(false),
        log: setting("GREEN_LOG", settings::parse_log_level).unwrap_or(LogLevel::Warn),
        stack_size: setting("GREEN_STACK_SIZE", settings::parse_stack_size),
        stats: setting("GREEN_STATS", settings::parse_bool).unwrap_or(false),
        children: setting("GREEN_CHILDREN", settings::parse_bool).unwrap_or(true),
        preempt: setting("GREEN_PREEMPT", settings::parse_bool).unwrap_or(true),
        timeslice_us: setting("GREEN_TIMESLICE_US", settings::parse_timeslice_us)
            .unwrap_or(settings::DEFAULT_TIMESLICE_US),
        watchdog_ms: setting("GREEN_WATCHDOG_MS", settings::parse_watchdog_ms).unwrap_or(0),
        raw_syscalls: setting("GREEN_RAW_SYSCALLS", settings::parse_bool).unwrap_or(false),
    }
}

/// Reads one variable; an invalid value ends the process with a message naming it.
fn setting<T>(name: &str, parse: fn(&str) -> Option<T>) -> Option<T> {
    let mut cname = [0u8; 32];
    cname[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: cname is NUL-terminated; getenv is not one of our hooks.
    let value = unsafe { libc::getenv(cname.as_ptr() as *const libc::c_char) };
    if value.is_null() {
        return None;
    }
    // SAFETY: getenv returns a NUL-terminated string.
    let bytes = unsafe { core::ffi::CStr::from_ptr(value) }.to_bytes();
    let text = core::str::from_utf8(bytes).unwrap_or("\u{fffd}");
    if let Some(parsed) = parse(text) {
        return Some(parsed);
    }
    let accepted = settings::validate(name, text).err().unwrap_or("");
    let mut line = log::Line::new();
    let _ = core::fmt::Write::write_fmt(
        &mut line,
        format_args!("{}", settings::Invalid { name, value: text, accepted }),
    );
    line.emit();
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(2) }
}

/// What glibc gives a new thread by default: RLIMIT_STACK, or 8 MiB when that is unlimited.
fn native_stack_size() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Stack);
    match limit.current {
        Some(bytes) if bytes >= settings::MIN_STACK_SIZE as u64 => {
            (bytes as usize).min(settings::MAX_STACK_SIZE)
        }
        _ => 8 << 20,
    }
}

