// The WAL's public types (DESIGN.md §3 "WAL (openWal)"). Names here are stable.

/** How `openWal` opens a WAL. */
export interface WalOptions {
  /**
   * When appends are durable. `'always'` (default): an append resolves after an fdatasync
   * covering it (concurrent appends share one write and one fdatasync); `{ intervalMs }`:
   * an fdatasync every `intervalMs` milliseconds; `'none'`: only on `flush`/`close`.
   */
  sync?: 'always' | 'none' | { intervalMs: number }
  /** Bytes per WAL file; default = the Io's preallocateSize (64 MiB). */
  segmentBytes?: number
  /** Largest record accepted; default 16 MiB (less when segmentBytes cannot hold it). */
  maxRecordBytes?: number
  /** What recovery on open accepts at the end of the log; default 'tolerate-tail'. */
  recovery?: 'tolerate-tail' | 'strict'
  /** Inspect without recovering, locking or writing (dump/verify). */
  readOnly?: boolean
}

/** What recovery on open found at the end of the log. */
export interface WalRecovery {
  /** Bytes of a torn or corrupt tail that were zeroed (0 when the log ended cleanly). */
  truncatedBytes: number
  /** The file whose tail was zeroed, or null. */
  file: string | null
  /** Why, in words, or null. */
  reason: string | null
}

/** A replayed record. */
export interface WalRecord {
  /** Its log sequence number: 1 for the first record ever, then +1 per record. */
  lsn: number
  /** Its payload. */
  data: Buffer
}

/** A write-ahead log (`openWal`): records numbered by LSN, in files of `segmentBytes`, locked to one writer. */
export interface Wal {
  /** Its LSN, once durable per `sync`. */
  append(record: Uint8Array): Promise<number>
  /** Contiguous LSNs, written as one group. */
  appendMany(records: Uint8Array[]): Promise<number[]>
  /** Makes everything appended so far durable. */
  flush(): Promise<void>
  /** Records in LSN order from `fromLsn` (default firstLsn). */
  replay(fromLsn?: number): AsyncIterable<WalRecord>
  /** Checkpoint: drops whole files whose records are all below `lsn`. */
  truncateBefore(lsn: number): Promise<void>
  /** Oldest retained record; lastLsn + 1 when empty. */
  readonly firstLsn: number
  /** Newest appended record; 0 when nothing was ever appended. */
  readonly lastLsn: number
  /** Newest record known durable. */
  readonly durableLsn: number
  /** What recovery on open found and truncated. */
  readonly recovery: WalRecovery
  /** Flushes, closes the files and releases the directory lock. */
  close(): Promise<void>
}
