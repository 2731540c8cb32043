//! CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), the checksum of
//! Kafka's RecordBatch v2 and of the WAL's records (DESIGN.md §5).
//!
//! Two implementations of the same function: the SSE4.2 `crc32` instruction where the
//! CPU has it (checked once at run time), and slicing-by-8 tables otherwise. Both use
//! the standard pre- and post-inversion, so values chain:
//! `crc32c(b, crc32c(a, 0)) == crc32c(a ‖ b, 0)`, and `crc32c(b"123456789", 0)` is
//! 0xE3069283 (the check value of the CRC catalogue's CRC-32/ISCSI).

/// The reflected Castagnoli polynomial.
const POLY: u32 = 0x82F6_3B78;

/// Slicing-by-8 tables: `TABLES[0]` is the classic byte table; `TABLES[k][b]` is the CRC
/// of byte `b` followed by `k` zero bytes.
static TABLES: [[u32; 256]; 8] = make_tables();

const fn make_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut s = 1;
    while s < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        s += 1;
    }
    t
}

/// The CRC-32C of `data`, continuing from `previous` (the CRC-32C of the bytes before
/// it; 0 when there are none).
pub fn crc32c(data: &[u8], previous: u32) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("sse4.2") {
            // SAFETY: the CPU supports SSE4.2 (checked just above; the check is cached).
            return unsafe { crc32c_sse42(data, previous) };
        }
    }
    crc32c_table(data, previous)
}

/// The portable slicing-by-8 implementation (public to the crate for tests/benches).
pub(crate) fn crc32c_table(data: &[u8], previous: u32) -> u32 {
    let mut crc = !previous;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) ^ crc;
        let hi = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
        crc = TABLES[7][(lo & 0xff) as usize]
            ^ TABLES[6][((lo >> 8) & 0xff) as usize]
            ^ TABLES[5][((lo >> 16) & 0xff) as usize]
            ^ TABLES[4][(lo >> 24) as usize]
            ^ TABLES[3][(hi & 0xff) as usize]
            ^ TABLES[2][((hi >> 8) & 0xff) as usize]
            ^ TABLES[1][((hi >> 16) & 0xff) as usize]
            ^ TABLES[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ TABLES[0][((crc ^ u32::from(b)) & 0xff) as usize];
    }
    !crc
}

/// The SSE4.2 implementation: 8 bytes per `crc32` instruction, the tail bytewise.
///
/// # Safety
/// The CPU must support SSE4.2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
pub(crate) unsafe fn crc32c_sse42(data: &[u8], previous: u32) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};
    let mut crc = u64::from(!previous);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        crc = _mm_crc32_u64(crc, v);
    }
    let mut crc = crc as u32;
    for &b in chunks.remainder() {
        crc = _mm_crc32_u8(crc, b);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    type Impl = fn(&[u8], u32) -> u32;

    /// Every implementation this CPU can run, by name.
    fn impls() -> Vec<(&'static str, Impl)> {
        let mut v: Vec<(&'static str, Impl)> = vec![("table", crc32c_table), ("dispatch", crc32c)];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("sse4.2") {
            fn sse(d: &[u8], p: u32) -> u32 {
                // SAFETY: only listed when the CPU supports SSE4.2.
                unsafe { crc32c_sse42(d, p) }
            }
            v.push(("sse4.2", sse));
        }
        v
    }

    /// Bit-at-a-time reference straight from the definition.
    fn reference(data: &[u8], previous: u32) -> u32 {
        let mut crc = !previous;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ POLY
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn known_values() {
        for (name, f) in impls() {
            assert_eq!(f(b"123456789", 0), 0xE306_9283, "{name}");
            assert_eq!(f(&[0u8; 32], 0), 0x8A91_36AA, "{name}");
            assert_eq!(f(&[0xffu8; 32], 0), 0x62A8_AB43, "{name}");
            assert_eq!(f(b"", 0), 0, "{name}");
            assert_eq!(f(b"", 0x1234_5678), 0x1234_5678, "{name}");
        }
    }

    #[test]
    fn all_lengths_and_alignments_match_the_reference() {
        let data: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for (name, f) in impls() {
            for start in 0..9 {
                for end in start..data.len() {
                    let d = &data[start..end];
                    assert_eq!(f(d, 0), reference(d, 0), "{name} {start}..{end}");
                }
            }
        }
    }

    #[test]
    fn chaining_equals_one_pass() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        for (name, f) in impls() {
            let whole = f(&data, 0);
            for split in [0, 1, 7, 8, 9, 63, 64, 500, 999, 1000] {
                let (a, b) = data.split_at(split);
                assert_eq!(f(b, f(a, 0)), whole, "{name} split {split}");
            }
            // Three pieces, mixing implementations.
            let t = crc32c_table(&data[..100], 0);
            let m = f(&data[100..555], t);
            assert_eq!(crc32c_table(&data[555..], m), whole, "{name} mixed");
        }
    }
}
