//! The runtime: green threads, the scheduler, the hub (epoll + timers), the fd table and wait
//! queues. It knows nothing about which libc names exist; `hooks` translates libc calls into
//! the operations here.
//!
//! All state lives in one [`Runtime`] value (one hub), owned by the hub's OS thread: the
//! thread that started the runtime (normally the main thread). Plain statics, no TLS: TLS in
//! a cdylib goes through __tls_get_addr, which may allocate, and must never be touched from a
//! signal handler.

pub mod child;
pub mod fdtable;
mod fork;
pub mod green;
pub mod io;
mod join;
pub mod log;
pub mod offload;
pub mod poller;
mod preload;
mod runqueue;
pub mod stack;
pub mod timer;
pub mod tls;
#[cfg(target_arch = "x86_64")]
mod tls_area;
pub mod tsd;
pub mod waitqueue;

use crate::settings::{self, LogLevel};
use crate::sys::raw;
use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use green::{Green, RunQueue};
use std::collections::HashMap;

#[derive(Default)]
pub struct Stats {
    pub green_threads: u64,
    pub peak_green: usize,
    pub switches: u64,
    pub hub_waits: u64,
    pub offloaded: u64,
}

pub struct Runtime {
    pub root: *mut Green,
    pub current: *mut Green,
    /// The root's kernel tid (see green::owner_tag).
    pub root_tid: i32,
    pub runq: RunQueue,
    pub timers: timer::TimerHeap,
    pub stacks: stack::StackPool,
    /// Every green thread not yet reclaimed, by its pthread_t.
    pub threads: HashMap<libc::pthread_t, *mut Green, AddressHasher>,
    pub queues: waitqueue::WaitQueues,
    pub poller: poller::Poller,
    pub next_id: u64,
    /// Green threads alive besides the root.
    pub live: usize,
    /// Threads parked on fds: while any is, the hub can be woken from outside.
    pub fd_waiters: usize,
    /// Calls running on offload workers: their callers will be woken from outside.
    pub offloads_in_flight: usize,
    /// Threads in sigsuspend or pause: a signal from outside will wake them.
    pub signal_waiters: usize,
    /// pending_signals::handled() when the root last parked in an interruptible wait: only
    /// a handler that ran after that interrupts it.
    pub root_parked_after: u32,
    pub deadlock_reported: bool,
    pub ticks: u32,
    /// The static TLS blocks swapped per green thread, and whose contents are live now
    /// (null after that thread ended). See tls.rs.
    pub tls: tls::Layout,
    pub tls_owner: *mut Green,
    /// This OS thread's errno, saved and restored around every switch.
    pub errno_slot: *mut i32,
    pub stats: Stats,
    pub print_stats: bool,
}

struct RuntimeCell(UnsafeCell<MaybeUninit<Runtime>>);
// SAFETY: only the hub thread touches the Runtime (callers check `on_hub`), except the
// poller's epoll fd, which the kernel lets any thread use.
unsafe impl Sync for RuntimeCell {}

static RUNTIME: RuntimeCell = RuntimeCell(UnsafeCell::new(MaybeUninit::uninit()));

/// The hub thread's thread pointer while the runtime is on; 0 before it starts, when
/// disabled, and in a forked child (until it gets a hub of its own).
static HUB_THREAD: AtomicUsize = AtomicUsize::new(0);

/// The runtime.
///
/// # Safety
/// Only on the hub thread after `start`, and no two results may be used to alias the same
/// field at once; callers re-fetch it after anything that can switch threads.
#[inline(always)]
#[allow(clippy::mut_from_ref)]
pub unsafe fn rt() -> &'static mut Runtime {
    (*RUNTIME.0.get()).assume_init_mut()
}

/// Whether the caller may act green: the runtime is on, this is its OS thread, and no
/// signal handler is running on it (a handler interrupted arbitrary code, maybe the
/// scheduler itself, so it gets plain libc calls).
#[inline(always)]
pub fn on_hub() -> bool {
    on_hub_thread() && signal_depth::DEPTH.load(Ordering::Relaxed) == 0
}

