//! select(2) and pselect(2) as green waits, on poll's model (poll.rs): ask the kernel with a
//! zero timeout first (exact native answers: EBADF for a closed fd in a set, EINVAL for a
//! negative nfds, regular files always ready), and only when nothing is ready park on the
//! readiness of every fd in the sets, then ask again.
//!
//! A select call overwrites its sets with its answer, even a zero-timeout one that found
//! nothing (it clears them). So the caller's sets are copied before the first attempt and
//! put back before every later one: each attempt asks the question the program asked.
//!
//! How much of a set the kernel touches: it clamps nfds to the size of the process's fd
//! table (not to FD_SETSIZE), then reads and writes whole `unsigned long` words. So nfds up
//! to FD_SETSIZE covers at most one standard fd_set, and a larger nfds is legal: programs
//! with more than FD_SETSIZE fds pass bigger arrays of their own, and some pass a huge nfds
//! (getdtablesize()) with a standard fd_set and rely on the clamp. Above FD_SETSIZE we
//! therefore copy only as far as the fd table reaches ("FDSize" in /proc/self/status).
//!
//! Time: select reports the time not slept in `*timeout` (Linux does, and glibc passes it
//! on), on every return that got past the argument checks: ready, timed out (zero), error,
//! EINTR. pselect's timeout is const. A zero timeout is a plain poll: straight through.
//!
//! pselect's signal mask is handled as sigmask.rs says.
//!
//! Every hook here has the contract of the libc function it replaces.

use crate::runtime::fdtable::{READ, WRITE};
use crate::runtime::green::Wake;
use super::cancel_point;
use super::hub::fair_turn;
use super::poll::timespec_wait;
use super::sigmask::masked_wait;
use super::user_mem::copy_self;
use crate::runtime::{io as green_io, on_hub};
use crate::sys::{clock, errno, real};
use core::ffi::c_int;
use core::mem::size_of;

/// The kernel's fd_set word: an `unsigned long`.
type Word = libc::c_ulong;
const WORD_BITS: usize = Word::BITS as usize;

/// # Safety
/// As for select(2): the sets are null or hold `nfds` bits, `timeout` is null or a timeval.
#[no_mangle]
pub unsafe extern "C" fn select(
    nfds: c_int,
    readfds: *mut libc::fd_set,
    writefds: *mut libc::fd_set,
    exceptfds: *mut libc::fd_set,
    timeout: *mut libc::timeval,
) -> c_int {
    cancel_point::point();
    // SAFETY: the program's call as it made it.
    let pass = || unsafe { real::select(nfds, readfds, writefds, exceptfds, timeout) };
    if !on_hub() {
        return pass();
    }
    // SAFETY: the program's timeval, null or valid (select's contract).
    let wait_ns = match unsafe { timeout.as_ref() } {
        None => None,
        // Negative values: EINVAL from glibc, timeval untouched.
        Some(tv) if tv.tv_sec < 0 || tv.tv_usec < 0 => return pass(),
        // A tv_usec of a second or more counts whole seconds, as the old select syscall did.
        Some(tv) => Some(
            (tv.tv_sec as u64)
                .saturating_mul(clock::NANOS_PER_SEC)
                .saturating_add((tv.tv_usec as u64).saturating_mul(1000)),
        ),
    };
    if wait_ns == Some(0) {
        fair_turn();
        return pass();
    }
    let deadline = wait_ns.map(|ns| clock::monotonic_ns().saturating_add(ns));
    // SAFETY: the hub thread; the program's call as it made it.
    if let Some(result) = unsafe { green_io::call_alone(|| pass() as isize) } {
        return result as c_int;
    }
    // SAFETY: Question::new reads the sets through copy_self.
    let Some(question) = (unsafe { Question::new(nfds, [readfds, writefds, exceptfds]) }) else {
        return pass();
    };
    // SAFETY: the hub thread; the sets were readable.
    let result = unsafe { wait_sets(nfds, &question, deadline) };
    // A request that ended the wait is acted on once the copy of the sets is dropped.
    drop(question);
    cancel_point::point();
    if let Some(deadline) = deadline {
        // The time not slept, in whole microseconds (glibc truncates the kernel's timespec).
        let left = deadline.saturating_sub(clock::monotonic_ns());
        let left = if result == 0 { 0 } else { left };
        let tv_sec = (left / clock::NANOS_PER_SEC) as libc::time_t;
        let tv_usec = ((left % clock::NANOS_PER_SEC) / 1000) as libc::suseconds_t;
        // SAFETY: the program's timeval, read above, which select writes back natively too.
        unsafe { *timeout = libc::timeval { tv_sec, tv_usec } };
    }
    result
}

