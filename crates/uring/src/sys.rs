//! The raw io_uring ABI and the handful of libc functions the engine needs.
//!
//! Everything here mirrors `linux/io_uring.h` (the 6.1 uapi header on the build
//! machine, plus a few later constants that are cited with their kernel version) and the
//! x86_64 glibc ABI. Names follow the kernel so that a later swap to the `io-uring` /
//! `libc` crates is mechanical. This is the only module allowed to use non-Rust naming.
//!
//! Unions in the kernel structs are flattened to the one member this crate uses; the
//! doc comment of each field names the other members that share its bytes.
#![allow(non_camel_case_types, non_upper_case_globals, dead_code)]

use std::ffi::{c_char, c_int, c_long, c_uint, c_void};
use std::mem::{offset_of, size_of};

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
compile_error!(
    "streamline-uring declares the x86_64 Linux ABI by hand (struct stat, open flags); \
     port `sys` before building for another target"
);

// ---------------------------------------------------------------------------------------
// Syscall numbers. io_uring's three calls share one number on every architecture that
// uses the generic table (they were added in Linux 5.1, after the numbers were unified).
pub const SYS_io_uring_setup: c_long = 425;
pub const SYS_io_uring_enter: c_long = 426;
pub const SYS_io_uring_register: c_long = 427;

// ---------------------------------------------------------------------------------------
// struct io_uring_sqe

/// One submission queue entry (64 bytes; 128 with IORING_SETUP_SQE128, not used here).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct io_uring_sqe {
    pub opcode: u8,
    /// IOSQE_* flags.
    pub flags: u8,
    pub ioprio: u16,
    /// A plain fd, or an index into the registered file table with IOSQE_FIXED_FILE.
    pub fd: i32,
    /// union { off, addr2, { cmd_op, __pad1 } }
    pub off: u64,
    /// union { addr, splice_off_in }
    pub addr: u64,
    pub len: u32,
    /// union { rw_flags, fsync_flags, open_flags, statx_flags, … } (all 32 bits)
    pub op_flags: u32,
    pub user_data: u64,
    /// union { buf_index, buf_group } (packed)
    pub buf_index: u16,
    pub personality: u16,
    /// union { splice_fd_in, file_index, { addr_len, __pad3 } }
    pub file_index: u32,
    /// union { { addr3, __pad2[1] }, cmd[0] }
    pub addr3: u64,
    pub __pad2: [u64; 1],
}

const _: () = assert!(size_of::<io_uring_sqe>() == 64);
const _: () = assert!(offset_of!(io_uring_sqe, fd) == 4);
const _: () = assert!(offset_of!(io_uring_sqe, off) == 8);
const _: () = assert!(offset_of!(io_uring_sqe, addr) == 16);
const _: () = assert!(offset_of!(io_uring_sqe, len) == 24);
const _: () = assert!(offset_of!(io_uring_sqe, op_flags) == 28);
const _: () = assert!(offset_of!(io_uring_sqe, user_data) == 32);
const _: () = assert!(offset_of!(io_uring_sqe, buf_index) == 40);
const _: () = assert!(offset_of!(io_uring_sqe, personality) == 42);
const _: () = assert!(offset_of!(io_uring_sqe, file_index) == 44);
const _: () = assert!(offset_of!(io_uring_sqe, addr3) == 48);

pub const IOSQE_FIXED_FILE: u8 = 1 << 0;
pub const IOSQE_IO_DRAIN: u8 = 1 << 1;
pub const IOSQE_IO_LINK: u8 = 1 << 2;
pub const IOSQE_IO_HARDLINK: u8 = 1 << 3;
pub const IOSQE_ASYNC: u8 = 1 << 4;
pub const IOSQE_BUFFER_SELECT: u8 = 1 << 5;
pub const IOSQE_CQE_SKIP_SUCCESS: u8 = 1 << 6;

// ---------------------------------------------------------------------------------------
// io_uring_setup(2) flags