/// Whether this is the hub's OS thread and the runtime is on.
#[inline(always)]
pub fn on_hub_thread() -> bool {
    let hub = HUB_THREAD.load(Ordering::Relaxed);
    hub != 0 && hub == raw::thread_self()
}

/// Signal handlers that ran on the hub thread since the hub last looked: bit 0, one that
/// asked for SA_RESTART; bit 1, one that did not. Also how many have run in all, so that a
/// wait can tell a handler that ran while it was parked from one that ran before.
pub mod pending_signals {
    use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};

    static PENDING: AtomicU8 = AtomicU8::new(0);
    static HANDLED: AtomicU32 = AtomicU32::new(0);

    fn bits(restart: bool) -> u8 {
        if restart {
            1
        } else {
            2
        }
    }

    pub fn note(restart: bool) {
        PENDING.fetch_or(bits(restart), Ordering::Relaxed);
        HANDLED.fetch_add(1, Ordering::Relaxed);
    }

    /// Some(restart) if any handler ran; restart only if every one asked for it.
    pub fn take() -> Option<bool> {
        match PENDING.swap(0, Ordering::Relaxed) {
            0 => None,
            bits => Some(bits == 1),
        }
    }

    /// Puts back what `take` returned, as not yet looked at (no new handler run).
    pub fn restore(taken: Option<bool>) {
        if let Some(restart) = taken {
            PENDING.fetch_or(bits(restart), Ordering::Relaxed);
        }
    }

    /// Handlers run on the hub thread so far.
    pub fn handled() -> u32 {
        HANDLED.load(Ordering::Relaxed)
    }
}

/// How many signal handlers are running on the hub thread (they nest).
pub mod signal_depth {
    use core::sync::atomic::{AtomicUsize, Ordering};

    pub(crate) static DEPTH: AtomicUsize = AtomicUsize::new(0);

    /// Counts one handler in until the guard drops.
    pub fn enter() -> Guard {
        DEPTH.fetch_add(1, Ordering::Relaxed);
        Guard
    }

    pub struct Guard;

