//! The wire protocol between ts/backends/native.ts and this addon, defined once, here:
//! the operation kinds, the `submit` descriptor's layout and flags, the completion
//! result that means "the ring failed", and the limits every configuration value is
//! checked against. `protocol()` (lib.rs) exports all of it to JavaScript at load, so
//! the TypeScript side reads these numbers instead of repeating them.
//!
//! The limits are the engine's (crates/uring) and the kernel's. Those crates/uring keeps
//! `pub(crate)` today (MAX_SQ_ENTRIES, MAX_CQ_ENTRIES, MAX_QUEUE_CAPACITY, MAX_RW_BYTES
//! in engine.rs) are mirrored in [`limits`] — the one place in the binding — until
//! crates/uring exports them; RESULT_RING_FAILED and the pool limit already come from it.

/// Numbers per operation in the `desc` Float64Array of `submit`.
pub const STRIDE: usize = 7;

/// The descriptor's fields in order: `desc[i * STRIDE + field::X]`.
pub mod field {
    /// The caller's request id (a safe integer, unique among in-flight operations).
    pub const ID: usize = 0;
    /// The operation [`Kind`](super::Kind).
    pub const KIND: usize = 1;
    /// The file descriptor (read, write, fsync, fdatasync, fallocate, ftruncate, size, close).
    pub const FD: usize = 2;
    /// The file offset (read, write, fallocate).
    pub const OFFSET: usize = 3;
    /// Bytes (read, write, fallocate, register buffer), the new size (ftruncate), the mode (open).
    pub const LEN: usize = 4;
    /// fallocate's mode, open's flags, the slot to unregister.
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
}

impl Kind {
    /// Every kind, in number order.
    pub const ALL: [Kind; 12] = [
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
    ];

    /// The highest kind number.
    pub const MAX: u32 = Kind::UnregisterBuffer as u32;

    /// The kind numbered `k`, if any.
    pub fn from_number(k: f64) -> Option<Kind> {
        Kind::ALL
            .iter()
            .copied()
            .find(|kind| f64::from(*kind as u32) == k)
    }

    /// The word used in messages.
    pub fn name(self) -> &'static str {
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
            Kind::RegisterBuffer => "buffer registration",
            Kind::UnregisterBuffer => "buffer unregistration",
        }
    }

    /// The key in `protocol().kinds` (ts/native.ts's `OpKind` member, camelCased).
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
    /// SQ entries at most (IORING_MAX_ENTRIES; crates/uring engine.rs MAX_SQ_ENTRIES).
    pub const MAX_SQ_DEPTH: u32 = 32_768;
    /// CQ entries at most (IORING_MAX_CQ_ENTRIES; crates/uring MAX_CQ_ENTRIES). The CQ is
    /// sized to at least `queueCapacity + 1` and the SQ, rounded up to a power of two.
    pub const MAX_CQ_ENTRIES: u32 = 65_536;
    /// Requests accepted and not completed, at most (crates/uring MAX_QUEUE_CAPACITY:
    /// one CQ slot stays free for the ring's own wake-up).
    pub const MAX_QUEUE_CAPACITY: u32 = 65_535;
    /// Slots of the sparse fixed-file table (IORING_MAX_FIXED_FILES).
    pub const MAX_FIXED_FILE_SLOTS: u32 = 1 << 20;
    /// Slots of the registered-buffer table (IORING_MAX_REG_BUFFERS).
    pub const MAX_FIXED_BUFFER_SLOTS: u32 = 16_384;
    /// Bytes one SQE transfers at most (Linux MAX_RW_COUNT; crates/uring MAX_RW_BYTES).
    /// A longer read or write is continued inside the engine, so this bounds a step,
    /// not an operation (whose `len` may be any safe integer).
    pub const MAX_TRANSFER_BYTES: u32 = 0x7fff_f000;
    /// Bytes of one `allocAligned` buffer (and of a registered buffer) at most.
    pub const MAX_ALIGNED_BYTES: usize = uring::pool::POOL_MAX_BYTES;
    /// errno values are below 4096 on Linux (MAX_ERRNO).
    pub const MAX_ERRNO: u32 = 4095;
    /// 2^53 − 1: offsets, lengths and ids are JavaScript safe integers.
    pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_numbered_one_to_twelve_in_order() {
        for (i, k) in Kind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i + 1);
            assert_eq!(Kind::from_number((i + 1) as f64), Some(*k));
        }
        assert_eq!(Kind::MAX, 12);
        assert_eq!(Kind::from_number(0.0), None);
        assert_eq!(Kind::from_number(13.0), None);
        assert_eq!(Kind::from_number(1.5), None);
    }

    #[test]
    fn the_layout_is_seven_numbers() {
        assert_eq!(FIELD_NAMES.len(), STRIDE);
        assert_eq!(FIELD_NAMES[field::ID], "id");
        assert_eq!(FIELD_NAMES[field::FLAGS], "flags");
        assert_eq!(RESULT_RING_FAILED, -1_000_000);
    }
}
