//! Green thread stacks: one private anonymous mapping each, committed lazily by the kernel as
//! the thread touches it (an 8 MiB stack that uses 12 KiB costs 12 KiB of RSS), with a guard
//! page at the low end so an overflow faults instead of silently corrupting a neighbour.
//!
//! Stacks of the default size are pooled: spawning from the pool costs no syscall. A pooled
//! stack keeps the pages its last thread touched; past `HOT_STACKS` pooled stacks we hand those
//! pages back (MADV_DONTNEED) so a burst of threads does not pin its peak RSS forever.
//!
//! Guard pages: on Linux 6.13+ MADV_GUARD_INSTALL makes the guard part of the same VMA, so a
//! stack costs one VMA instead of two (vm.max_map_count, 65530 by default, otherwise caps us
//! at ~32k stacks). Older kernels get an mprotect(PROT_NONE) page.
//!
//! Where the guard page is, for corosensei's `Stack` contract (corosensei 0.3,
//! `stack::Stack`): "To preserve memory safety, a stack must have a guard page which catches
//! stack overflows. It must also contain at least [`MIN_STACK_SIZE`] bytes of usable
//! memory", and `limit()` "must include any guard pages in the stack". A stack we map is
//! `[low, low + len)`: its lowest page, `[low, low + page_size())`, is the guard (installed
//! by `StackPool::map` before the stack is handed out, and never removed while the mapping
//! lives), `limit()` returns `low`, so the limit includes it, and the usable part above it
//! is at least 16 KiB (settings::MIN_STACK_SIZE), above corosensei's 4096.
//!
//! A stack the program supplied with pthread_attr_setstack is the program's memory, used as
//! given: we add no guard to it, as glibc adds none to such a stack, so an overflow there
//! corrupts what lies below it exactly as it would natively. That is the one place where
//! the guard-page half of the contract rests on the program (POSIX makes the program
//! responsible for such a stack, and for its size of at least PTHREAD_STACK_MIN).
//!
//! Executable stacks: once glibc has made thread stacks executable (a dlopen'd module's
//! PT_GNU_STACK asked for it), execstack.rs says so with [`make_executable`] and mprotects
//! the live stacks itself; from then on a stack is mapped with PROT_EXEC, and one taken
//! from the pool is made executable first (glibc's `_dl_make_stacks_executable` changes
//! its cached stacks at once; ours are changed as they are reused). As in glibc, the guard
//! page keeps no access and a stack the program supplied is left as it is.

use crate::sys::{raw, valgrind};
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use corosensei::stack::{Stack, StackPointer};
use rustix::mm::{mmap_anonymous, mprotect, munmap, MapFlags, MprotectFlags, ProtFlags};

/// Pooled stacks kept fully committed; further ones are released to the kernel when pooled.
const HOT_STACKS: usize = 64;
/// Pooled stacks kept at all; more are unmapped.
const MAX_POOLED: usize = 4096;

/// Stacks are made executable (see the module doc): set once, never cleared.
static EXECUTABLE: AtomicBool = AtomicBool::new(false);

/// From now on every stack we hand out is executable. Async-signal-safe.
pub fn make_executable() {
    EXECUTABLE.store(true, Relaxed);
}

/// Makes `[low, low + len)` readable, writable and executable, as glibc's
/// `__nptl_change_stack_perm` does; whether the kernel agreed. Async-signal-safe (one raw
/// system call).
///
/// # Safety
/// `[low, low + len)` is the usable part of a stack we mapped, which is still mapped.
pub unsafe fn protect_executable(low: usize, len: usize) -> bool {
    let prot = (libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) as usize;
    // SAFETY: changes only the protection of our own stack's usable part (caller), adding
    // rights: no access that was allowed is taken away.
    unsafe { raw::syscall6(libc::SYS_mprotect, [low, len, prot, 0, 0, 0]) == 0 }
}

pub struct GreenStack {
    /// Lowest address of the mapping (the guard page), or of the caller's memory.
    low: usize,
    /// Bytes from `low` to the top of the stack.
    len: usize,
    /// Whether we mapped it (and so may pool or unmap it), or the program supplied it
    /// through pthread_attr_setstack.
    ours: bool,
    /// Made executable by us (mapped so, or changed when taken from the pool).
    executable: bool,
    /// Valgrind's id for the usable range, registered for as long as we hold the stack.
    valgrind_id: usize,
}

