// Kafka's variable-length integers (the protocol's "varint" and "varlong"): zig-zag
// encoded, then 7 bits per byte, least significant group first, the high bit set on
// every byte but the last (the same encoding as Protocol Buffers' sint32/sint64).
// JavaScript numbers carry 53 bits, so a varlong here is any safe integer; a longer one
// read from disk is reported as malformed rather than rounded.

const TWO_31 = 0x8000_0000

/** zig-zag: 0 → 0, -1 → 1, 1 → 2, -2 → 3 … (arithmetic, so it works past 32 bits). */
export function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1
}

export function unzigzag(z: number): number {
  // z is even for non-negative values; (z + 1) / 2 for odd z never loses precision below 2^53.
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2
}

/** Bytes the zig-zag encoding of `n` takes. */
export function varintBytes(n: number): number {
  let z = zigzag(n)
  let bytes = 1
  while (z >= 128) {
    z = Math.floor(z / 128)
    bytes++
  }
  return bytes
}

/** Writes the zig-zag varint of `n` at `at`; returns the position after it. */
export function writeVarint(b: Buffer, at: number, n: number): number {
  if (n > -TWO_31 && n < TWO_31 - 1) {
    // Fast path: the zig-zag value fits 32 bits, so bit operations are exact.
    let z = ((n << 1) ^ (n >> 31)) >>> 0
    while (z >= 0x80) {
      b[at++] = (z & 0x7f) | 0x80
      z >>>= 7
    }
    b[at++] = z
    return at
  }
  let z = zigzag(n)
  while (z >= 128) {
    b[at++] = (z % 128) | 0x80
    z = Math.floor(z / 128)
  }
  b[at++] = z
  return at
}

/** A varint read: its value and where the next field starts. */
export interface VarintRead {
  value: number
  next: number
}

/**
 * Reads a zig-zag varint (up to 10 bytes: a varlong) at `at`, not past `end`. Returns
 * null when it runs past `end`, is longer than 10 bytes, or does not fit 53 bits.
 */
export function readVarint(b: Uint8Array, at: number, end: number): VarintRead | null {
  let z = 0
  let scale = 1
  for (let i = 0; i < 10; i++) {
    if (at >= end) return null
    const byte = b[at++]
    z += (byte & 0x7f) * scale
    if (byte < 0x80) {
      if (z > Number.MAX_SAFE_INTEGER) return null
      return { value: unzigzag(z), next: at }
    }
    scale *= 128
  }
  return null
}
