//! Names for what the engine reports: setup flags, feature bits and opcodes.
//!
//! The io-uring crate sets flags through `Builder` methods and answers feature questions
//! through `Parameters::is_feature_*`, but has no table of names (nor raw bits) for a
//! report like `io.kernel` or `streamline-io info`. These tables are that, and only
//! that: every number here is the one of `linux/io_uring.h`, kept for the report's
//! `setup_flags`/`features` bit sets; no number here ever reaches the kernel (the crate
//! builds the setup parameters and the SQEs).

use io_uring::{opcode, Parameters};

/// The IORING_SETUP_* flags this crate may ask for (linux/io_uring.h), each with the
/// release that introduced it. A set of them is one setup attempt (see
/// `ring::THREAD_SETUP`).
pub(crate) mod setup {
    /// A kernel thread polls the SQ (Linux 5.1; unprivileged since 5.13).
    pub(crate) const SQPOLL: u32 = 1 << 1;
    /// The CQ size is ours, not twice the SQ's (Linux 5.5).
    pub(crate) const CQSIZE: u32 = 1 << 3;
    /// Keep submitting a batch past a request that fails at submission (Linux 5.18).
    pub(crate) const SUBMIT_ALL: u32 = 1 << 7;
    /// No IPI to run task work: it runs at the next kernel entry (Linux 5.19).
    pub(crate) const COOP_TASKRUN: u32 = 1 << 8;
    /// Only the creating thread submits (Linux 6.0).
    pub(crate) const SINGLE_ISSUER: u32 = 1 << 12;
    /// Task work waits for io_uring_enter with GETEVENTS (Linux 6.1; needs SINGLE_ISSUER).
    pub(crate) const DEFER_TASKRUN: u32 = 1 << 13;
}

/// The setup flags above by name, for reports.
const SETUP_NAMES: &[(u32, &str)] = &[
    (setup::CQSIZE, "cqsize"),
    (setup::SUBMIT_ALL, "submit_all"),
    (setup::COOP_TASKRUN, "coop_taskrun"),
    (setup::SINGLE_ISSUER, "single_issuer"),
    (setup::DEFER_TASKRUN, "defer_taskrun"),
    (setup::SQPOLL, "sqpoll"),
];

/// Names of the setup flags in `flags`.
pub(crate) fn setup_flag_names(flags: u32) -> Vec<&'static str> {
    SETUP_NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// IORING_FEAT_* bits the crate reports, by bit number (the kernel's), name and the
/// crate's question. Two bits have no public question in io-uring 0.7 and are not
/// reported: reg_reg_ring (bit 13, 6.3) and rw_attr (bit 16, 6.14).
type FeatureTest = fn(&Parameters) -> bool;
const FEATURES: &[(u32, &str, FeatureTest)] = &[
    (0, "single_mmap", Parameters::is_feature_single_mmap), // 5.4
    (1, "nodrop", Parameters::is_feature_nodrop),           // 5.5
    (2, "submit_stable", Parameters::is_feature_submit_stable), // 5.5
    (3, "rw_cur_pos", Parameters::is_feature_rw_cur_pos),   // 5.6
    (4, "cur_personality", Parameters::is_feature_cur_personality), // 5.6
    (5, "fast_poll", Parameters::is_feature_fast_poll),     // 5.7
    (6, "poll_32bits", Parameters::is_feature_poll_32bits), // 5.9
    (7, "sqpoll_nonfixed", Parameters::is_feature_sqpoll_nonfixed), // 5.11
    (8, "ext_arg", Parameters::is_feature_ext_arg),         // 5.11
    (9, "native_workers", Parameters::is_feature_native_workers), // 5.12
    (10, "rsrc_tags", Parameters::is_feature_resource_tagging), // 5.13
    (11, "cqe_skip", Parameters::is_feature_skip_cqe_on_success), // 5.17
    (12, "linked_file", Parameters::is_feature_linked_file), // 5.17
    (
        14,
        "recvsend_bundle",
        Parameters::is_feature_recvsend_bundle,
    ), // 6.10
    (15, "min_timeout", Parameters::is_feature_min_timeout), // 6.12
    (17, "no_iowait", Parameters::is_feature_no_iowait),    // 6.15
];

