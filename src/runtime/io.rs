//! Blocking-mode fd operations as green waits: the policy every I/O hook shares.
//!
//! The hook supplies the attempt (the real libc call); this module decides whether the call
//! may block the OS thread at all, makes the attempt non-blocking, and parks the green thread
//! between attempts until epoll reports readiness.

use super::fdtable::{self, FdEntry, Kind, Registration, WaitNode, READ, WRITE};
use super::green::{self, Wake, WaitingOn};
use super::{poller, rt};
use crate::sys::errno;
use rustix::fd::BorrowedFd;

/// How one attempt of a blocking-mode call is made without blocking the OS thread.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Attempt {
    /// The description is ours and O_NONBLOCK: call as is.
    Direct,
    /// A socket we did not create: add MSG_DONTWAIT (send/recv family only; the hook falls
    /// back to PollFirst for calls that take no flags).
    DontWait,
    /// Someone else's pipe or terminal, whose O_NONBLOCK we must not flip: call only when
    /// poll(2) says it would not block.
    PollFirst,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Plan {
    /// Make the real call as the program asked: the fd is non-blocking in the program's
    /// view, cannot be polled (regular files), or is not an fd at all (the real call
    /// then reports EBADF as natively).
    Passthrough,
    Green(Attempt),
}

/// Decides how a call on `fd` runs on the hub thread.
pub fn plan(fd: i32) -> Plan {
    let Some(entry) = fdtable::entry(fd) else { return Plan::Passthrough };
    let Some(desc) = classify(fd, entry) else { return Plan::Passthrough };
    if entry.registration == Registration::Unpollable || desc.user_nonblock {
        return Plan::Passthrough;
    }
    match (desc.kind, desc.owned_nonblock) {
        (Kind::Inline | Kind::File, _) => Plan::Passthrough,
        (_, true) => Plan::Green(Attempt::Direct),
        (Kind::StreamSocket | Kind::MessageSocket, false) => Plan::Green(Attempt::DontWait),
        (Kind::Pipe | Kind::CharDevice, false) => Plan::Green(Attempt::PollFirst),
    }
}

/// Whether `fd` is a regular file (epoll cannot watch it; the page cache decides whether a
/// read waits for the disk: see hooks/file.rs).
pub fn is_regular_file(fd: i32) -> bool {
    fdtable::entry(fd).and_then(|entry| classify(fd, entry)).is_some_and(|desc| desc.kind == Kind::File)
}

/// Learns what an fd we did not create is, once. None if it is not open.
fn classify(fd: i32, entry: &mut FdEntry) -> Option<&'static mut fdtable::Desc> {
    if let Some(desc) = entry.desc() {
        return Some(desc);
    }
    // SAFETY: fstat/fcntl only read the fd number; a closed number gives EBADF.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let stat = rustix::fs::fstat(borrowed).ok()?;
    let flags = rustix::fs::fcntl_getfl(borrowed).ok()?;
    let kind = match stat.st_mode & libc::S_IFMT {
        libc::S_IFSOCK => match rustix::net::sockopt::socket_type(borrowed) {
            Ok(rustix::net::SocketType::STREAM) => Kind::StreamSocket,
            _ => Kind::MessageSocket,
        },
        libc::S_IFIFO => Kind::Pipe,
        libc::S_IFCHR => Kind::CharDevice,
        libc::S_IFREG => Kind::File,
        0 if is_waitable_anon_inode(fd) => Kind::CharDevice,
        _ => Kind::Inline,
    };
    let user_nonblock = flags.contains(rustix::fs::OFlags::NONBLOCK);
    entry.adopt(kind, false, user_nonblock);
    entry.desc()
}

/// Whether `fd` is an eventfd, timerfd, signalfd, inotify or fanotify instance: descriptors
/// without a file type whose blocking read (or eventfd write) waits for exactly what poll
/// reports, so they can wait green like a pipe. Other such descriptors (epoll, pidfd, ...)
/// stay inline.
fn is_waitable_anon_inode(fd: i32) -> bool {
    const WAITABLE: [&[u8]; 5] = [
        b"anon_inode:[eventfd]",
        b"anon_inode:[timerfd]",
        b"anon_inode:[signalfd]",
        b"anon_inode:inotify",
        b"anon_inode:[fanotify]",
    ];
    let mut path = *b"/proc/self/fd/\0\0\0\0\0\0\0\0\0\0\0";
    let mut digits = [0u8; 10];
    let mut n = fd.unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        path[14 + i] = digits[len - 1 - i];
    }
    let mut target = [0u8; 64];
    // SAFETY: `path` is NUL-terminated and `target` is writable for its length; readlinkat
    // writes at most that many bytes and returns how many.
    let got = unsafe {
        crate::sys::raw::syscall6(
            libc::SYS_readlinkat,
            [libc::AT_FDCWD as usize, path.as_ptr() as usize, target.as_mut_ptr() as usize, target.len(), 0, 0],
        )
    };
    got > 0 && WAITABLE.contains(&&target[..got as usize])
}

