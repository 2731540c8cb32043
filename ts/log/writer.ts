// Group commit for a partition log (the WAL's scheme, DESIGN.md §3). Appends queue in
// call order. A group takes the queued appends that fit in the active segment without a
// roll, gives them their offsets (in queue order, so in call order), and goes to the
// kernel as ONE write of their batches, however many appends it carries; under sync
// 'always' an fdatasync follows. Rolls, truncations and explicit syncs run in the same
// lane, between groups, once every group's fdatasync has settled.
//
// Pipelining (sync 'always'): when appends keep coming, a group's fdatasync does not hold
// up the next group's write. The lane runs a group as far as its write; its fdatasync is
// then issued (it covers that write, which has completed) and the lane moves on, so the
// next group is cut from what arrived meanwhile and written while the disk flushes. At
// most PIPELINE_SYNCS fdatasyncs are in flight. Acknowledgements stay in order: a group
// is acknowledged once its own fdatasync and every earlier group's have succeeded. When
// nothing is in flight and a group carries a single append (a quiet log), the write and
// its fdatasync go as one linked batch instead: one submission, the lowest latency.
//
// After a failed write or fdatasync the log is failed (fsyncgate: a failed fdatasync may
// have dropped dirty pages, and retrying it would report success over lost data): the
// appends waiting at that moment — queued, or written in a later group whose fdatasync
// was still in flight — reject with the error, later calls with ERR_LOG_FAILED. A group
// whose fdatasync succeeded before the failure is acknowledged: it is durable.
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
/** fdatasyncs in flight at once while pipelining: one flushing, one queued behind it. */
const PIPELINE_SYNCS = 2

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
  /**
   * Written groups whose fdatasync is in flight, oldest first: each settles true once the
   * group was acknowledged, false if it was rejected (never rejects).
   */
  private syncing: Array<Promise<boolean>> = []

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
      // Not exclusive(): a group may start while earlier groups' fdatasyncs are in flight.
      void this.lane.run(() => this.next()).finally(() => {
        this.groupActive = false
        if (this.queue.length > 0) this.schedule()
        else this.wakeIdle()
      })
    })
  }

  /** Runs `fn` in the lane: after every group (its fdatasync included), roll, truncation and sync before it. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.lane.run(async () => {
      await this.syncsBelow(1)
      return fn()
    })
  }

  /** Resolves once fewer than `n` groups' fdatasyncs are in flight (whatever their outcomes); 1: none. */
  private async syncsBelow(n: number): Promise<void> {
    while (this.syncing.length >= n) await this.syncing[0]
  }

  private async next(): Promise<void> {
    if (this.hasFailed || this.queue.length === 0) return
    const head = this.queue[0]
    if (head.kind === 'truncate') {
      await this.syncsBelow(1)
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
        // The roll fsyncs the old segment, so everything written so far is durable; the
        // groups still syncing belong to it and settle first.
        await this.syncsBelow(1)
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
      const end = { offset: seg.nextOffset, position: start + total }
      if (this.sync.kind === 'always' && io.config.queueDepth >= 2 && (this.syncing.length > 0 || group.length > 1)) {
        await file.writeAt(buf, start)
        this.writtenOffset = end.offset
        this.writtenPosition = end.position
        await this.syncsBelow(PIPELINE_SYNCS)
        const written = group
        group = [] // from here on the group is the fdatasync handler's to settle
        this.startSync(written, infos, end, file.syncData())
        return
      }
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
        this.durableOffset = end.offset
      } else {
        await file.writeAt(buf, start)
      }
      this.writtenOffset = end.offset
      this.writtenPosition = end.position
      this.acknowledge(group, infos, end)
    } catch (err) {
      for (const e of group) e.reject(err)
      this.fail(err)
    }
  }

  /**
   * The pipelined tail of a group: `sync` covers its write (issued after it completed).
   * The group is acknowledged after every earlier group was, in order; if an earlier one
   * was rejected, or this sync fails, it is rejected and the log is failed.
   */
  private startSync(group: AppendEntry[], infos: AppendInfo[], end: { offset: number; position: number }, sync: Promise<void>): void {
    const before = this.syncing.length > 0 ? this.syncing[this.syncing.length - 1] : Promise.resolve(true)
    const acked = (async (): Promise<boolean> => {
      const synced = await sync.then(
        () => null,
        (err: unknown) => ({ err }),
      )
      const earlierAcked = await before
      if (earlierAcked && synced === null) {
        // Durable and in order — even if a later group's write has failed the log since.
        this.durableOffset = end.offset
        this.acknowledge(group, infos, end)
        return true
      }
      if (!earlierAcked) {
        // An earlier group failed the log: nothing past it is acknowledged, whatever this
        // fdatasync said.
        for (const e of group) e.reject(this.failure)
        return false
      }
      const err = synced!.err
      for (const e of group) e.reject(err)
      this.fail(err)
      return false
    })()
    this.syncing.push(acked)
    const remove = (): void => {
      this.syncing.splice(this.syncing.indexOf(acked), 1)
    }
    // Registered first, so whoever awaits `acked` sees the group gone from `syncing`.
    acked.then(remove, remove)
  }

  /** A group is durable (or written, without sync 'always'): counted, visible, resolved. */
  private acknowledge(group: AppendEntry[], infos: AppendInfo[], end: { offset: number; position: number }): void {
    let batches = 0
    let records = 0
    let bytes = 0
    for (const e of group) {
      batches += e.batches.length
      records += e.records
      bytes += e.bytes.length
    }
    this.owner.counted(group.length, batches, records, bytes)
    this.owner.advanceHighWatermark(end.offset, end.position)
    group.forEach((e, i) => e.resolve(infos[i]))
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
    await this.syncsBelow(1)
  }
}
