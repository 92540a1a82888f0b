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
//! A read RWF_NOWAIT cannot tell about goes to a worker whole: one on an O_DIRECT
//! description (it goes to the device every time, and RWF_NOWAIT would do it inline), and
//! one on a file system without RWF_NOWAIT (EOPNOTSUPP) that is not known to answer from
//! memory (NFS, FUSE, SMB; tmpfs, procfs, sysfs and the like stay inline). Which it is, is
//! learnt once per description (runtime/file_reads.rs). Every other error of the first try
//! gets the plain call, inline, so errors are exactly the native ones.
//!
//! All of it only while another green thread exists to run meanwhile: a program with one
//! thread gains nothing from a hand-off.
//!
//! Every hook here has the contract of the libc function it replaces.

use super::offload::offloaded;
use crate::runtime::io::{self as green_io, FileReads};
use crate::runtime::{on_hub, rt};
use crate::sys::{errno, raw, real};
use core::ffi::{c_int, c_void, CStr};

/// How reads of `fd` may wait, when it is a regular file and a call on the hub thread should
/// take the path above; None otherwise.
#[inline(always)]
fn worth_it(fd: c_int) -> Option<FileReads> {
    if !on_hub() {
        return None;
    }
    // SAFETY: both run only on the hub thread (checked above); rt() is read at once.
    unsafe { (rt().live > 0).then(|| green_io::file_reads(fd)).flatten() }
}

/// preadv2(fd, [buf, len], offset, RWF_NOWAIT); offset -1 uses and moves the file position.
///
/// # Safety
/// `buf` is writable for `len` bytes, or the program's own argument (the kernel checks it).
unsafe fn read_cached(fd: c_int, buf: *mut u8, len: usize, offset: i64) -> isize {
    let iov = libc::iovec { iov_base: buf as *mut c_void, iov_len: len };
    let (low, high) = (offset as usize, (offset >> 32) as usize);
    let args = [fd as usize, &iov as *const _ as usize, 1, low, high, libc::RWF_NOWAIT as usize];
    // SAFETY: one iovec, alive across the call, describing the caller's buffer.
    let result = unsafe { raw::syscall6(libc::SYS_preadv2, args) };
    if result < 0 {
        errno::fail(-result as c_int)
    } else {
        result
    }
}

/// A read of a regular file as the program asked for it: `count` bytes into `buf` at
/// `offset` (None: at the file position, moving it), by the call `name` (what the
/// diagnostics say it waits for).
#[derive(Clone, Copy)]
struct FileRead {
    name: &'static CStr,
    fd: c_int,
    buf: *mut u8,
    count: usize,
    offset: Option<i64>,
}

/// `read` by the page cache first. `plain` makes the ordinary call for a given buffer,
/// length and offset.
///
/// # Safety
/// Hub thread only; `buf` and `count` are the program's read arguments, and `plain` makes
/// the program's call on any part of them.
unsafe fn read_regular(read: FileRead, plain: impl Fn(*mut u8, usize, Option<i64>) -> isize) -> isize {
    let FileRead { name, fd, buf, count, offset } = read;
    let saved_errno = errno::get();
    let mut done = 0usize;
    while done < count {
        let at = offset.map(|o| o + done as i64);
        // An address inside the program's buffer (done < count): no claim to break.
        let rest = buf.wrapping_add(done);
        // SAFETY: the unread part of the program's buffer.
        let got = unsafe { read_cached(fd, rest, count - done, at.unwrap_or(-1)) };
        if got > 0 {
            done += got as usize;
            continue;
        }
        if got == 0 {
            break; // end of file
        }
        if errno::get() == libc::EOPNOTSUPP && done == 0 {
            errno::set(saved_errno);
            // SAFETY: the hub thread (caller); the file system refused RWF_NOWAIT.
            let reads = unsafe { green_io::learn_reads_without_nowait(fd) };
            // SAFETY: the hub thread (caller); the program's arguments.
            return unsafe { read_by(reads, read, plain) };
        }
        if errno::get() != libc::EAGAIN {
            if done > 0 {
                break;
            }
            errno::set(saved_errno);
            return plain(buf, count, offset);
        }
        // The rest is not in memory: read it on a worker, as a blocking read would.
        // SAFETY: the hub thread; the buffer outlives the call, which waits for the worker.
        let more = unsafe { offloaded(name, fd, || plain(rest, count - done, at)) };
        if more < 0 {
            return if done > 0 { done as isize } else { more };
        }
        done += more as usize;
        break;
    }
    errno::set(saved_errno);
    done as isize
}

