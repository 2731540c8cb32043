// The workload loops of DESIGN.md §6, shared by `streamline-io bench` (./index.ts), its
// node:fs child (./node-fs-child.ts) and the standalone benches/wal.ts:
//   W1  WAL: 4 KiB append + fdatasync, 1 writer
//   W1r raw file: writeAt 4 KiB then syncData, awaited one after the other, growing file
//   W2  WAL group commit: 64 writers × 1 KiB, each acknowledgement durable
//   W3  random 4 KiB reads, page cache warm, 32 in flight, a promise each
//   W4  the same through io.batch() of 32 (node:fs: Promise.all of 32 reads)
//   W5  random 4 KiB O_DIRECT reads, 32 in flight (the library's pool buffers; node:fs
//       reads into an aligned subarray of an over-allocated Buffer, ./aligned.ts)
//   W6  sequential 1 MiB reads over a file, cold cache (evicted before each pass)
//   W7P/W7W/W7C  16 partition logs: produce, consume warm, consume cold (./log.ts)
//   Z1/Z1C  a partition log's segments served to a loopback consumer in 1 MiB fetches,
//       warm and cold (./zerocopy.ts)
// Each loop runs against a Target: the library (an Io, either backend) or plain node:fs
// written the way a Node user writes it (FileHandle). Every loop records one latency per
// operation (per batch for W4) into an HDR histogram (./latency.ts: recordSince)
// and returns a Result; `summarize` turns it into the figures the CLI reports.
// Every timed loop runs its body at least once per worker before it looks at the clock:
// on a busy machine a worker may start after `seconds` have passed, and a run of 0
// operations would report nothing (a --duration 0.2 test run saw exactly that).
// A new workload: add its id to WORKLOADS, WORKLOAD_TITLES and WORKLOAD_UNITS, and a case
// in runIo/runNodeFs.
import fs from 'node:fs'
import path from 'node:path'
import type { Io } from '../../index'
import { addonFromEnv } from '../../config'
import { openWalWith, type PreallocStrategy } from '../../wal'
import { type LatencyHistogram, type LatencyUs, newHistogram, recordSince, summarizeLatency } from './latency'
import { alignedBuffer, requireDirect } from './aligned'
import { consume, logDataFiles, produce, syncLoopProduce } from './log'
import { serveLibrary, serveNodeFs, zeroCopySegments } from './zerocopy'

export const KiB = 1024
export const MiB = 1024 * KiB

export const WORKLOADS = ['W1', 'W1r', 'W2', 'W3', 'W4', 'W5', 'W6', 'W7P', 'W7W', 'W7C', 'Z1', 'Z1C'] as const
export type Workload = (typeof WORKLOADS)[number]

export const WORKLOAD_TITLES: Record<Workload, string> = {
  W1: 'WAL 4 KiB append+fdatasync, 1 writer',
  W1r: 'file writeAt 4 KiB + syncData, growing',
  W2: 'WAL 64 writers × 1 KiB, durable',
  W3: 'random 4 KiB reads, warm, QD32',
  W4: 'random 4 KiB reads, batches of 32',
  W5: 'random 4 KiB O_DIRECT reads, QD32',
  W6: 'sequential 1 MiB reads, cold cache',
  W7P: '16 logs: produce 100 × 1 KiB batches, durable',
  W7W: '16 logs: consume 64 KiB fetches, warm',
  W7C: '16 logs: consume 64 KiB fetches, cold',
  Z1: 'serve a log to a loopback consumer, 1 MiB fetches, warm',
  Z1C: 'serve a log to a loopback consumer, 1 MiB fetches, cold',
}

/** The zero-copy fetch workloads (./zerocopy.ts). */
export const ZERO_COPY_WORKLOADS: readonly Workload[] = ['Z1', 'Z1C']

/** The partition-log workloads (the library only; node:fs has no partition log). */
export const LOG_WORKLOADS: readonly Workload[] = ['W7P', 'W7W', 'W7C']

/** What each workload's throughput is counted in (a sequential scan in MB/s, partition logs in records, the rest in operations). */
export const WORKLOAD_UNITS: Record<Workload, 'ops/s' | 'MB/s' | 'records/s'> = {
  W1: 'ops/s',
  W1r: 'ops/s',
  W2: 'ops/s',
  W3: 'ops/s',
  W4: 'ops/s',
  W5: 'ops/s',
  W6: 'MB/s',
  W7P: 'records/s',
  W7W: 'records/s',
  W7C: 'records/s',
  Z1: 'MB/s',
  Z1C: 'MB/s',
}

