//! One consistent look at a greened process from outside, through process_vm_readv (the
//! kernel allows it to the process's owner or root, as ptrace): the root, the thread table,
//! each record, the counters. The target is never stopped, signalled or written to.

use super::abi::{self, word};
use std::collections::HashSet;
use std::io;

/// The fields of one record `green ps` shows.
#[derive(PartialEq)]
pub struct Thread {
    pub id: u64,
    pub state: u8,
    /// `waiting_on` as its bytes: the tag, then the variant's fields from offset 8.
    pub waiting: [u8; abi::wait::BYTES],
    pub name: String,
    pub stack_size: u64,
    /// CLOCK_MONOTONIC ns, when `timed`.
    pub deadline: u64,
    pub timed: bool,
    pub parked_at: u64,
    pub root: bool,
    /// For a thread waiting on a mutex: the mutex's `__owner` word; on a rwlock: the green
    /// writer's owner tag.
    pub lock_owner: i32,
    /// For a thread waiting on a rwlock: the read holds green threads have of it.
    pub readers: u32,
    /// For a thread waiting for an offloaded call: the call's name.
    pub call: String,
    /// Whether two reads in a row agreed on its fields (false: it kept switching while we
    /// read it, and only its state byte, one aligned byte, is of one moment).
    pub settled: bool,
}

/// Reads of a record until two in a row agree, at most.
const SETTLE_READS: usize = 8;

pub struct Snapshot {
    pub threads: Vec<Thread>,
    pub counters: [u64; abi::counter::COUNT],
    pub extra: [u64; abi::extra::COUNT],
}

/// Copies `len` bytes at `remote` in `pid`.
fn read(pid: i32, remote: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let local = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: len };
    let remote = libc::iovec { iov_base: remote as *mut libc::c_void, iov_len: len };
    // SAFETY: `local` describes our own buffer of `len` bytes; the remote range is only read.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    match n {
        n if n < 0 => Err(io::Error::last_os_error()),
        n if n as usize != len => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
        _ => Ok(buf),
    }
}

/// Copies many equal-sized remote ranges into one buffer, in batches of 1024 iovecs; a
/// range that cannot be read (its record was freed and unmapped meanwhile) reads as zeros.
fn read_many(pid: i32, addresses: &[u64], len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; addresses.len() * len];
    let mut done = 0;
    while done < addresses.len() {
        let batch = &addresses[done..addresses.len().min(done + 1024)];
        let local = libc::iovec { iov_base: buf[done * len..].as_mut_ptr().cast(), iov_len: batch.len() * len };
        let remote: Vec<libc::iovec> =
            batch.iter().map(|&a| libc::iovec { iov_base: a as *mut libc::c_void, iov_len: len }).collect();
        // SAFETY: `local` lies within our buffer (batch.len() * len bytes from done * len);
        // the remote ranges are only read.
        let n = unsafe { libc::process_vm_readv(pid, &local, 1, remote.as_ptr(), remote.len() as u64, 0) };
        // A short read stops at the first range that failed: skip it and go on after it.
        let whole = if n <= 0 { 0 } else { n as usize / len };
        done += whole + usize::from(whole < batch.len());
    }
    buf
}

fn word_of(bytes: &[u8], index: usize) -> u64 {
    u64::from_ne_bytes(bytes[index * 8..index * 8 + 8].try_into().unwrap_or_default())
}

fn words<const N: usize>(pid: i32, address: u64) -> io::Result<[u64; N]> {
    let bytes = read(pid, address, N * 8)?;
    Ok(core::array::from_fn(|i| word_of(&bytes, i)))
}

/// The root's words, checked for the magic and the version we decode.
pub fn root(pid: i32, address: u64) -> Result<[u64; word::COUNT], String> {
    let words = words::<{ word::COUNT }>(pid, address).map_err(|e| describe_error(pid, &e))?;
    if words[word::MAGIC] != abi::MAGIC || words[word::VERSION] != abi::VERSION {
        return Err(format!("process {pid}: libgreen has not started there, or is a version this green cannot read"));
    }
    Ok(words)
}

/// The table's slots and the root's words around that read, until they agree.
fn slots(pid: i32, root_at: u64) -> Result<([u64; word::COUNT], Vec<u64>), String> {
    for _ in 0..20 {
        let before = root(pid, root_at)?;
        let len = before[word::TABLE_LEN] as usize;
        let table = read(pid, before[word::TABLE], len * 8);
        let after = root(pid, root_at)?;
        let stable = before[word::SEQ] % 2 == 0 && before[word::SEQ] == after[word::SEQ];
        if let (true, Ok(table)) = (stable, table) {
            return Ok((after, (0..len).map(|i| word_of(&table, i)).collect()));
        }
    }
    Err(format!("process {pid}: its thread table kept moving; try again"))
}

/// Takes the snapshot: records read until two reads in a row agree on each (a record's
/// fields are not copied at one instant; two equal copies show one moment of it), kept
/// only where the slot still names the same record afterwards (a thread that ended or
/// started meanwhile is left out).
pub fn take(pid: i32, root_at: u64) -> Result<Snapshot, String> {
    let (root, table) = slots(pid, root_at)?;
    let live: Vec<u64> = table.iter().copied().filter(|&a| a != 0).collect();
    let mut threads = settled_records(pid, &root, &live);
    let (_, again) = slots(pid, root_at)?;
    let again: HashSet<u64> = again.into_iter().collect();
    threads.retain(|(address, t)| again.contains(address) && t.id != 0);
    let mut threads: Vec<Thread> = threads.into_iter().map(|(_, t)| t).collect();
    threads.sort_by_key(|t| t.id);
    for t in threads.iter_mut().filter(|t| t.state == abi::state::PARKED) {
        follow_pointers(pid, t);
    }
    Ok(Snapshot {
        threads,
        counters: words(pid, root[word::COUNTERS]).map_err(|e| describe_error(pid, &e))?,
        extra: words(pid, root[word::EXTRA]).map_err(|e| describe_error(pid, &e))?,
    })
}

