// Independent witnesses for the partition log's format tests (log-format.spec.ts,
// log-kafka-compat.spec.ts). Nothing here imports ts/log: a bitwise CRC-32C straight from
// its definition, a byte builder for writing RecordBatch v2 fields by hand, Kafka's
// DumpLogSegments run over a log directory with its output split per file and every
// complaint it can print collected, and Kafka's roll and index placement rules (DESIGN.md
// §5) re-stated as a model fed with the batches the tool decoded.
import { type SegmentFiles, segmentFiles } from './log-dir'
import path from 'node:path'

import {
  type DumpedBatch,
  dumpLogSegments,
  parseIndexDump,
  parseLogDump,
  parseTimeIndexDump,
} from './kafka'

// ---------------------------------------------------------------------------------------
// CRC-32C from its definition: reflected, polynomial 0x1EDC6F41 (reversed 0x82F63B78),
// initial value and final xor 0xFFFFFFFF, one bit at a time.

export function crc32cReference(data: Uint8Array): number {
  let crc = 0xffffffff
  for (let i = 0; i < data.length; i++) {
    crc ^= data[i]
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1
  }
  return (crc ^ 0xffffffff) >>> 0
}

/** Rewrites a batch's CRC field (bytes 17..21) over bytes 21..end, as the spec defines it. */
export function recrc(batch: Buffer): Buffer {
  batch.writeUInt32BE(crc32cReference(batch.subarray(21)), 17)
  return batch
}

// ---------------------------------------------------------------------------------------
// A byte builder: every field is written explicitly, big-endian, as the spec lists it.

export class Bytes {
  private parts: Buffer[] = []

  int8(v: number): this {
    const b = Buffer.alloc(1)
    b.writeInt8(v)
    this.parts.push(b)
    return this
  }

  int16(v: number): this {
    const b = Buffer.alloc(2)
    b.writeInt16BE(v)
    this.parts.push(b)
    return this
  }

  int32(v: number): this {
    const b = Buffer.alloc(4)
    b.writeInt32BE(v)
    this.parts.push(b)
    return this
  }

  uint32(v: number): this {
    const b = Buffer.alloc(4)
    b.writeUInt32BE(v)
    this.parts.push(b)
    return this
  }

  int64(v: bigint): this {
    const b = Buffer.alloc(8)
    b.writeBigInt64BE(v)
    this.parts.push(b)
    return this
  }

  /** Literal bytes (hand-computed varints) or raw data. */
  raw(v: number[] | Buffer | string): this {
    this.parts.push(typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v))
    return this
  }

  get length(): number {
    return this.parts.reduce((n, p) => n + p.length, 0)
  }

  build(): Buffer {
    return Buffer.concat(this.parts)
  }
}

// ---------------------------------------------------------------------------------------
// DumpLogSegments over a directory.

/** What the tool prints when something is wrong (its own messages, Kafka 4.1). */
const COMPLAINTS = [
  /Mismatches in/,
  /Found timestamp mismatch/,
  /Found out of order timestamp/,
  /indexed offsets are not found/,
  /invalid bytes at the end/,
  /Error at/,
  /Exception/,
  /Ignoring unknown file/,
  /Unknown record type/,
  /isvalid: false/,
  /Corrupt/i,
]

export interface ToolRun {
  stdout: string
  stderr: string
  /** Output per file, keyed by its absolute path. */
  sections: Map<string, string>
  /** Lines matching a complaint the tool prints, from stdout and stderr. */
  complaints: string[]
}

/** Runs DumpLogSegments with `flags` on `files`; rejects when the jars are missing (the helper's message) or it exits non-zero. */
export async function runTool(flags: string[], files: string[]): Promise<ToolRun> {
  let out: { stdout: string; stderr: string }
  try {
    out = await dumpLogSegments([...flags, '--files', files.join(',')])
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string }
    if (e.stdout === undefined) throw err
    throw new Error(`DumpLogSegments ${flags.join(' ')} failed: ${e.message}\nstdout: ${e.stdout.slice(-2000)}\nstderr: ${(e.stderr ?? '').slice(-4000)}`)
  }
  const lines = new Map<string, string[]>()
  let current: string[] | null = null
  for (const line of out.stdout.split('\n')) {
    const m = /^Dumping (.*)$/.exec(line)
    if (m) {
      current = []
      lines.set(path.resolve(m[1]), current)
    } else current?.push(line)
  }
  const sections = new Map([...lines].map(([name, l]) => [name, l.join('\n')]))
  const complaints = [...out.stdout.split('\n'), ...out.stderr.split('\n')].filter((l) => COMPLAINTS.some((re) => re.test(l)))
  return { ...out, sections, complaints }
}