/// The feature bits a ring reports (see [`FEATURES`]) and their names.
pub(crate) fn features(params: &Parameters) -> (u32, Vec<&'static str>) {
    let mut bits = 0;
    let mut names = Vec::new();
    for &(bit, name, test) in FEATURES {
        if test(params) {
            bits |= 1 << bit;
            names.push(name);
        }
    }
    (bits, names)
}

/// Kernel names of the opcodes, by number (enum io_uring_op), lower-case without the
/// `IORING_OP_` prefix. 0..=48 are in the 6.1 header; 49.. were added in 6.x
/// (read_multishot 6.7, waitid 6.7, futex_* 6.7, fixed_fd_install 6.8, ftruncate 6.9,
/// bind/listen 6.11, recv_zc 6.15, epoll_wait 6.15, readv_fixed/writev_fixed 6.15,
/// pipe 6.16).
pub(crate) const OPCODE_NAMES: &[&str] = &[
    "nop",
    "readv",
    "writev",
    "fsync",
    "read_fixed",
    "write_fixed",
    "poll_add",
    "poll_remove",
    "sync_file_range",
    "sendmsg",
    "recvmsg",
    "timeout",
    "timeout_remove",
    "accept",
    "async_cancel",
    "link_timeout",
    "connect",
    "fallocate",
    "openat",
    "close",
    "files_update",
    "statx",
    "read",
    "write",
    "fadvise",
    "madvise",
    "send",
    "recv",
    "openat2",
    "epoll_ctl",
    "splice",
    "provide_buffers",
    "remove_buffers",
    "tee",
    "shutdown",
    "renameat",
    "unlinkat",
    "mkdirat",
    "symlinkat",
    "linkat",
    "msg_ring",
    "fsetxattr",
    "setxattr",
    "fgetxattr",
    "getxattr",
    "socket",
    "uring_cmd",
    "send_zc",
    "sendmsg_zc",
    "read_multishot",
    "waitid",
    "futex_wait",
    "futex_wake",
    "futex_waitv",
    "fixed_fd_install",
    "ftruncate",
    "bind",
    "listen",
    "recv_zc",
    "epoll_wait",
    "readv_fixed",
    "writev_fixed",
    "pipe",
];

// The table is indexed by the crate's opcode numbers: pin a few of them, the last one
// the engine uses among them.
const _: () = assert!(opcode::Nop::CODE == 0);
const _: () = assert!(opcode::ReadFixed::CODE == 4);
const _: () = assert!(opcode::Statx::CODE == 21);
const _: () = assert!(opcode::Write::CODE == 23);
const _: () = assert!(opcode::Ftruncate::CODE == 55);
const _: () = assert!(OPCODE_NAMES.len() == opcode::Ftruncate::CODE as usize + 8);

/// The name of opcode `code`, if the table has one.
pub(crate) fn opcode_name(code: u8) -> Option<&'static str> {
    OPCODE_NAMES.get(code as usize).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcode_names_match_the_crates_numbers() {
        for (code, name) in [
            (opcode::Nop::CODE, "nop"),
            (opcode::Fsync::CODE, "fsync"),
            (opcode::ReadFixed::CODE, "read_fixed"),
            (opcode::WriteFixed::CODE, "write_fixed"),
            (opcode::Fallocate::CODE, "fallocate"),
            (opcode::OpenAt::CODE, "openat"),
            (opcode::Close::CODE, "close"),
            (opcode::Statx::CODE, "statx"),
            (opcode::Read::CODE, "read"),
            (opcode::Write::CODE, "write"),
            (opcode::SendMsgZc::CODE, "sendmsg_zc"),
            (opcode::Ftruncate::CODE, "ftruncate"),
        ] {
            assert_eq!(opcode_name(code), Some(name));
        }
        assert_eq!(opcode_name(200), None);
    }

    #[test]
    fn setup_names_and_features_of_a_real_ring() {
        assert_eq!(
            setup_flag_names(setup::CQSIZE | setup::DEFER_TASKRUN),
            vec!["cqsize", "defer_taskrun"]
        );
        let ring = io_uring::IoUring::new(4).unwrap();
        let (bits, names) = features(ring.params());
        assert!(names.contains(&"nodrop") && names.contains(&"single_mmap"));
        assert_eq!(bits & 0b11, 0b11, "single_mmap is bit 0, nodrop bit 1");
        assert_eq!(bits.count_ones() as usize, names.len());
    }
}
