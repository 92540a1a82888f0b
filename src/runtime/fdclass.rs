//! What an fd is, and how a blocking-mode call on it runs: the plan every I/O hook follows
//! (ARCHITECTURE.md, Pass-through rules), the kind of file learnt once per description,
//! socket timeouts, and giving back the O_NONBLOCK we set when others are about to share a
//! description. Waiting itself is io.rs's.
//!
//! On the hub an fd new to us is learnt and recorded in the fd table; other threads only
//! read (fdtable.rs states the rule).

use super::fdtable::{self, with_entry, DescView, FdEntry, Kind, Registration, READ};
use super::state::on_hub;
use super::file_reads::{without_nowait, FileReads};
use crate::sys::raw;
use rustix::fs::OFlags;
use core::sync::atomic::{AtomicU64, Ordering};
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
    /// Someone else's pipe or device (an eventfd, timerfd, signalfd, terminal): the hook
    /// makes each attempt non-blocking by itself (preadv2 or pwritev2 with RWF_NOWAIT, or
    /// the plain call once poll(2) says it would not block where the kernel refuses that),
    /// with no poll before it, so that a reader in another process emptying the pipe first
    /// cannot make it block. A description whose reads or pipe writes the kernel refused
    /// RWF_NOWAIT for (a FIFO, a terminal, inotify) is PollFirst from then on
    /// ([`refuses_nowait`]).
    NoWait,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Plan {
    /// Make the real call as the program asked: the fd is non-blocking in the program's
    /// view, cannot be polled (regular files), or is not an fd at all (the real call
    /// then reports EBADF as natively).
    Passthrough,
    /// Attempts made non-blocking as the `Attempt` says, on a file of this kind (learnt in
    /// the same table lookup, so the caller needs no second one).
    Green(Attempt, Kind),
}

/// Decides how a call on `fd` runs on the hub thread.
///
/// # Safety
/// Hub thread only (hooks plan only there).
pub unsafe fn plan(fd: i32) -> Plan {
    // SAFETY: hub thread (caller); the entry is used within this call only.
    let Some(entry) = (unsafe { fdtable::entry(fd) }) else { return Plan::Passthrough };
    let Some(desc) = classify(fd, entry) else { return Plan::Passthrough };
    if entry.registration == Registration::Unpollable || desc.user_nonblock {
        return Plan::Passthrough;
    }
    // SAFETY: hub thread (caller); the description is read at once and no reference kept.
    let (shared, refuses_nowait) = unsafe { entry.desc() }.map_or((false, false), |d| (d.shared, d.refuses_nowait));
    match (desc.kind, desc.owned_nonblock && !shared) {
        (Kind::Inline | Kind::File, _) => Plan::Passthrough,
        (kind, true) => Plan::Green(Attempt::Direct, kind),
        (kind @ (Kind::StreamSocket | Kind::MessageSocket), false) => Plan::Green(Attempt::DontWait, kind),
        (kind @ (Kind::Pipe | Kind::CharDevice), false) if !refuses_nowait => Plan::Green(Attempt::NoWait, kind),
        (kind @ (Kind::Pipe | Kind::CharDevice), false) => Plan::Green(Attempt::PollFirst, kind),
    }
}

/// The kernel refused RWF_NOWAIT on `fd`: its calls poll first from now on.
///
/// # Safety
/// Hub thread only.
pub unsafe fn refuses_nowait(fd: i32) {
    // SAFETY: hub thread (caller); the description is changed at once and no reference kept.
    if let Some(desc) = unsafe { fdtable::entry(fd).and_then(|entry| entry.desc()) } {
        desc.refuses_nowait = true;
    }
}

/// How reads of `fd` may wait, if it is a regular file (hooks/file.rs); None for any other
/// fd.
///
/// # Safety
/// Hub thread only.
pub unsafe fn file_reads(fd: i32) -> Option<FileReads> {
    // SAFETY: hub thread (caller); the entry is used within this call only.
    let entry = unsafe { fdtable::entry(fd) }?;
    if classify(fd, entry)?.kind != Kind::File {
        return None;
    }
    // SAFETY: hub thread; no other reference to the description is live in this call.
    unsafe { entry.desc() }.map(|desc| desc.file_reads)
}

/// The file system under regular file `fd` refused RWF_NOWAIT: learns from its type, once
/// for the description, whether its reads may wait ([`FileReads::Waits`] or `Memory`).
///
/// # Safety
/// Hub thread only.
pub unsafe fn learn_reads_without_nowait(fd: i32) -> FileReads {
    // Ours, not the program's: never trapped (sys/own_calls.rs).
    let _own = crate::sys::own_calls::own_calls();
    // SAFETY: fstatfs only reads the fd number; a closed number gives EBADF.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    // f_type's width differs between architectures: the cast is a no-op on some.
    #[allow(clippy::unnecessary_cast)]
    let reads = rustix::fs::fstatfs(borrowed).map_or(FileReads::Waits, |fs| without_nowait(fs.f_type as i64));
    // SAFETY: hub thread (caller); the description is changed at once and no reference kept.
    if let Some(desc) = unsafe { fdtable::entry(fd).and_then(|entry| entry.desc()) } {
        desc.file_reads = reads;
    }
    reads
}

