//! Scheduling parameters and CPU affinity of green threads: pthread_getschedparam,
//! pthread_setschedparam, pthread_setschedprio, pthread_getaffinity_np and
//! pthread_setaffinity_np. glibc would read a green thread's handle as its own descriptor
//! (and take a lock word inside our heap), so these answer for green threads here; any
//! other handle, and every call off the hub thread, goes to glibc.
//!
//! Every green thread runs on the one OS thread: applying a policy or an affinity to it
//! would change every green thread at once. So the values are kept per green thread and
//! reported back, and the OS thread's own are left alone (README.md, "pthread_t
//! functions"). A green thread that never set them reports what it inherited: its
//! creator's, and for the first ones the OS thread's, as a native thread inherits them.
//!
//! Setting checks what the kernel's sched_setscheduler checks, in its order: EINVAL for a
//! policy it does not know (SCHED_DEADLINE needs sched_setattr: EINVAL too), a priority
//! over 99, or a priority that does not fit the policy (1..99 for SCHED_FIFO and SCHED_RR,
//! 0 for the others); then, without CAP_SYS_NICE, EPERM for entering a real-time policy
//! with RLIMIT_RTPRIO 0, raising a real-time priority above both the current one and
//! RLIMIT_RTPRIO, leaving SCHED_IDLE when RLIMIT_NICE forbids the current nice value, or
//! clearing SCHED_RESET_ON_FORK. A thread that has ended is ESRCH, as glibc says.
//!
//! An affinity is checked as sched_setaffinity checks it: the set is read as the kernel
//! reads it (EFAULT for a bad pointer), cut to the CPUs this process may use (the OS
//! thread's own affinity), and EINVAL if nothing is left; getting needs a buffer size that
//! is a multiple of 8 bytes holding the kernel's mask (else EINVAL), and glibc clears the
//! rest of the buffer.

use super::hub::{Hub, HubMap};
use super::user_mem::{copy_self, read_user};
use crate::runtime::green::{Green, State};
use crate::sys::{raw, real};
use core::ffi::c_int;

const SCHED_RESET_ON_FORK: c_int = 0x4000_0000;
/// The largest mask we keep, in bytes: 8192 CPUs, CPU_SETSIZE eight times over.
pub(super) const MAX_MASK: usize = 1024;

#[derive(Clone)]
pub(super) struct Entry {
    /// The green thread's id: a record freed and reused at the same address is another one.
    id: u64,
    /// Policy (with SCHED_RESET_ON_FORK) and priority, once set or inherited.
    pub(super) sched: Option<(c_int, c_int)>,
    /// The affinity mask, as the kernel's cpumask bytes, once set or inherited.
    pub(super) affinity: Option<Vec<u8>>,
    /// Whether `sched` came from an attribute with PTHREAD_EXPLICIT_SCHED at creation
    /// (pthread_getattr_np reports it, as glibc does).
    pub(super) explicit: bool,
}

/// Per green thread values, by handle; only threads that set (or inherited) one have an
/// entry. Entries of ended threads are swept as the table grows.
static TABLE: HubMap<Entry> = HubMap::new();

/// The green thread `thread` names, or None for glibc's call.
fn green_target(thread: libc::pthread_t) -> Option<(Hub, *mut Green)> {
    let hub = Hub::here()?;
    hub.lookup(thread).map(|g| (hub, g))
}

/// `g`'s id and whether it has ended.
fn facts(g: *mut Green) -> (u64, bool) {
    // SAFETY: `g` came from Hub::lookup during the current call (every caller's source), so
    // it is live; plain field reads.
    unsafe { ((*g).id, (*g).state == State::Done) }
}

pub(super) fn entry(hub: Hub, g: *mut Green) -> Option<Entry> {
    let (id, _) = facts(g);
    TABLE.with(hub, |map| map.get(&(g as usize)).filter(|e| e.id == id).cloned())
}

pub(super) fn update(hub: Hub, g: *mut Green, change: impl FnOnce(&mut Entry)) {
    let (id, _) = facts(g);
    TABLE.with(hub, |map| {
        if map.len() >= 64 && map.len().is_power_of_two() {
            map.retain(|&handle, e| hub.lookup(handle as libc::pthread_t).is_some_and(|live| facts(live).0 == e.id));
        }
        let slot = map.entry(g as usize).or_insert(Entry { id, sched: None, affinity: None, explicit: false });
        if slot.id != id {
            *slot = Entry { id, sched: None, affinity: None, explicit: false };
        }
        change(slot);
    });
}

fn syscall_result(r: isize) -> Result<usize, c_int> {
    if r < 0 {
        Err(-r as c_int)
    } else {
        Ok(r as usize)
    }
}

