// PartitionLog (DESIGN.md §3): segments composed into one log (Kafka's UnifiedLog), with
// the group-commit writer, the high watermark, reads planned as slices, long-polls,
// truncation, retention and the LRU of open segment files. All file I/O goes through
// the Io the log was opened with; directory operations through node:fs.
import fs from 'node:fs'
import type { Socket } from 'node:net'
import path from 'node:path'
import { promisify, types } from 'node:util'
import zlib from 'node:zlib'
import { debug } from '../debug'
import { invalidArgType, outOfRange } from '../errors'
import { storageEvents } from '../metrics'
import { isSocketLike, sendtoModule, UnitSet } from '../sendto-state'
import type { Io } from '../types'
import { recordTooLarge } from '../wal/errors'
import type { DirLock } from '../wal/lock'
import { fsyncDir } from '../wal/recovery'
import { invalidArgValue, logClosed, logCorrupt, logFailed, logReadOnly, offsetOutOfRange, sliceStale, unsupportedCompression } from './errors'
import { CLEAN_SHUTDOWN_NAME } from './files'
import type { LogSettings } from './options'
import {
  BATCH_HEADER_BYTES,
  type BatchHeader,
  type DecodedRecord,
  type RecordInput,
  checkIncoming,
  codecOf,
  computeCrc,
  decodeRecords,
  encodeBatch,
  isControlBatch,
  readHeader,
} from './record-batch'
import { Segment, type SegmentConfig } from './segment'
import type { AppendInfo, LogRecord, LogRecovery, LogSlice, PartitionLog } from './types'
import { type AppendEntry, LogWriter, type WriterOwner } from './writer'

const gunzip = promisify(zlib.gunzip)
const DEFAULT_MAX_BYTES = 1024 * 1024

/** A piece of a slice: whole batches at [position, position + length) of one segment. */
interface Part {
  seg: Segment
  position: number
  length: number
  generation: number
}

class Slice implements LogSlice {
  private released = false

  constructor(
    readonly owner: PartitionLogImpl,
    readonly parts: readonly Part[],
    readonly bytes: number,
    readonly nextOffset: number,
  ) {}

  get isReleased(): boolean {
    return this.released
  }

  /** Cut by truncateTo after it was planned. */
  get stale(): boolean {
    return this.parts.some((p) => p.seg.generation !== p.generation)
  }

  release(): void {
    if (this.released) return
    this.released = true
    for (const p of this.parts) this.owner.unuse(p.seg)
  }
}

interface Waiter {
  offset: number
  settle(value: boolean | Error): void
}

function checkOffsetArg(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  if (!Number.isSafeInteger(value) || value < 0) throw outOfRange(name, `an integer >= 0 and <= ${Number.MAX_SAFE_INTEGER}`, value)
}

function maxBytesOf(opts: unknown): number {
  if (opts === undefined) return DEFAULT_MAX_BYTES
  if (opts === null || typeof opts !== 'object') throw invalidArgType('options', 'of type object', opts)
  const m = (opts as { maxBytes?: unknown }).maxBytes
  if (m === undefined) return DEFAULT_MAX_BYTES
  checkOffsetArg('options.maxBytes', m)
  return m
}

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' })
}

export class PartitionLogImpl implements PartitionLog, WriterOwner {
  private closing: Promise<void> | null = null
  /** Offset and position (in the active segment) up to which batches are readable. */
  private hw: number
  private hwPosition: number
  private readonly waiters = new Set<Waiter>()
  /** sendTo units in flight: close() aborts them (a paused consumer must not hang it). */
  private readonly units = new UnitSet()
  private clock = 0
  readonly writer: LogWriter | null

