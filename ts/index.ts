// The one public entry of @streamline/io (DESIGN.md §3).
export { openIo } from './io'
export { loadConfig, ConfigError, DEFAULT_CONFIG } from './config'
export { crc32c } from './crc32c'
export type { AppendResult, AsyncFile, BatchResult, ConfigSource, Io, IoBatch, IoBufferPool, IoConfig, KernelInfo, OpenOptions, PoolStats, ReadResult, WriteResult } from './types'
export type { SystemError } from './errors'
export type { IoMetrics, OpMetrics, MetricOp } from './metrics'
export { openWal, type Wal, type WalOptions, type WalRecord, type WalRecovery } from './wal'
