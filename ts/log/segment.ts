// One segment: a `.log` of RecordBatch v2 bytes with its `.index` and `.timeindex`
// (Kafka's LogSegment). It keeps the bookkeeping Kafka's LogSegment.append keeps (the
// index placement counter, the max timestamp so far and the batch that holds it, the
// first batch's timestamp for time-based rolls), decides when to roll, finds batches by
// offset, and recovers itself (Kafka's LogSegment.recover, with the WAL's stricter rule
// for damage that valid data follows). All file I/O goes through the Io; directory
// operations (rename, unlink) through node:fs.
import fs from 'node:fs'
import { FileWindow } from '../file-window'
import { storageEvents } from '../metrics'
import type { AsyncFile, Io } from '../types'
import { logCorrupt } from './errors'
import { DELETED_SUFFIX, type SegmentPaths, segmentPaths } from './files'
import { OFFSET_ENTRY_BYTES, OffsetIndex } from './offset-index'
import { INT32_MAX } from './options'
import { BATCH_HEADER_BYTES, type BatchHeader, MAGIC_V2, MIN_BATCH_LENGTH, NO_TIMESTAMP, computeCrc, readHeader, readInt64 } from './record-batch'
import { TIME_ENTRY_BYTES, TimeIndex } from './time-index'

export interface SegmentConfig {
  segmentBytes: number
  segmentMs: number
  indexIntervalBytes: number
  maxIndexBytes: number
}

/** Header scans read this much at a time: an index interval's batches in one read. */
const SCAN_CHUNK_BYTES = 16 * 1024
/** Recovery reads segments in pieces of this size. */
export const RECOVERY_CHUNK_BYTES = 1024 * 1024

export function maxEntries(maxIndexBytes: number, entryBytes: number): number {
  return Math.floor(maxIndexBytes / entryBytes)
}

/** Index files are preallocated to maxIndexBytes rounded down to whole entries (Kafka's setLength). */
function preallocatedBytes(maxIndexBytes: number, entryBytes: number): number {
  return maxEntries(maxIndexBytes, entryBytes) * entryBytes
}

function allZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false
  return true
}

/** A batch header checked as Kafka's FileRecords iterator and ensureValid check it. */
export type BatchCheck = { ok: true; header: BatchHeader } | { ok: false; what: string }

/**
 * Checks the batch at `pos` of a recovery window: whole, magic 2, CRC, offsets starting
 * at `expected` and fitting the segment's int32 relative offsets.
 */
export async function checkBatchAt(win: FileWindow, pos: number, expected: number, baseOffset: number): Promise<BatchCheck> {
  const left = win.size - pos
  if (left < BATCH_HEADER_BYTES) {
    const tail = await win.view(pos, left)
    return { ok: false, what: allZero(tail) ? `${left} zero bytes after the last batch` : `a torn batch header (${left} bytes before the end of the segment)` }
  }
  const hb = await win.view(pos, BATCH_HEADER_BYTES)
  if (allZero(hb)) return { ok: false, what: 'zeros where a batch header should be (space written as zeros or never written)' }
  const h = readHeader(hb, 0)
  if (h.batchLength < MIN_BATCH_LENGTH) return { ok: false, what: `batchLength ${h.batchLength}, below the minimum ${MIN_BATCH_LENGTH}` }
  if (h.size > left) return { ok: false, what: `a batch of ${h.size} bytes running past the end of the segment (${left} bytes left): a torn write` }
  if (h.magic !== MAGIC_V2) return { ok: false, what: `magic ${h.magic} where RecordBatch v2 (magic 2) was expected` }
  const crc = computeCrc(await win.view(pos, h.size), 0, h.size)
  if (crc !== h.crc) return { ok: false, what: `CRC mismatch (a torn or corrupt batch; offset ${expected} expected)` }
  const last = h.baseOffset + h.lastOffsetDelta
  if (h.lastOffsetDelta < 0) return { ok: false, what: `lastOffsetDelta ${h.lastOffsetDelta} is negative` }
  if (h.baseOffset !== expected) return { ok: false, what: `a batch with offsets ${h.baseOffset}..${last} where offset ${expected} was expected` }
  if (last - baseOffset > INT32_MAX) return { ok: false, what: `offset ${last} does not fit the segment's int32 relative offsets` }
  return { ok: true, header: h }
}

