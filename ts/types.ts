import type { IoMetrics } from './metrics'

// The public types of @streamline/io (DESIGN.md §3). Names here are stable: tests,
// benchmarks and users call exactly these.

/** Where a configuration value came from, lowest precedence first. */
export type ConfigSource = 'default' | 'env' | 'argv' | 'override'

export interface IoConfig {
  /** Use io_uring where the kernel allows it. STREAMLINE_IO_URING, --enable-io-uring */
  enableIoUring: boolean
  /** Submission queue entries per ring, a power of two. STREAMLINE_IO_SQ_DEPTH, --io-uring-sq-depth */
  sqDepth: number
  /** Operations in flight at most; later ones wait. STREAMLINE_IO_QUEUE_DEPTH, --io-queue-depth */
  queueDepth: number
  /** Ring threads. STREAMLINE_IO_WORKERS, --io-workers */
  ioWorkers: number
  /** Buffers kept per size class. STREAMLINE_IO_BUFFER_POOL_SIZE, --io-buffer-pool-size */
  bufferPoolSize: number
  /** Buffer pool size classes in bytes. STREAMLINE_IO_SIZE_CLASSES (comma list) */
  sizeClasses: number[]
  /** Kernel-side submission polling. STREAMLINE_IO_SQPOLL, --io-uring-sqpoll */
  sqpoll: boolean
  /** Preallocate WAL files. STREAMLINE_IO_PREALLOCATE_WAL, --preallocate-wal */
  preallocateWal: boolean
  /** WAL file preallocation in bytes. STREAMLINE_IO_PREALLOCATE_SIZE, --preallocate-size */
  preallocateSize: number
}

export interface KernelInfo {
  release: string
  ioUring: boolean
  opcodes: string[]
  features: string[]
}

import type { IoBufferPool } from './pool'
export type { IoBufferPool, PoolStats } from './pool'

export interface OpenOptions {
  /** O_DIRECT; 'prefer' opens without it where unsupported. */
  direct?: boolean | 'prefer'
  /** Permissions on create, default 0o644. */
  mode?: number
}

export interface ReadResult {
  bytesRead: number
  buffer: Buffer
}
export interface WriteResult {
  bytesWritten: number
  buffer: Buffer
}
export interface AppendResult extends WriteResult {
  position: number
}

export interface AsyncFile {
  readonly path: string
  readAt(buf: Buffer, offset: number): Promise<ReadResult>
  writeAt(buf: Buffer, offset: number): Promise<WriteResult>
  append(buf: Buffer): Promise<AppendResult>
  syncData(): Promise<void>
  syncAll(): Promise<void>
  size(): Promise<number>
  allocate(len: number, offset?: number): Promise<void>
  truncate(len: number): Promise<void>
  close(): Promise<void>
}

export type BatchResult = { ok: true; bytes: number } | { ok: false; error: Error }

/** Many operations, one native call, one promise (DESIGN.md §3). */
export interface IoBatch {
  readAt(f: AsyncFile, buf: Buffer, offset: number, opts?: { link?: boolean }): this
  writeAt(f: AsyncFile, buf: Buffer, offset: number, opts?: { link?: boolean }): this
  syncData(f: AsyncFile, opts?: { link?: boolean }): this
  /** Operations added so far. */
  readonly length: number
  submit(): Promise<BatchResult[]>
}

export interface Io {
  readonly backend: 'io_uring' | 'standard'
  /** Why io_uring is not in use, in words; null when it is. */
  readonly fallbackReason: string | null
  readonly kernel: KernelInfo
  readonly config: Readonly<IoConfig>
  /** Reusable I/O buffers: aligned (O_DIRECT-ready) and, on io_uring, registered. */
  readonly pool: IoBufferPool
  open(path: string, opts?: OpenOptions): Promise<AsyncFile>
  openRw(path: string, opts?: OpenOptions): Promise<AsyncFile>
  create(path: string, opts?: OpenOptions): Promise<AsyncFile>
  openAppend(path: string, opts?: OpenOptions): Promise<AsyncFile>
  batch(): IoBatch
  /** A plain snapshot of the per-operation metrics. */
  metrics(): IoMetrics
  /** The same metrics in Prometheus text exposition format. */
  prometheus(): string
  /** Operations that fell back from a failed ring to the standard path. */
  readonly degradedOps: number
  close(): Promise<void>
}
