//! Thread creation, identity and ending. On the hub thread every pthread is a green thread;
//! its pthread_t is the address of its runtime record, which no glibc thread can share.

use crate::runtime::green::{self, StackRequest, StartRoutine};
use crate::runtime::{tls, tsd};
use crate::runtime::{self, on_hub};
use crate::sys::real;
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

extern "C" {
    // Deprecated but exact: null unless pthread_attr_setstack(addr) was called, unlike
    // pthread_attr_getstack, which derives an address from the size.
    fn pthread_attr_getstackaddr(attr: *const libc::pthread_attr_t, addr: *mut *mut c_void) -> c_int;
    fn pthread_attr_getdetachstate(attr: *const libc::pthread_attr_t, state: *mut c_int) -> c_int;
}

#[no_mangle]
pub unsafe extern "C" fn pthread_create(
    thread: *mut libc::pthread_t,
    attr: *const libc::pthread_attr_t,
    start: StartRoutine,
    arg: *mut c_void,
) -> c_int {
    runtime::start();
    if !on_hub() {
        return real::pthread_create(thread, attr, start, arg);
    }
    let (request, detached) = read_attr(attr);
    match green::spawn(start, arg, request, detached) {
        Ok(g) => {
            *thread = (*g).handle;
            0
        }
        Err(e) => e,
    }
}

/// The stack and detach state a pthread_attr_t asks for. A size equal to glibc's default
/// counts as "default", so GREEN_STACK_SIZE applies to threads that did not choose.
unsafe fn read_attr(attr: *const libc::pthread_attr_t) -> (StackRequest, bool) {
    if attr.is_null() {
        return (StackRequest::Default, false);
    }
    let mut detach_state = 0;
    pthread_attr_getdetachstate(attr, &mut detach_state);
    let detached = detach_state == libc::PTHREAD_CREATE_DETACHED;
    let mut size = 0usize;
    libc::pthread_attr_getstacksize(attr, &mut size);
    let mut address: *mut c_void = core::ptr::null_mut();
    pthread_attr_getstackaddr(attr, &mut address);
    let request = if !address.is_null() {
        // glibc's stackaddr is the top of the stack.
        StackRequest::Borrowed(address as usize - size, size)
    } else if size == glibc_default_stack_size() {
        StackRequest::Default
    } else {
        StackRequest::Size(size)
    };
    (request, detached)
}

fn glibc_default_stack_size() -> usize {
    static SIZE: AtomicUsize = AtomicUsize::new(0);
    let mut size = SIZE.load(Ordering::Relaxed);
    if size == 0 {
        // SAFETY: a local attr, initialised and destroyed here.
        unsafe {
            let mut attr: libc::pthread_attr_t = core::mem::zeroed();
            libc::pthread_attr_init(&mut attr);
            libc::pthread_attr_getstacksize(&attr, &mut size);
            libc::pthread_attr_destroy(&mut attr);
        }
        SIZE.store(size, Ordering::Relaxed);
    }
    size
}

