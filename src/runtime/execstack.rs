//! Green stacks become executable when glibc makes thread stacks executable
//! (ARCHITECTURE.md, Diagnostics, "Executable stacks").
//!
//! When `dlopen` loads a module whose PT_GNU_STACK asks for an executable stack, glibc
//! (elf/dl-load.c, sysdeps/unix/sysv/linux/dl-execstack.c) mprotects the main thread's stack
//! PROT_EXEC, then every stack on its own lists (`__nptl_change_stack_perm`), and creates
//! thread stacks executable from then on. Our green stacks are on none of its lists, so code
//! placed on one (a GCC nested function's trampoline) would fault. We do not hook dlopen
//! (the caller glibc resolves RUNPATH and $ORIGIN against would become us); we catch the
//! first such fault instead, in overflow.rs's SIGSEGV handler, and do then what glibc did.
//!
//! A fault is this one when every condition holds, else it goes on as before:
//! * it is on the hub thread, with SEGV_ACCERR (the page is mapped, the access not allowed);
//! * it is an instruction fetch: the fault address is the interrupted PC (on x86-64 the page
//!   fault's error code, REG_ERR, has its instruction-fetch bit as well);
//! * the PC is in the usable part of a live green stack of ours (not a guard page, not a
//!   stack the program supplied: glibc leaves those alone too);
//! * glibc has switched: the hub thread's own native stack is executable now. That stack is
//!   the one glibc changes first and sets `GL(dl_stack_flags)` PF_X right after, so it is
//!   exactly glibc's own switch (a program linked with an executable stack has it from the
//!   start). We read its protection from /proc/self/maps with raw system calls (open, read,
//!   close): async-signal-safe, and the kernel's truth. Asking glibc instead
//!   (`dl_iterate_phdr` and the modules' PT_GNU_STACK) takes the loader's lock, is not
//!   async-signal-safe, and says what a module asked for, not whether glibc did it.
//!
//! Then every live green stack is made RWX (the usable part; the guard keeps no access),
//! stack.rs makes every later stack executable, and the handler returns: the instruction is
//! retried and runs. The live stacks are found in the table `green ps` reads
//! (introspect.rs), by the same protocol as that reader: an aligned word per slot, and a
//! seqlock that is odd while the array moves. A fault that interrupted such a move (only a
//! handler that runs inside the runtime could) is left as it is.

use super::introspect::green_introspection;
use super::introspect_abi::word;
use super::state::on_hub_thread;
use super::thread::{Green, State};
use crate::sys::raw;
use core::ffi::c_void;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Acquire, Ordering::Relaxed};

/// si_code of a fault on a mapped page the access is not allowed to (asm-generic/siginfo.h;
/// the libc crate does not name it).
const SEGV_ACCERR: i32 = 2;

/// An address on the hub thread's native stack, taken at start.
static NATIVE_STACK: AtomicUsize = AtomicUsize::new(0);

/// Remembers where the calling (hub) thread's native stack is.
#[inline(never)]
pub fn note_native_stack() {
    let here = 0u8;
    NATIVE_STACK.store(core::ptr::addr_of!(here) as usize, Relaxed);
}

/// From our SIGSEGV handler: whether this fault was code run on a green stack after glibc
/// made stacks executable, now made executable (the handler then returns, and the
/// instruction runs again). Async-signal-safe.
///
/// # Safety
/// In our SIGSEGV handler, with the kernel's siginfo and ucontext.
pub unsafe fn retry(info: *const libc::siginfo_t, context: *mut c_void) -> bool {
    // SAFETY: the kernel's siginfo (caller).
    let (code, address) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    // SAFETY: the kernel's ucontext (caller).
    if code != SEGV_ACCERR || !on_hub_thread() || !unsafe { instruction_fetch(context, address) } {
        return false;
    }
    // SAFETY: on the hub thread, in a handler (the table's reader protocol).
    if unsafe { live_stack_holding(address) }.is_none() || !native_stack_executable() {
        return false;
    }
    super::stack::make_executable();
    let mut retried = false;
    // SAFETY: as above; each range is the usable part of a live stack of ours.
    unsafe {
        for_each_live_stack(|low, len| {
            let changed = super::stack::protect_executable(low, len);
            retried |= changed && (low..low + len).contains(&address);
        })
    };
    retried
}

/// Whether the fault at `address` fetched an instruction there.
///
/// # Safety
/// `context` is the kernel's ucontext for this fault.
unsafe fn instruction_fetch(context: *mut c_void, address: usize) -> bool {
    let uc = context as *const libc::ucontext_t;
    #[cfg(target_arch = "x86_64")]
    {
        /// The page fault error code's instruction-fetch bit (X86_PF_INSTR).
        const PF_INSTR: i64 = 1 << 4;
        // SAFETY: the kernel's ucontext (caller); plain reads.
        let (pc, err) = unsafe {
            let gregs = &(*uc).uc_mcontext.gregs;
            (gregs[libc::REG_RIP as usize] as usize, gregs[libc::REG_ERR as usize])
        };
        pc == address && err & PF_INSTR != 0
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: the kernel's ucontext (caller); a plain read.
        let pc = unsafe { (*uc).uc_mcontext.pc as usize };
        pc == address
    }
}

/// The usable range of the live green stack of ours that holds `address`, if any.
///
/// # Safety
/// On the hub thread (in a handler, or outside the runtime's table changes).
unsafe fn live_stack_holding(address: usize) -> Option<(usize, usize)> {
    let mut found = None;
    // SAFETY: the caller's.
    unsafe {
        for_each_live_stack(|low, len| {
            if (low..low + len).contains(&address) {
                found = Some((low, len));
            }
        })
    };
    found
}