/// What a parked thread's wait points at: a mutex's owner, a rwlock's green holders, an
/// offloaded call's name. Each is one more read; what cannot be read is left empty.
fn follow_pointers(pid: i32, t: &mut Thread) {
    let word = |at: usize| u64::from_ne_bytes(t.waiting[at..at + 8].try_into().unwrap_or_default());
    let i32_at = |b: &[u8], at: usize| i32::from_ne_bytes(b[at..at + 4].try_into().unwrap_or_default());
    match t.waiting[0] {
        abi::wait::LOCK => t.lock_owner = read(pid, word(8) + 8, 4).map_or(0, |b| i32_at(&b, 0)),
        abi::wait::RWLOCK => {
            if let Ok(b) = read(pid, word(24), 8) {
                t.lock_owner = i32_at(&b, abi::rwlock::WRITER);
                t.readers = i32_at(&b, abi::rwlock::READERS) as u32;
            }
        }
        abi::wait::OFFLOAD => {
            // The name is short; a read that would cross into an unmapped page is retried
            // shorter.
            let name = [32, 8].iter().find_map(|&len| read(pid, word(8), len).ok()).unwrap_or_default();
            let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            t.call = String::from_utf8_lossy(&name[..len]).into_owned();
        }
        _ => {}
    }
}

/// The records at `live`, decoded, each read again (with the others that changed, in one
/// batch) until two reads in a row agree, at most [`SETTLE_READS`] times. The target does
/// nothing for this: a seqlock per record would cost its switch path two stores.
fn settled_records(pid: i32, root: &[u64; word::COUNT], live: &[u64]) -> Vec<(u64, Thread)> {
    let offsets = [word::OFF_ID, word::OFF_STATE, word::OFF_WAITING, word::OFF_NAME, word::OFF_STACK_SIZE, word::OFF_DEADLINE, word::OFF_TIMER_SLOT, word::OFF_PARKED_AT];
    let low = offsets.iter().map(|&w| root[w]).min().unwrap_or(0);
    let high = offsets.iter().map(|&w| root[w] + abi::wait::BYTES as u64).max().unwrap_or(0).min(root[word::RECORD_SIZE]);
    let len = (high - low) as usize;
    let read_at = |indices: &[usize]| {
        let bytes = read_many(pid, &indices.iter().map(|&i| live[i] + low).collect::<Vec<_>>(), len);
        indices.iter().enumerate().map(|(k, &i)| decode(&bytes[k * len..(k + 1) * len], root, low, live[i])).collect::<Vec<_>>()
    };
    let all: Vec<usize> = (0..live.len()).collect();
    let mut threads = read_at(&all);
    let mut unsettled = all;
    for _ in 1..SETTLE_READS {
        if unsettled.is_empty() {
            break;
        }
        let fresh = read_at(&unsettled);
        let mut still = Vec::new();
        for (t, &i) in fresh.into_iter().zip(&unsettled) {
            if t != threads[i] {
                threads[i] = t;
                still.push(i);
            }
        }
        unsettled = still;
    }
    for &i in &unsettled {
        threads[i].settled = false;
    }
    live.iter().copied().zip(threads).collect()
}

fn decode(record: &[u8], root: &[u64; word::COUNT], low: u64, address: u64) -> Thread {
    let at = |w: usize| (root[w] - low) as usize;
    let u64_at = |w: usize| u64::from_ne_bytes(record[at(w)..at(w) + 8].try_into().unwrap_or_default());
    let name_bytes = &record[at(word::OFF_NAME)..at(word::OFF_NAME) + 16];
    let name_len = name_bytes.iter().position(|&b| b == 0).unwrap_or(16);
    Thread {
        id: u64_at(word::OFF_ID),
        state: record[at(word::OFF_STATE)],
        waiting: record[at(word::OFF_WAITING)..at(word::OFF_WAITING) + abi::wait::BYTES]
            .try_into()
            .unwrap_or([0; abi::wait::BYTES]),
        name: String::from_utf8_lossy(&name_bytes[..name_len]).into_owned(),
        stack_size: u64_at(word::OFF_STACK_SIZE),
        deadline: u64_at(word::OFF_DEADLINE),
        timed: u64_at(word::OFF_TIMER_SLOT) != u64::MAX,
        parked_at: u64_at(word::OFF_PARKED_AT),
        root: address == root[word::ROOT_THREAD],
        lock_owner: 0,
        readers: 0,
        call: String::new(),
        settled: true,
    }
}

/// One line saying why a process cannot be read, with the fix where there is one.
pub fn describe_error(pid: i32, e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ESRCH) | Some(libc::ENOENT) => format!("no process {pid}"),
        Some(libc::EPERM) | Some(libc::EACCES) => {
            let yama = std::fs::read_to_string(abi::YAMA).map(|s| s.trim().to_string()).unwrap_or_default();
            let hint = match yama.as_str() {
                "1" | "2" => format!(
                    "; kernel.yama.ptrace_scope={yama} lets only a parent (or root) read it: run as root, or `sysctl kernel.yama.ptrace_scope=0`"
                ),
                "3" => "; kernel.yama.ptrace_scope=3 forbids it until reboot".to_string(),
                _ => String::new(),
            };
            format!("cannot read process {pid}: permission denied (only its owner or root may){hint}")
        }
        _ => format!("cannot read process {pid}: {e}"),
    }
}