/** The first valid batch (magic 2, CRC) at or after `from` with baseOffset ≥ `minBase`, or null. */
export async function scanForValidBatch(win: FileWindow, from: number, minBase: number): Promise<{ position: number; header: BatchHeader } | null> {
  const size = win.size
  let q = from
  while (q + BATCH_HEADER_BYTES <= size) {
    const chunk = await win.view(q, Math.min(4 * RECOVERY_CHUNK_BYTES, size - q))
    const n = chunk.length
    const later: number[] = []
    let j = 0
    for (; j + BATCH_HEADER_BYTES <= n; j++) {
      if (chunk[j + 16] !== MAGIC_V2) continue
      const len = chunk.readInt32BE(j + 8)
      if (len < MIN_BATCH_LENGTH || q + j + 12 + len > size) continue
      const lod = chunk.readInt32BE(j + 23)
      if (lod < 0 || lod + 1 !== chunk.readInt32BE(j + 57)) continue
      if (readInt64(chunk, j) < minBase) continue
      if (j + 12 + len <= n) {
        if (computeCrc(chunk, j, 12 + len) === chunk.readUInt32BE(j + 17)) return { position: q + j, header: readHeader(chunk, j) }
      } else later.push(q + j)
    }
    // Candidates reaching past this chunk are checked with reads of their own (rare).
    for (const at of later) {
      const hb = await win.view(at, BATCH_HEADER_BYTES)
      const h = readHeader(hb, 0)
      const whole = await win.view(at, h.size)
      if (whole.length === h.size && computeCrc(whole, 0, h.size) === h.crc) return { position: at, header: h }
    }
    if (j === 0) break
    q += j
  }
  return null
}

/** What walking a segment's batches from its start found (Kafka's recover loop). */
interface Walk {
  validBytes: number
  nextOffset: number
  index: OffsetIndex
  timeIndex: TimeIndex
  maxTimestamp: number
  offsetOfMaxTimestamp: number
  firstBatchMaxTimestamp: number | null
  bad: { position: number; what: string } | null
}

async function walkBatches(win: FileWindow, baseOffset: number, cfg: SegmentConfig): Promise<Walk> {
  const index = new OffsetIndex(baseOffset, maxEntries(cfg.maxIndexBytes, OFFSET_ENTRY_BYTES))
  const timeIndex = new TimeIndex(baseOffset, maxEntries(cfg.maxIndexBytes, TIME_ENTRY_BYTES))
  let valid = 0
  let expected = baseOffset
  let lastIndexEntry = 0
  let maxTimestamp = NO_TIMESTAMP
  let offsetOfMaxTimestamp = baseOffset
  let first: number | null = null
  let bad: Walk['bad'] = null
  while (valid < win.size) {
    const c = await checkBatchAt(win, valid, expected, baseOffset)
    if (!c.ok) {
      bad = { position: valid, what: c.what }
      break
    }
    const h = c.header
    const last = h.baseOffset + h.lastOffsetDelta
    if (valid === 0) first = h.maxTimestamp
    if (h.maxTimestamp > maxTimestamp) {
      maxTimestamp = h.maxTimestamp
      offsetOfMaxTimestamp = last
    }
    // Kafka's placement rule, as its recover applies it: bytes since the start of the
    // last indexed batch. (A segment written with a larger maxIndexBytes than this log
    // is opened with simply gets fewer entries once the index is full.)
    if (valid - lastIndexEntry > cfg.indexIntervalBytes && !index.isFull && !timeIndex.isFull) {
      index.append(last, valid)
      timeIndex.maybeAppend(maxTimestamp, offsetOfMaxTimestamp)
      lastIndexEntry = valid
    }
    valid += h.size
    expected = last + 1
  }
  // A normally closed segment ends with its largest timestamp in the time index.
  if (timeIndex.entries < timeIndex.maxEntries) timeIndex.maybeAppend(maxTimestamp, offsetOfMaxTimestamp, true)
  return { validBytes: valid, nextOffset: expected, index, timeIndex, maxTimestamp, offsetOfMaxTimestamp, firstBatchMaxTimestamp: first, bad }
}