const TMPFS_MAGIC = 0x01021994
const FS_TYPES: Record<number, string> = {
  0xef53: 'ext4',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  [TMPFS_MAGIC]: 'tmpfs',
  0x794c7630: 'overlayfs',
  0xf2f52010: 'f2fs',
  0x2fc12fc1: 'zfs',
  0x6969: 'nfs',
}

/** The file system type of `dir` by its statfs magic (tmpfs: fdatasync is free there). */
export function fsTypeOf(dir: string): string {
  try {
    const t = fs.statfsSync(dir).type
    return FS_TYPES[t] ?? `0x${t.toString(16)}`
  } catch {
    return 'unknown'
  }
}

/**
 * Raw measurement: operations, bytes moved, wall time, and an HDR histogram with one
 * latency per operation (or per batch: W4) in nanoseconds (./latency.ts).
 */
export interface Result {
  ops: number
  bytes: number
  seconds: number
  latency: LatencyHistogram
  /** CPU time (user + system, every thread of the process) spent in the timed part, µs; where measured. */
  cpuUs?: number
  /** Z1: the consumer child's CPU, µs. */
  consumerCpuUs?: number
  /** Z1 on the library: body bytes by the sendTo path that carried them. */
  paths?: Record<string, number>
}

/** What a run reports (and what the node:fs child sends back as JSON). */
export interface Summary {
  ops: number
  bytes: number
  seconds: number
  opsPerSec: number
  mbPerSec: number
  latencyUs: LatencyUs
  /** The run's HDR histogram (ns), compressed base64: plots and reports are drawn from it. */
  histogram: string
  /** CPU per operation (µs) and per GB moved (s), where the workload measures CPU. */
  cpuUsPerOp?: number
  cpuSecondsPerGB?: number
  /** Z1: the consumer's CPU per GB received (s). */
  consumerCpuSecondsPerGB?: number
  /** Z1 on the library: body bytes by sendTo path (splice, sendfile, copy). */
  paths?: Record<string, number>
}

/** The figures of a run; its histogram is encoded and released (call once per Result). */
export function summarize(r: Result): Summary {
  const cpu = r.cpuUs === undefined ? {} : { cpuUsPerOp: r.cpuUs / Math.max(1, r.ops), cpuSecondsPerGB: r.cpuUs / 1e6 / Math.max(1e-9, r.bytes / 1e9) }
  const consumer = r.consumerCpuUs === undefined ? {} : { consumerCpuSecondsPerGB: r.consumerCpuUs / 1e6 / Math.max(1e-9, r.bytes / 1e9) }
  return {
    ops: r.ops,
    bytes: r.bytes,
    seconds: r.seconds,
    opsPerSec: r.ops / r.seconds,
    mbPerSec: r.bytes / r.seconds / 1e6,
    ...summarizeLatency(r.latency),
    ...cpu,
    ...consumer,
    ...(r.paths === undefined ? {} : { paths: r.paths }),
  }
}

/** CPU time of the whole process (every thread) since `start` (process.cpuUsage()), µs. */
export function cpuSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start)
  return d.user + d.system
}

/** Something that appends a record durably and says when it is acknowledged. */
export interface Appender {
  append(rec: Buffer): Promise<unknown>
  close(): Promise<void>
  /** The record `drive` appends, when the appender brings its own (W1r's pool buffer); else a plain Buffer. */
  record?: Buffer
}

/** `writers` loops appending `recordBytes` records for `seconds`; latency per append. */
export async function drive(a: Appender, writers: number, recordBytes: number, seconds: number): Promise<Result> {
  const lat = newHistogram()
  const rec = a.record ?? Buffer.alloc(recordBytes, 0x5a)
  const end = performance.now() + seconds * 1000
  const start = performance.now()
  await Promise.all(
    Array.from({ length: writers }, async () => {
      do {
        const t0 = performance.now()
        await a.append(rec)
        recordSince(lat, t0)
      } while (performance.now() < end)
    }),
  )
  const elapsed = (performance.now() - start) / 1000
  return { ops: lat.totalCount, bytes: lat.totalCount * recordBytes, seconds: elapsed, latency: lat }
}

