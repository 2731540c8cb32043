// The partition log's public types (DESIGN.md §3 "Partition log (openLog)"). Names here
// are stable: tests, benchmarks and users call exactly these.
import type { Socket } from 'node:net'

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

export interface LogRecordInput {
  key?: Uint8Array | null
  value: Uint8Array | null
  /** Milliseconds since the epoch (CreateTime); default: the time of the append call. */
  timestamp?: number
  headers?: Array<{ key: string; value: Uint8Array | null }>
}

export interface LogRecord {
  offset: number
  timestamp: number
  key: Buffer | null
  value: Buffer | null
  /** Header values are null where the producer sent a null value. */
  headers: Array<{ key: string; value: Buffer | null }>
}

export interface AppendInfo {
  baseOffset: number
  lastOffset: number
}

/** What `read` would return, planned but not read yet: pins its segments until sent or released. */
export interface LogSlice {
  /** Bytes the slice covers (whole batches). */
  readonly bytes: number
  /** The offset after the slice's last batch (where the next fetch starts). */
  readonly nextOffset: number
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

export interface PartitionLog {
  append(records: LogRecordInput[]): Promise<AppendInfo>
  /** A producer's encoded RecordBatch v2 (one or more whole batches), stored as sent but for baseOffset and partitionLeaderEpoch. */
  appendBatch(recordBatch: Buffer): Promise<AppendInfo>
  read(offset: number, opts?: { maxBytes?: number }): Promise<Buffer>
  readRecords(offset: number, opts?: { maxBytes?: number }): Promise<LogRecord[]>
  slice(offset: number, opts?: { maxBytes?: number }): Promise<LogSlice>
  sendTo(socket: Socket, slice: LogSlice, opts?: { prefix?: Buffer }): Promise<{ bytes: number }>
  /** True once highWatermark > offset; false on timeout or when the log closes. */
  waitFor(offset: number, opts?: { timeoutMs?: number; signal?: AbortSignal }): Promise<boolean>
  offsetForTimestamp(ts: number): Promise<{ offset: number; timestamp: number } | null>
  truncateTo(offset: number): Promise<void>
  readonly logStartOffset: number
  /** The next offset to assign. */
  readonly logEndOffset: number
  /** The end of what is durable under `sync` (what reads return). */
  readonly highWatermark: number
  readonly recovery: LogRecovery
  /** Deletes segments past retention; resolves how many. */
  applyRetention(): Promise<number>
  flush(): Promise<void>
  close(): Promise<void>
}
