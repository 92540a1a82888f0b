//! A thread pointer of its own per green thread (x86-64): every green thread gets a copy of
//! the OS thread's static TLS area and thread control block, and the scheduler points %fs
//! at the copy of the thread it runs. Thread-local variables then live at different
//! addresses in different green threads, as in native threads, so code that tells threads
//! apart by the address of a thread-local (Rust's mpmc channels, crossbeam) works.
//!
//! The layout (glibc's TLS variant II): the static TLS blocks of the modules loaded at
//! startup lie below the thread pointer, glibc's thread descriptor (`struct pthread`, whose
//! first words are the TCB header) at and above it. `_dl_get_tls_static_info` gives the
//! whole size, `_thread_db_sizeof_pthread` the descriptor's (both glibc-private, exported
//! for libthread_db and the like; without them we fall back to swapping contents, tls.rs).
//!
//! A copy starts as a snapshot of the OS thread's own area, then:
//! * header.tcb (%fs:0, what compiled code reads to find its TLS) points at the copy;
//! * header.self (%fs:16, glibc's THREAD_SELF) keeps pointing at the OS thread's real
//!   descriptor, so glibc's view of "this thread" (its thread list, setxid and
//!   cancellation bookkeeping, the robust-futex list the kernel knows) stays one and the
//!   same; fields glibc reads %fs-relative come from the snapshot, which names the same
//!   kernel thread. It is also how we recognise the hub thread (see raw::thread_self);
//! * the blocks of the program's modules (see tls.rs) start from their initialisation
//!   images, as a new thread's do; libc's and libgreen's keep the snapshot (errno, malloc's
//!   per-thread cache pointer, the locale), so all green threads share malloc's cache;
//! * header.dtv points at a copy of the dynamic thread vector in which static blocks point
//!   into the copy and blocks of modules loaded with dlopen are "not allocated yet": glibc
//!   allocates them for this green thread on first use, and we free them when it ends.
//!
//! `sched_getcpu` would read a CPU number the kernel writes into the real descriptor's
//! rseq area only; hooks/thread.rs answers it with the getcpu system call instead.

use crate::sys::raw;
use core::ffi::c_void;

/// x86-64 tcbhead_t: tcb at 0, dtv at 8, self at 16.
const HEADER_DTV: usize = 8;
/// glibc's TLS_DTV_UNALLOCATED.
const DTV_UNALLOCATED: usize = usize::MAX;

/// glibc's dtv_t: a counter, or a block pointer with what to free.
#[repr(C)]
#[derive(Clone, Copy)]
struct DtvSlot {
    value: usize,
    to_free: *mut c_void,
}

#[derive(Clone, Copy)]
pub struct AreaLayout {
    /// The OS thread's own thread pointer.
    pub real_tp: usize,
    /// Bytes of static TLS below the thread pointer, and of the descriptor above it.
    below: usize,
    above: usize,
    align: usize,
    fsgsbase: bool,
}

/// One green thread's copy.
pub struct Area {
    memory: *mut u8,
    pub tp: usize,
}

impl AreaLayout {
    /// The layout of the calling (hub) thread, or None where we cannot copy it safely.
    pub fn discover() -> Option<AreaLayout> {
        // SAFETY: dlsym with NUL-terminated names only looks symbols up.
        let (info, descriptor) = unsafe {
            (
                libc::dlsym(libc::RTLD_DEFAULT, c"_dl_get_tls_static_info".as_ptr()),
                libc::dlsym(libc::RTLD_DEFAULT, c"_thread_db_sizeof_pthread".as_ptr()),
            )
        };
        if info.is_null() || descriptor.is_null() {
            return None;
        }
        // SAFETY: glibc's _dl_get_tls_static_info is `void (size_t *size, size_t *align)`.
        let info: unsafe extern "C" fn(*mut usize, *mut usize) = unsafe { core::mem::transmute(info) };
        let (mut size, mut align) = (0usize, 0usize);
        // SAFETY: it fills the two size_t we pass.
        unsafe { info(&mut size, &mut align) };
        // SAFETY: _thread_db_sizeof_pthread is a `const uint32_t` in glibc's data.
        let above = unsafe { *(descriptor as *const u32) } as usize;
        let real_tp = raw::thread_pointer();
        let plausible = (512..=64 * 1024).contains(&above)
            && size > above
            && size - above <= 1 << 20
            && align.is_power_of_two()
            && align <= 4096
            && raw::thread_self() == real_tp;
        plausible.then(|| AreaLayout { real_tp, below: size - above, above, align, fsgsbase: raw::has_fsgsbase() })
    }

    /// Whether `address` lies in the OS thread's static TLS blocks.
    fn in_static_blocks(&self, address: usize) -> bool {
        address >= self.real_tp - self.below && address < self.real_tp
    }

