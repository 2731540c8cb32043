// The WAL's files: the active one, the next one prepared in the background, rolling,
// checkpoint deletion and recycling. Files are made in a way a crash cannot expose half
// done: a new file is written, preallocated and synced under a temporary name, gets its
// real header (synced) and only then its `<first LSN>.wal` name (directory fsynced).
import fs from 'node:fs'
import path from 'node:path'
import { debug } from '../debug'
import type { AsyncFile, Io } from '../types'
import { FREE_SUFFIX, HEADER_BYTES, PREPARED_NAME, encodeHeader, fileName } from './format'
import { type LogFile, fsyncDir } from './recovery'

/**
 * How a new file is preallocated when `preallocateWal` is on (measured in benches/wal.ts):
 * - 'fallocate': fallocate(mode 0). Cheap to make, but ext4 leaves unwritten extents, so
 *   the first write to each block still journals a metadata change at fdatasync.
 * - 'zero-fill': write zeros over the whole file once and sync, in the background: every
 *   later fdatasync is a pure data overwrite, as fio's W1 measures.
 * - 'recycle': reuse a checkpointed file (already written blocks; stale records in it
 *   are below the new first LSN, which recovery treats as the clean end); zero-fill
 *   when none is available.
 */
export type PreallocStrategy = 'fallocate' | 'zero-fill' | 'recycle'
// Measured (benches/wal.ts, W1 on io_uring, 16 MiB files with a checkpointer, medians of
// 3 interleaved rounds on a busy 2-core VM, ext4 on virtio; ops/s, p50 µs):
//   inline engine: no preallocation 2,696 / 357, fallocate 3,641 / 263,
//                  zero-fill 4,406 / 215, recycle 4,509 / 207
//   thread engine: no preallocation 2,231 / 431, fallocate 2,816 / 346,
//                  zero-fill 3,513 / 269, recycle 3,264 / 294
// Written blocks (zero-fill, recycle) beat fallocate's unwritten extents by 20-40%;
// recycling ties zero-fill on latency and saves writing every file twice, so it is the
// default, zero-filling when no checkpointed file is free.
export const DEFAULT_PREALLOC: PreallocStrategy = 'recycle'

/** Checkpointed files kept for recycling, at most. */
const MAX_FREE_FILES = 2
const ZERO_CHUNK_BYTES = 1024 * 1024
/** Start preparing the next file when the active one is this full. */
const PREPARE_AT_FRACTION = 0.5

export interface SegmentConfig {
  segmentBytes: number
  preallocate: boolean
  strategy: PreallocStrategy
}

/** Zero-fill writes back in pieces of this size (see zeroFill). */
const ZERO_SYNC_BYTES = 4 * 1024 * 1024

async function zeroFill(f: AsyncFile, from: number, to: number, sync: () => Promise<void>): Promise<void> {
  const zeros = Buffer.alloc(Math.min(ZERO_CHUNK_BYTES, to - from))
  // One write at a time, and a syncData every few MiB: this runs beside the foreground's
  // fdatasyncs and should not crowd them out of the device queue — one sync of a whole
  // 64 MiB file at the end stalled appends for milliseconds (W1 p999).
  let unsynced = 0
  for (let at = from; at < to; at += zeros.length) {
    const n = Math.min(zeros.length, to - at)
    await f.writeAt(zeros.subarray(0, n), at)
    unsynced += n
    if (unsynced >= ZERO_SYNC_BYTES) {
      await sync()
      unsynced = 0
    }
  }
}

export class Segments {
  /** Retained files, oldest first; the last is active. */
  readonly files: LogFile[]
  private activeFile!: AsyncFile
  private preparing: Promise<string> | null = null
  /**
   * Told when a background fsync fails. The WAL then fails as for its own fdatasync:
   * an fsync error is never retried or hidden (fsyncgate).
   */
  onSyncFailure: ((err: unknown) => void) | null = null
  private truncating: Promise<void> = Promise.resolve()

  private constructor(
    private readonly io: Io,
    private readonly dir: string,
    private readonly cfg: SegmentConfig,
    files: LogFile[],
    private readonly free: string[],
  ) {
    this.files = files
  }

  /**
   * Opens the last recovered file for writing, or creates the first file, numbered
   * `nextLsn` (1 for a new log).
   */
  static async open(io: Io, dir: string, cfg: SegmentConfig, files: LogFile[], free: string[], nextLsn: number): Promise<Segments> {
    const keep = cfg.preallocate && cfg.strategy === 'recycle' ? MAX_FREE_FILES : 0
    // Beyond what recycling uses, free files only take space.
    for (const extra of free.slice(keep)) await fs.promises.rm(extra, { force: true })
    const s = new Segments(io, dir, cfg, [...files], free.slice(0, keep))
    if (files.length === 0) {
      const first = await s.install(await s.prepare(), nextLsn)
      s.files.push({ path: first.path, firstLsn: nextLsn })
      s.activeFile = first
    } else {
      s.activeFile = await io.openRw(files[files.length - 1].path)
    }
    return s
  }

