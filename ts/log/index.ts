// openLog (DESIGN.md §3 "Partition log (openLog)"): a Kafka-format partition log in a
// directory. Modules: record-batch and varint (the bytes of RecordBatch v2), offset-index
// and time-index (the two index files), segment (one .log with its indexes, its
// bookkeeping and its recovery), writer (group commit), log (segments composed: reads,
// long-polls, truncation, retention), files (names in the directory). Opening recovers
// as §5 says: with the clean-shutdown marker the active segment is trusted; without it
// every batch of the active segment is checked and the older segments' indexes are
// sanity-checked, and whatever fails is rebuilt or cut, reported and counted.
import fs from 'node:fs'
import path from 'node:path'
import { debug } from '../debug'
import { invalidArgType } from '../errors'
import { storageEvents } from '../metrics'
import type { Io } from '../types'
import { checkPath } from '../validate'
import { type DirLock, acquireLock } from '../wal/lock'
import { fsyncDir } from '../wal/recovery'
import { logLocked } from './errors'
import { CLEAN_SHUTDOWN_NAME, LOG_LOCK_NAME, listSegments, segmentPaths } from './files'
import { PartitionLogImpl } from './log'
import { type LogSettings, resolveLogOptions } from './options'
import { Segment, type SegmentConfig } from './segment'
import type { LogOptions, LogRecovery, PartitionLog } from './types'

export type { AppendInfo, LogOptions, LogRecord, LogRecordInput, LogRecovery, LogSlice, PartitionLog } from './types'

function checkIo(io: unknown): asserts io is Io {
  const o = io as Partial<Io> | null
  if (o === null || typeof o !== 'object' || typeof o.openRw !== 'function' || typeof o.batch !== 'function' || typeof o.config !== 'object') {
    throw invalidArgType('io', 'an Io from openIo()', io)
  }
}

interface Loaded {
  segments: Segment[]
  recovery: LogRecovery
}

/** Finds the segments in `dir` and recovers them (in memory only unless `repair`). */
async function loadSegments(io: Io, dir: string, cfg: SegmentConfig, writable: boolean): Promise<Loaded> {
  const repair = writable
  const { bases, deleted } = await listSegments(dir)
  // Deletions that did not finish before the last stop: the segments are gone already.
  if (repair) for (const d of deleted) await fs.promises.rm(d, { force: true })
  const clean = fs.existsSync(path.join(dir, CLEAN_SHUTDOWN_NAME))
  const recovery: LogRecovery = { clean, truncatedBytes: 0, file: null, reason: null, rebuiltIndexes: [] }
  const segments: Segment[] = []
  if (bases.length === 0) {
    if (!writable) return { segments, recovery }
    segments.push(await Segment.create(io, dir, 0, cfg))
    await fsyncDir(dir)
    return { segments, recovery: { ...recovery, clean: true } }
  }
  try {
    for (let i = 0; i < bases.length; i++) {
      const last = i === bases.length - 1
      const size = last ? 0 : (await fs.promises.stat(segmentPaths(dir, bases[i]).log)).size
      segments.push(new Segment(dir, bases[i], size, last ? bases[i] : bases[i + 1], cfg))
    }
    const active = segments[segments.length - 1]
    let walk = !clean
    if (clean) {
      try {
        recovery.rebuiltIndexes.push(...(await active.loadActive(io, writable, repair)))
      } catch (err) {
        // A marker in front of a damaged segment: recover it as after a crash.
        if ((err as { code?: string }).code !== 'ERR_LOG_CORRUPT') throw err
        debug('log %s: the clean-shutdown marker stands before a damaged active segment (%s); recovering', dir, (err as Error).message)
        await active.evict()
        walk = true
        // types.ts: clean means nothing had to be walked; this segment is.
        recovery.clean = false
      }
    }
    if (walk) {
      const r = await active.recover(io, writable, repair)
      if (r.reason !== null) {
        recovery.truncatedBytes = r.truncatedBytes
        recovery.file = active.paths.log
        recovery.reason = r.reason
        debug('log %s: %s; %d bytes of tail %s', dir, r.reason, r.truncatedBytes, repair ? 'cut' : 'found (read-only: left as is)')
      }
      for (const s of segments.slice(0, -1)) {
        const problem = await s.sanityCheck(io)
        if (problem === null) continue
        debug('log %s: %s; rebuilding the indexes of %s', dir, problem, s.paths.log)
        await s.materialize(io, false, repair, true)
        recovery.rebuiltIndexes.push(s.paths.index, s.paths.timeIndex)
      }
    }
    if (repair) {
      await active.preallocateIndexes(io)
      // What recovery read may sit in the page cache only (a crashed process, a live
      // kernel): sync it so the high watermark starts out true.
      await active.file!.syncData()
    }
  } catch (err) {
    for (const s of segments) await s.evict()
    throw err
  }
  return { segments, recovery }
}

/** Opens (recovering, locking) or creates the partition log in `dir`. */
export async function openLog(io: Io, dir: string, opts?: LogOptions): Promise<PartitionLog> {
  checkIo(io)
  checkPath('dir', dir)
  if (dir === '') throw invalidArgType('dir', 'a non-empty path', dir)
  const settings: LogSettings = resolveLogOptions(opts)
  const cfg: SegmentConfig = {
    segmentBytes: settings.segmentBytes,
    segmentMs: settings.segmentMs,
    indexIntervalBytes: settings.indexIntervalBytes,
    maxIndexBytes: settings.maxIndexBytes,
  }
  if (settings.readOnly) {
    const st = await fs.promises.stat(dir)
    if (!st.isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, openLog '${dir}'`), { code: 'ENOTDIR', path: dir })
    const { segments, recovery } = await loadSegments(io, dir, cfg, false)
    return new PartitionLogImpl(io, dir, settings, cfg, segments, recovery, null)
  }
  await fs.promises.mkdir(dir, { recursive: true })
  const lock: DirLock = acquireLock(dir, LOG_LOCK_NAME, logLocked)
  try {
    const { segments, recovery } = await loadSegments(io, dir, cfg, true)
    if (recovery.reason !== null || recovery.rebuiltIndexes.length > 0) {
      storageEvents.logRecoveries++
      storageEvents.logTruncatedBytes += recovery.truncatedBytes
    }
    // From here on a crash must be noticed at the next open: the marker goes.
    const marker = path.join(dir, CLEAN_SHUTDOWN_NAME)
    if (fs.existsSync(marker)) {
      await fs.promises.rm(marker, { force: true })
      await fsyncDir(dir)
    }
    return new PartitionLogImpl(io, dir, settings, cfg, segments, recovery, lock)
  } catch (err) {
    lock.release()
    throw err
  }
}
