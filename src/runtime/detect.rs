//! Runtimes that cannot be greened, found at start-up before anything is greened: the
//! process then runs natively, every hook passing through as with GREEN_DISABLE=1, and one
//! line on stderr says what was found (README.md, "Compatibility"). A leaf of the runtime.
//!
//! * **The JVM.** The `java` launcher (libjli, a dependency of every JDK launcher) creates
//!   the thread that runs the JVM with pthread_create, after loading libjvm with dlopen;
//!   a program that embeds the JVM links libjvm. HotSpot faults on purpose (its SIGSEGV
//!   handler implements null checks, stack banging and safepoint polls) and finds the
//!   faulting thread's state from a kernel thread's stack and thread pointer; greened, it
//!   dies of SIGSEGV and abort in its first self-test. Found by `JLI_Launch` or
//!   `JNI_CreateJavaVM` being visible in the process.
//! * **Go with cgo.** A Go binary that links libc (cgo) is dynamically linked, so LD_PRELOAD
//!   reaches it, but its runtime schedules goroutines on threads it expects to run in
//!   parallel and blocks them with its own futex system calls, which no hook sees: greened
//!   it hangs at once. Found by the Go linker's build-ID note (owner "Go", type 4) in an
//!   object loaded at start (a c-shared Go library too), or by cgo's exported
//!   `crosscall2` / `_cgo_topofstack` where the note was stripped (`-buildid=`).
//!
//! Not found here: a JVM or Go library that the program loads later with dlopen, once green
//! threads may exist (README.md, "Compatibility").

use core::ffi::{c_int, c_void, CStr};

/// A runtime in the process that green threads would break.
pub struct Unsupported {
    /// What was found, as the message names it.
    pub what: &'static str,
    /// Why it cannot be greened, in a few words.
    pub why: &'static str,
}

const JVM_WHY: &str = "it faults on purpose and its SIGSEGV handler expects every Java thread to be a kernel thread";
const GO_WHY: &str = "its runtime blocks its threads with its own futex system calls and expects them to run in parallel";

/// The first runtime found among the objects loaded at start, if any.
pub fn unsupported() -> Option<Unsupported> {
    if visible(c"JLI_Launch") {
        return Some(Unsupported { what: "the Java launcher (libjli)", why: JVM_WHY });
    }
    if visible(c"JNI_CreateJavaVM") {
        return Some(Unsupported { what: "the JVM (libjvm)", why: JVM_WHY });
    }
    if has_go_note() || visible(c"crosscall2") || visible(c"_cgo_topofstack") {
        return Some(Unsupported { what: "a Go program or library (cgo)", why: GO_WHY });
    }
    None
}

/// Whether some loaded object exports `name`.
fn visible(name: &CStr) -> bool {
    // SAFETY: a NUL-terminated name; dlsym is not one of our hooks.
    !unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) }.is_null()
}

/// The Go linker's build-ID note: owner "Go", type ELF_NOTE_GOBUILDID_TAG.
const GO_NOTE_OWNER: &[u8] = b"Go\0";
const GO_NOTE_BUILDID: u32 = 4;

/// Whether an object loaded at start carries the Go build-ID note in a PT_NOTE segment
/// (mapped, so it is read in memory, not from the file).
fn has_go_note() -> bool {
    extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: usize, found: *mut c_void) -> c_int {
        // SAFETY: dl_iterate_phdr hands a valid entry whose program headers are mapped;
        // `found` is the caller's bool.
        unsafe {
            let info = &*info;
            for i in 0..usize::from(info.dlpi_phnum) {
                let ph = &*info.dlpi_phdr.add(i);
                if ph.p_type == libc::PT_NOTE {
                    let start = (info.dlpi_addr as usize).wrapping_add(ph.p_vaddr as usize) as *const u8;
                    let notes = core::slice::from_raw_parts(start, ph.p_memsz as usize);
                    if go_note_in(notes, ph.p_align as usize) {
                        *(found as *mut bool) = true;
                        return 1;
                    }
                }
            }
        }
        0
    }
    let mut found = false;
    // SAFETY: the callback matches dl_iterate_phdr's contract and only reads the entries it
    // is given; `found` outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), &mut found as *mut bool as *mut c_void) };
    found
}

/// Whether the notes of one PT_NOTE segment include Go's build ID. Each note is a header
/// of three words (name size, descriptor size, type), then the name and the descriptor,
/// each padded to the segment's alignment (4, or 8 for GNU property notes).
fn go_note_in(mut notes: &[u8], align: usize) -> bool {
    let pad = |n: usize| if align == 8 { n.next_multiple_of(8) } else { n.next_multiple_of(4) };
    let word = |bytes: &[u8], at: usize| u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    while notes.len() >= 12 {
        let (name_size, desc_size, kind) = (word(notes, 0) as usize, word(notes, 4) as usize, word(notes, 8));
        let name_end = 12 + name_size;
        let next = 12 + pad(name_size) + pad(desc_size);
        if name_end > notes.len() {
            return false;
        }
        let name = &notes[12..name_end];
        if kind == GO_NOTE_BUILDID && name.starts_with(GO_NOTE_OWNER) {
            return true;
        }
        notes = notes.get(next..).unwrap_or(&[]);
    }
    false
}

#[cfg(test)]
mod tests {
    use crate::runtime::detect::go_note_in;

    fn note(name: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&(name.len() as u32).to_ne_bytes());
        bytes.extend_from_slice(&(desc.len() as u32).to_ne_bytes());
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(name);
        bytes.resize(bytes.len().next_multiple_of(4), 0);
        bytes.extend_from_slice(desc);
        bytes.resize(bytes.len().next_multiple_of(4), 0);
        bytes
    }

    #[test]
    fn finds_the_go_build_id_after_other_notes() {
        let mut notes = note(b"GNU\0", 3, &[1; 20]);
        notes.extend(note(b"Go\0", 4, b"abc/def"));
        assert!(go_note_in(&notes, 4));
    }

    #[test]
    fn ignores_other_owners_and_kinds() {
        let mut notes = note(b"GNU\0", 4, &[1; 16]);
        notes.extend(note(b"Go\0", 1, b"x"));
        assert!(!go_note_in(&notes, 4));
        assert!(!go_note_in(&notes[..10], 4));
    }
}