/// # Safety
/// As for pselect(2): the sets are null or hold `nfds` bits, `timeout` and `sigmask` are
/// null or valid.
#[no_mangle]
pub unsafe extern "C" fn pselect(
    nfds: c_int,
    readfds: *mut libc::fd_set,
    writefds: *mut libc::fd_set,
    exceptfds: *mut libc::fd_set,
    timeout: *const libc::timespec,
    sigmask: *const libc::sigset_t,
) -> c_int {
    cancel_point::point();
    // SAFETY: the program's call as it made it.
    let pass = || unsafe { real::pselect(nfds, readfds, writefds, exceptfds, timeout, sigmask) };
    if !on_hub() {
        return pass();
    }
    // SAFETY: the program's timespec, null or valid (pselect's contract).
    let Some(wait_ns) = (unsafe { timespec_wait(timeout) }) else { return pass() };
    // SAFETY: Question::new reads the sets through copy_self.
    let Some(question) = (unsafe { Question::new(nfds, [readfds, writefds, exceptfds]) }) else {
        return pass();
    };
    let deadline = wait_ns.map(|ns| clock::monotonic_ns().saturating_add(ns));
    // SAFETY: the hub thread; the program's mask; the sets were readable.
    let result = unsafe { masked_wait(sigmask, pass, || wait_sets(nfds, &question, deadline)) };
    // A request that ended the wait is acted on with the caller's mask back and the copy
    // of the sets dropped.
    drop(question);
    cancel_point::point();
    result
}

/// The program's fd sets as it passed them.
struct Question {
    sets: [*mut libc::fd_set; 3],
    /// How many bits the kernel looks at (nfds, clamped to the fd table).
    bits: usize,
    /// Words per set.
    words: usize,
    /// The three sets' words, one after the other (zero for a null set): here when they
    /// fit (nfds up to FD_SETSIZE, the common case: no allocation), else in `saved_heap`.
    saved_inline: [Word; 3 * INLINE_WORDS],
    saved_heap: Vec<Word>,
}

/// Words of one standard fd_set.
const INLINE_WORDS: usize = libc::FD_SETSIZE / WORD_BITS;

impl Question {
    /// Copies the sets. None when we cannot tell how far the kernel would read them, or a
    /// set cannot be read (the caller then makes the real call).
    ///
    /// # Safety
    /// If process_vm_readv is forbidden, the non-null sets must be readable as far as the
    /// kernel would read them.
    unsafe fn new(nfds: c_int, sets: [*mut libc::fd_set; 3]) -> Option<Question> {
        let bits = if nfds <= 0 {
            0 // the kernel answers EINVAL for a negative nfds; zero is a plain sleep
        } else if nfds as usize <= libc::FD_SETSIZE {
            nfds as usize
        } else {
            (nfds as usize).min(fd_table_size()?)
        };
        let words = bits.div_ceil(WORD_BITS);
        let mut question = Question {
            sets,
            bits,
            words,
            saved_inline: [0; 3 * INLINE_WORDS],
            saved_heap: if words > INLINE_WORDS { vec![0; 3 * words] } else { Vec::new() },
        };
        let saved = question.saved_mut();
        for (i, set) in sets.iter().enumerate() {
            if !set.is_null() {
                // Byte copies: a program's own bigger "fd_set" need not be word-aligned. A
                // bad pointer gives None: the real call then answers EFAULT, as natively.
                let (to, len) = (saved[i * words..].as_mut_ptr() as *mut core::ffi::c_void, words * size_of::<Word>());
                // SAFETY: `to` is `words` words of `saved`, writable for `len` bytes.
                match unsafe { copy_self(libc::SYS_process_vm_readv, to, *set as *mut core::ffi::c_void, len) } {
                    Some(true) => {}
                    // SAFETY: the syscall is forbidden: the set is readable (the caller's
                    // promise), `to` as above.
                    Some(false) => unsafe { core::ptr::copy_nonoverlapping(*set as *const u8, to as *mut u8, len) },
                    None => return None,
                }
            }
        }
        Some(question)
    }

    fn saved(&self) -> &[Word] {
        if self.words > INLINE_WORDS { &self.saved_heap } else { &self.saved_inline[..3 * self.words] }
    }

    fn saved_mut(&mut self) -> &mut [Word] {
        if self.words > INLINE_WORDS { &mut self.saved_heap } else { &mut self.saved_inline[..3 * self.words] }
    }

