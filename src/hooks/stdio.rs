//! fdopen: stdio streams on pipes and sockets whose I/O goes through our hooks.
//!
//! glibc's stdio reads and writes a stream's descriptor with its internal `__read` and
//! `__write`, which never pass through the PLT, so no hook of ours sees them. On a
//! description we made non-blocking (ARCHITECTURE.md, Promised semantics) they would fail
//! with EAGAIN: `fgets` would return NULL with the stream's error flag set, `fflush` would
//! drop bytes. So `fdopen` of a pipe or socket on the hub thread returns a glibc cookie
//! stream (`fopencookie`) whose read, write, seek and close functions are our `read`,
//! `write`, `lseek` and `close`: the stream waits green, as a green thread's own `read`
//! does, and never sees an EAGAIN the program did not ask for. Anything else (regular
//! files, terminals), any other OS thread, or the runtime off: the real `fdopen`
//! (ARCHITECTURE.md, Pass-through rules).
//!
//! A cookie stream runs glibc's own buffering code (`_IO_file_*`, the code behind a real
//! fdopen stream), so what a program can observe is made the same as a real fdopen
//! stream's: glibc's mode parsing and checks (EINVAL for a mode the access mode does not
//! allow, O_APPEND for "a"; "e" and "x" are ignored, as glibc's fdopen ignores them), the
//! descriptor in `_fileno` (`fileno()` works), a buffer of the size glibc would pick
//! (`st_blksize`, not the cookie default BUFSIZ), room for wide-character state so that
//! `fwide`, the wide functions and `freopen` work as on a real stream, and a write that
//! keeps writing until all is written or an error stops it, as glibc's `_IO_new_file_write`
//! does. What still differs: the buffer is the program's from fdopen on (`__fbufsize` is
//! not 0 before the first read or write, and a wide-oriented stream's wide buffer holds a
//! quarter of the characters), and `fread` of a large size reads through the buffer a block
//! at a time instead of straight into the caller's memory.
//!
//! glibc's stream lock knows threads by glibc's thread pointer, which every green thread
//! shares with the hub thread (README "Limits"): a green thread parked inside a stream call
//! does not keep another green thread out of the same stream.

use super::stdio_mode::parse_mode;
use crate::runtime::fdtable::{self, Kind, Registration};
use crate::runtime::io as green_io;
use crate::runtime::on_hub;
use crate::sys::{errno, real};
use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// glibc's `struct _IO_FILE`, as the installed `bits/types/struct_FILE.h` declares it (the
/// same on every 64-bit Linux target): we set `_fileno`, `_wide_data` and `_mode`.
#[repr(C)]
pub(super) struct GlibcFile {
    pub(super) flags: c_int,
    /// `_IO_read_ptr`, `_IO_read_end`, `_IO_read_base`, the write and buffer pointers.
    pub(super) buffer_pointers: [*mut c_char; 11],
    markers: *mut c_void,
    chain: *mut GlibcFile,
    pub(super) fileno: c_int,
    pub(super) flags2: c_int,
    old_offset: libc::c_long,
    cur_column: u16,
    vtable_offset: i8,
    shortbuf: [c_char; 1],
    lock: *mut c_void,
    offset: i64,
    codecvt: *mut c_void,
    pub(super) wide_data: *mut c_void,
    freeres_list: *mut GlibcFile,
    freeres_buf: *mut c_void,
    pad5: usize,
    mode: c_int,
    unused2: [c_char; 20],
}

const _: () = assert!(core::mem::size_of::<GlibcFile>() == 216);

/// Words of room for glibc's private `struct _IO_wide_data` (232 bytes in glibc 2.36, 240
/// where `__gconv_step_data` still had its `__trans` member).
const WIDE_WORDS: usize = 40;

#[repr(C)]
struct CookieFunctions {
    read: unsafe extern "C" fn(*mut c_void, *mut c_char, usize) -> isize,
    write: unsafe extern "C" fn(*mut c_void, *const c_char, usize) -> isize,
    seek: unsafe extern "C" fn(*mut c_void, *mut i64, c_int) -> c_int,
    close: CloseFn,
}