pub const IORING_SETUP_IOPOLL: u32 = 1 << 0;
pub const IORING_SETUP_SQPOLL: u32 = 1 << 1;
pub const IORING_SETUP_SQ_AFF: u32 = 1 << 2;
/// Linux 5.5.
pub const IORING_SETUP_CQSIZE: u32 = 1 << 3;
pub const IORING_SETUP_CLAMP: u32 = 1 << 4;
pub const IORING_SETUP_ATTACH_WQ: u32 = 1 << 5;
pub const IORING_SETUP_R_DISABLED: u32 = 1 << 6;
/// Linux 5.18.
pub const IORING_SETUP_SUBMIT_ALL: u32 = 1 << 7;
/// Linux 5.19.
pub const IORING_SETUP_COOP_TASKRUN: u32 = 1 << 8;
pub const IORING_SETUP_TASKRUN_FLAG: u32 = 1 << 9;
pub const IORING_SETUP_SQE128: u32 = 1 << 10;
pub const IORING_SETUP_CQE32: u32 = 1 << 11;
/// Linux 6.0.
pub const IORING_SETUP_SINGLE_ISSUER: u32 = 1 << 12;
/// Linux 6.1; requires SINGLE_ISSUER.
pub const IORING_SETUP_DEFER_TASKRUN: u32 = 1 << 13;

// ---------------------------------------------------------------------------------------
// Opcodes (enum io_uring_op). Numbers past SENDMSG_ZC come from later uapi headers.

pub const IORING_OP_NOP: u8 = 0;
pub const IORING_OP_READV: u8 = 1;
pub const IORING_OP_WRITEV: u8 = 2;
pub const IORING_OP_FSYNC: u8 = 3;
/// READ/WRITE into a registered buffer: `buf_index` names it (Linux 5.1).
pub const IORING_OP_READ_FIXED: u8 = 4;
pub const IORING_OP_WRITE_FIXED: u8 = 5;
pub const IORING_OP_FALLOCATE: u8 = 17;
pub const IORING_OP_OPENAT: u8 = 18;
pub const IORING_OP_CLOSE: u8 = 19;
pub const IORING_OP_STATX: u8 = 21;
pub const IORING_OP_READ: u8 = 22;
pub const IORING_OP_WRITE: u8 = 23;
/// Linux 6.9.
pub const IORING_OP_FTRUNCATE: u8 = 55;

