// INT8 / INT16 / INT32 / UINT32 / INT64 / BOOLEAN, big-endian (Kafka protocol guide).
// INT64 travels as a JavaScript number: offsets, timestamps and ids fit in 2^53, and a
// value that does not is refused rather than silently rounded.
import { put, take, type ByteSink, type ByteSource } from './cursor'
import { ProtocolError } from './types'

const TWO_32 = 4294967296

export function readInt8(src: ByteSource): number {
  return src.buf.readInt8(take(src, 1, 'an INT8'))
}
export function readInt16(src: ByteSource): number {
  return src.buf.readInt16BE(take(src, 2, 'an INT16'))
}
export function readInt32(src: ByteSource): number {
  return src.buf.readInt32BE(take(src, 4, 'an INT32'))
}
export function readUint32(src: ByteSource): number {
  return src.buf.readUInt32BE(take(src, 4, 'a UINT32'))
}
export function readInt64(src: ByteSource): number {
  const at = take(src, 8, 'an INT64')
  const value = src.buf.readInt32BE(at) * TWO_32 + src.buf.readUInt32BE(at + 4)
  if (!Number.isSafeInteger(value)) throw new ProtocolError(`INT64 at position ${at} is outside ±2^53 (${src.buf.readBigInt64BE(at)})`)
  return value
}
export function readBoolean(src: ByteSource): boolean {
  return src.buf[take(src, 1, 'a BOOLEAN')] !== 0
}

export function writeInt8(sink: ByteSink, v: number): void {
  const at = put(sink, 1)
  sink.buf.writeInt8(v, at)
}
export function writeInt16(sink: ByteSink, v: number): void {
  const at = put(sink, 2)
  sink.buf.writeInt16BE(v, at)
}
export function writeInt32(sink: ByteSink, v: number): void {
  const at = put(sink, 4)
  sink.buf.writeInt32BE(v, at)
}
export function writeUint32(sink: ByteSink, v: number): void {
  const at = put(sink, 4)
  sink.buf.writeUInt32BE(v, at)
}
export function writeInt64(sink: ByteSink, v: number): void {
  if (!Number.isSafeInteger(v)) throw new RangeError(`INT64 value ${v} is not a safe integer`)
  const at = put(sink, 8)
  // Math.floor keeps the high word's sign for negatives: −1 → high −1, low 0xffffffff.
  const high = Math.floor(v / TWO_32)
  sink.buf.writeInt32BE(high, at)
  sink.buf.writeUInt32BE(v - high * TWO_32, at + 4)
}
export function writeBoolean(sink: ByteSink, v: boolean): void {
  const at = put(sink, 1)
  sink.buf[at] = v ? 1 : 0
}