/// The OS thread's own policy (with SCHED_RESET_ON_FORK) and priority.
fn os_sched() -> Result<(c_int, c_int), c_int> {
    // SAFETY: sched_getscheduler(0) reads no memory.
    let policy = syscall_result(unsafe { raw::syscall6(libc::SYS_sched_getscheduler, [0; 6]) })?;
    let mut param = libc::sched_param { sched_priority: 0 };
    let address = &mut param as *mut libc::sched_param as usize;
    // SAFETY: sched_getparam writes one sched_param, our local.
    syscall_result(unsafe { raw::syscall6(libc::SYS_sched_getparam, [0, address, 0, 0, 0, 0]) })?;
    Ok((policy as c_int, param.sched_priority))
}

pub(super) fn sched_of(hub: Hub, g: *mut Green) -> Result<(c_int, c_int), c_int> {
    match entry(hub, g).and_then(|e| e.sched) {
        Some(values) => Ok(values),
        None => os_sched(),
    }
}

fn is_rt(policy: c_int) -> bool {
    policy == libc::SCHED_FIFO || policy == libc::SCHED_RR
}

/// What sched_setscheduler would say to `wanted` (policy with its flag, priority) for a
/// thread whose values are `now`: Ok or the error number (see the header).
pub(super) fn check_sched(wanted: (c_int, c_int), now: (c_int, c_int)) -> Result<(), c_int> {
    // Ours, not the program's: never trapped (sys/own_calls.rs).
    let _own = crate::sys::own_calls::own_calls();
    let (policy, priority) = (wanted.0 & !SCHED_RESET_ON_FORK, wanted.1);
    let known = [libc::SCHED_OTHER, libc::SCHED_FIFO, libc::SCHED_RR, libc::SCHED_BATCH, libc::SCHED_IDLE];
    if wanted.0 < 0 || !known.contains(&policy) || priority as u32 > 99 || is_rt(policy) != (priority != 0) {
        return Err(libc::EINVAL);
    }
    let capable = rustix::thread::capabilities(None)
        .is_ok_and(|sets| sets.effective.contains(rustix::thread::CapabilitySet::SYS_NICE));
    if capable {
        return Ok(());
    }
    let limit = |resource| rustix::process::getrlimit(resource).current.unwrap_or(u64::MAX);
    let (old_policy, old_priority) = (now.0 & !SCHED_RESET_ON_FORK, now.1);
    if is_rt(policy) {
        let rtprio = limit(rustix::process::Resource::Rtprio);
        let raising = priority > old_priority && priority as u64 > rtprio;
        if (policy != old_policy && rtprio == 0) || raising {
            return Err(libc::EPERM);
        }
    }
    if old_policy == libc::SCHED_IDLE && policy != libc::SCHED_IDLE {
        // can_nice: 20 - nice must be within RLIMIT_NICE; the raw getpriority is 20 - nice.
        // SAFETY: getpriority reads no memory.
        let rlim_of_nice = unsafe { raw::syscall6(libc::SYS_getpriority, [libc::PRIO_PROCESS as usize, 0, 0, 0, 0, 0]) };
        if rlim_of_nice as u64 > limit(rustix::process::Resource::Nice) {
            return Err(libc::EPERM);
        }
    }
    if now.0 & SCHED_RESET_ON_FORK != 0 && wanted.0 & SCHED_RESET_ON_FORK == 0 {
        return Err(libc::EPERM);
    }
    Ok(())
}

/// Checks and keeps `wanted` for `g`; glibc's return value.
fn set_sched(hub: Hub, g: *mut Green, wanted: (c_int, c_int)) -> c_int {
    if facts(g).1 {
        return libc::ESRCH;
    }
    let result = sched_of(hub, g).and_then(|now| check_sched(wanted, now));
    match result {
        Ok(()) => {
            update(hub, g, |e| e.sched = Some(wanted));
            0
        }
        Err(e) => e,
    }
}

/// # Safety
/// As for glibc's pthread_getschedparam: `policy` and `param` are writable.
#[no_mangle]
pub unsafe extern "C" fn pthread_getschedparam(
    thread: libc::pthread_t,
    policy: *mut c_int,
    param: *mut libc::sched_param,
) -> c_int {
    let Some((hub, g)) = green_target(thread) else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::pthread_getschedparam(thread, policy, param) };
    };
    if facts(g).1 {
        return libc::ESRCH;
    }
    match sched_of(hub, g) {
        Ok((p, priority)) => {
            // SAFETY: writable (caller).
            unsafe {
                *policy = p;
                (*param).sched_priority = priority;
            }
            0
        }
        Err(_) => 1,
    }
}

/// # Safety
/// As for glibc's pthread_setschedparam: `param` is null (EINVAL, as the kernel says) or
/// readable.
#[no_mangle]
pub unsafe extern "C" fn pthread_setschedparam(
    thread: libc::pthread_t,
    policy: c_int,
    param: *const libc::sched_param,
) -> c_int {
    let Some((hub, g)) = green_target(thread) else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::pthread_setschedparam(thread, policy, param) };
    };
    if param.is_null() {
        return if facts(g).1 { libc::ESRCH } else { libc::EINVAL };
    }
    // SAFETY: read_user checks the pointer itself (a bad one: the kernel's EFAULT).
    let Some(param) = (unsafe { read_user(param) }) else { return libc::EFAULT };
    set_sched(hub, g, (policy, param.sched_priority))
}

