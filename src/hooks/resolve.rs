//! Name resolution has no non-blocking form (and glibc's resolver polls its sockets through
//! internal calls no hook sees), so on the hub each call runs whole on an offload worker
//! while the caller parks. errno and h_errno are per OS thread: the worker's values are
//! carried back to the caller.
//!
//! Calls that need no lookup at all run inline: getaddrinfo of a numeric address (or no
//! host) with a numeric service (or none), and getnameinfo asked for numbers only. glibc
//! answers those from the arguments, so a worker would add a thread switch and, at first
//! use, an OS thread for nothing.

use super::hub::Hub;
use crate::sys::real;
use core::ffi::{c_char, c_int, c_void, CStr};

extern "C" {
    fn __h_errno_location() -> *mut c_int;
    fn inet_pton(family: c_int, text: *const c_char, address: *mut c_void) -> c_int;
}

/// This OS thread's h_errno.
fn h_errno_slot() -> *mut c_int {
    // SAFETY: takes nothing, and always returns the calling thread's own slot.
    unsafe { __h_errno_location() }
}

/// Runs `call`, the libc function `name`, on a worker (inline if none can be had), with
/// errno and h_errno as it left them. The caller stays parked meanwhile, so whatever `call` reads stays in place.
///
/// # Safety
/// `call` may run on another OS thread: it makes one real libc call on the program's
/// arguments and touches nothing green.
unsafe fn offloaded<T: Copy>(_hub: Hub, name: &'static CStr, mut call: impl FnMut() -> T) -> T {
    // SAFETY: hub thread (`_hub`), and `call` may run anywhere (caller). The slot read is
    // the worker's own h_errno, right after its call.
    let (value, call_h_errno) = unsafe { super::offload::offloaded(name, -1, || (call(), *h_errno_slot())) };
    // SAFETY: the caller's own slot, on this thread.
    unsafe { *h_errno_slot() = call_h_errno };
    value
}

/// Whether `text` (NUL-terminated, or null) is an IPv4 or IPv6 address in numeric form.
///
/// # Safety
/// `text` is null or a NUL-terminated string.
unsafe fn is_numeric_host(text: *const c_char) -> bool {
    let mut address = [0u8; 16];
    let mut parses_as = |family| {
        // SAFETY: a string (caller), and room for an IPv6 address, the larger of the two.
        unsafe { inet_pton(family, text, address.as_mut_ptr() as *mut c_void) == 1 }
    };
    text.is_null() || parses_as(libc::AF_INET) || parses_as(libc::AF_INET6)
}

/// Whether `text` (NUL-terminated, or null) is a port number rather than a service name.
///
/// # Safety
/// `text` is null or a NUL-terminated string.
unsafe fn is_numeric_service(text: *const c_char) -> bool {
    if text.is_null() {
        return true;
    }
    // SAFETY: not null, so a NUL-terminated string (caller).
    let digits = unsafe { CStr::from_ptr(text) }.to_bytes();
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// # Safety
/// As for glibc's getaddrinfo.
#[no_mangle]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const libc::addrinfo,
    res: *mut *mut libc::addrinfo,
) -> c_int {
    // SAFETY: `node` and `service` are null or strings (caller).
    let numeric = unsafe { is_numeric_host(node) && is_numeric_service(service) };
    let Some(hub) = Hub::here().filter(|_| !numeric) else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::getaddrinfo(node, service, hints, res) };
    };
    // SAFETY: only the real call, on the program's arguments.
    unsafe { offloaded(hub, c"getaddrinfo", || real::getaddrinfo(node, service, hints, res)) }
}

/// # Safety
/// As for glibc's getnameinfo.
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
    let Some(hub) = Hub::here().filter(|_| !numbers_only) else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::getnameinfo(addr, addr_len, host, host_len, serv, serv_len, flags) };
    };
    // SAFETY: only the real call, on the program's arguments.
    unsafe { offloaded(hub, c"getnameinfo", || real::getnameinfo(addr, addr_len, host, host_len, serv, serv_len, flags)) }
}

/// # Safety
/// As for glibc's gethostbyname.
#[no_mangle]
pub unsafe extern "C" fn gethostbyname(name: *const c_char) -> *mut libc::hostent {
    let Some(hub) = Hub::here() else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::gethostbyname(name) };
    };
    // SAFETY: only the real call, on the program's arguments.
    unsafe { offloaded(hub, c"gethostbyname", || real::gethostbyname(name)) }
}

/// # Safety
/// As for glibc's gethostbyname2.
#[no_mangle]
pub unsafe extern "C" fn gethostbyname2(name: *const c_char, family: c_int) -> *mut libc::hostent {
    let Some(hub) = Hub::here() else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::gethostbyname2(name, family) };
    };
    // SAFETY: only the real call, on the program's arguments.
    unsafe { offloaded(hub, c"gethostbyname2", || real::gethostbyname2(name, family)) }
}

/// # Safety
/// As for glibc's gethostbyaddr.
#[no_mangle]
pub unsafe extern "C" fn gethostbyaddr(addr: *const c_void, len: libc::socklen_t, family: c_int) -> *mut libc::hostent {
    let Some(hub) = Hub::here() else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::gethostbyaddr(addr, len, family) };
    };
    // SAFETY: only the real call, on the program's arguments.
    unsafe { offloaded(hub, c"gethostbyaddr", || real::gethostbyaddr(addr, len, family)) }
}

/// # Safety
/// As for glibc's gethostbyname_r.
#[no_mangle]
pub unsafe extern "C" fn gethostbyname_r(
    name: *const c_char,
    ret: *mut libc::hostent,
    buf: *mut c_char,
    buf_len: usize,
    result: *mut *mut libc::hostent,
    h_errnop: *mut c_int,
) -> c_int {
    let Some(hub) = Hub::here() else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::gethostbyname_r(name, ret, buf, buf_len, result, h_errnop) };
    };
    // SAFETY: only the real call, on the program's arguments.
    unsafe { offloaded(hub, c"gethostbyname_r", || real::gethostbyname_r(name, ret, buf, buf_len, result, h_errnop)) }
}

/// # Safety
/// As for glibc's gethostbyname2_r.
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
    let Some(hub) = Hub::here() else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::gethostbyname2_r(name, family, ret, buf, buf_len, result, h_errnop) };
    };
    // SAFETY: only the real call, on the program's arguments.
    unsafe { offloaded(hub, c"gethostbyname2_r", || real::gethostbyname2_r(name, family, ret, buf, buf_len, result, h_errnop)) }
}

/// # Safety
/// As for glibc's gethostbyaddr_r.
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
    let Some(hub) = Hub::here() else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::gethostbyaddr_r(addr, len, family, ret, buf, buf_len, result, h_errnop) };
    };
    // SAFETY: only the real call, on the program's arguments.
    unsafe { offloaded(hub, c"gethostbyaddr_r", || real::gethostbyaddr_r(addr, len, family, ret, buf, buf_len, result, h_errnop)) }
}
