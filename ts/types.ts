import type { Socket } from 'node:net'
import type { IoMetrics } from './metrics'

// The public types of @streamline/io (DESIGN.md §3). Names here are stable: tests,
// benchmarks and users call exactly these.

/** Where a configuration value came from, lowest precedence first. */
export type ConfigSource = 'default' | 'env' | 'argv' | 'override'

/**
 * The settings of an Io (`openIo(overrides)`, `loadConfig`). Precedence: defaults <
 * environment < command-line flags < overrides. A value out of its bounds is a
 * `ConfigError` (`ERR_IO_CONFIG`) naming the setting and its source.
 */
export interface IoConfig {
  /** Use io_uring where the kernel allows it (else the standard backend). Default `true`. STREAMLINE_IO_URING, --enable-io-uring */
  enableIoUring: boolean
  /** Submission-queue entries per ring: a power of two, at most 32768. Default `256`. STREAMLINE_IO_SQ_DEPTH, --io-uring-sq-depth */
  sqDepth: number
  /** Operations in flight at most (later ones wait in a FIFO), 1–65535; the completion queue is sized ≥ it. Default `1024`. STREAMLINE_IO_QUEUE_DEPTH, --io-queue-depth */
  queueDepth: number
  /** Rings, one thread each (engine mode `thread` only), 1–64. Default `1`. STREAMLINE_IO_WORKERS, --io-workers */
  ioWorkers: number
  /** Free buffers kept per size class by `io.pool` (more are dropped), 0–65536. Default `64`. STREAMLINE_IO_BUFFER_POOL_SIZE, --io-buffer-pool-size */
  bufferPoolSize: number
  /** `io.pool` buffer sizes in bytes, ascending multiples of 512, each at most 1 GiB. Default `[4096, 65536, 1048576]`. STREAMLINE_IO_SIZE_CLASSES (comma list) */
  sizeClasses: number[]
  /** A kernel thread polls the submission queue (IORING_SETUP_SQPOLL; a preference: dropped where refused). Default `false`. STREAMLINE_IO_SQPOLL, --io-uring-sqpoll */
  sqpoll: boolean
  /** Preallocate each WAL file to its full size when it is created. Default `true`. STREAMLINE_IO_PREALLOCATE_WAL, --preallocate-wal */
  preallocateWal: boolean
  /** Bytes per WAL file (the WAL's default `segmentBytes`), ≥ 4096. Default `67108864` (64 MiB). STREAMLINE_IO_PREALLOCATE_SIZE, --preallocate-size */
  preallocateSize: number
}