/// # Safety
/// None beyond glibc's: the arguments are numbers.
#[no_mangle]
pub unsafe extern "C" fn pthread_setschedprio(thread: libc::pthread_t, priority: c_int) -> c_int {
    let Some((hub, g)) = green_target(thread) else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::pthread_setschedprio(thread, priority) };
    };
    if facts(g).1 {
        return libc::ESRCH;
    }
    match sched_of(hub, g) {
        Ok((policy, _)) => set_sched(hub, g, (policy, priority)),
        Err(e) => e,
    }
}

/// The OS thread's affinity as the kernel's mask bytes (its length is the kernel's mask size).
pub(super) fn os_affinity() -> Result<Vec<u8>, c_int> {
    let mut mask = vec![0u8; MAX_MASK];
    let args = [0, MAX_MASK, mask.as_mut_ptr() as usize, 0, 0, 0];
    // SAFETY: sched_getaffinity writes at most MAX_MASK bytes into `mask`.
    let size = syscall_result(unsafe { raw::syscall6(libc::SYS_sched_getaffinity, args) })?;
    mask.truncate(size);
    Ok(mask)
}

fn affinity_of(hub: Hub, g: *mut Green) -> Result<Vec<u8>, c_int> {
    let allowed = os_affinity()?;
    Ok(match entry(hub, g).and_then(|e| e.affinity) {
        Some(mask) => mask.iter().zip(&allowed).map(|(a, b)| a & b).collect(),
        None => allowed,
    })
}

/// Copies `length` bytes between our `local` and the program's `user` memory (the direction
/// is `nr`'s), as the kernel's copy from or to user memory does; false where it would say
/// EFAULT.
///
/// # Safety
/// `local` is valid for `length` bytes of the transfer's direction; if process_vm_readv and
/// process_vm_writev are forbidden, `user` must be valid too, as the real call needs it.
unsafe fn transfer(nr: libc::c_long, local: *mut u8, user: *mut u8, length: usize) -> bool {
    // SAFETY: `local` is valid for `length` bytes (caller); the kernel checks `user`.
    match unsafe { copy_self(nr, local.cast(), user.cast(), length) } {
        None => false,
        Some(true) => true,
        Some(false) => {
            let (from, to) = if nr == libc::SYS_process_vm_readv { (user, local) } else { (local, user) };
            // SAFETY: the syscall is forbidden, so both are valid (caller).
            unsafe { core::ptr::copy_nonoverlapping(from, to, length) };
            true
        }
    }
}

/// # Safety
/// As for glibc's pthread_setaffinity_np: `set` holds `size` readable bytes (a bad pointer
/// is the kernel's EFAULT).
#[no_mangle]
pub unsafe extern "C" fn pthread_setaffinity_np(
    thread: libc::pthread_t,
    size: usize,
    set: *const libc::cpu_set_t,
) -> c_int {
    let Some((hub, g)) = green_target(thread) else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::pthread_setaffinity_np(thread, size, set) };
    };
    if facts(g).1 {
        return libc::ESRCH;
    }
    let allowed = match os_affinity() {
        Ok(mask) => mask,
        Err(e) => return e,
    };
    // The kernel reads up to its mask size and takes missing bytes as zero.
    let mut wanted = vec![0u8; allowed.len()];
    let length = size.min(wanted.len());
    // SAFETY: `wanted` has room for `length` bytes; the program's pointer is checked.
    if !unsafe { transfer(libc::SYS_process_vm_readv, wanted.as_mut_ptr(), set as *mut u8, length) } {
        return libc::EFAULT;
    }
    let usable: Vec<u8> = wanted.iter().zip(&allowed).map(|(a, b)| a & b).collect();
    if usable.iter().all(|&b| b == 0) {
        return libc::EINVAL;
    }
    update(hub, g, |e| e.affinity = Some(usable));
    0
}

/// # Safety
/// As for glibc's pthread_getaffinity_np: `set` has room for `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn pthread_getaffinity_np(
    thread: libc::pthread_t,
    size: usize,
    set: *mut libc::cpu_set_t,
) -> c_int {
    let Some((hub, g)) = green_target(thread) else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::pthread_getaffinity_np(thread, size, set) };
    };
    if facts(g).1 {
        return libc::ESRCH;
    }
    let mask = match affinity_of(hub, g) {
        Ok(mask) => mask,
        Err(e) => return e,
    };
    let size = size.min(i32::MAX as usize);
    if !size.is_multiple_of(8) || size < mask.len() {
        return libc::EINVAL;
    }
    // SAFETY: `mask` holds `mask.len()` bytes; the program's pointer is checked.
    if !unsafe { transfer(libc::SYS_process_vm_writev, mask.as_ptr() as *mut u8, set as *mut u8, mask.len()) } {
        return libc::EFAULT;
    }
    // SAFETY: `set` has room for `size` bytes (caller), and `mask.len()` <= `size`.
    unsafe { core::ptr::write_bytes((set as *mut u8).add(mask.len()), 0, size - mask.len()) };
    0
}
