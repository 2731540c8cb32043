// STRING / NULLABLE_STRING (INT16 length, −1 = null) and COMPACT_STRING /
// COMPACT_NULLABLE_STRING (UNSIGNED_VARINT length + 1, 0 = null), UTF-8.
import { put, take, type ByteSink, type ByteSource } from './cursor'
import { readInt16, writeInt16 } from './ints'
import { ProtocolError } from './types'
import { readUvarint, writeUvarint } from './varints'

const MAX_STRING_BYTES = 0x7fff

function utf8(src: ByteSource, length: number, what: string): string {
  const at = take(src, length, what)
  return src.buf.toString('utf8', at, at + length)
}

export function readNullableString(src: ByteSource): string | null {
  const length = readInt16(src)
  if (length === -1) return null
  if (length < 0) throw new ProtocolError(`a STRING with length ${length}`)
  return utf8(src, length, 'a STRING')
}
export function readString(src: ByteSource): string {
  const at = src.pos
  const s = readNullableString(src)
  if (s === null) throw new ProtocolError(`a null STRING at position ${at} where the field is not nullable`)
  return s
}
export function readCompactNullableString(src: ByteSource): string | null {
  const lengthPlusOne = readUvarint(src)
  if (lengthPlusOne === 0) return null
  return utf8(src, lengthPlusOne - 1, 'a COMPACT_STRING')
}
export function readCompactString(src: ByteSource): string {
  const at = src.pos
  const s = readCompactNullableString(src)
  if (s === null) throw new ProtocolError(`a null COMPACT_STRING at position ${at} where the field is not nullable`)
  return s
}

export function writeNullableString(sink: ByteSink, v: string | null): void {
  if (v === null) return writeInt16(sink, -1)
  const length = Buffer.byteLength(v, 'utf8')
  if (length > MAX_STRING_BYTES) throw new RangeError(`STRING of ${length} bytes is over ${MAX_STRING_BYTES}`)
  writeInt16(sink, length)
  const at = put(sink, length)
  sink.buf.write(v, at, length, 'utf8')
}
export function writeCompactNullableString(sink: ByteSink, v: string | null): void {
  if (v === null) return writeUvarint(sink, 0)
  const length = Buffer.byteLength(v, 'utf8')
  writeUvarint(sink, length + 1)
  const at = put(sink, length)
  sink.buf.write(v, at, length, 'utf8')
}
