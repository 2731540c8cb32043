// UNSIGNED_VARINT (32-bit), VARINT (zig-zag 32-bit) and VARLONG (zig-zag 64-bit): the
// protocol-buffers encoding Kafka uses for compact lengths, tagged fields and records.
// Values are numbers; a VARLONG outside −2^52..2^52−1 is refused (nothing we decode needs one).
import { put, take, type ByteSink, type ByteSource } from './cursor'
import { ProtocolError } from './types'

/** At most this many bytes for an unsigned value below `limit`. */
function readUnsigned(src: ByteSource, maxBytes: number, limit: number, what: string): number {
  let value = 0
  let scale = 1
  for (let i = 0; i < maxBytes; i++) {
    const b = src.buf[take(src, 1, what)]
    value += (b & 0x7f) * scale
    if ((b & 0x80) === 0) {
      if (value > limit) throw new ProtocolError(`${what} at position ${src.pos - i - 1} is too large (${value})`)
      return value
    }
    scale *= 128
  }
  throw new ProtocolError(`${what} ending at position ${src.pos} runs past ${maxBytes} bytes`)
}

export function readUvarint(src: ByteSource): number {
  return readUnsigned(src, 5, 0xffffffff, 'an UNSIGNED_VARINT')
}
export function readVarint(src: ByteSource): number {
  const raw = readUnsigned(src, 5, 0xffffffff, 'a VARINT')
  return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2
}
export function readVarlong(src: ByteSource): number {
  // 2^53 − 1 raw keeps the arithmetic exact; the zig-zag halves it.
  const raw = readUnsigned(src, 10, Number.MAX_SAFE_INTEGER, 'a VARLONG')
  return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2
}

function writeUnsigned(sink: ByteSink, v: number): void {
  sink.ensure(10)
  let rest = v
  while (rest >= 0x80) {
    const at = put(sink, 1)
    sink.buf[at] = (rest % 128) | 0x80
    rest = Math.floor(rest / 128)
  }
  const at = put(sink, 1)
  sink.buf[at] = rest
}

export function writeUvarint(sink: ByteSink, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`UNSIGNED_VARINT value ${v} is outside 0..2^32-1`)
  writeUnsigned(sink, v)
}
export function writeVarint(sink: ByteSink, v: number): void {
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new RangeError(`VARINT value ${v} is outside the int32 range`)
  writeUnsigned(sink, v >= 0 ? v * 2 : -v * 2 - 1)
}
export function writeVarlong(sink: ByteSink, v: number): void {
  // The zig-zag value must stay a safe integer, as readVarlong requires.
  if (!Number.isSafeInteger(v) || v < -(2 ** 52) || v > 2 ** 52 - 1) throw new RangeError(`VARLONG value ${v} is outside -2^52..2^52-1`)
  writeUnsigned(sink, v >= 0 ? v * 2 : -v * 2 - 1)
}
