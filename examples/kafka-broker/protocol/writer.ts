// PLACEHOLDER (K2): the smallest growable BufferWriter the group APIs and their tests need,
// so the b2 branch builds on its own. K1's protocol/writer.ts replaces this file at
// integration; nothing else depends on how it is written.
import type { Writer } from './types'

/** Encodes Kafka protocol primitives into a buffer that doubles when full. */
export class BufferWriter implements Writer {
  private buf = Buffer.allocUnsafe(256)
  private pos = 0

  get length(): number {
    return this.pos
  }

  private room(n: number): number {
    if (this.pos + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
      this.buf.copy(next, 0, 0, this.pos)
      this.buf = next
    }
    const at = this.pos
    this.pos += n
    return at
  }

  int8(v: number): this {
    this.buf.writeInt8(v, this.room(1))
    return this
  }
  int16(v: number): this {
    this.buf.writeInt16BE(v, this.room(2))
    return this
  }
  int32(v: number): this {
    this.buf.writeInt32BE(v, this.room(4))
    return this
  }
  uint32(v: number): this {
    this.buf.writeUInt32BE(v, this.room(4))
    return this
  }
  int64(v: number): this {
    this.buf.writeBigInt64BE(BigInt(v), this.room(8))
    return this
  }
  boolean(v: boolean): this {
    return this.int8(v ? 1 : 0)
  }
  uvarint(v: number): this {
    let rest = v
    while (rest >= 0x80) {
      this.buf.writeUInt8((rest % 0x80) | 0x80, this.room(1))
      rest = Math.floor(rest / 0x80)
    }
    this.buf.writeUInt8(rest, this.room(1))
    return this
  }
  varint(v: number): this {
    return this.uvarint(v >= 0 ? v * 2 : -v * 2 - 1)
  }
  varlong(v: number): this {
    return this.uvarint(v >= 0 ? v * 2 : -v * 2 - 1)
  }
  uuid(v: Buffer): this {
    v.copy(this.buf, this.room(16), 0, 16)
    return this
  }
  private raw(v: Uint8Array): this {
    this.buf.set(v, this.room(v.length))
    return this
  }
  string(v: string): this {
    const b = Buffer.from(v, 'utf8')
    return this.int16(b.length).raw(b)
  }
  nullableString(v: string | null): this {
    return v === null ? this.int16(-1) : this.string(v)
  }
  compactString(v: string): this {
    const b = Buffer.from(v, 'utf8')
    return this.uvarint(b.length + 1).raw(b)
  }
  compactNullableString(v: string | null): this {
    return v === null ? this.uvarint(0) : this.compactString(v)
  }
  bytes(v: Uint8Array): this {
    return this.int32(v.length).raw(v)
  }
  nullableBytes(v: Uint8Array | null): this {
    return v === null ? this.int32(-1) : this.bytes(v)
  }
  compactBytes(v: Uint8Array): this {
    return this.uvarint(v.length + 1).raw(v)
  }
  compactNullableBytes(v: Uint8Array | null): this {
    return v === null ? this.uvarint(0) : this.compactBytes(v)
  }
  array<T>(items: readonly T[], item: (w: Writer, v: T) => void): this {
    this.int32(items.length)
    for (const v of items) item(this, v)
    return this
  }
  compactArray<T>(items: readonly T[], item: (w: Writer, v: T) => void): this {
    this.uvarint(items.length + 1)
    for (const v of items) item(this, v)
    return this
  }
  taggedFields(): this {
    return this.uvarint(0)
  }
  finish(): Buffer {
    return this.buf.subarray(0, this.pos)
  }
}
