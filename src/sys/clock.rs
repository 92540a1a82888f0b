//! Clocks in nanoseconds. Deadlines inside the runtime are CLOCK_MONOTONIC nanoseconds;
//! callers that speak another clock convert once, when the wait starts.

use rustix::time::{clock_gettime, ClockId};

pub const NANOS_PER_SEC: u64 = 1_000_000_000;

#[inline]
fn read(clock: ClockId) -> u64 {
    // Where the vDSO falls back on the system call, it is ours, not the program's.
    let _own = super::own_calls::own_calls();
    let ts = clock_gettime(clock);
    ts.tv_sec as u64 * NANOS_PER_SEC + ts.tv_nsec as u64
}

/// CLOCK_MONOTONIC now (through the vDSO: no syscall).
#[inline]
pub fn monotonic_ns() -> u64 {
    read(ClockId::Monotonic)
}

/// The CPU's free-running counter (the TSC on x86-64, the virtual counter on aarch64): a
/// few cycles to read where a clock read costs tens of nanoseconds, for timing that runs on
/// every switch. Its rate is learnt against CLOCK_MONOTONIC by whoever needs nanoseconds.
#[inline(always)]
pub fn cycles() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: rdtsc reads a counter; no memory is touched.
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
    #[cfg(target_arch = "aarch64")]
    {
        let count: u64;
        // SAFETY: reading cntvct_el0 has no side effects; user space may read it on Linux.
        unsafe { core::arch::asm!("mrs {}, cntvct_el0", out(reg) count, options(nomem, nostack, preserves_flags)) };
        count
    }
}

/// Now on the clock a program named (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, ...),
/// or None for a clock we do not wait on (CPU-time clocks and unknown ids).
pub fn now_on(clock_id: libc::clockid_t) -> Option<u64> {
    let clock = match clock_id {
        libc::CLOCK_REALTIME => ClockId::Realtime,
        libc::CLOCK_MONOTONIC => ClockId::Monotonic,
        libc::CLOCK_BOOTTIME => ClockId::Boottime,
        _ => return None,
    };
    Some(read(clock))
}

/// A timespec the kernel would accept as a duration or absolute time: tv_nsec in range and
/// tv_sec not negative. Returns it in nanoseconds (saturating: a year-3000 deadline is
/// simply "never" for us).
pub fn timespec_ns(ts: &libc::timespec) -> Option<u64> {
    let nsec: i64 = ts.tv_nsec;
    if ts.tv_sec < 0 || !(0..NANOS_PER_SEC as i64).contains(&nsec) {
        return None;
    }
    Some((ts.tv_sec as u64).saturating_mul(NANOS_PER_SEC).saturating_add(ts.tv_nsec as u64))
}

pub fn ns_to_timespec(ns: u64) -> libc::timespec {
    libc::timespec {
        tv_sec: (ns / NANOS_PER_SEC) as libc::time_t,
        tv_nsec: (ns % NANOS_PER_SEC) as libc::c_long,
    }
}

/// Converts an absolute time on `clock_id` into a monotonic deadline, now.
pub fn deadline_from_abs(clock_id: libc::clockid_t, abs_ns: u64) -> Option<u64> {
    let now = now_on(clock_id)?;
    Some(monotonic_ns().saturating_add(abs_ns.saturating_sub(now)))
}
