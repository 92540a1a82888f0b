//! errno is one variable per OS thread, so all green threads share it: the scheduler saves
//! it when a green thread is switched out and puts it back when it resumes.

#[inline]
pub fn get() -> i32 {
    // SAFETY: __errno_location returns this OS thread's errno slot, valid for its lifetime.
    unsafe { *libc::__errno_location() }
}

#[inline]
pub fn set(value: i32) {
    // SAFETY: as in `get`.
    unsafe { *libc::__errno_location() = value }
}

/// The C convention for a failed call: set errno, return -1 (of whatever integer type).
#[inline]
pub fn fail<T: From<i8>>(value: i32) -> T {
    set(value);
    T::from(-1)
}

/// A raw system call's result (the kernel's -errno on failure) in the C convention: 0, or -1
/// with errno set.
#[inline]
pub fn from_syscall(result: isize) -> i32 {
    if result < 0 {
        fail(-result as i32)
    } else {
        0
    }
}
