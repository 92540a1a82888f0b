//! The streams popen made, for pclose and fclose (fd.rs). glibc closes such a stream's
//! descriptor and then waits for the command in waitpid, inside libc, where no hook sees
//! it; on the hub thread that wait would block every green thread until the command exits.
//! The streams our popen hook hands out are remembered here, and closing one runs on an
//! offload worker while the green thread parks: glibc's own fclose, flush, close and wait
//! included, exactly as natively (it retries the wait after EINTR and holds off
//! cancellation meanwhile).

use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering::Relaxed};

/// Streams open at once that are remembered; a program with more closes the rest with a
/// wait that blocks the OS thread, as before.
const SLOTS: usize = 64;

static STREAMS: [AtomicPtr<libc::FILE>; SLOTS] = [const { AtomicPtr::new(null_mut()) }; SLOTS];
/// How many slots hold a stream: fclose looks no further when there are none.
static HELD: AtomicUsize = AtomicUsize::new(0);

/// popen made `stream`.
pub(super) fn remember(stream: *mut libc::FILE) {
    if stream.is_null() {
        return;
    }
    for slot in &STREAMS {
        if slot.compare_exchange(null_mut(), stream, Relaxed, Relaxed).is_ok() {
            HELD.fetch_add(1, Relaxed);
            return;
        }
    }
}

/// Whether `stream` is one popen made (and from now on, since it is being closed, is not).
pub(super) fn forget(stream: *mut libc::FILE) -> bool {
    if HELD.load(Relaxed) == 0 || stream.is_null() {
        return false;
    }
    for slot in &STREAMS {
        if slot.compare_exchange(stream, null_mut(), Relaxed, Relaxed).is_ok() {
            HELD.fetch_sub(1, Relaxed);
            return true;
        }
    }
    false
}
