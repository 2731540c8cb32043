// The records of the broker-state WAL (`--dir/@broker-state/`). Every record starts with
// a format version byte and a kind byte, so a later build can change a layout without
// guessing what an old file holds; this build refuses versions it does not know.
//
// Layout (big-endian, strings = u32 byte length + UTF-8):
//   offset-commit     group, topic, i32 partition, i64 offset, i32 leaderEpoch,
//                     metadata, i64 commitTimestampMs
//   producer-id       i64 nextProducerId (every id below it has been handed out)
//   txn-producer      transactionalId, i64 producerId, i16 producerEpoch
//   snapshot-begin    i64 nextProducerId, u32 entryCount
//   snapshot-entries  u32 n, then n entries, each a kind byte (offset-commit or
//                     txn-producer) and that kind's body
//   snapshot-end      u32 entryCount (must equal the begin's)
// A snapshot is begin, entries…, end, appended as one appendMany: on replay it replaces
// the whole state only once its end is read (a torn snapshot is ignored, and the records
// before it — not yet truncated — still hold the state).
import { BrokerStateError } from './errors'

export const RECORD_FORMAT_VERSION = 1

export const enum RecordKind {
  OffsetCommit = 1,
  ProducerId = 2,
  TxnProducer = 3,
  SnapshotBegin = 4,
  SnapshotEntries = 5,
  SnapshotEnd = 6,
}

export interface OffsetCommitRecord {
  readonly kind: RecordKind.OffsetCommit
  readonly group: string
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly leaderEpoch: number
  readonly metadata: string
  readonly commitTimestampMs: number
}

export interface ProducerIdRecord {
  readonly kind: RecordKind.ProducerId
  readonly nextProducerId: number
}

export interface TxnProducerRecord {
  readonly kind: RecordKind.TxnProducer
  readonly transactionalId: string
  readonly producerId: number
  readonly producerEpoch: number
}

export type SnapshotEntry = OffsetCommitRecord | TxnProducerRecord

export interface SnapshotBeginRecord {
  readonly kind: RecordKind.SnapshotBegin
  readonly nextProducerId: number
  readonly entryCount: number
}

export interface SnapshotEntriesRecord {
  readonly kind: RecordKind.SnapshotEntries
  readonly entries: readonly SnapshotEntry[]
}

export interface SnapshotEndRecord {
  readonly kind: RecordKind.SnapshotEnd
  readonly entryCount: number
}

export type StateRecord = OffsetCommitRecord | ProducerIdRecord | TxnProducerRecord | SnapshotBeginRecord | SnapshotEntriesRecord | SnapshotEndRecord

/** Appends big-endian fields to a growing list of chunks (records are small). */
class RecordEncoder {
  private readonly parts: Buffer[] = []
  private size = 0

  private push(b: Buffer): this {
    this.parts.push(b)
    this.size += b.length
    return this
  }
  u8(v: number): this {
    const b = Buffer.allocUnsafe(1)
    b.writeUInt8(v)
    return this.push(b)
  }
  i16(v: number): this {
    const b = Buffer.allocUnsafe(2)
    b.writeInt16BE(v)
    return this.push(b)
  }
  i32(v: number): this {
    const b = Buffer.allocUnsafe(4)
    b.writeInt32BE(v)
    return this.push(b)
  }
  u32(v: number): this {
    const b = Buffer.allocUnsafe(4)
    b.writeUInt32BE(v)
    return this.push(b)
  }
  i64(v: number): this {
    const b = Buffer.allocUnsafe(8)
    b.writeBigInt64BE(BigInt(v))
    return this.push(b)
  }
  str(v: string): this {
    const s = Buffer.from(v, 'utf8')
    return this.u32(s.length).push(s)
  }
  get length(): number {
    return this.size
  }
  finish(): Buffer {
    return Buffer.concat(this.parts, this.size)
  }
}

/** Reads the fields back; running past the end is corruption (the WAL's CRC passed, the layout did not). */
class RecordDecoder {
  private pos = 0
  constructor(
    private readonly buf: Buffer,
    private readonly where: string,
  ) {}