    /// Makes a copy for a new green thread; `fresh` lists the blocks (address in the OS
    /// thread's area, size, initialisation image and its length) to start from their images.
    ///
    /// # Safety
    /// On the hub thread, whose own area is the one described; each `fresh` block lies in
    /// that area and its image is readable for its length (at most the block's size).
    pub unsafe fn create(&self, fresh: &[(usize, usize, *const u8, usize)]) -> Option<Area> {
        let total = self.below + self.above;
        // SAFETY: malloc has no preconditions (it is glibc's, not a hook of ours).
        let memory = unsafe { libc::malloc(total + self.align) } as *mut u8;
        if memory.is_null() {
            return None;
        }
        // The copy's thread pointer keeps the real one's alignment, so every block's does.
        let lowest_tp = memory as usize + self.below;
        let skew = self.real_tp % self.align;
        let mut tp = lowest_tp - lowest_tp % self.align + skew;
        if tp < lowest_tp {
            tp += self.align;
        }
        // SAFETY: the source is the hub thread's live static TLS area and descriptor, [real_tp
        // - below, real_tp + above), which glibc allocated as one piece; the destination is
        // inside `memory` (tp - below >= memory, tp + above <= memory + total + align).
        unsafe { core::ptr::copy_nonoverlapping((self.real_tp - self.below) as *const u8, (tp - self.below) as *mut u8, total) };
        for &(live, size, image, image_len) in fresh {
            let block = (tp - (self.real_tp - live)) as *mut u8;
            // SAFETY: `live` lies in the OS thread's area (caller), so `block` lies at the same
            // offset in the copy, `size` bytes long; the image is readable for `image_len`
            // <= `size` bytes (caller).
            unsafe {
                core::ptr::copy_nonoverlapping(image, block, image_len);
                core::ptr::write_bytes(block.add(image_len), 0, size - image_len);
            }
        }
        // SAFETY: on the hub thread (caller); `tp` is the copy's thread pointer.
        let Some(dtv) = (unsafe { self.copy_dtv(tp) }) else {
            // SAFETY: `memory` came from malloc above and nothing refers to it.
            unsafe { libc::free(memory as *mut c_void) };
            return None;
        };
        // SAFETY: the copy's TCB header lies at `tp`, inside `memory` (see above).
        unsafe {
            *(tp as *mut usize) = tp;
            *((tp + HEADER_DTV) as *mut *mut DtvSlot) = dtv;
        }
        Some(Area { memory, tp })
    }

    /// A dtv for the copy at `tp`, malloc'd as glibc's own are (glibc may realloc it when a
    /// module loaded later needs more slots).
    ///
    /// # Safety
    /// On the hub thread, whose area this layout describes.
    unsafe fn copy_dtv(&self, tp: usize) -> Option<*mut DtvSlot> {
        // SAFETY: the OS thread's TCB header holds its dtv pointer; glibc keeps the slot count
        // in the element before the first (dtv[-1]).
        let (real, slots) = unsafe {
            let real = *((self.real_tp + HEADER_DTV) as *const *const DtvSlot);
            (real, (*real.sub(1)).value)
        };
        // SAFETY: malloc has no preconditions.
        let copy = unsafe { libc::malloc((slots + 2) * core::mem::size_of::<DtvSlot>()) } as *mut DtvSlot;
        if copy.is_null() {
            return None;
        }
        // SAFETY: the real dtv has `slots` + 2 elements from dtv[-1] (the count and the
        // generation), and `copy` room for as many.
        let copy = unsafe {
            core::ptr::copy_nonoverlapping(real.sub(1), copy, 2);
            copy.add(1)
        };
        for i in 1..=slots {
            // SAFETY: i <= slots, inside both vectors.
            let value = unsafe { (*real.add(i)).value };
            // Static blocks lie below the thread pointer: rebase by their distance under it.
            let rebased = if self.in_static_blocks(value) { tp - (self.real_tp - value) } else { DTV_UNALLOCATED };
            // SAFETY: as above.
            unsafe { *copy.add(i) = DtvSlot { value: rebased, to_free: core::ptr::null_mut() } };
        }
        Some(copy)
    }

    /// Points %fs at `tp`.
    ///
    /// # Safety
    /// `tp` is the OS thread's own thread pointer or a live Area's.
    #[inline(always)]
    pub unsafe fn switch_to(&self, tp: usize) {
        // SAFETY: `tp`'s layout matches this thread's (caller); `fsgsbase` is the kernel's.
        unsafe { raw::set_thread_pointer(tp, self.fsgsbase) };
    }

    /// In a forked child, on the thread that forked: the kernel and glibc have just updated
    /// the real descriptor (the new tid, the robust list), so the copy takes it over again.
    ///
    /// # Safety
    /// `area` is the forking green thread's, which is current.
    pub unsafe fn refresh_descriptor(&self, area: &Area) {
        // SAFETY: both descriptors are `above` bytes from their thread pointers, in live
        // memory (the OS thread's own and `area`'s); the copy keeps its own tcb and dtv.
        unsafe {
            let dtv = *((area.tp + HEADER_DTV) as *const usize);
            core::ptr::copy_nonoverlapping(self.real_tp as *const u8, area.tp as *mut u8, self.above);
            *(area.tp as *mut usize) = area.tp;
            *((area.tp + HEADER_DTV) as *mut usize) = dtv;
        }
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        // SAFETY: the area is not the current thread pointer's (tls.rs switches away first);
        // its dtv and the dynamic blocks glibc allocated through it are ours to free.
        unsafe {
            let dtv = *((self.tp + HEADER_DTV) as *const *mut DtvSlot);
            let slots = (*dtv.sub(1)).value;
            for i in 1..=slots {
                let to_free = (*dtv.add(i)).to_free;
                if !to_free.is_null() {
                    libc::free(to_free);
                }
            }
            libc::free(dtv.sub(1) as *mut c_void);
            libc::free(self.memory as *mut c_void);
        }
    }
}
