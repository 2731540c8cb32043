//! The wire protocol between ts/backends/native.ts and this addon, defined once, here:
//! the operation kinds, the `submit` descriptor's layout and flags, the completion
//! result that means "the ring failed", and the limits every configuration value is
//! checked against. `protocol()` (lib.rs) exports all of it to JavaScript at load, so
//! the TypeScript side reads these numbers instead of repeating them.
//!
//! The limits are the engine's: crates/uring defines them (`uring::MAX_SQ_ENTRIES` and
//! the rest, next to the code they bound) and [`limits`] re-exports them under the names
//! `protocol().limits` gives them; only the two bounds that are JavaScript's or the
//! kernel's ABI rather than the engine's (MAX_SAFE_INTEGER, MAX_ERRNO) are written here.
//! RESULT_RING_FAILED is the engine's too.

/// Numbers per operation in the `desc` Float64Array of `submit`.
pub const STRIDE: usize = 7;

/// The descriptor's fields in order: `desc[i * STRIDE + field::X]`.
pub mod field {
    /// The caller's request id (a safe integer, unique among in-flight operations).
    pub const ID: usize = 0;
    /// The operation [`Kind`](super::Kind).
    pub const KIND: usize = 1;
    /// The file descriptor (read, write, fsync, fdatasync, fallocate, ftruncate, size,
    /// close, sendFile's source file).
    pub const FD: usize = 2;
    /// The file offset (read, write, fallocate, sendFile), cancel's target id.
    pub const OFFSET: usize = 3;
    /// Bytes (read, write, fallocate, register buffer, sendFile), the new size
    /// (ftruncate), the mode (open).
    pub const LEN: usize = 4;
    /// fallocate's mode, open's flags, the slot to unregister, sendFile's socket fd.
    pub const ARG: usize = 5;
    /// [`FLAG_LINK`](super::FLAG_LINK) and nothing else (other bits: RangeError).
    pub const FLAGS: usize = 6;
}

/// The field names, in descriptor order (for JavaScript and messages).
pub const FIELD_NAMES: [&str; STRIDE] = ["id", "kind", "fd", "offset", "len", "arg", "flags"];

/// `flags` bit 0: IOSQE_IO_LINK to the next operation of the same submit.
pub const FLAG_LINK: u32 = 1;
/// Every flag bit this version knows.
pub const KNOWN_FLAGS: u32 = FLAG_LINK;

/// A completion result meaning "not executed: the ring failed" — run it elsewhere.
pub const RESULT_RING_FAILED: i64 = uring::RESULT_RING_FAILED;

/// Operation kinds, as numbered in ARCHITECTURE.md §2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// extras[i] = the buffer; fills it unless end-of-file comes first.
    Read = 1,
    /// extras[i] = the buffer; writes it whole or fails.
    Write = 2,
    Fsync = 3,
    Fdatasync = 4,
    /// offset, len, arg = mode.
    Fallocate = 5,
    /// len = the new size.
    Ftruncate = 6,
    /// result = st_size.
    Size = 7,
    /// extras[i] = the path, arg = flags, len = mode; result = the fd.
    Open = 8,
    Close = 9,
    Nop = 10,
    /// Registers the first `len` bytes of extras[i] (a pool buffer) in the ring's buffer
    /// table; result = the slot. Never linked.
    RegisterBuffer = 11,
    /// Empties slot `arg` of the buffer table. Never linked.
    UnregisterBuffer = 12,
    /// fd = the file, offset = where in it, len = bytes, arg = the connected socket's fd
    /// (the binding dups it inside submit; the engine closes the dup). result = bytes that
    /// reached the socket (see uring::Op::SendFile); never linked.
    SendFile = 13,
    /// offset = the id of a sendFile in flight; result 0 or -ENOENT. No slot, never
    /// linked.
    Cancel = 14,
}

impl Kind {
    /// Every kind, in number order.
    pub const ALL: [Kind; 14] = [
        Kind::Read,
        Kind::Write,
        Kind::Fsync,
        Kind::Fdatasync,
        Kind::Fallocate,
        Kind::Ftruncate,
        Kind::Size,
        Kind::Open,
        Kind::Close,
        Kind::Nop,
        Kind::RegisterBuffer,
        Kind::UnregisterBuffer,
        Kind::SendFile,
        Kind::Cancel,
    ];

    /// The highest kind number.
    pub const MAX: u32 = Kind::Cancel as u32;

    /// The kind numbered `k`, if any.
    pub fn from_number(k: f64) -> Option<Kind> {
        Kind::ALL
            .iter()
            .copied()
            .find(|kind| f64::from(*kind as u32) == k)
    }

    /// The word used in messages: the protocol key, but for the buffer-table kinds and
    /// sendfile.
    pub fn name(self) -> &'static str {
        match self {
            Kind::RegisterBuffer => "buffer registration",
            Kind::UnregisterBuffer => "buffer unregistration",
            Kind::SendFile => "sendfile",
            other => other.key(),
        }
    }

    /// The key in `protocol().kinds` (what ts/backends/native.ts's `Wire` looks kinds up by).
    pub fn key(self) -> &'static str {
        match self {
            Kind::Read => "read",
            Kind::Write => "write",
            Kind::Fsync => "fsync",
            Kind::Fdatasync => "fdatasync",
            Kind::Fallocate => "fallocate",
            Kind::Ftruncate => "ftruncate",
            Kind::Size => "size",
            Kind::Open => "open",
            Kind::Close => "close",
            Kind::Nop => "nop",
            Kind::RegisterBuffer => "registerBuffer",
            Kind::UnregisterBuffer => "unregisterBuffer",
            Kind::SendFile => "sendFile",
            Kind::Cancel => "cancel",
        }
    }

    /// What `extras[i]` must be for this kind.
    #[cfg_attr(not(io_uring_engine), allow(dead_code))]
    pub fn extra(self) -> Extra {
        match self {
            Kind::Read | Kind::Write | Kind::RegisterBuffer => Extra::Buffer,
            Kind::Open => Extra::Path,
            _ => Extra::None,
        }
    }
}