export interface DumpedSegment {
  files: SegmentFiles
  /** "Log starting offset" the tool printed (from the file name). */
  startOffset: number
  batches: DumpedBatch[]
  index: Array<{ offset: number; position: number }>
  timeIndex: Array<{ timestamp: number; offset: number }>
}

export interface DumpedLog {
  segments: DumpedSegment[]
  /** Complaints of the deep dump, --verify-index-only and --index-sanity-check together. */
  complaints: string[]
  /** What --index-sanity-check printed per index file (absolute path); empty without `indexChecks`. */
  sanity: Map<string, string>
}

/**
 * Dumps every segment of each directory with --deep-iteration --print-data-log (the .log
 * files and both indexes, which the tool also checks against the log), then runs
 * --verify-index-only and --index-sanity-check over the indexes (unless `indexChecks` is
 * false): three JVM starts however many directories.
 */
export async function dumpDirs(dirs: string[], opts: { indexChecks?: boolean } = {}): Promise<DumpedLog[]> {
  const perDir = dirs.map((d) => segmentFiles(d))
  const everyFile = perDir.flat().flatMap((s) => [s.log, s.index, s.timeIndex])
  const indexes = perDir.flat().flatMap((s) => [s.index, s.timeIndex])
  const deep = await runTool(['--deep-iteration', '--print-data-log'], everyFile)
  const none: ToolRun = { stdout: '', stderr: '', sections: new Map(), complaints: [] }
  const checks = opts.indexChecks ?? true
  const verify = checks ? await runTool(['--verify-index-only'], indexes) : none
  const sanity = checks ? await runTool(['--index-sanity-check'], indexes) : none
  return perDir.map((segs) => {
    const mine = new Set(segs.flatMap((s) => [s.log, s.index, s.timeIndex]))
    // A complaint line that names a file belongs to that file's directory; one that names none, to every directory.
    const about = (lines: string[]) =>
      lines.filter((l) => {
        const named = everyFile.filter((f) => l.includes(f))
        return named.length === 0 || named.some((f) => mine.has(f))
      })
    return {
      segments: segs.map((files): DumpedSegment => {
        const log = deep.sections.get(files.log) ?? ''
        const start = /^Log starting offset: (-?\d+)$/m.exec(log)
        return {
          files,
          startOffset: start ? Number(start[1]) : Number.NaN,
          batches: parseLogDump(log),
          index: parseIndexDump(deep.sections.get(files.index) ?? ''),
          timeIndex: parseTimeIndexDump(deep.sections.get(files.timeIndex) ?? ''),
        }
      }),
      complaints: about([...deep.complaints, ...verify.complaints, ...sanity.complaints]),
      sanity: new Map([...sanity.sections].filter(([f]) => mine.has(f))),
    }
  })
}

export async function dumpDir(dir: string): Promise<DumpedLog> {
  return (await dumpDirs([dir]))[0]
}

// ---------------------------------------------------------------------------------------
// Kafka's rules (DESIGN.md §5), re-stated for the model.

export interface RuleConfig {
  segmentBytes: number
  segmentMs: number
  indexIntervalBytes: number
  maxIndexBytes: number
}

/** A batch as the tool decoded it. `call` groups the batches of one append/appendBatch call (default: each its own). */
export interface ModelBatch {
  baseOffset: number
  lastOffset: number
  size: number
  maxTimestamp: number
  call?: number
}

export interface ModelSegment {
  baseOffset: number
  batches: Array<ModelBatch & { position: number }>
  index: Array<{ offset: number; position: number }>
  timeIndex: Array<{ timestamp: number; offset: number }>
}

interface Active extends ModelSegment {
  size: number
  firstMaxTimestamp: number | null
  bytesSinceLastIndexEntry: number
  maxTimestampSoFar: number
  offsetOfMaxTimestampSoFar: number
}

export function offsetEntries(maxIndexBytes: number): number {
  return Math.floor(maxIndexBytes / 8)
}

export function timeEntries(maxIndexBytes: number): number {
  return Math.floor(maxIndexBytes / 12)
}

function newSegment(baseOffset: number): Active {
  return {
    baseOffset,
    batches: [],
    index: [],
    timeIndex: [],
    size: 0,
    firstMaxTimestamp: null,
    bytesSinceLastIndexEntry: 0,
    maxTimestampSoFar: -1,
    offsetOfMaxTimestampSoFar: baseOffset,
  }
}

function lastTimestamp(s: ModelSegment): number {
  return s.timeIndex.length === 0 ? -1 : s.timeIndex[s.timeIndex.length - 1].timestamp
}

/** The time index's entry written at roll and close, when it is larger than the last one. */
function finalTimeEntry(s: Active, cfg: RuleConfig): void {
  if (s.maxTimestampSoFar > lastTimestamp(s) && s.timeIndex.length < timeEntries(cfg.maxIndexBytes)) {
    s.timeIndex.push({ timestamp: s.maxTimestampSoFar, offset: s.offsetOfMaxTimestampSoFar })
  }
}

