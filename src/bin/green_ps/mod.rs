//! `green ps PID` and `green top PID`: every green thread of a running greened process, one
//! line each, then its counters (ARCHITECTURE.md, Diagnostics). Read from outside through
//! the root libgreen.so exports (runtime/introspect_abi.rs): the program is not stopped,
//! signalled or written to, and runs no code of ours for it.

#[allow(dead_code)] // the reader uses part of the shared layout
#[path = "../../runtime/introspect_abi.rs"]
mod abi;
mod elf;
mod snapshot;

use abi::{state, wait};
use snapshot::{Snapshot, Thread};
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, Instant};

/// `green ps PID` or `green top [-n COUNT] PID`: Some(exit status) when the arguments name
/// one of these; None otherwise (the launcher runs a command then, e.g. `green ps aux`).
pub fn dispatch(args: &[String]) -> Option<i32> {
    let (command, rest) = args.split_first()?;
    if command != "ps" && command != "top" {
        return None;
    }
    let (count, pid) = match rest {
        [pid] => (None, pid),
        [flag, n, pid] if flag == "-n" && command == "top" => (Some(n.parse::<u64>().ok()?), pid),
        _ => return None,
    };
    let pid: i32 = pid.parse().ok()?;
    let result = if command == "ps" { ps(pid) } else { top(pid, count) };
    Some(match result {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("green: {message}");
            1
        }
    })
}

fn locate(pid: i32) -> Result<u64, String> {
    match elf::find_symbol(pid, abi::SYMBOL) {
        Ok(Some(address)) => Ok(address),
        Ok(None) => Err(format!("process {pid} does not run libgreen (no {} symbol in what it has mapped)", abi::SYMBOL)),
        Err(e) => Err(snapshot::describe_error(pid, &e)),
    }
}

fn ps(pid: i32) -> Result<(), String> {
    let root = locate(pid)?;
    let snap = snapshot::take(pid, root)?;
    let text = render(pid, &snap, None);
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(())
}

