// openWal (DESIGN.md §3 "WAL (openWal)"): a write-ahead log in a directory, all file I/O
// through the Io it is given (so a fault-injecting Io reaches every code path),
// directory operations through node:fs. Modules: format (bytes on disk), frames and
// window (reading them), recovery (open), segment (files, rolling, preallocation),
// writer (group commit), reader (replay), lock (one writer per directory).
import fs from 'node:fs'
import path from 'node:path'
import { types } from 'node:util'
import { invalidArgType, outOfRange } from '../errors'
import type { Io } from '../types'
import { checkPath } from '../validate'
import { recordTooLarge, walClosed, walFailed, walReadOnly } from './errors'
import { FREE_SUFFIX, HEADER_BYTES, PREPARED_NAME, frameBytes } from './format'
import { type DirLock, acquireLock } from './lock'
import { type WalSettings, resolveOptions } from './options'
import { replayFiles } from './reader'
import { storageEvents } from '../metrics'
import { type LogFile, type RecoveredLog, recover } from './recovery'
import { DEFAULT_PREALLOC, type PreallocStrategy, Segments } from './segment'
import type { Wal, WalOptions, WalRecord, WalRecovery } from './types'
import { GroupWriter } from './writer'

export type { Wal, WalOptions, WalRecord, WalRecovery } from './types'
export type { PreallocStrategy } from './segment'

/** Internal knobs for benchmarks and tests; not part of the public API. */
export interface WalInternals {
  prealloc?: PreallocStrategy
}

class WalImpl implements Wal {
  private closing: Promise<void> | null = null

  constructor(
    private readonly io: Io,
    private readonly settings: WalSettings,
    readonly recovery: WalRecovery,
    /** Null when read-only. */
    private readonly writer: GroupWriter | null,
    private readonly segments: Segments | null,
    private readonly lock: DirLock | null,
    /** Read-only: the files and last LSN found at open. */
    private readonly snapshot: RecoveredLog,
  ) {}

  get firstLsn(): number {
    const files = this.files
    return files.length === 0 ? this.lastLsn + 1 : files[0].firstLsn
  }

  get lastLsn(): number {
    return this.writer ? this.writer.lastLsn : this.snapshot.lastLsn
  }

  get durableLsn(): number {
    return this.writer ? this.writer.durableLsn : this.snapshot.lastLsn
  }

  private get files(): readonly LogFile[] {
    return this.segments ? this.segments.files : this.snapshot.files
  }

  /** The reason a write-side call cannot proceed, or null. */
  private refuse(method: string): Error | null {
    if (this.closing !== null) return walClosed()
    if (this.writer === null) return walReadOnly(method)
    if (this.writer.failed) return walFailed(this.writer.failure)
    return null
  }

  append(record: Uint8Array): Promise<number> {
    const refused = this.refuse('append')
    if (refused) return Promise.reject(refused)
    if (!types.isUint8Array(record)) return Promise.reject(invalidArgType('record', 'an instance of Buffer or Uint8Array', record))
    if (record.length > this.settings.maxRecordBytes) return Promise.reject(recordTooLarge('record', record.length, this.settings.maxRecordBytes, 'maxRecordBytes'))
    return this.writer!.enqueue([record], frameBytes(record.length))
  }

  appendMany(records: Uint8Array[]): Promise<number[]> {
    const refused = this.refuse('appendMany')
    if (refused) return Promise.reject(refused)
    if (!Array.isArray(records)) return Promise.reject(invalidArgType('records', 'an Array of Buffer or Uint8Array', records))
    let bytes = 0
    for (let i = 0; i < records.length; i++) {
      const r: unknown = records[i]
      if (!types.isUint8Array(r)) return Promise.reject(invalidArgType(`records[${i}]`, 'an instance of Buffer or Uint8Array', r))
      if (r.length > this.settings.maxRecordBytes) return Promise.reject(recordTooLarge(`records[${i}]`, r.length, this.settings.maxRecordBytes, 'maxRecordBytes'))
      bytes += frameBytes(r.length)
    }
    if (records.length === 0) return Promise.resolve([])
    const copy = [...records]
    // One group never spans two files: a batch larger than a file goes as consecutive
    // groups (contiguous LSNs still; resolved once all are durable). After a crash a
    // prefix of it may survive, as of any unacknowledged group.
    const w = this.writer!
    const first = bytes <= this.settings.segmentBytes - HEADER_BYTES ? w.enqueue(copy, bytes) : w.enqueueEach(copy)
    return first.then((lsn) => copy.map((_, i) => lsn + i))
  }

  async flush(): Promise<void> {
    const refused = this.refuse('flush')
    if (refused) throw refused
    const w = this.writer!
    const target = w.lastLsn
    await w.waitWritten(target)
    if (w.durableLsn < target) {
      await w.syncNow()
      if (w.failed) throw walFailed(w.failure)
    }
  }

