//! Reading and writing the caller's memory without faulting, for the few arguments a hook
//! must read before any real call has checked them (recvmsg's header with MSG_WAITALL,
//! recvmmsg's and epoll_pwait2's timeouts, select's fd sets): where the native call answers
//! EFAULT, so do we, instead of dying of SIGSEGV.

use crate::sys::raw;
use core::ffi::{c_long, c_void};
use libc::iovec;

/// process_vm_readv/process_vm_writev on ourselves: the kernel checks the caller's pointer
/// and answers EFAULT where a plain access would fault. Returns None for EFAULT; where the
/// syscall is not allowed (some seccomp filters), Some(false), and the caller accesses the
/// memory directly.
///
/// # Safety
/// `local` is valid for `size` bytes of the transfer's direction (written by a read, read
/// by a write); `remote` may be anything.
pub(super) unsafe fn copy_self(
    nr: c_long,
    local: *mut c_void,
    remote: *mut c_void,
    size: usize,
) -> Option<bool> {
    let pid = crate::sys::raw::getpid() as usize;
    let local = iovec { iov_base: local, iov_len: size };
    let remote = iovec { iov_base: remote, iov_len: size };
    let (local_ptr, remote_ptr) = (&local as *const iovec as usize, &remote as *const iovec as usize);
    // SAFETY: both iovecs live across the call; the kernel checks `remote` itself, and
    // `local` is valid for `size` bytes (the caller's promise).
    let result = unsafe { raw::syscall6(nr, [pid, local_ptr, 1, remote_ptr, 1, 0]) };
    if result == size as isize {
        Some(true)
    } else if result >= 0 || result == -(libc::EFAULT as isize) {
        None
    } else {
        Some(false)
    }
}

/// A copy of the caller's `*src`, or None where the real call would say EFAULT.
///
/// # Safety
/// `T` is plain data (any bit pattern of its size is a value); if process_vm_readv is
/// forbidden, `src` must be readable, as the real call would need it to be.
pub(super) unsafe fn read_user<T: Copy>(src: *const T) -> Option<T> {
    let mut value = core::mem::MaybeUninit::<T>::uninit();
    let size = core::mem::size_of::<T>();
    let to = value.as_mut_ptr() as *mut c_void;
    // SAFETY: `value` is writable for size_of::<T>() bytes.
    match unsafe { copy_self(libc::SYS_process_vm_readv, to, src as *mut c_void, size) }? {
        // SAFETY: the kernel filled all of it, and T is plain data.
        true => Some(unsafe { value.assume_init() }),
        // SAFETY: the syscall is forbidden: `src` is readable (the caller's promise).
        false => Some(unsafe { src.read() }),
    }
}

/// Fills `into` with as many `T`s from the caller's `src`; false where the real call would
/// say EFAULT.
///
/// # Safety
/// As for [`read_user`], for `into.len()` values at `src`.
pub(super) unsafe fn read_user_slice<T: Copy>(src: *const T, into: &mut [T]) -> bool {
    let size = core::mem::size_of_val(into);
    let to = into.as_mut_ptr() as *mut c_void;
    // SAFETY: `into` is writable for its whole size.
    match unsafe { copy_self(libc::SYS_process_vm_readv, to, src as *mut c_void, size) } {
        None => false,
        Some(true) => true,
        Some(false) => {
            // SAFETY: the syscall is forbidden: `src` is readable for `into.len()` values (the
            // caller's promise), and cannot overlap our own buffer.
            unsafe { core::ptr::copy_nonoverlapping(src, into.as_mut_ptr(), into.len()) };
            true
        }
    }
}

/// Stores `value` at the caller's `dst`; false where the kernel would say EFAULT.
///
/// # Safety
/// If process_vm_writev is forbidden, `dst` must be writable, as the real call would need
/// it to be.
pub(super) unsafe fn write_user<T: Copy>(dst: *mut T, value: T) -> bool {
    let mut value = value;
    let size = core::mem::size_of::<T>();
    let from = &mut value as *mut T as *mut c_void;
    // SAFETY: `value` is readable for size_of::<T>() bytes.
    match unsafe { copy_self(libc::SYS_process_vm_writev, from, dst as *mut c_void, size) } {
        None => false,
        Some(true) => true,
        Some(false) => {
            // SAFETY: the syscall is forbidden: `dst` is writable (the caller's promise).
            unsafe { dst.write(value) };
            true
        }
    }
}