/// A cookie stream's close function.
pub(super) type CloseFn = unsafe extern "C" fn(*mut c_void) -> c_int;

extern "C" {
    fn fopencookie(cookie: *mut c_void, mode: *const c_char, functions: CookieFunctions) -> *mut libc::FILE;
    /// The jump table of glibc's wide-character file streams (exported since glibc 2.2).
    static _IO_wfile_jumps: u8;
    /// glibc's own stdout stream object, whose wide data shows where the jump table sits.
    static _IO_2_1_stdout_: GlibcFile;
}

/// The cookie of one stream: the descriptor, and what a stream needs to outlive glibc's
/// calls into it.
struct Stream {
    fd: c_int,
    /// The stream glibc made for this cookie (set once fopencookie returns).
    file: *mut GlibcFile,
    /// The description as the fd table last knew it, and its identity: see `keep_tracked`.
    kind: Kind,
    owned_nonblock: bool,
    user_nonblock: bool,
    dev: u64,
    ino: u64,
    /// What the stream's `_wide_data` points at. glibc reads it after the close function
    /// returns when the stream is wide-oriented (see `retire`), and a stream that freopen
    /// turns into a plain file stream keeps using it: glibc does not call the close
    /// function then, so the cookie stays allocated for as long as that stream may live.
    wide: [usize; WIDE_WORDS],
    buffer: Vec<u8>,
}

/// # Safety
/// Called as libc's fdopen: `mode` is a NUL-terminated string (or null, which the real
/// fdopen answers as it always does).
#[no_mangle]
pub unsafe extern "C" fn fdopen(fd: c_int, mode: *const c_char) -> *mut libc::FILE {
    if !on_hub() || mode.is_null() {
        // SAFETY: the caller's arguments, unchanged.
        return unsafe { real::fdopen(fd, mode) };
    }
    match stream_kind(fd) {
        // SAFETY: `mode` is the caller's NUL-terminated string.
        Some(kind) => unsafe { open_stream(fd, mode, kind, stream_close) },
        // SAFETY: the caller's arguments, unchanged.
        None => unsafe { real::fdopen(fd, mode) },
    }
}

/// A cookie stream on the pipe `fd` whose close function is `close` (popen_streams.rs), or
/// null when `fd` is no pipe or socket.
///
/// # Safety
/// Hub thread; `mode` is a NUL-terminated string; `close` ends with [`let_go`].
pub(super) unsafe fn stream_over(fd: c_int, mode: *const c_char, close: CloseFn) -> *mut libc::FILE {
    // SAFETY: as the caller's.
    stream_kind(fd).map_or(core::ptr::null_mut(), |kind| unsafe { open_stream(fd, mode, kind, close) })
}

/// The kind of `fd` if it is a pipe or a socket (learning it now if it is new to us).
fn stream_kind(fd: c_int) -> Option<Kind> {
    // `plan` classifies a descriptor we have not seen before; its answer is for calls.
    // SAFETY: fdopen takes the green path on the hub thread only (checked by the caller).
    let _ = unsafe { green_io::plan(fd) };
    let kind = fdtable::view(fd)?.kind;
    matches!(kind, Kind::Pipe | Kind::StreamSocket | Kind::MessageSocket).then_some(kind)
}