    impl Drop for Guard {
        fn drop(&mut self) {
            DEPTH.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Whether the runtime was ever started in this process (the internal fds exist).
pub fn started() -> bool {
    STARTED.load(Ordering::Acquire) && HUB_THREAD.load(Ordering::Relaxed) != 0
}

static STARTED: AtomicBool = AtomicBool::new(false);

/// Starts the runtime on the calling thread, once. Reads the GREEN_* settings; a bad value
/// ends the process with a one-line error (exit status 2), because running a program
/// half-configured would be worse than not running it.
pub fn start() {
    if STARTED.swap(true, Ordering::AcqRel) {
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
    let poller = match poller::Poller::new() {
        Ok(poller) => poller,
        Err(e) => {
            log::log!(Error, "cannot create the hub ({}); running without green threads", e);
            return;
        }
    };
    let mut stacks = stack::StackPool::new();
    stacks.set_default_size(config.stack_size.unwrap_or_else(native_stack_size));
    let root = Box::into_raw(Box::new(Green::new(1)));
    // SAFETY: pthread_self has no preconditions; our hook is not involved (real symbol).
    let root_handle = unsafe { crate::sys::real::pthread_self() };
    // SAFETY: `root` was just allocated.
    unsafe {
        (*root).handle = root_handle;
        (*root).state = green::State::Running;
    }
    let mut threads = HashMap::with_hasher(AddressHasher);
    threads.insert(root_handle, root);
    let runtime = Runtime {
        root,
        current: root,
        root_tid: rustix::thread::gettid().as_raw_nonzero().get(),
        runq: RunQueue::new(),
        timers: timer::TimerHeap::new(),
        stacks,
        threads,
        queues: waitqueue::WaitQueues::new(),
        poller,
        next_id: 2,
        live: 0,
        fd_waiters: 0,
        offloads_in_flight: 0,
        signal_waiters: 0,
        root_parked_after: 0,
        deadlock_reported: false,
        ticks: 0,
        tls: tls::discover(),
        tls_owner: root,
        // SAFETY: __errno_location has no preconditions; the slot lives as long as the thread.
        errno_slot: unsafe { libc::__errno_location() },
        stats: Stats { peak_green: 1, ..Stats::default() },
        print_stats: config.stats,
    };
    // SAFETY: STARTED guarantees this runs once, before HUB_THREAD publishes the runtime.
    unsafe { (*RUNTIME.0.get()).write(runtime) };
    HUB_THREAD.store(raw::thread_pointer(), Ordering::Release);
    log::log!(Info, "runtime started (stack {} KiB)", unsafe { rt() }.stacks.default_size() / 1024);
}

/// In a forked child. If the hub thread forked, the child gets a hub of its own (see
/// fork.rs). If another OS thread forked, the child's only thread is not the hub, so the
/// child runs without green threads: every call passes through (blocking by hand on
/// descriptions we made non-blocking).
pub fn after_fork_in_child(forked_on_hub: bool) {
    // SAFETY: in the child, on the thread that forked, which is the hub thread if
    // `forked_on_hub`; nothing else runs yet.
    if forked_on_hub {
        // SAFETY: as above; the current green thread is the one that forked.
        unsafe { tls::after_fork_in_child(rt().current) };
    }
    if !(forked_on_hub && unsafe { fork::rebuild_hub_in_child() }) {
        HUB_THREAD.store(0, Ordering::Release);
    }
}

/// Whether `fd` is one of the runtime's own (programs may not close or replace it).
pub fn is_internal_fd(fd: i32) -> bool {
    // SAFETY: the poller is created before HUB_THREAD is set and never destroyed.
    started() && unsafe { rt() }.poller.is_internal(fd)
}

/// At exit, when GREEN_STATS=1: one summary line.
pub fn print_stats_if_asked() {
    if !started() {
        return;
    }
    // SAFETY: exit runs on the thread that called exit; we only read counters.
    let rt = unsafe { rt() };
    if rt.print_stats {
        let s = &rt.stats;
        let mut line = log::Line::new();
        let _ = core::fmt::Write::write_fmt(
            &mut line,
            format_args!(
                "stats green_threads={} peak_green={} switches={} hub_waits={} offloaded={}",
                s.green_threads, s.peak_green, s.switches, s.hub_waits, s.offloaded
            ),
        );
        line.emit();
    }
}

struct Config {
    disabled: bool,
    log: LogLevel,
    stack_size: Option<usize>,
    stats: bool,
    /// Whether programs this one starts inherit libgreen through LD_PRELOAD.
    children: bool,
}

fn read_settings() -> Config {
    Config {
        disabled: setting("GREEN_DISABLE", settings::parse_bool).unwrap_or(false),
        log: setting("GREEN_LOG", settings::parse_log_level).unwrap_or(LogLevel::Warn),
        stack_size: setting("GREEN_STACK_SIZE", settings::parse_stack_size),
        stats: setting("GREEN_STATS", settings::parse_bool).unwrap_or(false),
        children: setting("GREEN_CHILDREN", settings::parse_bool).unwrap_or(true),
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
        format_args!("{}={} is not valid: expected {}", name, text, accepted),
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

/// Hashes addresses and pthread_t values: they are already well spread, and std's default
/// hasher would seed itself through getrandom on first use.
#[derive(Clone, Copy, Default)]
pub struct AddressHasher;

impl core::hash::BuildHasher for AddressHasher {
    type Hasher = AddressHash;
    fn build_hasher(&self) -> AddressHash {
        AddressHash(0)
    }
}

pub struct AddressHash(u64);

impl core::hash::Hasher for AddressHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing; the high bits feed hashbrown's control bytes.
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}
