// Reading a partition log directory without changing it, for `streamline-io log dump`
// and `log verify` (like Kafka's DumpLogSegments). Batches are checked with the same
// function recovery uses (checkBatchAt); the verdict starts from a readOnly openLog, so
// verify says what opening the log would do.
import fs from 'node:fs'
import path from 'node:path'
import { FileWindow, withFile } from '../file-window'
import type { Io } from '../types'
import { CLEAN_SHUTDOWN_NAME, listSegments, segmentPaths } from './files'
import { openLog } from './index'
import { OFFSET_ENTRY_BYTES } from './offset-index'
import {
  BATCH_HEADER_BYTES,
  MAGIC_V2,
  MIN_BATCH_LENGTH,
  codecOf,
  computeCrc,
  isControlBatch,
  isLogAppendTime,
  isTransactional,
  readHeader,
  readInt64,
} from './record-batch'
import { RECOVERY_CHUNK_BYTES, checkBatchAt, scanForValidBatch } from './segment'
import { TIME_ENTRY_BYTES } from './time-index'

export interface InspectedBatch {
  file: string
  position: number
  baseOffset: number
  lastOffset: number
  count: number
  size: number
  baseTimestamp: number
  maxTimestamp: number
  timestampType: 'CreateTime' | 'LogAppendTime'
  codec: string
  crc: number
  crcOk: boolean
  leaderEpoch: number
  producerId: number
  producerEpoch: number
  baseSequence: number
  transactional: boolean
  control: boolean
}

export interface SegmentEnd {
  file: string
  baseOffset: number
  batches: number
  /** Where the walk stopped and why ('end of file' when it reached it). */
  position: number
  what: string
  /** Bad spots the walk resumed after (a valid batch further on). */
  badSpots: Array<{ position: number; what: string; resumedAt: number }>
}

/**
 * Walks every batch of one segment file, emitting what its header says (and whether its
 * CRC holds). Past a spot that is not a whole batch it resumes at the next valid batch,
 * as Kafka's dump goes on; the bad spots are reported.
 */
export async function walkSegmentFile(io: Io, logPath: string, baseOffset: number, emit: (b: InspectedBatch) => void): Promise<SegmentEnd> {
  const file = path.basename(logPath)
  return withFile(io, logPath, async (f, size) => {
    const win = new FileWindow(f, size, RECOVERY_CHUNK_BYTES)
    let pos = 0
    let batches = 0
    const badSpots: SegmentEnd['badSpots'] = []
    for (;;) {
      if (pos >= size) return { file, baseOffset, batches, position: pos, what: 'end of file', badSpots }
      let what: string
      if (size - pos < BATCH_HEADER_BYTES) what = `${size - pos} bytes after the last batch, fewer than a batch header`
      else {
        const h = readHeader(await win.view(pos, BATCH_HEADER_BYTES), 0)
        if (h.batchLength >= MIN_BATCH_LENGTH && h.magic === MAGIC_V2 && pos + h.size <= size) {
          const crcOk = computeCrc(await win.view(pos, h.size), 0, h.size) === h.crc
          emit({
            file,
            position: pos,
            baseOffset: h.baseOffset,
            lastOffset: h.baseOffset + h.lastOffsetDelta,
            count: h.recordCount,
            size: h.size,
            baseTimestamp: h.baseTimestamp,
            maxTimestamp: h.maxTimestamp,
            timestampType: isLogAppendTime(h.attributes) ? 'LogAppendTime' : 'CreateTime',
            codec: codecOf(h.attributes),
            crc: h.crc,
            crcOk,
            leaderEpoch: h.leaderEpoch,
            producerId: h.producerId,
            producerEpoch: h.producerEpoch,
            baseSequence: h.baseSequence,
            transactional: isTransactional(h.attributes),
            control: isControlBatch(h.attributes),
          })
          batches++
          pos += h.size
          continue
        }
        what = h.magic !== MAGIC_V2 ? `magic ${h.magic} where RecordBatch v2 was expected` : h.batchLength < MIN_BATCH_LENGTH ? `batchLength ${h.batchLength}, below ${MIN_BATCH_LENGTH}` : `a batch of ${h.size} bytes running past the end of the file`
      }
      const found = await scanForValidBatch(win, pos + 1, Number.MIN_SAFE_INTEGER)
      if (found === null) return { file, baseOffset, batches, position: pos, what, badSpots }
      badSpots.push({ position: pos, what, resumedAt: found.position })
      pos = found.position
    }
  })
}

export interface IndexEntries {
  offsets: Array<{ offset: number; position: number }>
  times: Array<{ timestamp: number; offset: number }>
  /** Sizes of the two files (null: missing). */
  indexBytes: number | null
  timeIndexBytes: number | null
  /** Zero entries at the end that were left out (`unwrittenTail`): preallocated space. */
  unwrittenIndexEntries: number
  unwrittenTimeEntries: number
}

