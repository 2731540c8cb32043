// A segment's `.timeindex`, as Kafka's TimeIndex: 12-byte entries, big-endian, a
// timestamp (int64) then a relative offset (int32): the largest batch max-timestamp seen
// so far in the segment and the last offset of the batch that holds it. An entry is added
// only when its timestamp is larger than the last entry's (the empty index counts as
// timestamp −1), so timestamps strictly increase. The index counts as full one entry
// before it is (Kafka's TimeIndex.isFull), so a roll can always add its final entry.
import { readInt64, writeInt64 } from './record-batch'

export const TIME_ENTRY_BYTES = 12

export class TimeIndex {
  private ts: Float64Array
  private rel: Int32Array
  entries = 0

  constructor(
    readonly baseOffset: number,
    /** maxIndexBytes / 12, rounded down. */
    readonly maxEntries: number,
  ) {
    const initial = Math.min(maxEntries, 64)
    this.ts = new Float64Array(initial)
    this.rel = new Int32Array(initial)
  }

  get isFull(): boolean {
    return this.entries >= this.maxEntries - 1
  }

  /** The last entry's timestamp, or −1 (no timestamp) when empty. */
  get lastTimestamp(): number {
    return this.entries === 0 ? -1 : this.ts[this.entries - 1]
  }

  /** The last entry's offset, or the base offset when empty. */
  get lastOffset(): number {
    return this.entries === 0 ? this.baseOffset : this.baseOffset + this.rel[this.entries - 1]
  }

  timestampAt(i: number): number {
    return this.ts[i]
  }

  offsetAt(i: number): number {
    return this.baseOffset + this.rel[i]
  }

  /**
   * Adds (timestamp, offset) when the timestamp is larger than the last entry's.
   * `skipFullCheck` is the roll's and close's final entry, which the early "full" leaves
   * room for. Returns whether an entry was added.
   */
  maybeAppend(timestamp: number, offset: number, skipFullCheck = false): boolean {
    if (!(timestamp > this.lastTimestamp)) return false
    if (this.entries > 0 && offset < this.lastOffset) throw new Error(`time index append out of order: offset ${offset} after ${this.lastOffset}`)
    if (this.entries >= this.maxEntries || (!skipFullCheck && this.isFull)) throw new Error('time index append to a full index')
    if (this.entries === this.ts.length) this.grow()
    this.ts[this.entries] = timestamp
    this.rel[this.entries] = offset - this.baseOffset
    this.entries++
    return true
  }

  private grow(): void {
    const n = Math.min(this.maxEntries, this.ts.length * 2)
    const ts = new Float64Array(n)
    const rel = new Int32Array(n)
    ts.set(this.ts)
    rel.set(this.rel)
    this.ts = ts
    this.rel = rel
  }

  /**
   * Kafka's lookup: the offset of the entry with the largest timestamp ≤ `timestamp`, or
   * the base offset when there is none.
   */
  lookup(timestamp: number): number {
    let lo = 0
    let hi = this.entries - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (this.ts[mid] <= timestamp) {
        found = mid
        lo = mid + 1
      } else hi = mid - 1
    }
    return found < 0 ? this.baseOffset : this.baseOffset + this.rel[found]
  }

  /** Drops every entry whose offset is ≥ `offset`. */
  truncateTo(offset: number): void {
    while (this.entries > 0 && this.baseOffset + this.rel[this.entries - 1] >= offset) this.entries--
  }

  encode(from: number, to: number): Buffer {
    const b = Buffer.allocUnsafe((to - from) * TIME_ENTRY_BYTES)
    for (let i = from; i < to; i++) {
      const at = (i - from) * TIME_ENTRY_BYTES
      writeInt64(b, at, this.ts[i])
      b.writeInt32BE(this.rel[i], at + 8)
    }
    return b
  }

  /** Reads file bytes, checked as OffsetIndex.decode does; a string says what is wrong. */
  static decode(bytes: Buffer, baseOffset: number, maxEntries: number, nextOffset: number): TimeIndex | string {
    if (bytes.length % TIME_ENTRY_BYTES !== 0) return `its size ${bytes.length} is not a multiple of ${TIME_ENTRY_BYTES}`
    const n = bytes.length / TIME_ENTRY_BYTES
    if (n > maxEntries) return `it holds ${n} entries, more than maxIndexBytes allows (${maxEntries})`
    const idx = new TimeIndex(baseOffset, maxEntries)
    idx.ts = new Float64Array(Math.max(n, Math.min(maxEntries, 64)))
    idx.rel = new Int32Array(idx.ts.length)
    let lastTs = -1
    let lastRel = -1
    for (let i = 0; i < n; i++) {
      const ts = readInt64(bytes, i * TIME_ENTRY_BYTES)
      const rel = bytes.readInt32BE(i * TIME_ENTRY_BYTES + 8)
      if (ts <= lastTs) return `entry ${i} has timestamp ${ts}, not after entry ${i - 1} (${lastTs})`
      if (rel < lastRel || rel < 0) return `entry ${i} has relative offset ${rel}, before entry ${i - 1} (${lastRel})`
      if (baseOffset + rel >= nextOffset) return `entry ${i} names offset ${baseOffset + rel}, not below the segment's end ${nextOffset}`
      idx.ts[i] = ts
      idx.rel[i] = rel
      lastTs = ts
      lastRel = rel
    }
    idx.entries = n
    return idx
  }
}