/** The library's WAL (sync 'always'); optionally a checkpointer behind it as a broker has. */
export async function walAppender(io: Io, dir: string, opts: { prealloc?: PreallocStrategy; segmentBytes?: number; checkpoint?: boolean } = {}): Promise<Appender> {
  const wal = await openWalWith(io, dir, { sync: 'always', segmentBytes: opts.segmentBytes }, { prealloc: opts.prealloc })
  // Files behind the checkpointer are dropped (or recycled).
  const timer = opts.checkpoint ? setInterval(() => void wal.truncateBefore(Math.max(1, wal.durableLsn - 1000)).catch(() => {}), 100) : null
  return {
    append: (rec) => wal.append(rec),
    close: async () => {
      if (timer) clearInterval(timer)
      await wal.close()
    },
  }
}

/** The naive WAL: a FileHandle, one write and one datasync per record, nothing shared. */
export async function nodeFsAppender(dir: string): Promise<Appender> {
  const fh = await fs.promises.open(path.join(dir, 'naive.wal'), 'w+')
  let pos = 0
  return {
    async append(rec) {
      const at = pos
      pos += rec.length
      await fh.write(rec, 0, rec.length, at)
      await fh.datasync()
    },
    close: () => fh.close(),
  }
}

/**
 * W1r on the library, the raw file path a user takes for a durable append without a WAL:
 * io.create, then per record a positional write and syncData, each awaited, on a file that
 * grows. The record is io.pool's (registered on io_uring). Its node:fs peer is
 * nodeFsAppender: the same write + datasync through a FileHandle.
 */
export async function ioRawAppender(io: Io, dir: string): Promise<Appender> {
  const f = await io.create(path.join(dir, 'raw.dat'))
  const pooled = io.pool.acquire(4 * KiB)
  let pos = 0
  return {
    // The pool's size class may be larger than asked (STREAMLINE_IO_SIZE_CLASSES): 4 KiB of it.
    record: pooled.subarray(0, 4 * KiB).fill(0x5a),
    async append(rec) {
      const at = pos
      pos += rec.length
      await f.writeAt(rec, at)
      await f.syncData()
    },
    async close() {
      try {
        await f.close()
      } finally {
        io.pool.release(pooled)
      }
    },
  }
}

/** A file to read from: positional reads, and a batch of them. */
export interface Reader {
  /** A buffer for one read: io.pool's for the library (aligned, registered on io_uring). */
  alloc(bytes: number): Buffer
  readAt(buf: Buffer, pos: number): Promise<unknown>
  /** Reads every (buf, pos) pair; resolves when all are done. */
  readMany(bufs: Buffer[], positions: number[]): Promise<unknown>
  close(): Promise<void>
}

/**
 * The library: per-op readAt; readMany is one io.batch(). Buffers come from io.pool, as
 * the fast path intends (page-aligned, and registered with the ring on io_uring, so reads
 * go out as READ_FIXED). `direct` opens with O_DIRECT (W5).
 */
export async function ioReader(io: Io, file: string, direct = false): Promise<Reader> {
  const f = await io.open(file, { direct })
  return {
    alloc: (bytes) => io.pool.acquire(bytes),
    readAt: (buf, pos) => f.readAt(buf, pos),
    async readMany(bufs, positions) {
      const b = io.batch()
      for (let i = 0; i < bufs.length; i++) b.readAt(f, bufs[i], positions[i])
      for (const r of await b.submit()) if (!r.ok) throw r.error
    },
    close: () => f.close(),
  }
}

/** node:fs as a Node user writes it: FileHandle.read; readMany is Promise.all. */
export async function nodeFsReader(file: string): Promise<Reader> {
  return fileHandleReader(await fs.promises.open(file, 'r'), (bytes) => Buffer.alloc(bytes))
}

/** Reads through `fh` (FileHandle.read; readMany is Promise.all) into buffers from `alloc`. */
function fileHandleReader(fh: fs.promises.FileHandle, alloc: (bytes: number) => Buffer): Reader {
  return {
    alloc,
    readAt: (buf, pos) => fh.read(buf, 0, buf.length, pos),
    readMany: (bufs, positions) => Promise.all(bufs.map((buf, i) => fh.read(buf, 0, buf.length, positions[i]))),
    close: () => fh.close(),
  }
}

/**
 * W5's node:fs peer, as a Node user can write it: the file opened with O_DIRECT (checked
 * in /proc/self/fdinfo), each
 * buffer an aligned subarray of an over-allocated Buffer (./aligned.ts), FileHandle.read.
 */
export async function nodeFsDirectReader(file: string): Promise<Reader> {
  const fh = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_DIRECT)
  try {
    requireDirect(fh.fd, file)
  } catch (err) {
    await fh.close()
    throw err
  }
  return fileHandleReader(fh, (bytes) => alignedBuffer(fh.fd, bytes))
}

