//! Creating and connecting sockets and pipes. Descriptions created on the hub thread are
//! made O_NONBLOCK for us (the program's view stays what it asked for), so their calls can
//! be retried on EAGAIN instead of blocking the OS thread.

use super::off_hub;
use crate::runtime::fdtable::{Kind, READ, WRITE};
use crate::runtime::io::{self as green_io, Attempt, Plan};
use crate::runtime::green::Wake;
use crate::runtime::on_hub;
use crate::sys::{errno, real};
use core::ffi::c_int;

fn socket_kind(ty: c_int) -> Kind {
    if ty & 0xf == libc::SOCK_STREAM {
        Kind::StreamSocket
    } else {
        Kind::MessageSocket
    }
}

#[no_mangle]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    if !on_hub() {
        let fd = real::socket(domain, ty, protocol);
        green_io::forget(fd);
        return fd;
    }
    let fd = real::socket(domain, ty | libc::SOCK_NONBLOCK, protocol);
    if fd >= 0 {
        green_io::adopt_new(fd, socket_kind(ty), true, ty & libc::SOCK_NONBLOCK != 0);
    }
    fd
}

#[no_mangle]
pub unsafe extern "C" fn socketpair(domain: c_int, ty: c_int, protocol: c_int, sv: *mut c_int) -> c_int {
    let green = on_hub();
    let extra = if green { libc::SOCK_NONBLOCK } else { 0 };
    let result = real::socketpair(domain, ty | extra, protocol, sv);
    if result == 0 {
        for i in 0..2 {
            let fd = *sv.add(i);
            if green {
                green_io::adopt_new(fd, socket_kind(ty), true, ty & libc::SOCK_NONBLOCK != 0);
            } else {
                green_io::forget(fd);
            }
        }
    }
    result
}

#[no_mangle]
pub unsafe extern "C" fn pipe(fds: *mut c_int) -> c_int {
    pipe2(fds, 0)
}

#[no_mangle]
pub unsafe extern "C" fn pipe2(fds: *mut c_int, flags: c_int) -> c_int {
    let green = on_hub();
    let extra = if green { libc::O_NONBLOCK } else { 0 };
    let result = real::pipe2(fds, flags | extra);
    if result == 0 {
        for i in 0..2 {
            let fd = *fds.add(i);
            if green {
                green_io::adopt_new(fd, Kind::Pipe, true, flags & libc::O_NONBLOCK != 0);
            } else {
                green_io::forget(fd);
            }
        }
    }
    result
}

/// An eventfd made on the hub is ours, as a pipe is: non-blocking underneath, so a read of
/// an empty counter and a write that would overflow it both wait green (poll's POLLOUT
/// only promises room for a write of 1).
#[no_mangle]
pub unsafe extern "C" fn eventfd(initval: core::ffi::c_uint, flags: c_int) -> c_int {
    let green = on_hub();
    let extra = if green { libc::EFD_NONBLOCK } else { 0 };
    let fd = real::eventfd(initval, flags | extra);
    if fd >= 0 {
        if green {
            green_io::adopt_new(fd, Kind::CharDevice, true, flags & libc::EFD_NONBLOCK != 0);
        } else {
            green_io::forget(fd);
        }
    }
    fd
}

#[no_mangle]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut libc::sockaddr, len: *mut libc::socklen_t) -> c_int {
    accept4(fd, addr, len, 0)
}

#[no_mangle]
pub unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
    flags: c_int,
) -> c_int {
    if !on_hub() {
        let new_fd = off_hub(fd, READ, || real::accept4(fd, addr, len, flags) as isize) as c_int;
        green_io::forget(new_fd);
        return new_fd;
    }
    // accept takes no MSG_DONTWAIT: on a listening socket we did not create, wait for
    // readiness first (another process may still win the race; then we block, as the
    // program would have).
    let call = || real::accept4(fd, addr, len, flags | libc::SOCK_NONBLOCK) as isize;
    let new_fd = match green_io::plan(fd) {
        Plan::Passthrough => call(),
        Plan::Green(mode) => {
            let mode = if mode == Attempt::DontWait { Attempt::PollFirst } else { mode };
            green_io::drive(fd, READ, None, mode, call)
        }
    } as c_int;
    if new_fd >= 0 {
        let kind = if green_io::is_stream_socket(fd) { Kind::StreamSocket } else { Kind::MessageSocket };
        green_io::adopt_new(new_fd, kind, true, flags & libc::SOCK_NONBLOCK != 0);
    }
    new_fd
}

#[no_mangle]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const libc::sockaddr, len: libc::socklen_t) -> c_int {
    let result = real::connect(fd, addr, len);
    if result == 0 || errno::get() != libc::EINPROGRESS {
        return result;
    }
    // EINPROGRESS on a socket whose program view is blocking: we made it non-blocking.
    if !on_hub() {
        if !crate::runtime::fdtable::needs_blocking_emulation(fd) {
            return result;
        }
        super::wait_with_real_poll(fd, WRITE);
        return finish_connect(fd, addr, len);
    }
    if green_io::plan(fd) != Plan::Green(Attempt::Direct) {
        return result;
    }
    let entry = crate::runtime::fdtable::entry(fd).expect("planned fds have entries");
    let generation = entry.generation;
    entry.clear_ready(WRITE);
    // SO_SNDTIMEO bounds a blocking connect; when it passes, the connection goes on in the
    // background and connect says EINPROGRESS, as the kernel does.
    let deadline = green_io::socket_timeout_deadline(fd, WRITE);
    while !green_io::poll_now(fd, WRITE) {
        match green_io::wait_fd(fd, WRITE, deadline) {
            Ok(Wake::Timeout) => return errno::fail(libc::EINPROGRESS),
            Ok(_) if entry.generation != generation => return errno::fail(libc::EBADF),
            Ok(Wake::Interrupted { restart: false }) => return errno::fail(libc::EINTR),
            Ok(_) => {}
            Err(e) => return errno::fail(e),
        }
    }
    finish_connect(fd, addr, len)
}

/// The outcome of a finished non-blocking connect, as a blocking connect reports it. Asking
/// the kernel again ends the connect the way the blocking call's own ending does: 0 and the
/// socket marked connected (a later connect says EISCONN), or the error that ended it,
/// with the socket reset. Reading SO_ERROR instead would leave the socket "connecting".
unsafe fn finish_connect(fd: c_int, addr: *const libc::sockaddr, len: libc::socklen_t) -> c_int {
    let saved_errno = errno::get();
    let result = real::connect(fd, addr, len);
    if result == 0 {
        errno::set(saved_errno);
    }
    result
}
