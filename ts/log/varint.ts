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
  // Past 32 bits in BigInt: the zig-zag value of a negative number below −2^52 is odd and
  // above 2^53, which a double cannot hold.
  let z = n >= 0 ? BigInt(n) << 1n : (BigInt(-n) << 1n) - 1n
  while (z >= 128n) {
    b[at++] = Number(z & 0x7fn) | 0x80
    z >>= 7n
  }
  b[at++] = Number(z)
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
      // Zig-zag values up to 2^54 − 1 decode to safe integers, but past 2^53 the sum above
      // may have rounded: those are decoded again exactly.
      if (z > Number.MAX_SAFE_INTEGER) return readLargeVarint(b, at - i - 1, at)
      return { value: unzigzag(z), next: at }
    }
    scale *= 128
  }
  return null
}

/** The exact value of the varint at [start, next) whose zig-zag value passed 2^53, or null when it is no safe integer. */
function readLargeVarint(b: Uint8Array, start: number, next: number): VarintRead | null {
  let z = 0n
  for (let k = next - 1; k >= start; k--) z = (z << 7n) | BigInt(b[k] & 0x7f)
  const v = (z & 1n) === 0n ? z >> 1n : -((z + 1n) >> 1n)
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) return null
  return { value: Number(v), next }
}
