//! Reads of glibc's own stdio streams (`stdin`, `fopen`'d FIFOs and terminals, `std::cin`)
//! wait green.
//!
//! glibc refills a stream's empty buffer through the stream's jump table (`struct
//! _IO_jump_t`, part of the ABI since glibc 2.1 and exported for libstdc++'s old streams as
//! `_IO_file_jumps` and `_IO_wfile_jumps`): its `__underflow` entry reads with glibc's
//! internal `__read`, which no hook sees. So a green thread reading standard input with
//! `fgets`, `getchar`, `scanf`, `getline`, `fgetws` or `std::getline` held every other green
//! thread up until input came, and on a description we made non-blocking (a pipe or socket
//! `dup2`'d onto 0) it met EAGAIN, which stdio reports as an error.
//!
//! `install` points the `__underflow` entry of both tables at a function of ours that, when
//! the buffer is empty and the read would wait (the hub is crowded, or the description is
//! ours), first does what glibc's does before it reads (flush a line-buffered `stdout`, so a
//! prompt shows), then parks until the descriptor is readable, and only then calls glibc's
//! own underflow, which finds the input there. The wait is at the one point where the
//! stream is consistent (an empty buffer, no read under way), and every wake checks again:
//! two green threads reading one stream take turns as natively, instead of one refilling
//! the buffer under the other (which replacing the `__read` entry would let happen, since
//! glibc's stream lock lets every green thread in: stdio_lock.rs). An `fread` of a buffer's
//! size or more, which glibc reads straight into the caller's memory (`__xsgetn`), goes to
//! glibc in pieces smaller than the buffer, through the same wait.
//!
//! As a blocking read: SO_RCVTIMEO ends the wait with EAGAIN and a handler without
//! SA_RESTART with EINTR (the stream's error flag set, as for a failed read); "c" streams
//! (`_IO_FLAGS2_NOTCANCEL`) are no cancellation point, other streams are.
//!
//! glibc checks that a stream's table lies among its own (`IO_validate_vtable`), not what its
//! entries hold. The tables live in glibc's RELRO segment: the page is made writable for the
//! store and read-only again. Writes stay glibc's: a `printf` that waited inside the buffer
//! would let other green threads into it half flushed.

use super::blocking::route;
use super::stdio::GlibcFile;
use crate::runtime::fdtable::READ;
use crate::runtime::green::Wake;
use crate::runtime::io::{self as green_io, poll_now};
use crate::runtime::log;
use crate::sys::errno;
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

extern "C" {
    /// The jump tables of glibc's file streams, narrow and wide (exported since glibc 2.2).
    static _IO_file_jumps: u8;
    static _IO_wfile_jumps: u8;
    /// glibc's `stdin`, whose jump table pointer follows its FILE (`struct _IO_FILE_plus`).
    static _IO_2_1_stdin_: GlibcFile;
    static mut stdout: *mut libc::FILE;
    /// What the tables' `__underflow` entries hold (exported since glibc 2.2).
    fn _IO_file_underflow(fp: *mut libc::FILE) -> c_int;
    fn _IO_wfile_underflow(fp: *mut libc::FILE) -> u32;
    /// Gives a stream its buffer (exported since glibc 2.2).
    fn _IO_doallocbuf(fp: *mut libc::FILE);
}

// `GlibcFile::buffer_pointers` indices.
const BUF_BASE: usize = 6;
const BUF_END: usize = 7;
const SAVE_BASE: usize = 8;

/// Entries' indices in `struct _IO_jump_t`: two words of padding, `finish`, `overflow`,
/// `underflow`, `uflow`, `pbackfail`, `xsputn`, `xsgetn`.
const UNDERFLOW_ENTRY: usize = 4;
const XSGETN_ENTRY: usize = 8;

// `_flags` bits (libio.h).
const UNBUFFERED: c_int = 0x2;
const NO_READS: c_int = 0x4;
const NO_WRITES: c_int = 0x8;
const EOF_SEEN: c_int = 0x10;
const ERR_SEEN: c_int = 0x20;
const LINKED: c_int = 0x80;
const LINE_BUF: c_int = 0x200;
/// `_IO_FLAGS2_NOTCANCEL` in `_flags2`: the stream was opened with "c".
const NOT_CANCEL: c_int = 2;

const EOF: c_int = -1;
const WEOF: u32 = u32::MAX;

