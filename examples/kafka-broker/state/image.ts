// The broker state as maps in memory, and how WAL records change it. Replay folds the
// records into an image; a snapshot is an image written out as records.
import { RecordKind, entryBytes, type OffsetCommitRecord, type SnapshotEntry, type StateRecord, type TxnProducerRecord } from './records'

/** What OffsetFetch returns for one partition. */
export interface CommittedOffset {
  readonly offset: number
  /** −1 when the client sent none. */
  readonly leaderEpoch: number
  readonly metadata: string
  readonly commitTimestampMs: number
}

/** The first producer id handed out (0 is valid in Kafka; 1 keeps "no id yet" unambiguous in logs). */
export const FIRST_PRODUCER_ID = 1

export class StateImage {
  /** group → topic → partition → committed offset. */
  readonly offsets = new Map<string, Map<string, Map<number, CommittedOffset>>>()
  /** transactionalId → its producer id and latest epoch. */
  readonly txnProducers = new Map<string, { producerId: number; producerEpoch: number }>()
  /** Every producer id below this has been handed out. */
  nextProducerId = FIRST_PRODUCER_ID

  /** Applies a data record (snapshot framing records are the replayer's business). */
  apply(r: OffsetCommitRecord | TxnProducerRecord | { kind: RecordKind.ProducerId; nextProducerId: number }): void {
    switch (r.kind) {
      case RecordKind.OffsetCommit: {
        let topics = this.offsets.get(r.group)
        if (!topics) this.offsets.set(r.group, (topics = new Map()))
        let partitions = topics.get(r.topic)
        if (!partitions) topics.set(r.topic, (partitions = new Map()))
        partitions.set(r.partition, { offset: r.offset, leaderEpoch: r.leaderEpoch, metadata: r.metadata, commitTimestampMs: r.commitTimestampMs })
        break
      }
      case RecordKind.TxnProducer:
        this.txnProducers.set(r.transactionalId, { producerId: r.producerId, producerEpoch: r.producerEpoch })
        // A transactional id's producer id is handed out too: never reuse it.
        this.nextProducerId = Math.max(this.nextProducerId, r.producerId + 1)
        break
      case RecordKind.ProducerId:
        // Never move backwards: a reused producer id would let two producers' sequences collide.
        this.nextProducerId = Math.max(this.nextProducerId, r.nextProducerId)
        break
    }
  }

  /** Every entry of the image, for a snapshot. */
  private *entries(): Generator<SnapshotEntry> {
    for (const [group, topics] of this.offsets) {
      for (const [topic, partitions] of topics) {
        for (const [partition, c] of partitions) {
          yield { kind: RecordKind.OffsetCommit, group, topic, partition, ...c }
        }
      }
    }
    for (const [transactionalId, p] of this.txnProducers) yield { kind: RecordKind.TxnProducer, transactionalId, ...p }
  }

  /**
   * The image as snapshot records: begin, entries in records of about `chunkBytes`, end.
   * Taken synchronously, so it holds exactly the records appended before it.
   */
  snapshotRecords(chunkBytes: number): StateRecord[] {
    const out: StateRecord[] = []
    let chunk: SnapshotEntry[] = []
    let chunkSize = 0
    let count = 0
    for (const e of this.entries()) {
      const size = entryBytes(e)
      if (chunk.length > 0 && chunkSize + size > chunkBytes) {
        out.push({ kind: RecordKind.SnapshotEntries, entries: chunk })
        chunk = []
        chunkSize = 0
      }
      chunk.push(e)
      chunkSize += size
      count++
    }
    if (chunk.length > 0) out.push({ kind: RecordKind.SnapshotEntries, entries: chunk })
    return [{ kind: RecordKind.SnapshotBegin, nextProducerId: this.nextProducerId, entryCount: count }, ...out, { kind: RecordKind.SnapshotEnd, entryCount: count }]
  }

  /** How many entries a snapshot of this image holds. */
  get entryCount(): number {
    let n = this.txnProducers.size
    for (const topics of this.offsets.values()) for (const partitions of topics.values()) n += partitions.size
    return n
  }
}

/**
 * Folds records, in LSN order, into an image. A snapshot replaces the image only when its
 * end arrives with the count its begin announced; a snapshot cut short (a torn tail, or a
 * crash between its groups) is dropped and the records around it apply as usual.
 */
export class Replayer {
  readonly image = new StateImage()
  private staging: { image: StateImage; expected: number; seen: number } | null = null
  /** Complete snapshots read. */
  snapshots = 0
  /** Snapshots begun and never ended (dropped). */
  abandonedSnapshots = 0

  feed(r: StateRecord): void {
    switch (r.kind) {
      case RecordKind.SnapshotBegin: {
        if (this.staging) this.abandonedSnapshots++
        const image = new StateImage()
        image.nextProducerId = r.nextProducerId
        this.staging = { image, expected: r.entryCount, seen: 0 }
        return
      }
      case RecordKind.SnapshotEntries:
        if (!this.staging) return // the tail of a snapshot whose begin was cut off: nothing to stage into
        for (const e of r.entries) this.staging.image.apply(e)
        this.staging.seen += r.entries.length
        return
      case RecordKind.SnapshotEnd: {
        const s = this.staging
        this.staging = null
        if (!s) return
        if (s.seen !== s.expected || r.entryCount !== s.expected) {
          this.abandonedSnapshots++
          return
        }
        // Producer ids only move forward, even across a snapshot.
        s.image.nextProducerId = Math.max(s.image.nextProducerId, this.image.nextProducerId)
        this.replace(s.image)
        this.snapshots++
        return
      }
      default:
        if (this.staging) {
          // A data record inside a snapshot's range means that snapshot never finished.
          this.staging = null
          this.abandonedSnapshots++
        }
        this.image.apply(r)
    }
  }

  /** Ends the replay: a snapshot still open at the end was torn. */
  finish(): StateImage {
    if (this.staging) {
      this.staging = null
      this.abandonedSnapshots++
    }
    return this.image
  }

  private replace(next: StateImage): void {
    this.image.offsets.clear()
    for (const [k, v] of next.offsets) this.image.offsets.set(k, v)
    this.image.txnProducers.clear()
    for (const [k, v] of next.txnProducers) this.image.txnProducers.set(k, v)
    this.image.nextProducerId = next.nextProducerId
  }
}
