// PLACEHOLDER (K2): the smallest BufferReader the group APIs and their tests need, so the
// b2 branch builds on its own. K1's protocol/reader.ts (one codec module per primitive)
// replaces this file at integration; nothing else depends on how it is written.
import { ProtocolError, type Reader } from './types'

/** Reads Kafka protocol primitives from one request body; truncation throws ProtocolError. */
export class BufferReader implements Reader {
  private pos = 0

  constructor(private readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.pos
  }

  private take(n: number, what: string): number {
    if (n < 0 || this.pos + n > this.buf.length) throw new ProtocolError(`truncated ${what}: need ${n} bytes, ${this.remaining} left`)
    const at = this.pos
    this.pos += n
    return at
  }

  int8(): number {
    return this.buf.readInt8(this.take(1, 'int8'))
  }
  int16(): number {
    return this.buf.readInt16BE(this.take(2, 'int16'))
  }
  int32(): number {
    return this.buf.readInt32BE(this.take(4, 'int32'))
  }
  uint32(): number {
    return this.buf.readUInt32BE(this.take(4, 'uint32'))
  }
  int64(): number {
    const v = this.buf.readBigInt64BE(this.take(8, 'int64'))
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new ProtocolError(`int64 ${v} is outside ±2^53`)
    return Number(v)
  }
  boolean(): boolean {
    return this.int8() !== 0
  }
  uvarint(): number {
    let value = 0
    for (let shift = 0; shift <= 28; shift += 7) {
      const b = this.buf.readUInt8(this.take(1, 'varint'))
      value += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return value
    }
    throw new ProtocolError('varint longer than 5 bytes')
  }
  varint(): number {
    const u = this.uvarint()
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2
  }
  varlong(): number {
    let value = 0
    for (let shift = 0; shift <= 63; shift += 7) {
      const b = this.buf.readUInt8(this.take(1, 'varlong'))
      value += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) throw new ProtocolError('varlong outside ±2^53')
        return value % 2 === 0 ? value / 2 : -(value + 1) / 2
      }
    }
    throw new ProtocolError('varlong longer than 10 bytes')
  }
  uuid(): Buffer {
    const at = this.take(16, 'uuid')
    return this.buf.subarray(at, at + 16)
  }
  private text(n: number, what: string): string {
    const at = this.take(n, what)
    return this.buf.toString('utf8', at, at + n)
  }
  string(): string {
    const n = this.int16()
    if (n < 0) throw new ProtocolError(`null in a non-nullable string (length ${n})`)
    return this.text(n, 'string')
  }
  nullableString(): string | null {
    const n = this.int16()
    if (n === -1) return null
    if (n < 0) throw new ProtocolError(`bad string length ${n}`)
    return this.text(n, 'string')
  }
  compactString(): string {
    const n = this.uvarint() - 1
    if (n < 0) throw new ProtocolError('null in a non-nullable compact string')
    return this.text(n, 'compact string')
  }
  compactNullableString(): string | null {
    const n = this.uvarint() - 1
    return n < 0 ? null : this.text(n, 'compact string')
  }
  private view(n: number, what: string): Buffer {
    const at = this.take(n, what)
    return this.buf.subarray(at, at + n)
  }
  bytes(): Buffer {
    const n = this.int32()
    if (n < 0) throw new ProtocolError(`null in non-nullable bytes (length ${n})`)
    return this.view(n, 'bytes')
  }
  nullableBytes(): Buffer | null {
    const n = this.int32()
    if (n === -1) return null
    if (n < 0) throw new ProtocolError(`bad bytes length ${n}`)
    return this.view(n, 'bytes')
  }
  compactBytes(): Buffer {
    const n = this.uvarint() - 1
    if (n < 0) throw new ProtocolError('null in non-nullable compact bytes')
    return this.view(n, 'compact bytes')
  }
  compactNullableBytes(): Buffer | null {
    const n = this.uvarint() - 1
    return n < 0 ? null : this.view(n, 'compact bytes')
  }
  private items<T>(n: number, item: (r: Reader) => T): T[] {
    // Every element takes at least one byte: a count beyond what is left is a lie.
    if (n > this.remaining) throw new ProtocolError(`array of ${n} elements in ${this.remaining} bytes`)
    const out: T[] = []
    for (let i = 0; i < n; i++) out.push(item(this))
    return out
  }
  array<T>(item: (r: Reader) => T): T[] {
    const n = this.int32()
    if (n === -1) return []
    if (n < 0) throw new ProtocolError(`bad array length ${n}`)
    return this.items(n, item)
  }
  compactArray<T>(item: (r: Reader) => T): T[] {
    const n = this.uvarint() - 1
    return n < 0 ? [] : this.items(n, item)
  }
  taggedFields(): void {
    const count = this.uvarint()
    for (let i = 0; i < count; i++) {
      this.uvarint()
      this.view(this.uvarint(), 'tagged field')
    }
  }
}