/// Kernel names of the opcodes, by number, lower-case without the `IORING_OP_` prefix.
/// 0..=48 are in the 6.1 header; 49.. were added in 6.x (read_multishot 6.7, waitid 6.7,
/// futex_* 6.7, fixed_fd_install 6.8, ftruncate 6.9, bind/listen 6.11, recv_zc 6.15,
/// epoll_wait 6.15, readv_fixed/writev_fixed 6.15, pipe 6.16).
pub const OPCODE_NAMES: &[&str] = &[
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
const _: () = assert!(OPCODE_NAMES.len() == IORING_OP_FTRUNCATE as usize + 8);

pub const IORING_FSYNC_DATASYNC: u32 = 1 << 0;

// ---------------------------------------------------------------------------------------
// struct io_uring_cqe

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct io_uring_cqe {
    pub user_data: u64,
    pub res: i32,
    pub flags: u32,
}
const _: () = assert!(size_of::<io_uring_cqe>() == 16);
const _: () = assert!(offset_of!(io_uring_cqe, res) == 8);

// ---------------------------------------------------------------------------------------
// mmap offsets and ring offsets

pub const IORING_OFF_SQ_RING: i64 = 0;
pub const IORING_OFF_CQ_RING: i64 = 0x800_0000;
pub const IORING_OFF_SQES: i64 = 0x1000_0000;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct io_sqring_offsets {
    pub head: u32,
    pub tail: u32,
    pub ring_mask: u32,
    pub ring_entries: u32,
    pub flags: u32,
    pub dropped: u32,
    pub array: u32,
    pub resv1: u32,
    /// `user_addr` since 6.5 (IORING_SETUP_NO_MMAP); reserved before.
    pub resv2: u64,
}
const _: () = assert!(size_of::<io_sqring_offsets>() == 40);

pub const IORING_SQ_NEED_WAKEUP: u32 = 1 << 0;
pub const IORING_SQ_CQ_OVERFLOW: u32 = 1 << 1;
pub const IORING_SQ_TASKRUN: u32 = 1 << 2;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct io_cqring_offsets {
    pub head: u32,
    pub tail: u32,
    pub ring_mask: u32,
    pub ring_entries: u32,
    pub overflow: u32,
    pub cqes: u32,
    pub flags: u32,
    pub resv1: u32,
    pub resv2: u64,
}
const _: () = assert!(size_of::<io_cqring_offsets>() == 40);

pub const IORING_ENTER_GETEVENTS: u32 = 1 << 0;
pub const IORING_ENTER_SQ_WAKEUP: u32 = 1 << 1;
pub const IORING_ENTER_SQ_WAIT: u32 = 1 << 2;
pub const IORING_ENTER_EXT_ARG: u32 = 1 << 3;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct io_uring_params {
    pub sq_entries: u32,
    pub cq_entries: u32,
    pub flags: u32,
    pub sq_thread_cpu: u32,
    pub sq_thread_idle: u32,
    pub features: u32,
    pub wq_fd: u32,
    pub resv: [u32; 3],
    pub sq_off: io_sqring_offsets,
    pub cq_off: io_cqring_offsets,
}
const _: () = assert!(size_of::<io_uring_params>() == 120);
const _: () = assert!(offset_of!(io_uring_params, sq_off) == 40);
const _: () = assert!(offset_of!(io_uring_params, cq_off) == 80);

// io_uring_params.features, with the release that introduced each.
pub const IORING_FEAT_SINGLE_MMAP: u32 = 1 << 0; // 5.4
pub const IORING_FEAT_NODROP: u32 = 1 << 1; // 5.5
pub const IORING_FEAT_SUBMIT_STABLE: u32 = 1 << 2; // 5.5
pub const IORING_FEAT_RW_CUR_POS: u32 = 1 << 3; // 5.6
pub const IORING_FEAT_CUR_PERSONALITY: u32 = 1 << 4; // 5.6
pub const IORING_FEAT_FAST_POLL: u32 = 1 << 5; // 5.7
pub const IORING_FEAT_POLL_32BITS: u32 = 1 << 6; // 5.9
pub const IORING_FEAT_SQPOLL_NONFIXED: u32 = 1 << 7; // 5.11
pub const IORING_FEAT_EXT_ARG: u32 = 1 << 8; // 5.11
pub const IORING_FEAT_NATIVE_WORKERS: u32 = 1 << 9; // 5.12
pub const IORING_FEAT_RSRC_TAGS: u32 = 1 << 10; // 5.13
pub const IORING_FEAT_CQE_SKIP: u32 = 1 << 11; // 5.17
pub const IORING_FEAT_LINKED_FILE: u32 = 1 << 12; // 5.17
pub const IORING_FEAT_REG_REG_RING: u32 = 1 << 13; // 6.3
pub const IORING_FEAT_RECVSEND_BUNDLE: u32 = 1 << 14; // 6.10
pub const IORING_FEAT_MIN_TIMEOUT: u32 = 1 << 15; // 6.12
pub const IORING_FEAT_RW_ATTR: u32 = 1 << 16; // 6.14
pub const IORING_FEAT_NO_IOWAIT: u32 = 1 << 17; // 6.15

/// Feature bit names, bit n at index n.
pub const FEATURE_NAMES: &[&str] = &[
    "single_mmap",
    "nodrop",
    "submit_stable",
    "rw_cur_pos",
    "cur_personality",
    "fast_poll",
    "poll_32bits",
    "sqpoll_nonfixed",
    "ext_arg",
    "native_workers",
    "rsrc_tags",
    "cqe_skip",
    "linked_file",
    "reg_reg_ring",
    "recvsend_bundle",
    "min_timeout",
    "rw_attr",
    "no_iowait",
];

// ---------------------------------------------------------------------------------------
// io_uring_register(2)

pub const IORING_REGISTER_FILES: c_uint = 2;
pub const IORING_UNREGISTER_FILES: c_uint = 3;
pub const IORING_REGISTER_FILES_UPDATE: c_uint = 6;
pub const IORING_REGISTER_PROBE: c_uint = 8;
/// Buffer registration with tags and sparse tables (Linux 5.13; sparse 5.19).
pub const IORING_REGISTER_BUFFERS2: c_uint = 15;
pub const IORING_REGISTER_BUFFERS_UPDATE: c_uint = 16;
/// `io_uring_rsrc_register.flags`: register `nr` empty slots (Linux 5.19).
pub const IORING_RSRC_REGISTER_SPARSE: u32 = 1 << 0;

/// Argument of IORING_REGISTER_BUFFERS2 (`nr_args` = its size).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct io_uring_rsrc_register {
    pub nr: u32,
    pub flags: u32,
    pub resv2: u64,
    /// `struct iovec *` (unused with IORING_RSRC_REGISTER_SPARSE).
    pub data: u64,
    /// `__u64 *` tags, or 0.
    pub tags: u64,
}
const _: () = assert!(size_of::<io_uring_rsrc_register>() == 32);

