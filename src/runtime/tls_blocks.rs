//! Thread-local variables per green thread: the static TLS blocks, a green thread's copy of
//! them, and how the live contents change hands. Pure data: nothing here knows the green
//! thread record or the runtime (tls.rs applies this to green threads).
//!
//! `__thread` / `thread_local` variables of the program and of the libraries loaded with it
//! live in the OS thread's static TLS area, at addresses fixed for the thread's life. All
//! green threads share that OS thread, so without help they would share those variables:
//! Rust's std keeps each thread's identity there (`thread::current`, the panic count) and
//! aborts when a second thread sets it; C++ keeps the exception being handled there; C
//! programs keep per-thread buffers and counters there. So every green thread gets its own
//! copy of those blocks, as a native thread gets its own area.
//!
//! Only programs that have such variables pay for this (a C program without `__thread` and
//! CPython have none: the scheduler then does one compare per switch). Two ways:
//!
//! * **Own thread pointers** (x86-64, tls_area.rs): each green thread gets a copy of the
//!   whole static TLS area and the scheduler points %fs at the copy of the thread it runs
//!   (one `wrfsbase` when the next thread differs from the last). Addresses differ between
//!   green threads, as between native threads.
//! * **Swapped contents** (elsewhere, or when glibc does not tell us its TLS layout): the
//!   blocks' live memory holds the contents of one green thread, `owner`; when the
//!   scheduler is about to run another one, it saves the live contents into the owner's
//!   save area and loads the next thread's. A thread-local then has the same address in
//!   every green thread, so code that tells threads apart by such an address mistakes them
//!   for one another (the README lists this under Limits).
//!
//! Either way a new green thread's blocks start from the modules' initialisation images, as
//! glibc fills a new thread's. Swapped contents leave libc's own block (its malloc
//! per-thread cache belongs to the OS thread, and errno is switched by the scheduler, see
//! green.rs), libgreen's, and blocks of libraries loaded later with dlopen shared; own
//! thread pointers give each green thread a snapshot of libc's block (sharing malloc's
//! cache, whose pointer it holds) and its own blocks for dlopen'd libraries.
//!
//! Thread-local destructors (C++ `thread_local` objects, Rust `thread_local!` values) are
//! registered with `__cxa_thread_atexit_impl`; glibc would run them when the OS thread ends,
//! on whichever green thread's contents are live then. So registrations made on a green
//! thread are kept in its record and run when it ends, with its own contents live, before
//! its pthread key destructors, in glibc's order (last registered, first run).


use crate::sys::log;
#[cfg(target_arch = "x86_64")]
use super::tls_area::{Area, AreaLayout};
use core::ffi::c_void;

/// Above this many bytes per switch, copying would cost more than the switch itself by an
/// order of magnitude: such a program keeps shared TLS (with a warning).
const MAX_SWAPPED_BYTES: usize = 64 * 1024;
const MAX_BLOCKS: usize = 16;

/// One module's static TLS block in the hub thread.
#[derive(Clone, Copy)]
struct Block {
    live: *mut u8,
    size: usize,
    /// The initialisation image (`.tdata`); the rest of the block starts zeroed (`.tbss`).
    image: *const u8,
    image_len: usize,
    /// Where this block's contents sit in a save area.
    offset: usize,
}

const NO_BLOCK: Block = Block { live: core::ptr::null_mut(), size: 0, image: core::ptr::null(), image_len: 0, offset: 0 };

pub struct Layout {
    blocks: [Block; MAX_BLOCKS],
    count: usize,
    /// Bytes of a save area: the sum of the swapped blocks' sizes.
    total: usize,
    /// Set when green threads get thread pointers of their own.
    #[cfg(target_arch = "x86_64")]
    area: Option<AreaLayout>,
}

pub type Destructor = unsafe extern "C" fn(*mut c_void);

/// A green thread's TLS state.
pub struct GreenTls {
    /// Its saved contents while another thread's are live; empty until it first switches
    /// out, and for a thread that never ran.
    saved: Vec<u8>,
    /// Whether `saved` holds its contents (otherwise it has never run: load the images).
    started: bool,
    destructors: Vec<(Destructor, *mut c_void)>,
    /// Its own TLS area, with own thread pointers.
    #[cfg(target_arch = "x86_64")]
    area: Option<Area>,
}

impl GreenTls {
    pub const fn new() -> Self {
        GreenTls {
            saved: Vec::new(),
            started: false,
            destructors: Vec::new(),
            #[cfg(target_arch = "x86_64")]
            area: None,
        }
    }

