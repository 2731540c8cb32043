//! The io_uring engine of @streamline/io: no Node types.
//!
//! The ring itself is the [`io-uring`](https://docs.rs/io-uring) crate's (tokio-rs): setup
//! with `io_uring::Builder`, SQEs from `io_uring::opcode`, the probe, the sparse file and
//! buffer tables and `Submitter`'s submit/enter. On top of it, one op state machine
//! (`engine`: requests → SQEs, continuations of short transfers, EAGAIN/EINTR retries,
//! linked chains, opens and closes with fixed slots, the rollback after a fatal enter)
//! and its two drivers, which stand apart and drive it only through its methods:
//!
//! - a [`Worker`] owns one ring on its own thread (`worker`): callers hand it batches of
//!   [`Request`]s through a bounded queue and an eventfd, whose read the ring thread keeps
//!   armed in the ring; [`Completion`]s go to a sink in batches;
//! - an [`InlineEngine`] is driven by its creating thread (`inline`): submit and reap
//!   there, the ring fd watched by the caller's event loop.
//!
//! [`probe`] and [`kernel_release`] tell whether io_uring can be used at all.
//!
//! Modules follow kernel concepts: `ring` (one io_uring instance: setup-flag fallback,
//! the record of unconsumed SQEs, enter, register calls), `names` (flag, feature and
//! opcode names for reports), `probe`, `files` (the sparse fixed-file table), `buffers`
//! (the sparse registered-buffer table), `pipes` (the pooled pipes of splice transfers),
//! `info` ([`RingInfo`]). Portable, on every
//! target: `crc32c` (Castagnoli checksum), `pool` (page-aligned memory), `fileops` (flock,
//! posix_fadvise, statx DIOALIGN), the limits below and the request types; on Linux,
//! `sockets` (dup, close and non-blocking sendfile for sending file bytes to sockets).
//!
//! The io_uring part is built on Linux with the `io-uring` feature (on by default);
//! elsewhere, or without it, [`probe`] answers ENOSYS and there is no [`Worker`] or
//! [`InlineEngine`]. See `docs/ARCHITECTURE.md` §1 for the contract.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod crc32c;
mod fileops;
mod info;
pub mod pool;
mod probe;
#[cfg(target_os = "linux")]
pub mod sockets;

#[cfg(all(target_os = "linux", feature = "io-uring"))]
mod buffers;
#[cfg(all(target_os = "linux", feature = "io-uring"))]
mod engine;
#[cfg(all(target_os = "linux", feature = "io-uring"))]
mod files;
#[cfg(all(target_os = "linux", feature = "io-uring"))]
mod inline;
#[cfg(all(target_os = "linux", feature = "io-uring"))]
mod names;
#[cfg(all(target_os = "linux", feature = "io-uring"))]
mod pipes;
#[cfg(all(target_os = "linux", feature = "io-uring"))]
mod ring;
#[cfg(all(target_os = "linux", feature = "io-uring"))]
mod worker;

pub use crc32c::crc32c;
pub use fileops::{dio_alignment, fadvise_dontneed, flock, DioAlignment, LockMode};
pub use info::RingInfo;
#[cfg(all(target_os = "linux", feature = "io-uring"))]
pub use inline::InlineEngine;
pub use probe::{kernel_release, probe, ProbeReport};
#[cfg(all(target_os = "linux", feature = "io-uring"))]
pub use worker::Worker;

use std::ffi::CString;

// ---------------------------------------------------------------------------------------
// Limits. Defined here once; the binding exports them to TypeScript, whose config
// validates against them, so a value the config accepts is one the engine takes.

/// The largest SQ (`EngineConfig::sq_entries`, config `sqDepth`): the kernel's
/// IORING_MAX_ENTRIES.
pub const MAX_SQ_ENTRIES: u32 = 32_768;
/// The largest CQ the engine asks for (IORING_SETUP_CQSIZE; the kernel allows twice
/// this): the CQ is raised to a power of two ≥ `queue_capacity + 1`, so this bounds
/// [`MAX_QUEUE_CAPACITY`].
pub const MAX_CQ_ENTRIES: u32 = 65_536;
/// The most requests accepted and not completed (`EngineConfig::queue_capacity`, config
/// `queueDepth`): one less than [`MAX_CQ_ENTRIES`], so that every outstanding request's
/// completion fits in the CQ.
pub const MAX_QUEUE_CAPACITY: usize = 65_535;
/// The largest fixed-file table (`EngineConfig::fixed_file_slots`): the kernel's
/// IORING_MAX_FIXED_FILES. A table over RLIMIT_NOFILE is refused by the kernel (EMFILE)
/// and the engine then uses plain fds (see [`RingInfo::fixed_files_errno`]).
pub const MAX_FIXED_FILE_SLOTS: u32 = 1 << 20;
/// The largest registered-buffer table (`EngineConfig::fixed_buffer_slots`): the kernel's
/// IORING_MAX_REG_BUFFERS.
pub const MAX_FIXED_BUFFER_SLOTS: u32 = 1 << 14;
/// The most bytes one registered buffer may span (the kernel refuses more than 1 GiB).
pub const MAX_FIXED_BUFFER_BYTES: usize = 1 << 30;
/// The most one SQE transfers: Linux caps a single read or write at MAX_RW_COUNT
/// (0x7ffff000 bytes). Larger requests are split and continued by the engine, so this
/// bounds one SQE, not one request.
pub const MAX_RW_BYTES: usize = 0x7fff_f000;

