//! Thread-local variables per green thread.
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

use super::green::Green;
use super::rt;
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
            blocks: [Block { live: core::ptr::null_mut(), size: 0, image: core::ptr::null(), image_len: 0, offset: 0 };
                MAX_BLOCKS],
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
        super::log::log!(
            Warn,
            "{} bytes of thread-local storage are shared by all green threads (too large to copy on every switch)",
            search.skipped_large
        );
    }
    #[cfg(target_arch = "x86_64")]
    if !search.layout.is_empty() {
        search.layout.area = AreaLayout::discover();
        if search.layout.area.is_none() {
            super::log::log!(Info, "glibc's TLS layout is unknown: thread-locals are swapped in place");
        }
    }
    search.layout
}

/// dl_iterate_phdr callback: records the module's TLS block unless it stays shared.
unsafe extern "C" fn visit_module(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> i32 {
    let search = &mut *(data as *mut Search);
    let info = &*info;
    if info.dlpi_tls_modid == 0 || info.dlpi_tls_data.is_null() {
        return 0;
    }
    let headers = core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize);
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
}

/// Makes `g`'s thread-local contents the live ones. Called by the scheduler right before it
/// runs `g`.
///
/// # Safety
/// Hub thread only; `g` is live, and no code of the previous owner is on the way to running
/// before its contents come back (the scheduler guarantees it: only `g` runs next).
#[inline(always)]
pub unsafe fn activate(g: *mut Green) {
    let rt = rt();
    if rt.tls_owner == g || rt.tls.is_empty() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(layout) = &rt.tls.area {
        let tp = (*g).tls.area.as_ref().map_or(layout.real_tp, |a| a.tp);
        layout.switch_to(tp);
        rt.tls_owner = g;
        return;
    }
    swap(rt.tls_owner, g);
    super::rt().tls_owner = g;
}

/// Gives a new green thread what it needs before it first runs. False when memory for its
/// TLS area cannot be had.
///
/// # Safety
/// Hub thread only.
pub unsafe fn prepare(g: *mut Green) -> bool {
    #[cfg(target_arch = "x86_64")]
    if let Some(layout) = &rt().tls.area {
        let fresh: Vec<_> = rt().tls.blocks().iter().map(|b| (b.live as usize, b.size, b.image, b.image_len)).collect();
        match layout.create(&fresh) {
            Some(area) => (*g).tls.area = Some(area),
            None => return false,
        }
    }
    let _ = g;
    true
}

/// In a forked child, on the green thread that forked: glibc and the kernel updated the
/// OS thread's descriptor; a TLS area copied from it takes the update.
///
/// # Safety
/// Hub thread of the child, `g` current.
pub unsafe fn after_fork_in_child(g: *mut Green) {
    #[cfg(target_arch = "x86_64")]
    if let (Some(layout), Some(area)) = (&rt().tls.area, &(*g).tls.area) {
        layout.refresh_descriptor(area);
    }
    let _ = g;
}

#[inline(never)]
unsafe fn swap(from: *mut Green, to: *mut Green) {
    let layout = &rt().tls;
    if !from.is_null() {
        let state = &mut (*from).tls;
        state.saved.resize(layout.total, 0);
        for b in layout.blocks() {
            // SAFETY: `live` is this module's block of `size` bytes in the hub thread's static
            // TLS; the save area has `total` bytes, of which this block owns [offset, +size).
            core::ptr::copy_nonoverlapping(b.live, state.saved.as_mut_ptr().add(b.offset), b.size);
        }
        state.started = true;
    }
    let state = &(*to).tls;
    for b in layout.blocks() {
        if state.started {
            core::ptr::copy_nonoverlapping(state.saved.as_ptr().add(b.offset), b.live, b.size);
        } else {
            // SAFETY: the image is the module's PT_TLS file contents, mapped read-only for the
            // module's life; the block is as above.
            core::ptr::copy_nonoverlapping(b.image, b.live, b.image_len);
            core::ptr::write_bytes(b.live.add(b.image_len), 0, b.size - b.image_len);
        }
    }
}

/// `g` has ended: its contents (live or saved) are garbage now.
///
/// # Safety
/// Hub thread only.
pub unsafe fn forget(g: *mut Green) {
    let rt = rt();
    #[cfg(target_arch = "x86_64")]
    if let Some(layout) = &rt.tls.area {
        if rt.tls_owner == g {
            // Off its area before the area goes.
            layout.switch_to(layout.real_tp);
            rt.tls_owner = rt.root;
        }
        (*g).tls.area = None;
        return;
    }
    if rt.tls_owner == g {
        rt.tls_owner = core::ptr::null_mut();
    }
    (*g).tls.saved = Vec::new();
}

/// Whether a thread-local at `address`, seen from a green thread, is that thread's own.
///
/// # Safety
/// Hub thread only.
pub unsafe fn is_per_green(address: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    if rt().tls.area.is_some() {
        return true;
    }
    rt().tls.blocks().iter().any(|b| address >= b.live as usize && address < b.live as usize + b.size)
}

/// Records a thread-local destructor for green thread `g` (not the root, whose destructors
/// glibc runs at exit as usual).
///
/// # Safety
/// Hub thread only, called on a green thread other than the root.
pub unsafe fn register_destructor(g: *mut Green, destructor: Destructor, object: *mut c_void) {
    (*g).tls.destructors.push((destructor, object));
}

/// Runs `g`'s thread-local destructors, newest first, including any they register.
///
/// # Safety
/// On `g` itself, as it ends.
pub unsafe fn run_destructors(g: *mut Green) {
    while let Some((destructor, object)) = (*g).tls.destructors.pop() {
        destructor(object);
    }
}
