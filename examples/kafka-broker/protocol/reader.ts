// BufferReader: the Reader handlers decode requests through, over one frame (or part of
// one). It only sequences the primitive codecs; their modules hold the bounds checks.
import { readArrayCount, readCompactArrayCount } from './arrays'
import { readBytes, readCompactBytes, readCompactNullableBytes, readNullableBytes } from './bytes'
import type { ByteSource } from './cursor'
import { readBoolean, readInt16, readInt32, readInt64, readInt8, readUint32 } from './ints'
import { readCompactNullableString, readCompactString, readNullableString, readString } from './strings'
import { skipTaggedFields } from './tagged-fields'
import type { Reader } from './types'
import { readUuid } from './uuid'
import { readUvarint, readVarint, readVarlong } from './varints'

export class BufferReader implements Reader, ByteSource {
  pos: number
  readonly end: number

  constructor(
    readonly buf: Buffer,
    start = 0,
    end = buf.length,
  ) {
    this.pos = start
    this.end = end
  }

  get remaining(): number {
    return this.end - this.pos
  }

  int8(): number {
    return readInt8(this)
  }
  int16(): number {
    return readInt16(this)
  }
  int32(): number {
    return readInt32(this)
  }
  uint32(): number {
    return readUint32(this)
  }
  int64(): number {
    return readInt64(this)
  }
  boolean(): boolean {
    return readBoolean(this)
  }
  varint(): number {
    return readVarint(this)
  }
  varlong(): number {
    return readVarlong(this)
  }
  uvarint(): number {
    return readUvarint(this)
  }
  uuid(): Buffer {
    return readUuid(this)
  }
  string(): string {
    return readString(this)
  }
  nullableString(): string | null {
    return readNullableString(this)
  }
  compactString(): string {
    return readCompactString(this)
  }
  compactNullableString(): string | null {
    return readCompactNullableString(this)
  }
  bytes(): Buffer {
    return readBytes(this)
  }
  nullableBytes(): Buffer | null {
    return readNullableBytes(this)
  }
  compactBytes(): Buffer {
    return readCompactBytes(this)
  }
  compactNullableBytes(): Buffer | null {
    return readCompactNullableBytes(this)
  }
  array<T>(item: (r: Reader) => T): T[] {
    return this.items(readArrayCount(this) ?? 0, item)
  }
  compactArray<T>(item: (r: Reader) => T): T[] {
    return this.items(readCompactArrayCount(this) ?? 0, item)
  }
  taggedFields(): void {
    skipTaggedFields(this)
  }

  private items<T>(count: number, item: (r: Reader) => T): T[] {
    const out = new Array<T>(count)
    for (let i = 0; i < count; i++) out[i] = item(this)
    return out
  }
}
