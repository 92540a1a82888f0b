//! What pthread_create takes from an attribute object besides the stack and the detach
//! state (hooks/thread.rs reads those), and what pthread_getattr_np reports back of it.
//!
//! glibc 2.36's pthread_create (nptl/pthread_create.c) takes, from the attribute or, when
//! there is none, from the default pthread_setattr_default_np set:
//! * with PTHREAD_EXPLICIT_SCHED, the policy and priority: EINVAL for a priority outside
//!   sched_get_priority_min/max of the policy, then what sched_setscheduler says for the new
//!   thread (EPERM without the privilege). Kept per green thread (thread_sched.rs), never
//!   applied to the shared OS thread;
//! * the affinity: what sched_setaffinity says for the new thread (EINVAL when no CPU the
//!   process may use is left). Kept per green thread too;
//! * the guard size, which pthread_getattr_np reports. The guard itself stays the one page
//!   every stack we map has (runtime/stack.rs: the coroutine's contract needs it, so a size
//!   of 0 still gets one page, and a larger one is not widened).
//!
//! pthread_getattr_np of a green thread then reports the explicit policy and priority, and
//! an affinity the thread was given, as glibc reports its own threads' (`report`).

use super::hub::Hub;
use super::thread_sched::{check_sched, entry, os_affinity, sched_of, update, MAX_MASK};
use crate::runtime::green::Green;
use core::ffi::c_int;

extern "C" {
    fn pthread_attr_getinheritsched(attr: *const libc::pthread_attr_t, inherit: *mut c_int) -> c_int;
    fn pthread_attr_setinheritsched(attr: *mut libc::pthread_attr_t, inherit: c_int) -> c_int;
    fn pthread_attr_getdetachstate(attr: *const libc::pthread_attr_t, state: *mut c_int) -> c_int;
    fn pthread_getattr_default_np(attr: *mut libc::pthread_attr_t) -> c_int;
}

/// What an attribute chose for a new green thread, checked (see the header).
pub(super) struct CreateAttr {
    pub(super) sched: Option<(c_int, c_int)>,
    pub(super) affinity: Option<Vec<u8>>,
    pub(super) guard: usize,
    /// The default attribute asks for detached threads (pthread_create had none).
    pub(super) detach: bool,
}

/// Reads and checks what `attr` (or, if null, the default attribute) asks of a new thread:
/// the error number pthread_create returns, as glibc's does, or what to keep.
///
/// # Safety
/// `attr` is null or an attribute object pthread_attr_init set up.
pub(super) unsafe fn check_create_attr(hub: Hub, attr: *const libc::pthread_attr_t) -> Result<CreateAttr, c_int> {
    if !attr.is_null() {
        // SAFETY: an initialised attribute (caller).
        return unsafe { read(hub, attr) };
    }
    if !super::thread_np::default_attr_set() {
        // glibc's own default: inherited scheduling, no affinity, a one-page guard, joinable.
        return Ok(CreateAttr { sched: None, affinity: None, guard: crate::sys::raw::page_size(), detach: false });
    }
    // SAFETY: all-zero bytes are a valid pthread_attr_t (plain data), which glibc fills.
    let mut default: libc::pthread_attr_t = unsafe { core::mem::zeroed() };
    // SAFETY: a local attribute, filled by glibc, read, then destroyed (it may hold a
    // cpuset glibc allocated).
    unsafe {
        if pthread_getattr_default_np(&mut default) != 0 {
            return Ok(CreateAttr { sched: None, affinity: None, guard: crate::sys::raw::page_size(), detach: false });
        }
        let mut state = 0;
        pthread_attr_getdetachstate(&default, &mut state);
        let result = read(hub, &default);
        libc::pthread_attr_destroy(&mut default);
        result.map(|chosen| CreateAttr { detach: state == libc::PTHREAD_CREATE_DETACHED, ..chosen })
    }
}

