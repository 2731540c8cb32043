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
  /** Whether the probe could set up a ring (opcodes and features are the probe ring's). */
  ioUring: boolean
  opcodes: string[]
  features: string[]
  /** The rings the io_uring backend actually set up; null on the standard backend. */
  ring: RingSetup | null
}

/** The io_uring backend's rings: what was asked for and what the kernel gave. */
export interface RingSetup {
  /** How the rings are driven (STREAMLINE_IO_ENGINE) and where that came from. */
  engine: 'inline' | 'thread'
  engineSource: 'default' | 'env'
  /** What each ring was asked for (createEngine's options). */
  requested: {
    sqEntries: number
    cqEntries: number
    queueCapacity: number
    fixedFileSlots: number
    fixedBufferSlots: number
    sqpoll: boolean
  }
  /**
   * What each ring was set up with, one entry per ring (ioWorkers in thread mode, one
   * inline), as the addon reports it; null when the addon does not (see `unreported`).
   */
  rings: RingReport[] | null
  /** Why `rings` is null. */
  unreported?: string
}

export interface RingReport {
  sqEntries: number
  cqEntries: number
  /** IORING_SETUP_* flags in use, by name (after the fallbacks: no 'sqpoll' when it was refused). */
  setupFlags: string[]
  /** IORING_FEAT_* features of the ring, by name. */
  features: string[]
  /** The fixed-file table: its slots (0 = none), and why the kernel refused it (null = it did not). */
  fixedFiles: { slots: number; refused: string | null }
  /** The registered-buffer table, likewise. */
  fixedBuffers: { slots: number; refused: string | null }
  /** ftruncate through IORING_OP_FTRUNCATE (Linux 6.9), else ftruncate(2) off the ring. */
  ftruncateOp: boolean
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