/// Runs `attempt` until it no longer fails with EAGAIN, parking on `fd` readiness for
/// `interest` (READ or WRITE) in between. A wait that outlives `deadline` (CLOCK_MONOTONIC
/// ns), or else the socket's own SO_RCVTIMEO / SO_SNDTIMEO, ends the call with EAGAIN, as
/// the kernel ends a blocking call at that timeout. Returns what the last attempt returned,
/// with errno as it left it (or EBADF if the fd was closed while we waited).
///
/// # Safety
/// Hub thread only.
pub unsafe fn drive(
    fd: i32,
    interest: u8,
    deadline: Option<u64>,
    attempt_mode: Attempt,
    mut attempt: impl FnMut() -> isize,
) -> isize {
    let entry = fdtable::entry(fd).expect("planned fds have entries");
    let generation = entry.generation;
    let saved_errno = errno::get();
    // Looked up the first time the call has to wait: most calls never do.
    let mut wait_until = deadline.map(Some);
    loop {
        if entry.ready(interest) {
            if attempt_mode == Attempt::PollFirst && !poll_now(fd, interest) {
                entry.clear_ready(interest);
            } else {
                let result = attempt();
                if result >= 0 {
                    errno::set(saved_errno);
                    return result;
                }
                let e = errno::get();
                if e != libc::EAGAIN && e != libc::EWOULDBLOCK {
                    return result;
                }
                entry.clear_ready(interest);
            }
        }
        let until = *wait_until.get_or_insert_with(|| socket_timeout_deadline(fd, interest));
        match wait_fd(fd, interest, until) {
            Ok(Wake::Timeout) => return errno::fail(libc::EAGAIN),
            Ok(Wake::Interrupted { restart: false }) => return errno::fail(libc::EINTR),
            Ok(_) if entry.generation != generation => return errno::fail(libc::EBADF),
            Ok(_) => {}
            // epoll cannot watch it after all: the real call is all we can do.
            Err(0) => return attempt(),
            Err(e) => return errno::fail(e),
        }
    }
}

/// For a blocking send on a TCP socket that needed more than one wait: when the whole
/// call gives up, `started` plus SO_SNDTIMEO (TCP counts the timeout once per call). None
/// for other sockets, whose timeout the kernel counts afresh for every wait (AF_UNIX).
pub fn tcp_send_deadline(fd: i32, started: u64) -> Option<u64> {
    use rustix::net::{sockopt, AddressFamily};
    // SAFETY: getsockopt only reads the fd number.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let family = sockopt::socket_domain(borrowed).ok()?;
    if family != AddressFamily::INET && family != AddressFamily::INET6 {
        return None;
    }
    let timeout = sockopt::socket_timeout(borrowed, sockopt::Timeout::Send).ok()??;
    Some(started.saturating_add(u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX)))
}

/// When a blocking call on socket `fd` waiting for `interest` gives up: now plus its
/// SO_RCVTIMEO (reads, accept) or SO_SNDTIMEO (writes, connect), or never when that is zero
/// or `fd` is not a socket.
pub fn socket_timeout_deadline(fd: i32, interest: u8) -> Option<u64> {
    let is_socket = fdtable::entry(fd)
        .and_then(|e| e.desc())
        .is_some_and(|d| matches!(d.kind, Kind::StreamSocket | Kind::MessageSocket));
    if !is_socket {
        return None;
    }
    use rustix::net::sockopt::{socket_timeout, Timeout};
    // SAFETY: getsockopt only reads the fd number.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let which = if interest == READ { Timeout::Recv } else { Timeout::Send };
    let timeout = socket_timeout(borrowed, which).ok()??;
    let ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
    Some(crate::sys::clock::monotonic_ns().saturating_add(ns))
}

