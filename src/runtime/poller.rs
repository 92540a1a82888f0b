//! The hub's event source: one epoll instance (edge-triggered registrations, data = fd), an
//! eventfd for wake-ups from other OS threads, and the timer heap.
//!
//! Readiness model (Go's netpoll, Tokio): an fd is registered once, for both directions,
//! edge-triggered, the first time a thread must wait on it. An edge sets the fd's readiness
//! bits and wakes its waiters; an operation clears a bit only when the kernel says EAGAIN
//! (or a stream read came back short). On one OS thread there is no lost wake-up: an edge
//! that arrives after an EAGAIN sits in epoll's ready list until we next wait.

use super::fdtable::{self, Registration, READ, WRITE};
use super::green::{self, Wake, WaitingOn};
use super::log::Line;
use super::rt;
use crate::sys::{clock, raw};
use core::fmt::Write;
use rustix::event::epoll;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};

const MAX_EVENTS: usize = 512;
/// epoll data of the eventfd; fds are never this large.
const WAKER_TOKEN: u64 = u64::MAX;
/// Our own fds are moved at or above this number, out of the range programs count on, and
/// close-on-exec.
const INTERNAL_FD_FLOOR: i32 = 900;

pub struct Poller {
    epoll: OwnedFd,
    waker: OwnedFd,
    events: Box<[libc::epoll_event; MAX_EVENTS]>,
}

impl Poller {
    pub fn new() -> rustix::io::Result<Self> {
        let epoll = move_high(epoll::create(epoll::CreateFlags::CLOEXEC)?)?;
        let waker = move_high(rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )?)?;
        epoll::add(
            &epoll,
            &waker,
            epoll::EventData::new_u64(WAKER_TOKEN),
            epoll::EventFlags::IN | epoll::EventFlags::ET,
        )?;
        let events = Box::new([libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS]);
        use rustix::fd::AsRawFd;
        super::offload::set_waker(waker.as_raw_fd());
        Ok(Poller { epoll, waker, events })
    }

    pub fn is_internal(&self, fd: i32) -> bool {
        use rustix::fd::AsRawFd;
        fd == self.epoll.as_raw_fd() || fd == self.waker.as_raw_fd()
    }
}

fn move_high(fd: OwnedFd) -> rustix::io::Result<OwnedFd> {
    let moved = rustix::io::fcntl_dupfd_cloexec(&fd, INTERNAL_FD_FLOOR).unwrap_or(fd);
    Ok(moved)
}

