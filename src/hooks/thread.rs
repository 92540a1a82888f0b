//! Thread creation, identity and ending. On the hub thread every pthread is a green thread;
//! its pthread_t is the address of its runtime record, which no glibc thread can share.

use super::hub::Hub;
use crate::runtime::green::{self, Green, StackRequest, StartRoutine};
use crate::runtime::{self, tls, tsd};
use crate::sys::{errno, raw, real};
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

extern "C" {
    // Deprecated but exact: null unless pthread_attr_setstack(addr) was called, unlike
    // pthread_attr_getstack, which derives an address from the size.
    fn pthread_attr_getstackaddr(attr: *const libc::pthread_attr_t, addr: *mut *mut c_void) -> c_int;
    fn pthread_attr_getdetachstate(attr: *const libc::pthread_attr_t, state: *mut c_int) -> c_int;
}

/// # Safety
/// As for glibc's pthread_create: `thread` is writable, `attr` null or initialised.
#[no_mangle]
pub unsafe extern "C" fn pthread_create(
    thread: *mut libc::pthread_t,
    attr: *const libc::pthread_attr_t,
    start: StartRoutine,
    arg: *mut c_void,
) -> c_int {
    runtime::start();
    let Some(hub) = Hub::here() else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::pthread_create(thread, attr, start, arg) };
    };
    // SAFETY: `attr` is null or initialised (caller).
    let (request, detached) = unsafe { read_attr(attr) };
    // SAFETY: as above.
    let chosen = match unsafe { super::thread_attr::check_create_attr(hub, attr) } { Ok(c) => c, Err(e) => return e };
    // SAFETY: hub thread (`hub`), spawn's one precondition.
    match unsafe { green::spawn(start, arg, request, detached) } {
        Ok(g) => {
            mark_multi_threaded();
            super::thread_attr::created(hub, g, chosen);
            // SAFETY: `g` was just made and is live; `attr` is null or initialised and
            // `thread` writable (caller).
            unsafe {
                super::sigmask::apply_attr_mask(hub, g, attr);
                *thread = (*g).handle;
            }
            hub.spawned();
            0
        }
        Err(e) => {
            // Out of memory or threads (EAGAIN): natively the threads that would give them
            // back run meanwhile; here they run only if the caller lets them, and a creator
            // that retries in a loop would otherwise never let them.
            hub.yield_now();
            e
        }
    }
}

/// What glibc's pthread_create does before the first thread: the process is no longer
/// single-threaded (`__libc_single_threaded`, read by glibc and by programs). Code that reads
/// it to skip atomic instructions (libstdc++'s reference counts, inlined into the program)
/// must not skip them once green threads can be preempted between two instructions, and
/// glibc's internal cancellation points check for a request only then (cancel_glibc.rs).
/// glibc writes its own copy and the one the program may have by copy relocation.
fn mark_multi_threaded() {
    static DONE: AtomicUsize = AtomicUsize::new(0);
    if DONE.swap(1, Ordering::Relaxed) != 0 {
        return;
    }
    for handle in [libc::RTLD_NEXT, libc::RTLD_DEFAULT] {
        // SAFETY: dlsym with a NUL-terminated name only looks it up.
        let flag = unsafe { libc::dlsym(handle, c"__libc_single_threaded".as_ptr()) } as *mut u8;
        if !flag.is_null() {
            // SAFETY: glibc's `char __libc_single_threaded` (or the program's copy of it);
            // clearing it is what glibc's own pthread_create does.
            unsafe { flag.write_volatile(0) };
        }
    }
}

/// The stack and detach state a pthread_attr_t asks for. A size equal to glibc's default
/// counts as "default", so GREEN_STACK_SIZE applies to threads that did not choose.
///
/// # Safety
/// `attr` is null or an attribute object pthread_attr_init set up.
unsafe fn read_attr(attr: *const libc::pthread_attr_t) -> (StackRequest, bool) {
    let program_default = super::thread_np::program_default_stack();
    if attr.is_null() {
        return (program_default.map_or(StackRequest::Default, StackRequest::Size), false);
    }
    let mut detach_state = 0;
    let mut size = 0usize;
    // SAFETY: an initialised attr (caller); the outputs are our locals.
    unsafe {
        pthread_attr_getdetachstate(attr, &mut detach_state);
        libc::pthread_attr_getstacksize(attr, &mut size);
    }
    // SAFETY: as above.
    let address = unsafe { stack_address(attr) };
    let detached = detach_state == libc::PTHREAD_CREATE_DETACHED;
    let request = if !address.is_null() {
        // glibc's stackaddr is the top of the stack.
        StackRequest::Borrowed(address as usize - size, size)
    } else if program_default.is_none() && size == glibc_default_stack_size() {
        StackRequest::Default
    } else {
        StackRequest::Size(size)
    };
    (request, detached)
}

