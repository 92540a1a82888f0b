//! Joining, detaching and identifying green threads (pthread_join, pthread_detach, lock
//! owner tags).

use super::green::{current, park, release, Green, State, WaitingOn};
use super::rt;
use core::ffi::c_void;

/// The green thread behind a pthread_t, if it is one of ours.
///
/// # Safety
/// Hub thread only.
pub unsafe fn lookup(handle: libc::pthread_t) -> Option<*mut Green> {
    rt().threads.get(&handle).copied()
}

/// pthread_join: waits for `target` to end and reclaims it. Err(errno) as glibc reports.
///
/// # Safety
/// Hub thread only; `target` came from `lookup`.
pub unsafe fn join(target: *mut Green) -> Result<*mut c_void, i32> {
    let me = current();
    if target == me || (*me).joiner == target {
        return Err(libc::EDEADLK);
    }
    if (*target).detached || !(*target).joiner.is_null() {
        return Err(libc::EINVAL);
    }
    if (*target).state != State::Done {
        (*target).joiner = me;
        // finish() wakes us; the loop guards against any other wake-up.
        loop {
            park(None, WaitingOn::Join { id: (*target).id });
            if (*target).state == State::Done {
                break;
            }
        }
    }
    let retval = (*target).retval;
    if target != rt().root {
        release(target);
    }
    Ok(retval)
}

/// pthread_detach: Err(errno) as glibc reports.
///
/// # Safety
/// Hub thread only; `target` came from `lookup`.
pub unsafe fn detach(target: *mut Green) -> Result<(), i32> {
    if (*target).detached {
        return Err(libc::EINVAL);
    }
    (*target).detached = true;
    if (*target).state == State::Done && target != rt().root {
        release(target);
    }
    Ok(())
}

/// The value glibc-compatible lock words store as owner: the kernel tid for the root (so a
/// lock taken before the runtime started still belongs to it) and a negative id for other
/// green threads, which no kernel tid can equal.
///
/// # Safety
/// `g` is live.
pub unsafe fn owner_tag(g: *mut Green) -> i32 {
    let rt = rt();
    if g == rt.root {
        rt.root_tid
    } else {
        -((*g).id as i32 & i32::MAX)
    }
}
