// BYTES / NULLABLE_BYTES (INT32 length, −1 = null) and COMPACT_BYTES /
// COMPACT_NULLABLE_BYTES (UNSIGNED_VARINT length + 1, 0 = null). Reads return views
// into the request frame: a Produce's record set is handed to the log without a copy.
import { put, take, type ByteSink, type ByteSource } from './cursor'
import { readInt32, writeInt32 } from './ints'
import { ProtocolError } from './types'
import { readUvarint, writeUvarint } from './varints'

function view(src: ByteSource, length: number, what: string): Buffer {
  const at = take(src, length, what)
  return src.buf.subarray(at, at + length)
}

export function readNullableBytes(src: ByteSource): Buffer | null {
  const length = readInt32(src)
  if (length === -1) return null
  if (length < 0) throw new ProtocolError(`BYTES with length ${length}`)
  return view(src, length, 'BYTES')
}
export function readBytes(src: ByteSource): Buffer {
  const at = src.pos
  const b = readNullableBytes(src)
  if (b === null) throw new ProtocolError(`null BYTES at position ${at} where the field is not nullable`)
  return b
}
export function readCompactNullableBytes(src: ByteSource): Buffer | null {
  const lengthPlusOne = readUvarint(src)
  if (lengthPlusOne === 0) return null
  return view(src, lengthPlusOne - 1, 'COMPACT_BYTES')
}
export function readCompactBytes(src: ByteSource): Buffer {
  const at = src.pos
  const b = readCompactNullableBytes(src)
  if (b === null) throw new ProtocolError(`null COMPACT_BYTES at position ${at} where the field is not nullable`)
  return b
}

function copyIn(sink: ByteSink, v: Uint8Array): void {
  const at = put(sink, v.length)
  sink.buf.set(v, at)
}
export function writeNullableBytes(sink: ByteSink, v: Uint8Array | null): void {
  if (v === null) return writeInt32(sink, -1)
  writeInt32(sink, v.length)
  copyIn(sink, v)
}
export function writeCompactNullableBytes(sink: ByteSink, v: Uint8Array | null): void {
  if (v === null) return writeUvarint(sink, 0)
  writeUvarint(sink, v.length + 1)
  copyIn(sink, v)
}
