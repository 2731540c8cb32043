// The WAL's on-disk format (docs/FORMATS.md is the reference; keep both in step).
// Everything little-endian. Version 2 is written; versions 1 and 2 are read.
//
// File `<20-digit first LSN>.wal`:
//   header block, HEADER_BYTES long so records start block-aligned:
//     0  magic    8 bytes "SLIOWAL\n"
//     8  version  u32 (FORMAT_VERSION)
//    12  header   u32 (HEADER_BYTES)
//    16  firstLsn u64 (0 only in a prepared file that is not part of the log yet)
//    24  flags    u32 (0; reserved)
//    28  crc      u32 CRC32C — version 2: of every other header byte (0..28 and 32..4096);
//                 version 1: of bytes 0..28 only (its reserved bytes must then be zero)
//    32… zero
//   then frames, back to back, each padded to FRAME_ALIGN:
//     0  length   u32 payload bytes
//     4  crc      u32 CRC32C of (lsn as u64 ‖ length as u32 ‖ payload)
//     8  lsn      u64
//    16  payload, then zero padding to a multiple of 8
// An all-zero frame header is the clean end of the log (preallocated space).
import { crc32c, crc32cTable } from '../crc32c'

export const MAGIC = Buffer.from('SLIOWAL\n', 'latin1')
/** The version this library writes. */
export const FORMAT_VERSION = 2
/** Versions this library reads. */
export const READABLE_VERSIONS: readonly number[] = [1, 2]
export const HEADER_BYTES = 4096
const CRC_AT = 28
export const FRAME_HEADER_BYTES = 16
/** Frames start on 8-byte boundaries, so a recovery scan can step by 8. */
export const FRAME_ALIGN = 8
/** The u32 length field's limit. */
export const MAX_PAYLOAD_BYTES = 0xffff_ffff
const TWO_32 = 0x1_0000_0000

export const WAL_SUFFIX = '.wal'
/** A prepared next file, not yet part of the log (deleted on open). */
export const PREPARED_NAME = 'next.wal.tmp'
/** A checkpointed file kept for recycling; never read as part of the log. */
export const FREE_SUFFIX = '.wal.free'
export const LOCK_NAME = 'LOCK'

const NAME_RE = /^(\d{20})\.wal$/

/** `<20-digit first LSN>.wal` — sorts by name in LSN order. */
export function fileName(firstLsn: number): string {
  return `${String(firstLsn).padStart(20, '0')}${WAL_SUFFIX}`
}

/** The first LSN a file name carries, or null for names that are not WAL files. */
export function parseFileName(name: string): number | null {
  const m = NAME_RE.exec(name)
  if (!m) return null
  const lsn = Number(m[1])
  return Number.isSafeInteger(lsn) && lsn >= 1 ? lsn : null
}

/** Bytes a frame of `payloadBytes` takes on disk. */
export function frameBytes(payloadBytes: number): number {
  // Not a bit trick: lengths may exceed 2^31.
  return FRAME_HEADER_BYTES + Math.ceil(payloadBytes / FRAME_ALIGN) * FRAME_ALIGN
}

/** The header CRC of a version: 2 covers every header byte but the CRC field, 1 the first 28. */
function headerCrc(b: Buffer, version: number): number {
  const first = crc32c(b.subarray(0, CRC_AT))
  return version === 1 ? first : crc32c(b.subarray(CRC_AT + 4, HEADER_BYTES), first)
}

/** A header of FORMAT_VERSION (`version` only for tests that make older files). */
export function encodeHeader(firstLsn: number, version: number = FORMAT_VERSION): Buffer {
  const b = Buffer.alloc(HEADER_BYTES)
  MAGIC.copy(b, 0)
  b.writeUInt32LE(version, 8)
  b.writeUInt32LE(HEADER_BYTES, 12)
  writeU64(b, 16, firstLsn)
  b.writeUInt32LE(0, 24)
  b.writeUInt32LE(headerCrc(b, version), CRC_AT)
  return b
}

export type HeaderCheck = { ok: true; firstLsn: number; version: number } | { ok: false; what: string }