/// # Safety
/// `attr` is an initialised attribute object.
unsafe fn read(hub: Hub, attr: *const libc::pthread_attr_t) -> Result<CreateAttr, c_int> {
    let (mut inherit, mut policy, mut guard) = (0, 0, 0usize);
    let mut param = libc::sched_param { sched_priority: 0 };
    // As words, so that "every CPU" (no affinity) is checked a word at a time.
    let mut mask = [0u64; MAX_MASK / 8];
    // SAFETY: an initialised attribute (caller); the outputs are our locals, `mask` holds
    // MAX_MASK bytes.
    let has_mask = unsafe {
        pthread_attr_getinheritsched(attr, &mut inherit);
        libc::pthread_attr_getschedpolicy(attr, &mut policy);
        libc::pthread_attr_getschedparam(attr, &mut param);
        libc::pthread_attr_getguardsize(attr, &mut guard);
        libc::pthread_attr_getaffinity_np(attr, MAX_MASK, mask.as_mut_ptr().cast()) == 0
    };
    let sched = if inherit == libc::PTHREAD_EXPLICIT_SCHED {
        let wanted = (policy, param.sched_priority);
        // SAFETY: plain queries of numbers.
        let (min, max) = unsafe { (libc::sched_get_priority_min(policy), libc::sched_get_priority_max(policy)) };
        if min < 0 || !(min..=max).contains(&wanted.1) {
            return Err(libc::EINVAL);
        }
        check_sched(wanted, sched_of(hub, hub.current())?)?;
        Some(wanted)
    } else {
        None
    };
    // glibc reports "no affinity" as every CPU set.
    let affinity = if has_mask && mask.iter().any(|&w| w != u64::MAX) {
        let allowed = os_affinity()?;
        let bytes = mask.iter().flat_map(|w| w.to_ne_bytes());
        let usable: Vec<u8> = allowed.iter().zip(bytes).map(|(a, b)| a & b).collect();
        if usable.iter().all(|&b| b == 0) {
            return Err(libc::EINVAL);
        }
        Some(usable)
    } else {
        None
    };
    Ok(CreateAttr { sched, affinity, guard, detach: false })
}

/// A green thread was just created by the running one: it inherits its creator's policy,
/// priority and affinity, as a native thread does, except those its attribute chose
/// (`chosen`, from `check_create_attr`); it gets the guard size pthread_getattr_np reports
/// for a stack we mapped (one on the program's own stack has none, as in glibc), and the
/// default attribute's detach state.
pub(super) fn created(hub: Hub, child: *mut Green, chosen: CreateAttr) {
    // SAFETY: `child` was just created on the hub thread and is live; one plain field.
    unsafe {
        if (*child).guard_size != 0 {
            (*child).guard_size = chosen.guard;
        }
    }
    if chosen.detach {
        // SAFETY: hub thread (`hub`); `child` is in the thread table, and it has not run,
        // so it cannot be detached or ended yet.
        let _ = unsafe { crate::runtime::join::detach(child) };
    }
    let parent = entry(hub, hub.current());
    if parent.is_none() && chosen.sched.is_none() && chosen.affinity.is_none() {
        return;
    }
    let (sched, affinity) = parent.map_or((None, None), |p| (p.sched, p.affinity));
    update(hub, child, |e| {
        e.explicit = chosen.sched.is_some();
        e.sched = chosen.sched.or(sched);
        e.affinity = chosen.affinity.or(affinity);
    });
}

/// Adds to `attr`, which pthread_getattr_np filled for green thread `g`, the scheduling
/// and affinity `g` was given, as glibc reports them for its own threads.
///
/// # Safety
/// `attr` is an attribute object glibc initialised; `g` is live.
pub(super) unsafe fn report(hub: Hub, g: *mut Green, attr: *mut libc::pthread_attr_t) {
    let Some(e) = entry(hub, g) else { return };
    // SAFETY: an initialised attribute (caller); the inputs are our locals.
    unsafe {
        if let (true, Some((policy, priority))) = (e.explicit, e.sched) {
            pthread_attr_setinheritsched(attr, libc::PTHREAD_EXPLICIT_SCHED);
            libc::pthread_attr_setschedpolicy(attr, policy);
            libc::pthread_attr_setschedparam(attr, &libc::sched_param { sched_priority: priority });
        }
        if let Some(mask) = &e.affinity {
            libc::pthread_attr_setaffinity_np(attr, mask.len(), mask.as_ptr().cast());
        }
    }
}
