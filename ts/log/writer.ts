// Group commit for a partition log (the WAL's scheme, DESIGN.md §3). Appends queue in
// call order; one group at a time is in flight. A group takes the queued appends that
// fit in the active segment without a roll, gives them their offsets (in queue order, so
// in call order), and goes to the kernel as ONE write of their batches — linked to one
// fdatasync under sync 'always' — however many appends it carries. Rolls, truncations and
// syncs run in the same lane, between groups.
//
// After a failed write or fdatasync the log is failed (fsyncgate: a failed fdatasync may
// have dropped dirty pages, and retrying it would report success over lost data): the
// appends waiting at that moment reject with the error, later calls with ERR_LOG_FAILED.
import { Lane } from '../lane'
import type { SyncMode } from '../wal/options'
import type { Io } from '../types'
import { logFailed } from './errors'
import { assignOffsetAndEpoch } from './record-batch'
import type { Segment } from './segment'
import type { AppendInfo } from './types'

/** One append() or appendBatch(): whole batches in one buffer, checked and encoded at the call. */
export interface AppendEntry {
  kind: 'append'
  bytes: Buffer
  batches: Array<{ at: number; size: number; lastOffsetDelta: number; maxTimestamp: number }>
  /** Records in all its batches. */
  records: number
  maxTimestamp: number
  resolve(info: AppendInfo): void
  reject(err: unknown): void
}

/** truncateTo(): runs in queue order, between groups. */
interface TruncateEntry {
  kind: 'truncate'
  offset: number
  resolve(): void
  reject(err: unknown): void
}

type Entry = AppendEntry | TruncateEntry

/** What the writer needs from its log. */
export interface WriterOwner {
  readonly io: Io
  readonly active: Segment
  /** Rolls to a new active segment at the active one's next offset (fsyncs the old one). */
  roll(): Promise<void>
  truncateNow(offset: number): Promise<void>
  /** Batches up to `offset` (ending at `position` of the active segment) are readable. */
  advanceHighWatermark(offset: number, position: number): void
  /** Counts a written group (metrics). */
  counted(appends: number, batches: number, records: number, bytes: number): void
}

/** A group carries at most this much unless a single append is larger (it then goes alone). */
const GROUP_MAX_BYTES = 8 * 1024 * 1024

export class LogWriter {
  /** End of what is written (offset, and position in the active segment). */
  writtenOffset: number
  writtenPosition: number
  /** End of what an fdatasync covers. */
  durableOffset: number
  failure: unknown = null
  private hasFailed = false
  private queue: Entry[] = []
  private groupActive = false
  private readonly lane = new Lane()
  private idleWaiters: Array<() => void> = []
  private timer: NodeJS.Timeout | null = null

  constructor(
    private readonly owner: WriterOwner,
    private readonly sync: SyncMode,
    private readonly leaderEpoch: number,
  ) {
    const a = owner.active
    this.writtenOffset = a.nextOffset
    this.writtenPosition = a.size
    this.durableOffset = a.nextOffset
    if (sync.kind === 'interval') {
      this.timer = setInterval(() => void this.syncNow().catch(() => {}), sync.intervalMs)
      // A log with nothing to do must not keep the process alive.
      this.timer.unref()
    }
  }

  get failed(): boolean {
    return this.hasFailed
  }

  /** Queues an append (validated and encoded by the caller); resolves its offsets once written/durable per `sync`. */
  enqueue(entry: Omit<AppendEntry, 'kind' | 'resolve' | 'reject'>): Promise<AppendInfo> {
    return new Promise<AppendInfo>((resolve, reject) => {
      this.queue.push({ kind: 'append', ...entry, resolve, reject })
      this.schedule()
    })
  }

