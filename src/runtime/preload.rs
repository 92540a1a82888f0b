//! GREEN_CHILDREN=0 (the launcher's --no-children): libgreen greens this program only. At
//! start, before the program runs, it takes itself out of LD_PRELOAD, so every program this
//! one starts (exec, posix_spawn, system, popen, subprocess) runs natively, while preloads
//! the user set besides libgreen stay. LD_PRELOAD is left out altogether when nothing else
//! was in it.

use core::ffi::{c_char, CStr};

/// An LD_PRELOAD entry names us if it is our path, or our file name for the loader to look
/// up in the library path.
fn names_us(entry: &[u8], ours: &[u8]) -> bool {
    if entry == ours {
        return true;
    }
    let file_name = ours.rsplit(|&b| b == b'/').next().unwrap_or(ours);
    !entry.contains(&b'/') && entry == file_name
}

/// Removes libgreen from LD_PRELOAD in this process's environment.
pub fn leave_out_children() {
    // SAFETY: called once from the runtime's start, before the program's main runs (or from
    // the first pthread_create), with NUL-terminated names; dladdr only reads the loader's
    // records for an address inside this library.
    unsafe {
        let mut info: libc::Dl_info = core::mem::zeroed();
        if libc::dladdr(leave_out_children as *const () as *const _, &mut info) == 0 || info.dli_fname.is_null() {
            return;
        }
        let ours = CStr::from_ptr(info.dli_fname).to_bytes();
        let current = libc::getenv(c"LD_PRELOAD".as_ptr());
        if current.is_null() {
            return;
        }
        // The loader splits LD_PRELOAD at spaces and colons.
        let kept: Vec<&[u8]> = CStr::from_ptr(current)
            .to_bytes()
            .split(|&b| b == b' ' || b == b':')
            .filter(|entry| !entry.is_empty() && !names_us(entry, ours))
            .collect();
        if kept.is_empty() {
            libc::unsetenv(c"LD_PRELOAD".as_ptr());
            return;
        }
        let mut value = kept.join(&b':');
        value.push(0);
        libc::setenv(c"LD_PRELOAD".as_ptr(), value.as_ptr() as *const c_char, 1);
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::preload::names_us;

    #[test]
    fn entries_that_name_us() {
        assert!(names_us(b"/opt/lib/libgreen.so", b"/opt/lib/libgreen.so"));
        assert!(names_us(b"libgreen.so", b"/opt/lib/libgreen.so"));
        assert!(!names_us(b"/other/libgreen.so", b"/opt/lib/libgreen.so"));
        assert!(!names_us(b"libfoo.so", b"/opt/lib/libgreen.so"));
    }
}