/// `_IO_file_jumps`' underflow: see the module comment.
///
/// # Safety
/// As for `_IO_file_underflow`: glibc calls it with one of its file streams, locked.
unsafe extern "C" fn stream_underflow(fp: *mut libc::FILE) -> c_int {
    // SAFETY: glibc's file stream (caller); its buffer pointers are read only.
    let empty = unsafe { byte_buffer_empty(fp.cast()) };
    // SAFETY: as above.
    if !unsafe { wait_if_empty(fp.cast(), empty) } {
        return EOF;
    }
    // SAFETY: the caller's stream, passed on.
    unsafe { _IO_file_underflow(fp) }
}

/// `_IO_wfile_jumps`' underflow: as `stream_underflow`, for a wide stream, whose
/// characters are converted from the byte buffer: only both empty mean a read.
///
/// # Safety
/// As for `_IO_wfile_underflow`.
unsafe extern "C" fn wide_stream_underflow(fp: *mut libc::FILE) -> u32 {
    let file = fp.cast::<GlibcFile>();
    // SAFETY: a wide stream's `_wide_data` starts with its read pointer and end (`struct
    // _IO_wide_data`); both buffers' pointers are read only.
    let empty = unsafe {
        let wide = (*file).wide_data.cast::<*const u32>();
        byte_buffer_empty(file) && !wide.is_null() && *wide >= *wide.add(1)
    };
    // SAFETY: glibc's file stream (caller).
    if !unsafe { wait_if_empty(file, empty) } {
        return WEOF;
    }
    // SAFETY: the caller's stream, passed on.
    unsafe { _IO_wfile_underflow(fp) }
}

/// glibc's `_IO_file_xsgetn`, the `__xsgetn` entry `install` replaced (0 before).
static GLIBC_XSGETN: AtomicUsize = AtomicUsize::new(0);

type Xsgetn = unsafe extern "C" fn(*mut libc::FILE, *mut c_void, usize) -> usize;

/// `_IO_file_jumps`' xsgetn (`fread`): glibc reads a request of a buffer's size or more
/// straight into the caller's memory, with plain reads, each of which waits in the kernel.
/// On a green route the request goes to glibc in pieces smaller than the buffer instead,
/// each filled through `stream_underflow`, so every wait is green; `fread` still returns
/// only once it has them all, or at end of file or an error, as before. An unbuffered
/// stream (a buffer of one byte) reads as before.
///
/// # Safety
/// As for `_IO_file_xsgetn`: glibc calls it with one of its file streams, locked, and room
/// for `n` bytes at `data`.
unsafe extern "C" fn stream_xsgetn(fp: *mut libc::FILE, data: *mut c_void, n: usize) -> usize {
    // SAFETY: `install` stored glibc's own function before it put this one in the table.
    let glibc: Xsgetn = unsafe { core::mem::transmute::<usize, Xsgetn>(GLIBC_XSGETN.load(Relaxed)) };
    let file = fp.cast::<GlibcFile>();
    // SAFETY: glibc's file stream (caller).
    let fd = unsafe { (*file).fileno };
    if fd < 0 || !route(fd).is_green() {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { glibc(fp, data, n) };
    }
    // SAFETY: as above; glibc's xsgetn gives the stream its buffer first too.
    let size = unsafe {
        give_buffer(file);
        let pointers = &(*file).buffer_pointers;
        (pointers[BUF_END] as usize).saturating_sub(pointers[BUF_BASE] as usize)
    };
    if size < 2 {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { glibc(fp, data, n) };
    }
    let mut done = 0;
    while done < n {
        let piece = (n - done).min(size - 1);
        // SAFETY: `piece` bytes of the caller's room, after the `done` already filled.
        let got = unsafe { glibc(fp, data.cast::<u8>().add(done).cast(), piece) };
        done += got;
        if got < piece {
            break;
        }
    }
    done
}

/// Gives a stream without a buffer (before its first read) its buffer, as glibc's underflow
/// and xsgetn do first. One with a saved push-back area is left to glibc, which frees that
/// before.
///
/// # Safety
/// `file` is a live glibc stream, locked by the calling thread.
unsafe fn give_buffer(file: *mut GlibcFile) {
    // SAFETY: the caller's promise.
    unsafe {
        let pointers = &(*file).buffer_pointers;
        if pointers[BUF_BASE].is_null() && pointers[SAVE_BASE].is_null() {
            _IO_doallocbuf(file.cast());
        }
    }
}