  constructor(
    readonly io: Io,
    readonly dir: string,
    private readonly settings: LogSettings,
    private readonly cfg: SegmentConfig,
    /** Oldest first; the last is active. Empty only for a read-only look at an empty directory. */
    readonly segments: Segment[],
    readonly recovery: LogRecovery,
    private readonly lock: DirLock | null,
  ) {
    const a = segments[segments.length - 1]
    this.hw = a === undefined ? 0 : a.nextOffset
    this.hwPosition = a === undefined ? 0 : a.size
    for (const s of segments) if (s.materialized) this.touch(s)
    this.writer = settings.readOnly ? null : new LogWriter(this, settings.sync, settings.leaderEpoch)
  }

  get active(): Segment {
    return this.segments[this.segments.length - 1]
  }

  get logStartOffset(): number {
    return this.segments.length === 0 ? 0 : this.segments[0].baseOffset
  }

  get logEndOffset(): number {
    return this.segments.length === 0 ? 0 : this.active.nextOffset
  }

  get highWatermark(): number {
    return this.hw
  }

  // --- writing -------------------------------------------------------------------------

  /** The reason a write-side call cannot proceed, or null. */
  private refuse(method: string): Error | null {
    if (this.closing !== null) return logClosed()
    if (this.writer === null) return logReadOnly(method)
    if (this.writer.failed) return logFailed(this.writer.failure)
    return null
  }

