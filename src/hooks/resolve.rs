//! Name resolution has no non-blocking form (and glibc's resolver polls its sockets through
//! internal calls no hook sees), so on the hub each call runs whole on an offload worker
//! while the caller parks. errno and h_errno are per OS thread: the worker's values are
//! carried back to the caller.
//!
//! Calls that need no lookup at all run inline: getaddrinfo of a numeric address (or no
//! host) with a numeric service (or none), and getnameinfo asked for numbers only. glibc
//! answers those from the arguments, so a worker would add a thread switch and, at first
//! use, an OS thread for nothing.

use crate::runtime::on_hub;
use crate::sys::real;
use core::ffi::{c_char, c_int, c_void};

extern "C" {
    fn __h_errno_location() -> *mut c_int;
    fn inet_pton(family: c_int, text: *const c_char, address: *mut c_void) -> c_int;
}

/// Runs `call` on a worker (inline if none can be had), with errno and h_errno as it left them.
unsafe fn offloaded<T: Copy>(mut call: impl FnMut() -> T) -> T {
    // SAFETY (in the closure): the worker's own h_errno slot.
    let (value, call_h_errno) = super::offload::offloaded(|| (call(), unsafe { *__h_errno_location() }));
    *__h_errno_location() = call_h_errno;
    value
}

/// Whether `text` (NUL-terminated, or null) is an IPv4 or IPv6 address in numeric form.
unsafe fn is_numeric_host(text: *const c_char) -> bool {
    let mut address = [0u8; 16];
    text.is_null()
        || inet_pton(libc::AF_INET, text, address.as_mut_ptr() as *mut c_void) == 1
        || inet_pton(libc::AF_INET6, text, address.as_mut_ptr() as *mut c_void) == 1
}

/// Whether `text` (NUL-terminated, or null) is a port number rather than a service name.
unsafe fn is_numeric_service(text: *const c_char) -> bool {
    if text.is_null() {
        return true;
    }
    let digits = core::ffi::CStr::from_ptr(text).to_bytes();
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

#[no_mangle]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const libc::addrinfo,
    res: *mut *mut libc::addrinfo,
) -> c_int {
    if !on_hub() || (is_numeric_host(node) && is_numeric_service(service)) {
        return real::getaddrinfo(node, service, hints, res);
    }
    offloaded(|| real::getaddrinfo(node, service, hints, res))
}

#[no_mangle]
pub unsafe extern "C" fn getnameinfo(
    addr: *const libc::sockaddr,
    addr_len: libc::socklen_t,
    host: *mut c_char,
    host_len: libc::socklen_t,
    serv: *mut c_char,
    serv_len: libc::socklen_t,
    flags: c_int,
) -> c_int {
    let numbers_only = (host.is_null() || flags & libc::NI_NUMERICHOST != 0)
        && (serv.is_null() || flags & libc::NI_NUMERICSERV != 0);
    if !on_hub() || numbers_only {
        return real::getnameinfo(addr, addr_len, host, host_len, serv, serv_len, flags);
    }
    offloaded(|| real::getnameinfo(addr, addr_len, host, host_len, serv, serv_len, flags))
}

#[no_mangle]
pub unsafe extern "C" fn gethostbyname(name: *const c_char) -> *mut libc::hostent {
    if !on_hub() {
        return real::gethostbyname(name);
    }
    offloaded(|| real::gethostbyname(name))
}

#[no_mangle]
pub unsafe extern "C" fn gethostbyname2(name: *const c_char, family: c_int) -> *mut libc::hostent {
    if !on_hub() {
        return real::gethostbyname2(name, family);
    }
    offloaded(|| real::gethostbyname2(name, family))
}

#[no_mangle]
pub unsafe extern "C" fn gethostbyaddr(addr: *const c_void, len: libc::socklen_t, family: c_int) -> *mut libc::hostent {
    if !on_hub() {
        return real::gethostbyaddr(addr, len, family);
    }
    offloaded(|| real::gethostbyaddr(addr, len, family))
}

#[no_mangle]
pub unsafe extern "C" fn gethostbyname_r(
    name: *const c_char,
    ret: *mut libc::hostent,
    buf: *mut c_char,
    buf_len: usize,
    result: *mut *mut libc::hostent,
    h_errnop: *mut c_int,
) -> c_int {
    if !on_hub() {
        return real::gethostbyname_r(name, ret, buf, buf_len, result, h_errnop);
    }
    offloaded(|| real::gethostbyname_r(name, ret, buf, buf_len, result, h_errnop))
}

#[no_mangle]
pub unsafe extern "C" fn gethostbyname2_r(
    name: *const c_char,
    family: c_int,
    ret: *mut libc::hostent,
    buf: *mut c_char,
    buf_len: usize,
    result: *mut *mut libc::hostent,
    h_errnop: *mut c_int,
) -> c_int {
    if !on_hub() {
        return real::gethostbyname2_r(name, family, ret, buf, buf_len, result, h_errnop);
    }
    offloaded(|| real::gethostbyname2_r(name, family, ret, buf, buf_len, result, h_errnop))
}

#[no_mangle]
pub unsafe extern "C" fn gethostbyaddr_r(
    addr: *const c_void,
    len: libc::socklen_t,
    family: c_int,
    ret: *mut libc::hostent,
    buf: *mut c_char,
    buf_len: usize,
    result: *mut *mut libc::hostent,
    h_errnop: *mut c_int,
) -> c_int {
    if !on_hub() {
        return real::gethostbyaddr_r(addr, len, family, ret, buf, buf_len, result, h_errnop);
    }
    offloaded(|| real::gethostbyaddr_r(addr, len, family, ret, buf, buf_len, result, h_errnop))
}
