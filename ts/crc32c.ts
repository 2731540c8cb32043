// CRC-32C (Castagnoli), as the WAL and Kafka's RecordBatch v2 use it. Native (SSE4.2
// where the CPU has it) when the addon provides it; a table implementation otherwise.
// Chaining: crc32c(b, crc32c(a)) === crc32c(a ‖ b).
import { types } from 'node:util'
import { invalidArgType, outOfRange } from './errors'
import { addonFromEnv } from './config'

const TABLE = (() => {
  const t = new Uint32Array(256 * 8)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    t[i] = c >>> 0
  }
  // Slicing-by-8 tables: t[k*256 + i] is the CRC of byte i followed by k zero bytes.
  for (let i = 0; i < 256; i++) {
    for (let k = 1; k < 8; k++) t[k * 256 + i] = (t[(k - 1) * 256 + i] >>> 8) ^ t[t[(k - 1) * 256 + i] & 0xff]
  }
  return t
})()

/** The portable implementation (exported for tests that compare both paths). */
export function crc32cTable(data: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0
  let i = 0
  const n = data.length
  for (; i + 8 <= n; i += 8) {
    const a = (crc ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24))) >>> 0
    crc =
      TABLE[7 * 256 + (a & 0xff)] ^ TABLE[6 * 256 + ((a >>> 8) & 0xff)] ^ TABLE[5 * 256 + ((a >>> 16) & 0xff)] ^ TABLE[4 * 256 + (a >>> 24)] ^
      TABLE[3 * 256 + data[i + 4]] ^ TABLE[2 * 256 + data[i + 5]] ^ TABLE[256 + data[i + 6]] ^ TABLE[data[i + 7]]
  }
  for (; i < n; i++) crc = TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8)
  return ~crc >>> 0
}

type NativeCrc = (data: Uint8Array, previous: number) => number
let nativeCrc: NativeCrc | null | undefined

function native(): NativeCrc | null {
  if (nativeCrc === undefined) {
    const { addon } = addonFromEnv()
    const fn = (addon as { crc32c?: NativeCrc } | null)?.crc32c
    nativeCrc = typeof fn === 'function' ? fn : null
  }
  return nativeCrc
}

/** Below this size the JavaScript loop beats the cost of a native call. */
const NATIVE_MIN_BYTES = 64

/** CRC-32C of `data`, continuing from `previous` (the CRC of what came before). */
export function crc32c(data: Uint8Array, previous = 0): number {
  if (!types.isUint8Array(data)) throw invalidArgType('data', 'an instance of Buffer or Uint8Array', data)
  if (typeof previous !== 'number') throw invalidArgType('previous', 'of type number', previous)
  if (!Number.isInteger(previous) || previous < 0 || previous > 0xffffffff) throw outOfRange('previous', 'an integer >= 0 and <= 4294967295', previous)
  const fn = data.length >= NATIVE_MIN_BYTES ? native() : null
  return fn ? fn(data, previous) : crc32cTable(data, previous)
}
