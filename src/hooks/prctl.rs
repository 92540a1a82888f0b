//! prctl(2), for the one pair of options that speak of "the calling thread" in a way green
//! threads change: PR_SET_NAME and PR_GET_NAME, the other common way C programs name their
//! threads (README.md, Diagnostics). Every other option goes to the kernel as it came.
//!
//! Natively they name the calling OS thread (its `comm`, /proc/self/task/TID/comm). Greened,
//! a green thread other than the main one gets the name in its record, as
//! pthread_setname_np gives it (thread_extra.rs): `green ps`, the deadlock report and the
//! other messages show it, and PR_GET_NAME reads it back. The OS thread's `comm` is left
//! alone: every green thread shares that OS thread, and its name is the process's in `ps`
//! and `top`. The main thread names itself through the kernel, as natively, which renames
//! the process as it would. A green thread never named reads the OS thread's name, which
//! is what a new native thread inherits. Off the hub thread everything is the kernel's.

use super::hub::Hub;
use super::user_mem::{read_user, write_user};
use crate::runtime::green::Green;
use crate::sys::{errno, raw};
use core::ffi::{c_int, c_ulong};

/// The kernel's TASK_COMM_LEN: 15 bytes and a NUL.
const NAME_LEN: usize = 16;

/// prctl(option, ...): the variadic arguments are read as the four register words after
/// `option`, which is how the C ABI passes them (ARCHITECTURE.md, Adding a hook).
///
/// # Safety
/// As for prctl(2): the arguments are what `option` wants (pointers point to memory of the
/// size it uses).
#[no_mangle]
pub unsafe extern "C" fn prctl(option: c_int, arg2: c_ulong, arg3: c_ulong, arg4: c_ulong, arg5: c_ulong) -> c_int {
    if option == libc::PR_SET_NAME || option == libc::PR_GET_NAME {
        if let Some((hub, g)) = calling_green_thread() {
            return if option == libc::PR_SET_NAME {
                // SAFETY: `g` is the running thread (live); `arg2` is the caller's string.
                unsafe { set_name(hub, g, arg2 as *const u8) }
            } else {
                // SAFETY: as above; `arg2` is the caller's 16-byte buffer.
                unsafe { get_name(g, arg2 as *mut [u8; NAME_LEN]) }
            };
        }
    }
    let args = [option as usize, arg2 as usize, arg3 as usize, arg4 as usize, arg5 as usize, 0];
    // SAFETY: the program's own arguments, passed on as it gave them (the caller's promise).
    let r = unsafe { raw::syscall6(libc::SYS_prctl, args) };
    if r < 0 {
        return errno::fail(-r as i32);
    }
    r as c_int
}

/// The running green thread when it is not the main one, with the proof of the hub.
fn calling_green_thread() -> Option<(Hub, *mut Green)> {
    let hub = Hub::here()?;
    let g = hub.current();
    (g != hub.root()).then_some((hub, g))
}

/// PR_SET_NAME for green thread `g`: up to 15 bytes of `name`, silently cut, as the kernel
/// does; EFAULT where the kernel would fault.
///
/// # Safety
/// `g` is the running green thread; `name` is the caller's argument.
unsafe fn set_name(_hub: Hub, g: *mut Green, name: *const u8) -> c_int {
    // SAFETY: plain bytes; read through the kernel's checks, so a bad pointer is EFAULT.
    let Some(bytes) = (unsafe { read_name(name) }) else { return errno::fail(libc::EFAULT) };
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(NAME_LEN - 1);
    let mut stored = [0u8; NAME_LEN];
    stored[..len].copy_from_slice(&bytes[..len]);
    if len == 0 {
        // An empty name, told apart from "never named" (thread_extra.rs).
        stored[1] = 1;
    }
    // SAFETY: the running thread's record is live; only the hub thread (`_hub`) touches it.
    unsafe { (*g).name = stored };
    0
}

/// The caller's string, up to NAME_LEN bytes: in one read, or byte by byte when its end
/// lies just before memory that cannot be read (the kernel stops at the NUL too).
///
/// # Safety
/// None beyond the kernel's: the reads are checked.
unsafe fn read_name(name: *const u8) -> Option<[u8; NAME_LEN]> {
    // SAFETY: plain bytes, read through process_vm_readv (EFAULT-checked).
    if let Some(whole) = unsafe { read_user(name as *const [u8; NAME_LEN]) } {
        return Some(whole);
    }
    let mut bytes = [0u8; NAME_LEN];
    for (i, slot) in bytes.iter_mut().enumerate().take(NAME_LEN - 1) {
        // SAFETY: as above, one byte at a time.
        *slot = unsafe { read_user(name.wrapping_add(i)) }?;
        if *slot == 0 {
            break;
        }
    }
    Some(bytes)
}

/// PR_GET_NAME for green thread `g`: its name, or the OS thread's when it was never named.
///
/// # Safety
/// `g` is the running green thread; `buf` is the caller's argument.
unsafe fn get_name(g: *mut Green, buf: *mut [u8; NAME_LEN]) -> c_int {
    // SAFETY: the running thread's record is live; a copy of a plain field.
    let mut name = unsafe { (*g).name };
    if name == [0u8; NAME_LEN] {
        let args = [libc::PR_GET_NAME as usize, buf as usize, 0, 0, 0, 0];
        // SAFETY: the kernel checks and fills the caller's 16-byte buffer.
        return errno::from_syscall(unsafe { raw::syscall6(libc::SYS_prctl, args) });
    }
    if name[0] == 0 {
        name = [0; NAME_LEN];
    }
    // SAFETY: checked by the kernel (EFAULT rather than a fault).
    if unsafe { write_user(buf, name) } {
        0
    } else {
        errno::fail(libc::EFAULT)
    }
}
