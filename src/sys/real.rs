//! The real libc functions our exported symbols shadow, found with dlsym(RTLD_NEXT).
//!
//! Each is resolved on first use and cached: hooks can run before our constructor (other
//! libraries' constructors call read/write too), so nothing here may depend on init order.
//! dlsym(RTLD_NEXT) hands back the default symbol version, which is what an unversioned
//! call from the program would have bound to (pthread_cond_* @GLIBC_2.3.2, for instance).

use core::ffi::{c_char, c_int, c_uint, c_void};
use core::sync::atomic::{AtomicPtr, Ordering};

pub struct RealSymbol {
    name: &'static [u8],
    address: AtomicPtr<c_void>,
}

impl RealSymbol {
    pub const fn new(name_with_nul: &'static [u8]) -> Self {
        RealSymbol { name: name_with_nul, address: AtomicPtr::new(core::ptr::null_mut()) }
    }

    #[inline(always)]
    pub fn get(&self) -> *mut c_void {
        let address = self.address.load(Ordering::Relaxed);
        if address.is_null() {
            self.resolve()
        } else {
            address
        }
    }

    #[cold]
    fn resolve(&self) -> *mut c_void {
        // SAFETY: `name` is NUL-terminated (the macro below appends the NUL).
        let address = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr() as *const c_char) };
        if address.is_null() {
            let name = &self.name[..self.name.len() - 1];
            super::log::fatal(&[b"cannot find the real libc symbol ", name]);
        }
        self.address.store(address, Ordering::Relaxed);
        address
    }
}

/// `real_fns! { fn read(fd: c_int, buf: *mut c_void, n: usize) -> isize; }` defines
/// `real::read(...)`, which calls the next definition of `read` after ours.
macro_rules! real_fns {
    ($(fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty;)*) => {$(
        #[doc = concat!("The real `", stringify!($name), "`, the next definition after ours.")]
        ///
        /// # Safety
        /// The arguments meet the C function's own contract (valid pointers of the sizes it
        /// documents, for as long as it uses them).
        #[inline]
        #[allow(clippy::too_many_arguments)] // the C signature, as glibc declares it
        pub unsafe fn $name($($arg: $ty),*) -> $ret {
            static SYMBOL: RealSymbol = RealSymbol::new(concat!(stringify!($name), "\0").as_bytes());
            // SAFETY: the symbol of this name in libc has exactly this C signature.
            let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { core::mem::transmute(SYMBOL.get()) };
            // SAFETY: the caller meets the function's contract.
            unsafe { f($($arg),*) }
        }
    )*};
}

/// Variadic libc functions: we call them with one extra register argument, which is how
/// the x86-64 and aarch64 Linux ABIs pass the first variadic argument of integer class.
macro_rules! real_variadic_fns {
    ($(fn $name:ident($($arg:ident: $ty:ty),*; $extra:ident: $extra_ty:ty) -> $ret:ty;)*) => {$(
        #[doc = concat!("The real variadic `", stringify!($name), "`, the next definition after ours.")]
        ///
        /// # Safety
        /// The arguments meet the C function's own contract for the command or number given.
        #[inline]
        pub unsafe fn $name($($arg: $ty),*, $extra: $extra_ty) -> $ret {
            static SYMBOL: RealSymbol = RealSymbol::new(concat!(stringify!($name), "\0").as_bytes());
            // SAFETY: the symbol is the variadic C function of this name.
            let f: unsafe extern "C" fn($($ty),*, ...) -> $ret = unsafe { core::mem::transmute(SYMBOL.get()) };
            // SAFETY: the caller meets the function's contract.
            unsafe { f($($arg),*, $extra) }
        }
    )*};
}

type Size = usize;
type SSize = isize;
type SockLen = libc::socklen_t;
type Addr = *mut libc::sockaddr;
type Attr = *const libc::pthread_attr_t;
type Mutex = *mut libc::pthread_mutex_t;
type Cond = *mut libc::pthread_cond_t;
type Time = *const libc::timespec;
type RwLock = *mut libc::pthread_rwlock_t;
type StartRoutine = extern "C" fn(*mut c_void) -> *mut c_void;

