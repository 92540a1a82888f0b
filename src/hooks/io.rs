//! read and write, and the socket calls on one flat buffer: recv, recvfrom, send, sendto,
//! with their fortified variants. Every one is a blocking-mode call routed as
//! blocking.rs says; recv and recvfrom share MSG_WAITALL with recvmsg (receive.rs), send
//! and sendto complete partial writes as writev does (write_all.rs).
//!
//! Every hook here has the contract of the libc function it replaces.

use super::blocking::{dontwait_flag, note_read, route, socket_route, wait_call, Route};
use super::fortify::fortify_fail;
use super::nowait::{read_nowait, write_nowait};
use super::receive::{receive, Receiver};
use super::write_all::write_all;
use crate::runtime::fdtable::READ;
use crate::runtime::io::{plain_now, Attempt};
use crate::sys::real;
use core::ffi::{c_int, c_void};
use libc::{sockaddr, socklen_t};

/// # Safety
/// As for read(2): `buf` is writable for `count` bytes (the kernel reports EFAULT if not).
#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, count: usize) -> isize {
    if plain_now(fd) {
        // SAFETY: the program's call as it made it.
        return unsafe { real::read(fd, buf, count) };
    }
    // SAFETY: the program's arguments, passed on as it gave them.
    unsafe { read_routed(fd, buf, count) }
}

/// [`read`] past its shortcut (blocking.rs, Shortcut); its safety contract is the hook's.
#[inline(never)]
unsafe fn read_routed(fd: c_int, buf: *mut c_void, count: usize) -> isize {
    super::cancel_point::point();
    // SAFETY: the program's arguments, passed on as it gave them.
    if let Some(result) = unsafe { super::file::read(fd, buf, count) } {
        return result;
    }
    let route = route(fd);
    let call = |attempt| match attempt {
        // SAFETY: the program's buffer; on a socket, read(2) is recv(2) with no flags.
        Attempt::DontWait => unsafe { real::recv(fd, buf, count, libc::MSG_DONTWAIT) },
        // SAFETY: the program's buffer, read as read(2) would.
        Attempt::NoWait => unsafe { read_nowait(route, fd, buf, count) },
        // SAFETY: the program's call as it made it.
        Attempt::Direct | Attempt::PollFirst => unsafe { real::read(fd, buf, count) },
    };
    // SAFETY: fd's route for this call; `call` makes read(2) with the program's arguments.
    let got = unsafe { wait_call(fd, READ, route, None, call) };
    note_read(route, fd, got, || count);
    got
}

/// # Safety
/// As for read(2); `size` is the size of the object at `buf`.
#[no_mangle]
pub unsafe extern "C" fn __read_chk(fd: c_int, buf: *mut c_void, count: usize, size: usize) -> isize {
    if count > size {
        fortify_fail();
    }
    // SAFETY: the program's arguments, checked as glibc checks them.
    unsafe { read(fd, buf, count) }
}

/// # Safety
/// As for write(2): `buf` is readable for `count` bytes (the kernel reports EFAULT if not).
#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, count: usize) -> isize {
    if plain_now(fd) {
        // SAFETY: the program's call as it made it.
        return unsafe { real::write(fd, buf, count) };
    }
    // SAFETY: the program's arguments, passed on as it gave them.
    unsafe { write_routed(fd, buf, count) }
}

/// [`write`] past its shortcut (blocking.rs, Shortcut); its safety contract is the hook's.
#[inline(never)]
unsafe fn write_routed(fd: c_int, buf: *const c_void, count: usize) -> isize {
    super::cancel_point::point();
    let route = route(fd);
    let send = |done: usize, attempt| {
        // An address inside the program's buffer (done < count): no claim to break.
        let at = (buf as *const u8).wrapping_add(done) as *const c_void;
        let left = count - done;
        match attempt {
            // SAFETY: the rest of the program's buffer, which the first attempt's success
            // showed readable (or the program's own call when done is 0).
            Attempt::DontWait => unsafe { real::send(fd, at, left, libc::MSG_DONTWAIT) },
            // SAFETY: as above.
            Attempt::PollFirst | Attempt::NoWait => unsafe { write_nowait(route, fd, at, left) },
            // SAFETY: as above.
            Attempt::Direct => unsafe { real::write(fd, at, left) },
        }
    };
    // SAFETY: fd's route for this call; `send` writes the program's buffer.
    unsafe { write_all(fd, route, || count, send) }
}

/// The one flat buffer of recv and recvfrom. The source address is the first receive's:
/// a later one at end of stream would report none.
struct Flat {
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
}