/// glibc's fdopen (libio/iofdopen.c) for a pipe or socket, with a cookie stream.
///
/// # Safety
/// Hub thread; `mode` is a NUL-terminated string.
unsafe fn open_stream(fd: c_int, mode: *const c_char, kind: Kind, close: CloseFn) -> *mut libc::FILE {
    // SAFETY: `mode` is NUL-terminated (the caller's promise).
    let Some(access) = (unsafe { parse_mode(mode) }) else {
        errno::set(libc::EINVAL);
        return core::ptr::null_mut();
    };
    // The real flags: our own fcntl would hide the O_NONBLOCK we set, which F_SETFL keeps.
    // SAFETY: F_GETFL takes no argument and only reads the fd number.
    let flags = unsafe { real::fcntl(fd, libc::F_GETFL, 0) };
    if flags == -1 {
        return core::ptr::null_mut();
    }
    let access_mode = flags & libc::O_ACCMODE;
    if (access_mode == libc::O_RDONLY && access.writes) || (access_mode == libc::O_WRONLY && access.reads) {
        errno::set(libc::EINVAL);
        return core::ptr::null_mut();
    }
    // glibc then seeks to the end, which on a pipe or socket fails with ESPIPE, ignored.
    // SAFETY: F_SETFL takes an int of flags and only changes the description's flags.
    if access.append && flags & libc::O_APPEND == 0 && unsafe { real::fcntl(fd, libc::F_SETFL, (flags | libc::O_APPEND) as usize) } == -1 {
        return core::ptr::null_mut();
    }
    let Some(stream) = Stream::new(fd, kind) else { return core::ptr::null_mut() };
    let cookie = Box::into_raw(stream);
    let functions = CookieFunctions { read: stream_read, write: stream_write, seek: stream_seek, close };
    // SAFETY: the mode is one of fopencookie's NUL-terminated modes, and the functions take
    // `cookie`, a live Stream that only `stream_close` frees.
    let fp = unsafe { fopencookie(cookie.cast(), access.cookie_mode().as_ptr(), functions) };
    if fp.is_null() {
        // SAFETY: glibc refused the stream, so nothing else holds the cookie.
        drop(unsafe { Box::from_raw(cookie) });
        return fp;
    }
    // SAFETY: `fp` is the cookie stream glibc just made and nobody else has seen yet, and
    // `cookie` lives until glibc calls its close function.
    unsafe { attach(fp, &mut *cookie) };
    fp
}

impl Stream {
    /// None (errno set) if `fd` cannot be examined.
    fn new(fd: c_int, kind: Kind) -> Option<Box<Stream>> {
        // Ours, not the program's: never trapped (sys/own_calls.rs).
        let _own = crate::sys::own_calls::own_calls();
        // SAFETY: fstat only reads the fd number.
        let stat = match rustix::fs::fstat(unsafe { rustix::fd::BorrowedFd::borrow_raw(fd) }) {
            Ok(stat) => stat,
            Err(e) => {
                errno::set(e.raw_os_error());
                return None;
            }
        };
        // glibc's _IO_file_doallocate: st_blksize when it is smaller than BUFSIZ.
        let blksize = usize::try_from(stat.st_blksize).unwrap_or(0);
        let size = if blksize > 0 && blksize < libc::BUFSIZ as usize { blksize } else { libc::BUFSIZ as usize };
        let desc = fdtable::view(fd);
        Some(Box::new(Stream {
            fd,
            file: core::ptr::null_mut(),
            kind,
            owned_nonblock: desc.as_ref().is_some_and(|d| d.owned_nonblock),
            user_nonblock: desc.as_ref().is_some_and(|d| d.user_nonblock),
            dev: stat.st_dev,
            ino: stat.st_ino,
            wide: [0; WIDE_WORDS],
            buffer: vec![0; size],
        }))
    }

    /// Before each call through the hooks: the fd table must know the description, or the
    /// hooks would take it for one the program made non-blocking (they learn O_NONBLOCK from
    /// the description's flags). It forgets it in one case while the stream still uses the
    /// descriptor: fclose (hooks/popen_streams.rs) drops the entry before glibc flushes the
    /// last buffered bytes and calls our close. Then, if the number still names the same
    /// description, it is known again as it was, until `stream_close` forgets it for good.
    fn keep_tracked(&mut self) {
        // Ours, not the program's: never trapped (sys/own_calls.rs).
        let _own = crate::sys::own_calls::own_calls();
        if let Some(desc) = fdtable::view(self.fd) {
            self.kind = desc.kind;
            self.owned_nonblock = desc.owned_nonblock;
            self.user_nonblock = desc.user_nonblock;
            return;
        }
        // SAFETY: fstat and fcntl only read the fd number.
        let borrowed = unsafe { rustix::fd::BorrowedFd::borrow_raw(self.fd) };
        let Ok(stat) = rustix::fs::fstat(borrowed) else { return };
        if (stat.st_dev, stat.st_ino) != (self.dev, self.ino) {
            return;
        }
        // Still ours only if nobody gave the description back to blocking meanwhile.
        let nonblock = rustix::fs::fcntl_getfl(borrowed).is_ok_and(|f| f.contains(rustix::fs::OFlags::NONBLOCK));
        // SAFETY: the stream's calls run on the thread using the stream, which holds the
        // number while it does (the table's rule off the hub thread).
        unsafe { green_io::adopt_new(self.fd, self.kind, self.owned_nonblock && nonblock, self.user_nonblock) };
    }
}

