//! Pure argument validation: the numbers of `createEngine` options and of the `submit`
//! descriptor (laid out as protocol.rs defines it). No Node types here, so `cargo test`
//! covers it without a JavaScript engine.

use std::fmt::Write as _;

pub use crate::protocol::limits::MAX_SAFE_INTEGER;
use crate::protocol::{field, limits, Kind, FIELD_NAMES, FLAG_LINK, KNOWN_FLAGS, STRIDE};

/// The largest fd / flags / mode value: a non-negative C `int`.
const MAX_INT: f64 = i32::MAX as f64;

/// One validated descriptor. Fields a kind does not use are 0 (and were not looked at).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpDesc {
    pub id: u64,
    pub kind: Kind,
    /// The file (sendFile: the source file).
    pub fd: i32,
    /// The file offset; cancel: the target's id.
    pub offset: u64,
    /// Bytes for read/write/fallocate/sendFile, the new size for ftruncate, the mode
    /// for open.
    pub len: u64,
    /// Mode for fallocate, flags for open, the slot to unregister, sendFile's socket fd.
    pub arg: i32,
    /// Linked to the next operation (flags bit 0).
    pub link: bool,
}

/// A rejected value: the message for a RangeError with code ERR_OUT_OF_RANGE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutOfRange(pub String);