// SAFETY: `base` and `limit` describe memory that stays mapped and unused by anything else
// for as long as the GreenStack lives; for our own stacks both are page (hence 16-byte)
// aligned and the guard page sits at `limit` (see the module doc, which also says what
// holds for a stack the program supplied).
unsafe impl Stack for GreenStack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.low + self.len).expect("stack top is never 0")
    }
    fn limit(&self) -> StackPointer {
        StackPointer::new(self.low).expect("stack bottom is never 0")
    }
}

impl GreenStack {
    /// How deep threads have gone into this stack: see [`deepest_use`]. None for a stack
    /// the program supplied, whose pages are the program's to touch.
    pub fn deepest_use(&self) -> Option<usize> {
        let (low, len) = self.usable();
        self.ours.then(|| deepest_use(low, len)).flatten()
    }

    /// The usable range (above the guard page), as pthread_getattr_np reports a stack.
    pub fn usable(&self) -> (usize, usize) {
        if self.ours {
            (self.low + page_size(), self.len - page_size())
        } else {
            (self.low, self.len)
        }
    }
}

pub use raw::page_size;

pub struct StackPool {
    default_size: usize,
    pooled: Vec<GreenStack>,
    guard_in_vma: bool,
}

impl StackPool {
    pub const fn new() -> Self {
        StackPool { default_size: 8 << 20, pooled: Vec::new(), guard_in_vma: true }
    }

    pub fn set_default_size(&mut self, size: usize) {
        self.default_size = round_to_pages(size);
    }

    pub fn default_size(&self) -> usize {
        self.default_size
    }

    /// A stack with at least `size` usable bytes (None: the default), or None when the
    /// kernel refuses the memory (pthread_create then reports EAGAIN, as natively).
    pub fn take(&mut self, size: Option<usize>) -> Option<GreenStack> {
        let size = size.map_or(self.default_size, round_to_pages);
        if size == self.default_size {
            if let Some(stack) = self.pooled.pop() {
                return self.executable_if_due(stack);
            }
        }
        self.map(size)
    }

    /// Wraps memory the program gave us with pthread_attr_setstack; never pooled or unmapped.
    /// The top is aligned down to 16 bytes, as glibc aligns a stack the program gave it
    /// (nptl/allocatestack.c): the ABI wants an aligned stack pointer, and the coroutine's
    /// first frame is built at the top.
    pub fn borrowed(low: usize, len: usize) -> GreenStack {
        let top = (low + len) & !15;
        let valgrind_id = valgrind::register_stack(low, top);
        GreenStack { low, len: top.saturating_sub(low), ours: false, executable: false, valgrind_id }
    }

    /// A pooled stack as stacks are made now: executable once they are executable (the
    /// handler may have made it so already: mprotect again costs one system call once).
    /// When the kernel refuses, the stack is unmapped and a fresh one mapped instead.
    fn executable_if_due(&mut self, mut stack: GreenStack) -> Option<GreenStack> {
        // Ours, not the program's: never trapped (sys/own_calls.rs).
        let _own = crate::sys::own_calls::own_calls();
        if stack.executable || !EXECUTABLE.load(Relaxed) {
            return Some(stack);
        }
        let (low, len) = stack.usable();
        // SAFETY: the usable part of a pooled stack of ours, mapped, on which nothing runs.
        if unsafe { protect_executable(low, len) } {
            stack.executable = true;
            return Some(stack);
        }
        // SAFETY: our own pooled mapping, which nothing runs on or refers to.
        unsafe { unmap(stack) };
        self.map(len)
    }