/** Reads a whole (small) file through the Io — or its `.deleted` name — or null when neither exists. */
async function readWhole(io: Io, file: string): Promise<Buffer | null> {
  let f: AsyncFile
  try {
    f = await io.open(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    try {
      f = await io.open(file + DELETED_SUFFIX)
    } catch (err2) {
      if ((err2 as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw err2
    }
  }
  try {
    const size = await f.size()
    const buf = Buffer.allocUnsafe(size)
    const { bytesRead } = await f.readAt(buf, 0)
    return buf.subarray(0, bytesRead)
  } finally {
    await f.close().catch(() => {})
  }
}

/** Reads headers of consecutive batches below `limit` (a segment's readable end). */
export class HeaderScan {
  private readonly win: FileWindow
  /** The size of the last batch read (0 before any). */
  private lastSize = 0

  constructor(
    file: AsyncFile,
    readonly limit: number,
    private readonly path: string,
  ) {
    this.win = new FileWindow(file, limit, SCAN_CHUNK_BYTES)
  }

  /** The header of the batch at `pos`, or null at the limit. Data below the limit that is not a batch is ERR_LOG_CORRUPT. */
  async header(pos: number): Promise<BatchHeader | null> {
    if (pos >= this.limit) return null
    if (pos + BATCH_HEADER_BYTES > this.limit) throw logCorrupt(this.path, pos, `a batch header runs past the end of the readable log (${this.limit} bytes)`)
    // Batches as large as a chunk put each header in a read of its own: reading a whole
    // chunk there would copy ~16 KiB per header only to skip it (a fetch of 1 MiB of
    // 100 KiB batches copied 160 KiB to plan itself).
    const readAhead = this.lastSize >= SCAN_CHUNK_BYTES ? BATCH_HEADER_BYTES : SCAN_CHUNK_BYTES
    const h = readHeader(await this.win.view(pos, BATCH_HEADER_BYTES, readAhead), 0)
    this.lastSize = h.size
    if (h.magic !== MAGIC_V2 || h.batchLength < MIN_BATCH_LENGTH || pos + h.size > this.limit) {
      throw logCorrupt(this.path, pos, `not a whole RecordBatch v2 (magic ${h.magic}, batchLength ${h.batchLength}) where one was written`)
    }
    return h
  }
}

export interface Located {
  position: number
  header: BatchHeader
  scan: HeaderScan
}

export class Segment {
  readonly paths: SegmentPaths
  /** Bytes of whole batches in the .log. */
  size: number
  /** One past the last offset in it. */
  nextOffset: number
  /** In memory while materialized (the active segment always is). */
  index: OffsetIndex | null = null
  timeIndex: TimeIndex | null = null
  /** Index entries already in the files. */
  private indexFlushed = 0
  private timeFlushed = 0
  /** The largest batch max-timestamp and the last offset of the batch holding it (maxTimestampKnown: loaded). */
  maxTimestamp = NO_TIMESTAMP
  offsetOfMaxTimestamp: number
  maxTimestampKnown = false
  /** The first batch's max timestamp (Kafka's rollingBasedTimestamp); null when empty or not read. */
  firstBatchMaxTimestamp: number | null = null
  createdMs = Date.now()
  bytesSinceLastIndexEntry = 0
  /** The .log, open while materialized (read-write for the active segment). */
  file: AsyncFile | null = null
  private writable = false
  private opening: Promise<void> | null = null
  /** Reads in flight and slices that pin this segment. */
  refs = 0
  /** Renamed to .deleted; unlinked when refs reaches 0. */
  deleted = false
  /** Bumped when truncateTo cuts this segment: slices made before are stale. */
  generation = 0
  /** LRU clock. */
  lastUsed = 0

  constructor(
    dir: string,
    readonly baseOffset: number,
    size: number,
    nextOffset: number,
    private readonly cfg: SegmentConfig,
  ) {
    this.paths = segmentPaths(dir, baseOffset)
    this.size = size
    this.nextOffset = nextOffset
    this.offsetOfMaxTimestamp = baseOffset
  }

  get materialized(): boolean {
    return this.file !== null && this.index !== null
  }

  /** Creates the three files of a new, empty segment (index files preallocated); the caller fsyncs the directory. */
  static async create(io: Io, dir: string, baseOffset: number, cfg: SegmentConfig): Promise<Segment> {
    const s = new Segment(dir, baseOffset, 0, baseOffset, cfg)
    s.index = new OffsetIndex(baseOffset, maxEntries(cfg.maxIndexBytes, OFFSET_ENTRY_BYTES))
    s.timeIndex = new TimeIndex(baseOffset, maxEntries(cfg.maxIndexBytes, TIME_ENTRY_BYTES))
    s.maxTimestampKnown = true
    for (const [file, entry] of [
      [s.paths.index, OFFSET_ENTRY_BYTES],
      [s.paths.timeIndex, TIME_ENTRY_BYTES],
    ] as const) {
      const f = await io.create(file)
      try {
        await f.truncate(preallocatedBytes(cfg.maxIndexBytes, entry))
      } finally {
        await f.close()
      }
    }
    s.setFile(await io.create(s.paths.log), true)
    return s
  }

  private setFile(f: AsyncFile | null, writable: boolean): void {
    if (this.file === null && f !== null) storageEvents.logOpenSegmentFiles++
    if (this.file !== null && f === null) storageEvents.logOpenSegmentFiles--
    this.file = f
    this.writable = writable
  }

  /** Opens the .log (read-write when `writable`) if it is not open. */
  async open(io: Io, writable: boolean): Promise<void> {
    if (this.file !== null) return
    this.opening ??= (async () => {
      try {
        // Retention may rename it to .deleted while a slice holds it: either name will do.
        const names = this.deleted ? [this.paths.log + DELETED_SUFFIX, this.paths.log] : [this.paths.log, this.paths.log + DELETED_SUFFIX]
        for (let i = 0; ; i++) {
          try {
            this.setFile(writable ? await io.openRw(names[i]) : await io.open(names[i]), writable)
            return
          } catch (err) {
            if (i === names.length - 1 || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
          }
        }
      } finally {
        this.opening = null
      }
    })()
    await this.opening
  }

  /**
   * Makes the open .log read-write (a segment that becomes active again after
   * truncateTo). Reads in flight on the old descriptor finish before it closes.
   */
  async openWritable(io: Io): Promise<void> {
    if (this.file !== null && this.writable) return
    const old = this.file
    const rw = await io.openRw(this.paths.log)
    this.file = rw
    this.writable = true
    if (old === null) storageEvents.logOpenSegmentFiles++
    else await old.close().catch(() => {})
  }

  /** A header scanner over this segment's batches below `limit`. */
  scanner(limit: number): HeaderScan {
    return new HeaderScan(this.file!, limit, this.paths.log)
  }

  /**
   * Opens the .log and loads both indexes. An index that is missing or fails its checks
   * is rebuilt from the .log (and rewritten when `repair`); its path is returned then.
   */
  async materialize(io: Io, writable: boolean, repair: boolean, forceRebuild = false): Promise<string[]> {
    await this.open(io, writable)
    // A segment retention is deleting is read as it is; nothing is written for it.
    if (this.deleted) repair = false
    if (forceRebuild) {
      await this.rebuildIndexes(io, repair)
      return [this.paths.index, this.paths.timeIndex]
    }
    if (this.index !== null) return []
    const rebuilt: string[] = []
    const indexBytes = await readWhole(io, this.paths.index)
    const timeBytes = await readWhole(io, this.paths.timeIndex)
    const index = indexBytes === null ? 'the file is missing' : OffsetIndex.decode(indexBytes, this.baseOffset, maxEntries(this.cfg.maxIndexBytes, OFFSET_ENTRY_BYTES), this.size, this.nextOffset)
    const time = timeBytes === null ? 'the file is missing' : TimeIndex.decode(timeBytes, this.baseOffset, maxEntries(this.cfg.maxIndexBytes, TIME_ENTRY_BYTES), this.nextOffset)
    if (typeof index === 'string' || typeof time === 'string') {
      await this.rebuildIndexes(io, repair)
      if (typeof index === 'string') rebuilt.push(this.paths.index)
      if (typeof time === 'string') rebuilt.push(this.paths.timeIndex)
      return rebuilt
    }
    this.index = index
    this.timeIndex = time
    this.indexFlushed = index.entries
    this.timeFlushed = time.entries
    if (!this.maxTimestampKnown) {
      this.maxTimestamp = time.lastTimestamp
      this.offsetOfMaxTimestamp = time.lastOffset
      this.maxTimestampKnown = true
    }
    return rebuilt
  }

  /** Rebuilds both indexes of a complete (non-active) segment from its batches. */
  private async rebuildIndexes(io: Io, repair: boolean): Promise<void> {
    const walk = await walkBatches(new FileWindow(this.file!, this.size, RECOVERY_CHUNK_BYTES), this.baseOffset, this.cfg)
    if (walk.bad !== null || walk.nextOffset !== this.nextOffset) {
      const what = walk.bad ? walk.bad.what : `its batches end at offset ${walk.nextOffset - 1}, the next segment starts at ${this.nextOffset}`
      throw logCorrupt(this.paths.log, walk.bad ? walk.bad.position : walk.validBytes, `${what} (found while rebuilding its index)`)
    }
    this.adopt(walk)
    this.indexFlushed = 0
    this.timeFlushed = 0
    if (repair) {
      await this.writeIndexFile(io, this.paths.index, this.index!.encode(0, this.index!.entries), 0, true)
      await this.writeIndexFile(io, this.paths.timeIndex, this.timeIndex!.encode(0, this.timeIndex!.entries), 0, true)
      this.indexFlushed = this.index!.entries
      this.timeFlushed = this.timeIndex!.entries
    }
  }

  private adopt(walk: Walk): void {
    this.index = walk.index
    this.timeIndex = walk.timeIndex
    this.maxTimestamp = walk.maxTimestamp
    this.offsetOfMaxTimestamp = walk.offsetOfMaxTimestamp
    this.maxTimestampKnown = true
    this.firstBatchMaxTimestamp = walk.firstBatchMaxTimestamp
  }

  /**
   * The active segment at open when the last close left its marker: indexes loaded (and
   * checked), the end found by scanning from the last index entry, the first batch's
   * timestamp read. Kafka restarts the index placement counter at 0 here.
   */
  async loadActive(io: Io, writable: boolean, repair: boolean): Promise<string[]> {
    await this.open(io, writable)
    const fileSize = await this.file!.size()
    this.size = fileSize
    // The end: scan batches after the last index entry (offset unknown until then).
    const indexBytes = await readWhole(io, this.paths.index)
    const trial = indexBytes === null ? null : OffsetIndex.decode(indexBytes, this.baseOffset, maxEntries(this.cfg.maxIndexBytes, OFFSET_ENTRY_BYTES), fileSize, Number.MAX_SAFE_INTEGER)
    const scan = new HeaderScan(this.file!, fileSize, this.paths.log)
    const lastEntry = trial !== null && typeof trial !== 'string' && trial.entries > 0 ? trial.entries - 1 : -1
    let pos = lastEntry >= 0 ? (trial as OffsetIndex).positionAt(lastEntry) : 0
    let next = this.baseOffset
    // baseOffset lies outside the CRC: the scanned batches must follow on from the index
    // entry (or the segment's base), else the end would be computed from damage.
    let expectedLast = lastEntry >= 0 ? (trial as OffsetIndex).offsetAt(lastEntry) : null
    let h: BatchHeader | null
    while ((h = await scan.header(pos)) !== null) {
      const last = h.baseOffset + h.lastOffsetDelta
      if (expectedLast !== null ? last !== expectedLast : h.baseOffset !== next) {
        throw logCorrupt(this.paths.log, pos, `a batch with offsets ${h.baseOffset}..${last} where ${expectedLast !== null ? `the index names offset ${expectedLast}` : `offset ${next} was due`}`)
      }
      expectedLast = null
      next = last + 1
      pos += h.size
    }
    this.nextOffset = next
    const rebuilt = await this.materialize(io, writable, repair)
    const first = await scan.header(0)
    this.firstBatchMaxTimestamp = first === null ? null : first.maxTimestamp
    return rebuilt
  }

  /**
   * Recovery of the active segment (no clean-shutdown marker): every batch checked, the
   * indexes rebuilt. A torn or corrupt tail — nothing valid after it — is cut off; a bad
   * spot with a valid batch after it would drop acknowledged data: ERR_LOG_CORRUPT.
   */
  async recover(io: Io, writable: boolean, repair: boolean): Promise<{ truncatedBytes: number; reason: string | null }> {
    await this.open(io, writable)
    const fileSize = await this.file!.size()
    const win = new FileWindow(this.file!, fileSize, RECOVERY_CHUNK_BYTES)
    const walk = await walkBatches(win, this.baseOffset, this.cfg)
    let reason: string | null = null
    if (walk.bad !== null) {
      const after = await scanForValidBatch(win, walk.bad.position + 1, walk.nextOffset)
      if (after !== null) {
        const h = after.header
        throw logCorrupt(this.paths.log, walk.bad.position, `${walk.bad.what}; a valid batch (offsets ${h.baseOffset}..${h.baseOffset + h.lastOffsetDelta}) at position ${after.position} follows it, so this is not a torn tail`)
      }
      reason = `${walk.bad.what} at position ${walk.bad.position}`
    }
    this.adopt(walk)
    this.size = walk.validBytes
    this.nextOffset = walk.nextOffset
    this.indexFlushed = 0
    this.timeFlushed = 0
    if (repair) {
      if (walk.validBytes < fileSize) {
        await this.file!.truncate(walk.validBytes)
        await this.file!.syncAll()
      }
      await this.writeIndexFile(io, this.paths.index, this.index!.encode(0, this.index!.entries), 0, true)
      await this.writeIndexFile(io, this.paths.timeIndex, this.timeIndex!.encode(0, this.timeIndex!.entries), 0, true)
      this.indexFlushed = this.index!.entries
      this.timeFlushed = this.timeIndex!.entries
    }
    return { truncatedBytes: fileSize - walk.validBytes, reason }
  }

  /**
   * The sanity check of an older segment at an unclean open (DESIGN.md §5): each index's
   * size a multiple of its entry, its last entry inside the segment. The reason it fails,
   * or null.
   */
  async sanityCheck(io: Io): Promise<string | null> {
    const check = async (file: string, entry: number, last: (b: Buffer) => string | null): Promise<string | null> => {
      let f: AsyncFile
      try {
        f = await io.open(file)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return `${file} is missing`
        throw err
      }
      try {
        const size = await f.size()
        if (size % entry !== 0) return `${file}: size ${size} is not a multiple of ${entry}`
        if (size === 0) return null
        const b = Buffer.alloc(entry)
        await f.readAt(b, size - entry)
        const problem = last(b)
        return problem === null ? null : `${file}: ${problem}`
      } finally {
        await f.close().catch(() => {})
      }
    }
    return (
      (await check(this.paths.index, OFFSET_ENTRY_BYTES, (b) => {
        const rel = b.readInt32BE(0)
        const pos = b.readInt32BE(4)
        if (rel < 0 || this.baseOffset + rel >= this.nextOffset) return `last entry names offset ${this.baseOffset + rel}, outside the segment (${this.baseOffset}..${this.nextOffset - 1})`
        if (pos < 0 || pos >= this.size) return `last entry has position ${pos}, outside the segment (${this.size} bytes)`
        return null
      })) ??
      (await check(this.paths.timeIndex, TIME_ENTRY_BYTES, (b) => {
        const rel = b.readInt32BE(8)
        if (rel < 0 || this.baseOffset + rel >= this.nextOffset) return `last entry names offset ${this.baseOffset + rel}, outside the segment (${this.baseOffset}..${this.nextOffset - 1})`
        return null
      }))
    )
  }

  /** Kafka's LogSegment.shouldRoll for an incoming batch of `size` bytes. */
  shouldRoll(size: number, maxTimestamp: number, lastOffset: number, nowMs: number): boolean {
    return (
      this.size > this.cfg.segmentBytes - size ||
      (this.size > 0 && this.timeWaitedForRoll(nowMs, maxTimestamp) > this.cfg.segmentMs) ||
      this.index!.isFull ||
      this.timeIndex!.isFull ||
      lastOffset - this.baseOffset > INT32_MAX
    )
  }

  /** From the first batch's timestamp when it has one, else the wall clock since the segment was made. */
  private timeWaitedForRoll(nowMs: number, maxTimestamp: number): number {
    const first = this.firstBatchMaxTimestamp
    return first !== null && first >= 0 ? maxTimestamp - first : nowMs - this.createdMs
  }

  /**
   * Kafka's LogSegment.append bookkeeping for one batch written at `position`: the max
   * timestamp so far, then an index entry when more than indexIntervalBytes were appended
   * since the last one (the counter then restarts and counts this batch).
   */
  noteAppend(position: number, size: number, lastOffset: number, maxTimestamp: number): void {
    if (position === 0) this.firstBatchMaxTimestamp = maxTimestamp
    if (maxTimestamp > this.maxTimestamp) {
      this.maxTimestamp = maxTimestamp
      this.offsetOfMaxTimestamp = lastOffset
    }
    // One appendBatch of many batches can fill an index before its last batch: those get
    // no entry (as recovery's walk places them), and the next append rolls.
    if (this.bytesSinceLastIndexEntry > this.cfg.indexIntervalBytes && !this.index!.isFull && !this.timeIndex!.isFull) {
      this.index!.append(lastOffset, position)
      this.timeIndex!.maybeAppend(this.maxTimestamp, this.offsetOfMaxTimestamp)
      this.bytesSinceLastIndexEntry = 0
    }
    this.bytesSinceLastIndexEntry += size
    this.size = position + size
    this.nextOffset = lastOffset + 1
  }

  private async writeIndexFile(io: Io, file: string, bytes: Buffer, at: number, trim: boolean): Promise<void> {
    const f = await io.openAppend(file)
    try {
      if (bytes.length > 0) await f.writeAt(bytes, at)
      if (trim) await f.truncate(at + bytes.length)
      await f.syncAll()
    } finally {
      await f.close()
    }
  }

  /**
   * Writes the index entries not yet in the files. `final` (roll, close): the time index
   * gets the segment's largest timestamp first, and both files are trimmed to their
   * entries; otherwise they keep their preallocated size. Both are fsynced.
   */
  async flushIndexes(io: Io, final: boolean): Promise<void> {
    const index = this.index!
    const time = this.timeIndex!
    if (final && time.entries < time.maxEntries) time.maybeAppend(this.maxTimestamp, this.offsetOfMaxTimestamp, true)
    await this.writeIndexFile(io, this.paths.index, index.encode(this.indexFlushed, index.entries), this.indexFlushed * OFFSET_ENTRY_BYTES, final)
    this.indexFlushed = index.entries
    await this.writeIndexFile(io, this.paths.timeIndex, time.encode(this.timeFlushed, time.entries), this.timeFlushed * TIME_ENTRY_BYTES, final)
    this.timeFlushed = time.entries
  }

  /** The active segment's index files at their preallocated size again (Kafka resizes them at load). */
  async preallocateIndexes(io: Io): Promise<void> {
    for (const [file, entry] of [
      [this.paths.index, OFFSET_ENTRY_BYTES],
      [this.paths.timeIndex, TIME_ENTRY_BYTES],
    ] as const) {
      const f = await io.openAppend(file)
      try {
        const want = preallocatedBytes(this.cfg.maxIndexBytes, entry)
        if ((await f.size()) < want) await f.truncate(want)
      } finally {
        await f.close()
      }
    }
  }

  /**
   * Finds the batch holding `offset` (or the first after it): the index gives where to
   * start, a header scan below `limit` the rest. Null when no batch below `limit` ends at
   * or after `offset`.
   */
  async locate(offset: number, limit: number): Promise<Located | null> {
    const scan = new HeaderScan(this.file!, limit, this.paths.log)
    let pos = offset <= this.baseOffset ? 0 : this.index!.lookup(offset)
    let h: BatchHeader | null
    while ((h = await scan.header(pos)) !== null) {
      if (h.baseOffset + h.lastOffsetDelta >= offset) return { position: pos, header: h, scan }
      pos += h.size
    }
    return null
  }

  /**
   * Drops every batch that ends at or after `offset` (the one holding `offset` included,
   * so batches stay whole): the .log is cut (and fsynced), index entries for cut batches
   * dropped, the bookkeeping recomputed from what stays. Returns the new next offset.
   */
  async truncateTo(io: Io, offset: number): Promise<number> {
    const found = await this.locate(offset, this.size)
    if (found === null) return this.nextOffset
    const cut = found.position
    const newNext = found.header.baseOffset
    await this.file!.truncate(cut)
    await this.file!.syncAll()
    this.generation++
    this.index!.truncateTo(newNext)
    this.timeIndex!.truncateTo(newNext)
    this.indexFlushed = Math.min(this.indexFlushed, this.index!.entries)
    this.timeFlushed = Math.min(this.timeFlushed, this.timeIndex!.entries)
    for (const [file, entries, entry] of [
      [this.paths.index, this.indexFlushed, OFFSET_ENTRY_BYTES],
      [this.paths.timeIndex, this.timeFlushed, TIME_ENTRY_BYTES],
    ] as const) {
      const f = await io.openAppend(file)
      try {
        // Entries past the cut go; the file keeps its preallocated size (zeros after).
        await f.truncate(entries * entry)
        await f.truncate(preallocatedBytes(this.cfg.maxIndexBytes, entry))
        await f.syncAll()
      } finally {
        await f.close()
      }
    }
    // What stays: its largest timestamp and first batch, found by a header scan.
    this.size = cut
    this.nextOffset = newNext
    this.maxTimestamp = NO_TIMESTAMP
    this.offsetOfMaxTimestamp = this.baseOffset
    this.firstBatchMaxTimestamp = null
    const scan = new HeaderScan(this.file!, cut, this.paths.log)
    let pos = 0
    let h: BatchHeader | null
    while ((h = await scan.header(pos)) !== null) {
      if (pos === 0) this.firstBatchMaxTimestamp = h.maxTimestamp
      if (h.maxTimestamp > this.maxTimestamp) {
        this.maxTimestamp = h.maxTimestamp
        this.offsetOfMaxTimestamp = h.baseOffset + h.lastOffsetDelta
      }
      pos += h.size
    }
    if (cut === 0) this.createdMs = Date.now()
    this.bytesSinceLastIndexEntry = 0
    return newNext
  }

  /**
   * The segment's largest timestamp for retention (Kafka's largestTimestamp): the time
   * index's last entry, or the .log's modification time when no batch has a timestamp.
   */
  async largestTimestamp(io: Io): Promise<number> {
    if (!this.maxTimestampKnown) {
      const f = await io.open(this.paths.timeIndex).catch(() => null)
      if (f !== null) {
        try {
          const size = await f.size()
          const n = Math.floor(size / TIME_ENTRY_BYTES)
          if (n > 0) {
            const b = Buffer.alloc(TIME_ENTRY_BYTES)
            await f.readAt(b, (n - 1) * TIME_ENTRY_BYTES)
            this.maxTimestamp = readInt64(b, 0)
            this.offsetOfMaxTimestamp = this.baseOffset + b.readInt32BE(8)
          }
          this.maxTimestampKnown = true
        } finally {
          await f.close().catch(() => {})
        }
      }
    }
    if (this.maxTimestamp >= 0) return this.maxTimestamp
    return (await fs.promises.stat(this.deleted ? this.paths.log + DELETED_SUFFIX : this.paths.log)).mtimeMs
  }

  /** Closes the .log and forgets the indexes (they are reloaded on next use). */
  async evict(): Promise<void> {
    const f = this.file
    this.setFile(null, false)
    this.index = null
    this.timeIndex = null
    await f?.close().catch(() => {})
  }

  /** Retention: renames the three files to `*.deleted` (Kafka's suffix) before they go. */
  async markDeleted(): Promise<void> {
    this.deleted = true
    for (const p of [this.paths.log, this.paths.index, this.paths.timeIndex]) {
      await fs.promises.rename(p, p + DELETED_SUFFIX).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err
      })
    }
  }

  /** Closes and unlinks the (renamed) files. */
  async unlink(): Promise<void> {
    await this.evict()
    for (const p of [this.paths.log, this.paths.index, this.paths.timeIndex]) await fs.promises.rm(p + DELETED_SUFFIX, { force: true })
  }
}