/// Formats a number as JavaScript would print it in a message.
pub fn js_number(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if x == 0.0 {
        "0".into() // JavaScript prints -0 as "0"
    } else if x == x.trunc() && x.abs() < 1e21 {
        format!("{x:.0}")
    } else if x.abs() >= 1e21 {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// `x` as an integer in `lo..=hi`, or the message naming `what`.
pub fn integer_in(what: &str, x: f64, lo: f64, hi: f64) -> Result<u64, OutOfRange> {
    if x.is_finite() && x == x.trunc() && x >= lo && x <= hi {
        // `x` is an integer in 0..=2^53-1 (all callers pass lo >= 0), exact in u64.
        Ok(x as u64)
    } else {
        let mut m = String::new();
        let _ = write!(
            m,
            "{what} must be an integer >= {} and <= {}; received {}",
            js_number(lo),
            js_number(hi),
            js_number(x)
        );
        Err(OutOfRange(m))
    }
}

/// A power of two in `1..=hi`.
pub fn power_of_two_in(what: &str, x: f64, hi: u64) -> Result<u64, OutOfRange> {
    let v = integer_in(what, x, 1.0, hi as f64)?;
    if v.is_power_of_two() {
        Ok(v)
    } else {
        Err(OutOfRange(format!(
            "{what} must be a power of two <= {hi}; received {}",
            js_number(x)
        )))
    }
}

/// Validates the numbers of operation `index` (`fields` = its 6 numbers).
pub fn parse_op(index: usize, fields: &[f64]) -> Result<OpDesc, OutOfRange> {
    assert_eq!(fields.len(), STRIDE, "a descriptor has {STRIDE} numbers");
    let field = |name: &str| format!("desc op {index}: {name}");
    // The message (a String) is made only for a rejected value: this runs for every
    // operation of every submit, where formatting field names up front cost more than
    // the rest of the validation together.
    let checked = |name: &str, x: f64, lo: f64, hi: f64| -> Result<u64, OutOfRange> {
        if x.is_finite() && x == x.trunc() && x >= lo && x <= hi {
            Ok(x as u64)
        } else {
            integer_in(&field(name), x, lo, hi)
        }
    };
    let flags = checked(FIELD_NAMES[field::FLAGS], fields[field::FLAGS], 0.0, 255.0)? as u32;
    if flags & !KNOWN_FLAGS != 0 {
        return Err(OutOfRange(format!(
            "{}: unknown bits in {flags:#x} (known: {KNOWN_FLAGS:#x})",
            field("flags")
        )));
    }
    let [id, kind, fd, offset, len, arg] = [
        fields[field::ID],
        fields[field::KIND],
        fields[field::FD],
        fields[field::OFFSET],
        fields[field::LEN],
        fields[field::ARG],
    ];
    let id = checked("id", id, 0.0, MAX_SAFE_INTEGER)?;
    let kind = Kind::from_number(kind).ok_or_else(|| {
        OutOfRange(format!(
            "{}: unknown operation kind {} (expected 1..{})",
            field("kind"),
            js_number(kind),
            Kind::MAX
        ))
    })?;
    let fd_of = |fd: f64| checked("fd", fd, 0.0, MAX_INT).map(|v| v as i32);
    let safe = |name: &str, v: f64| checked(name, v, 0.0, MAX_SAFE_INTEGER);
    let int = |name: &str, v: f64| checked(name, v, 0.0, MAX_INT).map(|v| v as i32);
    let mut op = OpDesc {
        id,
        kind,
        fd: 0,
        offset: 0,
        len: 0,
        arg: 0,
        link: flags & FLAG_LINK != 0,
    };
    match kind {
        Kind::Read | Kind::Write => {
            op.fd = fd_of(fd)?;
            op.offset = safe("offset", offset)?;
            op.len = safe("len", len)?;
        }
        Kind::Fsync | Kind::Fdatasync | Kind::Size | Kind::Close => op.fd = fd_of(fd)?,
        Kind::Fallocate => {
            op.fd = fd_of(fd)?;
            op.offset = safe("offset", offset)?;
            op.len = safe("len", len)?;
            op.arg = int("arg (fallocate mode)", arg)?;
        }
        Kind::Ftruncate => {
            op.fd = fd_of(fd)?;
            op.len = safe("len", len)?;
        }
        Kind::Open => {
            op.len = checked("len (open mode)", len, 0.0, 0o7777 as f64)?;
            op.arg = int("arg (open flags)", arg)?;
        }
        Kind::Nop => {}
        Kind::RegisterBuffer | Kind::UnregisterBuffer | Kind::SendFile | Kind::Cancel
            if op.link =>
        {
            return Err(OutOfRange(format!(
                "{}: a {} cannot be linked",
                field("flags"),
                kind.name()
            )))
        }
        // The registered range is the buffer's first `len` bytes.
        Kind::RegisterBuffer => op.len = safe("len", len)?,
        Kind::UnregisterBuffer => {
            op.arg = integer_in(
                &field("arg (buffer slot)"),
                arg,
                0.0,
                f64::from(limits::MAX_FIXED_BUFFER_SLOTS - 1),
            )? as i32
        }
        Kind::SendFile => {
            op.fd = fd_of(fd)?;
            op.offset = safe("offset", offset)?;
            op.len = safe("len", len)?;
            op.arg = int("arg (socket fd)", arg)?;
        }
        // The id of the sendFile to cancel: a safe integer like every id.
        Kind::Cancel => op.offset = safe("offset (the sendFile's id)", offset)?,
    }
    Ok(op)
}

/// Kinds nothing may be linked to: a link on the operation before one of them is
/// refused (the engine would ignore it, silently unlinking what the caller linked).
fn unlinkable(kind: Kind) -> bool {
    matches!(kind, Kind::SendFile | Kind::Cancel)
}

/// Validates a whole descriptor array; the first bad operation rejects the batch.
pub fn parse_desc(desc: &[f64]) -> Result<Vec<OpDesc>, OutOfRange> {
    if !desc.len().is_multiple_of(STRIDE) {
        return Err(OutOfRange(format!(
            "desc length must be a multiple of {STRIDE}; received {}",
            desc.len()
        )));
    }
    let ops = desc
        .chunks_exact(STRIDE)
        .enumerate()
        .map(|(i, f)| parse_op(i, f))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, w) in ops.windows(2).enumerate() {
        if w[0].link && unlinkable(w[1].kind) {
            return Err(OutOfRange(format!(
                "desc op {i}: flags: cannot be linked to a {} (op {})",
                w[1].kind.name(),
                i + 1
            )));
        }
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        let d = [
            1.0,
            1.0,
            3.0,
            4096.0,
            512.0,
            99.0, // read: arg ignored
            1.0,  // linked
            2.0,
            10.0,
            0.0,
            0.0,
            0.0,
            0.0, // nop: every other field ignored
            0.0,
            3.0,
            8.0,
            0.0,
            f64::NAN,
            0o644 as f64,
            0o102 as f64, // open: fd ignored
            0.0,
            4.0,
            5.0,
            7.0,
            0.0,
            1.0e9,
            1.0, // fallocate, KEEP_SIZE
            0.0,
        ];
        let ops = parse_desc(&d).unwrap();
        assert_eq!(
            ops[0],
            OpDesc {
                id: 1,
                kind: Kind::Read,
                fd: 3,
                offset: 4096,
                len: 512,
                arg: 0,
                link: true
            }
        );
        assert_eq!(ops[1].kind, Kind::Nop);
        assert_eq!(
            ops[2],
            OpDesc {
                id: 3,
                kind: Kind::Open,
                fd: 0,
                offset: 0,
                len: 0o644,
                arg: 0o102,
                link: false
            }
        );
        assert_eq!(
            ops[3],
            OpDesc {
                id: 4,
                kind: Kind::Fallocate,
                fd: 7,
                offset: 0,
                len: 1_000_000_000,
                arg: 1,
                link: false
            }
        );
    }

    #[test]
    fn rejects_bad_numbers() {
        let bad = |f: [f64; 7]| parse_op(2, &f).unwrap_err().0;
        assert_eq!(
            bad([1.0, 1.0, 3.0, -1.0, 1.0, 0.0, 0.0]),
            "desc op 2: offset must be an integer >= 0 and <= 9007199254740991; received -1"
        );
        assert!(bad([1.0, 1.0, 3.0, 0.5, 1.0, 0.0, 0.0]).contains("received 0.5"));
        assert!(bad([1.0, 1.0, 3.0, 2f64.powi(53), 1.0, 0.0, 0.0])
            .contains("received 9007199254740992"));
        assert!(bad([1.0, 1.0, -3.0, 0.0, 1.0, 0.0, 0.0]).contains("fd"));
        assert!(bad([1.0, 1.0, 2f64.powi(31), 0.0, 1.0, 0.0, 0.0]).contains("fd"));
        assert!(bad([f64::NAN, 1.0, 3.0, 0.0, 1.0, 0.0, 0.0]).contains("id must be"));
        assert!(bad([1.0, 15.0, 3.0, 0.0, 1.0, 0.0, 0.0]).contains("unknown operation kind 15"));
        assert!(bad([1.0, 11.0, 0.0, 0.0, 4096.0, 0.0, 1.0]).contains("cannot be linked"));
        let slots = f64::from(limits::MAX_FIXED_BUFFER_SLOTS);
        assert!(bad([1.0, 12.0, 0.0, 0.0, 0.0, slots, 0.0]).contains("buffer slot"));
        assert!(bad([1.0, 12.0, 0.0, 0.0, 0.0, -1.0, 0.0]).contains("buffer slot"));
        assert!(bad([1.0, 0.0, 3.0, 0.0, 1.0, 0.0, 0.0]).contains("unknown operation kind 0"));
        assert!(bad([1.0, 1.5, 3.0, 0.0, 1.0, 0.0, 0.0]).contains("unknown operation kind 1.5"));
        assert!(bad([1.0, 2.0, 3.0, 0.0, f64::INFINITY, 0.0, 0.0]).contains("received Infinity"));
        assert!(bad([1.0, 8.0, 0.0, 0.0, 0o10000 as f64, 0.0, 0.0]).contains("open mode"));
        assert!(bad([1.0, 8.0, 0.0, 0.0, 0.0, -1.0, 0.0]).contains("open flags"));
        assert!(bad([1.0, 5.0, 3.0, 0.0, 1.0, -0.5, 0.0]).contains("fallocate mode"));
        assert!(bad([1.0, 6.0, 3.0, 0.0, -1.0, 0.0, 0.0]).contains("len"));
        assert!(bad([1.0, 10.0, 0.0, 0.0, 0.0, 0.0, 2.0]).contains("unknown bits in 0x2"));
        assert!(bad([1.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.5]).contains("flags"));
    }

    #[test]
    fn send_file_and_cancel() {
        let ops = parse_desc(&[
            7.0,
            13.0,
            5.0,
            4097.0,
            1.0e9,
            21.0,
            0.0, // sendFile
            8.0,
            14.0,
            f64::NAN,
            7.0,
            f64::NAN,
            f64::NAN,
            0.0, // cancel: only offset read
        ])
        .unwrap();
        assert_eq!(
            ops[0],
            OpDesc {
                id: 7,
                kind: Kind::SendFile,
                fd: 5,
                offset: 4097,
                len: 1_000_000_000,
                arg: 21,
                link: false
            }
        );
        assert_eq!(
            ops[1],
            OpDesc {
                id: 8,
                kind: Kind::Cancel,
                fd: 0,
                offset: 7,
                len: 0,
                arg: 0,
                link: false
            }
        );
        let bad = |f: [f64; 7]| parse_op(0, &f).unwrap_err().0;
        assert!(bad([1.0, 13.0, 5.0, 0.0, 1.0, -1.0, 0.0]).contains("socket fd"));
        assert!(bad([1.0, 13.0, 5.0, 0.0, 1.0, f64::NAN, 0.0]).contains("socket fd"));
        assert!(bad([1.0, 13.0, 5.0, 0.0, 1.0, 2f64.powi(31), 0.0]).contains("socket fd"));
        assert!(bad([1.0, 13.0, -1.0, 0.0, 1.0, 3.0, 0.0]).contains("fd"));
        assert!(bad([1.0, 13.0, 5.0, 0.5, 1.0, 3.0, 0.0]).contains("offset"));
        assert!(bad([1.0, 13.0, 5.0, 0.0, -1.0, 3.0, 0.0]).contains("len"));
        assert!(bad([1.0, 13.0, 5.0, 0.0, 1.0, 3.0, 1.0]).contains("a sendfile cannot be linked"));
        assert!(bad([1.0, 14.0, 0.0, -1.0, 0.0, 0.0, 0.0]).contains("the sendFile's id"));
        assert!(bad([1.0, 14.0, 0.0, 2f64.powi(53), 0.0, 0.0, 0.0]).contains("id"));
        assert!(bad([1.0, 14.0, 0.0, 1.0, 0.0, 0.0, 1.0]).contains("a cancel cannot be linked"));
        // Nothing may be linked to either.
        for k in [13.0, 14.0] {
            let e = parse_desc(&[
                1.0, 10.0, 0.0, 0.0, 0.0, 0.0, 1.0, // nop, linked
                2.0, k, 5.0, 0.0, 1.0, 3.0, 0.0,
            ])
            .unwrap_err()
            .0;
            assert!(
                e.starts_with("desc op 0: flags: cannot be linked to a"),
                "{e}"
            );
        }
        // After them, and unlinked before them, all is fine.
        assert!(parse_desc(&[
            1.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0, //
            2.0, 13.0, 5.0, 0.0, 1.0, 3.0, 0.0, //
            3.0, 10.0, 0.0, 0.0, 0.0, 0.0, 1.0, //
            4.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        ])
        .is_ok());
    }

    #[test]
    fn whole_batch_or_nothing() {
        let mut d = vec![0.0; STRIDE * 3];
        for (i, op) in d.chunks_exact_mut(STRIDE).enumerate() {
            op.copy_from_slice(&[i as f64, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        }
        assert_eq!(parse_desc(&d).unwrap().len(), 3);
        d[STRIDE * 2 + 1] = 42.0;
        assert!(parse_desc(&d).unwrap_err().0.starts_with("desc op 2:"));
        assert!(parse_desc(&d[..8]).unwrap_err().0.contains("multiple of 7"));
        assert!(parse_desc(&[]).unwrap().is_empty());
    }

    #[test]
    fn config_numbers() {
        assert_eq!(power_of_two_in("sqDepth", 256.0, 32768), Ok(256));
        assert!(power_of_two_in("sqDepth", 100.0, 32768)
            .unwrap_err()
            .0
            .contains("power of two"));
        assert!(power_of_two_in("sqDepth", 65536.0, 32768).is_err());
        assert!(power_of_two_in("sqDepth", 0.0, 32768).is_err());
        assert_eq!(integer_in("x", 0.0, 0.0, 5.0), Ok(0));
        assert!(integer_in("x", -0.0, 0.0, 5.0).is_ok());
        assert_eq!(js_number(-0.0), "0");
        assert_eq!(js_number(1e300), "1e300");
    }
}