impl Receiver for Flat {
    unsafe fn attempt(&mut self, done: usize, attempt: Attempt) -> isize {
        let flags = self.flags | dontwait_flag(attempt);
        if done == 0 {
            // SAFETY: the program's call with its own arguments.
            return unsafe { real::recvfrom(self.fd, self.buf, self.len, flags, self.addr, self.addrlen) };
        }
        let at = (self.buf as *mut u8).wrapping_add(done) as *mut c_void;
        let (none, no_len) = (core::ptr::null_mut(), core::ptr::null_mut());
        // SAFETY: the rest of the program's buffer, which the first receive showed writable.
        unsafe { real::recvfrom(self.fd, at, self.len - done, flags, none, no_len) }
    }

    unsafe fn capacity(&self) -> usize {
        self.len
    }
}

/// # Safety
/// As for recv(2): `buf` is writable for `len` bytes (the kernel reports EFAULT if not).
#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, len: usize, flags: c_int) -> isize {
    // SAFETY: the program's arguments; recv is recvfrom without an address.
    unsafe { recvfrom(fd, buf, len, flags, core::ptr::null_mut(), core::ptr::null_mut()) }
}

/// # Safety
/// As for recv(2); `size` is the size of the object at `buf`.
#[no_mangle]
pub unsafe extern "C" fn __recv_chk(
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    size: usize,
    flags: c_int,
) -> isize {
    if len > size {
        fortify_fail();
    }
    // SAFETY: the program's arguments, checked as glibc checks them.
    unsafe { recv(fd, buf, len, flags) }
}

/// # Safety
/// As for recvfrom(2): `buf` is writable for `len` bytes, `addr` and `addrlen` as the call
/// documents (the kernel reports EFAULT for bad ones).
#[no_mangle]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> isize {
    if plain_now(fd) {
        // SAFETY: the program's call as it made it.
        return unsafe { real::recvfrom(fd, buf, len, flags, addr, addrlen) };
    }
    // SAFETY: the program's arguments, passed on as it gave them.
    unsafe { recvfrom_routed(Flat { fd, buf, len, flags, addr, addrlen }) }
}

/// [`recvfrom`] past its shortcut (blocking.rs, Shortcut); its safety contract is the hook's,
/// for the arguments `call` holds.
#[inline(never)]
unsafe fn recvfrom_routed(mut call: Flat) -> isize {
    super::cancel_point::point();
    // SAFETY: the program's arguments.
    unsafe { receive(call.fd, call.flags, &mut call) }
}

/// # Safety
/// As for recvfrom(2); `size` is the size of the object at `buf`.
#[no_mangle]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    size: usize,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> isize {
    if len > size {
        fortify_fail();
    }
    // SAFETY: the program's arguments, checked as glibc checks them.
    unsafe { recvfrom(fd, buf, len, flags, addr, addrlen) }
}

/// # Safety
/// As for send(2): `buf` is readable for `len` bytes (the kernel reports EFAULT if not).
#[no_mangle]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, len: usize, flags: c_int) -> isize {
    // SAFETY: the program's arguments; send is sendto without an address.
    unsafe { sendto(fd, buf, len, flags, core::ptr::null(), 0) }
}

/// # Safety
/// As for sendto(2): `buf` is readable for `len` bytes, `addr` for `addrlen` (the kernel
/// reports EFAULT for bad ones).
#[no_mangle]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: usize,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> isize {
    if plain_now(fd) {
        // SAFETY: the program's call as it made it.
        return unsafe { real::sendto(fd, buf, len, flags, addr, addrlen) };
    }
    // SAFETY: the program's arguments, passed on as it gave them.
    unsafe { sendto_routed(fd, buf, len, flags, addr, addrlen) }
}

/// [`sendto`] past its shortcut (blocking.rs, Shortcut); its safety contract is the hook's.
#[inline(never)]
unsafe fn sendto_routed(
    fd: c_int,
    buf: *const c_void,
    len: usize,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> isize {
    super::cancel_point::point();
    let route = if flags & libc::MSG_DONTWAIT != 0 { Route::Real } else { socket_route(fd) };
    let send = |done: usize, attempt| {
        if done == 0 {
            let flags = flags | dontwait_flag(attempt);
            // SAFETY: the program's call with its own arguments.
            return unsafe { real::sendto(fd, buf, len, flags, addr, addrlen) };
        }
        // On a stream: go on like send(2). MSG_FASTOPEN asked for a connect with the first
        // bytes, which is done by now.
        let flags = (flags & !libc::MSG_FASTOPEN) | dontwait_flag(attempt);
        let at = (buf as *const u8).wrapping_add(done) as *const c_void;
        // SAFETY: the rest of the program's buffer, which the first send showed readable.
        unsafe { real::sendto(fd, at, len - done, flags, addr, addrlen) }
    };
    // SAFETY: fd's route for this call; `send` sends the program's buffer.
    unsafe { write_all(fd, route, || len, send) }
}
