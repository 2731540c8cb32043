// Durable broker state: committed group offsets and producer ids, in a WAL under
// `--dir/@broker-state/` (`@` is not a topic-name character, so no partition directory can
// collide with it). sync 'always': a commit or a producer id is answered only once its
// record is on disk.
//
// Two images are kept. `written` changes when a record is handed to the WAL (so a
// snapshot, taken synchronously from it, holds exactly the records with lower LSNs);
// `durable` changes when the WAL acknowledges the record, and is what readers see — an
// OffsetFetch never returns an offset a crash could still take back.
//
// Bounded: after about `snapshotEveryRecords` records or `snapshotEveryBytes` bytes a
// snapshot (the whole `written` image) is appended, and once it is durable the WAL is
// truncated before it. Both thresholds grow with the snapshot itself, so a large state
// does not snapshot back to back.
import path from 'node:path'

import { openWal, type Io, type Wal } from '../../../ts/index'
import { BrokerStateError } from './errors'
import { Replayer, StateImage, type CommittedOffset } from './image'
import { RecordKind, decodeRecord, encodeRecord, type StateRecord } from './records'

export const STATE_DIR_NAME = '@broker-state'

export interface BrokerStateOptions {
  /** Bytes per WAL file; default 8 MiB (the state is small; Kafka's 64 MiB would mostly preallocate zeros). */
  readonly segmentBytes?: number
  /** Snapshot after this many records since the last one; default 10 000. */
  readonly snapshotEveryRecords?: number
  /** Snapshot after this many record bytes since the last one; default segmentBytes / 2. */
  readonly snapshotEveryBytes?: number
  /** Where a failed snapshot or a recovery note is reported. */
  readonly logger?: (line: string) => void
  /** The time commits are stamped with (tests pass a fake). */
  readonly nowMs?: () => number
}

export interface OffsetCommitInput {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly leaderEpoch: number
  readonly metadata: string
}

export interface BrokerStateStats {
  readonly firstLsn: number
  readonly lastLsn: number
  /** Snapshots written by this process. */
  readonly snapshotsWritten: number
  /** What opening found: complete snapshots replayed, torn ones dropped, WAL tail truncated. */
  readonly recovery: { readonly snapshots: number; readonly abandonedSnapshots: number; readonly truncatedBytes: number; readonly reason: string | null }
}

export interface BrokerState {
  /** Resolves once every commit's record is durable; rejects (nothing visible) if the WAL fails. */
  commitOffsets(group: string, commits: readonly OffsetCommitInput[]): Promise<void>
  committedOffset(group: string, topic: string, partition: number): CommittedOffset | null
  /** Every committed partition of a group, topics sorted by name, partitions by index. */
  committedOffsets(group: string): Array<{ topic: string; partitions: Array<{ partition: number; committed: CommittedOffset }> }>
  /**
   * A producer id never handed out before (durable before it resolves). With a
   * transactional id: the id that transactional id had, with its epoch bumped (a new id
   * once the epoch would pass 32767), as Kafka's InitProducerId does.
   */
  allocateProducerId(transactionalId: string | null): Promise<{ producerId: number; producerEpoch: number }>
  stats(): BrokerStateStats
  close(): Promise<void>
}

const DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024
const MIN_SEGMENT_BYTES = 64 * 1024
const MAX_PRODUCER_EPOCH = 32767

function positiveInteger(name: string, v: number | undefined, fallback: number, min = 1): number {
  if (v === undefined) return fallback
  if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`broker state option ${name} must be an integer >= ${min}, got ${v}`)
  return v
}

/** Opens (creating or recovering) the broker state in `path.join(dir, '@broker-state')`. */
export async function openBrokerState(io: Io, dir: string, opts: BrokerStateOptions = {}): Promise<BrokerState> {
  const segmentBytes = positiveInteger('segmentBytes', opts.segmentBytes, DEFAULT_SEGMENT_BYTES, MIN_SEGMENT_BYTES)
  const everyRecords = positiveInteger('snapshotEveryRecords', opts.snapshotEveryRecords, 10_000)
  const everyBytes = positiveInteger('snapshotEveryBytes', opts.snapshotEveryBytes, Math.floor(segmentBytes / 2))
  const wal = await openWal(io, path.join(dir, STATE_DIR_NAME), { sync: 'always', segmentBytes })
  try {
    const replayer = new Replayer()
    for await (const { lsn, data } of wal.replay()) replayer.feed(decodeRecord(data, `LSN ${lsn} in ${path.join(dir, STATE_DIR_NAME)}`))
    const image = replayer.finish()
    const recovery = {
      snapshots: replayer.snapshots,
      abandonedSnapshots: replayer.abandonedSnapshots,
      truncatedBytes: wal.recovery.truncatedBytes,
      reason: wal.recovery.reason,
    }
    if (recovery.reason !== null) opts.logger?.(`broker state: recovered, ${recovery.truncatedBytes} torn bytes dropped (${recovery.reason})`)
    return new WalBrokerState(wal, image, recovery, { segmentBytes, everyRecords, everyBytes, logger: opts.logger ?? (() => {}), nowMs: opts.nowMs ?? Date.now })
  } catch (err) {
    await wal.close().catch(() => {})
    throw err
  }
}

/** A copy of an image (the two views start out equal). */
function cloneImage(src: StateImage): StateImage {
  const out = new StateImage()
  out.nextProducerId = src.nextProducerId
  for (const [g, topics] of src.offsets) {
    const t2 = new Map<string, Map<number, CommittedOffset>>()
    for (const [t, parts] of topics) t2.set(t, new Map(parts))
    out.offsets.set(g, t2)
  }
  for (const [k, v] of src.txnProducers) out.txnProducers.set(k, { ...v })
  return out
}