/// Registers `fd` with the hub if it is not yet. Err(errno) when the fd is bad; an fd epoll
/// cannot watch (regular file) is marked Unpollable and reported as Ok(false).
pub fn register(fd: i32) -> Result<bool, i32> {
    let entry = fdtable::entry(fd).ok_or(libc::EBADF)?;
    match entry.registration {
        Registration::Yes => return Ok(true),
        Registration::Unpollable => return Ok(false),
        Registration::No => {}
    }
    // SAFETY: registering only reads the fd number; a closed number gives EBADF.
    let target = unsafe { BorrowedFd::borrow_raw(fd) };
    // SAFETY: hub thread (callers), runtime initialised.
    let poller = unsafe { &rt().poller };
    // PRI: TCP urgent data raises only EPOLLPRI, and select's exception set and POLLPRI
    // wait for it (dispatch counts it as a read edge).
    let flags = epoll::EventFlags::IN
        | epoll::EventFlags::OUT
        | epoll::EventFlags::RDHUP
        | epoll::EventFlags::PRI
        | epoll::EventFlags::ET;
    match epoll::add(&poller.epoll, target, epoll::EventData::new_u64(fd as u64), flags) {
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

/// Drops `fd`'s registration; must happen before the number is closed, or epoll keeps
/// reporting it for as long as a dup of the description lives.
pub fn deregister(fd: i32) {
    // SAFETY: any thread may call epoll_ctl; the poller outlives the process's threads.
    let poller = unsafe { &rt().poller };
    // SAFETY: as in `register`.
    let target = unsafe { BorrowedFd::borrow_raw(fd) };
    let _ = epoll::delete(&poller.epoll, target);
}

/// Collects fd events and expired timers and makes their threads runnable. With `block`,
/// first waits until there is at least one (or the next deadline).
///
/// # Safety
/// Hub thread only.
pub unsafe fn poll_events(block: bool) {
    let rt = rt();
    let timeout = if !block {
        Some(0)
    } else {
        match rt.timers.next_deadline() {
            Some(deadline) => Some(deadline.saturating_sub(clock::monotonic_ns())),
            None => {
                if rt.fd_waiters == 0 && rt.offloads_in_flight == 0 && rt.signal_waiters == 0 && !rt.deadlock_reported {
                    report_deadlock();
                }
                None
            }
        }
    };
    if block {
        rt.stats.hub_waits += 1;
    }
    let poller = &mut rt.poller;
    use rustix::fd::AsRawFd;
    let n = raw::epoll_wait_ns(
        poller.epoll.as_fd().as_raw_fd(),
        poller.events.as_mut_ptr(),
        MAX_EVENTS,
        timeout,
    );
    for i in 0..n.max(0) as usize {
        let event = rt.poller.events[i];
        let (bits, token) = (event.events, event.u64);
        if token == WAKER_TOKEN {
            let mut counter = [0u8; 8];
            let _ = rustix::io::read(&rt.poller.waker, &mut counter);
            super::offload::wake_finished();
            continue;
        }
        dispatch(token as i32, bits);
    }
    if n > 0 {
        rt.deadlock_reported = false;
    }
    if let Some(restart) = super::pending_signals::take() {
        // As natively, the signal interrupts the main thread's blocking call (a program's
        // handlers usually only set a flag for the main thread to see, as CPython's do).
        let root = rt.root;
        if (*root).state == green::State::Parked
            && (*root).waiting_on.interruptible()
            && super::pending_signals::handled() != rt.root_parked_after
        {
            green::wake(root, Wake::Interrupted { restart });
        }
        // A handler may also have posted a semaphore or changed a futex word (both are
        // async-signal-safe), which it could not tell us about: let those waiters look.
        // Threads in sigsuspend or pause were waiting for exactly this.
        for (_, &g) in rt.threads.iter() {
            if (*g).state != green::State::Parked {
                continue;
            }
            match (*g).waiting_on {
                WaitingOn::Semaphore { .. } | WaitingOn::Futex { .. } => green::wake(g, Wake::Ready),
                WaitingOn::Signal => green::wake(g, Wake::Interrupted { restart }),
                _ => {}
            }
        }
    }
    if !rt.timers.is_empty() {
        let now = clock::monotonic_ns();
        while let Some(g) = rt.timers.pop_expired(now) {
            green::wake(g, Wake::Timeout);
        }
    }
}

unsafe fn dispatch(fd: i32, bits: u32) {
    const READ_BITS: u32 = (libc::EPOLLIN
        | libc::EPOLLPRI
        | libc::EPOLLRDHUP
        | libc::EPOLLHUP
        | libc::EPOLLERR) as u32;
    const WRITE_BITS: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;
    let Some(entry) = fdtable::entry(fd) else { return };
    let mut interest = 0;
    if bits & (libc::EPOLLRDHUP | libc::EPOLLHUP) as u32 != 0 {
        entry.read_closed = true;
    }
    if bits & READ_BITS != 0 {
        entry.not_readable = false;
        interest |= READ;
    }
    if bits & WRITE_BITS != 0 {
        entry.not_writable = false;
        interest |= WRITE;
    }
    entry.wake_waiters(interest, Wake::Ready);
}

/// Every green thread is parked and nothing (fd, timer, other OS thread) can wake any of
/// them: say so, like gevent's "This operation would block forever", instead of hanging
/// silently. The process then waits as the native program would (a signal may still come).
unsafe fn report_deadlock() {
    let rt = rt();
    rt.deadlock_reported = true;
    let mut line = Line::new();
    let _ = write!(
        line,
        "deadlock: all {} green threads are blocked and nothing can wake them:",
        rt.live + 1
    );
    line.emit();
    for (_, &g) in rt.threads.iter() {
        if (*g).state == green::State::Done {
            continue;
        }
        let mut line = Line::new();
        let name = if g == rt.root { " (main)" } else { "" };
        let _ = write!(line, "  thread {}{}: ", (*g).id, name);
        let _ = match (*g).waiting_on {
            WaitingOn::Nothing => write!(line, "{:?}", (*g).state),
            WaitingOn::Fd { fd, write } => {
                write!(line, "waiting to {} fd {}", if write { "write" } else { "read" }, fd)
            }
            WaitingOn::Poll { nfds } => write!(line, "poll() on {} fds", nfds),
            WaitingOn::Sleep => write!(line, "sleeping"),
            WaitingOn::Join { id } => write!(line, "pthread_join(thread {})", id),
            WaitingOn::Lock { address } => write!(line, "locking mutex {:#x}", address),
            WaitingOn::Condition { address } => {
                write!(line, "waiting on condition {:#x}", address)
            }
            WaitingOn::Semaphore { address } => write!(line, "waiting on semaphore {:#x}", address),
            WaitingOn::Futex { address } => write!(line, "futex wait on {:#x}", address),
            WaitingOn::Child { pid } => write!(line, "waiting for child process {}", pid),
            WaitingOn::Offload => write!(line, "waiting for a call on an offload worker"),
            WaitingOn::Signal => write!(line, "waiting for a signal handler to run (sigsuspend, pause)"),
            WaitingOn::RwLock { address, write } => {
                let how = if write { "write" } else { "read" };
                write!(line, "locking rwlock {:#x} for {}", address, how)
            }
            WaitingOn::Barrier { address } => write!(line, "waiting at barrier {:#x}", address),
            WaitingOn::Once { address } => write!(line, "pthread_once on {:#x}", address),
        };
        line.emit();
    }
}
