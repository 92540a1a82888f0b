//! glibc's fortified entry points (`__read_chk`, `__recv_chk`, `__poll_chk`, ...) check
//! their buffer sizes as glibc does, and fail as glibc does.

/// glibc's fortify failure: "*** buffer overflow detected ***" and abort.
pub(super) fn fortify_fail() -> ! {
    // SAFETY: __chk_fail takes no arguments, reads no memory of ours, and never returns.
    unsafe { crate::sys::real::__chk_fail() };
    crate::runtime::log::fatal(&[b"__chk_fail returned"])
}