/// Argument of IORING_REGISTER_BUFFERS_UPDATE (`nr_args` = its size).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct io_uring_rsrc_update2 {
    /// First slot to replace.
    pub offset: u32,
    pub resv: u32,
    /// `struct iovec *`: the new buffers; an iovec with a null base empties a slot.
    pub data: u64,
    /// `__u64 *` tags, or 0.
    pub tags: u64,
    pub nr: u32,
    pub resv2: u32,
}
const _: () = assert!(size_of::<io_uring_rsrc_update2>() == 32);
const _: () = assert!(offset_of!(io_uring_rsrc_update2, nr) == 24);

/// struct iovec.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct iovec {
    pub iov_base: *mut c_void,
    pub iov_len: usize,
}
const _: () = assert!(size_of::<iovec>() == 16);

/// Argument of IORING_REGISTER_FILES_UPDATE (Linux 5.5).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct io_uring_files_update {
    pub offset: u32,
    pub resv: u32,
    /// `__s32 *`: the new fds, -1 clears a slot.
    pub fds: u64,
}
const _: () = assert!(size_of::<io_uring_files_update>() == 16);

pub const IO_URING_OP_SUPPORTED: u16 = 1 << 0;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct io_uring_probe_op {
    pub op: u8,
    pub resv: u8,
    pub flags: u16,
    pub resv2: u32,
}
const _: () = assert!(size_of::<io_uring_probe_op>() == 8);

/// The probe header; `ops[]` follows it in memory.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct io_uring_probe {
    pub last_op: u8,
    pub ops_len: u8,
    pub resv: u16,
    pub resv2: [u32; 3],
}
const _: () = assert!(size_of::<io_uring_probe>() == 16);

// ---------------------------------------------------------------------------------------
// libc: errno values, flags and the structs passed to the calls below (x86_64).

pub const EPERM: i32 = 1;
pub const ENOENT: i32 = 2;
pub const EINTR: i32 = 4;
pub const EIO: i32 = 5;
pub const EBADF: i32 = 9;
pub const EAGAIN: i32 = 11;
pub const ENOMEM: i32 = 12;
pub const EFAULT: i32 = 14;
pub const EBUSY: i32 = 16;
pub const EEXIST: i32 = 17;
pub const EISDIR: i32 = 21;
pub const EINVAL: i32 = 22;
pub const ENFILE: i32 = 23;
pub const EMFILE: i32 = 24;
pub const ENOSYS: i32 = 38;
pub const EOPNOTSUPP: i32 = 95;
pub const ENOBUFS: i32 = 105;
pub const ESHUTDOWN: i32 = 108;
pub const ECANCELED: i32 = 125;

pub const O_RDONLY: i32 = 0;
pub const O_WRONLY: i32 = 1;
pub const O_RDWR: i32 = 2;
pub const O_CREAT: i32 = 0o100;
pub const O_EXCL: i32 = 0o200;
pub const O_TRUNC: i32 = 0o1000;
pub const O_APPEND: i32 = 0o2000;
pub const O_DIRECT: i32 = 0o40000;
pub const O_DIRECTORY: i32 = 0o200000;
pub const O_CLOEXEC: i32 = 0o2000000;

pub const AT_FDCWD: i32 = -100;
pub const AT_EMPTY_PATH: u32 = 0x1000;
pub const STATX_SIZE: u32 = 0x200;

pub const S_IFMT: u32 = 0o170000;
pub const S_IFDIR: u32 = 0o040000;

pub const EFD_CLOEXEC: c_int = 0o2000000;

/// flock(2) operations (sys/file.h).
pub const LOCK_SH: c_int = 1;
pub const LOCK_EX: c_int = 2;
pub const LOCK_NB: c_int = 4;
pub const LOCK_UN: c_int = 8;
/// posix_fadvise(2) advice (fcntl.h).
pub const POSIX_FADV_DONTNEED: c_int = 4;

pub const PROT_READ: c_int = 1;
pub const PROT_WRITE: c_int = 2;
pub const MAP_SHARED: c_int = 1;
pub const MAP_POPULATE: c_int = 0x8000;
pub const MAP_FAILED: *mut c_void = !0usize as *mut c_void;