    /// Puts the program's sets back as they were before the first attempt.
    ///
    /// # Safety
    /// The sets are writable as far as they were read (a select call has accepted them).
    unsafe fn restore(&self) {
        for (i, set) in self.sets.iter().enumerate() {
            if !set.is_null() {
                // SAFETY: the caller's promise; `saved` holds `words` words for each set.
                unsafe { core::ptr::copy_nonoverlapping(
                    self.saved()[i * self.words..].as_ptr() as *const u8,
                    *set as *mut u8,
                    self.words * size_of::<Word>(),
                ) };
            }
        }
    }

    /// Every fd in the sets with the readiness edges that can change its answer: the read
    /// edge for the read set and for the exception set (out-of-band data and errors arrive
    /// with it: the hub's registration has no EPOLLPRI of its own), the write edge for the
    /// write set.
    fn interests(&self) -> impl Iterator<Item = (i32, u8)> + Clone + '_ {
        let (w, saved, bits) = (self.words, self.saved(), self.bits);
        let (read, write, except) = (&saved[..w], &saved[w..2 * w], &saved[2 * w..]);
        (0..w).flat_map(move |i| {
            let mut any = read[i] | write[i] | except[i];
            core::iter::from_fn(move || {
                let bit = any.trailing_zeros() as usize;
                let fd = i * WORD_BITS + bit;
                // Bits past nfds in the last word are not looked at.
                if any == 0 || fd >= bits {
                    return None;
                }
                any &= any - 1;
                let mask: Word = 1 << bit;
                let mut interest = 0;
                if (read[i] | except[i]) & mask != 0 {
                    interest |= READ;
                }
                if write[i] & mask != 0 {
                    interest |= WRITE;
                }
                Some((fd as i32, interest))
            })
        })
    }
}

/// One zero-timeout select on the program's sets as they are now.
///
/// # Safety
/// The sets are the program's select arguments.
unsafe fn ask(nfds: c_int, sets: &[*mut libc::fd_set; 3]) -> c_int {
    let mut zero = libc::timeval { tv_sec: 0, tv_usec: 0 };
    // SAFETY: the program's sets (the kernel checks them) and our own timeval.
    unsafe { real::select(nfds, sets[0], sets[1], sets[2], &mut zero) }
}

/// The green select: ask, park on the sets' fds until one may be ready or the deadline
/// passes, ask again. Leaves the sets as native select would: the answer when it returns a
/// count (all clear on a timeout), the question on an error or EINTR. A cancellation
/// request ends it (the caller acts on it once it has dropped what it holds).
///
/// # Safety
/// Hub thread only; `question` holds the program's select arguments, which were readable.
unsafe fn wait_sets(nfds: c_int, question: &Question, deadline: Option<u64>) -> c_int {
    // SAFETY: the program's sets.
    let ready = unsafe { ask(nfds, &question.sets) };
    if ready != 0 {
        return ready;
    }
    let interests = question.interests();
    loop {
        // SAFETY: the hub thread (the caller's promise).
        let wake = unsafe { green_io::wait_any(interests.clone(), deadline) };
        // SAFETY: the kernel accepted the sets in the first ask: they are writable.
        unsafe { question.restore() };
        // SAFETY: the program's sets.
        let ready = unsafe { ask(nfds, &question.sets) };
        if ready != 0 || wake == Wake::Timeout || cancel_point::pending() {
            return ready;
        }
        if let Wake::Interrupted { .. } = wake {
            // select is never restarted after a handler, SA_RESTART or not; the kernel
            // leaves the sets alone when it fails.
            // SAFETY: as above.
            unsafe { question.restore() };
            return errno::fail(libc::EINTR);
        }
    }
}

/// The size of this process's fd table: the kernel's clamp for nfds ("FDSize" in
/// /proc/self/status). Read with raw syscalls: nothing here goes through our hooks.
fn fd_table_size() -> Option<usize> {
    // Ours, not the program's: never trapped (sys/own_calls.rs).
    let _own = crate::sys::own_calls::own_calls();
    use rustix::fs::{Mode, OFlags};
    let file = rustix::fs::open(c"/proc/self/status", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    // FDSize comes early, before the long lines (Groups, the signal and capability masks).
    let mut buf = [0u8; 1024];
    let mut len = 0;
    while len < buf.len() {
        match rustix::io::read(&file, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return None,
        }
    }
    let text = &buf[..len];
    const KEY: &[u8] = b"\nFDSize:";
    let at = text.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = text[at..].iter().skip_while(|b| b.is_ascii_whitespace());
    let mut size = 0usize;
    let mut any = false;
    for &b in digits.take_while(|b| b.is_ascii_digit()) {
        size = size.checked_mul(10)?.checked_add((b - b'0') as usize)?;
        any = true;
    }
    any.then_some(size)
}
