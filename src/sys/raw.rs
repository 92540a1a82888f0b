//! The few kernel entry points rustix does not offer in the form we need, made directly.
//!
//! * `epoll_pwait2`: rustix rounds sub-millisecond timeouts up to whole milliseconds unless
//!   it is built for Linux >= 5.11 only; we want `usleep(100)` to stay ~100 us and still run
//!   on older kernels, so we try epoll_pwait2 and fall back on ENOSYS.
//! * `futex` wake for a glibc mutex word that a foreign (non-hub) thread may sleep on.
//! * `madvise(MADV_GUARD_INSTALL)`, which rustix's Advice enum does not name yet.

use core::arch::asm;
pub use super::thread_id::{thread_pointer, thread_self};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::Relaxed};

/// Asks the CPU to start loading the cache line at `addr` for reading. A hint only: any
/// address may be given, a bad one is simply not fetched.
#[inline(always)]
pub fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetcht0 never faults and writes nothing.
    unsafe {
        asm!("prefetcht0 [{}]", in(reg) addr, options(nostack, preserves_flags, readonly))
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: prfm never faults and writes nothing.
    unsafe {
        asm!("prfm pldl1keep, [{}]", in(reg) addr, options(nostack, preserves_flags, readonly))
    };
}

/// The caller's stack pointer (for a frame that stays put, the value it has at its calls).
#[inline(always)]
pub fn stack_pointer() -> usize {
    let sp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: copying rsp has no side effects.
    unsafe {
        asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: copying sp has no side effects.
    unsafe {
        asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    sp
}

/// Whether the kernel lets user code write the FS base directly (wrfsbase).
#[cfg(target_arch = "x86_64")]
pub fn has_fsgsbase() -> bool {
    const HWCAP2_FSGSBASE: libc::c_ulong = 1 << 1;
    // SAFETY: getauxval only reads the auxiliary vector.
    unsafe { libc::getauxval(libc::AT_HWCAP2) & HWCAP2_FSGSBASE != 0 }
}

/// Points %fs at `tp`: with wrfsbase when the kernel allows it, else arch_prctl.
///
/// # Safety
/// `tp` must be a thread pointer whose TLS layout matches this thread's (runtime/tls_area.rs),
/// and `fsgsbase` must come from `has_fsgsbase` (wrfsbase faults where the kernel forbids it).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn set_thread_pointer(tp: usize, fsgsbase: bool) {
    const ARCH_SET_FS: usize = 0x1002;
    if fsgsbase {
        // SAFETY: the kernel enabled FSGSBASE (caller); what %fs then points at is the
        // caller's promise.
        unsafe { asm!("wrfsbase {}", in(reg) tp, options(nostack, preserves_flags)) };
    } else {
        // SAFETY: arch_prctl(ARCH_SET_FS) only sets the register; as above for what it names.
        unsafe { syscall6(libc::SYS_arch_prctl, [ARCH_SET_FS, tp, 0, 0, 0, 0]) };
    }
}

/// A raw syscall with up to six arguments; returns the kernel's value (-errno on failure).
///
/// On the thread Syscall User Dispatch is on for, the selector reads ALLOW for the call: our
/// own calls must not trap (a trap costs microseconds, and one made while the kernel mask
/// blocks SIGSYS kills the process). The value before is put back after, not BLOCK: a
/// handler of ours may run this inside the window where the dispatch gadget set ALLOW
/// (runtime/sud_x86_64.rs). Other threads leave the byte alone, which is only the hub's.
///
/// # Safety
/// The caller guarantees the arguments are valid for syscall `nr` (pointers point to
/// memory of the right size for as long as the kernel uses it).
#[inline]
pub unsafe fn syscall6(nr: libc::c_long, a: [usize; 6]) -> isize {
    let _own = super::own_calls::own_calls();
    // SAFETY: the caller's promise. The asm block may touch memory, so the compiler keeps
    // the selector's stores on either side of it.
    unsafe { kernel_call(nr, a) }
}

/// getpid(2), untrapped.
pub fn getpid() -> i32 {
    // SAFETY: getpid takes no arguments.
    unsafe { syscall6(libc::SYS_getpid, [0; 6]) as i32 }
}

/// gettid(2), untrapped.
pub fn gettid() -> i32 {
    // SAFETY: gettid takes no arguments.
    unsafe { syscall6(libc::SYS_gettid, [0; 6]) as i32 }
}

/// The `syscall` (`svc`) instruction itself.
///
/// # Safety
/// As for `syscall6`.
#[inline(always)]
unsafe fn kernel_call(nr: libc::c_long, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the Linux x86-64 syscall ABI: number in rax, arguments in rdi, rsi, rdx, r10,
    // r8, r9, rcx and r11 clobbered; what the kernel does with the arguments is the
    // caller's promise.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack)
        )
    };
    // SAFETY: the Linux aarch64 syscall ABI: number in x8, arguments in x0..x5, result in
    // x0; as above for the arguments.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        asm!(
            "svc 0",
            in("x8") nr,
            inlateout("x0") a[0] => ret,
            in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
            options(nostack)
        )
    };
    ret
}

static NO_EPOLL_PWAIT2: AtomicBool = AtomicBool::new(false);