/** Writes a data file of `bytes` (not all zeros, so nothing can be sparse). */
export function makeDataFile(file: string, bytes: number): void {
  const fd = fs.openSync(file, 'w')
  try {
    const chunk = Buffer.alloc(4 * MiB, 0xa5)
    for (let pos = 0; pos < bytes; pos += chunk.length) fs.writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - pos), pos)
    fs.fdatasyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** Reads the whole file once so that W3/W4 find it in the page cache. */
export function warm(file: string): void {
  const fd = fs.openSync(file, 'r')
  try {
    const buf = Buffer.allocUnsafe(4 * MiB)
    while (fs.readSync(fd, buf, 0, buf.length, null) > 0);
  } finally {
    fs.closeSync(fd)
  }
}

export type EvictMethod = 'fadvise' | 'drop_caches' | 'none'

/**
 * Evicts `file` from the page cache (DESIGN.md §6): fdatasync, then
 * posix_fadvise(DONTNEED) through the addon; else drop_caches when root; else nothing.
 */
export function evict(file: string): EvictMethod {
  const fd = fs.openSync(file, 'r+')
  try {
    fs.fdatasyncSync(fd)
    const load = addonFromEnv()
    if (load.addon?.fadviseDontNeed && load.addon.fadviseDontNeed(fd, 0, 0) === 0) return 'fadvise'
  } finally {
    fs.closeSync(fd)
  }
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '1')
    return 'drop_caches'
  } catch {
    return 'none'
  }
}

/** W3: `depth` loops, each awaiting one random 4 KiB read at a time. */
export async function randomReads(r: Reader, fileBytes: number, seconds: number, depth = 32): Promise<Result> {
  const blocks = Math.floor(fileBytes / (4 * KiB))
  // Buffers before the clock (node:fs's O_DIRECT peer probes for each one).
  const bufs = Array.from({ length: depth }, () => r.alloc(4 * KiB))
  const lat = newHistogram()
  const end = performance.now() + seconds * 1000
  const start = performance.now()
  await Promise.all(
    bufs.map(async (buf) => {
      do {
        const t0 = performance.now()
        await r.readAt(buf, Math.floor(Math.random() * blocks) * 4 * KiB)
        recordSince(lat, t0)
      } while (performance.now() < end)
    }),
  )
  const elapsed = (performance.now() - start) / 1000
  return { ops: lat.totalCount, bytes: lat.totalCount * 4 * KiB, seconds: elapsed, latency: lat }
}

/** W4: batches of `size` random 4 KiB reads, one after another; latency per batch. */
export async function batchedReads(r: Reader, fileBytes: number, seconds: number, size = 32): Promise<Result> {
  const blocks = Math.floor(fileBytes / (4 * KiB))
  const bufs = Array.from({ length: size }, () => r.alloc(4 * KiB))
  const positions = new Array<number>(size).fill(0)
  const lat = newHistogram()
  const end = performance.now() + seconds * 1000
  const start = performance.now()
  do {
    for (let i = 0; i < size; i++) positions[i] = Math.floor(Math.random() * blocks) * 4 * KiB
    const t0 = performance.now()
    await r.readMany(bufs, positions)
    recordSince(lat, t0)
  } while (performance.now() < end)
  const elapsed = (performance.now() - start) / 1000
  return { ops: lat.totalCount * size, bytes: lat.totalCount * size * 4 * KiB, seconds: elapsed, latency: lat }
}

/**
 * W6: passes over the file in 1 MiB reads, `depth` in flight, each pass after evicting
 * the file; at least one pass, more while `seconds` last. Eviction time is not counted.
 */
export async function coldScan(r: Reader, file: string, fileBytes: number, seconds: number, onEvict: (m: EvictMethod) => void, depth = 8): Promise<Result> {
  const lat = newHistogram()
  let bytes = 0
  let busy = 0
  let cpuUs = 0
  do {
    onEvict(evict(file))
    let next = 0
    const t = performance.now()
    const c0 = process.cpuUsage()
    await Promise.all(
      Array.from({ length: depth }, async () => {
        const buf = r.alloc(MiB)
        while (next < fileBytes) {
          const pos = next
          next += MiB
          const t0 = performance.now()
          await r.readAt(buf, pos)
          recordSince(lat, t0)
          bytes += Math.min(MiB, fileBytes - pos)
        }
      }),
    )
    busy += performance.now() - t
    cpuUs += cpuSince(c0)
  } while (busy < seconds * 1000)
  return { ops: lat.totalCount, bytes, seconds: busy / 1000, latency: lat, cpuUs }
}

