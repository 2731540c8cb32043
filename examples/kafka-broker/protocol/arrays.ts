// ARRAY (INT32 count, −1 = null) and COMPACT_ARRAY (UNSIGNED_VARINT count + 1, 0 = null)
// counts. A null array reads as empty: no request field we handle tells null from empty
// except Metadata's topic list, which reads its count itself (see apis/metadata.ts).
// A count larger than the bytes left cannot be honest (every element we decode takes at
// least one byte), so it is refused before anything is allocated for it.
import type { ByteSink, ByteSource } from './cursor'
import { readInt32, writeInt32 } from './ints'
import { ProtocolError } from './types'
import { readUvarint, writeUvarint } from './varints'

function checkCount(src: ByteSource, count: number, at: number, what: string): number {
  if (count > src.end - src.pos) throw new ProtocolError(`${what} at position ${at} claims ${count} elements with ${src.end - src.pos} bytes left`)
  return count
}

/** The element count of an ARRAY, or null for a null array (−1). */
export function readArrayCount(src: ByteSource): number | null {
  const at = src.pos
  const count = readInt32(src)
  if (count === -1) return null
  if (count < 0) throw new ProtocolError(`an ARRAY at position ${at} with count ${count}`)
  return checkCount(src, count, at, 'an ARRAY')
}

/** The element count of a COMPACT_ARRAY, or null for a null array (0). */
export function readCompactArrayCount(src: ByteSource): number | null {
  const at = src.pos
  const countPlusOne = readUvarint(src)
  if (countPlusOne === 0) return null
  return checkCount(src, countPlusOne - 1, at, 'a COMPACT_ARRAY')
}

export function writeArrayCount(sink: ByteSink, count: number | null): void {
  writeInt32(sink, count === null ? -1 : count)
}
export function writeCompactArrayCount(sink: ByteSink, count: number | null): void {
  writeUvarint(sink, count === null ? 0 : count + 1)
}