/// `read` of a file whose reads wait as `reads` says: by the page cache first, whole on a
/// worker, or inline.
///
/// # Safety
/// As for [`read_regular`].
unsafe fn read_by(reads: FileReads, read: FileRead, plain: impl Fn(*mut u8, usize, Option<i64>) -> isize) -> isize {
    let FileRead { name, fd, buf, count, offset } = read;
    match reads {
        // SAFETY: the caller's promises, passed on.
        FileReads::PageCache => unsafe { read_regular(read, plain) },
        // SAFETY: the hub thread (caller); the buffer outlives the call, which waits for
        // the worker.
        FileReads::Direct | FileReads::Waits => unsafe { offloaded(name, fd, || plain(buf, count, offset)) },
        FileReads::Memory => plain(buf, count, offset),
    }
}

/// The read hook's path for regular files: Some(result), or None when the call is not one.
///
/// # Safety
/// As for read(2): `buf` is writable for `count` bytes (the kernel reports EFAULT if not).
pub(super) unsafe fn read(fd: c_int, buf: *mut c_void, count: usize) -> Option<isize> {
    let reads = worth_it(fd)?;
    let plain = |b: *mut u8, n, at: Option<i64>| match at {
        // SAFETY: part of the program's buffer, at the offset it asked for.
        Some(at) => unsafe { real::pread64(fd, b as *mut c_void, n, at) },
        // SAFETY: as above, at the file position.
        None => unsafe { real::read(fd, b as *mut c_void, n) },
    };
    let read = FileRead { name: c"read", fd, buf: buf as *mut u8, count, offset: None };
    // SAFETY: the hub thread (worth_it); the program's arguments.
    Some(unsafe { read_by(reads, read, plain) })
}

/// # Safety
/// As for pread(2): `buf` is writable for `count` bytes (the kernel reports EFAULT if not).
#[no_mangle]
pub unsafe extern "C" fn pread64(fd: c_int, buf: *mut c_void, count: usize, offset: libc::off64_t) -> isize {
    super::cancel_point::point();
    // A negative offset is EINVAL, from the kernel.
    let Some(reads) = worth_it(fd).filter(|_| offset >= 0) else {
        // SAFETY: the program's call as it made it.
        return unsafe { real::pread64(fd, buf, count, offset) };
    };
    // SAFETY: part of the program's buffer, at the offset it asked for.
    let plain = |b: *mut u8, n, at: Option<i64>| unsafe { real::pread64(fd, b as *mut c_void, n, at.unwrap_or(offset)) };
    let read = FileRead { name: c"pread", fd, buf: buf as *mut u8, count, offset: Some(offset) };
    // SAFETY: the hub thread (worth_it); the program's arguments.
    unsafe { read_by(reads, read, plain) }
}

/// # Safety
/// As for pread(2).
#[no_mangle]
pub unsafe extern "C" fn pread(fd: c_int, buf: *mut c_void, count: usize, offset: libc::off_t) -> isize {
    // SAFETY: the program's arguments; off_t is off64_t on the targets we build for.
    unsafe { pread64(fd, buf, count, offset) }
}

/// # Safety
/// None beyond fsync(2)'s (it takes no pointers).
#[no_mangle]
pub unsafe extern "C" fn fsync(fd: c_int) -> c_int {
    super::cancel_point::point();
    // SAFETY: a plain fd number.
    let call = || unsafe { real::fsync(fd) };
    if worth_it(fd).is_none() {
        return call();
    }
    // SAFETY: the hub thread (worth_it); the call touches no memory of ours.
    unsafe { offloaded(c"fsync", fd, call) }
}

/// # Safety
/// None beyond fdatasync(2)'s (it takes no pointers).
#[no_mangle]
pub unsafe extern "C" fn fdatasync(fd: c_int) -> c_int {
    super::cancel_point::point();
    // SAFETY: a plain fd number.
    let call = || unsafe { real::fdatasync(fd) };
    if worth_it(fd).is_none() {
        return call();
    }
    // SAFETY: the hub thread (worth_it); the call touches no memory of ours.
    unsafe { offloaded(c"fdatasync", fd, call) }
}
