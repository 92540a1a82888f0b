//! The hub's event source: one epoll instance (edge-triggered registrations, data = fd) and
//! an eventfd for wake-ups from other OS threads.
//!
//! Readiness model (Go's netpoll, Tokio): an fd is registered once, for both directions,
//! edge-triggered, the first time a thread must wait on it. An edge sets the fd's readiness
//! bits and wakes its waiters; an operation clears a bit only when the kernel says EAGAIN
//! (or a stream read came back short). On one OS thread there is no lost wake-up: an edge
//! that arrives after an EAGAIN sits in epoll's ready list until we next wait.
//!
//! A data structure only, as Go's `netpoll` returns a list for `injectglist`: `wait` fills
//! the event buffer and returns how many events arrived, and the hub (hub.rs) applies them.
//! Other OS threads (offload workers, signal handlers, threads closing an fd) touch only
//! the two fd numbers, through atomics: never the `Poller` itself.

use super::fdtable::{FdEntry, Registration};
use crate::sys::{log, raw};
use core::sync::atomic::{compiler_fence, AtomicBool, AtomicI32, Ordering};
use rustix::event::epoll;
use rustix::fd::{AsRawFd, BorrowedFd, OwnedFd};

const MAX_EVENTS: usize = 512;
/// epoll data of the eventfd; fds are never this large.
const WAKER_TOKEN: u64 = u64::MAX;
/// Our own fds are moved at or above this number, out of the range programs count on, and
/// close-on-exec.
pub const INTERNAL_FD_FLOOR: i32 = 900;

/// The current hub's epoll instance and eventfd, for other OS threads (-1: none yet).
static EPOLL_FD: AtomicI32 = AtomicI32::new(-1);
static WAKER_FD: AtomicI32 = AtomicI32::new(-1);

pub struct Poller {
    epoll: OwnedFd,
    waker: OwnedFd,
    events: Box<[libc::epoll_event; MAX_EVENTS]>,
}

/// What one epoll event says.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Event {
    /// Another OS thread wrote the eventfd (an offload finished, a signal handler ran).
    Woken,
    /// Readiness bits (EPOLLIN, ...) for an fd.
    Fd { fd: i32, bits: u32 },
}

impl Poller {
    /// A new epoll instance and eventfd, which become the ones other threads poke.
    pub fn new() -> rustix::io::Result<Self> {
        // Ours, not the program's: never trapped (sys/own_calls.rs).
        let _own = crate::sys::own_calls::own_calls();
        let epoll = move_high(epoll::create(epoll::CreateFlags::CLOEXEC)?);
        let waker = move_high(rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )?);
        epoll::add(
            &epoll,
            &waker,
            epoll::EventData::new_u64(WAKER_TOKEN),
            epoll::EventFlags::IN | epoll::EventFlags::ET,
        )?;
        let events = Box::new([libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS]);
        EPOLL_FD.store(epoll.as_raw_fd(), Ordering::Release);
        WAKER_FD.store(waker.as_raw_fd(), Ordering::Release);
        Ok(Poller { epoll, waker, events })
    }

    /// Registers `fd` (whose entry is `entry`) if it is not yet. Err(errno) when the fd is
    /// bad; an fd epoll cannot watch (regular file) is marked Unpollable and reported as
    /// Ok(false).
    pub fn register(&self, fd: i32, entry: &mut FdEntry) -> Result<bool, i32> {
        // Ours, not the program's: never trapped (sys/own_calls.rs).
        let _own = crate::sys::own_calls::own_calls();
        match entry.registration {
            Registration::Yes => return Ok(true),
            Registration::Unpollable => return Ok(false),
            Registration::No => {}
        }
        // SAFETY: registering only reads the fd number; a closed number gives EBADF.
        let target = unsafe { BorrowedFd::borrow_raw(fd) };
        // PRI: TCP urgent data raises only EPOLLPRI, and select's exception set and POLLPRI
        // wait for it (the hub counts it as a read edge).
        let flags = epoll::EventFlags::IN
            | epoll::EventFlags::OUT
            | epoll::EventFlags::RDHUP
            | epoll::EventFlags::PRI
            | epoll::EventFlags::ET;
        match epoll::add(&self.epoll, target, epoll::EventData::new_u64(fd as u64), flags) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {
                entry.registration = Registration::Yes;
                Ok(true)
            }
            Err(rustix::io::Errno::PERM) => {
                entry.registration = Registration::Unpollable;
                Ok(false)
            }
            Err(e) => Err(e.raw_os_error()),
        }
    }

    /// Waits at most `timeout_ns` (None: until an event) and returns how many events are
    /// in the buffer (0 when a signal handler interrupted the wait: EINTR). Any other epoll
    /// error means the hub cannot wait at all, and going on would spin or hang silently:
    /// it is reported, naming the errno, and the process aborts (Go's netpoll throws too).
    pub fn wait(&mut self, timeout_ns: Option<u64>) -> usize {
        let n = raw::epoll_wait_ns(self.epoll.as_raw_fd(), &mut self.events[..], timeout_ns);
        match usize::try_from(n) {
            Ok(n) => n,
            Err(_) if n == -(libc::EINTR as isize) => 0,
            Err(_) => epoll_failed(-n),
        }
    }

    /// The `i`th event of the last `wait` (i < what it returned). A wake-up from another
    /// thread is taken off the eventfd here.
    pub fn event(&self, i: usize) -> Event {
        // Ours, not the program's: never trapped (sys/own_calls.rs).
        let _own = crate::sys::own_calls::own_calls();
        let event = self.events[i];
        let (bits, token) = (event.events, event.u64);
        if token == WAKER_TOKEN {
            let mut counter = [0u8; 8];
            let _ = rustix::io::read(&self.waker, &mut counter);
            return Event::Woken;
        }
        Event::Fd { fd: token as i32, bits }
    }
}