/// Calls `f(low, len)` with the usable part of every live green stack we mapped: records
/// in the table that have not ended and have a guard page (the root's native stack and
/// stacks the program supplied have none). Nothing when the table is moving.
///
/// # Safety
/// On the hub thread: the table and the records change only there, so what this reads does
/// not change under it, short of a move it interrupted (SEQ odd).
unsafe fn for_each_live_stack(mut f: impl FnMut(usize, usize)) {
    let words = &green_introspection.words;
    if words[word::SEQ].load(Acquire) % 2 == 1 {
        return;
    }
    let table = words[word::TABLE].load(Acquire) as *const AtomicU64;
    let len = words[word::TABLE_LEN].load(Acquire) as usize;
    for index in 0..len {
        // SAFETY: the table holds TABLE_LEN slots while SEQ is even (introspect.rs).
        let g = unsafe { (*table.add(index)).load(Acquire) } as *const Green;
        if g.is_null() {
            continue;
        }
        // SAFETY: a record in the table is live until `remove` clears its slot first. Its
        // stack fields are set before it is added and never change; its state leaves
        // Done never, and is Done before its stack goes back to the pool.
        let (state, low, size, guard) = unsafe {
            (
                core::ptr::addr_of!((*g).state).read_volatile(),
                core::ptr::addr_of!((*g).stack_low).read_volatile(),
                core::ptr::addr_of!((*g).stack_size).read_volatile(),
                core::ptr::addr_of!((*g).guard_size).read_volatile(),
            )
        };
        if state != State::Done && guard != 0 && low != 0 {
            f(low, size);
        }
    }
}

/// Whether the hub thread's native stack is executable now, as /proc/self/maps says.
fn native_stack_executable() -> bool {
    let address = NATIVE_STACK.load(Relaxed);
    if address == 0 {
        return false;
    }
    let path = c"/proc/self/maps";
    let flags = (libc::O_RDONLY | libc::O_CLOEXEC) as usize;
    // SAFETY: openat reads our NUL-terminated path.
    let fd = unsafe { raw::syscall6(libc::SYS_openat, [libc::AT_FDCWD as usize, path.as_ptr() as usize, flags, 0, 0, 0]) };
    if fd < 0 {
        return false;
    }
    let mut scan = MapsScan::new(address);
    let mut buf = [0u8; 4096];
    let found = loop {
        // SAFETY: read writes at most `buf.len()` bytes into our buffer.
        let n = unsafe { raw::syscall6(libc::SYS_read, [fd as usize, buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0]) };
        if n <= 0 {
            break None;
        }
        if let Some(found) = scan.feed(&buf[..n as usize]) {
            break Some(found);
        }
    };
    // SAFETY: the fd we opened above, ours alone.
    unsafe { raw::syscall6(libc::SYS_close, [fd as usize, 0, 0, 0, 0, 0]) };
    found == Some(true)
}

/// Finds the protection of the mapping that holds `address` in /proc/self/maps text
/// ("start-end perms ..." lines), fed in pieces of any size.
struct MapsScan {
    address: usize,
    /// 0: the start, 1: the end, 2: the permissions, 3: the rest of the line.
    field: u8,
    start: usize,
    end: usize,
    /// Permission characters seen so far.
    perm: u8,
}

impl MapsScan {
    fn new(address: usize) -> Self {
        MapsScan { address, field: 0, start: 0, end: 0, perm: 0 }
    }

    /// Whether the mapping holding the address is executable, once its line is read.
    fn feed(&mut self, bytes: &[u8]) -> Option<bool> {
        for &b in bytes {
            if b == b'\n' {
                *self = MapsScan::new(self.address);
                continue;
            }
            match self.field {
                0 | 1 => match (b as char).to_digit(16) {
                    Some(digit) => {
                        let value = if self.field == 0 { &mut self.start } else { &mut self.end };
                        *value = value.wrapping_mul(16).wrapping_add(digit as usize);
                    }
                    None => self.field += 1,
                },
                2 if self.perm == 2 && (self.start..self.end).contains(&self.address) => return Some(b == b'x'),
                2 => self.perm += 1,
                _ => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::execstack::MapsScan;

    const MAPS: &[u8] = b"55d0c0000000-55d0c0001000 r--p 00000000 fe:00 12 /usr/bin/x\n\
7fffbb792000-7fffbb7b2000 rwxp 00000000 00:00 0                          [stack]\n\
7fffbb7b2000-7fffbb7b3000 rw-p 00000000 00:00 0 \n";

    fn scan_in_pieces(address: usize, piece: usize) -> Option<bool> {
        let mut scan = MapsScan::new(address);
        MAPS.chunks(piece).find_map(|chunk| scan.feed(chunk))
    }

    #[test]
    fn finds_the_mapping_in_any_pieces() {
        for piece in [1, 3, 7, 64, 4096] {
            assert_eq!(scan_in_pieces(0x7fffbb7a0000, piece), Some(true));
            assert_eq!(scan_in_pieces(0x7fffbb7b2010, piece), Some(false));
            assert_eq!(scan_in_pieces(0x55d0c0000fff, piece), Some(false));
            assert_eq!(scan_in_pieces(0x1000, piece), None);
            assert_eq!(scan_in_pieces(0x7fffbb7b3000, piece), None);
        }
    }
}