function indexFull(s: ModelSegment, cfg: RuleConfig): boolean {
  // The time index counts as full one entry early (Kafka's TimeIndex.isFull).
  return s.index.length >= offsetEntries(cfg.maxIndexBytes) || s.timeIndex.length >= timeEntries(cfg.maxIndexBytes) - 1
}

/**
 * Where a log written by appends lands, per Kafka's LogSegment.shouldRoll and
 * LogSegment.append: `reopenedBefore` holds the batch numbers before which the log was
 * closed cleanly and opened again (the time index gets its final entry at the close, and
 * the placement counter restarts at 0 at the open).
 */
export function modelAppends(batches: readonly ModelBatch[], cfg: RuleConfig, reopenedBefore: ReadonlySet<number> = new Set()): ModelSegment[] {
  const segments: Active[] = []
  let seg: Active | null = null
  let i = 0
  while (i < batches.length) {
    // One call: the batches that share its `call` number.
    let j = i + 1
    if (batches[i].call !== undefined) while (j < batches.length && batches[j].call === batches[i].call) j++
    const call = batches.slice(i, j)
    if (seg !== null && reopenedBefore.has(i)) {
      finalTimeEntry(seg, cfg)
      seg.bytesSinceLastIndexEntry = 0
    }
    const size = call.reduce((n, b) => n + b.size, 0)
    const maxTs = Math.max(...call.map((b) => b.maxTimestamp))
    const roll =
      seg !== null &&
      (seg.size + size > cfg.segmentBytes ||
        (seg.size > 0 && seg.firstMaxTimestamp !== null && seg.firstMaxTimestamp >= 0 && maxTs - seg.firstMaxTimestamp > cfg.segmentMs) ||
        indexFull(seg, cfg))
    if (seg === null || roll) {
      if (seg !== null) finalTimeEntry(seg, cfg)
      seg = newSegment(call[0].baseOffset)
      segments.push(seg)
    }
    for (const b of call) {
      const position = seg.size
      if (position === 0) seg.firstMaxTimestamp = b.maxTimestamp
      if (b.maxTimestamp > seg.maxTimestampSoFar) {
        seg.maxTimestampSoFar = b.maxTimestamp
        seg.offsetOfMaxTimestampSoFar = b.lastOffset
      }
      // Inside one call the indexes can fill up: no entry then (the next call rolls).
      if (seg.bytesSinceLastIndexEntry > cfg.indexIntervalBytes && !indexFull(seg, cfg)) {
        seg.index.push({ offset: b.lastOffset, position })
        if (seg.maxTimestampSoFar > lastTimestamp(seg)) seg.timeIndex.push({ timestamp: seg.maxTimestampSoFar, offset: seg.offsetOfMaxTimestampSoFar })
        seg.bytesSinceLastIndexEntry = 0
      }
      seg.bytesSinceLastIndexEntry += b.size
      seg.batches.push({ ...b, position })
      seg.size += b.size
    }
    i = j
  }
  if (seg !== null) finalTimeEntry(seg, cfg)
  return segments.map(({ baseOffset, batches: bs, index, timeIndex }) => ({ baseOffset, batches: bs, index, timeIndex }))
}

/**
 * The indexes recovery rebuilds for one segment's batches (Kafka's LogSegment.recover): an
 * entry for a batch when more than indexIntervalBytes lie between the start of the last
 * indexed batch (the segment's start at first) and this batch's start; the time index's
 * final entry at the end.
 */
export function modelRebuild(batches: ReadonlyArray<{ position: number; size: number; lastOffset: number; maxTimestamp: number }>, cfg: RuleConfig, baseOffset: number): Pick<ModelSegment, 'index' | 'timeIndex'> {
  const s = newSegment(baseOffset)
  let lastIndexedPosition = 0
  for (const b of batches) {
    if (b.maxTimestamp > s.maxTimestampSoFar) {
      s.maxTimestampSoFar = b.maxTimestamp
      s.offsetOfMaxTimestampSoFar = b.lastOffset
    }
    if (b.position - lastIndexedPosition > cfg.indexIntervalBytes && !indexFull(s, cfg)) {
      s.index.push({ offset: b.lastOffset, position: b.position })
      if (s.maxTimestampSoFar > lastTimestamp(s)) s.timeIndex.push({ timestamp: s.maxTimestampSoFar, offset: s.offsetOfMaxTimestampSoFar })
      lastIndexedPosition = b.position
    }
  }
  finalTimeEntry(s, cfg)
  return { index: s.index, timeIndex: s.timeIndex }
}

export { type SegmentFiles, segmentFiles }
