//! What the running kernel offers: its release string and an opcode probe of a real ring
//! (the io-uring crate's `Probe`, IORING_REGISTER_PROBE).

use std::ffi::CStr;

/// What `probe` found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeReport {
    /// Kernel names of every supported opcode this crate knows a name for ("read", …).
    pub opcodes: Vec<&'static str>,
    /// Required opcodes (see `REQUIRED_OPCODES`) the kernel lacks; empty = usable.
    pub missing: Vec<&'static str>,
    /// Names of the features the kernel reports ("nodrop", "ext_arg", …).
    pub features: Vec<&'static str>,
    /// Setup flags the kernel accepted ("cqsize", "single_issuer", "defer_taskrun", …).
    pub setup_flags: Vec<&'static str>,
}

/// The kernel release from uname(2), e.g. "6.18.44-fc-v669"; "" if uname fails.
pub fn kernel_release() -> String {
    // SAFETY: utsname is plain old data; all-zero is a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a writable struct utsname of the size libc declares for uname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::new();
    }
    // The field is NUL-terminated within its bytes; a missing NUL gives "".
    // SAFETY: `release` is a c_char array; reading it as bytes of the same length is
    // in bounds.
    let bytes =
        unsafe { std::slice::from_raw_parts(u.release.as_ptr().cast::<u8>(), u.release.len()) };
    CStr::from_bytes_until_nul(bytes)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(all(target_os = "linux", feature = "io-uring"))]
pub(crate) use ring_probe::{supported_opcodes, REQUIRED_OPCODES};

#[cfg(all(target_os = "linux", feature = "io-uring"))]
mod ring_probe {
    use super::ProbeReport;
    use crate::names;
    use crate::ring::{Ring, THREAD_SETUP};
    use io_uring::{opcode, Probe};

    /// Opcodes the engine cannot work without (all present since Linux 5.6).
    pub(crate) const REQUIRED_OPCODES: &[u8] = &[
        opcode::Nop::CODE,
        opcode::Read::CODE,
        opcode::Write::CODE,
        opcode::Fsync::CODE,
        opcode::Fallocate::CODE,
        opcode::OpenAt::CODE,
        opcode::Close::CODE,
        opcode::Statx::CODE,
    ];

    /// The supported opcodes of a ring (IORING_REGISTER_PROBE, Linux 5.6).
    pub(crate) fn supported_opcodes(ring: &Ring) -> Result<Probe, i32> {
        let mut probe = Probe::new();
        ring.register(|s| s.register_probe(&mut probe))?;
        Ok(probe)
    }

    /// See [`crate::probe`].
    pub(super) fn probe(entries: u32) -> Result<ProbeReport, i32> {
        let entries = entries.clamp(1, 4096).next_power_of_two();
        let ring = Ring::new(entries, entries * 2, THREAD_SETUP)?;
        let supported = supported_opcodes(&ring)?;
        let opcodes = (0..=u8::MAX)
            .filter(|&op| supported.is_supported(op))
            .filter_map(names::opcode_name)
            .collect();
        let missing = REQUIRED_OPCODES
            .iter()
            .filter(|&&op| !supported.is_supported(op))
            .filter_map(|&op| names::opcode_name(op))
            .collect();
        Ok(ProbeReport {
            opcodes,
            missing,
            features: names::features(ring.params()).1,
            setup_flags: names::setup_flag_names(ring.flags()),
        })
    }
}

/// Creates a small ring (`entries` SQEs, the same setup-flag fallback as the ring
/// thread), probes it and names what it found. `test_setup_errno` makes setup fail with
/// that errno without touching the kernel. Err(errno) when no ring can be created;
/// Err(ENOSYS) where this crate is built without io_uring (another target, or without
/// the `io-uring` feature).
pub fn probe(entries: u32, test_setup_errno: Option<i32>) -> Result<ProbeReport, i32> {
    if let Some(e) = test_setup_errno {
        return Err(e.abs().max(1));
    }
    #[cfg(all(target_os = "linux", feature = "io-uring"))]
    return ring_probe::probe(entries);
    #[cfg(not(all(target_os = "linux", feature = "io-uring")))]
    {
        let _ = entries;
        Err(libc::ENOSYS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_release_names_a_version() {
        let release = kernel_release();
        assert!(
            release.chars().next().is_some_and(|c| c.is_ascii_digit()),
            "{release:?}"
        );
    }

    #[test]
    fn setup_errno_hook_answers_without_a_ring() {
        assert_eq!(probe(8, Some(38)), Err(38));
        assert_eq!(probe(8, Some(-12)), Err(12));
    }

    /// Built without io_uring, the probe says so (the binding then runs the standard
    /// backend and reports why).
    #[cfg(not(all(target_os = "linux", feature = "io-uring")))]
    #[test]
    fn probe_without_io_uring_is_enosys() {
        assert_eq!(probe(8, None), Err(libc::ENOSYS));
    }
}