/// Parks until `fd` may be ready for `interest`, it is closed, or the deadline passes.
/// Err(0) if epoll cannot watch the fd, Err(errno) if it is bad.
///
/// # Safety
/// Hub thread only.
pub unsafe fn wait_fd(fd: i32, interest: u8, deadline: Option<u64>) -> Result<Wake, i32> {
    if !poller::register(fd)? {
        return Err(0);
    }
    let entry = fdtable::entry(fd).ok_or(libc::EBADF)?;
    let mut node = WaitNode::new(green::current(), interest);
    entry.link(&mut node);
    let rt = rt();
    rt.fd_waiters += 1;
    let why = WaitingOn::Fd { fd, write: interest == WRITE };
    let wake = green::park(deadline, why);
    rt.fd_waiters -= 1;
    entry.unlink(&mut node);
    Ok(wake)
}

/// Parks until any of `fds` (with their interests) may be ready, one is closed, or the
/// deadline passes. Fds epoll cannot watch are ignored here: poll(2) reports them ready
/// before anyone waits. The caller re-checks with a real poll.
///
/// # Safety
/// Hub thread only.
pub unsafe fn wait_any(fds: &[(i32, u8)], deadline: Option<u64>) -> Wake {
    let me = green::current();
    let mut nodes: Vec<(i32, WaitNode)> = Vec::with_capacity(fds.len());
    for &(fd, interest) in fds {
        if fd >= 0 && matches!(poller::register(fd), Ok(true)) {
            nodes.push((fd, WaitNode::new(me, interest)));
        }
    }
    // Link only once the vector no longer moves.
    for (fd, node) in nodes.iter_mut() {
        fdtable::entry(*fd).expect("registered").link(node);
    }
    let rt = rt();
    rt.fd_waiters += nodes.len();
    let wake = green::park(deadline, WaitingOn::Poll { nfds: fds.len() });
    rt.fd_waiters -= nodes.len();
    for (fd, node) in nodes.iter_mut() {
        fdtable::entry(*fd).expect("registered").unlink(node);
    }
    wake
}

/// Whether poll(2) says `fd` is ready for `interest` right now (errors and hang-ups count
/// as ready: the real call will report them).
pub fn poll_now(fd: i32, interest: u8) -> bool {
    use rustix::event::{PollFd, PollFlags};
    // SAFETY: poll only reads the fd number.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let flags = if interest == READ { PollFlags::IN } else { PollFlags::OUT };
    let mut fds = [PollFd::new(&borrowed, flags)];
    matches!(rustix::event::poll(&mut fds, Some(&rustix::time::Timespec { tv_sec: 0, tv_nsec: 0 })), Ok(n) if n > 0)
}

/// After a read that returned `got` of `wanted` bytes: on a stream a short read means the
/// queue is now empty, so the next read parks at once instead of paying for an EAGAIN
/// (Tokio does the same). EOF (0) keeps the fd readable: every later read returns 0 too.
pub fn note_read(fd: i32, got: isize, wanted: usize) {
    if got > 0 && (got as usize) < wanted {
        if let Some(entry) = fdtable::entry(fd) {
            let stream = entry.desc().is_some_and(|d| matches!(d.kind, Kind::StreamSocket | Kind::Pipe));
            if stream && !entry.read_closed {
                entry.clear_ready(READ);
            }
        }
    }
}

/// After a write that queued fewer bytes than asked: the buffer is full.
pub fn note_short_write(fd: i32) {
    if let Some(entry) = fdtable::entry(fd) {
        entry.clear_ready(WRITE);
    }
}

/// `fd` is about to be closed (or replaced by dup2): deregister it before the number can be
/// reused, and wake its waiters, who will see the generation change and report EBADF.
/// Safe to call from any thread; only the hub thread wakes waiters.
pub fn closing(fd: i32, on_hub: bool) {
    let Some(entry) = fdtable::existing(fd) else { return };
    if entry.registration == Registration::Yes {
        poller::deregister(fd);
    }
    entry.forget();
    if on_hub && entry.has_waiters() {
        // SAFETY: hub thread.
        unsafe { entry.wake_waiters(READ | WRITE, Wake::Closed) };
    }
}

/// `new` now refers to the same description as `old` (dup family).
pub fn duplicated(old: i32, new: i32) {
    let (Some(source), Some(target)) = (fdtable::entry(old), fdtable::entry(new)) else { return };
    if core::ptr::eq(source, target) {
        return;
    }
    target.share(source);
}