/// Learns what an fd we did not create is, once (hub thread: the entry is the caller's).
/// None if it is not open.
fn classify(fd: i32, entry: &mut FdEntry) -> Option<DescView> {
    if let Some(desc) = entry.view() {
        return Some(desc);
    }
    let (kind, flags) = ask_kernel(fd)?;
    entry.adopt(kind, false, flags.contains(OFlags::NONBLOCK));
    if kind == Kind::File && flags.contains(OFlags::DIRECT) {
        // SAFETY: the description was just made for this entry; no other reference to it.
        if let Some(desc) = unsafe { entry.desc() } {
            desc.file_reads = FileReads::Direct;
        }
    }
    entry.view()
}

/// What the kernel says `fd` is, and its description's status flags. Read-only.
fn ask_kernel(fd: i32) -> Option<(Kind, OFlags)> {
    // Ours, not the program's: never trapped (sys/own_calls.rs).
    let _own = crate::sys::own_calls::own_calls();
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
    Some((kind, flags))
}

/// Whether `fd` is an eventfd, timerfd, signalfd, inotify or fanotify instance: descriptors
/// without a file type whose blocking read (or eventfd write) waits for exactly what poll
/// reports, so they can wait green like a pipe. Other such descriptors (epoll, pidfd, ...)
/// stay inline.
fn is_waitable_anon_inode(fd: i32) -> bool {
    // Ours, not the program's: never trapped (sys/own_calls.rs).
    let _own = crate::sys::own_calls::own_calls();
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
        raw::syscall6(
            libc::SYS_readlinkat,
            [libc::AT_FDCWD as usize, path.as_ptr() as usize, target.as_mut_ptr() as usize, target.len(), 0, 0],
        )
    };
    got > 0 && WAITABLE.contains(&&target[..got as usize])
}

/// For a blocking send on a TCP socket that needed more than one wait: when the whole
/// call gives up, `started` plus SO_SNDTIMEO (TCP counts the timeout once per call). None
/// for other sockets, whose timeout the kernel counts afresh for every wait (AF_UNIX).
pub fn tcp_send_deadline(fd: i32, started: u64) -> Option<u64> {
    // Ours, not the program's: never trapped (sys/own_calls.rs).
    let _own = crate::sys::own_calls::own_calls();
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

/// The epoch of every cached socket timeout (the description's `timeouts`): a cached value
/// is used while its epoch is this one. Any setsockopt of SO_RCVTIMEO or SO_SNDTIMEO, on any
/// thread and any socket, starts a new epoch, so a blocking call that has to wait asks the
/// kernel once per description and change instead of once per wait. (A process sharing the
/// socket that changes its timeout is not seen: ARCHITECTURE.md, Pass-through rules.)
static TIMEOUT_EPOCH: AtomicU64 = AtomicU64::new(1);

/// A socket's SO_RCVTIMEO or SO_SNDTIMEO may have changed. Any thread.
pub fn socket_timeouts_changed() {
    TIMEOUT_EPOCH.fetch_add(1, Ordering::Release);
}

/// When a blocking call on socket `fd` waiting for `interest` gives up: now plus its
/// SO_RCVTIMEO (reads, accept) or SO_SNDTIMEO (writes, connect), or never when that is zero
/// or `fd` is not a socket.
///
/// # Safety
/// Hub thread only.
pub unsafe fn socket_timeout_deadline(fd: i32, interest: u8) -> Option<u64> {
    // Ours, not the program's: never trapped (sys/own_calls.rs).
    let _own = crate::sys::own_calls::own_calls();
    use rustix::net::sockopt::{socket_timeout, Timeout};
    let which = usize::from(interest != READ);
    let epoch = TIMEOUT_EPOCH.load(Ordering::Acquire);
    let cached_or_asked = |entry: &mut FdEntry| {
        // SAFETY: hub thread; the reference does not outlive this closure, which reaches no
        // other entry.
        let desc = unsafe { entry.desc() }?;
        if !matches!(desc.kind, Kind::StreamSocket | Kind::MessageSocket) {
            return None;
        }
        if desc.timeouts[which].0 != epoch {
            // SAFETY: getsockopt only reads the fd number.
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            let timeout = socket_timeout(borrowed, [Timeout::Recv, Timeout::Send][which]).ok()?;
            let ns = timeout.map_or(0, |t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX));
            desc.timeouts[which] = (epoch, ns);
        }
        Some(desc.timeouts[which].1)
    };
    // SAFETY: hub thread (caller); the entry is used within the closure only.
    let ns = unsafe { with_entry(fd, cached_or_asked) }.flatten()?;
    (ns != 0).then(|| crate::sys::clock::monotonic_ns().saturating_add(ns))
}