/// Whether the stream's byte buffer holds nothing more to read.
///
/// # Safety
/// `file` is a live glibc stream.
unsafe fn byte_buffer_empty(file: *const GlibcFile) -> bool {
    // SAFETY: the caller's promise; [0] and [1] are `_IO_read_ptr` and `_IO_read_end`.
    unsafe { (*file).buffer_pointers[0] >= (*file).buffer_pointers[1] }
}

/// Waits green until the stream's descriptor is readable, when its underflow is about to
/// read (`empty`, and no end of file or error glibc will answer from its flags) and the
/// read would otherwise wait in the kernel with other green threads about, or meet an
/// EAGAIN the program did not ask for. False for a wait that ends as the read would fail
/// (EINTR, EAGAIN for SO_RCVTIMEO): the stream's error flag and errno are then set, as
/// glibc's underflow sets them when its read fails, and it is not to be called.
///
/// # Safety
/// `file` is a live glibc stream, locked by the calling thread.
unsafe fn wait_if_empty(file: *mut GlibcFile, empty: bool) -> bool {
    // SAFETY: the caller's promise.
    let (flags, flags2, fd) = unsafe { ((*file).flags, (*file).flags2, (*file).fileno) };
    // A green route: on the hub, with others about or on a description of ours, and not a
    // regular file (whose reads never wait for readiness).
    if !empty || flags & (EOF_SEEN | NO_READS) != 0 || fd < 0 || !route(fd).is_green() {
        return true;
    }
    // SAFETY: the caller's stream; glibc's underflow gives a stream without a buffer its
    // buffer before it looks at its flags, and the buffer's allocation is what marks a
    // terminal's stream line buffered.
    let flags = unsafe {
        give_buffer(file);
        (*file).flags
    };
    if flags & (LINE_BUF | UNBUFFERED) != 0 {
        flush_line_buffered_stdout();
    }
    // SAFETY: on the hub thread (a green route).
    let deadline = unsafe { green_io::socket_timeout_deadline(fd, READ) };
    loop {
        if poll_now(fd, READ) {
            return true;
        }
        // SAFETY: on the hub thread (a green route); the stream is consistent while we wait
        // (module comment), and a thread cancelled here leaves it so, as glibc's read would.
        let woke = unsafe {
            if flags2 & NOT_CANCEL != 0 {
                green_io::park_on_fd(fd, READ, deadline)
            } else {
                green_io::wait_fd(fd, READ, deadline)
            }
        };
        let error = match woke {
            // epoll cannot watch it, or it is bad: glibc's read says what it says.
            Err(_) => return true,
            Ok(Wake::Timeout) => libc::EAGAIN,
            Ok(Wake::Interrupted { restart: false }) => libc::EINTR,
            Ok(_) => continue,
        };
        // SAFETY: the caller's stream.
        unsafe { (*file).flags |= ERR_SEEN };
        errno::set(error);
        return false;
    }
}

/// What glibc's underflow does before it reads from a line-buffered or unbuffered stream:
/// flush `stdout` if it is line buffered (a prompt shows before the program waits).
fn flush_line_buffered_stdout() {
    // SAFETY: glibc's `stdout` variable and the stream it names, whose flags we read.
    unsafe {
        let out = stdout;
        if !out.is_null() && (*out.cast::<GlibcFile>()).flags & (LINKED | NO_WRITES | LINE_BUF) == LINKED | LINE_BUF {
            libc::fflush(out);
        }
    }
}