fn top(pid: i32, count: Option<u64>) -> Result<(), String> {
    let root = locate(pid)?;
    let mut previous: Option<(Instant, u64)> = None;
    let mut shown = 0;
    let more = |shown: u64| count.is_none_or(|n| shown < n);
    while more(shown) {
        let snap = snapshot::take(pid, root)?;
        let now = Instant::now();
        let switches = snap.counters[abi::counter::SWITCHES];
        let rate = previous.map(|(t, s)| (switches - s) as f64 / now.duration_since(t).as_secs_f64());
        let text = render(pid, &snap, rate);
        let _ = std::io::stdout().lock().write_all(format!("\x1b[H\x1b[2J{text}").as_bytes());
        previous = Some((now, switches));
        shown += 1;
        if more(shown) {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    Ok(())
}

fn coarse_now() -> u64 {
    clock(libc::CLOCK_MONOTONIC_COARSE)
}

fn clock(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes our timespec.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn render(pid: i32, snap: &Snapshot, switch_rate: Option<f64>) -> String {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(out, "process {pid} ({}): {} green threads", comm.trim(), snap.threads.len());
    let _ = writeln!(out, "{:>7}  {:<16} {:<9} {:>8}  WAITING ON", "ID", "NAME", "STATE", "FOR");
    let (now, monotonic) = (coarse_now(), clock(libc::CLOCK_MONOTONIC));
    for t in &snap.threads {
        let name = if t.name.is_empty() && t.root { "(main)" } else { &t.name };
        let (state, time) = match t.state {
            state::RUNNING => ("running", String::from("-")),
            state::RUNNABLE => ("runnable", String::from("-")),
            state::PARKED => ("parked", seconds(now.saturating_sub(t.parked_at))),
            _ => ("ended", String::from("-")),
        };
        let waits = match t.state {
            state::PARKED if t.settled => waiting_on(t, snap, pid, monotonic),
            _ if !t.settled => "(switching too fast to read one moment of it)".to_string(),
            _ => String::new(),
        };
        let time = if t.settled { time } else { String::from("-") };
        let _ = writeln!(out, "{:>7}  {:<16} {:<9} {:>8}  {}", t.id, name, state, time, waits);
    }
    let c = &snap.counters;
    let stacks: u64 = snap.threads.iter().map(|t| t.stack_size).sum();
    let _ = write!(
        out,
        "switches={} hub_waits={} offloaded={} green_threads_created={} peak_green={} stack_mapped_kib={} stack_in_use_kib={} peak_stack_kib={}",
        c[abi::counter::SWITCHES],
        c[abi::counter::HUB_WAITS],
        c[abi::counter::OFFLOADED],
        c[abi::counter::GREEN_THREADS],
        c[abi::counter::PEAK_GREEN],
        snap.extra[abi::extra::STACK_BYTES] / 1024,
        stacks / 1024,
        snap.extra[abi::extra::PEAK_STACK_BYTES] / 1024,
    );
    if let Some(rate) = switch_rate {
        let _ = write!(out, " switches_per_s={rate:.0}");
    }
    out.push('\n');
    out
}

fn seconds(ns: u64) -> String {
    format!("{:.1}s", ns as f64 / 1e9)
}

fn field(t: &Thread, at: usize, len: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes[..len].copy_from_slice(&t.waiting[at..at + len]);
    u64::from_le_bytes(bytes)
}

/// What a parked thread waits on, as its record says, with the holder of a mutex and the
/// time left until its deadline.
fn waiting_on(t: &Thread, snap: &Snapshot, pid: i32, monotonic: u64) -> String {
    let address = field(t, 8, 8);
    let mut text = match t.waiting[0] {
        wait::FD => format!("{} fd {}", if t.waiting[12] != 0 { "write" } else { "read" }, field(t, 8, 4) as i32),
        wait::POLL => format!("poll on {} fds", address),
        wait::SLEEP => "sleep".to_string(),
        wait::JOIN => format!("join thread {}", address),
        wait::LOCK => format!("mutex {:#x}{}", address, holder(t.lock_owner, snap, pid)),
        wait::CHILD => format!("child pid {}", field(t, 8, 4) as i32),
        wait::OFFLOAD => match field(t, 16, 4) as i32 {
            fd if fd >= 0 => format!("{} fd {} (offloaded to a worker thread)", t.call, fd),
            _ => format!("{} (offloaded to a worker thread)", t.call),
        },
        wait::RWLOCK => {
            let how = if t.waiting[16] != 0 { "write" } else { "read" };
            let held = match (t.lock_owner, t.readers) {
                (0, 0) => String::new(),
                (0, 1) => ", read-held by 1 green thread".to_string(),
                (0, n) => format!(", read-held by {n} green threads"),
                (writer, _) => holder(writer, snap, pid),
            };
            format!("rwlock {:#x} for {}{}", address, how, held)
        }
        wait::SIGNAL => "signal (sigsuspend, pause)".to_string(),
        tag @ (wait::CONDITION | wait::SEMAPHORE | wait::FUTEX | wait::BARRIER | wait::ONCE) => {
            format!("{} {:#x}", wait::NAMES[tag as usize], address)
        }
        _ => String::new(),
    };
    if t.timed {
        let _ = write!(text, " (deadline in {})", seconds(t.deadline.saturating_sub(monotonic)));
    }
    text
}

/// ", held by thread N \"name\"" for a lock's owner tag (the main thread's tid, minus a
/// green thread's id, or a foreign OS thread's tid).
fn holder(owner: i32, snap: &Snapshot, pid: i32) -> String {
    let found = match owner {
        0 => return String::new(),
        o if o == pid => snap.threads.iter().find(|t| t.root),
        o if o < 0 => snap.threads.iter().find(|t| t.id == o.unsigned_abs() as u64),
        o => return format!(", held by OS thread {o}"),
    };
    match found {
        Some(t) if t.name.is_empty() && t.root => format!(", held by thread {} (main)", t.id),
        Some(t) if t.name.is_empty() => format!(", held by thread {}", t.id),
        Some(t) => format!(", held by thread {} \"{}\"", t.id, t.name),
        None => String::new(),
    }
}
