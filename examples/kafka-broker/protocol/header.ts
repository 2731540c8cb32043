// Request header v1 (api key, version, correlation id, client id) and v2 (v1 + tagged
// fields), response header v0 (correlation id) and v1 (v0 + tagged fields)
// (RequestHeader.json, ResponseHeader.json). A version is flexible when the API's JSON
// says so; the header versions follow from that, with one exception: ApiVersions'
// response header is always v0, so a client can read the error of a version the broker
// does not know (ApiVersionsResponse.json: "Tagged fields are only supported in the body
// but not in the header").
import { ApiKey } from './api-keys'
import { BufferReader } from './reader'
import { ProtocolError } from './types'
import { BufferWriter } from './writer'

export interface RequestHeader {
  readonly apiKey: number
  readonly apiVersion: number
  readonly correlationId: number
  readonly clientId: string | null
}

/** The fixed part every request header version starts with: key, version, correlation id, client id length. */
export const REQUEST_HEADER_MIN_BYTES = 2 + 2 + 4 + 2

export function requestHeaderVersion(flexible: boolean): 1 | 2 {
  return flexible ? 2 : 1
}

export function responseHeaderVersion(apiKey: number, flexible: boolean): 0 | 1 {
  return apiKey !== ApiKey.ApiVersions && flexible ? 1 : 0
}

/**
 * Decodes a request header from `frame` (the bytes after the length). `isFlexible` says,
 * from the API table, whether this key and version use header v2; the client id is a
 * (non-compact) NULLABLE_STRING in both versions. Returns the header and a reader
 * positioned at the body.
 */
export function decodeRequestHeader(
  frame: Buffer,
  isFlexible: (apiKey: number, apiVersion: number) => boolean,
): { header: RequestHeader; body: BufferReader; flexible: boolean } {
  if (frame.length < REQUEST_HEADER_MIN_BYTES) {
    throw new ProtocolError(`a ${frame.length}-byte frame is shorter than a request header (${REQUEST_HEADER_MIN_BYTES})`)
  }
  const r = new BufferReader(frame)
  const apiKey = r.int16()
  const apiVersion = r.int16()
  const correlationId = r.int32()
  const clientId = r.nullableString()
  const flexible = isFlexible(apiKey, apiVersion)
  if (requestHeaderVersion(flexible) === 2) r.taggedFields()
  return { header: { apiKey, apiVersion, correlationId, clientId }, body: r, flexible }
}

/** Peeks the correlation id of a frame whose header could not be decoded (for the log line). */
export function peekCorrelationId(frame: Buffer): number | null {
  return frame.length >= 8 ? frame.readInt32BE(4) : null
}

/**
 * The bytes that go before a response body: the INT32 frame length (header + body) and
 * the response header of `version`.
 */
export function encodeResponseHead(correlationId: number, version: 0 | 1, bodyBytes: number): Buffer {
  const w = new BufferWriter(16)
  const headerBytes = version === 1 ? 5 : 4
  w.int32(headerBytes + bodyBytes).int32(correlationId)
  if (version === 1) w.taggedFields()
  return w.finish()
}