  replay(fromLsn?: number): AsyncIterable<WalRecord> {
    if (fromLsn !== undefined) {
      if (typeof fromLsn !== 'number') throw invalidArgType('fromLsn', 'of type number', fromLsn)
      if (!Number.isSafeInteger(fromLsn) || fromLsn < 0) throw outOfRange('fromLsn', `an integer >= 0 and <= ${Number.MAX_SAFE_INTEGER}`, fromLsn)
    }
    if (this.closing !== null) throw walClosed()
    // Snapshots: records written so far (never one still being written), files as now.
    const end = this.writer ? this.writer.writtenLsn : this.snapshot.lastLsn
    const files = [...this.files]
    const from = Math.max(fromLsn ?? this.firstLsn, this.firstLsn)
    return replayFiles(this.io, files, from, end)
  }

  truncateBefore(lsn: number): Promise<void> {
    if (this.closing !== null) return Promise.reject(walClosed())
    if (this.segments === null) return Promise.reject(walReadOnly('truncateBefore'))
    if (typeof lsn !== 'number') return Promise.reject(invalidArgType('lsn', 'of type number', lsn))
    if (!Number.isSafeInteger(lsn) || lsn < 0) return Promise.reject(outOfRange('lsn', `an integer >= 0 and <= ${Number.MAX_SAFE_INTEGER}`, lsn))
    return this.segments.truncateBefore(lsn)
  }

  /** Lets pending appends finish, makes what was written durable, releases the directory. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const w = this.writer
      let error: unknown = null
      if (w) {
        await w.drain()
        if (!w.failed) await w.syncNow().catch((err: unknown) => (error = err))
        w.stopTimer()
      }
      await this.segments?.close().catch((err: unknown) => (error ??= err))
      this.lock?.release()
      if (error !== null) throw error
    })()
    return this.closing
  }
}

function checkIo(io: unknown): asserts io is Io {
  const o = io as Partial<Io> | null
  if (o === null || typeof o !== 'object' || typeof o.openRw !== 'function' || typeof o.batch !== 'function' || typeof o.config !== 'object') {
    throw invalidArgType('io', 'an Io from openIo()', io)
  }
}

/** Opens (recovering, locking) or creates the WAL in `dir`. */
export function openWal(io: Io, dir: string, opts?: WalOptions): Promise<Wal> {
  return openWalWith(io, dir, opts, {})
}

/** openWal with internal knobs (benches/wal.ts compares preallocation strategies). */
export async function openWalWith(io: Io, dir: string, opts: WalOptions | undefined, internals: WalInternals): Promise<Wal> {
  checkIo(io)
  checkPath('dir', dir)
  if (dir === '') throw invalidArgType('dir', 'a non-empty path', dir)
  const settings = resolveOptions(io, opts)
  const strict = settings.recovery === 'strict'
  if (settings.readOnly) {
    const log = await recover(io, dir, { strict, repair: false })
    return new WalImpl(io, settings, log.recovery, null, null, null, log)
  }
  await fs.promises.mkdir(dir, { recursive: true })
  const lock = acquireLock(dir)
  let segments: Segments | null = null
  try {
    // A prepared file from before is not part of the log: kept for recycling (its
    // blocks are written) or deleted; the next one is made when needed.
    const strategy = internals.prealloc ?? DEFAULT_PREALLOC
    const prepared = path.join(dir, PREPARED_NAME)
    if (settings.preallocate && strategy === 'recycle' && fs.existsSync(prepared)) {
      await fs.promises.rename(prepared, path.join(dir, `prepared-${Date.now()}${FREE_SUFFIX}`))
    } else {
      await fs.promises.rm(prepared, { force: true })
    }
    const log = await recover(io, dir, { strict, repair: true })
    if (log.recovery.reason !== null) {
      storageEvents.walRecoveries++
      storageEvents.walTruncatedBytes += log.recovery.truncatedBytes
    }
    segments = await Segments.open(io, dir, { segmentBytes: settings.segmentBytes, preallocate: settings.preallocate, strategy }, log.files, log.free, log.lastLsn + 1)
    // What recovery read may sit in the page cache only (a crashed process, a live
    // kernel): sync it so durableLsn starts out true.
    await segments.active.syncData()
    const writer = new GroupWriter(io, segments, settings.sync, settings.segmentBytes, log.files.length === 0 ? HEADER_BYTES : log.endPos, log.lastLsn)
    return new WalImpl(io, settings, log.recovery, writer, segments, lock, log)
  } catch (err) {
    await segments?.close().catch(() => {})
    lock.release()
    throw err
  }
}
