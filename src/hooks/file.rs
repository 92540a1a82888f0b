//! Regular files: reads that may wait for the disk, and fsync.
//!
//! epoll cannot watch a regular file, and a read of one blocks the OS thread for as long as
//! the disk takes. gevent leaves such reads blocking; always handing them to an offload
//! worker would make every page-cache hit (the common case, about a microsecond) pay a
//! thread hand-off (tens of microseconds). So a read first asks the kernel for what the page
//! cache already holds, with preadv2(RWF_NOWAIT), which never waits for the disk; only what
//! is missing is read on an offload worker while the green thread parks. A read still
//! returns everything up to end of file, as a blocking read of a regular file does, and
//! moves the file position the same way. fsync and fdatasync always go to a worker.
//!
//! All of it only while another green thread exists to run meanwhile: a program with one
//! thread gains nothing from a hand-off. A file system without RWF_NOWAIT support
//! (EOPNOTSUPP), and every other error of the first try, gets the plain call, inline, so
//! errors are exactly the native ones.

use super::offload::offloaded;
use crate::runtime::io as green_io;
use crate::runtime::{on_hub, rt};
use crate::sys::{errno, raw, real};
use core::ffi::{c_int, c_void};

/// Whether a regular-file call on the hub thread should take the path above.
#[inline(always)]
unsafe fn worth_it(fd: c_int) -> bool {
    on_hub() && rt().live > 0 && green_io::is_regular_file(fd)
}

/// preadv2(fd, [buf, len], offset, RWF_NOWAIT); offset -1 uses and moves the file position.
unsafe fn read_cached(fd: c_int, buf: *mut u8, len: usize, offset: i64) -> isize {
    let iov = libc::iovec { iov_base: buf as *mut c_void, iov_len: len };
    let result = raw::syscall6(
        libc::SYS_preadv2,
        [fd as usize, &iov as *const _ as usize, 1, offset as usize, (offset >> 32) as usize, libc::RWF_NOWAIT as usize],
    );
    if result < 0 {
        errno::fail(-result as c_int)
    } else {
        result
    }
}

/// A read of `count` bytes at `offset` (None: at the file position, moving it).
/// `plain` makes the ordinary call for a given buffer, length and offset.
unsafe fn read_regular(
    fd: c_int,
    buf: *mut u8,
    count: usize,
    offset: Option<i64>,
    plain: impl Fn(*mut u8, usize, Option<i64>) -> isize,
) -> isize {
    let saved_errno = errno::get();
    let mut done = 0usize;
    while done < count {
        let at = offset.map(|o| o + done as i64);
        let got = read_cached(fd, buf.add(done), count - done, at.unwrap_or(-1));
        if got > 0 {
            done += got as usize;
            continue;
        }
        if got == 0 {
            break; // end of file
        }
        if errno::get() != libc::EAGAIN {
            if done > 0 {
                break;
            }
            errno::set(saved_errno);
            return plain(buf, count, offset);
        }
        // The rest is not in memory: read it on a worker, as a blocking read would.
        let rest = offloaded(|| plain(buf.add(done), count - done, at));
        if rest < 0 {
            return if done > 0 { done as isize } else { rest };
        }
        done += rest as usize;
        break;
    }
    errno::set(saved_errno);
    done as isize
}

/// The read hook's path for regular files: Some(result), or None when the call is not one.
pub(crate) unsafe fn read(fd: c_int, buf: *mut c_void, count: usize) -> Option<isize> {
    if !worth_it(fd) {
        return None;
    }
    Some(read_regular(fd, buf as *mut u8, count, None, |b, n, at| match at {
        Some(at) => real::pread64(fd, b as *mut c_void, n, at),
        None => real::read(fd, b as *mut c_void, n),
    }))
}

#[no_mangle]
pub unsafe extern "C" fn pread64(fd: c_int, buf: *mut c_void, count: usize, offset: libc::off64_t) -> isize {
    // A negative offset is EINVAL, from the kernel.
    if offset < 0 || !worth_it(fd) {
        return real::pread64(fd, buf, count, offset);
    }
    read_regular(fd, buf as *mut u8, count, Some(offset), |b, n, at| {
        real::pread64(fd, b as *mut c_void, n, at.unwrap_or(offset))
    })
}

#[no_mangle]
pub unsafe extern "C" fn pread(fd: c_int, buf: *mut c_void, count: usize, offset: libc::off_t) -> isize {
    pread64(fd, buf, count, offset)
}

#[no_mangle]
pub unsafe extern "C" fn fsync(fd: c_int) -> c_int {
    if !worth_it(fd) {
        return real::fsync(fd);
    }
    offloaded(|| real::fsync(fd))
}

#[no_mangle]
pub unsafe extern "C" fn fdatasync(fd: c_int) -> c_int {
    if !worth_it(fd) {
        return real::fdatasync(fd);
    }
    offloaded(|| real::fdatasync(fd))
}