  private take(n: number): number {
    if (this.pos + n > this.buf.length) throw corrupt(this.where, `truncated: needs ${n} more bytes at byte ${this.pos} of ${this.buf.length}`)
    const at = this.pos
    this.pos += n
    return at
  }
  u8(): number {
    return this.buf.readUInt8(this.take(1))
  }
  i16(): number {
    return this.buf.readInt16BE(this.take(2))
  }
  i32(): number {
    return this.buf.readInt32BE(this.take(4))
  }
  u32(): number {
    return this.buf.readUInt32BE(this.take(4))
  }
  i64(): number {
    const v = this.buf.readBigInt64BE(this.take(8))
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw corrupt(this.where, `int64 ${v} outside ±2^53`)
    return Number(v)
  }
  str(): string {
    const n = this.u32()
    const at = this.take(n)
    return this.buf.toString('utf8', at, at + n)
  }
  end(): void {
    if (this.pos !== this.buf.length) throw corrupt(this.where, `${this.buf.length - this.pos} bytes left after the record`)
  }
}

function corrupt(where: string, what: string): BrokerStateError {
  return new BrokerStateError('ERR_BROKER_STATE_CORRUPT', `broker state record ${where}: ${what}`)
}

function encodeEntryBody(e: RecordEncoder, r: SnapshotEntry): void {
  if (r.kind === RecordKind.OffsetCommit) {
    e.str(r.group).str(r.topic).i32(r.partition).i64(r.offset).i32(r.leaderEpoch).str(r.metadata).i64(r.commitTimestampMs)
  } else {
    e.str(r.transactionalId).i64(r.producerId).i16(r.producerEpoch)
  }
}

function decodeEntryBody(d: RecordDecoder, kind: number, where: string): SnapshotEntry {
  if (kind === RecordKind.OffsetCommit) {
    return {
      kind,
      group: d.str(),
      topic: d.str(),
      partition: d.i32(),
      offset: d.i64(),
      leaderEpoch: d.i32(),
      metadata: d.str(),
      commitTimestampMs: d.i64(),
    }
  }
  if (kind === RecordKind.TxnProducer) return { kind, transactionalId: d.str(), producerId: d.i64(), producerEpoch: d.i16() }
  throw corrupt(where, `kind ${kind} cannot be a snapshot entry`)
}

/** The bytes of one snapshot entry once encoded (to cut snapshots into records of a bounded size). */
export function entryBytes(r: SnapshotEntry): number {
  const e = new RecordEncoder()
  encodeEntryBody(e, r)
  return 1 + e.length
}

export function encodeRecord(r: StateRecord): Buffer {
  const e = new RecordEncoder().u8(RECORD_FORMAT_VERSION).u8(r.kind)
  switch (r.kind) {
    case RecordKind.OffsetCommit:
    case RecordKind.TxnProducer:
      encodeEntryBody(e, r)
      break
    case RecordKind.ProducerId:
      e.i64(r.nextProducerId)
      break
    case RecordKind.SnapshotBegin:
      e.i64(r.nextProducerId).u32(r.entryCount)
      break
    case RecordKind.SnapshotEntries:
      e.u32(r.entries.length)
      for (const entry of r.entries) {
        e.u8(entry.kind)
        encodeEntryBody(e, entry)
      }
      break
    case RecordKind.SnapshotEnd:
      e.u32(r.entryCount)
      break
  }
  return e.finish()
}

/** Decodes one record; `where` (e.g. "LSN 12") goes into the error of a record this build cannot read. */
export function decodeRecord(data: Buffer, where: string): StateRecord {
  if (data.length < 2) throw corrupt(where, `${data.length} bytes, shorter than the version and kind`)
  const version = data[0]
  if (version !== RECORD_FORMAT_VERSION) {
    throw new BrokerStateError('ERR_BROKER_STATE_VERSION', `broker state record ${where}: format version ${version}; this build reads version ${RECORD_FORMAT_VERSION} only`)
  }
  const d = new RecordDecoder(data, where)
  d.u8()
  const kind = d.u8()
  let r: StateRecord
  switch (kind) {
    case RecordKind.OffsetCommit:
    case RecordKind.TxnProducer:
      r = decodeEntryBody(d, kind, where)
      break
    case RecordKind.ProducerId:
      r = { kind, nextProducerId: d.i64() }
      break
    case RecordKind.SnapshotBegin:
      r = { kind, nextProducerId: d.i64(), entryCount: d.u32() }
      break
    case RecordKind.SnapshotEntries: {
      const n = d.u32()
      const entries: SnapshotEntry[] = []
      for (let i = 0; i < n; i++) entries.push(decodeEntryBody(d, d.u8(), where))
      r = { kind, entries }
      break
    }
    case RecordKind.SnapshotEnd:
      r = { kind, entryCount: d.u32() }
      break
    default:
      throw corrupt(where, `unknown kind ${kind}`)
  }
  d.end()
  return r
}