/// What an operation takes from `extras[i]`.
#[cfg_attr(not(io_uring_engine), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extra {
    /// Ignored.
    None,
    /// A Uint8Array (Buffer) whose byte length is at least `len`.
    Buffer,
    /// A string: the path to open.
    Path,
}

/// The bounds of `createEngine`'s options and of descriptor fields.
pub mod limits {
    /// Bytes of one `allocAligned` buffer at most: the pool's limit, which is the
    /// registered-buffer limit (`uring::MAX_FIXED_BUFFER_BYTES`), so every pool buffer
    /// can be registered.
    pub use uring::pool::POOL_MAX_BYTES as MAX_ALIGNED_BYTES;
    /// The engine's limits, defined once in crates/uring (its lib.rs says what each
    /// bounds): `MAX_SQ_ENTRIES` (sqDepth, a power of two), `MAX_CQ_ENTRIES` (cqDepth;
    /// the CQ is raised to a power of two >= queueCapacity + 1 and >= sqDepth),
    /// `MAX_QUEUE_CAPACITY` (queueCapacity), `MAX_FIXED_FILE_SLOTS`,
    /// `MAX_FIXED_BUFFER_SLOTS`, `MAX_RW_BYTES` (one SQE's transfer: a longer read or
    /// write is continued inside the engine, so an operation's `len` may be any safe
    /// integer).
    pub use uring::{
        MAX_CQ_ENTRIES, MAX_FIXED_BUFFER_SLOTS, MAX_FIXED_FILE_SLOTS, MAX_QUEUE_CAPACITY,
        MAX_RW_BYTES, MAX_SQ_ENTRIES,
    };
    /// errno values are below 4096 on Linux (MAX_ERRNO).
    pub const MAX_ERRNO: u32 = 4095;
    /// 2^53 − 1: offsets, lengths and ids are JavaScript safe integers.
    pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

    /// `protocol().limits`: each limit under the name TypeScript reads it by. Every
    /// value is an integer below 2^53, exact in an f64 (checked below).
    pub const EXPORTED: [(&str, f64); 7] = [
        ("maxSqDepth", MAX_SQ_ENTRIES as f64),
        ("maxCqEntries", MAX_CQ_ENTRIES as f64),
        ("maxQueueCapacity", MAX_QUEUE_CAPACITY as f64),
        ("maxFixedFileSlots", MAX_FIXED_FILE_SLOTS as f64),
        ("maxFixedBufferSlots", MAX_FIXED_BUFFER_SLOTS as f64),
        ("maxTransferBytes", MAX_RW_BYTES as f64),
        ("maxAlignedBytes", MAX_ALIGNED_BYTES as f64),
    ];

    const _: () = assert!((MAX_QUEUE_CAPACITY as u64) < 1 << 53);
    const _: () = assert!((MAX_RW_BYTES as u64) < 1 << 53);
    const _: () = assert!((MAX_ALIGNED_BYTES as u64) < 1 << 53);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_numbered_one_to_fourteen_in_order() {
        for (i, k) in Kind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i + 1);
            assert_eq!(Kind::from_number((i + 1) as f64), Some(*k));
        }
        assert_eq!(Kind::MAX, 14);
        assert_eq!(Kind::ALL.len(), 14);
        assert_eq!(Kind::from_number(0.0), None);
        assert_eq!(Kind::from_number(15.0), None);
        assert_eq!(
            (Kind::SendFile.key(), Kind::SendFile.name()),
            ("sendFile", "sendfile")
        );
        assert_eq!(
            (Kind::Cancel.key(), Kind::Cancel.name()),
            ("cancel", "cancel")
        );
        assert_eq!(Kind::SendFile.extra(), Extra::None);
        assert_eq!(Kind::Cancel.extra(), Extra::None);
        assert_eq!(Kind::from_number(1.5), None);
    }

    #[test]
    fn the_layout_is_seven_numbers() {
        assert_eq!(FIELD_NAMES.len(), STRIDE);
        assert_eq!(FIELD_NAMES[field::ID], "id");
        assert_eq!(FIELD_NAMES[field::FLAGS], "flags");
        assert_eq!(RESULT_RING_FAILED, -1_000_000);
    }

    #[test]
    fn the_exported_limits_are_the_engines() {
        let get = |name: &str| {
            limits::EXPORTED
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .unwrap()
        };
        assert_eq!(get("maxSqDepth"), f64::from(uring::MAX_SQ_ENTRIES));
        assert_eq!(get("maxQueueCapacity"), uring::MAX_QUEUE_CAPACITY as f64);
        assert_eq!(get("maxTransferBytes"), uring::MAX_RW_BYTES as f64);
        assert_eq!(get("maxAlignedBytes"), uring::MAX_FIXED_BUFFER_BYTES as f64);
        for (name, v) in limits::EXPORTED {
            assert!(v > 0.0 && v == v.trunc(), "{name} = {v}");
        }
    }
}