/// The stack address pthread_attr_setstack gave `attr` (its top), or null: exact, unlike
/// pthread_attr_getstack, which derives an address from the size.
///
/// # Safety
/// `attr` is an attribute object pthread_attr_init set up.
pub(super) unsafe fn stack_address(attr: *const libc::pthread_attr_t) -> *mut c_void {
    let mut address: *mut c_void = core::ptr::null_mut();
    // SAFETY: an initialised attr (caller); the output is our local.
    unsafe { pthread_attr_getstackaddr(attr, &mut address) };
    address
}

fn glibc_default_stack_size() -> usize {
    static SIZE: AtomicUsize = AtomicUsize::new(0);
    let mut size = SIZE.load(Ordering::Relaxed);
    if size == 0 {
        // SAFETY: all-zero bytes are a valid pthread_attr_t (plain data), initialised below.
        let mut attr: libc::pthread_attr_t = unsafe { core::mem::zeroed() };
        // SAFETY: a local attr, initialised, read and destroyed here in glibc's order.
        unsafe {
            libc::pthread_attr_init(&mut attr);
            libc::pthread_attr_getstacksize(&attr, &mut size);
            libc::pthread_attr_destroy(&mut attr);
        }
        SIZE.store(size, Ordering::Relaxed);
    }
    size
}

/// # Safety
/// As for glibc's pthread_join: `retval` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn pthread_join(thread: libc::pthread_t, retval: *mut *mut c_void) -> c_int {
    let Some(target) = Hub::here().and_then(|hub| hub.lookup(thread)) else {
        // SAFETY: the program's arguments, passed on as it gave them.
        return unsafe { real::pthread_join(thread, retval) };
    };
    // SAFETY: hub thread (lookup needed a Hub), and `target` came from lookup.
    match unsafe { crate::runtime::join::join(target) } {
        Ok(value) => {
            // SAFETY: null or writable (caller).
            if let Some(retval) = unsafe { retval.as_mut() } {
                *retval = value;
            }
            0
        }
        Err(e) => e,
    }
}

/// # Safety
/// As for glibc's pthread_detach.
#[no_mangle]
pub unsafe extern "C" fn pthread_detach(thread: libc::pthread_t) -> c_int {
    let Some(target) = Hub::here().and_then(|hub| hub.lookup(thread)) else {
        // SAFETY: the program's argument, passed on as it gave it.
        return unsafe { real::pthread_detach(thread) };
    };
    // SAFETY: hub thread (lookup needed a Hub), and `target` came from lookup.
    unsafe { crate::runtime::join::detach(target) }.err().unwrap_or(0)
}

/// Ends the calling thread. A green thread first unwinds its stack, running the cleanup
/// handlers pthread_cleanup_push registered and C++ destructors (runtime/cancel.rs).
///
/// # Safety
/// As for glibc's pthread_exit: the frames it unwinds are C or C++ frames.
#[no_mangle]
pub unsafe extern "C" fn pthread_exit(retval: *mut c_void) -> ! {
    if Hub::here().is_some() {
        // SAFETY: hub thread; the caller's frames are the program's (caller).
        unsafe { crate::runtime::cancel::exit(retval) };
    }
    // SAFETY: the program's argument, passed on as it gave it.
    unsafe { real::pthread_exit(retval) };
    crate::runtime::log::fatal(&[b"pthread_exit returned"])
}

/// # Safety
/// None beyond glibc's: the function takes no pointer.
#[no_mangle]
pub unsafe extern "C" fn pthread_self() -> libc::pthread_t {
    match Hub::here() {
        // SAFETY: the running green thread is live.
        Some(hub) => unsafe { (*hub.current()).handle },
        // In a handler on the hub thread: the green thread it interrupted.
        // SAFETY: takes no argument.
        None => crate::runtime::sigroute::interrupted_thread().unwrap_or_else(|| unsafe { real::pthread_self() }),
    }
}

#[no_mangle]
pub extern "C" fn pthread_equal(a: libc::pthread_t, b: libc::pthread_t) -> c_int {
    (a == b) as c_int
}

/// Reports a green thread's own stack (Rust's std, for one, reads it to place its guard).
///
/// # Safety
/// As for glibc's pthread_getattr_np: `attr` is writable.
#[no_mangle]
pub unsafe extern "C" fn pthread_getattr_np(thread: libc::pthread_t, attr: *mut libc::pthread_attr_t) -> c_int {
    let (hub, target) = match Hub::here().map(|hub| (hub, hub.lookup(thread))) {
        Some((hub, Some(g))) if g != hub.root() => (hub, g),
        // SAFETY: the program's arguments, passed on as it gave them.
        _ => return unsafe { real::pthread_getattr_np(thread, attr) },
    };
    // SAFETY: the OS thread's own attributes into the program's writable attr (caller).
    let result = unsafe { real::pthread_getattr_np(real::pthread_self(), attr) };
    if result != 0 {
        return result;
    }
    // SAFETY: `target` came from lookup, so it is live; only plain fields are copied.
    let (low, size, guard, detached) =
        unsafe { ((*target).stack_low, (*target).stack_size, (*target).guard_size, (*target).detached) };
    let state = if detached { libc::PTHREAD_CREATE_DETACHED } else { libc::PTHREAD_CREATE_JOINABLE };
    // SAFETY: `attr` was initialised by glibc just above.
    unsafe {
        libc::pthread_attr_setstack(attr, low as *mut c_void, size);
        libc::pthread_attr_setguardsize(attr, guard);
        libc::pthread_attr_setdetachstate(attr, state);
        super::thread_attr::report(hub, target, attr);
    }
    0
}

