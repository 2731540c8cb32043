// Group commit. Appends get their LSNs at the call and wait in a queue; one group at a
// time is in flight. A group takes every queued record that fits in the active file as
// ONE contiguous buffer of frames and, under sync 'always', submits it as one io.batch()
// with the write linked to an fdatasync — so a group is one write + one fdatasync however
// many appends it carries. While it is in flight new appends queue for the next group.
//
// After a failed write or fdatasync the WAL is failed (fsyncgate: a failed fdatasync may
// have dropped dirty pages, and retrying it would report success over lost data): the
// appends waiting at that moment reject with the error, later calls with ERR_WAL_FAILED.
import { Lane } from '../lane'
import type { Io } from '../types'
import { walFailed } from './errors'
import { HEADER_BYTES, encodeFrame, frameBytes } from './format'
import type { SyncMode } from './options'
import type { Segments } from './segment'

interface Pending {
  records: Uint8Array[]
  firstLsn: number
  /** Frame bytes of all its records. */
  bytes: number
  resolve(firstLsn: number): void
  reject(err: unknown): void
}

interface Waiter {
  lsn: number
  resolve(): void
  reject(err: unknown): void
}

/** A group carries at most this much unless a single entry is larger (it then goes alone). */
const GROUP_MAX_BYTES = 8 * 1024 * 1024

export class GroupWriter {
  lastLsn: number
  writtenLsn: number
  durableLsn: number
  failure: unknown = null
  private hasFailed = false
  private queue: Pending[] = []
  /** A group is scheduled or running. */
  private groupActive = false
  /** Serializes groups, syncs and rolls: they all use the active file. */
  private readonly lane = new Lane()
  private writtenWaiters: Waiter[] = []
  private timer: NodeJS.Timeout | null = null

  constructor(
    private readonly io: Io,
    private readonly segments: Segments,
    private readonly sync: SyncMode,
    private readonly segmentBytes: number,
    /** Where the next frame goes in the active file. */
    private pos: number,
    lastLsn: number,
  ) {
    this.lastLsn = lastLsn
    this.writtenLsn = lastLsn
    this.durableLsn = lastLsn
    if (sync.kind === 'interval') {
      this.timer = setInterval(() => void this.syncNow().catch(() => {}), sync.intervalMs)
      // A WAL with nothing to do must not keep the process alive.
      this.timer.unref()
    }
    segments.onSyncFailure = (err) => this.fail(err)
    segments.maybePrepare(pos)
  }

  get failed(): boolean {
    return this.hasFailed
  }

  /** Queues records (validated by the caller) and resolves the first LSN once written/durable per `sync`. */
  enqueue(records: Uint8Array[], bytes: number): Promise<number> {
    const firstLsn = this.lastLsn + 1
    this.lastLsn += records.length
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ records, firstLsn, bytes, resolve, reject })
      this.schedule()
    })
  }

  /** Queues each record as its own entry (consecutive LSNs); resolves the first LSN once all are. */
  enqueueEach(records: Uint8Array[]): Promise<number> {
    const parts = records.map((r) => this.enqueue([r], frameBytes(r.length)))
    return Promise.all(parts).then((lsns) => lsns[0])
  }

  /**
   * The next group starts on setImmediate, not at once: writers woken by the previous
   * group's acknowledgement append from the microtasks that follow it, and all of them
   * should make the next group together rather than one group each.
   */
  private schedule(): void {
    if (this.groupActive || this.hasFailed) return
    this.groupActive = true
    setImmediate(() => {
      void this.exclusive(() => this.writeGroup()).finally(() => {
        this.groupActive = false
        if (this.queue.length > 0) this.schedule()
      })
    })
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.lane.run(fn)
  }

  private async writeGroup(): Promise<void> {
    if (this.hasFailed || this.queue.length === 0) return
    let group: Pending[] = []
    try {
      if (this.pos + this.queue[0].bytes > this.segmentBytes) {
        // A group never spans two files: roll first. The roll fsyncs the old file, so
        // everything written so far is durable.
        const written = this.writtenLsn
        await this.segments.roll(this.queue[0].firstLsn)
        this.pos = HEADER_BYTES
        this.durableLsn = Math.max(this.durableLsn, written)
      }
      const room = this.segmentBytes - this.pos
      let total = 0
      let n = 0
      for (const p of this.queue) {
        if (total + p.bytes > room || (n > 0 && total + p.bytes > GROUP_MAX_BYTES)) break
        total += p.bytes
        n++
      }
      group = this.queue.slice(0, n)
      this.queue = this.queue.slice(n)
      const buf = Buffer.allocUnsafe(total)
      let at = 0
      for (const p of group) {
        let lsn = p.firstLsn
        for (const r of p.records) at = encodeFrame(buf, at, lsn++, r)
      }
      const file = this.segments.active
      const last = group[n - 1].firstLsn + group[n - 1].records.length - 1
      if (this.sync.kind === 'always') {
        if (this.io.config.queueDepth >= 2) {
          const [w, s] = await this.io.batch().writeAt(file, buf, this.pos, { link: true }).syncData(file).submit()
          if (!w.ok) throw w.error
          if (!s.ok) throw s.error
        } else {
          // A batch of two cannot run at queueDepth 1.
          await file.writeAt(buf, this.pos)
          await file.syncData()
        }
        this.durableLsn = last
      } else {
        await file.writeAt(buf, this.pos)
      }
      this.pos += total
      this.writtenLsn = last
      for (const p of group) p.resolve(p.firstLsn)
      this.wakeWritten()
      this.segments.maybePrepare(this.pos)
    } catch (err) {
      for (const p of group) p.reject(err)
      this.fail(err)
    }
  }

  /** fdatasync of what has been written, if anything is not yet durable. */
  syncNow(): Promise<void> {
    return this.exclusive(async () => {
      if (this.hasFailed || this.durableLsn >= this.writtenLsn) return
      const target = this.writtenLsn
      try {
        await this.segments.active.syncData()
      } catch (err) {
        this.fail(err)
        throw err
      }
      this.durableLsn = Math.max(this.durableLsn, target)
    })
  }

  /** Resolves once every record up to `lsn` is written (rejects if the WAL fails first). */
  waitWritten(lsn: number): Promise<void> {
    if (this.writtenLsn >= lsn) return Promise.resolve()
    if (this.hasFailed) return Promise.reject(walFailed(this.failure))
    return new Promise((resolve, reject) => this.writtenWaiters.push({ lsn, resolve, reject }))
  }

  private wakeWritten(): void {
    if (this.writtenWaiters.length === 0) return
    const still: Waiter[] = []
    for (const w of this.writtenWaiters) (w.lsn <= this.writtenLsn ? w.resolve() : still.push(w))
    this.writtenWaiters = still
  }

  private fail(err: unknown): void {
    if (this.hasFailed) return
    this.hasFailed = true
    this.failure = err
    this.stopTimer()
    // Appends already waiting would have met this error too.
    const queued = this.queue
    this.queue = []
    for (const p of queued) p.reject(err)
    const waiters = this.writtenWaiters
    this.writtenWaiters = []
    for (const w of waiters) w.reject(walFailed(err))
  }

  stopTimer(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  /** Resolves when no group is queued or running (whatever their outcome). */
  async drain(): Promise<void> {
    while (this.groupActive || this.queue.length > 0) {
      await this.waitWritten(this.lastLsn).catch(() => {})
      if (this.hasFailed) break
    }
    await this.lane.idle()
  }
}
