// The contract between the broker's codec and its API handlers: every request is decoded
// through a Reader and every response encoded through a Writer; neither handler nor
// coordinator touches a Buffer offset. Primitives follow Kafka's protocol guide
// (https://kafka.apache.org/protocol#protocol_types).

/** A malformed or truncated request: the connection is closed with this reason logged. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError'
}

export interface Reader {
  /** Bytes not yet read. */
  readonly remaining: number
  int8(): number
  int16(): number
  int32(): number
  uint32(): number
  /** INT64 as a number; values outside ±2^53 throw ProtocolError (offsets and ids fit). */
  int64(): number
  boolean(): boolean
  /** VARINT / VARLONG (zig-zag) and UNSIGNED_VARINT. */
  varint(): number
  varlong(): number
  uvarint(): number
  uuid(): Buffer
  string(): string
  nullableString(): string | null
  compactString(): string
  compactNullableString(): string | null
  /** BYTES / NULLABLE_BYTES / COMPACT_* as views into the request (not copies). */
  bytes(): Buffer
  nullableBytes(): Buffer | null
  compactBytes(): Buffer
  compactNullableBytes(): Buffer | null
  /** ARRAY (int32 count, −1 = null → []) and COMPACT_ARRAY (uvarint count + 1). */
  array<T>(item: (r: Reader) => T): T[]
  compactArray<T>(item: (r: Reader) => T): T[]
  /** Skips a tagged-field section (flexible versions); unknown tags are ignored. */
  taggedFields(): void
}

export interface Writer {
  int8(v: number): this
  int16(v: number): this
  int32(v: number): this
  uint32(v: number): this
  int64(v: number): this
  boolean(v: boolean): this
  varint(v: number): this
  varlong(v: number): this
  uvarint(v: number): this
  uuid(v: Buffer): this
  string(v: string): this
  nullableString(v: string | null): this
  compactString(v: string): this
  compactNullableString(v: string | null): this
  bytes(v: Uint8Array): this
  nullableBytes(v: Uint8Array | null): this
  compactBytes(v: Uint8Array): this
  compactNullableBytes(v: Uint8Array | null): this
  array<T>(items: readonly T[], item: (w: Writer, v: T) => void): this
  compactArray<T>(items: readonly T[], item: (w: Writer, v: T) => void): this
  /** An empty tagged-field section (flexible versions). */
  taggedFields(): this
  /** Bytes written so far. */
  readonly length: number
  /** The bytes written (a copy-free view when possible). */
  finish(): Buffer
}
