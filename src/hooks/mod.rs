//! The exported libc surface, one file per call family, and the helper modules they share.
//! Each hook decides between the green path (we are on the hub thread and the call would
//! block) and the real call (ARCHITECTURE.md, Pass-through rules: not started, disabled,
//! another OS thread, a forked child, an fd the program made non-blocking, an fd epoll
//! cannot watch).
//!
//! Shared by the I/O hooks: `blocking` (how a call on an fd is routed and waits),
//! `receive` (recv/recvfrom/recvmsg and MSG_WAITALL), `write_all` (complete blocking
//! writes), `nowait` (single non-blocking attempts on descriptions not ours), `iov`
//! (iovec arithmetic), `user_mem` (the caller's memory without faulting), `sigmask`
//! (signal masks per green thread: pthread_sigmask, sigprocmask, sigpending, a new
//! thread's mask, the mask of pselect, ppoll and epoll_pwait), `sigsend` (signals sent to
//! one green thread: pthread_kill's delivery, pthread_sigqueue), `offload` (calls run on a worker) and
//! `fortify` (glibc's buffer checks), `cancel_point` (the cancellation points of the
//! calls POSIX makes ones), `uring_wait` (the green wait for io_uring completions that
//! `uring` and `uring_enter` share). Shared by the sync hooks: `hub` (the proof that a
//! hook runs green, and hub-only side tables) and `deadline` (timeouts and re-check naps).

// Call families.
mod aio;
mod aio_suspend;
mod cancel;
mod cancel_only;
mod epoll;
mod exec;
mod exec_variadic;
mod fd;
mod fd_range;
mod file;
mod filelock;
mod fork;
mod futex;
mod io;
mod io_mmsg;
mod io_msg;
mod io_vec;
mod mqueue;
mod open;
mod pipe;
mod popen_streams;
mod poll;
mod prctl;
mod resolve;
mod select;
mod sendfile;
mod signal;
mod signal_legacy;
mod sigaltstack;
mod sigjmp;
mod sigsend;
mod sigwait;
mod sleep;
mod socket;
mod sigpause;
mod sockopt;
mod sysv_msg;
mod sysv_sem;
mod stdio;
mod stdio_mode;
mod stdio_lock;
mod stdio_reads;
mod sync_cond;
mod syscall_route;
mod sync_misc;
mod sync_mutex;
mod sync_mutex_attrs;
mod sync_mutex_kinds;
mod sync_mutex_prio;
mod sync_mutex_shared;
mod sync_mutex_words;
mod sync_once;
mod sync_rwlock;
mod sync_rwlock_state;
pub(crate) use stdio_reads::install as install_stdio_reads;
pub(crate) use syscall_route::{raw_route as raw_syscall_route, raw_routed as raw_syscall_routed};
mod sync_sem;
mod thread;
mod thread_attr;
mod thread_extra;
mod thread_np;
mod thread_sched;
mod timer_list;
mod timer_thread;
mod uring;
mod uring_enter;
mod wait;

// Shared helpers.
mod blocking;
mod cancel_point;
mod deadline;
mod fortify;
mod hub;
mod iov;
mod nap_retry;
mod nowait;
mod offload;
mod receive;
mod sigmask;
mod uring_wait;
mod user_mem;
mod write_all;
