// The one public entry of @streamline/io (DESIGN.md §3).
export { openIo } from './io'
export { loadConfig, ConfigError, DEFAULT_CONFIG } from './config'
export { crc32c } from './crc32c'
export type { AppendResult, AsyncFile, BatchResult, ConfigSource, Io, IoBatch, IoBufferPool, IoConfig, KernelInfo, OpenOptions, PoolStats, ReadResult, WriteResult } from './types'
export type { SystemError } from './errors'
export type { IoMetrics, OpMetrics, MetricOp } from './metrics'
export type { Wal, WalOptions, WalRecord, WalRecovery } from './wal'
export type { AppendInfo, LogOptions, LogRecord, LogRecordInput, LogRecovery, LogSlice, PartitionLog } from './log'
import type { Io } from './types'
import type { Wal, WalOptions } from './wal'
import type { LogOptions, PartitionLog } from './log'

/**
 * Opens (and recovers) a write-ahead log in `dir` (DESIGN.md §3). The WAL's modules load
 * on first use: an application that never opens one does not pay their memory (M1).
 */
export function openWal(io: Io, dir: string, opts?: WalOptions): Promise<Wal> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('./wal') as typeof import('./wal')).openWal(io, dir, opts)
}

/**
 * Opens (and recovers) a Kafka-format partition log in `dir` (DESIGN.md §3, §5). Loaded
 * on first use, like the WAL.
 */
export function openLog(io: Io, dir: string, opts?: LogOptions): Promise<PartitionLog> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('./log') as typeof import('./log')).openLog(io, dir, opts)
}