/// # Safety
/// None: the function takes no argument.
#[no_mangle]
pub unsafe extern "C" fn sched_yield() -> c_int {
    match Hub::here() {
        Some(hub) => {
            hub.yield_now();
            // SAFETY: hub thread; the program's code called us and holds no runtime link.
            unsafe { crate::runtime::cancel::async_point() };
            0
        }
        // SAFETY: takes no argument.
        None => unsafe { real::sched_yield() },
    }
}

/// The green thread whose pthread key values we keep, or None for the root and for other
/// OS threads (glibc keeps theirs).
fn tsd_owner() -> Option<(Hub, *mut Green)> {
    let hub = Hub::here()?;
    let g = hub.current();
    (g != hub.root()).then_some((hub, g))
}

/// # Safety
/// As for glibc's pthread_key_create: `key` is writable.
#[no_mangle]
pub unsafe extern "C" fn pthread_key_create(
    key: *mut libc::pthread_key_t,
    destructor: Option<tsd::Destructor>,
) -> c_int {
    // SAFETY: the program's arguments, passed on as it gave them.
    let result = unsafe { real::pthread_key_create(key, destructor) };
    if result == 0 {
        // SAFETY: glibc just wrote the new key there.
        tsd::created(unsafe { *key }, destructor);
    }
    result
}

/// # Safety
/// None beyond glibc's: the key is a number.
#[no_mangle]
pub unsafe extern "C" fn pthread_key_delete(key: libc::pthread_key_t) -> c_int {
    // SAFETY: the program's argument, passed on as it gave it.
    let result = unsafe { real::pthread_key_delete(key) };
    if result == 0 {
        tsd::deleted(key);
    }
    result
}

/// # Safety
/// None beyond glibc's: the key is a number.
#[no_mangle]
pub unsafe extern "C" fn pthread_getspecific(key: libc::pthread_key_t) -> *mut c_void {
    match tsd_owner() {
        // SAFETY: `g` is the running green thread, so live.
        Some((_, g)) => unsafe { tsd::get(g, key) },
        // SAFETY: the program's argument, passed on as it gave it.
        None => unsafe { real::pthread_getspecific(key) },
    }
}

/// # Safety
/// None beyond glibc's: the value is stored, never read through.
#[no_mangle]
pub unsafe extern "C" fn pthread_setspecific(key: libc::pthread_key_t, value: *const c_void) -> c_int {
    match tsd_owner() {
        // SAFETY: `g` is the running green thread, so live.
        Some((_, g)) => unsafe { tsd::set(g, key, value) }.err().unwrap_or(0),
        // SAFETY: the program's arguments, passed on as it gave them.
        None => unsafe { real::pthread_setspecific(key, value) },
    }
}

/// Registers a thread-local variable's destructor (C++ `thread_local`, Rust `thread_local!`).
/// For an object in a green thread's own copy of the TLS blocks (see runtime/tls.rs) the
/// destructor runs when that green thread ends, on its contents; everything else is glibc's.
///
/// # Safety
/// As for glibc's __cxa_thread_atexit_impl: `destructor` may be called with `object`.
#[no_mangle]
pub unsafe extern "C" fn __cxa_thread_atexit_impl(
    destructor: tls::Destructor,
    object: *mut c_void,
    dso: *mut c_void,
) -> c_int {
    if let Some((_hub, g)) = tsd_owner() {
        // SAFETY: hub thread (`_hub`), is_per_green's one precondition.
        if unsafe { tls::is_per_green(object as usize) } {
            // SAFETY: hub thread, on `g`, the running green thread, which is not the root.
            unsafe { tls::register_destructor(g, destructor, object) };
            return 0;
        }
    }
    // SAFETY: the program's arguments, passed on as it gave them.
    unsafe { real::__cxa_thread_atexit_impl(destructor, object, dso) }
}

/// The CPU this thread runs on. glibc reads it from the rseq area in the thread descriptor,
/// which the kernel updates only in the OS thread's real descriptor, not in a green thread's
/// TLS copy (runtime/tls_area.rs): ask the kernel.
///
/// # Safety
/// None: the function takes no argument.
#[no_mangle]
pub unsafe extern "C" fn sched_getcpu() -> c_int {
    if Hub::here().is_none() {
        // SAFETY: takes no argument.
        return unsafe { real::sched_getcpu() };
    }
    let mut cpu: u32 = 0;
    // SAFETY: getcpu writes one u32 to our local and ignores the null node and cache.
    let result = unsafe { raw::syscall6(libc::SYS_getcpu, [&mut cpu as *mut u32 as usize, 0, 0, 0, 0, 0]) };
    if result < 0 {
        errno::fail(-result as c_int)
    } else {
        cpu as c_int
    }
}
