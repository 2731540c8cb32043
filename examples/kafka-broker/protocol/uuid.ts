// UUID: 16 raw bytes (topic ids, Metadata v10+ / Fetch v13+).
import { put, take, type ByteSink, type ByteSource } from './cursor'

export const UUID_BYTES = 16

export function readUuid(src: ByteSource): Buffer {
  const at = take(src, UUID_BYTES, 'a UUID')
  return src.buf.subarray(at, at + UUID_BYTES)
}

export function writeUuid(sink: ByteSink, v: Buffer): void {
  if (v.length !== UUID_BYTES) throw new RangeError(`a UUID is ${UUID_BYTES} bytes, got ${v.length}`)
  const at = put(sink, UUID_BYTES)
  sink.buf.set(v, at)
}