    pub fn give_back(&mut self, stack: GreenStack) {
        // Ours, not the program's: never trapped (sys/own_calls.rs).
        let _own = crate::sys::own_calls::own_calls();
        if !stack.ours {
            valgrind::forget_stack(stack.valgrind_id);
            return;
        }
        let usable = stack.len - page_size();
        let keeps_pages = usable == self.default_size && self.pooled.len() < HOT_STACKS;
        // Measured as its pages go (a pooled stack that keeps them is measured at exit,
        // `measure_pooled`): a spawn-and-join loop on the hot pool pays nothing.
        if !keeps_pages && super::stackmem::measuring_depth() {
            super::stackmem::used(stack.deepest_use().unwrap_or(0));
        }
        if usable != self.default_size || self.pooled.len() >= MAX_POOLED {
            // SAFETY: the mapping is ours and no coroutine runs on it any more.
            unsafe { unmap(stack) };
            return;
        }
        if self.pooled.len() >= HOT_STACKS {
            // SAFETY: the usable part of our own mapping, page-aligned; no coroutine runs on
            // it any more, so its contents are garbage.
            unsafe { raw::madvise_dontneed((stack.low + page_size()) as *mut u8, usable) };
        }
        self.pooled.push(stack);
    }

    /// For GREEN_STATS at exit: the pooled stacks that kept their pages count too.
    pub fn measure_pooled(&self) {
        for stack in &self.pooled {
            super::stackmem::used(stack.deepest_use().unwrap_or(0));
        }
    }

    fn map(&mut self, size: usize) -> Option<GreenStack> {
        // Ours, not the program's: never trapped (sys/own_calls.rs).
        let _own = crate::sys::own_calls::own_calls();
        let guard = page_size();
        let len = size.checked_add(guard)?;
        let executable = EXECUTABLE.load(Relaxed);
        let prot = if executable { ProtFlags::READ | ProtFlags::WRITE | ProtFlags::EXEC } else { ProtFlags::READ | ProtFlags::WRITE };
        // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing aliases
        // nothing. NORESERVE: an 8 MiB stack must not count 8 MiB against overcommit.
        let low = unsafe {
            mmap_anonymous(core::ptr::null_mut(), len, prot, MapFlags::PRIVATE | MapFlags::NORESERVE | MapFlags::STACK)
        }
        .ok()? as usize;
        // SAFETY: the first page of our own fresh mapping, which holds nothing yet.
        if !(self.guard_in_vma && unsafe { raw::madvise_guard(low as *mut u8, guard) }) {
            self.guard_in_vma = false;
            // SAFETY: the first page of our own fresh mapping.
            if unsafe { mprotect(low as *mut _, guard, MprotectFlags::empty()) }.is_err() {
                // SAFETY: as above; without a guard we would rather fail the spawn.
                let _ = unsafe { munmap(low as *mut _, len) };
                return None;
            }
        }
        super::stackmem::mapped(len, true);
        let valgrind_id = valgrind::register_stack(low + guard, low + len);
        Some(GreenStack { low, len, ours: true, executable, valgrind_id })
    }
}

/// Unmaps a stack of ours.
///
/// # Safety
/// `stack` is one we mapped, and no coroutine runs on it or will.
unsafe fn unmap(stack: GreenStack) {
    valgrind::forget_stack(stack.valgrind_id);
    super::stackmem::mapped(stack.len, false);
    // SAFETY: as the caller's.
    let _ = unsafe { munmap(stack.low as *mut _, stack.len) };
}

/// How deep threads have gone into the usable stack range `[low, low + len)` of one of our
/// stacks: from its top to the lowest page the kernel has committed (page granularity; a
/// pooled stack remembers its earlier threads until its pages are handed back). Costs a
/// mincore per 512 pages, so only GREEN_STATS asks. None if the kernel refuses.
pub fn deepest_use(low: usize, len: usize) -> Option<usize> {
    let mut residency = [0u8; 512];
    let chunk = residency.len() * page_size();
    let mut start = low;
    while start < low + len {
        let span = chunk.min(low + len - start);
        // SAFETY: `start` is page-aligned (a stack's usable part starts on a page); the
        // kernel writes a byte per page of the span, at most 512, into `residency`.
        if unsafe { raw::mincore(start, span, &mut residency) } < 0 {
            return None;
        }
        let pages = span / page_size();
        if let Some(first) = residency[..pages].iter().position(|&byte| byte & 1 != 0) {
            return Some(low + len - (start + first * page_size()));
        }
        start += span;
    }
    Some(0)
}

fn round_to_pages(size: usize) -> usize {
    let page = page_size();
    size.div_ceil(page) * page
}