/// Points the `__underflow` entry of glibc's file stream tables, and the narrow table's
/// `__xsgetn`, at ours, once the layout checks out: `stdin` uses `_IO_file_jumps`, and each
/// underflow entry holds glibc's own underflow. Leaves them alone otherwise (a glibc whose
/// streams are built differently reads as before).
pub fn install() {
    // SAFETY: addresses of glibc's exported objects; the FILE is followed by its table
    // pointer (`struct _IO_FILE_plus`), a word we only read.
    let (narrow, wide, stdin_table) = unsafe {
        let stdin_plus = core::ptr::addr_of!(_IO_2_1_stdin_).cast::<u8>();
        (
            core::ptr::addr_of!(_IO_file_jumps) as usize,
            core::ptr::addr_of!(_IO_wfile_jumps) as usize,
            stdin_plus.add(core::mem::size_of::<GlibcFile>()).cast::<usize>().read(),
        )
    };
    if stdin_table != narrow {
        log::log!(Info, "stdio streams read with glibc's own waits: stdin's jump table is not _IO_file_jumps");
        return;
    }
    let word = core::mem::size_of::<usize>();
    let (narrow_underflow, wide_underflow) = (narrow + UNDERFLOW_ENTRY * word, wide + UNDERFLOW_ENTRY * word);
    let narrow_xsgetn = narrow + XSGETN_ENTRY * word;
    // glibc's xsgetn is not exported: once the underflow entries check out, the table is
    // laid out as expected and this entry is that.
    // SAFETY: a word of `_IO_file_jumps`.
    let glibc_xsgetn = unsafe { (narrow_xsgetn as *const usize).read() };
    GLIBC_XSGETN.store(glibc_xsgetn, Relaxed);
    let entries = [
        (narrow_underflow, _IO_file_underflow as *const () as usize, stream_underflow as *const () as usize),
        (wide_underflow, _IO_wfile_underflow as *const () as usize, wide_stream_underflow as *const () as usize),
        (narrow_xsgetn, glibc_xsgetn, stream_xsgetn as *const () as usize),
    ];
    // SAFETY: words of glibc's jump tables; library start-up.
    if !unsafe { replace_entries(&entries) } {
        log::log!(Info, "stdio streams read with glibc's own waits: a jump table is not as expected");
    }
}

/// Replaces glibc jump table entries, each (its address, what it must hold, ours): all of
/// them if every one holds what it must, else none. The pages they lie on are made
/// writable once, if they are RELRO (read-only since relocation), and read-only again.
///
/// # Safety
/// Each address is a word of one of glibc's stream jump tables; no other thread uses stdio
/// yet (library start-up).
unsafe fn replace_entries(entries: &[(usize, usize, usize)]) -> bool {
    // SAFETY: words of the tables (caller).
    if entries.iter().any(|&(at, expected, _)| unsafe { (at as *const usize).read() } != expected) {
        return false;
    }
    let (Some(first), Some(last)) = (entries.iter().map(|e| e.0).min(), entries.iter().map(|e| e.0).max()) else {
        return false;
    };
    // RELRO is one range: both ends in it means every entry is.
    let relro = match (in_relro(first), in_relro(last)) {
        (Some(first), Some(last)) if first == last => first,
        _ => return false,
    };
    // Ours, not the program's: never trapped (sys/own_calls.rs).
    let _own = crate::sys::own_calls::own_calls();
    use rustix::mm::{mprotect, MprotectFlags};
    let page_size = crate::sys::raw::page_size();
    let low = first & !(page_size - 1);
    let span = (last + core::mem::size_of::<usize>() - low).next_multiple_of(page_size);
    // SAFETY: the pages hold glibc's tables; they are read-only only if they lie in RELRO
    // (what `in_relro` says), and go back to that at once.
    if relro && unsafe { mprotect(low as *mut c_void, span, MprotectFlags::READ | MprotectFlags::WRITE) }.is_err() {
        return false;
    }
    for &(at, _, ours) in entries {
        // SAFETY: a writable word of a table; `ours` has the signature of what it replaces.
        unsafe { (at as *mut usize).write_volatile(ours) };
    }
    if relro {
        // SAFETY: as above.
        let _ = unsafe { mprotect(low as *mut c_void, span, MprotectFlags::READ) };
    }
    true
}

/// Whether `address` lies in the RELRO segment of the object that maps it (read-only since
/// relocation); None if no object maps it.
fn in_relro(address: usize) -> Option<bool> {
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
        // SAFETY: the loader's description of one object; `data` is `in_relro`'s `address`
        // and answer, as passed below.
        unsafe {
            let (address, found) = &mut *data.cast::<(usize, Option<bool>)>();
            let headers = core::slice::from_raw_parts((*info).dlpi_phdr, usize::from((*info).dlpi_phnum));
            let base = (*info).dlpi_addr as usize;
            let holds = |kind: u32| {
                headers.iter().any(|h| {
                    let start = base + h.p_vaddr as usize;
                    h.p_type == kind && (start..start + h.p_memsz as usize).contains(address)
                })
            };
            if !holds(libc::PT_LOAD) {
                return 0;
            }
            *found = Some(holds(libc::PT_GNU_RELRO));
        }
        1
    }
    let mut query: (usize, Option<bool>) = (address, None);
    // SAFETY: the callback reads the loader's descriptions and writes only `query`.
    unsafe { libc::dl_iterate_phdr(Some(visit), core::ptr::addr_of_mut!(query).cast()) };
    query.1
}
