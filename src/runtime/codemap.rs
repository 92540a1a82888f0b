//! Where preemption must never stop a green thread: the executable code of the C library,
//! the dynamic linker, libgcc_s, libstdc++, the allocators people preload, and this
//! library (ARCHITECTURE.md, Preemption). Code there holds locks that are per OS
//! thread (glibc's internal locks, malloc's arenas, the loader's lock), or is the runtime
//! itself; a green thread stopped inside would let another green thread of the same OS
//! thread into the same lock. A leaf of the runtime.
//!
//! The map is built with `dl_iterate_phdr` (which takes the loader's lock, so never from a
//! signal handler), and rebuilt whenever the loader's count of loaded objects changed
//! (`dlopen`). The tick's handler only reads it, through atomics; while a rebuild is under
//! way (the handler may interrupt it: both run on the hub thread) every address counts as
//! excluded. The vDSO is not excluded: its clock reads hold no lock and are often what a
//! spinning loop calls.

use core::ffi::{c_int, c_void, CStr};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

const MAX_RANGES: usize = 128;

/// Basename prefixes of the objects whose code is excluded.
const EXCLUDED: &[&[u8]] = &[
    b"libc.so",
    b"libc-",
    b"libpthread",
    b"libdl.so",
    b"librt.so",
    b"ld-linux",
    b"ld64.so",
    b"ld-",
    b"libgcc_s",
    b"libstdc++",
    b"libjemalloc",
    b"libtcmalloc",
    b"libmimalloc",
];

static STARTS: [AtomicUsize; MAX_RANGES] = [const { AtomicUsize::new(0) }; MAX_RANGES];
static ENDS: [AtomicUsize; MAX_RANGES] = [const { AtomicUsize::new(0) }; MAX_RANGES];
static COUNT: AtomicUsize = AtomicUsize::new(0);
static UPDATING: AtomicBool = AtomicBool::new(false);
/// The loader's dlpi_adds when the map was built (u64::MAX: never built).
static BUILT_AT: AtomicU64 = AtomicU64::new(u64::MAX);

/// Whether `pc` is in excluded code (or the map is being rebuilt). Async-signal-safe.
#[inline]
pub fn is_excluded(pc: usize) -> bool {
    if UPDATING.load(Relaxed) || BUILT_AT.load(Relaxed) == u64::MAX {
        return true;
    }
    let count = COUNT.load(Relaxed).min(MAX_RANGES);
    (0..count).any(|i| STARTS[i].load(Relaxed) <= pc && pc < ENDS[i].load(Relaxed))
}

/// Rebuilds the map if objects were loaded since it was built. Returns whether it did.
/// Not from a signal handler.
pub fn refresh() -> bool {
    let adds = loader_adds();
    if adds == BUILT_AT.load(Relaxed) {
        return false;
    }
    UPDATING.store(true, Relaxed);
    COUNT.store(0, Relaxed);
    let own = is_excluded as *const () as usize;
    // SAFETY: the callback matches dl_iterate_phdr's contract and only reads the entries it
    // is given; `own` outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(collect), &own as *const usize as *mut c_void) };
    BUILT_AT.store(adds, Relaxed);
    UPDATING.store(false, Relaxed);
    true
}

/// The loader's count of objects loaded so far (the first entry's dlpi_adds).
fn loader_adds() -> u64 {
    extern "C" fn first(info: *mut libc::dl_phdr_info, size: usize, data: *mut c_void) -> c_int {
        if size >= core::mem::size_of::<libc::dl_phdr_info>() {
            // SAFETY: dl_iterate_phdr hands a valid entry of `size` bytes, which covers
            // dlpi_adds; `data` is the caller's u64.
            unsafe { *(data as *mut u64) = (*info).dlpi_adds };
        }
        1
    }
    let mut adds = 0u64;
    // SAFETY: `first` only reads the entry and writes our local, then stops the walk.
    unsafe { libc::dl_iterate_phdr(Some(first), &mut adds as *mut u64 as *mut c_void) };
    adds
}

extern "C" fn collect(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
    // SAFETY: dl_iterate_phdr hands a valid entry for the duration of the call; `data` is
    // refresh's `own`.
    let (info, own) = unsafe { (&*info, *(data as *const usize)) };
    let segments: &[libc::Elf64_Phdr] = if info.dlpi_phdr.is_null() {
        &[]
    } else {
        // SAFETY: the entry's program headers, dlpi_phnum of them, live as long as the object.
        unsafe { core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) }
    };
    let text = segments
        .iter()
        .filter(|p| p.p_type == libc::PT_LOAD && p.p_flags & libc::PF_X != 0)
        .map(|p| (info.dlpi_addr as usize + p.p_vaddr as usize, p.p_memsz as usize));
    let named = !info.dlpi_name.is_null() && {
        // SAFETY: a non-null dlpi_name is a NUL-terminated path.
        let name = unsafe { CStr::from_ptr(info.dlpi_name) }.to_bytes();
        is_excluded_name(name)
    };
    let ours = text.clone().any(|(start, len)| start <= own && own < start + len);
    if named || ours {
        for (start, len) in text {
            push(start, start + len);
        }
    }
    0
}

fn push(start: usize, end: usize) {
    let i = COUNT.load(Relaxed);
    if i < MAX_RANGES {
        STARTS[i].store(start, Relaxed);
        ENDS[i].store(end, Relaxed);
        COUNT.store(i + 1, Relaxed);
    }
}

/// Whether a loaded object's path names one of the excluded libraries.
fn is_excluded_name(path: &[u8]) -> bool {
    let base = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    !base.is_empty() && EXCLUDED.iter().any(|prefix| base.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use crate::runtime::codemap::*;

    #[test]
    fn names() {
        for excluded in ["/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2", "libstdc++.so.6", "/usr/lib/libgcc_s.so.1", "/lib/ld-linux-aarch64.so.1"] {
            assert!(is_excluded_name(excluded.as_bytes()), "{excluded}");
        }
        for kept in ["", "linux-vdso.so.1", "/usr/bin/python3", "/usr/lib/libpython3.12.so.1.0", "/lib/libcrypto.so.3", "/opt/x/libcustom.so"] {
            assert!(!is_excluded_name(kept.as_bytes()), "{kept}");
        }
    }

    #[test]
    fn this_code_and_libc_are_excluded_the_test_binary_is_not() {
        assert!(is_excluded(0x1000), "before the first build everything is excluded");
        refresh();
        assert!(is_excluded(is_excluded_name as *const () as usize), "the runtime's own code");
        assert!(is_excluded(libc::getpid as *const () as usize), "the C library");
        assert!(!refresh(), "nothing was loaded meanwhile");
    }
}