real_fns! {
    fn read(fd: c_int, buf: *mut c_void, count: Size) -> SSize;
    fn write(fd: c_int, buf: *const c_void, count: Size) -> SSize;
    fn recv(fd: c_int, buf: *mut c_void, len: Size, flags: c_int) -> SSize;
    fn send(fd: c_int, buf: *const c_void, len: Size, flags: c_int) -> SSize;
    fn readv(fd: c_int, iov: *const libc::iovec, iovcnt: c_int) -> SSize;
    fn writev(fd: c_int, iov: *const libc::iovec, iovcnt: c_int) -> SSize;
    fn sigtimedwait(set: *const libc::sigset_t, info: *mut libc::siginfo_t, timeout: Time) -> c_int;
    fn sigwaitinfo(set: *const libc::sigset_t, info: *mut libc::siginfo_t) -> c_int;
    fn sigwait(set: *const libc::sigset_t, sig: *mut c_int) -> c_int;
    fn sigsuspend(mask: *const libc::sigset_t) -> c_int;
    fn sigaltstack(new: *const libc::stack_t, old: *mut libc::stack_t) -> c_int;
    fn pause() -> c_int;
    fn eventfd(initval: core::ffi::c_uint, flags: c_int) -> c_int;
    fn sched_getcpu() -> c_int;
    fn pread64(fd: c_int, buf: *mut c_void, count: Size, offset: libc::off64_t) -> SSize;
    fn msgrcv(id: c_int, msg: *mut c_void, size: Size, kind: core::ffi::c_long, flags: c_int) -> SSize;
    fn msgsnd(id: c_int, msg: *const c_void, size: Size, flags: c_int) -> c_int;
    fn semtimedop(id: c_int, ops: *mut libc::sembuf, count: Size, timeout: Time) -> c_int;
    fn mq_timedreceive(mq: c_int, msg: *mut core::ffi::c_char, len: Size, prio: *mut core::ffi::c_uint, abs: Time) -> SSize;
    fn mq_timedsend(mq: c_int, msg: *const core::ffi::c_char, len: Size, prio: core::ffi::c_uint, abs: Time) -> c_int;
    fn mq_close(mq: c_int) -> c_int;
    fn fsync(fd: c_int) -> c_int;
    fn fdatasync(fd: c_int) -> c_int;
    fn sendfile(out_fd: c_int, in_fd: c_int, offset: *mut libc::off_t, count: Size) -> SSize;
    fn sendfile64(out_fd: c_int, in_fd: c_int, offset: *mut libc::off64_t, count: Size) -> SSize;
    fn splice(fd_in: c_int, off_in: *mut libc::loff_t, fd_out: c_int, off_out: *mut libc::loff_t, len: Size, flags: core::ffi::c_uint) -> SSize;
    fn recvfrom(fd: c_int, buf: *mut c_void, len: Size, flags: c_int, addr: Addr, addrlen: *mut SockLen) -> SSize;
    fn sendto(fd: c_int, buf: *const c_void, len: Size, flags: c_int, addr: *const libc::sockaddr, addrlen: SockLen) -> SSize;
    fn recvmsg(fd: c_int, msg: *mut libc::msghdr, flags: c_int) -> SSize;
    fn sendmsg(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> SSize;
    fn recvmmsg(fd: c_int, vec: *mut libc::mmsghdr, vlen: core::ffi::c_uint, flags: c_int, timeout: *mut libc::timespec) -> c_int;
    fn sendmmsg(fd: c_int, vec: *mut libc::mmsghdr, vlen: core::ffi::c_uint, flags: c_int) -> c_int;
    fn accept4(fd: c_int, addr: Addr, len: *mut SockLen, flags: c_int) -> c_int;
    fn connect(fd: c_int, addr: *const libc::sockaddr, len: SockLen) -> c_int;
    fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int;
    fn setsockopt(fd: c_int, level: c_int, name: c_int, value: *const c_void, len: SockLen) -> c_int;
    fn socketpair(domain: c_int, ty: c_int, protocol: c_int, sv: *mut c_int) -> c_int;
    fn pipe2(fds: *mut c_int, flags: c_int) -> c_int;
    fn close(fd: c_int) -> c_int;
    fn close_range(first: core::ffi::c_uint, last: core::ffi::c_uint, flags: c_int) -> c_int;
    fn dup(fd: c_int) -> c_int;
    fn dup2(old: c_int, new: c_int) -> c_int;
    fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int;
    fn fclose(stream: *mut libc::FILE) -> c_int;
    fn fdopen(fd: c_int, mode: *const c_char) -> *mut libc::FILE;
    fn aio_read(cb: *mut libc::aiocb) -> c_int;
    fn aio_read64(cb: *mut libc::aiocb) -> c_int;
    fn aio_write(cb: *mut libc::aiocb) -> c_int;
    fn aio_write64(cb: *mut libc::aiocb) -> c_int;
    fn aio_fsync(op: c_int, cb: *mut libc::aiocb) -> c_int;
    fn aio_fsync64(op: c_int, cb: *mut libc::aiocb) -> c_int;
    fn aio_suspend(list: *const *const libc::aiocb, nent: c_int, timeout: *const libc::timespec) -> c_int;
    fn lio_listio(mode: c_int, list: *const *mut libc::aiocb, count: c_int, sig: *mut libc::sigevent) -> c_int;
    fn lio_listio64(mode: c_int, list: *const *mut libc::aiocb, count: c_int, sig: *mut libc::sigevent) -> c_int;
    fn poll(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: c_int) -> c_int;
    fn ppoll(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: Time, sigmask: *const libc::sigset_t) -> c_int;
    fn select(nfds: c_int, r: *mut libc::fd_set, w: *mut libc::fd_set, e: *mut libc::fd_set, timeout: *mut libc::timeval) -> c_int;
    fn pselect(nfds: c_int, r: *mut libc::fd_set, w: *mut libc::fd_set, e: *mut libc::fd_set, timeout: Time, sigmask: *const libc::sigset_t) -> c_int;
    fn epoll_wait(epfd: c_int, events: *mut libc::epoll_event, max: c_int, timeout: c_int) -> c_int;
    fn epoll_pwait(epfd: c_int, events: *mut libc::epoll_event, max: c_int, timeout: c_int, sigmask: *const libc::sigset_t) -> c_int;
    fn epoll_pwait2(epfd: c_int, events: *mut libc::epoll_event, max: c_int, timeout: Time, sigmask: *const libc::sigset_t) -> c_int;
    fn pthread_sigmask(how: c_int, set: *const libc::sigset_t, old: *mut libc::sigset_t) -> c_int;
    fn sigprocmask(how: c_int, set: *const libc::sigset_t, old: *mut libc::sigset_t) -> c_int;
    fn sigpending(set: *mut libc::sigset_t) -> c_int;
    fn nanosleep(req: Time, rem: *mut libc::timespec) -> c_int;
    fn clock_nanosleep(clock: libc::clockid_t, flags: c_int, req: Time, rem: *mut libc::timespec) -> c_int;
    fn sleep(seconds: u32) -> u32;
    fn usleep(usec: libc::useconds_t) -> c_int;
    fn sched_yield() -> c_int;
    fn sigaction(signal: c_int, action: *const libc::sigaction, old: *mut libc::sigaction) -> c_int;
    fn fork() -> libc::pid_t;
    fn getaddrinfo(node: *const c_char, service: *const c_char, hints: *const libc::addrinfo, res: *mut *mut libc::addrinfo) -> c_int;
    fn getnameinfo(addr: *const libc::sockaddr, addr_len: SockLen, host: *mut c_char, host_len: SockLen, serv: *mut c_char, serv_len: SockLen, flags: c_int) -> c_int;
    fn gethostbyname(name: *const c_char) -> *mut libc::hostent;
    fn gethostbyname2(name: *const c_char, family: c_int) -> *mut libc::hostent;
    fn gethostbyaddr(addr: *const c_void, len: SockLen, family: c_int) -> *mut libc::hostent;
    fn gethostbyname_r(name: *const c_char, ret: *mut libc::hostent, buf: *mut c_char, buf_len: Size, result: *mut *mut libc::hostent, h_errnop: *mut c_int) -> c_int;
    fn gethostbyname2_r(name: *const c_char, family: c_int, ret: *mut libc::hostent, buf: *mut c_char, buf_len: Size, result: *mut *mut libc::hostent, h_errnop: *mut c_int) -> c_int;
    fn gethostbyaddr_r(addr: *const c_void, len: SockLen, family: c_int, ret: *mut libc::hostent, buf: *mut c_char, buf_len: Size, result: *mut *mut libc::hostent, h_errnop: *mut c_int) -> c_int;
    fn waitpid(pid: libc::pid_t, status: *mut c_int, options: c_int) -> libc::pid_t;
    fn wait4(pid: libc::pid_t, status: *mut c_int, options: c_int, usage: *mut libc::rusage) -> libc::pid_t;
    fn waitid(id_type: libc::idtype_t, id: libc::id_t, info: *mut libc::siginfo_t, options: c_int) -> c_int;
    fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    fn execv(path: *const c_char, argv: *const *const c_char) -> c_int;
    fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int;
    fn execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    fn system(command: *const c_char) -> c_int;
    fn popen(command: *const c_char, mode: *const c_char) -> *mut libc::FILE;
    fn fexecve(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    fn posix_spawn(pid: *mut libc::pid_t, path: *const c_char, actions: *const libc::posix_spawn_file_actions_t, attr: *const libc::posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int;
    fn posix_spawn_file_actions_adddup2(actions: *mut libc::posix_spawn_file_actions_t, fd: c_int, new_fd: c_int) -> c_int;
    fn posix_spawnp(pid: *mut libc::pid_t, file: *const c_char, actions: *const libc::posix_spawn_file_actions_t, attr: *const libc::posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int;
    fn __chk_fail() -> ();
    fn pthread_create(thread: *mut libc::pthread_t, attr: Attr, start: StartRoutine, arg: *mut c_void) -> c_int;
    fn pthread_join(thread: libc::pthread_t, retval: *mut *mut c_void) -> c_int;
    fn pthread_detach(thread: libc::pthread_t) -> c_int;
    fn pthread_exit(retval: *mut c_void) -> ();
    fn pthread_self() -> libc::pthread_t;
    fn pthread_key_create(key: *mut libc::pthread_key_t, destructor: Option<unsafe extern "C" fn(*mut c_void)>) -> c_int;
    fn pthread_key_delete(key: libc::pthread_key_t) -> c_int;
    fn pthread_getspecific(key: libc::pthread_key_t) -> *mut c_void;
    fn pthread_setspecific(key: libc::pthread_key_t, value: *const c_void) -> c_int;
    fn pthread_getattr_np(thread: libc::pthread_t, attr: *mut libc::pthread_attr_t) -> c_int;
    fn pthread_mutex_lock(m: Mutex) -> c_int;
    fn pthread_mutex_trylock(m: Mutex) -> c_int;
    fn pthread_mutex_unlock(m: Mutex) -> c_int;
    fn pthread_mutex_clocklock(m: Mutex, clock: libc::clockid_t, abstime: Time) -> c_int;
    fn pthread_mutex_consistent(m: Mutex) -> c_int;
    fn pthread_mutex_init(m: Mutex, attr: *const libc::pthread_mutexattr_t) -> c_int;
    fn pthread_mutex_setprioceiling(m: Mutex, ceiling: c_int, old: *mut c_int) -> c_int;
    fn pthread_cond_wait(c: Cond, m: Mutex) -> c_int;
    fn pthread_cond_timedwait(c: Cond, m: Mutex, abstime: Time) -> c_int;
    fn pthread_cond_clockwait(c: Cond, m: Mutex, clock: libc::clockid_t, abstime: Time) -> c_int;
    fn pthread_cond_signal(c: Cond) -> c_int;
    fn pthread_cond_broadcast(c: Cond) -> c_int;
    fn sem_wait(sem: *mut libc::sem_t) -> c_int;
    fn sem_trywait(sem: *mut libc::sem_t) -> c_int;
    fn sem_timedwait(sem: *mut libc::sem_t, abstime: Time) -> c_int;
    fn sem_clockwait(sem: *mut libc::sem_t, clock: libc::clockid_t, abstime: Time) -> c_int;
    fn sem_post(sem: *mut libc::sem_t) -> c_int;
    fn pthread_rwlock_init(l: RwLock, attr: *const libc::pthread_rwlockattr_t) -> c_int;
    fn pthread_rwlock_destroy(l: RwLock) -> c_int;
    fn pthread_rwlock_rdlock(l: RwLock) -> c_int;
    fn pthread_rwlock_tryrdlock(l: RwLock) -> c_int;
    fn pthread_rwlock_timedrdlock(l: RwLock, abstime: Time) -> c_int;
    fn pthread_rwlock_clockrdlock(l: RwLock, clock: libc::clockid_t, abstime: Time) -> c_int;
    fn pthread_rwlock_wrlock(l: RwLock) -> c_int;
    fn pthread_rwlock_trywrlock(l: RwLock) -> c_int;
    fn pthread_rwlock_timedwrlock(l: RwLock, abstime: Time) -> c_int;
    fn pthread_rwlock_clockwrlock(l: RwLock, clock: libc::clockid_t, abstime: Time) -> c_int;
    fn pthread_rwlock_unlock(l: RwLock) -> c_int;
    fn pthread_barrier_init(b: *mut libc::pthread_barrier_t, attr: *const libc::pthread_barrierattr_t, count: core::ffi::c_uint) -> c_int;
    fn pthread_barrier_wait(b: *mut libc::pthread_barrier_t) -> c_int;
    fn pthread_once(control: *mut libc::pthread_once_t, init: Option<unsafe extern "C" fn()>) -> c_int;
    fn pthread_spin_lock(l: *mut libc::pthread_spinlock_t) -> c_int;
    fn pthread_spin_trylock(l: *mut libc::pthread_spinlock_t) -> c_int;
    fn pthread_setname_np(thread: libc::pthread_t, name: *const c_char) -> c_int;
    fn pthread_getname_np(thread: libc::pthread_t, name: *mut c_char, len: Size) -> c_int;
    fn pthread_kill(thread: libc::pthread_t, signal: c_int) -> c_int;
    fn pthread_sigqueue(thread: libc::pthread_t, signal: c_int, value: libc::sigval) -> c_int;
    fn pthread_cancel(thread: libc::pthread_t) -> c_int;
    fn pthread_setcancelstate(state: c_int, old: *mut c_int) -> c_int;
    fn pthread_setcanceltype(kind: c_int, old: *mut c_int) -> c_int;
    fn pthread_testcancel() -> ();
    fn __pthread_register_cancel(buf: *mut c_void) -> ();
    fn __pthread_unregister_cancel(buf: *mut c_void) -> ();
    fn __pthread_unwind_next(buf: *mut c_void) -> ();
    fn __cxa_thread_atexit_impl(destructor: unsafe extern "C" fn(*mut c_void), object: *mut c_void, dso: *mut c_void) -> c_int;
    fn timer_create(clock: libc::clockid_t, event: *mut libc::sigevent, id: *mut libc::timer_t) -> c_int;
    fn timer_delete(id: libc::timer_t) -> c_int;
    fn timer_settime(id: libc::timer_t, flags: c_int, new: *const libc::itimerspec, old: *mut libc::itimerspec) -> c_int;
    fn timer_gettime(id: libc::timer_t, current: *mut libc::itimerspec) -> c_int;
    fn timer_getoverrun(id: libc::timer_t) -> c_int;
    fn siglongjmp(env: *mut c_void, value: c_int) -> ();
    fn longjmp(env: *mut c_void, value: c_int) -> ();
    fn _longjmp(env: *mut c_void, value: c_int) -> ();
    fn __longjmp_chk(env: *mut c_void, value: c_int) -> ();
}

real_variadic_fns! {
    fn fcntl(fd: c_int, cmd: c_int; arg: usize) -> c_int;
    fn syscall(number: libc::c_long, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize; a6: usize) -> libc::c_long;
    fn open(path: *const c_char, flags: c_int; mode: c_uint) -> c_int;
    fn open64(path: *const c_char, flags: c_int; mode: c_uint) -> c_int;
    fn openat(dir: c_int, path: *const c_char, flags: c_int; mode: c_uint) -> c_int;
    fn openat64(dir: c_int, path: *const c_char, flags: c_int; mode: c_uint) -> c_int;
}

// Calls that are cancellation points and nothing more to us (hooks/cancel_only.rs).
real_fns! {
    fn creat(path: *const c_char, mode: libc::mode_t) -> c_int;
    fn creat64(path: *const c_char, mode: libc::mode_t) -> c_int;
    fn pwrite(fd: c_int, buf: *const c_void, count: Size, offset: libc::off_t) -> SSize;
    fn pwrite64(fd: c_int, buf: *const c_void, count: Size, offset: libc::off64_t) -> SSize;
    fn preadv(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off_t) -> SSize;
    fn preadv64(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off64_t) -> SSize;
    fn pwritev(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off_t) -> SSize;
    fn pwritev64(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off64_t) -> SSize;
    fn preadv2(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off_t, flags: c_int) -> SSize;
    fn preadv64v2(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off64_t, flags: c_int) -> SSize;
    fn pwritev2(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off_t, flags: c_int) -> SSize;
    fn pwritev64v2(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off64_t, flags: c_int) -> SSize;
    fn msync(addr: *mut c_void, len: Size, flags: c_int) -> c_int;
    fn tcdrain(fd: c_int) -> c_int;
}

// pthread_t functions answered for green threads (hooks/thread_np.rs, hooks/thread_sched.rs)
// and file locks (hooks/filelock.rs).
real_fns! {
    fn pthread_tryjoin_np(thread: libc::pthread_t, retval: *mut *mut c_void) -> c_int;
    fn pthread_timedjoin_np(thread: libc::pthread_t, retval: *mut *mut c_void, abstime: Time) -> c_int;
    fn pthread_clockjoin_np(thread: libc::pthread_t, retval: *mut *mut c_void, clock: libc::clockid_t, abstime: Time) -> c_int;
    fn pthread_getcpuclockid(thread: libc::pthread_t, clock: *mut libc::clockid_t) -> c_int;
    fn pthread_setattr_default_np(attr: Attr) -> c_int;
    fn pthread_getschedparam(thread: libc::pthread_t, policy: *mut c_int, param: *mut libc::sched_param) -> c_int;
    fn pthread_setschedparam(thread: libc::pthread_t, policy: c_int, param: *const libc::sched_param) -> c_int;
    fn pthread_setschedprio(thread: libc::pthread_t, priority: c_int) -> c_int;
    fn pthread_getaffinity_np(thread: libc::pthread_t, size: Size, set: *mut libc::cpu_set_t) -> c_int;
    fn pthread_setaffinity_np(thread: libc::pthread_t, size: Size, set: *const libc::cpu_set_t) -> c_int;
    fn flock(fd: c_int, operation: c_int) -> c_int;
    fn lockf(fd: c_int, cmd: c_int, len: libc::off_t) -> c_int;
    fn lockf64(fd: c_int, cmd: c_int, len: libc::off64_t) -> c_int;
}