/** Where a run's files are: the data file for W3–W6, a fresh directory for W1/W1r/W2/W7P, the logs for W7W/W7C. */
export interface RunFiles {
  dataFile: string
  dataBytes: number
  walDir: string
  /** The consume phases' data set (benches/log.ts makeLogData). */
  logData?: string
  /** Z1's data set (./zerocopy.ts makeZeroCopyData). */
  zeroCopyData?: string
}

/** Why W7's consume phases have no node:fs rows. */
export const NODE_FS_NO_LOG = 'n/a: node:fs has no partition log (W7 compares the library\'s backends; its node-fs row for W7P is the single-writer sync loop)'

/** One workload on plain node:fs (also what the UV_USE_IO_URING=1 child runs). */
export async function runNodeFs(workload: Workload, files: RunFiles, seconds: number, onEvict: (m: EvictMethod) => void): Promise<Result> {
  if (workload === 'W7P') return syncLoopProduce(files.walDir, seconds)
  if (workload === 'W7W' || workload === 'W7C') throw new Error(NODE_FS_NO_LOG)
  if (workload === 'Z1' || workload === 'Z1C') return serveNodeFs(zeroCopyData(files, workload), seconds, zeroCopyEvict(files, workload, onEvict), warm)
  if (workload === 'W1' || workload === 'W1r' || workload === 'W2') {
    // W1r on node:fs is the naive appender itself: FileHandle write + datasync, growing file.
    const a = await nodeFsAppender(files.walDir)
    try {
      return workload === 'W2' ? await drive(a, 64, KiB, seconds) : await drive(a, 1, 4 * KiB, seconds)
    } finally {
      await a.close()
    }
  }
  const r = workload === 'W5' ? await nodeFsDirectReader(files.dataFile) : await nodeFsReader(files.dataFile)
  try {
    return await readWorkload(workload, r, files, seconds, onEvict)
  } finally {
    await r.close()
  }
}

/** One workload on the library through `io`. */
export async function runIo(io: Io, workload: Workload, files: RunFiles, seconds: number, onEvict: (m: EvictMethod) => void): Promise<Result> {
  if (workload === 'W7P') return produce(io, files.walDir, seconds)
  if (workload === 'W7W' || workload === 'W7C') {
    const data = files.logData
    if (data === undefined) throw new Error(`${workload} needs the partition-log data set (RunFiles.logData)`)
    return consume(io, data, seconds, workload === 'W7W' ? null : () => logDataFiles(data).forEach((f) => onEvict(evict(f))))
  }
  if (workload === 'Z1' || workload === 'Z1C') return serveLibrary(io, zeroCopyData(files, workload), seconds, zeroCopyEvict(files, workload, onEvict), warm)
  if (workload === 'W1' || workload === 'W1r' || workload === 'W2') {
    const a = workload === 'W1r' ? await ioRawAppender(io, files.walDir) : await walAppender(io, files.walDir)
    try {
      return workload === 'W2' ? await drive(a, 64, KiB, seconds) : await drive(a, 1, 4 * KiB, seconds)
    } finally {
      await a.close()
    }
  }
  const r = await ioReader(io, files.dataFile, workload === 'W5')
  try {
    return await readWorkload(workload, r, files, seconds, onEvict)
  } finally {
    await r.close()
  }
}

function zeroCopyData(files: RunFiles, workload: Workload): string {
  if (files.zeroCopyData === undefined) throw new Error(`${workload} needs its data set (RunFiles.zeroCopyData)`)
  return files.zeroCopyData
}

/** Z1C evicts the segments before each pass; Z1 runs warm. */
function zeroCopyEvict(files: RunFiles, workload: Workload, onEvict: (m: EvictMethod) => void): (() => void) | null {
  if (workload === 'Z1') return null
  const root = zeroCopyData(files, workload)
  return () => zeroCopySegments(root).forEach((f) => onEvict(evict(f)))
}

function readWorkload(workload: Workload, r: Reader, files: RunFiles, seconds: number, onEvict: (m: EvictMethod) => void): Promise<Result> {
  if (workload === 'W6') return coldScan(r, files.dataFile, files.dataBytes, seconds, onEvict)
  // O_DIRECT reads go to the device whatever the page cache holds.
  if (workload === 'W5') return randomReads(r, files.dataBytes, seconds)
  warm(files.dataFile)
  return workload === 'W3' ? randomReads(r, files.dataBytes, seconds) : batchedReads(r, files.dataBytes, seconds)
}
