// Small pieces the group API modules share: a nullable ARRAY read (Reader.array maps a
// null array to [], and OffsetFetch v2+ needs to tell null from empty) and the handler
// shape every one of them has (decode → coordinator → encode).
import { BufferWriter } from '../protocol/writer'
import { ProtocolError, type Reader, type Writer } from '../protocol/types'
import type { ApiResponse } from './api'

/** ARRAY with −1 = null (not []); a count beyond the bytes left is a malformed request. */
export function readNullableArray<T>(r: Reader, item: (r: Reader) => T): T[] | null {
  const n = r.int32()
  if (n === -1) return null
  if (n < -1) throw new ProtocolError(`bad array length ${n}`)
  if (n > r.remaining) throw new ProtocolError(`array of ${n} elements in ${r.remaining} bytes`)
  const out: T[] = []
  for (let i = 0; i < n; i++) out.push(item(r))
  return out
}

/** Encodes a response body with a fresh writer. */
export function body(encode: (w: Writer) => void): ApiResponse {
  const w = new BufferWriter()
  encode(w)
  return { kind: 'body', body: w.finish() }
}

/** This broker never throttles: ThrottleTimeMs is always 0 where the version has it. */
export const NO_THROTTLE_MS = 0