/** What `openIo` found out about the kernel (`io.kernel`). */
export interface KernelInfo {
  /** `uname -r`. */
  release: string
  /** Whether the probe could set up a ring (opcodes and features are the probe ring's). */
  ioUring: boolean
  /** io_uring opcodes the kernel supports (IORING_REGISTER_PROBE), by name; empty without a ring. */
  opcodes: string[]
  /** IORING_FEAT_* features of the probe ring, by name. */
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
    /** Submission-queue entries (`sqDepth`). */
    sqEntries: number
    /** Completion-queue entries (≥ `queueDepth`). */
    cqEntries: number
    /** Requests the ring's queue holds. */
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

/** One ring as the kernel set it up. */
export interface RingReport {
  /** Submission-queue entries. */
  sqEntries: number
  /** Completion-queue entries. */
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

/** How `io.open*` opens a file. */
export interface OpenOptions {
  /**
   * O_DIRECT: buffers, lengths and offsets must then be aligned (`io.pool` buffers are).
   * `'prefer'` opens without it where the file system refuses. Default `false`.
   */
  direct?: boolean | 'prefer'
  /** Permission bits when the file is created. Default `0o644`. */
  mode?: number
}

/** A read's outcome: `buffer` is the buffer passed in, filled from its start. */
export interface ReadResult {
  /** Bytes read: the buffer's length unless end-of-file came first. */
  bytesRead: number
  buffer: Buffer
}
/** A write's outcome: `buffer` is the buffer passed in. */
export interface WriteResult {
  /** Always the buffer's length (short writes are continued inside). */
  bytesWritten: number
  buffer: Buffer
}
/** An append's outcome. */
export interface AppendResult extends WriteResult {
  /** The file position (bytes) the buffer was written at, reserved when `append` was called. */
  position: number
}

/**
 * An open file. A buffer handed to an operation belongs to it until the promise settles.
 * Offsets and lengths are bytes: non-negative safe integers (else `ERR_OUT_OF_RANGE`).
 * Errors are node:fs-shaped (`code`, `errno`, `syscall`, `path`) on both backends.
 */
export interface AsyncFile {
  /** The path it was opened with. */
  readonly path: string
  /** Reads into `buf` from byte `offset`; fills it unless end-of-file comes first. */
  readAt(buf: Buffer, offset: number): Promise<ReadResult>
  /** Writes all of `buf` at byte `offset`, or rejects. */
  writeAt(buf: Buffer, offset: number): Promise<WriteResult>
  /** Writes all of `buf` at the end; positions are reserved in call order, so concurrent appends never overlap (no O_APPEND). */
  append(buf: Buffer): Promise<AppendResult>
  /** fdatasync(2): the data written so far is durable. */
  syncData(): Promise<void>
  /** fsync(2): data and metadata. */
  syncAll(): Promise<void>
  /** The file's size on disk in bytes (fstat/statx). */
  size(): Promise<number>
  /** Reserves `len` bytes from byte `offset` (default 0): fallocate(2) mode 0. */
  allocate(len: number, offset?: number): Promise<void>
  /** Sets the size to `len` bytes (ftruncate(2)). */
  truncate(len: number): Promise<void>
  /**
   * Sends `length` bytes from byte `position` to a connected `socket` without passing them
   * through JavaScript where it can (README "Zero-copy sendTo"): IORING_OP_SPLICE on
   * io_uring, sendfile(2) on the standard backend, else read + socket.write. Resolves the
   * bytes sent: fewer than `length` only when end-of-file comes first. Calls on one socket
   * run in call order, never interleaved; Node's writes made before it arrive before its
   * bytes. Don't `end()` the socket before it settles. A failure after bytes went out
   * destroys the socket (the peer got a partial range) and rejects.
   */
  sendTo(socket: Socket, position: number, length: number): Promise<number>
  /** Closes it; later calls reject with `ERR_IO_CLOSED`. */
  close(): Promise<void>
}

/** One operation's outcome in a batch: bytes transferred (0 for a sync), or its error. */
export type BatchResult = { ok: true; bytes: number } | { ok: false; error: Error }

/**
 * Many operations, one native call, one promise (DESIGN.md §3). `link: true` chains an
 * operation to the next (IOSQE_IO_LINK): when it fails, the rest of the chain is
 * cancelled (ECANCELED). At most `queueDepth` operations per batch.
 */
export interface IoBatch {
  /** Adds a read of `buf` at byte `offset` of `f`. */
  readAt(f: AsyncFile, buf: Buffer, offset: number, opts?: { link?: boolean }): this
  /** Adds a write of all of `buf` at byte `offset` of `f`. */
  writeAt(f: AsyncFile, buf: Buffer, offset: number, opts?: { link?: boolean }): this
  /** Adds an fdatasync of `f`. */
  syncData(f: AsyncFile, opts?: { link?: boolean }): this
  /** Operations added so far. */
  readonly length: number
  /** Submits them all; results in the order added. A batch is used once (`ERR_IO_BATCH_SUBMITTED`). */
  submit(): Promise<BatchResult[]>
}

/** An I/O context (`openIo()`): one backend, its rings or thread pool, its buffer pool and metrics. */
export interface Io {
  /** The backend in use: `'io_uring'`, or `'standard'` (node:fs) where io_uring is unavailable or disabled. */
  readonly backend: 'io_uring' | 'standard'
  /** Why io_uring is not in use, in words (the binary looked for, the sysctl, seccomp, …); null when it is. */
  readonly fallbackReason: string | null
  /** The kernel release and its io_uring support. */
  readonly kernel: KernelInfo
  /** The effective configuration. */
  readonly config: Readonly<IoConfig>
  /** Reusable I/O buffers: aligned (O_DIRECT-ready) and, on io_uring, registered. */
  readonly pool: IoBufferPool
  /** Opens an existing file read-only. */
  open(path: string, opts?: OpenOptions): Promise<AsyncFile>
  /** Opens an existing file read-write. */
  openRw(path: string, opts?: OpenOptions): Promise<AsyncFile>
  /** Creates a file read-write, truncating one that exists. */
  create(path: string, opts?: OpenOptions): Promise<AsyncFile>
  /** Opens a file read-write for `append`, creating it if missing. */
  openAppend(path: string, opts?: OpenOptions): Promise<AsyncFile>
  /** A new batch of operations submitted together. */
  batch(): IoBatch
  /** A plain snapshot of the per-operation metrics. */
  metrics(): IoMetrics
  /** The same metrics in Prometheus text exposition format 0.0.4. */
  prometheus(): string
  /** Operations that fell back from a failed ring to the standard path. */
  readonly degradedOps: number
  /** Drains in-flight work, closes its files and stops the rings; later calls reject with `ERR_IO_CLOSED`. */
  close(): Promise<void>
}