  enqueueTruncate(offset: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ kind: 'truncate', offset, resolve, reject })
      this.schedule()
    })
  }

  /**
   * The next group starts on setImmediate, not at once: producers woken by the previous
   * group's acknowledgement append from the microtasks that follow it, and all of them
   * should make the next group together rather than one group each.
   */
  private schedule(): void {
    if (this.groupActive || this.hasFailed) return
    this.groupActive = true
    setImmediate(() => {
      void this.exclusive(() => this.next()).finally(() => {
        this.groupActive = false
        if (this.queue.length > 0) this.schedule()
        else this.wakeIdle()
      })
    })
  }

  /** Runs `fn` in the lane: after every group, roll, truncation and sync before it. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.lane.run(fn)
  }

  private async next(): Promise<void> {
    if (this.hasFailed || this.queue.length === 0) return
    const head = this.queue[0]
    if (head.kind === 'truncate') {
      this.queue.shift()
      try {
        await this.owner.truncateNow(head.offset)
        const a = this.owner.active
        this.writtenOffset = Math.min(this.writtenOffset, a.nextOffset)
        this.durableOffset = Math.min(this.durableOffset, a.nextOffset)
        this.writtenPosition = a.size
        head.resolve()
      } catch (err) {
        head.reject(err)
      }
      return
    }
    await this.writeGroup()
  }

  private async writeGroup(): Promise<void> {
    let group: AppendEntry[] = []
    const infos: AppendInfo[] = []
    try {
      const now = Date.now()
      const first = this.queue[0] as AppendEntry
      if (this.owner.active.shouldRoll(first.bytes.length, first.maxTimestamp, this.owner.active.nextOffset + first.records - 1, now)) {
        // The roll fsyncs the old segment, so everything written so far is durable.
        await this.owner.roll()
        this.durableOffset = this.writtenOffset
        this.writtenPosition = 0
      }
      const seg = this.owner.active
      const start = seg.size
      let total = 0
      for (const e of this.queue) {
        if (e.kind !== 'append') break
        if (group.length > 0 && (total + e.bytes.length > GROUP_MAX_BYTES || seg.shouldRoll(e.bytes.length, e.maxTimestamp, seg.nextOffset + e.records - 1, now))) break
        // Offsets are given here, in queue order; the segment's bookkeeping follows each
        // batch (reads stop at the high watermark, so nothing is visible before it is written).
        const baseOffset = seg.nextOffset
        for (const b of e.batches) {
          const position = seg.size
          assignOffsetAndEpoch(e.bytes, b.at, seg.nextOffset, this.leaderEpoch)
          seg.noteAppend(position, b.size, seg.nextOffset + b.lastOffsetDelta, b.maxTimestamp)
        }
        infos.push({ baseOffset, lastOffset: seg.nextOffset - 1 })
        group.push(e)
        total += e.bytes.length
      }
      this.queue.splice(0, group.length)
      const buf = group.length === 1 ? group[0].bytes : Buffer.concat(group.map((e) => e.bytes), total)
      const file = seg.file!
      const io = this.owner.io
      if (this.sync.kind === 'always') {
        if (io.config.queueDepth >= 2) {
          const [w, s] = await io.batch().writeAt(file, buf, start, { link: true }).syncData(file).submit()
          if (!w.ok) throw w.error
          if (!s.ok) throw s.error
        } else {
          // A batch of two cannot run at queueDepth 1.
          await file.writeAt(buf, start)
          await file.syncData()
        }
        this.durableOffset = seg.nextOffset
      } else {
        await file.writeAt(buf, start)
      }
      this.writtenOffset = seg.nextOffset
      this.writtenPosition = start + total
      let batches = 0
      let records = 0
      for (const e of group) {
        batches += e.batches.length
        records += e.records
      }
      this.owner.counted(group.length, batches, records, total)
      this.owner.advanceHighWatermark(seg.nextOffset, start + total)
      group.forEach((e, i) => e.resolve(infos[i]))
    } catch (err) {
      for (const e of group) e.reject(err)
      this.fail(err)
    }
  }

  /** fdatasync of the active segment, if anything written is not yet durable. */
  syncNow(): Promise<void> {
    return this.exclusive(async () => {
      if (this.hasFailed || this.durableOffset >= this.writtenOffset) return
      const target = this.writtenOffset
      try {
        await this.owner.active.file!.syncData()
      } catch (err) {
        this.fail(err)
        throw err
      }
      this.durableOffset = Math.max(this.durableOffset, target)
    })
  }

  fail(err: unknown): void {
    if (this.hasFailed) return
    this.hasFailed = true
    this.failure = err
    this.stopTimer()
    const queued = this.queue
    this.queue = []
    for (const e of queued) e.reject(e.kind === 'append' ? err : logFailed(err))
    this.wakeIdle()
  }

  stopTimer(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  private wakeIdle(): void {
    const w = this.idleWaiters
    this.idleWaiters = []
    for (const resolve of w) resolve()
  }

  /** Resolves when nothing is queued or running (whatever the outcome). */
  async drain(): Promise<void> {
    while (this.groupActive || this.queue.length > 0) {
      if (this.hasFailed) break
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve))
    }
    await this.lane.idle()
  }
}