#[cold]
fn epoll_failed(errno: isize) -> ! {
    log::fatal_args(format_args!("the hub's epoll_wait failed with errno {}", errno))
}

/// `fd` moved at or above [`INTERNAL_FD_FLOOR`], close-on-exec (kept where it is if no
/// number is free up there).
pub fn move_high(fd: OwnedFd) -> OwnedFd {
    // Ours, not the program's: never trapped (sys/own_calls.rs).
    let _own = crate::sys::own_calls::own_calls();
    rustix::io::fcntl_dupfd_cloexec(&fd, INTERNAL_FD_FLOOR).unwrap_or(fd)
}

/// The hub's epoll instance and eventfd (-1 for one not made; programs may not close or
/// replace them). Any thread.
pub fn internal_fds() -> [i32; 2] {
    [EPOLL_FD.load(Ordering::Acquire), WAKER_FD.load(Ordering::Acquire)]
}

/// Drops `fd`'s registration; must happen before the number is closed, or epoll keeps
/// reporting it for as long as a dup of the description lives. Any thread: epoll_ctl on
/// the hub's epoll fd is thread-safe, and only the fd number is used.
pub fn deregister(fd: i32) {
    // Ours, not the program's: never trapped (sys/own_calls.rs).
    let _own = crate::sys::own_calls::own_calls();
    let epoll = EPOLL_FD.load(Ordering::Acquire);
    if epoll < 0 || fd < 0 {
        return;
    }
    // SAFETY: both numbers are only read by epoll_ctl; a stale one gives EBADF.
    let (epoll, target) = unsafe { (BorrowedFd::borrow_raw(epoll), BorrowedFd::borrow_raw(fd)) };
    let _ = epoll::delete(epoll, target);
}

/// Set on the hub thread from the moment the hub last looks at what handlers left before a
/// blocking wait (hub.rs, `poll_events`) until that wait is over: a handler that runs there
/// must wake the wait, which would otherwise sleep past it. Outside that window the hub
/// looks before it sleeps, and a handler need not make a system call (`poke_from_handler`).
/// A handler interrupts the hub on its own thread, so program order is all that counts.
#[link_section = ".data.green_hot"] // state.rs, HOT
static WAIT_WINDOW: AtomicBool = AtomicBool::new(false);

/// The hub is about to look at what handlers left and then wait (`true`), or its wait is
/// over (`false`).
pub fn set_wait_window(open: bool) {
    WAIT_WINDOW.store(open, Ordering::Relaxed);
    compiler_fence(Ordering::SeqCst);
}

/// From a signal handler on the hub thread that left something for the hub: wakes its
/// wait if it may already have looked (see `WAIT_WINDOW`). A handler that interrupts the
/// wait itself also ends it (EINTR); the window covers the instructions before it.
pub fn poke_from_handler() {
    compiler_fence(Ordering::SeqCst);
    if WAIT_WINDOW.load(Ordering::Relaxed) {
        poke_hub();
    }
}

/// Makes the hub's next (or current) epoll wait return: from an offload worker, or from a
/// signal handler (a raw write(2) to an eventfd is async-signal-safe).
pub fn poke_hub() {
    // Ours, not the program's: never trapped (sys/own_calls.rs).
    let _own = crate::sys::own_calls::own_calls();
    let fd = WAKER_FD.load(Ordering::Acquire);
    if fd >= 0 {
        // SAFETY: the eventfd lives as long as the runtime; writing 1 adds 1 to its counter.
        let _ = rustix::io::write(unsafe { BorrowedFd::borrow_raw(fd) }, &1u64.to_ne_bytes());
    }
}
