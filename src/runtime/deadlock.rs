//! The deadlock report: every green thread is parked and nothing (fd, timer, other OS
//! thread) can wake any of them. Say so, like gevent's "This operation would block
//! forever", instead of hanging silently: each thread with what it waits for and, for a
//! mutex, rwlock or join, who holds it up; then every cycle of such waits (ARCHITECTURE.md,
//! Diagnostics).
//!
//! A mutex's holder is the owner tag glibc's `__owner` word holds (the runtime's own
//! `owner_tag`: the root's tid, or minus a green thread's id), read from the mutex itself
//! (`__owner` is the third 32-bit word of `struct __pthread_mutex_s` on x86-64 and aarch64,
//! hooks/sync_mutex.rs). A rwlock's is in the hooks' side table, which the waiter's record
//! points at (`WaitingOn::RwLock`'s `holders`).

use super::state::Runtime;
use super::thread::{Green, RwLockHolders, State, WaitingOn};
use crate::sys::log::Line;
use core::fmt::Write;
use core::sync::atomic::{AtomicI32, Ordering::Relaxed};

/// Writes the report: one line, then one per thread not ended (by id), naming what it waits
/// for and who holds that, then the cycles.
///
/// # Safety
/// Hub thread only; every record in `rt.threads` is live.
pub unsafe fn report(rt: &mut Runtime) {
    rt.deadlock_reported = true;
    let mut line = Line::new();
    let _ = write!(line, "deadlock: all {} green threads are blocked and nothing can wake them:", rt.live + 1);
    line.emit();
    // SAFETY: records in the table are live (caller); only read here.
    let mut threads: Vec<&Green> = rt.threads.values().map(|&g| unsafe { &*g }).filter(|g| g.state != State::Done).collect();
    threads.sort_by_key(|g| g.id);
    let world = World { threads: &threads, root: rt.root, root_tag: rt.root_tid };
    for g in &threads {
        let mut line = Line::new();
        line.push(b"  ");
        world.name(&mut line, g);
        line.push(b": ");
        world.describe(&mut line, g);
        line.emit();
    }
    world.cycles();
}

/// The blocked threads, and how to tell who an owner tag is.
struct World<'a> {
    threads: &'a [&'a Green],
    root: *mut Green,
    root_tag: i32,
}

/// A thread another one waits for.
enum Holder<'a> {
    Green(&'a Green),
    /// A kernel tid that is no green thread of ours (a foreign OS thread).
    Foreign(i32),
    Readers(u32),
    Nobody,
}