/** Entries of `b` up to its last non-zero one: what follows is preallocated space never written. */
function writtenBytes(b: Buffer, entry: number): number {
  let end = b.length - (b.length % entry)
  while (end >= entry && b.subarray(end - entry, end).every((x) => x === 0)) end -= entry
  return end
}

async function readAll(io: Io, file: string): Promise<Buffer | null> {
  try {
    return await withFile(io, file, async (f, size) => {
      const b = Buffer.alloc(size)
      await f.readAt(b, 0)
      return b
    })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}

/**
 * The entries of a segment's two index files, as stored (whole entries only). With
 * `unwrittenTail` (an active segment after a crash, or while its writer runs) the zero
 * entries at the end are its preallocated space, not entries, and are only counted.
 */
export async function readIndexes(io: Io, dir: string, baseOffset: number, unwrittenTail = false): Promise<IndexEntries> {
  const p = segmentPaths(dir, baseOffset)
  const ib = await readAll(io, p.index)
  const tb = await readAll(io, p.timeIndex)
  const offsets: IndexEntries['offsets'] = []
  const times: IndexEntries['times'] = []
  const iEnd = ib === null ? 0 : unwrittenTail ? writtenBytes(ib, OFFSET_ENTRY_BYTES) : ib.length
  const tEnd = tb === null ? 0 : unwrittenTail ? writtenBytes(tb, TIME_ENTRY_BYTES) : tb.length
  if (ib !== null) for (let at = 0; at + OFFSET_ENTRY_BYTES <= iEnd; at += OFFSET_ENTRY_BYTES) offsets.push({ offset: baseOffset + ib.readInt32BE(at), position: ib.readInt32BE(at + 4) })
  if (tb !== null) for (let at = 0; at + TIME_ENTRY_BYTES <= tEnd; at += TIME_ENTRY_BYTES) times.push({ timestamp: readInt64(tb, at), offset: baseOffset + tb.readInt32BE(at + 8) })
  return {
    offsets,
    times,
    indexBytes: ib?.length ?? null,
    timeIndexBytes: tb?.length ?? null,
    unwrittenIndexEntries: ib === null ? 0 : Math.floor((ib.length - iEnd) / OFFSET_ENTRY_BYTES),
    unwrittenTimeEntries: tb === null ? 0 : Math.floor((tb.length - tEnd) / TIME_ENTRY_BYTES),
  }
}

export interface LogVerdict {
  status: 'clean' | 'torn-tail' | 'damaged' | 'empty'
  file: string | null
  position: number | null
  what: string | null
  segments: number
  batches: number
  indexEntries: number
  logStartOffset: number | null
  logEndOffset: number | null
  /** Whether the last close left its marker (else the active segment's indexes are rebuilt at open and not checked). */
  cleanShutdown: boolean
  truncatedBytes: number
}

interface BatchFacts {
  lastOffset: number
  /** The largest batch max-timestamp up to and including this batch. */
  maxSoFar: number
}

function checkIndexes(entries: IndexEntries, batchesAt: Map<number, BatchFacts>, byLastOffset: Map<number, BatchFacts>, indexPath: string, timePath: string, logBytes: number): { file: string; position: number; what: string } | null {
  if (entries.indexBytes === null) return { file: indexPath, position: 0, what: 'the offset index is missing (opening the log rebuilds it)' }
  if (entries.indexBytes % OFFSET_ENTRY_BYTES !== 0) return { file: indexPath, position: entries.indexBytes, what: `size ${entries.indexBytes} is not a multiple of ${OFFSET_ENTRY_BYTES} (opening the log rebuilds it)` }
  let prev = -1
  let prevPos = -1
  for (let i = 0; i < entries.offsets.length; i++) {
    const e = entries.offsets[i]
    const at = i * OFFSET_ENTRY_BYTES
    const b = batchesAt.get(e.position)
    if (e.offset <= prev || e.position <= prevPos) return { file: indexPath, position: at, what: `entry ${i} (offset ${e.offset}, position ${e.position}) does not follow the previous one (offset ${prev}, position ${prevPos})` }
    if (e.position >= logBytes || b === undefined) return { file: indexPath, position: at, what: `entry ${i} has position ${e.position}, which is not where a batch starts` }
    if (b.lastOffset !== e.offset) return { file: indexPath, position: at, what: `entry ${i} names offset ${e.offset}, but the batch at position ${e.position} ends at offset ${b.lastOffset}` }
    prev = e.offset
    prevPos = e.position
  }
  if (entries.timeIndexBytes === null) return { file: timePath, position: 0, what: 'the time index is missing (opening the log rebuilds it)' }
  if (entries.timeIndexBytes % TIME_ENTRY_BYTES !== 0) return { file: timePath, position: entries.timeIndexBytes, what: `size ${entries.timeIndexBytes} is not a multiple of ${TIME_ENTRY_BYTES} (opening the log rebuilds it)` }
  let prevTs = -1
  let prevOff = -1
  for (let i = 0; i < entries.times.length; i++) {
    const e = entries.times[i]
    const at = i * TIME_ENTRY_BYTES
    if (e.timestamp <= prevTs || e.offset < prevOff) return { file: timePath, position: at, what: `entry ${i} (timestamp ${e.timestamp}, offset ${e.offset}) does not follow the previous one (timestamp ${prevTs}, offset ${prevOff})` }
    const b = byLastOffset.get(e.offset)
    if (b === undefined) return { file: timePath, position: at, what: `entry ${i} names offset ${e.offset}, which is not the last offset of a batch` }
    if (b.maxSoFar !== e.timestamp) return { file: timePath, position: at, what: `entry ${i} says timestamp ${e.timestamp}, but the largest batch timestamp up to offset ${e.offset} is ${b.maxSoFar}` }
    prevTs = e.timestamp
    prevOff = e.offset
  }
  return null
}

/**
 * The verdict on a log directory: what a read-only open finds, then every batch of every
 * segment and every index entry (of segments whose indexes are authoritative) checked
 * against the log. The first problem wins.
 */
export async function verifyLog(io: Io, dir: string): Promise<LogVerdict> {
  const { bases } = await listSegments(dir)
  const cleanShutdown = fs.existsSync(path.join(dir, CLEAN_SHUTDOWN_NAME))
  const verdict: LogVerdict = { status: 'clean', file: null, position: null, what: null, segments: bases.length, batches: 0, indexEntries: 0, logStartOffset: null, logEndOffset: null, cleanShutdown, truncatedBytes: 0 }
  const damaged = (file: string, position: number, what: string): LogVerdict => ({ ...verdict, status: 'damaged', file, position, what })
  if (bases.length === 0) return { ...verdict, status: 'empty' }
  let torn: { file: string; position: number; what: string } | null = null
  try {
    const log = await openLog(io, dir, { readOnly: true })
    verdict.logStartOffset = log.logStartOffset
    verdict.logEndOffset = log.logEndOffset
    if (log.recovery.reason !== null) {
      verdict.truncatedBytes = log.recovery.truncatedBytes
      const m = /^(.*) at position (\d+)$/.exec(log.recovery.reason)
      torn = { file: log.recovery.file!, position: m ? Number(m[2]) : 0, what: m ? m[1] : log.recovery.reason }
    }
    await log.close()
  } catch (err) {
    const e = err as Error & { code?: string; path?: string; position?: number }
    if (e.code !== 'ERR_LOG_CORRUPT') throw err
    return damaged(e.path ?? dir, e.position ?? 0, e.message.replace(/^log corrupt: .* at position \d+: /, ''))
  }
  let expected = bases[0]
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i]
    const p = segmentPaths(dir, base)
    const last = i === bases.length - 1
    if (base !== expected) return damaged(p.log, 0, `the segment starts at offset ${base}, but the previous one ends at offset ${expected - 1}`)
    const batchesAt = new Map<number, BatchFacts>()
    const byLastOffset = new Map<number, BatchFacts>()
    const problem = await withFile(io, p.log, async (f, size) => {
      const win = new FileWindow(f, size, RECOVERY_CHUNK_BYTES)
      let pos = 0
      let maxSoFar = -1
      while (pos < size) {
        const c = await checkBatchAt(win, pos, expected, base)
        if (!c.ok) return { position: pos, what: c.what, size }
        const h = c.header
        if (h.maxTimestamp > maxSoFar) maxSoFar = h.maxTimestamp
        const facts = { lastOffset: h.baseOffset + h.lastOffsetDelta, maxSoFar }
        batchesAt.set(pos, facts)
        byLastOffset.set(facts.lastOffset, facts)
        verdict.batches++
        expected = facts.lastOffset + 1
        pos += h.size
      }
      return { position: pos, what: null, size }
    })
    if (problem.what !== null) {
      if (last && torn !== null && torn.position === problem.position) break
      return damaged(p.log, problem.position, problem.what)
    }
    if (!last || cleanShutdown) {
      const entries = await readIndexes(io, dir, base)
      const bad = checkIndexes(entries, batchesAt, byLastOffset, p.index, p.timeIndex, problem.size)
      if (bad !== null) return damaged(bad.file, bad.position, bad.what)
      verdict.indexEntries += entries.offsets.length + entries.times.length
    }
  }
  if (torn !== null) return { ...verdict, status: 'torn-tail', file: torn.file, position: torn.position, what: torn.what }
  return verdict
}