/// Whether `fd` is a TCP socket (IPv4 or IPv6).
pub fn is_tcp_stream(fd: i32) -> bool {
    // Ours, not the program's: never trapped (sys/own_calls.rs).
    let _own = crate::sys::own_calls::own_calls();
    use rustix::net::{sockopt, AddressFamily};
    if !is_stream_socket(fd) {
        return false;
    }
    // SAFETY: getsockopt only reads the fd number.
    let family = sockopt::socket_domain(unsafe { BorrowedFd::borrow_raw(fd) });
    matches!(family, Ok(f) if f == AddressFamily::INET || f == AddressFamily::INET6)
}

/// Whether `fd` is a SOCK_STREAM socket. On the hub, an fd new to us is learnt (recorded
/// in the table); any other thread only reads: the table if it knows the fd, else the
/// kernel, and records nothing (the table's rule).
pub fn is_stream_socket(fd: i32) -> bool {
    let kind = if on_hub() {
        // SAFETY: hub thread; the entry is used within this call only.
        unsafe { with_entry(fd, |entry| classify(fd, entry).map(|desc| desc.kind)) }.flatten()
    } else {
        fdtable::view(fd).map(|desc| desc.kind).or_else(|| ask_kernel(fd).map(|(kind, _)| kind))
    };
    kind == Some(Kind::StreamSocket)
}

/// Who is about to see our descriptions.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Sharer {
    /// A forked child: every description, close-on-exec or not (but see below).
    Child,
    /// Another program (exec, posix_spawn, system, popen): the inheritable ones only.
    Program,
}

/// Another process is about to share our descriptions (fork, posix_spawn, system, popen)
/// or this process is about to become another program (exec). Programs that do not know
/// us must see exactly the flags their parent asked for, and one open file description has
/// one O_NONBLOCK bit for every process sharing it. So every description the sharer gets
/// that we made non-blocking goes back to blocking, for good, and from now on we reach it
/// the way we reach descriptions we did not create: MSG_DONTWAIT for sockets, RWF_NOWAIT
/// for pipes and devices. A forked child gets close-on-exec descriptions too: it may clear
/// the flag itself and exec (Python's multiprocessing passes pipes so), and a child with a
/// lone thread, as much as the parent, then calls them as the program made the call, the
/// kernel blocking it (direct_wait.rs). An exec'd program never sees them: they stay ours.
///
/// Except a close-on-exec listening socket a child shares: it stays non-blocking and ours,
/// `shared`, reached with the same per-call flags as the rest (accept has none: io_uring's
/// IORING_ACCEPT_DONTWAIT, or a poll first, accept_nowait.rs). Where io_uring cannot help,
/// the description's own O_NONBLOCK is what keeps a connection a sibling process took
/// first from blocking the hub in accept.
///
/// # Safety
/// No other thread uses the fd table meanwhile (the table's `for_each` rule).
pub unsafe fn release_inheritable(sharer: Sharer) {
    // Ours, not the program's: never trapped (sys/own_calls.rs).
    let _own = crate::sys::own_calls::own_calls();
    let visit = |fd: i32, entry: &mut FdEntry| {
        // SAFETY: the walk hands out one entry at a time and nothing else holds one.
        let Some(desc) = (unsafe { entry.desc() }) else { return };
        if !desc.owned_nonblock {
            return;
        }
        // SAFETY: fcntl only reads the fd number; a stale entry gives EBADF.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let close_on_exec = || rustix::io::fcntl_getfd(borrowed).map_or(true, |f| f.contains(rustix::io::FdFlags::CLOEXEC));
        let listening = || rustix::net::sockopt::socket_acceptconn(borrowed).unwrap_or(false);
        match sharer {
            Sharer::Program if close_on_exec() => {}
            Sharer::Child if desc.kind == Kind::StreamSocket && close_on_exec() && listening() => desc.shared = true,
            _ => give_back(borrowed, desc),
        }
    };
    // SAFETY: the caller's contract; `visit` fetches no entry.
    unsafe { fdtable::for_each(visit) };
}

/// `fd` is being passed to someone else (SCM_RIGHTS): as for release_inheritable, its
/// description goes back to the flags the program asked for, for good.
///
/// # Safety
/// On the hub thread, or on a thread that holds number `fd` and is passing it (the
/// table's rule), with no other reference to its description live.
pub unsafe fn release_passed(fd: i32) {
    // SAFETY: the caller's contract.
    let Some(desc) = (unsafe { fdtable::existing(fd).and_then(|entry| entry.desc()) }) else { return };
    if desc.owned_nonblock && fd >= 0 {
        // SAFETY: fcntl only reads the fd number; a stale entry gives EBADF.
        give_back(unsafe { BorrowedFd::borrow_raw(fd) }, desc);
    }
}

/// Clears the O_NONBLOCK we set on a description and stops treating it as ours.
fn give_back(fd: BorrowedFd<'_>, desc: &mut fdtable::Desc) {
    // Ours, not the program's: never trapped (sys/own_calls.rs).
    let _own = crate::sys::own_calls::own_calls();
    if !desc.user_nonblock {
        if let Ok(flags) = rustix::fs::fcntl_getfl(fd) {
            let _ = rustix::fs::fcntl_setfl(fd, flags - rustix::fs::OFlags::NONBLOCK);
        }
    }
    desc.owned_nonblock = false;
}