impl<'a> World<'a> {
    fn by_id(&self, id: u64) -> Option<&'a Green> {
        self.threads.iter().copied().find(|g| g.id == id)
    }

    fn by_tag(&self, tag: i32) -> Holder<'a> {
        let found = match tag {
            0 => return Holder::Nobody,
            t if t == self.root_tag => self.threads.iter().copied().find(|g| core::ptr::eq(*g, self.root)),
            t if t < 0 => self.by_id(t.unsigned_abs() as u64),
            t => return Holder::Foreign(t),
        };
        found.map_or(Holder::Nobody, Holder::Green)
    }

    /// Who `g` waits for: the holder of its mutex or rwlock, or the thread it joins.
    fn holder(&self, g: &Green) -> Holder<'a> {
        match g.waiting_on {
            WaitingOn::Lock { address } => {
                // SAFETY: the mutex `g` is parked on is live while it waits; `__owner` is
                // its third 32-bit word, which glibc changes atomically.
                let owner = unsafe { (*((address + 8) as *const AtomicI32)).load(Relaxed) };
                self.by_tag(owner)
            }
            // SAFETY: the side-table entry stays in place while `g` waits for its rwlock
            // (hooks/sync_rwlock_state.rs); the report runs on the hub thread, which alone
            // changes it, so it does not change under this read.
            WaitingOn::RwLock { holders, .. } => match unsafe { *holders } {
                RwLockHolders { writer: 0, readers: 0 } => Holder::Nobody,
                RwLockHolders { writer: 0, readers } => Holder::Readers(readers),
                RwLockHolders { writer, .. } => self.by_tag(writer),
            },
            WaitingOn::Join { id } => self.by_id(id).map_or(Holder::Nobody, Holder::Green),
            _ => Holder::Nobody,
        }
    }

    fn name(&self, line: &mut Line, g: &Green) {
        let _ = write!(line, "thread {}", g.id);
        let len = g.name.iter().position(|&b| b == 0).unwrap_or(g.name.len());
        if len > 0 {
            line.push(b" \"");
            line.push(&g.name[..len]);
            line.push(b"\"");
        } else if core::ptr::eq(g, self.root) {
            line.push(b" (main)");
        }
    }

    fn describe(&self, line: &mut Line, g: &Green) {
        let holder = self.holder(g);
        describe_wait(line, g);
        match holder {
            Holder::Green(h) if matches!(g.waiting_on, WaitingOn::Join { .. }) => {
                let len = h.name.iter().position(|&b| b == 0).unwrap_or(h.name.len());
                if len > 0 {
                    line.push(b" \"");
                    line.push(&h.name[..len]);
                    line.push(b"\"");
                }
            }
            Holder::Green(h) => {
                line.push(b", held by ");
                self.name(line, h);
            }
            Holder::Foreign(tid) => {
                let _ = write!(line, ", held by OS thread {} (not a green thread)", tid);
            }
            Holder::Readers(n) => {
                let _ = write!(line, ", held for reading by {} green thread(s)", n);
            }
            Holder::Nobody => line.push(match g.waiting_on {
                WaitingOn::Condition { .. } => b": no thread is left to signal it".as_slice(),
                WaitingOn::Semaphore { .. } => b": no thread is left to post it",
                WaitingOn::Barrier { .. } => b": no thread is left to arrive",
                WaitingOn::Futex { .. } => b": no thread is left to wake it",
                _ => b"",
            }),
        }
    }

    /// Each cycle of waits once, from its lowest-numbered thread.
    fn cycles(&self) {
        for start in self.threads {
            let mut path: Vec<&Green> = vec![start];
            while let Holder::Green(next) = self.holder(path[path.len() - 1]) {
                if core::ptr::eq(next, *start) {
                    self.print_cycle(&path);
                    break;
                }
                if next.id < start.id || path.iter().any(|g| core::ptr::eq(*g, next)) || path.len() > self.threads.len() {
                    break; // reported from a lower thread, or a cycle `start` only leads into
                }
                path.push(next);
            }
        }
    }

    fn print_cycle(&self, path: &[&Green]) {
        let mut line = Line::new();
        line.push(b"deadlock cycle: ");
        for (i, g) in path.iter().enumerate() {
            if i > 0 {
                line.push(b", which ");
            } else {
                self.name(&mut line, g);
                line.push(b" ");
            }
            if matches!(g.waiting_on, WaitingOn::Join { .. }) {
                line.push(b"joins ");
            } else {
                line.push(b"waits for ");
                wait_object(&mut line, g);
                line.push(b" held by ");
            }
            self.name(&mut line, path[(i + 1) % path.len()]);
        }
        line.emit();
    }
}

/// The object of a wait, for the cycle line.
fn wait_object(line: &mut Line, g: &Green) {
    let _ = match g.waiting_on {
        WaitingOn::Lock { address } => write!(line, "mutex {:#x}", address),
        WaitingOn::RwLock { address, .. } => write!(line, "rwlock {:#x}", address),
        _ => Ok(()),
    };
}

fn describe_wait(line: &mut Line, g: &Green) {
    let _ = match g.waiting_on {
        WaitingOn::Nothing => write!(line, "{:?}", g.state),
        WaitingOn::Fd { fd, write } => {
            write!(line, "waiting to {} fd {}", if write { "write" } else { "read" }, fd)
        }
        WaitingOn::Poll { nfds } => write!(line, "poll() on {} fds", nfds),
        WaitingOn::Sleep => write!(line, "sleeping"),
        WaitingOn::Join { id } => write!(line, "pthread_join(thread {})", id),
        WaitingOn::Lock { address } => write!(line, "locking mutex {:#x}", address),
        WaitingOn::Condition { address } => write!(line, "waiting on condition {:#x}", address),
        WaitingOn::Semaphore { address } => write!(line, "waiting on semaphore {:#x}", address),
        WaitingOn::Futex { address } => write!(line, "futex wait on {:#x}", address),
        WaitingOn::Child { pid } => write!(line, "waiting for child process {}", pid),
        WaitingOn::Offload { call, fd } => {
            line.push(b"waiting for ");
            line.push(call.bytes());
            if fd >= 0 {
                let _ = write!(line, " on fd {}", fd);
            }
            write!(line, " (on an offload worker)")
        }
        WaitingOn::Signal => write!(line, "waiting for a signal handler to run (sigsuspend, pause)"),
        WaitingOn::RwLock { address, write, .. } => {
            let how = if write { "write" } else { "read" };
            write!(line, "locking rwlock {:#x} for {}", address, how)
        }
        WaitingOn::Barrier { address } => write!(line, "waiting at barrier {:#x}", address),
        WaitingOn::Once { address } => write!(line, "pthread_once on {:#x}", address),
    };
}
