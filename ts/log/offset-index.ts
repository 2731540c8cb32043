// A segment's `.index`, as Kafka's OffsetIndex: 8-byte entries, big-endian, the indexed
// batch's LAST offset relative to the segment's base offset (int32), then the position
// where that batch starts in the `.log` (int32). Offsets strictly increase. The entries
// live in memory; the file is written when the segment rolls, on log.flush() and when
// the log closes (an active segment's index is rebuilt by recovery after a crash, so
// writing it on every append would buy nothing).

export const OFFSET_ENTRY_BYTES = 8

export class OffsetIndex {
  private rel: Int32Array
  private pos: Int32Array
  entries = 0

  constructor(
    readonly baseOffset: number,
    /** maxIndexBytes / 8, rounded down. */
    readonly maxEntries: number,
  ) {
    const initial = Math.min(maxEntries, 64)
    this.rel = new Int32Array(initial)
    this.pos = new Int32Array(initial)
  }

  /** Kafka's OffsetIndex.isFull: a segment whose index is full rolls. */
  get isFull(): boolean {
    return this.entries >= this.maxEntries
  }

  /** The last entry's offset, or the base offset when empty. */
  get lastOffset(): number {
    return this.entries === 0 ? this.baseOffset : this.baseOffset + this.rel[this.entries - 1]
  }

  offsetAt(i: number): number {
    return this.baseOffset + this.rel[i]
  }

  positionAt(i: number): number {
    return this.pos[i]
  }

  append(offset: number, position: number): void {
    if (this.entries > 0 && offset <= this.lastOffset) throw new Error(`index append out of order: offset ${offset} after ${this.lastOffset}`)
    if (this.entries >= this.maxEntries) throw new Error('index append to a full index')
    if (this.entries === this.rel.length) this.grow()
    this.rel[this.entries] = offset - this.baseOffset
    this.pos[this.entries] = position
    this.entries++
  }

  private grow(): void {
    const n = Math.min(this.maxEntries, this.rel.length * 2)
    const rel = new Int32Array(n)
    const pos = new Int32Array(n)
    rel.set(this.rel)
    pos.set(this.pos)
    this.rel = rel
    this.pos = pos
  }

  /**
   * Kafka's lookup: the position of the entry with the largest offset ≤ `offset`, or 0
   * (the segment's start) when there is none. Scanning batches from there finds the one
   * holding `offset`, since an entry names a batch that ends at or before it.
   */
  lookup(offset: number): number {
    const target = offset - this.baseOffset
    let lo = 0
    let hi = this.entries - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (this.rel[mid] <= target) {
        found = mid
        lo = mid + 1
      } else hi = mid - 1
    }
    return found < 0 ? 0 : this.pos[found]
  }

  /** Drops every entry whose offset is ≥ `offset` (Kafka's truncateTo). */
  truncateTo(offset: number): void {
    while (this.entries > 0 && this.baseOffset + this.rel[this.entries - 1] >= offset) this.entries--
  }

  /** Entries [from, to) as file bytes. */
  encode(from: number, to: number): Buffer {
    const b = Buffer.allocUnsafe((to - from) * OFFSET_ENTRY_BYTES)
    for (let i = from; i < to; i++) {
      const at = (i - from) * OFFSET_ENTRY_BYTES
      b.writeInt32BE(this.rel[i], at)
      b.writeInt32BE(this.pos[i], at + 4)
    }
    return b
  }

  /**
   * Reads file bytes. The file must hold whole entries that increase in offset and
   * position, every position inside a log of `logBytes` and every offset below
   * `nextOffset`; otherwise the reason, in words (the index is then rebuilt).
   */
  static decode(bytes: Buffer, baseOffset: number, maxEntries: number, logBytes: number, nextOffset: number): OffsetIndex | string {
    if (bytes.length % OFFSET_ENTRY_BYTES !== 0) return `its size ${bytes.length} is not a multiple of ${OFFSET_ENTRY_BYTES}`
    const n = bytes.length / OFFSET_ENTRY_BYTES
    if (n > maxEntries) return `it holds ${n} entries, more than maxIndexBytes allows (${maxEntries})`
    const idx = new OffsetIndex(baseOffset, maxEntries)
    idx.rel = new Int32Array(Math.max(n, Math.min(maxEntries, 64)))
    idx.pos = new Int32Array(idx.rel.length)
    let lastRel = -1
    let lastPos = -1
    for (let i = 0; i < n; i++) {
      const rel = bytes.readInt32BE(i * OFFSET_ENTRY_BYTES)
      const pos = bytes.readInt32BE(i * OFFSET_ENTRY_BYTES + 4)
      if (rel <= lastRel) return `entry ${i} (relative offset ${rel}) does not follow entry ${i - 1} (${lastRel})`
      if (pos <= lastPos || pos >= logBytes) return `entry ${i} has position ${pos}, ${pos >= logBytes ? `past the end of the log (${logBytes} bytes)` : `not after entry ${i - 1} (${lastPos})`}`
      if (baseOffset + rel >= nextOffset) return `entry ${i} names offset ${baseOffset + rel}, not below the segment's end ${nextOffset}`
      idx.rel[i] = rel
      idx.pos[i] = pos
      lastRel = rel
      lastPos = pos
    }
    idx.entries = n
    return idx
  }
}