/// Makes a fresh cookie stream look like a real fdopen stream of `stream.fd`.
///
/// # Safety
/// `fp` is a cookie stream no other thread has seen yet; `stream` lives as long as it.
unsafe fn attach(fp: *mut libc::FILE, stream: &mut Stream) {
    let file = fp.cast::<GlibcFile>();
    stream.file = file;
    // SAFETY: `fp` is a glibc FILE, laid out as GlibcFile, and still ours alone. fopencookie
    // marks its streams with _fileno -2 and no wide data; a real fdopen stream has its
    // descriptor there (libio/fileno.c returns it) and wide data that freopen and the wide
    // functions write into: ours is zeroed, as glibc's _IO_no_init leaves it.
    unsafe {
        (*file).fileno = stream.fd;
        (*file).wide_data = stream.wide.as_mut_ptr().cast();
    }
    if let Some(slot) = wide_vtable_slot() {
        // Not yet oriented (fwide 0), with the wide jump table a real stream starts with.
        stream.wide[slot] = core::ptr::addr_of!(_IO_wfile_jumps) as usize;
        // SAFETY: as above.
        unsafe { (*file).mode = 0 };
    }
    let (buffer, size) = (stream.buffer.as_mut_ptr().cast::<c_char>(), stream.buffer.len());
    // SAFETY: the buffer lives in the cookie until glibc has closed the stream.
    unsafe { libc::setvbuf(fp, buffer, libc::_IOFBF, size) };
}

/// Where `_wide_vtable` sits in glibc's `struct _IO_wide_data`, in words: found once, in
/// stdout's wide data, which glibc initialises with the wide file jump table. None if it is
/// not there (the stream then stays byte-oriented, as fopencookie makes it).
fn wide_vtable_slot() -> Option<usize> {
    static SLOT: AtomicUsize = AtomicUsize::new(0);
    let known = SLOT.load(Ordering::Relaxed);
    if known != 0 {
        return known.checked_sub(1).filter(|&slot| slot < WIDE_WORDS);
    }
    let jumps = core::ptr::addr_of!(_IO_wfile_jumps) as usize;
    // SAFETY: glibc's stdout object is static and its `_wide_data` points at its static wide
    // data, a struct of at least WIDE_WORDS - 11 words; the scan stops at the jump table
    // pointer, which is the struct's last member.
    let wide = unsafe { core::ptr::addr_of!(_IO_2_1_stdout_.wide_data).read() }.cast::<usize>();
    let found = (0..WIDE_WORDS)
        // SAFETY: as above: every word read is at or before the match in the struct.
        .find(|&i| unsafe { wide.add(i).read() } == jumps);
    SLOT.store(found.map_or(WIDE_WORDS + 1, |slot| slot + 1), Ordering::Relaxed);
    found
}

/// The stream's descriptor, with the fd table knowing its description (`keep_tracked`).
///
/// # Safety
/// `cookie` is a Stream that open_stream made and stream_close has not freed.
unsafe fn tracked_fd(cookie: *mut c_void) -> c_int {
    // SAFETY: the caller's promise. The reference ends here, before any call that parks:
    // another green thread may enter the same stream meanwhile (see the module doc).
    let stream = unsafe { &mut *cookie.cast::<Stream>() };
    stream.keep_tracked();
    stream.fd
}

/// # Safety
/// Called by glibc with our cookie and `size` writable bytes at `buf`.
unsafe extern "C" fn stream_read(cookie: *mut c_void, buf: *mut c_char, size: usize) -> isize {
    // SAFETY: glibc calls us with a live cookie and a buffer writable for `size` bytes.
    unsafe { super::io::read(tracked_fd(cookie), buf.cast(), size) }
}