/** Validates a header block; `bytes` may be shorter than HEADER_BYTES (a short file). */
export function decodeHeader(bytes: Buffer): HeaderCheck {
  if (bytes.length < HEADER_BYTES) return { ok: false, what: `file too short for a WAL header (${bytes.length} bytes, ${HEADER_BYTES} expected)` }
  if (!bytes.subarray(0, 8).equals(MAGIC)) return { ok: false, what: 'not a WAL file (bad magic number)' }
  const crc = bytes.readUInt32LE(CRC_AT)
  const version = bytes.readUInt32LE(8)
  if (!READABLE_VERSIONS.includes(version)) {
    // Which bytes a future version's CRC covers is unknown: a header that passes either
    // known rule is a newer file, anything else a damaged one.
    if (headerCrc(bytes, 1) !== crc && headerCrc(bytes, 2) !== crc) return { ok: false, what: 'header checksum mismatch' }
    return { ok: false, what: `unsupported WAL format version ${version} (this library reads versions ${READABLE_VERSIONS.join(' and ')}); use a newer @streamline/io` }
  }
  if (headerCrc(bytes, version) !== crc) return { ok: false, what: 'header checksum mismatch' }
  if (version === 1) {
    // Version 1's CRC stops at byte 28; its writers wrote zeros in every reserved byte,
    // so a non-zero one is damage the CRC could not see.
    const flags = bytes.readUInt32LE(24)
    if (flags !== 0) return { ok: false, what: `non-zero reserved flags field (0x${flags.toString(16)}) at position 24 of a version-1 header (version-1 writers write zeros there)` }
    for (let i = CRC_AT + 4; i < HEADER_BYTES; i++) {
      if (bytes[i] !== 0) return { ok: false, what: `non-zero reserved byte 0x${bytes[i].toString(16)} at position ${i} of a version-1 header (version-1 writers write zeros there; its CRC does not cover them)` }
    }
  }
  const headerBytes = bytes.readUInt32LE(12)
  if (headerBytes !== HEADER_BYTES) return { ok: false, what: `unexpected header length ${headerBytes}` }
  const firstLsn = readU64(bytes, 16)
  if (firstLsn === null) return { ok: false, what: 'first LSN out of range' }
  return { ok: true, firstLsn, version }
}

export function writeU64(b: Buffer, at: number, value: number): void {
  b.writeUInt32LE(value % TWO_32, at)
  b.writeUInt32LE(Math.floor(value / TWO_32), at + 4)
}

/** A u64 as a number, or null beyond 2^53 − 1 (never a valid LSN). */
export function readU64(b: Buffer, at: number): number | null {
  const hi = b.readUInt32LE(at + 4)
  if (hi >= 0x20_0000) return null
  return hi * TWO_32 + b.readUInt32LE(at)
}

/**
 * Writes one frame at `at` in `out` (which has room for frameBytes(payload.length)) and
 * returns the offset after it. Padding is zeroed: the bytes on disk are deterministic.
 */
export function encodeFrame(out: Buffer, at: number, lsn: number, payload: Uint8Array): number {
  const len = payload.length
  out.writeUInt32LE(len, at)
  writeU64(out, at + 8, lsn)
  out.set(payload, at + FRAME_HEADER_BYTES)
  const end = at + frameBytes(len)
  out.fill(0, at + FRAME_HEADER_BYTES + len, end)
  out.writeUInt32LE(frameCrc(out, at, out.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + len)), at + 4)
  return end
}

/** CRC32C of (lsn ‖ length ‖ payload), with lsn and length taken from the header at `at`. */
export function frameCrc(header: Buffer, at: number, payload: Uint8Array): number {
  // The 12 bytes of LSN and length go through the table directly: a native call (and
  // crc32c's argument checks) cost more than they save on so few bytes.
  let c = crc32cTable(header.subarray(at + 8, at + 16))
  c = crc32cTable(header.subarray(at, at + 4), c)
  return crc32c(payload, c)
}

/** True when the 16 bytes at `at` are all zero: the clean end of the log. */
export function isZeroHeader(b: Buffer, at: number): boolean {
  return b.readUInt32LE(at) === 0 && b.readUInt32LE(at + 4) === 0 && b.readUInt32LE(at + 8) === 0 && b.readUInt32LE(at + 12) === 0
}
