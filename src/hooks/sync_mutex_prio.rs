//! Priority-protect ceilings (PTHREAD_PRIO_PROTECT) of the mutexes sync_mutex_kinds.rs
//! locks green, as glibc's nptl/tpp.c keeps them.
//!
//! glibc counts, per thread, the ceilings of the PP mutexes it holds or waits for, and
//! keeps the thread's priority at the highest one with sched_setscheduler in the thread's
//! own policy; a lock is EINVAL when the thread's priority is above the ceiling. Here the
//! counts are per green thread, but the priority is the one OS thread's, which runs every
//! green thread: its policy and priority as they were when a PP mutex was first locked are
//! the base every green thread is measured against, and a ceiling raises the OS thread
//! (so every green thread) until no green thread needs it. Under SCHED_OTHER the kernel
//! refuses any such priority, so, as natively, a thread's first PP lock is EINVAL and the
//! later ones succeed (glibc has counted the ceiling already).

use super::hub::{Hub, HubMap};
use crate::sys::raw;
use core::ffi::c_int;

/// The highest ceiling a green thread's counts name, and the counts from SCHED_FIFO's
/// lowest priority up.
struct Tpp {
    priomax: i32,
    counts: Vec<u32>,
}

/// Per green thread (by ident); key BASE holds the OS thread's base (policy, priority) as
/// a Tpp whose `priomax` is the policy and `counts[0]` the priority.
static TPP: HubMap<Tpp> = HubMap::new();
const BASE: usize = usize::MAX;

fn syscall_value(nr: libc::c_long, a: [usize; 6]) -> Result<i32, c_int> {
    // SAFETY: the callers pass arguments the call expects: policies by value, or one
    // sched_param they own.
    let r = unsafe { raw::syscall6(nr, a) };
    if r < 0 {
        Err(-r as c_int)
    } else {
        Ok(r as i32)
    }
}

/// SCHED_FIFO's priority range (glibc's __sched_fifo_min_prio and max).
pub(super) fn fifo_range() -> (i32, i32) {
    let fifo = libc::SCHED_FIFO as usize;
    let min = syscall_value(libc::SYS_sched_get_priority_min, [fifo, 0, 0, 0, 0, 0]).unwrap_or(1);
    let max = syscall_value(libc::SYS_sched_get_priority_max, [fifo, 0, 0, 0, 0, 0]).unwrap_or(99);
    (min, max)
}

/// The OS thread's (policy, priority) before any ceiling raised it.
fn base(hub: Hub) -> (c_int, c_int) {
    let known = TPP.with(hub, |t| t.get(&BASE).map(|b| (b.priomax, b.counts[0] as i32)));
    known.unwrap_or_else(|| {
        let policy = syscall_value(libc::SYS_sched_getscheduler, [0; 6]).unwrap_or(libc::SCHED_OTHER);
        let mut param = libc::sched_param { sched_priority: 0 };
        let address = &mut param as *mut libc::sched_param as usize;
        let _ = syscall_value(libc::SYS_sched_getparam, [0, address, 0, 0, 0, 0]);
        let value = Tpp { priomax: policy, counts: vec![param.sched_priority as u32] };
        TPP.with(hub, |t| t.insert(BASE, value));
        (policy, param.sched_priority)
    })
}

/// Counts `new` in and `previous` out (-1: none) of `me`'s ceilings and moves the OS
/// thread's priority as glibc's __pthread_tpp_change_priority does: 0 or an error number.
pub(super) fn change(hub: Hub, me: i32, previous: i32, new: i32) -> c_int {
    let (min, max) = fifo_range();
    let in_range = |p: i32| p == -1 || (min..=max).contains(&p);
    if !in_range(previous) || !in_range(new) {
        return libc::EINVAL;
    }
    let moved = TPP.with(hub, |t| {
        let slots = (max - min + 1) as usize;
        let tpp = t.entry(me as usize).or_insert_with(|| Tpp { priomax: min - 1, counts: vec![0; slots] });
        let (priomax, mut newmax) = (tpp.priomax, tpp.priomax);
        if new != -1 {
            let slot = &mut tpp.counts[(new - min) as usize];
            if *slot == u32::MAX {
                return Err(libc::EAGAIN);
            }
            *slot += 1;
            newmax = newmax.max(new);
        }
        if previous != -1 {
            let slot = &mut tpp.counts[(previous - min) as usize];
            *slot = slot.wrapping_sub(1);
            if *slot == 0 && priomax == previous && previous > new {
                newmax = (min..previous).rev().find(|&p| tpp.counts[(p - min) as usize] != 0).unwrap_or(min - 1);
            }
        }
        tpp.priomax = newmax;
        Ok((priomax != newmax).then_some((priomax, newmax)))
    });
    match moved {
        Err(e) => e,
        Ok(None) => 0,
        Ok(Some((priomax, newmax))) => apply(hub, priomax, newmax),
    }
}

/// Sets the OS thread's priority for a new highest ceiling, as glibc does for a thread.
fn apply(hub: Hub, priomax: i32, newmax: i32) -> c_int {
    let (policy, priority) = base(hub);
    if priority >= newmax && priority >= priomax {
        return 0;
    }
    let param = libc::sched_param { sched_priority: priority.max(newmax) };
    let address = &param as *const libc::sched_param as usize;
    match syscall_value(libc::SYS_sched_setscheduler, [0, policy as usize, address, 0, 0, 0]) {
        Ok(_) => 0,
        Err(e) => e,
    }
}

/// Before locking a PP mutex with `ceiling`: EINVAL when the thread's priority is above
/// it, else the ceiling is counted (and the priority raised).
pub(super) fn raise(hub: Hub, me: i32, ceiling: i32) -> Result<(), c_int> {
    if base(hub).1 > ceiling {
        return Err(libc::EINVAL);
    }
    match change(hub, me, -1, ceiling) {
        0 => Ok(()),
        e => Err(e),
    }
}

/// After unlocking a PP mutex with `ceiling` (or failing to lock it): 0 or an error number.
pub(super) fn lower(hub: Hub, me: i32, ceiling: i32) -> c_int {
    change(hub, me, ceiling, -1)
}

/// A green thread ended: its counts go.
pub(super) fn forget(hub: Hub, me: i32) {
    TPP.with(hub, |t| t.remove(&(me as usize)));
}

