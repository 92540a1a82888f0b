//! read, write, recv, send and their fortified variants.

use super::{fortify_fail, input, input_until, output};
use crate::runtime::fdtable::READ;
use crate::runtime::io as green_io;
use crate::runtime::on_hub;
use crate::runtime::io::Attempt;
use crate::sys::real;
use core::ffi::{c_int, c_void};

const MSG_DONTWAIT: c_int = libc::MSG_DONTWAIT;

#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, count: usize) -> isize {
    if let Some(result) = super::file::read(fd, buf, count) {
        return result;
    }
    input(fd, count, |dontwait| {
        if dontwait {
            // On a socket, read(2) is recv(2) with no flags.
            real::recv(fd, buf, count, MSG_DONTWAIT)
        } else {
            real::read(fd, buf, count)
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn __read_chk(fd: c_int, buf: *mut c_void, count: usize, size: usize) -> isize {
    if count > size {
        fortify_fail();
    }
    read(fd, buf, count)
}

#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, count: usize) -> isize {
    output(fd, count, |offset, attempt| {
        let (at, left) = ((buf as *const u8).add(offset) as *const c_void, count - offset);
        match attempt {
            Attempt::DontWait => real::send(fd, at, left, MSG_DONTWAIT),
            // poll(2) said there is room, but a blocking pipe takes a large write only whole:
            // the plain call could hold the hub until the reader drained it all.
            Attempt::PollFirst => super::io_vec::write_nowait(fd, at, left),
            Attempt::Direct => real::write(fd, at, left),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, len: usize, flags: c_int) -> isize {
    if flags & MSG_DONTWAIT != 0 {
        return real::recv(fd, buf, len, flags);
    }
    if flags & libc::MSG_WAITALL != 0
        && flags & libc::MSG_PEEK == 0
        && crate::runtime::io::is_stream_socket(fd)
    {
        return recv_all(fd, buf as *mut u8, len, flags);
    }
    if flags & libc::MSG_WAITALL != 0 && on_hub() && green_io::is_tcp_stream(fd) {
        return peek_all(fd, buf, len, flags);
    }
    let wanted = if flags & libc::MSG_PEEK != 0 { 0 } else { len };
    input(fd, wanted, |dontwait| {
        real::recv(fd, buf, len, if dontwait { flags | MSG_DONTWAIT } else { flags })
    })
}

/// MSG_PEEK|MSG_WAITALL on TCP: the kernel waits until `len` bytes are queued (or end of
/// stream, or an error) and copies them without consuming any. Our attempts return what
/// is queued at once, so wait for more data after each one that finds too little.
unsafe fn peek_all(fd: c_int, buf: *mut c_void, len: usize, flags: c_int) -> isize {
    let deadline = green_io::socket_timeout_deadline(fd, READ);
    loop {
        let got = super::input_until(fd, 0, deadline, |dontwait| {
            real::recv(fd, buf, len, if dontwait { flags | MSG_DONTWAIT } else { flags })
        });
        if got <= 0 || got as usize >= len || green_io::read_closed(fd) {
            return got;
        }
        match green_io::wait_for_more(fd, deadline) {
            Ok(true) => {}
            // Timed out or interrupted: what is queued now, as the kernel returns then.
            Ok(false) => return got,
            Err(e) => return crate::sys::errno::fail(e),
        }
    }
}

/// MSG_WAITALL: keep receiving until `len` bytes, EOF or an error, as the kernel does for a
/// blocking socket (our attempts are non-blocking, where the kernel would return early).
unsafe fn recv_all(fd: c_int, buf: *mut u8, len: usize, flags: c_int) -> isize {
    // SO_RCVTIMEO bounds the whole call, not each receive in it.
    let deadline = if on_hub() { green_io::socket_timeout_deadline(fd, READ) } else { None };
    let mut got = 0usize;
    while got < len {
        let result = input_until(fd, len - got, deadline, |dontwait| {
            let f = if dontwait { flags | MSG_DONTWAIT } else { flags };
            real::recv(fd, buf.add(got) as *mut c_void, len - got, f)
        });
        if result < 0 {
            return if got > 0 { got as isize } else { result };
        }
        if result == 0 {
            break;
        }
        got += result as usize;
    }
    got as isize
}

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
    recv(fd, buf, len, flags)
}

#[no_mangle]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, len: usize, flags: c_int) -> isize {
    if flags & MSG_DONTWAIT != 0 {
        return real::send(fd, buf, len, flags);
    }
    output(fd, len, |offset, attempt| {
        let at = (buf as *const u8).add(offset) as *const c_void;
        let dontwait = if attempt == Attempt::DontWait { MSG_DONTWAIT } else { 0 };
        real::send(fd, at, len - offset, flags | dontwait)
    })
}