/// struct stat as the x86_64 kernel and glibc lay it out.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct stat {
    pub st_dev: u64,
    pub st_ino: u64,
    pub st_nlink: u64,
    pub st_mode: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pub __pad0: i32,
    pub st_rdev: u64,
    pub st_size: i64,
    pub st_blksize: i64,
    pub st_blocks: i64,
    /// st_atim, st_mtim, st_ctim as (sec, nsec) pairs.
    pub st_times: [i64; 6],
    pub __unused: [i64; 3],
}
const _: () = assert!(size_of::<stat>() == 144);
const _: () = assert!(offset_of!(stat, st_mode) == 24);
const _: () = assert!(offset_of!(stat, st_size) == 48);

/// struct statx (linux/stat.h), reduced to the fields read here plus padding.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct statx {
    pub stx_mask: u32,
    pub stx_blksize: u32,
    pub stx_attributes: u64,
    pub stx_nlink: u32,
    pub stx_uid: u32,
    pub stx_gid: u32,
    pub stx_mode: u16,
    pub __spare0: u16,
    pub stx_ino: u64,
    pub stx_size: u64,
    pub stx_blocks: u64,
    pub stx_attributes_mask: u64,
    /// stx_atime, stx_btime, stx_ctime, stx_mtime (16 bytes each).
    pub __times: [u64; 8],
    /// stx_rdev_major/minor, stx_dev_major/minor.
    pub __devs: [u32; 4],
    pub stx_mnt_id: u64,
    /// Direct-I/O alignment of user memory and of file offsets/lengths; valid when
    /// `stx_mask` has STATX_DIOALIGN (Linux 6.1), 0 when the file does not support it.
    pub stx_dio_mem_align: u32,
    pub stx_dio_offset_align: u32,
    pub __spare3: [u64; 12],
}
const _: () = assert!(size_of::<statx>() == 256);
const _: () = assert!(offset_of!(statx, stx_size) == 40);
const _: () = assert!(offset_of!(statx, stx_mnt_id) == 144);
const _: () = assert!(offset_of!(statx, stx_dio_mem_align) == 152);
const _: () = assert!(offset_of!(statx, stx_dio_offset_align) == 156);

/// statx(2) mask bit: direct-I/O alignment (Linux 6.1).
pub const STATX_DIOALIGN: u32 = 0x2000;
pub const SYS_statx: c_long = 332;

impl Default for statx {
    fn default() -> Self {
        // SAFETY: statx is plain old data; all-zero is a valid value.
        unsafe { std::mem::zeroed() }
    }
}

/// struct utsname: six 65-byte fields (sysname, nodename, release, version, machine,
/// domainname).
#[repr(C)]
pub struct utsname {
    pub fields: [[c_char; 65]; 6],
}
const _: () = assert!(size_of::<utsname>() == 390);
pub const UTSNAME_RELEASE: usize = 2;

extern "C" {
    pub fn syscall(num: c_long, ...) -> c_long;
    pub fn mmap(
        addr: *mut c_void,
        len: usize,
        prot: c_int,
        flags: c_int,
        fd: c_int,
        offset: i64,
    ) -> *mut c_void;
    pub fn munmap(addr: *mut c_void, len: usize) -> c_int;
    pub fn close(fd: c_int) -> c_int;
    pub fn eventfd(initval: c_uint, flags: c_int) -> c_int;
    pub fn read(fd: c_int, buf: *mut c_void, count: usize) -> isize;
    pub fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
    pub fn uname(buf: *mut utsname) -> c_int;
    pub fn fstat(fd: c_int, buf: *mut stat) -> c_int;
    pub fn ftruncate(fd: c_int, length: i64) -> c_int;
    pub fn flock(fd: c_int, operation: c_int) -> c_int;
    /// Returns the error number itself (0 on success); errno is not set.
    pub fn posix_fadvise(fd: c_int, offset: i64, len: i64, advice: c_int) -> c_int;
    pub fn __errno_location() -> *mut c_int;
}

/// The calling thread's errno (positive).
pub fn errno() -> i32 {
    // SAFETY: __errno_location always returns a valid pointer to the thread's errno.
    unsafe { *__errno_location() }
}

/// io_uring_setup(2): returns the ring fd or -errno.
///
/// # Safety
/// `p` must point to a valid, writable `io_uring_params`.
pub unsafe fn io_uring_setup(entries: u32, p: *mut io_uring_params) -> i32 {
    // SAFETY: the caller guarantees `p` is valid; the kernel writes only into it.
    let r = unsafe { syscall(SYS_io_uring_setup, entries as c_long, p) };
    if r < 0 {
        -errno()
    } else {
        r as i32
    }
}