  append(records: Parameters<PartitionLog['append']>[0]): Promise<AppendInfo> {
    const refused = this.refuse('append')
    if (refused) return Promise.reject(refused)
    let entry: Omit<AppendEntry, 'kind' | 'resolve' | 'reject'>
    try {
      entry = encodeAppend(records, this.settings)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.writer!.enqueue(entry)
  }

  appendBatch(recordBatch: Buffer): Promise<AppendInfo> {
    const refused = this.refuse('appendBatch')
    if (refused) return Promise.reject(refused)
    let entry: Omit<AppendEntry, 'kind' | 'resolve' | 'reject'>
    try {
      entry = checkAppendBatch(recordBatch, this.settings)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.writer!.enqueue(entry)
  }

  async flush(): Promise<void> {
    const refused = this.refuse('flush')
    if (refused) throw refused
    const w = this.writer!
    await w.drain()
    if (w.failed) throw logFailed(w.failure)
    await w.syncNow()
    if (w.failed) throw logFailed(w.failure)
    // The active segment's index entries go to its files too (fsynced; they keep their
    // preallocated size), so tools reading the directory see them while the log is open.
    await w.exclusive(() => this.active.flushIndexes(this.io, false))
  }

  truncateTo(offset: number): Promise<void> {
    const refused = this.refuse('truncateTo')
    if (refused) return Promise.reject(refused)
    try {
      checkOffsetArg('offset', offset)
    } catch (err) {
      return Promise.reject(err)
    }
    if (offset < this.logStartOffset) return Promise.reject(offsetOutOfRange('offset', offset, this.logStartOffset, this.logEndOffset))
    return this.writer!.enqueueTruncate(offset)
  }

  // --- WriterOwner -------------------------------------------------------------------

  async roll(): Promise<void> {
    const old = this.active
    await old.flushIndexes(this.io, true)
    await old.file!.syncAll()
    const next = await Segment.create(this.io, this.dir, old.nextOffset, this.cfg)
    await fsyncDir(this.dir)
    this.segments.push(next)
    this.hwPosition = 0
    this.touch(next)
    this.enforceOpenLimit()
    debug('log %s: rolled to %s', this.dir, next.paths.log)
  }

  async truncateNow(offset: number): Promise<void> {
    if (offset >= this.logEndOffset) return
    if (offset < this.logStartOffset) throw offsetOutOfRange('offset', offset, this.logStartOffset, this.logEndOffset)
    const seg = this.segments[this.segmentIndexOf(offset)]
    await this.use(seg)
    let later: Segment[]
    try {
      await seg.openWritable(this.io)
      await seg.truncateTo(this.io, offset)
      // Found again after the awaits: retention may have removed segments in front of it.
      const i = this.segments.indexOf(seg)
      if (i < 0) throw offsetOutOfRange('offset', offset, this.logStartOffset, this.logEndOffset)
      later = this.segments.splice(i + 1)
    } finally {
      // Released only once it is the active segment, which the open-file limit never closes.
      this.unuse(seg)
    }
    for (const s of later) {
      s.generation++
      await this.removeSegment(s)
    }
    if (later.length > 0) await fsyncDir(this.dir)
    this.hw = Math.min(this.hw, seg.nextOffset)
    this.hwPosition = seg.size
    debug('log %s: truncated to offset %d (%d later segment(s) removed)', this.dir, seg.nextOffset, later.length)
  }

  advanceHighWatermark(offset: number, position: number): void {
    this.hw = offset
    this.hwPosition = position
    if (this.waiters.size === 0) return
    for (const w of [...this.waiters]) if (offset > w.offset) w.settle(true)
  }

  counted(appends: number, batches: number, records: number, bytes: number): void {
    storageEvents.logAppends += appends
    storageEvents.logBatches += batches
    storageEvents.logRecords += records
    storageEvents.logBytes += bytes
  }

  // --- segments: lookup, use, LRU, deletion -------------------------------------------

  /** The index of the segment holding `offset` (the last one whose base is ≤ it). */
  private segmentIndexOf(offset: number): number {
    let lo = 0
    let hi = this.segments.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if (this.segments[mid].baseOffset <= offset) lo = mid
      else hi = mid - 1
    }
    return lo
  }

  private touch(seg: Segment): void {
    seg.lastUsed = ++this.clock
  }

  /** Pins `seg` and makes sure its file is open and its indexes loaded. */
  async use(seg: Segment): Promise<void> {
    seg.refs++
    this.touch(seg)
    try {
      const rebuilt = await seg.materialize(this.io, seg === this.active && this.writer !== null, this.writer !== null)
      if (rebuilt.length > 0) debug('log %s: rebuilt %s', this.dir, rebuilt.join(', '))
    } catch (err) {
      this.unuse(seg)
      throw err
    }
    this.enforceOpenLimit()
  }

  unuse(seg: Segment): void {
    if (--seg.refs > 0) return
    if (seg.deleted) {
      void seg.unlink().catch((err: unknown) => debug('log %s: unlinking %s failed: %s', this.dir, seg.paths.log, (err as Error).message))
      return
    }
    this.enforceOpenLimit()
  }

  /** At most maxOpenSegments segments stay open (the active one always); the least recently used go first. */
  private enforceOpenLimit(): void {
    let open = 0
    for (const s of this.segments) if (s.file !== null) open++
    if (open <= this.settings.maxOpenSegments) return
    const active = this.active
    const idle = this.segments.filter((s) => s.file !== null && s !== active && s.refs === 0).sort((a, b) => a.lastUsed - b.lastUsed)
    for (const s of idle) {
      if (open <= this.settings.maxOpenSegments) break
      void s.evict()
      open--
    }
  }

  /** Renames a segment's files to .deleted; unlinks them now, or when its last reader is done. */
  private async removeSegment(seg: Segment): Promise<void> {
    await seg.markDeleted()
    if (seg.refs === 0) await seg.unlink()
  }

  // --- reading ---------------------------------------------------------------------

  /** Where reads of `seg` stop: the high watermark's position in the active segment. */
  private readableEnd(seg: Segment): number {
    return seg === this.active ? this.hwPosition : seg.size
  }

  /**
   * Plans what a fetch of `offset` returns (DESIGN.md §3): the batch holding it, then
   * following batches across segments while they fit in maxBytes, the first one whole
   * even when larger (KIP-74), nothing at or past the high watermark.
   */
  private async plan(offset: number, maxBytes: number): Promise<Slice> {
    if (this.closing !== null) throw logClosed()
    if (offset < this.logStartOffset || offset > this.logEndOffset) throw offsetOutOfRange('offset', offset, this.logStartOffset, this.logEndOffset)
    const parts: Part[] = []
    let total = 0
    let next = offset
    try {
      while (next < this.hw) {
        const seg = this.segments[this.segmentIndexOf(next)]
        // Retention may have deleted the segments after those planned so far: a fetch
        // never skips offsets (the next segment must start where the last batch ended).
        if (parts.length > 0 && seg.baseOffset > next) break
        await this.use(seg)
        let full = false
        try {
          const generation = seg.generation
          const found = await seg.locate(next, this.readableEnd(seg))
          if (found === null) {
            // Below the high watermark every offset is in a batch: this segment lost some
            // (cut short, or the segment after it is gone).
            if (parts.length === 0 && seg !== this.active && seg.generation === generation) {
              throw logCorrupt(seg.paths.log, this.readableEnd(seg), `no batch holds offset ${next}, below the segment's end offset ${seg.nextOffset} (cut short, or a segment after it is missing)`)
            }
            this.unuse(seg)
            break
          }
          const start = found.position
          let pos = start
          let h: BatchHeader | null = found.header
          // baseOffset lies outside the CRC: the batch found must hold `next`, and each one after it follow on.
          if (h.baseOffset > next && next >= seg.baseOffset && seg.generation === generation) {
            throw logCorrupt(seg.paths.log, pos, `the batch here has offsets ${h.baseOffset}..${h.baseOffset + h.lastOffsetDelta}, but offset ${next} was due`)
          }
          while (h !== null) {
            if (h.baseOffset !== next && pos !== start) {
              // Return what follows on; the next read starts at this batch and reports it.
              full = true
              break
            }
            if (total > 0 && total + h.size > maxBytes) {
              full = true
              break
            }
            total += h.size
            pos += h.size
            next = h.baseOffset + h.lastOffsetDelta + 1
            if (total >= maxBytes) {
              full = true
              break
            }
            h = await found.scan.header(pos)
          }
          if (pos === start) {
            // Nothing of this segment fits: it is not part of the slice.
            this.unuse(seg)
            break
          }
          parts.push({ seg, position: start, length: pos - start, generation })
        } catch (err) {
          if (parts.length === 0 || parts[parts.length - 1].seg !== seg) this.unuse(seg)
          throw err
        }
        if (full || seg === this.active) break
      }
    } catch (err) {
      for (const p of parts) this.unuse(p.seg)
      throw err
    }
    return new Slice(this, parts, total, next)
  }

  async slice(offset: number, opts?: { maxBytes?: number }): Promise<LogSlice> {
    checkOffsetArg('offset', offset)
    return this.plan(offset, maxBytesOf(opts))
  }

  /** Reads a slice's bytes into one Buffer (the slice stays pinned; the caller releases it). */
  private async readSlice(s: Slice): Promise<Buffer> {
    if (this.closing !== null) throw logClosed()
    const out = Buffer.allocUnsafe(s.bytes)
    let at = 0
    const reads: Array<Promise<void>> = []
    for (const p of s.parts) {
      const dst = out.subarray(at, at + p.length)
      at += p.length
      const file = p.seg.file
      if (file === null) throw logClosed()
      reads.push(
        file.readAt(dst, p.position).then(({ bytesRead }) => {
          if (bytesRead !== p.length) throw logCorrupt(p.seg.paths.log, p.position + bytesRead, `the segment ended ${p.length - bytesRead} bytes early while reading batches that were written`)
        }),
      )
    }
    const results = await Promise.allSettled(reads)
    // A truncation cut what was planned: whatever the reads found, the slice is stale.
    if (s.stale) throw sliceStale()
    for (const r of results) if (r.status === 'rejected') throw r.reason
    return out
  }

  async read(offset: number, opts?: { maxBytes?: number }): Promise<Buffer> {
    checkOffsetArg('offset', offset)
    const maxBytes = maxBytesOf(opts)
    // A truncation between planning and reading makes the slice stale: plan again.
    for (let attempt = 0; ; attempt++) {
      const s = await this.plan(offset, maxBytes)
      try {
        return await this.readSlice(s)
      } catch (err) {
        if ((err as { code?: string }).code !== 'ERR_OFFSET_OUT_OF_RANGE' || attempt >= 2 || !s.stale) throw err
      } finally {
        s.release()
      }
    }
  }

  async readRecords(offset: number, opts?: { maxBytes?: number }): Promise<LogRecord[]> {
    checkOffsetArg('offset', offset)
    const s = await this.plan(offset, maxBytesOf(opts))
    let bytes: Buffer
    try {
      bytes = await this.readSlice(s)
    } finally {
      s.release()
    }
    const out: LogRecord[] = []
    let at = 0
    for (const p of s.parts) {
      const partStart = at
      const end = at + p.length
      while (at < end) {
        const h = readHeader(bytes, at)
        const where = p.position + (at - partStart)
        const records = await decodeBatch(bytes, at, h, p.seg.paths.log, where)
        for (const r of records) if (r.offset >= offset) out.push(r)
        at += h.size
      }
    }
    return out
  }

  /**
   * The slice's bytes to `socket`, after `prefix`, as one unit (ts/sendto.ts): each part
   * through the segment file's sendTo (zero-copy where it can), inside the unit's lease.
   * The slice stays pinned — its segments kept from retention — until the unit settled.
   */
  async sendTo(socket: Socket, slice: LogSlice, opts?: { prefix?: Buffer }): Promise<{ bytes: number }> {
    const s = slice instanceof Slice ? slice : null
    if (s === null || s.owner !== this) throw invalidArgType('slice', 'a LogSlice from this log', slice)
    if (s.isReleased) throw invalidArgValue('slice', 'was released already; make a new slice')
    if (!isSocketLike(socket)) throw invalidArgType('socket', 'a net.Socket', socket)
    const prefix = opts?.prefix
    if (prefix !== undefined && !Buffer.isBuffer(prefix)) throw invalidArgType('options.prefix', 'a Buffer', prefix)
    try {
      if (this.closing !== null) throw logClosed()
      const before = (): void => {
        // At the unit's turn, before any byte: refusing here leaves the socket alone.
        if (this.closing !== null) throw logClosed()
        if (s.stale) throw sliceStale()
      }
      return await sendtoModule().runUnit(socket, { prefix, before, sets: [this.units] }, async () => {
        for (const p of s.parts) {
          const file = p.seg.file
          if (file === null) throw logClosed()
          const n = await file.sendTo(socket, p.position, p.length)
          if (n !== p.length) throw logCorrupt(p.seg.paths.log, p.position + n, `the segment ended ${p.length - n} bytes early while sending batches that were written`)
          // Cut while sending: the unit fails (the socket is destroyed: the frame is partial).
          if (s.stale) throw sliceStale()
        }
        return { bytes: (prefix?.length ?? 0) + s.bytes }
      })
    } finally {
      s.release()
    }
  }

  waitFor(offset: number, opts?: { timeoutMs?: number; signal?: AbortSignal }): Promise<boolean> {
    try {
      checkOffsetArg('offset', offset)
      if (opts !== undefined && (opts === null || typeof opts !== 'object')) throw invalidArgType('options', 'of type object', opts)
      const timeoutMs = opts?.timeoutMs
      if (timeoutMs !== undefined) {
        if (typeof timeoutMs !== 'number') throw invalidArgType('options.timeoutMs', 'of type number', timeoutMs)
        if (!(timeoutMs >= 0) || timeoutMs > 2_147_483_647) throw outOfRange('options.timeoutMs', 'a number >= 0 and <= 2147483647', timeoutMs)
      }
      const signal = opts?.signal
      if (signal !== undefined && (signal === null || typeof signal !== 'object' || typeof signal.addEventListener !== 'function')) throw invalidArgType('options.signal', 'an AbortSignal', signal)
      // An aborted signal wins, as in Node's own APIs, even when the answer is known.
      if (signal?.aborted) return Promise.reject(abortError(signal))
      if (this.hw > offset) return Promise.resolve(true)
      if (this.closing !== null || timeoutMs === 0) return Promise.resolve(false)
      return new Promise<boolean>((resolve, reject) => {
        const onAbort = () => waiter.settle(abortError(signal!))
        const timer = timeoutMs === undefined ? null : setTimeout(() => waiter.settle(false), timeoutMs)
        const waiter: Waiter = {
          offset,
          settle: (value) => {
            if (!this.waiters.delete(waiter)) return
            if (timer !== null) clearTimeout(timer)
            signal?.removeEventListener('abort', onAbort)
            if (value instanceof Error) reject(value)
            else resolve(value)
          },
        }
        this.waiters.add(waiter)
        signal?.addEventListener('abort', onAbort, { once: true })
      })
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Kafka's offset-for-timestamp: the first record (at or after logStartOffset, below the
   * high watermark) whose timestamp is ≥ `ts`, found through the time index; null when
   * every record is older. For a batch whose codec readRecords does not decode, the
   * batch's base offset and max timestamp stand for its records.
   */
  async offsetForTimestamp(ts: number): Promise<{ offset: number; timestamp: number } | null> {
    if (typeof ts !== 'number') throw invalidArgType('ts', 'of type number', ts)
    if (!Number.isSafeInteger(ts)) throw outOfRange('ts', `an integer >= ${Number.MIN_SAFE_INTEGER} and <= ${Number.MAX_SAFE_INTEGER}`, ts)
    if (this.closing !== null) throw logClosed()
    for (const seg of [...this.segments]) {
      if (seg.baseOffset >= this.hw) break
      await this.use(seg)
      try {
        if (seg.maxTimestamp < ts) continue
        const from = seg.index!.lookup(seg.timeIndex!.lookup(ts))
        const found = await this.searchTimestamp(seg, from, ts)
        if (found !== null) return found
      } finally {
        this.unuse(seg)
      }
    }
    return null
  }

  private async searchTimestamp(seg: Segment, from: number, ts: number): Promise<{ offset: number; timestamp: number } | null> {
    const scan = seg.scanner(this.readableEnd(seg))
    let pos = from
    let h: BatchHeader | null
    while ((h = await scan.header(pos)) !== null) {
      if (h.maxTimestamp >= ts && !isControlBatch(h.attributes)) {
        const codec = codecOf(h.attributes)
        if (codec !== 'none' && codec !== 'gzip') return { offset: Math.max(h.baseOffset, this.logStartOffset), timestamp: h.maxTimestamp }
        const bytes = Buffer.allocUnsafe(h.size)
        const { bytesRead } = await seg.file!.readAt(bytes, pos)
        if (bytesRead !== h.size) throw logCorrupt(seg.paths.log, pos, 'the segment ended inside a batch that was written')
        for (const r of await decodeBatch(bytes, 0, h, seg.paths.log, pos)) {
          if (r.timestamp >= ts && r.offset >= this.logStartOffset) return { offset: r.offset, timestamp: r.timestamp }
        }
      }
      pos += h.size
    }
    return null
  }

  // --- retention -------------------------------------------------------------------

  /**
   * Deletes the oldest segments past retention (DESIGN.md §3): by age, while a segment's
   * largest timestamp is older than now − retentionMs; by size, while the log without the
   * oldest segment is still ≥ retentionBytes. Never the active segment.
   */
  async applyRetention(): Promise<number> {
    if (this.closing !== null) throw logClosed()
    if (this.writer === null) throw logReadOnly('applyRetention')
    const { retentionMs, retentionBytes } = this.settings
    const candidates = this.segments.slice(0, -1)
    let n = 0
    if (retentionMs !== null) {
      const cutoff = Date.now() - retentionMs
      while (n < candidates.length && (await candidates[n].largestTimestamp(this.io)) < cutoff) n++
    }
    if (retentionBytes !== null) {
      let total = 0
      for (const s of this.segments) total += s.size
      for (let i = 0; i < n; i++) total -= candidates[i].size
      while (n < candidates.length && total - candidates[n].size >= retentionBytes) {
        total -= candidates[n].size
        n++
      }
    }
    // Segments may have gone meanwhile (truncateTo): take only those still at the front.
    let k = 0
    while (k < n && this.segments[k] === candidates[k] && this.segments.length - k > 1) k++
    if (k === 0) return 0
    const drop = this.segments.splice(0, k)
    for (const s of drop) await this.removeSegment(s)
    await fsyncDir(this.dir)
    storageEvents.logRetentionDeletions += k
    debug('log %s: retention deleted %d segment(s); logStartOffset is now %d', this.dir, k, this.logStartOffset)
    return k
  }

  // --- close -------------------------------------------------------------------------

  /**
   * Lets pending appends finish, makes what was written durable, trims the active
   * segment's indexes, writes the clean-shutdown marker and releases the directory.
   * Long-polls resolve false; slices not yet read can no longer be.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const w of [...this.waiters]) w.settle(false)
      await this.units.abortAll(logClosed())
      const w = this.writer
      let error: unknown = null
      if (w !== null) {
        await w.drain()
        w.stopTimer()
        if (!w.failed) {
          try {
            await w.syncNow()
            const a = this.active
            await a.flushIndexes(this.io, true)
            await a.file!.syncAll()
            await writeCleanMarker(this.dir)
          } catch (err) {
            error = err
          }
        }
      }
      for (const s of this.segments) await s.evict()
      this.lock?.release()
      if (error !== null) throw error
    })()
    return this.closing
  }
}

/** Decodes one batch's records: CRC checked, gzip inflated, control batches skipped. */
async function decodeBatch(bytes: Buffer, at: number, h: BatchHeader, file: string, position: number): Promise<DecodedRecord[]> {
  if (computeCrc(bytes, at, h.size) !== h.crc) throw logCorrupt(file, position, `CRC mismatch in the batch of offsets ${h.baseOffset}..${h.baseOffset + h.lastOffsetDelta}`)
  if (isControlBatch(h.attributes)) return []
  const codec = codecOf(h.attributes)
  let body: Buffer
  let from: number
  let end: number
  if (codec === 'none') {
    body = bytes
    from = at + BATCH_HEADER_BYTES
    end = at + h.size
  } else if (codec === 'gzip') {
    try {
      body = await gunzip(bytes.subarray(at + BATCH_HEADER_BYTES, at + h.size))
    } catch (err) {
      throw logCorrupt(file, position, `its gzip data does not inflate (${(err as Error).message})`)
    }
    from = 0
    end = body.length
  } else {
    throw unsupportedCompression(codec, file, position)
  }
  const records = decodeRecords(body, from, end, h)
  if (typeof records === 'string') throw logCorrupt(file, position, records)
  return records
}

export async function writeCleanMarker(dir: string): Promise<void> {
  await fs.promises.writeFile(path.join(dir, CLEAN_SHUTDOWN_NAME), '')
  await fsyncDir(dir)
}

// --- append validation and encoding ------------------------------------------------

function optionalBytes(name: string, v: unknown): Uint8Array | null {
  if (v === undefined || v === null) return null
  if (!types.isUint8Array(v)) throw invalidArgType(name, 'an instance of Buffer or Uint8Array, or null', v)
  return v
}

/** Checks append()'s records and encodes them as one batch. */
function encodeAppend(records: unknown, settings: LogSettings): Omit<AppendEntry, 'kind' | 'resolve' | 'reject'> {
  if (!Array.isArray(records)) throw invalidArgType('records', 'an Array of records', records)
  if (records.length === 0) throw invalidArgValue('records', 'must hold at least one record (an empty batch is not a Kafka batch)')
  const now = Date.now()
  const input: RecordInput[] = new Array(records.length)
  for (let i = 0; i < records.length; i++) {
    const r: unknown = records[i]
    if (r === null || typeof r !== 'object') throw invalidArgType(`records[${i}]`, 'of type object', r)
    const o = r as Record<string, unknown>
    // A missing (or undefined) value is the wrong type, not a tombstone: null says that.
    if (o.value === undefined) throw invalidArgType(`records[${i}].value`, 'an instance of Buffer or Uint8Array, or null (null for a tombstone)', o.value)
    const value = optionalBytes(`records[${i}].value`, o.value)
    const key = optionalBytes(`records[${i}].key`, o.key)
    let timestamp = now
    if (o.timestamp !== undefined) {
      if (typeof o.timestamp !== 'number') throw invalidArgType(`records[${i}].timestamp`, 'of type number', o.timestamp)
      if (!Number.isSafeInteger(o.timestamp) || o.timestamp < 0) throw outOfRange(`records[${i}].timestamp`, `an integer >= 0 and <= ${Number.MAX_SAFE_INTEGER}`, o.timestamp)
      timestamp = o.timestamp
    }
    const headers: RecordInput['headers'] = []
    if (o.headers !== undefined) {
      if (!Array.isArray(o.headers)) throw invalidArgType(`records[${i}].headers`, 'an Array of { key, value }', o.headers)
      for (let j = 0; j < o.headers.length; j++) {
        const h: unknown = o.headers[j]
        if (h === null || typeof h !== 'object') throw invalidArgType(`records[${i}].headers[${j}]`, 'of type object', h)
        const hk = (h as { key?: unknown }).key
        if (typeof hk !== 'string') throw invalidArgType(`records[${i}].headers[${j}].key`, 'of type string', hk)
        const hv = (h as { value?: unknown }).value
        if (hv === undefined) throw invalidArgType(`records[${i}].headers[${j}].value`, 'an instance of Buffer or Uint8Array, or null', hv)
        headers.push({ key: hk, value: optionalBytes(`records[${i}].headers[${j}].value`, hv) })
      }
    }
    input[i] = { key, value, timestamp, headers }
  }
  const encoded = encodeBatch(input, settings.leaderEpoch)
  const size = encoded.bytes.length
  if (size > settings.segmentBytes) throw recordTooLarge('the encoded batch', size, settings.segmentBytes, 'segmentBytes')
  return {
    bytes: encoded.bytes,
    batches: [{ at: 0, size, lastOffsetDelta: encoded.recordCount - 1, maxTimestamp: encoded.maxTimestamp }],
    records: encoded.recordCount,
    maxTimestamp: encoded.maxTimestamp,
  }
}

/** Checks a producer's batches (appendBatch); they are copied, so the caller's buffer is never changed. */
function checkAppendBatch(recordBatch: unknown, settings: LogSettings): Omit<AppendEntry, 'kind' | 'resolve' | 'reject'> {
  if (!Buffer.isBuffer(recordBatch)) throw invalidArgType('recordBatch', 'an instance of Buffer', recordBatch)
  if (recordBatch.length === 0) throw invalidArgValue('recordBatch', 'is empty; it must hold at least one RecordBatch v2')
  const found = checkIncoming(recordBatch)
  if (recordBatch.length > settings.segmentBytes) throw recordTooLarge('the record batch', recordBatch.length, settings.segmentBytes, 'segmentBytes')
  let records = 0
  let maxTimestamp = -1
  const batches = found.map(({ at, header }) => {
    records += header.recordCount
    if (header.maxTimestamp > maxTimestamp) maxTimestamp = header.maxTimestamp
    return { at, size: header.size, lastOffsetDelta: header.lastOffsetDelta, maxTimestamp: header.maxTimestamp }
  })
  return { bytes: Buffer.from(recordBatch), batches, records, maxTimestamp }
}