#[no_mangle]
pub unsafe extern "C" fn pthread_join(thread: libc::pthread_t, retval: *mut *mut c_void) -> c_int {
    if !on_hub() {
        return real::pthread_join(thread, retval);
    }
    let Some(target) = green::lookup(thread) else { return real::pthread_join(thread, retval) };
    match crate::runtime::join::join(target) {
        Ok(value) => {
            if !retval.is_null() {
                *retval = value;
            }
            0
        }
        Err(e) => e,
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_detach(thread: libc::pthread_t) -> c_int {
    if !on_hub() {
        return real::pthread_detach(thread);
    }
    match green::lookup(thread) {
        Some(target) => crate::runtime::join::detach(target).err().unwrap_or(0),
        None => real::pthread_detach(thread),
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_exit(retval: *mut c_void) -> ! {
    if on_hub() {
        green::exit_current(retval);
    }
    real::pthread_exit(retval);
    unreachable_exit()
}

fn unreachable_exit() -> ! {
    crate::runtime::log::fatal(&[b"pthread_exit returned"])
}

#[no_mangle]
pub unsafe extern "C" fn pthread_self() -> libc::pthread_t {
    if on_hub() {
        (*green::current()).handle
    } else {
        real::pthread_self()
    }
}

#[no_mangle]
pub extern "C" fn pthread_equal(a: libc::pthread_t, b: libc::pthread_t) -> c_int {
    (a == b) as c_int
}

/// Reports a green thread's own stack (Rust's std, for one, reads it to place its guard).
#[no_mangle]
pub unsafe extern "C" fn pthread_getattr_np(thread: libc::pthread_t, attr: *mut libc::pthread_attr_t) -> c_int {
    if !on_hub() {
        return real::pthread_getattr_np(thread, attr);
    }
    let target = match green::lookup(thread) {
        Some(g) if g != runtime::rt().root => g,
        _ => return real::pthread_getattr_np(thread, attr),
    };
    let result = real::pthread_getattr_np(real::pthread_self(), attr);
    if result != 0 {
        return result;
    }
    libc::pthread_attr_setstack(attr, (*target).stack_low as *mut c_void, (*target).stack_size);
    libc::pthread_attr_setguardsize(attr, (*target).guard_size);
    let state = if (*target).detached { libc::PTHREAD_CREATE_DETACHED } else { libc::PTHREAD_CREATE_JOINABLE };
    libc::pthread_attr_setdetachstate(attr, state);
    0
}

#[no_mangle]
pub unsafe extern "C" fn sched_yield() -> c_int {
    if !on_hub() {
        return real::sched_yield();
    }
    green::yield_now();
    0
}

/// The green thread whose pthread key values we keep, or None for the root and for other
/// OS threads (glibc keeps theirs).
unsafe fn tsd_owner() -> Option<*mut green::Green> {
    if !on_hub() {
        return None;
    }
    let g = green::current();
    (g != runtime::rt().root).then_some(g)
}

#[no_mangle]
pub unsafe extern "C" fn pthread_key_create(
    key: *mut libc::pthread_key_t,
    destructor: Option<tsd::Destructor>,
) -> c_int {
    let result = real::pthread_key_create(key, destructor);
    if result == 0 {
        tsd::created(*key, destructor);
    }
    result
}

#[no_mangle]
pub unsafe extern "C" fn pthread_key_delete(key: libc::pthread_key_t) -> c_int {
    let result = real::pthread_key_delete(key);
    if result == 0 {
        tsd::deleted(key);
    }
    result
}

#[no_mangle]
pub unsafe extern "C" fn pthread_getspecific(key: libc::pthread_key_t) -> *mut c_void {
    match tsd_owner() {
        Some(g) => tsd::get(g, key),
        None => real::pthread_getspecific(key),
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_setspecific(key: libc::pthread_key_t, value: *const c_void) -> c_int {
    match tsd_owner() {
        Some(g) => tsd::set(g, key, value).err().unwrap_or(0),
        None => real::pthread_setspecific(key, value),
    }
}

/// Registers a thread-local variable's destructor (C++ `thread_local`, Rust `thread_local!`).
/// For an object in a green thread's own copy of the TLS blocks (see runtime/tls.rs) the
/// destructor runs when that green thread ends, on its contents; everything else is glibc's.
#[no_mangle]
pub unsafe extern "C" fn __cxa_thread_atexit_impl(
    destructor: tls::Destructor,
    object: *mut c_void,
    dso: *mut c_void,
) -> c_int {
    match tsd_owner() {
        Some(g) if tls::is_per_green(object as usize) => {
            tls::register_destructor(g, destructor, object);
            0
        }
        _ => real::__cxa_thread_atexit_impl(destructor, object, dso),
    }
}

/// The CPU this thread runs on. glibc reads it from the rseq area in the thread descriptor,
/// which the kernel updates only in the OS thread's real descriptor, not in a green thread's
/// TLS copy (runtime/tls_area.rs): ask the kernel.
#[no_mangle]
pub unsafe extern "C" fn sched_getcpu() -> c_int {
    if !on_hub() {
        return real::sched_getcpu();
    }
    let mut cpu: u32 = 0;
    let result = crate::sys::raw::syscall6(libc::SYS_getcpu, [&mut cpu as *mut u32 as usize, 0, 0, 0, 0, 0]);
    if result < 0 {
        crate::sys::errno::fail(-result as c_int)
    } else {
        cpu as c_int
    }
}
