//! Messages on stderr, written with a raw write(2): never through our own `write` hook, never
//! through std's stderr (which takes a lock and may allocate). Each message is assembled in a
//! fixed buffer and written in one call, so lines from different processes do not interleave.
//!
//! It lives at the bottom, in sys, so that every layer can speak (`sys/real.rs` reports a
//! missing symbol) without reaching up; the level comes from `crate::settings`, a leaf.

use crate::settings::LogLevel;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU8, Ordering::Relaxed};

static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Warn as u8);

pub fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Relaxed);
}

#[inline]
pub fn enabled(level: LogLevel) -> bool {
    level as u8 <= LEVEL.load(Relaxed)
}

/// A line buffer; text past its end is cut, never allocated.
pub struct Line {
    buf: [u8; 1024],
    len: usize,
}

impl Line {
    pub fn new() -> Self {
        let mut line = Line { buf: [0; 1024], len: 0 };
        line.push(b"libgreen: ");
        line
    }

    pub fn push(&mut self, bytes: &[u8]) {
        let room = self.buf.len() - self.len;
        let n = bytes.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    /// Writes the line, with its newline, to stderr.
    pub fn emit(mut self) {
        // Ours, not the program's: never trapped (sys/own_calls.rs).
        let _own = crate::sys::own_calls::own_calls();
        if self.len == self.buf.len() {
            self.len -= 1;
        }
        self.buf[self.len] = b'\n';
        let bytes = &self.buf[..=self.len];
        // SAFETY: fd 2 may be closed or anything; write(2) on a bad fd just fails, and a
        // failed diagnostic has nowhere better to go.
        let stderr = unsafe { rustix::fd::BorrowedFd::borrow_raw(2) };
        let _ = rustix::io::write(stderr, bytes);
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

/// Logs one formatted line at `level`: `log!(Info, "spawned {}", id)`.
macro_rules! log {
    ($level:ident, $($arg:tt)*) => {
        if $crate::sys::log::enabled($crate::settings::LogLevel::$level) {
            let mut line = $crate::sys::log::Line::new();
            let _ = core::fmt::Write::write_fmt(&mut line, format_args!($($arg)*));
            line.emit();
        }
    };
}
pub(crate) use log;

/// An unrecoverable inconsistency: say what, then abort (a core dump beats a silent hang).
pub fn fatal(parts: &[&[u8]]) -> ! {
    let mut line = Line::new();
    line.push(b"fatal: ");
    for part in parts {
        line.push(part);
    }
    line.emit();
    // SAFETY: abort has no preconditions and never returns.
    unsafe { libc::abort() }
}

/// As `fatal`, with a formatted message.
pub fn fatal_args(message: fmt::Arguments<'_>) -> ! {
    let mut line = Line::new();
    line.push(b"fatal: ");
    let _ = line.write_fmt(message);
    line.emit();
    // SAFETY: abort has no preconditions and never returns.
    unsafe { libc::abort() }
}