  get active(): AsyncFile {
    return this.activeFile
  }

  get firstLsn(): number {
    return this.files[0].firstLsn
  }

  /** Starts preparing the next file once the active one passes the threshold. */
  maybePrepare(pos: number): void {
    if (this.preparing === null && pos >= this.cfg.segmentBytes * PREPARE_AT_FRACTION) this.startPreparing()
  }

  private startPreparing(): Promise<string> {
    const p = this.prepare()
    // Awaited at the roll; a failure there is reported to the appends it holds up.
    p.catch((err: unknown) => debug('wal %s: preparing the next file failed: %s', this.dir, (err as Error).message))
    this.preparing = p
    return p
  }

  /** Makes `next.wal.tmp`: placeholder header, preallocated, synced, directory fsynced. */
  private async prepare(): Promise<string> {
    const { segmentBytes, preallocate, strategy } = this.cfg
    const tmp = path.join(this.dir, PREPARED_NAME)
    const recycled = preallocate && strategy === 'recycle' ? this.free.shift() : undefined
    let f: AsyncFile
    if (recycled !== undefined) {
      // Rename (and make it durable) before touching the header: a crash must never
      // leave an old name in front of a rewritten header.
      await fs.promises.rename(recycled, tmp)
      await fsyncDir(this.dir)
      f = await this.io.openRw(tmp)
    } else {
      f = await this.io.create(tmp)
    }
    try {
      // firstLsn 0: not part of the log; also invalidates a recycled file's old header.
      await f.writeAt(encodeHeader(0), 0)
      const size = await f.size()
      if (preallocate && size < segmentBytes) {
        if (strategy === 'fallocate') await f.allocate(segmentBytes - HEADER_BYTES, HEADER_BYTES)
        else {
          const file = f
          await zeroFill(file, Math.max(size, HEADER_BYTES), segmentBytes, async () => {
            try {
              await file.syncData()
            } catch (err) {
              this.onSyncFailure?.(err)
              throw err
            }
          })
        }
      }
      try {
        await f.syncAll()
      } catch (err) {
        this.onSyncFailure?.(err)
        throw err
      }
    } finally {
      await f.close().catch(() => {})
    }
    if (recycled === undefined) await fsyncDir(this.dir)
    return tmp
  }

  /** Gives a prepared file its header and name; returns it open for writing. */
  private async install(tmp: string, firstLsn: number): Promise<AsyncFile> {
    const h = await this.io.openRw(tmp)
    try {
      await h.writeAt(encodeHeader(firstLsn), 0)
      await h.syncData()
    } finally {
      await h.close().catch(() => {})
    }
    const final = path.join(this.dir, fileName(firstLsn))
    await fs.promises.rename(tmp, final)
    await fsyncDir(this.dir)
    return this.io.openRw(final)
  }

  /**
   * Rolls to a new file whose first record is `nextFirstLsn`: fsyncs the active file,
   * installs the prepared one (preparing it now if the background has not), switches.
   */
  async roll(nextFirstLsn: number): Promise<void> {
    let tmp: string
    try {
      tmp = await (this.preparing ?? this.startPreparing())
    } catch {
      // One more try in the foreground (e.g. space was freed meanwhile); its error is
      // the one the waiting appends see.
      this.preparing = null
      tmp = await this.startPreparing()
    }
    this.preparing = null
    await this.activeFile.syncAll()
    const next = await this.install(tmp, nextFirstLsn)
    const old = this.activeFile
    this.activeFile = next
    this.files.push({ path: next.path, firstLsn: nextFirstLsn })
    await old.close().catch(() => {})
    debug('wal %s: rolled to %s', this.dir, next.path)
  }

  /** Drops (or keeps for recycling) whole files whose records are all below `lsn`. */
  truncateBefore(lsn: number): Promise<void> {
    const run = this.truncating.then(async () => {
      let n = 0
      // Never the active (last) file; a file is below `lsn` when the next one starts at or before it.
      while (n < this.files.length - 1 && this.files[n + 1].firstLsn <= lsn) n++
      if (n === 0) return
      const drop = this.files.splice(0, n)
      for (const f of drop) {
        if (this.cfg.preallocate && this.cfg.strategy === 'recycle' && this.free.length < MAX_FREE_FILES) {
          const freeName = `${f.path.slice(0, -'.wal'.length)}${FREE_SUFFIX}`
          await fs.promises.rename(f.path, freeName)
          this.free.push(freeName)
        } else {
          await fs.promises.unlink(f.path)
        }
      }
      await fsyncDir(this.dir)
      debug('wal %s: checkpoint before LSN %d dropped %d file(s)', this.dir, lsn, n)
    })
    this.truncating = run.catch(() => {})
    return run
  }

  /** Waits for background work and closes the active file. */
  async close(): Promise<void> {
    await this.preparing?.catch(() => {})
    await this.truncating
    await this.activeFile.close()
  }
}
