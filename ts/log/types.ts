// The partition log's public types (DESIGN.md §3 "Partition log (openLog)"). Names here
// are stable: tests, benchmarks and users call exactly these.
import type { Socket } from 'node:net'

/** How `openLog` opens a partition log. Sizes are bytes, times milliseconds. */
export interface LogOptions {
  /** Roll to a new segment before one would pass this many bytes; default 1 GiB, at most 2^31 − 1 (Kafka positions are int32). */
  segmentBytes?: number
  /** Roll when a batch's max timestamp is more than this past the segment's first batch's; default 7 days (Kafka's segment.ms). */
  segmentMs?: number
  /** An offset-index entry every this many bytes of batches, roughly; default 4096 (Kafka's index.interval.bytes). */
  indexIntervalBytes?: number
  /** Size each index file is preallocated to; a segment whose index is full rolls. Default 10 MiB (Kafka's segment.index.bytes). */
  maxIndexBytes?: number
  /** Retention by size: delete the oldest segments while the log stays at least this large. Default: keep everything. */
  retentionBytes?: number
  /** Retention by age: delete segments whose newest timestamp is older than this many ms. Default: keep everything. */
  retentionMs?: number
  /** Written as each batch's partitionLeaderEpoch; default 0. */
  leaderEpoch?: number
  /** 'always' (default): an append resolves after an fdatasync covering it; concurrent appends share one. */
  sync?: 'always' | 'none' | { intervalMs: number }
  /** Segment files kept open (and their indexes in memory) per log, LRU; default 64. */
  maxOpenSegments?: number
  /** Inspect without recovering, locking or writing (dump/verify). */
  readOnly?: boolean
}

/** A record to append. */
export interface LogRecordInput {
  /** Its key; default null. */
  key?: Uint8Array | null
  /** Its value; null is a tombstone. */
  value: Uint8Array | null
  /** Milliseconds since the epoch (CreateTime); default: the time of the append call. */
  timestamp?: number
  /** Kafka record headers; default none. */
  headers?: Array<{ key: string; value: Uint8Array | null }>
}

/** A decoded record (`readRecords`). */
export interface LogRecord {
  /** Its offset in the log. */
  offset: number
  /** Milliseconds since the epoch. */
  timestamp: number
  key: Buffer | null
  value: Buffer | null
  /** Header values are null where the producer sent a null value. */
  headers: Array<{ key: string; value: Buffer | null }>
}

/** The offsets an append was given (inclusive). */
export interface AppendInfo {
  /** The first record's offset. */
  baseOffset: number
  /** The last record's offset. */
  lastOffset: number
}

/** What `read` would return, planned but not read yet: pins its segments until sent or released. */
export interface LogSlice {
  /** Bytes the slice covers (whole batches). */
  readonly bytes: number
  /** The offset after the slice's last batch (where the next fetch starts). */
  readonly nextOffset: number
  /** Unpins its segments without sending it (idempotent). */
  release(): void
}

/** What recovery on open found (Kafka's LogSegment.recover, DESIGN.md §5). */
export interface LogRecovery {
  /** True when the last close left its clean-shutdown marker (nothing was walked). */
  clean: boolean
  /** Bytes of torn or corrupt tail cut from the active segment. */
  truncatedBytes: number
  /** The segment file whose tail was cut, or null. */
  file: string | null
  /** Why, in words, or null. */
  reason: string | null
  /** Index files found unusable and rebuilt from their segments (paths). */
  rebuiltIndexes: string[]
}

/**
 * A Kafka-format partition log (`openLog`): offsets from 0, RecordBatch v2 segments with
 * `.index` and `.timeindex` files, locked to one writer. Offsets are record offsets.
 */
export interface PartitionLog {
  /** Appends the records as one batch; offsets are assigned in call order; resolves once durable per `sync`. `[]` is ERR_INVALID_ARG_VALUE. */
  append(records: LogRecordInput[]): Promise<AppendInfo>
  /** A producer's encoded RecordBatch v2 (one or more whole batches), stored as sent but for baseOffset and partitionLeaderEpoch. */
  appendBatch(recordBatch: Buffer): Promise<AppendInfo>
  /**
   * Whole batches as stored, from the one holding `offset`, while they fit `maxBytes`
   * (default 1 MiB; the first comes whole even when larger), below `highWatermark`.
   */
  read(offset: number, opts?: { maxBytes?: number }): Promise<Buffer>
  /** The same batches decoded (uncompressed and gzip), records below `offset` dropped. */
  readRecords(offset: number, opts?: { maxBytes?: number }): Promise<LogRecord[]>
  /** What `read` would return, planned but not read: pins its segments until sent or released. */
  slice(offset: number, opts?: { maxBytes?: number }): Promise<LogSlice>
  /** Sends `prefix` then the slice's bytes to `socket`; resolves the bytes sent (prefix included). */
  sendTo(socket: Socket, slice: LogSlice, opts?: { prefix?: Buffer }): Promise<{ bytes: number }>
  /** True once highWatermark > offset; false on timeout or when the log closes. */
  waitFor(offset: number, opts?: { timeoutMs?: number; signal?: AbortSignal }): Promise<boolean>
  /** The first record whose timestamp (ms) is ≥ `ts`, or null (Kafka's ListOffsets by time). */
  offsetForTimestamp(ts: number): Promise<{ offset: number; timestamp: number } | null>
  /** Drops every batch that ends at or after `offset` (a follower's truncation). */
  truncateTo(offset: number): Promise<void>
  /** The oldest offset retained. */
  readonly logStartOffset: number
  /** The next offset to assign. */
  readonly logEndOffset: number
  /** The end of what is durable under `sync` (what reads return). */
  readonly highWatermark: number
  /** What recovery on open found. */
  readonly recovery: LogRecovery
  /** Deletes segments past retention; resolves how many. */
  applyRetention(): Promise<number>
  /** Makes everything appended durable. */
  flush(): Promise<void>
  /** Flushes, trims the indexes, writes the clean-shutdown marker and releases the lock. */
  close(): Promise<void>
}