class WalBrokerState implements BrokerState {
  private readonly durable: StateImage
  private recordsSinceSnapshot = 0
  private bytesSinceSnapshot = 0
  private lastSnapshotEntries = 0
  private lastSnapshotBytes = 0
  private snapshotting: Promise<void> | null = null
  private snapshotsWritten = 0
  private closing: Promise<void> | null = null

  constructor(
    private readonly wal: Wal,
    private readonly written: StateImage,
    private readonly recovery: BrokerStateStats['recovery'],
    private readonly cfg: { segmentBytes: number; everyRecords: number; everyBytes: number; logger: (line: string) => void; nowMs: () => number },
  ) {
    this.durable = cloneImage(written)
  }

  private refuseIfClosed(): void {
    if (this.closing) throw new BrokerStateError('ERR_BROKER_STATE_CLOSED', 'broker state is closed')
  }

  /** Hands records to the WAL (LSNs are assigned now, in call order) and counts them towards the next snapshot. */
  private append(records: StateRecord[]): Promise<number[]> {
    const encoded = records.map(encodeRecord)
    const p = this.wal.appendMany(encoded)
    this.recordsSinceSnapshot += encoded.length
    for (const b of encoded) this.bytesSinceSnapshot += b.length
    this.maybeSnapshot()
    return p
  }

  async commitOffsets(group: string, commits: readonly OffsetCommitInput[]): Promise<void> {
    this.refuseIfClosed()
    if (commits.length === 0) return
    const now = this.cfg.nowMs()
    const records = commits.map((c) => ({ kind: RecordKind.OffsetCommit as const, group, topic: c.topic, partition: c.partition, offset: c.offset, leaderEpoch: c.leaderEpoch, metadata: c.metadata, commitTimestampMs: now }))
    for (const r of records) this.written.apply(r)
    await this.append(records)
    // The WAL acknowledges groups in LSN order, so applying here keeps `durable` in that order too.
    for (const r of records) this.durable.apply(r)
  }

  committedOffset(group: string, topic: string, partition: number): CommittedOffset | null {
    return this.durable.offsets.get(group)?.get(topic)?.get(partition) ?? null
  }

  committedOffsets(group: string): Array<{ topic: string; partitions: Array<{ partition: number; committed: CommittedOffset }> }> {
    const topics = this.durable.offsets.get(group)
    if (!topics) return []
    return [...topics.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([topic, parts]) => ({
        topic,
        partitions: [...parts.entries()].sort(([a], [b]) => a - b).map(([partition, committed]) => ({ partition, committed })),
      }))
  }

  async allocateProducerId(transactionalId: string | null): Promise<{ producerId: number; producerEpoch: number }> {
    this.refuseIfClosed()
    if (transactionalId === null) {
      const producerId = this.written.nextProducerId
      const r = { kind: RecordKind.ProducerId as const, nextProducerId: producerId + 1 }
      this.written.apply(r)
      await this.append([r])
      this.durable.apply(r)
      return { producerId, producerEpoch: 0 }
    }
    const prev = this.written.txnProducers.get(transactionalId)
    let next: { producerId: number; producerEpoch: number }
    if (prev && prev.producerEpoch < MAX_PRODUCER_EPOCH) next = { producerId: prev.producerId, producerEpoch: prev.producerEpoch + 1 }
    else next = { producerId: this.written.nextProducerId, producerEpoch: 0 }
    const r = { kind: RecordKind.TxnProducer as const, transactionalId, ...next }
    this.written.apply(r)
    await this.append([r])
    this.durable.apply(r)
    return next
  }

  /** Starts a snapshot when enough has been appended since the last one, and none is running. */
  private maybeSnapshot(): void {
    if (this.snapshotting || this.closing) return
    const recordLimit = Math.max(this.cfg.everyRecords, 2 * this.lastSnapshotEntries)
    const byteLimit = Math.max(this.cfg.everyBytes, 2 * this.lastSnapshotBytes)
    if (this.recordsSinceSnapshot < recordLimit && this.bytesSinceSnapshot < byteLimit) return
    // Chunks well below a file, so a snapshot packs into the files it crosses.
    const chunkBytes = Math.max(4096, Math.floor(this.cfg.segmentBytes / 8))
    const records = this.written.snapshotRecords(chunkBytes).map(encodeRecord)
    this.recordsSinceSnapshot = 0
    this.bytesSinceSnapshot = 0
    this.lastSnapshotEntries = this.written.entryCount
    this.lastSnapshotBytes = records.reduce((n, b) => n + b.length, 0)
    // appendMany is called now, in this tick: every record handed over before has a
    // lower LSN and is in the snapshot; every later one has a higher LSN.
    const appended = this.wal.appendMany(records)
    this.snapshotting = appended
      .then((lsns) => this.wal.truncateBefore(lsns[0]))
      .then(() => {
        this.snapshotsWritten++
      })
      .catch((err: unknown) => {
        // Nothing is lost: the records before the snapshot are still in the WAL. A
        // failed WAL fails the next commit too, which answers the client with an error.
        this.cfg.logger(`broker state: snapshot failed: ${err instanceof Error ? err.message : String(err)}`)
      })
      .finally(() => {
        this.snapshotting = null
      })
  }

  stats(): BrokerStateStats {
    return { firstLsn: this.wal.firstLsn, lastLsn: this.wal.lastLsn, snapshotsWritten: this.snapshotsWritten, recovery: this.recovery }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.snapshotting
      await this.wal.close()
    })()
    return this.closing
  }
}