    /// Records a thread-local destructor to run when this thread ends.
    pub fn push_destructor(&mut self, destructor: Destructor, object: *mut c_void) {
        self.destructors.push((destructor, object));
    }

    /// The newest destructor not yet run.
    pub fn pop_destructor(&mut self) -> Option<(Destructor, *mut c_void)> {
        self.destructors.pop()
    }
}

struct Search {
    layout: Layout,
    /// Addresses inside modules whose blocks stay shared (libc, libgreen).
    shared_markers: [usize; 2],
    skipped_large: usize,
}

/// The static TLS blocks to swap, found once when the runtime starts (on the hub thread,
/// whose blocks `dlpi_tls_data` then names).
pub fn discover() -> Layout {
    static MARKER: u8 = 0;
    let mut search = Search {
        layout: Layout {
            blocks: [NO_BLOCK; MAX_BLOCKS],
            count: 0,
            total: 0,
            #[cfg(target_arch = "x86_64")]
            area: None,
        },
        shared_markers: [libc::__errno_location as *const () as usize, &MARKER as *const u8 as usize],
        skipped_large: 0,
    };
    // SAFETY: the callback only reads the loader's per-module records for the duration of
    // the call and writes into `search`, which outlives it.
    unsafe { libc::dl_iterate_phdr(Some(visit_module), &mut search as *mut Search as *mut c_void) };
    if search.skipped_large > 0 {
        log::log!(
            Warn,
            "{} bytes of thread-local storage are shared by all green threads (too large to copy on every switch)",
            search.skipped_large
        );
    }
    #[cfg(target_arch = "x86_64")]
    if !search.layout.is_empty() {
        search.layout.area = AreaLayout::discover();
        if search.layout.area.is_none() {
            log::log!(Info, "glibc's TLS layout is unknown: thread-locals are swapped in place");
        }
    }
    search.layout
}