/// io_uring_enter(2) without a signal mask: returns the number of SQEs consumed or -errno.
///
/// # Safety
/// Every SQE the kernel may consume must describe memory that stays valid until its
/// completion is reaped.
pub unsafe fn io_uring_enter(fd: i32, to_submit: u32, min_complete: u32, flags: u32) -> i32 {
    // SAFETY: no pointers besides the (null) sigset; SQE memory is the caller's duty.
    let r = unsafe {
        syscall(
            SYS_io_uring_enter,
            fd as c_long,
            to_submit as c_long,
            min_complete as c_long,
            flags as c_long,
            std::ptr::null::<c_void>(),
            0 as c_long,
        )
    };
    if r < 0 {
        -errno()
    } else {
        r as i32
    }
}

/// io_uring_register(2): returns the opcode's result or -errno.
///
/// # Safety
/// `arg` must point to what `opcode` expects, `nr_args` elements long.
pub unsafe fn io_uring_register(fd: i32, opcode: c_uint, arg: *const c_void, nr_args: u32) -> i32 {
    // SAFETY: the caller guarantees `arg`/`nr_args` match `opcode`.
    let r = unsafe {
        syscall(
            SYS_io_uring_register,
            fd as c_long,
            opcode as c_long,
            arg,
            nr_args as c_long,
        )
    };
    if r < 0 {
        -errno()
    } else {
        r as i32
    }
}

/// fstat(2) into a fresh struct; Err(errno).
pub fn fstat_fd(fd: i32) -> Result<stat, i32> {
    let mut st = stat::default();
    // SAFETY: `st` is a valid, writable struct stat of the size the kernel writes.
    let r = unsafe { fstat(fd, &mut st) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(st)
    }
}

/// statx(2) of an open fd (AT_EMPTY_PATH) asking for `mask`; Err(errno).
pub fn statx_fd(fd: i32, mask: u32) -> Result<statx, i32> {
    let mut st = statx::default();
    // SAFETY: `st` is a valid, writable struct statx of the size the kernel writes; the
    // path is an empty C string that outlives the call.
    let r = unsafe {
        syscall(
            SYS_statx,
            fd as c_long,
            c"".as_ptr(),
            AT_EMPTY_PATH as c_long,
            mask as c_long,
            &mut st as *mut statx,
        )
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(st)
    }
}

/// ftruncate(2); Err(errno).
pub fn ftruncate_fd(fd: i32, len: u64) -> Result<(), i32> {
    let len = i64::try_from(len).map_err(|_| EINVAL)?;
    // SAFETY: plain syscall on an integer fd; no memory is passed.
    let r = unsafe { ftruncate(fd, len) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// close(2) on an fd this crate does not own through an RAII type; Err(errno).
pub fn close_fd(fd: i32) -> Result<(), i32> {
    // SAFETY: plain syscall on an integer fd; the caller gives up the fd.
    let r = unsafe { close(fd) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_layout() {
        assert_eq!(size_of::<io_uring_sqe>(), 64);
        assert_eq!(size_of::<io_uring_cqe>(), 16);
        assert_eq!(size_of::<io_uring_params>(), 120);
        assert_eq!(size_of::<io_sqring_offsets>(), 40);
        assert_eq!(size_of::<io_cqring_offsets>(), 40);
        assert_eq!(size_of::<io_uring_probe>(), 16);
        assert_eq!(size_of::<io_uring_probe_op>(), 8);
        assert_eq!(offset_of!(io_uring_sqe, user_data), 32);
        assert_eq!(offset_of!(io_uring_sqe, file_index), 44);
        assert_eq!(offset_of!(io_uring_params, features), 20);
    }

    #[test]
    fn opcode_names_match_numbers() {
        for (op, name) in [
            (IORING_OP_NOP, "nop"),
            (IORING_OP_FSYNC, "fsync"),
            (IORING_OP_FALLOCATE, "fallocate"),
            (IORING_OP_OPENAT, "openat"),
            (IORING_OP_CLOSE, "close"),
            (IORING_OP_STATX, "statx"),
            (IORING_OP_READ, "read"),
            (IORING_OP_WRITE, "write"),
            (IORING_OP_FTRUNCATE, "ftruncate"),
        ] {
            assert_eq!(OPCODE_NAMES[op as usize], name);
        }
        assert_eq!(OPCODE_NAMES[48], "sendmsg_zc");
        assert_eq!(FEATURE_NAMES[13], "reg_reg_ring");
    }
}
