//! iovec arithmetic for the calls that go on after a partial transfer (writev, sendmsg,
//! recvmsg with MSG_WAITALL): the caller's array is never modified, the rest of it is
//! described by a local array instead.

use core::ffi::c_void;
use libc::iovec;

/// The kernel's UIO_MAXIOV: readv and writev refuse more iovecs with EINVAL, and sendmmsg
/// sends at most this many messages per call.
pub(super) const UIO_MAXIOV: usize = 1024;

/// The caller's iovec array as a slice.
///
/// # Safety
/// `iov` points to `count` readable iovecs (a real call has accepted the array), unless
/// `count` is 0 or `iov` is null, and the array outlives the returned slice.
pub(super) unsafe fn iov_slice<'a>(iov: *const iovec, count: usize) -> &'a [iovec] {
    if count == 0 || iov.is_null() {
        &[]
    } else {
        // SAFETY: the caller's promise: `count` readable iovecs at `iov`.
        unsafe { core::slice::from_raw_parts(iov, count) }
    }
}

/// The bytes the caller's iovecs describe in all.
///
/// # Safety
/// As for [`iov_slice`].
pub(super) unsafe fn iov_total(iov: *const iovec, count: usize) -> usize {
    // SAFETY: the caller's promise, as iov_slice needs it.
    let slice = unsafe { iov_slice(iov, count) };
    slice.iter().fold(0usize, |sum, v| sum.saturating_add(v.iov_len))
}

/// The most one read or write call moves (the kernel's MAX_RW_COUNT, INT_MAX rounded down
/// to a page): a blocking write of more returns this much, having queued exactly that.
pub(super) fn max_rw_count() -> usize {
    (i32::MAX as usize) & !(crate::sys::raw::page_size() - 1)
}

/// Fills `out` with the part of `iov` between byte `done` and byte `total`.
pub(super) fn remaining(iov: &[iovec], done: usize, total: usize, out: &mut Vec<iovec>) {
    out.clear();
    let mut start = 0usize;
    for v in iov {
        if start >= total {
            break;
        }
        let end = start.saturating_add(v.iov_len).min(total);
        if end > done {
            let skip = done.saturating_sub(start);
            out.push(iovec {
                // A pointer inside the caller's buffer (skip < iov_len): wrapping_add makes
                // no claim the offset computation could break.
                iov_base: (v.iov_base as *mut u8).wrapping_add(skip) as *mut c_void,
                iov_len: end - start - skip,
            });
        }
        start = end;
    }
}