/// dl_iterate_phdr callback: records the module's TLS block unless it stays shared.
///
/// # Safety
/// Called by dl_iterate_phdr only: `info` is the loader's record of one module, valid for
/// the call, and `data` is the `Search` that `discover` passed.
unsafe extern "C" fn visit_module(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> i32 {
    // SAFETY: `data` is `discover`'s `&mut Search`, not otherwise borrowed during the walk.
    let search = unsafe { &mut *(data as *mut Search) };
    // SAFETY: the loader's record is valid and unchanged for the duration of the callback.
    let info = unsafe { &*info };
    if info.dlpi_tls_modid == 0 || info.dlpi_tls_data.is_null() {
        return 0;
    }
    // SAFETY: dlpi_phdr points at the module's dlpi_phnum program headers, mapped for the
    // module's life.
    let headers = unsafe { core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    let contains = |address: usize| {
        headers.iter().any(|h| {
            let start = info.dlpi_addr as usize + h.p_vaddr as usize;
            h.p_type == libc::PT_LOAD && address >= start && address < start + h.p_memsz as usize
        })
    };
    if search.shared_markers.iter().any(|&m| contains(m)) {
        return 0;
    }
    let Some(tls) = headers.iter().find(|h| h.p_type == libc::PT_TLS) else { return 0 };
    let size = tls.p_memsz as usize;
    let layout = &mut search.layout;
    if size == 0 {
        return 0;
    }
    if layout.count == MAX_BLOCKS || layout.total + size > MAX_SWAPPED_BYTES {
        search.skipped_large += size;
        return 0;
    }
    layout.blocks[layout.count] = Block {
        live: info.dlpi_tls_data as *mut u8,
        size,
        image: (info.dlpi_addr as usize + tls.p_vaddr as usize) as *const u8,
        image_len: tls.p_filesz as usize,
        offset: layout.total,
    };
    layout.count += 1;
    layout.total += size;
    0
}

impl Layout {
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn blocks(&self) -> &[Block] {
        &self.blocks[..self.count]
    }

    /// Makes `to`'s contents the live ones, saving the live contents into `from` (the
    /// thread whose contents are live now; null when nobody's are worth keeping).
    ///
    /// # Safety
    /// On the hub thread, whose static TLS this layout describes. `from` is null or the
    /// live owner's record and `to` a different live record; no code of `from` runs
    /// before its contents come back (the scheduler runs only `to` next).
    #[inline(always)]
    pub unsafe fn switch(&self, from: *mut GreenTls, to: *mut GreenTls) {
        #[cfg(target_arch = "x86_64")]
        if let Some(layout) = &self.area {
            // SAFETY: `to` is live (caller); its area, if any, lives as long as it does.
            let tp = unsafe { (*to).area.as_ref() }.map_or(layout.real_tp, |a| a.tp);
            // SAFETY: `tp` is the OS thread's own thread pointer or a live Area's.
            unsafe { layout.switch_to(tp) };
            return;
        }
        // SAFETY: the caller's contract is `swap`'s.
        unsafe { self.swap(from, to) };
    }

    /// # Safety
    /// As for `switch`, on the swapped-contents path.
    #[inline(never)]
    unsafe fn swap(&self, from: *mut GreenTls, to: *mut GreenTls) {
        // SAFETY: `from` is null or live and distinct from `to` (caller).
        if let Some(state) = unsafe { from.as_mut() } {
            state.saved.resize(self.total, 0);
            for b in self.blocks() {
                // SAFETY: `live` is this module's block of `size` bytes in the hub thread's
                // static TLS; the save area has `total` bytes, of which this block owns
                // [offset, offset + size).
                unsafe { core::ptr::copy_nonoverlapping(b.live, state.saved.as_mut_ptr().add(b.offset), b.size) };
            }
            state.started = true;
        }
        // SAFETY: `to` is live (caller) and not aliased by `from`.
        let state = unsafe { &*to };
        for b in self.blocks() {
            if state.started {
                // SAFETY: as above, in the other direction (`saved` has `total` bytes).
                unsafe { core::ptr::copy_nonoverlapping(state.saved.as_ptr().add(b.offset), b.live, b.size) };
            } else {
                // SAFETY: the image is the module's PT_TLS file contents, mapped read-only for
                // the module's life, `image_len` <= `size` bytes; the block is as above.
                unsafe {
                    core::ptr::copy_nonoverlapping(b.image, b.live, b.image_len);
                    core::ptr::write_bytes(b.live.add(b.image_len), 0, b.size - b.image_len);
                }
            }
        }
    }

    /// Gives a new green thread what it needs before it first runs. False when memory for
    /// its TLS area cannot be had.
    ///
    /// # Safety
    /// On the hub thread, whose static TLS this layout describes.
    pub unsafe fn prepare(&self, tls: &mut GreenTls) -> bool {
        #[cfg(target_arch = "x86_64")]
        if let Some(layout) = &self.area {
            let fresh: Vec<_> =
                self.blocks().iter().map(|b| (b.live as usize, b.size, b.image, b.image_len)).collect();
            // SAFETY: on the hub thread (caller), whose area `layout` describes.
            match unsafe { layout.create(&fresh) } {
                Some(area) => tls.area = Some(area),
                None => return false,
            }
        }
        let _ = tls;
        true
    }

    /// `tls` belongs to a thread that has ended; `live` says its contents are the live ones.
    /// Returns true when the OS thread's own area is live from now on (the root's), false
    /// when nobody's contents are (only meaningful when `live`).
    ///
    /// # Safety
    /// On the hub thread; when `live`, no code runs on the ended thread's contents again.
    pub unsafe fn forget(&self, tls: &mut GreenTls, live: bool) -> bool {
        #[cfg(target_arch = "x86_64")]
        if let Some(layout) = &self.area {
            if live {
                // Off its area before the area goes.
                // SAFETY: the OS thread's own thread pointer is always valid on it.
                unsafe { layout.switch_to(layout.real_tp) };
            }
            tls.area = None;
            return true;
        }
        let _ = live;
        tls.saved = Vec::new();
        false
    }

    /// In a forked child, on the green thread that forked: glibc and the kernel updated the
    /// OS thread's descriptor; a TLS area copied from it takes the update.
    ///
    /// # Safety
    /// On the child's only thread, with `tls` the current green thread's.
    pub unsafe fn refresh_after_fork(&self, tls: &GreenTls) {
        #[cfg(target_arch = "x86_64")]
        if let (Some(layout), Some(area)) = (&self.area, &tls.area) {
            // SAFETY: `area` is the forking green thread's, which is current (caller).
            unsafe { layout.refresh_descriptor(area) };
        }
        let _ = tls;
    }

    /// Whether a thread-local at `address`, seen from a green thread, is that thread's own.
    pub fn is_per_green(&self, address: usize) -> bool {
        #[cfg(target_arch = "x86_64")]
        if self.area.is_some() {
            return true;
        }
        self.blocks().iter().any(|b| address >= b.live as usize && address < b.live as usize + b.size)
    }
}