const _: () = assert!(MAX_QUEUE_CAPACITY + 1 == MAX_CQ_ENTRIES as usize);
const _: () = assert!(MAX_SQ_ENTRIES <= MAX_CQ_ENTRIES && MAX_SQ_ENTRIES.is_power_of_two());
// A registered buffer's slot travels in the SQE's 16-bit buf_index.
const _: () = assert!(MAX_FIXED_BUFFER_SLOTS <= 1 << 16);
// One SQE's length is a u32.
const _: () = assert!(MAX_RW_BYTES <= u32::MAX as usize);

/// The engine's settings (see `IoConfig` in DESIGN.md §3 for where they come from).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// SQ size; a power of two in 1..=[`MAX_SQ_ENTRIES`] (config `sqDepth`).
    pub sq_entries: u32,
    /// CQ size (IORING_SETUP_CQSIZE). Raised to the next power of two of at least
    /// `queue_capacity + 1` and `sq_entries`, so completions never overflow in practice;
    /// at most [`MAX_CQ_ENTRIES`] after raising.
    pub cq_entries: u32,
    /// Requests accepted but not yet completed, at most (config `queueDepth`);
    /// 1..=[`MAX_QUEUE_CAPACITY`].
    pub queue_capacity: usize,
    /// Size of the sparse registered file table; 0 = plain fds only.
    pub fixed_file_slots: u32,
    /// Size of the sparse registered buffer table (Linux 5.19); 0 = none.
    pub fixed_buffer_slots: u32,
    /// IORING_SETUP_SQPOLL: a kernel thread polls the SQ, so submitting needs no
    /// syscall while it is awake (it sleeps after `SQPOLL_IDLE_MS` idle). Where the
    /// kernel refuses it (EPERM/EINVAL) the ring is set up without it.
    pub sqpoll: bool,
    /// Test hook: `Worker::start` fails with this errno without creating a ring.
    pub test_setup_errno: Option<i32>,
    /// Test hook: after this many requests were accepted the ring behaves as if
    /// io_uring_enter failed fatally (see [`RESULT_RING_FAILED`]).
    pub test_fail_after_submits: Option<u64>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            sq_entries: 256,
            cq_entries: 2048,
            queue_capacity: 1024,
            fixed_file_slots: 1024,
            fixed_buffer_slots: 0,
            sqpoll: false,
            test_setup_errno: None,
            test_fail_after_submits: None,
        }
    }
}

/// One operation. File descriptors are plain fds owned by the caller (an `Open`
/// result, or any fd); the engine substitutes the fixed slot when the fd has one.
#[derive(Debug)]
pub enum Op {
    /// Reads into `buf[..len]` at `offset`, continuing short reads until the buffer is
    /// full or end-of-file; result = total bytes read.
    Read {
        fd: i32,
        buf: *mut u8,
        len: usize,
        offset: u64,
    },
    /// Writes `buf[..len]` at `offset` whole, continuing short writes; result = len.
    /// A write that makes no progress completes with -EIO.
    Write {
        fd: i32,
        buf: *const u8,
        len: usize,
        offset: u64,
    },
    /// fsync (or fdatasync when `datasync`); result 0.
    Fsync { fd: i32, datasync: bool },
    /// fallocate(fd, mode, offset, len); result 0.
    Fallocate {
        fd: i32,
        mode: i32,
        offset: u64,
        len: u64,
    },
    /// IORING_OP_FTRUNCATE where probed (Linux 6.9), else ftruncate(2) on the driving
    /// thread; result 0.
    Ftruncate { fd: i32, len: u64 },
    /// The size of the file (statx STATX_SIZE); result = st_size.
    Size { fd: i32 },
    /// openat(AT_FDCWD, path, flags | O_CLOEXEC, mode); result = the fd. A directory
    /// completes with -EISDIR (the fd is closed). The fd enters a fixed slot if free.
    Open {
        path: CString,
        flags: i32,
        mode: u32,
    },
    /// Frees the fd's fixed slot, then closes it; result 0.
    Close { fd: i32 },
    /// Does nothing in the kernel; result 0.
    Nop,
    /// Registers `buf[..len]` in the ring's buffer table (no SQE: done when accepted);
    /// result = the slot, or -errno (ENOMEM over RLIMIT_MEMLOCK, ENOBUFS when the table
    /// is full, EOPNOTSUPP without one). From then on every read or write whose buffer
    /// lies inside it goes to the kernel as READ_FIXED/WRITE_FIXED. Never linked.
    /// The memory must stay allocated until an `UnregisterBuffer` of the slot has
    /// completed or the engine is dropped (the table maps addresses).
    RegisterBuffer { buf: *mut u8, len: usize },
    /// Empties a slot of the buffer table; result 0, or -EINVAL when it is not
    /// registered. Never linked.
    UnregisterBuffer { slot: u32 },
    /// Sends `len` bytes of `file` from `offset` to the connected stream socket `sock`,
    /// without copying them through user memory: IORING_OP_SPLICE file → pipe linked to
    /// IORING_OP_SPLICE pipe → socket, continued in rounds (IORING_OP_POLL_ADD POLLOUT
    /// when the socket is full). Result = bytes that reached the socket: `len`, or fewer
    /// when end-of-file came first (0: nothing at `offset`), or — with no error — when it
    /// was cancelled or the ring failed after some bytes went out (the caller continues
    /// from offset + result); -errno (EPIPE, ECONNRESET, … — also after some bytes went
    /// out: the stream is then cut), -ECANCELED when cancelled before any byte went out,
    /// RESULT_RING_FAILED only when no byte was sent, -EOPNOTSUPP on a ring without
    /// splice ([`RingInfo::splice_op`]), -ENOTSOCK when `sock` is not a socket. The engine closes `sock` (a dup the caller gave
    /// it) when the op finishes, after every SQE naming it has been reaped. Never linked
    /// (a link on it or on the request before it is ignored; the binding refuses both).
    SendFile {
        file: i32,
        offset: u64,
        len: u64,
        sock: std::os::fd::OwnedFd,
    },
    /// Cancels the SendFile whose user_data is `target`: result 0 (it will complete soon,
    /// with the bytes sent so far or -ECANCELED), -ENOENT when none is in flight. No SQE
    /// slot, completes when accepted (like the buffer-table updates). Never linked.
    Cancel { target: u64 },
}