/// glibc's `_IO_new_file_write`: writes until all `size` bytes are written or a write
/// fails, and returns how many were written (the cookie layer sets the error flag when
/// that is short of `size`).
///
/// # Safety
/// Called by glibc with our cookie and `size` readable bytes at `buf`.
unsafe extern "C" fn stream_write(cookie: *mut c_void, buf: *const c_char, size: usize) -> isize {
    // SAFETY: glibc calls us with a live cookie.
    let fd = unsafe { tracked_fd(cookie) };
    let mut done = 0;
    while done < size {
        // SAFETY: `buf` is readable for `size` bytes and `done` < `size`.
        let written = unsafe { super::io::write(fd, buf.add(done).cast(), size - done) };
        if written < 0 {
            break;
        }
        done += written as usize;
    }
    done as isize
}

/// # Safety
/// Called by glibc with our cookie and a valid offset pointer.
unsafe extern "C" fn stream_seek(cookie: *mut c_void, offset: *mut i64, whence: c_int) -> c_int {
    // SAFETY: the cookie is the Stream open_stream made, alive until stream_close.
    let fd = unsafe { (*cookie.cast::<Stream>()).fd };
    // SAFETY: glibc passes a valid offset to read and update; lseek64 is not ours.
    unsafe {
        let position = libc::lseek64(fd, *offset, whence);
        if position < 0 {
            return -1;
        }
        *offset = position;
    }
    0
}

/// Closes the descriptor once: through our close when the fd table still knows the number
/// (it is forgotten and its epoll registration dropped), straight to libc when fclose
/// (hooks/popen_streams.rs) has already made the table forget it.
///
/// # Safety
/// Called once by glibc with our cookie, when it closes the stream.
unsafe extern "C" fn stream_close(cookie: *mut c_void) -> c_int {
    // SAFETY: glibc's last call with the cookie open_stream made.
    let fd = unsafe { let_go(cookie) };
    // SAFETY: glibc closes the stream on the thread that called fclose, which holds the
    // number; the entry is read at once and not kept.
    let known = unsafe { fdtable::existing(fd) }.is_some_and(|entry| entry.view().is_some() || entry.registration != Registration::No);
    if known {
        // SAFETY: the number is the stream's to close; not a cancellation point, as
        // glibc's stdio closes with `__close_nocancel`.
        unsafe { super::fd::close_nocancel(fd) }
    } else {
        // SAFETY: as above.
        unsafe { real::close(fd) }
    }
}

/// What a close function does first: the cookie's descriptor, with the cookie retired.
///
/// # Safety
/// `cookie` is a live cookie that glibc will not pass to us again.
pub(super) unsafe fn let_go(cookie: *mut c_void) -> c_int {
    let stream = cookie.cast::<Stream>();
    // SAFETY: as the caller's.
    let fd = unsafe { (*stream).fd };
    // SAFETY: as above.
    unsafe { retire(stream) };
    fd
}

/// Frees a closed stream's cookie, unless glibc may still read its wide data: after the
/// close function, glibc's fclose frees a wide-oriented stream's wide buffer and conversion
/// state through `_wide_data`. Such a cookie is freed at the next close on the hub thread,
/// when that fclose has long returned (nothing in it parks); off the hub thread it is left
/// allocated.
///
/// # Safety
/// `stream` is a live cookie that glibc will not pass to us again.
unsafe fn retire(stream: *mut Stream) {
    static RETIRED: AtomicPtr<Stream> = AtomicPtr::new(core::ptr::null_mut());
    let hub = on_hub();
    if hub {
        let previous = RETIRED.swap(core::ptr::null_mut(), Ordering::Relaxed);
        if !previous.is_null() {
            // SAFETY: retired by an earlier close on this thread, whose fclose has returned.
            drop(unsafe { Box::from_raw(previous) });
        }
    }
    // SAFETY: `file` is the stream's FILE, which glibc frees only after this returns.
    let wide = unsafe { (*(*stream).file).mode } > 0;
    if !wide {
        // SAFETY: glibc is done with the cookie and, being byte-oriented, with its wide data.
        drop(unsafe { Box::from_raw(stream) });
    } else if hub {
        RETIRED.store(stream, Ordering::Relaxed);
    }
}
