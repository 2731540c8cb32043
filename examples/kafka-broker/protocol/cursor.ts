// The two buffers every primitive codec works on: a bounded read window over a request
// frame, and a growable output. Each primitive module (ints, varints, strings, bytes,
// arrays, tagged fields, uuid) reads and writes through these and nothing else, so the
// bounds check lives in one place: a truncated request is a ProtocolError, never a
// RangeError from Buffer or a read past the frame into the next one.
import { ProtocolError } from './types'

/** A read window: `pos` moves forward, never past `end`. */
export interface ByteSource {
  readonly buf: Buffer
  pos: number
  readonly end: number
}

/** A growable output: `ensure(n)` makes room for n more bytes at `pos`. */
export interface ByteSink {
  buf: Buffer
  pos: number
  ensure(n: number): void
}

/** Reserves `n` bytes of the source for `what`; returns where they start. */
export function take(src: ByteSource, n: number, what: string): number {
  const at = src.pos
  if (n < 0 || at + n > src.end) {
    throw new ProtocolError(`truncated request: ${what} needs ${n} bytes at position ${at}, ${src.end - at} left`)
  }
  src.pos = at + n
  return at
}

/**
 * Reserves `n` bytes of the sink; returns where they start. It may replace `sink.buf`:
 * call it before reading `sink.buf` (`const at = put(sink, 4); sink.buf.writeInt32BE(v, at)`),
 * never inside the same expression, which would write into the old buffer.
 */
export function put(sink: ByteSink, n: number): number {
  sink.ensure(n)
  const at = sink.pos
  sink.pos = at + n
  return at
}
