//! fdopen's mode strings, parsed as glibc parses them (libio/iofdopen.c), for stdio.rs.

use core::ffi::c_char;

/// What a mode string asks for, parsed as glibc's fdopen parses it.
pub(super) struct Access {
    pub reads: bool,
    pub writes: bool,
    pub append: bool,
}

/// glibc's fdopen mode parsing: 'r', 'w' or 'a', then up to four more characters of which
/// only '+' counts (and ends the parse). None for any other first character.
///
/// # Safety
/// `mode` is a NUL-terminated string.
// c_char is i8 on x86-64 and u8 on aarch64: the casts are no-ops on one of them.
#[allow(clippy::unnecessary_cast)]
pub(super) unsafe fn parse_mode(mode: *const c_char) -> Option<Access> {
    // SAFETY: a NUL-terminated string has at least one byte.
    let mut access = match unsafe { *mode } as u8 {
        b'r' => Access { reads: true, writes: false, append: false },
        b'w' => Access { reads: false, writes: true, append: false },
        b'a' => Access { reads: false, writes: true, append: true },
        _ => return None,
    };
    for i in 1..5 {
        // SAFETY: the loop stops at the terminating NUL, so every byte read is in the string.
        match unsafe { *mode.add(i) } as u8 {
            0 => break,
            b'+' => {
                access.reads = true;
                access.writes = true;
                break;
            }
            _ => {}
        }
    }
    Some(access)
}

impl Access {
    /// The fopencookie mode that sets the same stream flags.
    pub fn cookie_mode(&self) -> &'static core::ffi::CStr {
        match (self.reads, self.writes, self.append) {
            (true, true, true) => c"a+",
            (true, true, false) => c"r+",
            (true, false, _) => c"r",
            (false, _, true) => c"a",
            (false, _, false) => c"w",
        }
    }
}