/// Waits on `epfd` for at most `timeout_ns` (None: forever), filling `events`. Returns the
/// number of events or -errno (EINTR when a signal handler ran).
pub fn epoll_wait_ns(epfd: i32, events: &mut [libc::epoll_event], timeout_ns: Option<u64>) -> isize {
    let max = events.len().min(i32::MAX as usize);
    let events = events.as_mut_ptr();
    if !NO_EPOLL_PWAIT2.load(Relaxed) {
        let ts = timeout_ns.map(super::clock::ns_to_timespec);
        let ts_ptr = ts.as_ref().map_or(0, |t| t as *const libc::timespec as usize);
        // SAFETY: `events` has room for `max` events (it is a slice of that many); `ts_ptr` is null or points at
        // a timespec that lives across the call; no signal mask is passed.
        let r = unsafe {
            syscall6(libc::SYS_epoll_pwait2, [epfd as usize, events as usize, max, ts_ptr, 0, 8])
        };
        if r != -(libc::ENOSYS as isize) {
            return r;
        }
        NO_EPOLL_PWAIT2.store(true, Relaxed);
    }
    // Pre-5.11 kernel: millisecond timeouts, rounded up so we never wake before a deadline.
    let ms = match timeout_ns {
        None => -1,
        Some(ns) => ns.div_ceil(1_000_000).min(i32::MAX as u64) as i64,
    };
    // SAFETY: as above; epoll_pwait with a null sigmask is epoll_wait.
    unsafe {
        syscall6(libc::SYS_epoll_pwait, [epfd as usize, events as usize, max, ms as usize, 0, 8])
    }
}

/// Wakes up to `count` OS threads sleeping in FUTEX_WAIT on `word`.
///
/// Safe for any address: FUTEX_WAKE never reads or writes the word (the kernel only keys its
/// wait queues on the address), so a wrong one wakes nobody, or wakes a waiter spuriously,
/// which every futex protocol must tolerate anyway.
pub fn futex_wake(word: *const i32, count: i32, private: bool) {
    let op = libc::FUTEX_WAKE | if private { libc::FUTEX_PRIVATE_FLAG } else { 0 };
    // SAFETY: FUTEX_WAKE takes no pointer the kernel writes through (see above).
    unsafe { syscall6(libc::SYS_futex, [word as usize, op as usize, count as usize, 0, 0, 0]) };
}

const MADV_GUARD_INSTALL: usize = 102;

/// Turns [addr, addr+len) into guard pages inside the same mapping (Linux 6.13+), which
/// costs no extra VMA. Returns false where the kernel does not support it.
///
/// # Safety
/// The range is page-aligned, inside a private anonymous mapping the caller owns, and holds
/// nothing anyone will read again: its contents are discarded and any access faults after.
pub unsafe fn madvise_guard(addr: *mut u8, len: usize) -> bool {
    // SAFETY: the caller gives up the range (see above).
    unsafe { syscall6(libc::SYS_madvise, [addr as usize, len, MADV_GUARD_INSTALL, 0, 0, 0]) == 0 }
}

/// Releases the pages of [addr, addr+len) (MADV_DONTNEED): the range reads as zeros after.
///
/// # Safety
/// The range is page-aligned, inside a private anonymous mapping the caller owns, and nothing
/// in it is in use (its contents are lost).
pub unsafe fn madvise_dontneed(addr: *mut u8, len: usize) {
    // SAFETY: the caller gives up the range's contents (see above).
    unsafe {
        syscall6(libc::SYS_madvise, [addr as usize, len, libc::MADV_DONTNEED as usize, 0, 0, 0])
    };
}

/// Which pages of [addr, addr+len) are resident (mincore(2)): one byte per page into
/// `residency`, bit 0 set for a resident page. Returns 0 or -errno.
///
/// # Safety
/// `addr` is page-aligned and `residency` has a byte for every page of the range.
pub unsafe fn mincore(addr: usize, len: usize, residency: &mut [u8]) -> isize {
    // SAFETY: the kernel only writes `residency`, which is long enough (caller).
    unsafe { syscall6(libc::SYS_mincore, [addr, len, residency.as_mut_ptr() as usize, 0, 0, 0]) }
}

/// Sleeps the calling OS thread while `word` holds `expected`, for at most `timeout_secs`.
/// Returns false if the timeout passed.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout_secs: Option<i64>) -> bool {
    let timeout = timeout_secs.map(|secs| libc::timespec { tv_sec: secs, tv_nsec: 0 });
    let timeout_ptr = timeout.as_ref().map_or(0, |t| t as *const libc::timespec as usize);
    let op = (libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG) as usize;
    // SAFETY: `word` is a live, aligned 32-bit atomic for the whole call (a reference); the
    // kernel only reads it; the timespec outlives the call.
    let result = unsafe {
        syscall6(libc::SYS_futex, [word.as_ptr() as usize, op, expected as usize, timeout_ptr, 0, 0])
    };
    result != -(libc::ETIMEDOUT as isize)
}

/// The page size. The C library's answer (a `sysconf` call behind rustix) is asked once: it
/// never changes while the process lives, and write's hook needs it on every call.
pub fn page_size() -> usize {
    static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);
    match PAGE_SIZE.load(Relaxed) {
        0 => {
            let size = rustix::param::page_size();
            PAGE_SIZE.store(size, Relaxed);
            size
        }
        size => size,
    }
}
