//! What a ring was set up with, as both drivers report it.

/// What an engine's ring was created with ([`crate::Worker::info`],
/// [`crate::InlineEngine::info`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingInfo {
    pub sq_entries: u32,
    pub cq_entries: u32,
    /// IORING_SETUP_* bits actually used (after the EINVAL and SQPOLL fallbacks), with
    /// the values of `linux/io_uring.h`.
    pub setup_flags: u32,
    /// IORING_FEAT_* bits of `io_uring_params.features`, as far as the io-uring crate
    /// reports them (see `names::FEATURES`), with the values of `linux/io_uring.h`.
    pub features: u32,
    /// `setup_flags` by name ("cqsize", "single_issuer", …).
    pub setup_flag_names: Vec<&'static str>,
    /// `features` by name ("nodrop", "ext_arg", …).
    pub feature_names: Vec<&'static str>,
    /// Registered fixed-file slots (0 when disabled or registration failed).
    pub fixed_file_slots: u32,
    /// Why fixed-file registration failed (errno), if it did.
    pub fixed_files_errno: Option<i32>,
    /// Registered buffer slots (0 when disabled or registration failed).
    pub fixed_buffer_slots: u32,
    /// Why buffer-table registration failed (errno), if it did.
    pub fixed_buffers_errno: Option<i32>,
    /// Whether `Op::Ftruncate` goes through IORING_OP_FTRUNCATE (Linux 6.9).
    pub ftruncate_op: bool,
    /// Whether `Op::SendFile` can run: IORING_OP_SPLICE, IORING_OP_POLL_ADD and
    /// IORING_OP_ASYNC_CANCEL are all supported (Linux 5.7). Without them a SendFile
    /// completes with -EOPNOTSUPP.
    pub splice_op: bool,
}
