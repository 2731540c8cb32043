//! What the running kernel offers: its release string and an opcode probe of a real ring.

use crate::ring::{self, Ring};
use crate::sys;
use std::ffi::CStr;

/// Opcodes the engine cannot work without (all present since Linux 5.6).
pub const REQUIRED_OPCODES: &[u8] = &[
    sys::IORING_OP_NOP,
    sys::IORING_OP_READ,
    sys::IORING_OP_WRITE,
    sys::IORING_OP_FSYNC,
    sys::IORING_OP_FALLOCATE,
    sys::IORING_OP_OPENAT,
    sys::IORING_OP_CLOSE,
    sys::IORING_OP_STATX,
];

/// What `probe` found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeReport {
    /// Kernel names of every supported opcode this crate knows a name for ("read", …).
    pub opcodes: Vec<&'static str>,
    /// Required opcodes (see `REQUIRED_OPCODES`) the kernel lacks; empty = usable.
    pub missing: Vec<&'static str>,
    /// Names of the bits set in `io_uring_params.features` ("nodrop", "ext_arg", …).
    pub features: Vec<&'static str>,
    /// Setup flags the kernel accepted ("cqsize", "single_issuer", "defer_taskrun", …).
    pub setup_flags: Vec<&'static str>,
}

/// The kernel release from uname(2), e.g. "6.18.44-fc-v669"; "" if uname fails.
pub fn kernel_release() -> String {
    let mut u = sys::utsname {
        fields: [[0; 65]; 6],
    };
    // SAFETY: `u` is a writable struct utsname of the size glibc expects.
    if unsafe { sys::uname(&mut u) } != 0 {
        return String::new();
    }
    let field = &u.fields[sys::UTSNAME_RELEASE];
    // SAFETY: uname NUL-terminates each field within its 65 bytes; `field` is a
    // 65-byte array, so the scan stays in bounds.
    let cstr = unsafe { CStr::from_ptr(field.as_ptr()) };
    cstr.to_string_lossy().into_owned()
}

/// The supported-opcode bitmap of a ring (IORING_REGISTER_PROBE, Linux 5.6).
pub(crate) fn supported_opcodes(ring: &Ring) -> Result<[bool; 256], i32> {
    // Header followed by 256 io_uring_probe_op; u64 storage keeps it 8-byte aligned.
    const OPS: usize = 256;
    let mut buf = vec![0u64; (16 + OPS * 8) / 8];
    // SAFETY: buf is zeroed (the kernel requires it) and sized for OPS entries.
    unsafe {
        ring.register(
            sys::IORING_REGISTER_PROBE,
            buf.as_mut_ptr().cast(),
            OPS as u32,
        )?;
    }
    let bytes = buf.as_ptr().cast::<u8>();
    // SAFETY: buf holds a probe header then OPS probe ops, filled by the kernel.
    let header = unsafe { bytes.cast::<sys::io_uring_probe>().read() };
    let mut out = [false; 256];
    let n = (header.ops_len as usize).min(OPS);
    for i in 0..n {
        // SAFETY: i < OPS, inside buf.
        let op = unsafe {
            bytes
                .add(16 + i * 8)
                .cast::<sys::io_uring_probe_op>()
                .read()
        };
        if op.flags & sys::IO_URING_OP_SUPPORTED != 0 {
            out[op.op as usize] = true;
        }
    }
    Ok(out)
}

/// Creates a small ring (`entries` SQEs, the same setup-flag fallback as the worker),
/// probes it and names what it found. `test_setup_errno` makes setup fail with that
/// errno without touching the kernel. Err(errno) when no ring can be created.
pub fn probe(entries: u32, test_setup_errno: Option<i32>) -> Result<ProbeReport, i32> {
    if let Some(e) = test_setup_errno {
        return Err(e.abs().max(1));
    }
    let entries = entries.clamp(1, 4096).next_power_of_two();
    let ring = Ring::new(entries, entries * 2)?;
    let supported = supported_opcodes(&ring)?;
    let opcodes = sys::OPCODE_NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| supported[*i])
        .map(|(_, n)| *n)
        .collect();
    let missing = REQUIRED_OPCODES
        .iter()
        .filter(|&&op| !supported[op as usize])
        .map(|&op| sys::OPCODE_NAMES[op as usize])
        .collect();
    Ok(ProbeReport {
        opcodes,
        missing,
        features: ring::feature_names(ring.features()),
        setup_flags: ring::setup_flag_names(ring.flags()),
    })
}
