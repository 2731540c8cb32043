// BufferWriter: the growable Writer responses are encoded through. It doubles its buffer
// as needed (a response's size is not known before it is encoded) and `finish` returns a
// view of the bytes written, not a copy.
import { writeArrayCount, writeCompactArrayCount } from './arrays'
import { writeCompactNullableBytes, writeNullableBytes } from './bytes'
import type { ByteSink } from './cursor'
import { writeBoolean, writeInt16, writeInt32, writeInt64, writeInt8, writeUint32 } from './ints'
import { writeCompactNullableString, writeNullableString } from './strings'
import { writeEmptyTaggedFields } from './tagged-fields'
import type { Writer } from './types'
import { writeUuid } from './uuid'
import { writeUvarint, writeVarint, writeVarlong } from './varints'

const INITIAL_BYTES = 256

export class BufferWriter implements Writer, ByteSink {
  buf: Buffer
  pos = 0

  constructor(initialBytes = INITIAL_BYTES) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initialBytes))
  }

  ensure(n: number): void {
    const needed = this.pos + n
    if (needed <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < needed) size *= 2
    const grown = Buffer.allocUnsafe(size)
    this.buf.copy(grown, 0, 0, this.pos)
    this.buf = grown
  }

  get length(): number {
    return this.pos
  }

  int8(v: number): this {
    writeInt8(this, v)
    return this
  }
  int16(v: number): this {
    writeInt16(this, v)
    return this
  }
  int32(v: number): this {
    writeInt32(this, v)
    return this
  }
  uint32(v: number): this {
    writeUint32(this, v)
    return this
  }
  int64(v: number): this {
    writeInt64(this, v)
    return this
  }
  boolean(v: boolean): this {
    writeBoolean(this, v)
    return this
  }
  varint(v: number): this {
    writeVarint(this, v)
    return this
  }
  varlong(v: number): this {
    writeVarlong(this, v)
    return this
  }
  uvarint(v: number): this {
    writeUvarint(this, v)
    return this
  }
  uuid(v: Buffer): this {
    writeUuid(this, v)
    return this
  }
  string(v: string): this {
    writeNullableString(this, v)
    return this
  }
  nullableString(v: string | null): this {
    writeNullableString(this, v)
    return this
  }
  compactString(v: string): this {
    writeCompactNullableString(this, v)
    return this
  }
  compactNullableString(v: string | null): this {
    writeCompactNullableString(this, v)
    return this
  }
  bytes(v: Uint8Array): this {
    writeNullableBytes(this, v)
    return this
  }
  nullableBytes(v: Uint8Array | null): this {
    writeNullableBytes(this, v)
    return this
  }
  compactBytes(v: Uint8Array): this {
    writeCompactNullableBytes(this, v)
    return this
  }
  compactNullableBytes(v: Uint8Array | null): this {
    writeCompactNullableBytes(this, v)
    return this
  }
  array<T>(items: readonly T[], item: (w: Writer, v: T) => void): this {
    writeArrayCount(this, items.length)
    for (const v of items) item(this, v)
    return this
  }
  compactArray<T>(items: readonly T[], item: (w: Writer, v: T) => void): this {
    writeCompactArrayCount(this, items.length)
    for (const v of items) item(this, v)
    return this
  }
  taggedFields(): this {
    writeEmptyTaggedFields(this)
    return this
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos)
  }
}
