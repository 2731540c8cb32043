//! The io_uring engine of @streamline/io: std only, no Node types.
//!
//! Two ways to drive a ring, over one op state machine (`engine`): a [`Worker`] owns
//! one ring on its own thread; an [`InlineEngine`] is driven by its creating thread
//! (submit and reap there, the ring fd watched by the caller's event loop).
//! A [`Worker`] owns one ring on its own thread. Callers hand it batches of [`Request`]s
//! ([`Worker::submit`]); the ring thread turns them into SQEs, continues short reads
//! and writes, retries EAGAIN/EINTR, and hands [`Completion`]s to a sink in batches.
//! [`probe`] and [`kernel_release`] tell whether io_uring can be used at all.
//!
//! Modules follow kernel concepts: `sys` (the ABI, hand-written from
//! `linux/io_uring.h`), `fd` and `mmap` (RAII), `ring` (SQ/CQ), `probe`, `files`
//! (the sparse fixed-file table) and `worker` (the ring thread). Besides the ring:
//! `crc32c` (Castagnoli checksum) and `fileops` (flock, posix_fadvise). See
//! `docs/ARCHITECTURE.md` §1 for the contract.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod buffers;
pub mod crc32c;
mod engine;
mod fd;
mod fileops;
mod files;
mod inline;
mod mmap;
pub mod pool;
mod probe;
mod ring;
mod sys;
mod worker;

pub use crc32c::crc32c;
pub use fileops::{dio_alignment, fadvise_dontneed, flock, DioAlignment, LockMode};
pub use inline::InlineEngine;
pub use probe::{kernel_release, probe, ProbeReport};
pub use worker::{RingInfo, Worker};

use std::ffi::CString;

/// The engine's settings (see `IoConfig` in DESIGN.md §3 for where they come from).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// SQ size; a power of two in 1..=32768 (config `sqDepth`).
    pub sq_entries: u32,
    /// CQ size (IORING_SETUP_CQSIZE). Raised to the next power of two of at least
    /// `queue_capacity + 1` and `sq_entries`, so completions never overflow in practice.
    pub cq_entries: u32,
    /// Requests accepted but not yet completed, at most (config `queueDepth`).
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
/// result, or any fd); the worker substitutes the fixed slot when the fd has one.
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
    /// IORING_OP_FTRUNCATE where probed (Linux 6.9), else ftruncate(2) on the ring
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
}

impl Op {
    /// Buffer-table updates: done when accepted, no SQE, no request slot.
    pub fn is_table_update(&self) -> bool {
        matches!(
            self,
            Op::RegisterBuffer { .. } | Op::UnregisterBuffer { .. }
        )
    }
}

// SAFETY: the raw pointers in `Read`/`Write` are only dereferenced by the kernel on
// behalf of the ring thread; `Worker::submit` (unsafe) makes the caller keep them valid
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
    pub use crate::sys::{EAGAIN, ECANCELED, EINVAL, EIO, EISDIR, ENOENT, ESHUTDOWN};
}

/// open(2) flag values for `Op::Open` on this target (x86_64 Linux).
pub mod oflags {
    pub use crate::sys::{
        O_APPEND, O_CREAT, O_DIRECT, O_DIRECTORY, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY,
    };
}