impl Op {
    /// Requests that take no request slot: done when accepted, no SQE of their own
    /// (buffer-table updates, and Cancel, whose ASYNC_CANCEL SQE belongs to its
    /// target's slot). They never count against `queue_capacity`.
    pub fn takes_no_slot(&self) -> bool {
        matches!(
            self,
            Op::RegisterBuffer { .. } | Op::UnregisterBuffer { .. } | Op::Cancel { .. }
        )
    }
}

// SAFETY: the raw pointers in `Read`/`Write` are only dereferenced by the kernel on
// behalf of the driving thread; `Worker::submit` (unsafe) makes the caller keep them valid
// and unaliased until the completion is delivered, whatever thread that happens on.
unsafe impl Send for Op {}

/// An operation and the caller's tag for it, returned in its [`Completion`].
#[derive(Debug)]
pub struct Request {
    pub user_data: u64,
    pub op: Op,
    /// IOSQE_IO_LINK: the next request of the same submit starts only after this one
    /// succeeded; when this one fails, the rest of the chain completes with -ECANCELED.
    /// Short transfers and retries are continued without breaking the chain. Ignored on
    /// the last request of a submit.
    pub link: bool,
}

impl Request {
    /// An unlinked request.
    pub fn new(user_data: u64, op: Op) -> Request {
        Request {
            user_data,
            op,
            link: false,
        }
    }

    /// A request linked to the next one of its submit.
    pub fn linked(user_data: u64, op: Op) -> Request {
        Request {
            user_data,
            op,
            link: true,
        }
    }
}

/// The outcome of one request: `result >= 0` is success (bytes, fd, size or 0),
/// `result < 0` is `-errno` or [`RESULT_RING_FAILED`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    pub user_data: u64,
    pub result: i64,
}

/// The request was not executed because the ring failed; run it elsewhere (the
/// standard backend). Below every -errno value, so it cannot be mistaken for one.
pub const RESULT_RING_FAILED: i64 = -1_000_000;

/// Errno values callers compare against (positive, as in `Err(errno)`).
pub mod errno {
    pub use libc::{
        EAGAIN, ECANCELED, ECONNRESET, EINVAL, EIO, EISDIR, ENOENT, EOPNOTSUPP, EPIPE, ESHUTDOWN,
    };
}

/// The counters of an engine's splice transfers (`Worker::send_stats`,
/// `InlineEngine::send_stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendStats {
    /// IORING_OP_POLL_ADDs pushed: how often a transfer waited for its reader.
    pub polls: u64,
    /// Pipes the engine holds (idle in its pool, or in use by transfers).
    pub pipes_open: usize,
    /// Capacity in bytes of the last pipe it made (0 before any).
    pub pipe_bytes: u32,
}

/// open(2) flag values for `Op::Open` on this target.
pub mod oflags {
    #[cfg(target_os = "linux")]
    pub use libc::O_DIRECT;
    pub use libc::{O_APPEND, O_CREAT, O_DIRECTORY, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY};
}

/// The calling thread's errno (positive) after a libc call reported failure.
pub(crate) fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}