/// A new description we created non-blocking on the program's behalf.
pub fn adopt_new(fd: i32, kind: Kind, owned_nonblock: bool, user_nonblock: bool) {
    if let Some(entry) = fdtable::entry(fd) {
        entry.adopt(kind, owned_nonblock, user_nonblock);
    }
}

/// A new fd whose description we know nothing about (created off the hub, say).
pub fn forget(fd: i32) {
    if let Some(entry) = fdtable::existing(fd) {
        entry.forget();
    }
}

/// Whether `fd` is a TCP socket (IPv4 or IPv6).
pub fn is_tcp_stream(fd: i32) -> bool {
    use rustix::net::{sockopt, AddressFamily};
    if !is_stream_socket(fd) {
        return false;
    }
    // SAFETY: getsockopt only reads the fd number.
    let family = sockopt::socket_domain(unsafe { BorrowedFd::borrow_raw(fd) });
    matches!(family, Ok(f) if f == AddressFamily::INET || f == AddressFamily::INET6)
}

/// Whether the peer has shut down its side of `fd` (as far as the hub has seen).
pub fn read_closed(fd: i32) -> bool {
    fdtable::entry(fd).is_some_and(|entry| entry.read_closed)
}

/// Parks until more data may have arrived on `fd` (its next read edge), the deadline passes
/// or a signal handler runs: Ok(true) to look again, Ok(false) to stop, Err(errno).
///
/// # Safety
/// Hub thread only.
pub unsafe fn wait_for_more(fd: i32, deadline: Option<u64>) -> Result<bool, i32> {
    let entry = fdtable::entry(fd).ok_or(libc::EBADF)?;
    let generation = entry.generation;
    entry.clear_ready(READ);
    match wait_fd(fd, READ, deadline)? {
        Wake::Timeout | Wake::Interrupted { .. } => Ok(false),
        _ if entry.generation != generation => Err(libc::EBADF),
        _ => Ok(true),
    }
}

/// Whether `fd` is a SOCK_STREAM socket (learning what it is if it is new to us).
pub fn is_stream_socket(fd: i32) -> bool {
    fdtable::entry(fd)
        .and_then(|e| classify(fd, e))
        .is_some_and(|d| d.kind == Kind::StreamSocket)
}

/// Another process is about to share our descriptions (fork, posix_spawn, system, popen)
/// or this process is about to become another program (exec). Programs that do not know
/// us must see exactly the flags their parent asked for, and one open file description has
/// one O_NONBLOCK bit for every process sharing it. So every inheritable description we
/// made non-blocking goes back to blocking, for good, and from now on we reach it the way we
/// reach descriptions we did not create: MSG_DONTWAIT for sockets, poll-then-call for the
/// rest. Close-on-exec descriptions stay ours: no exec'd program will see them, and a forked
/// child that keeps them blocks by hand (`fdtable::needs_blocking_emulation`).
pub fn release_inheritable() {
    fdtable::for_each(|fd, entry| {
        let Some(desc) = entry.desc() else { return };
        if !desc.owned_nonblock {
            return;
        }
        // SAFETY: fcntl only reads the fd number; a stale entry gives EBADF.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let Ok(fd_flags) = rustix::io::fcntl_getfd(borrowed) else { return };
        if fd_flags.contains(rustix::io::FdFlags::CLOEXEC) {
            return;
        }
        give_back(borrowed, desc);
    });
}

/// `fd` is being passed to someone else (SCM_RIGHTS): as for release_inheritable, its
/// description goes back to the flags the program asked for, for good.
pub fn release_passed(fd: i32) {
    let Some(desc) = fdtable::existing(fd).and_then(|entry| entry.desc()) else { return };
    if desc.owned_nonblock && fd >= 0 {
        // SAFETY: fcntl only reads the fd number; a stale entry gives EBADF.
        give_back(unsafe { BorrowedFd::borrow_raw(fd) }, desc);
    }
}

/// Clears the O_NONBLOCK we set on a description and stops treating it as ours.
fn give_back(fd: BorrowedFd<'_>, desc: &mut fdtable::Desc) {
    if !desc.user_nonblock {
        if let Ok(flags) = rustix::fs::fcntl_getfl(fd) {
            let _ = rustix::fs::fcntl_setfl(fd, flags - rustix::fs::OFlags::NONBLOCK);
        }
    }
    desc.owned_nonblock = false;
}
