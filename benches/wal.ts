// WAL benchmarks (DESIGN.md §6), one run, side by side on this machine:
//   W1  1 writer, 4 KiB records, sync 'always', each append awaited
//   W2  64 concurrent writers × 1 KiB records, every acknowledgement durable
// on the io_uring backend, the standard backend and a naive node:fs WAL (FileHandle
// write + datasync per record, as a Node user would write it); then W1 on the io_uring
// backend under each preallocation strategy (ts/wal/segment.ts) with small files and a
// checkpointer, so that every strategy is exercised at file rolls too.
//
//   node dist/benches/wal.js
//   BENCH_DIR=/work/tmp   where the files go (default os.tmpdir(); must be a real disk)
//   WAL_BENCH_SECONDS=3   seconds per measurement
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { openIo, type Io } from '../ts/index'
import { openWalWith, type PreallocStrategy } from '../ts/wal'

const KiB = 1024
const MiB = 1024 * KiB

interface Result {
  ops: number
  seconds: number
  latenciesUs: Float64Array
}

/** Something that appends a record durably and says when it is acknowledged. */
interface Appender {
  append(rec: Buffer): Promise<unknown>
  close(): Promise<void>
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

/** `writers` loops appending `recordBytes` records for `seconds`; latency per append. */
async function drive(a: Appender, writers: number, recordBytes: number, seconds: number): Promise<Result> {
  const lat: number[] = []
  const rec = Buffer.alloc(recordBytes, 0x5a)
  const end = performance.now() + seconds * 1000
  const start = performance.now()
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now()
        await a.append(rec)
        lat.push((performance.now() - t0) * 1000)
      }
    }),
  )
  const elapsed = (performance.now() - start) / 1000
  return { ops: lat.length, seconds: elapsed, latenciesUs: Float64Array.from(lat).sort() }
}

async function walAppender(io: Io, dir: string, prealloc?: PreallocStrategy, segmentBytes?: number, checkpoint = false): Promise<Appender> {
  const wal = await openWalWith(io, dir, { sync: 'always', segmentBytes }, { prealloc })
  // A checkpointer as a broker has one: files behind it are dropped (or recycled).
  const timer = checkpoint ? setInterval(() => void wal.truncateBefore(Math.max(1, wal.durableLsn - 1000)).catch(() => {}), 100) : null
  return {
    append: (rec) => wal.append(rec),
    close: async () => {
      if (timer) clearInterval(timer)
      await wal.close()
    },
  }
}

/** The naive WAL: a FileHandle, one write and one datasync per record, nothing shared. */
async function nodeFsAppender(dir: string): Promise<Appender> {
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

function fsTypeOf(dir: string): string {
  try {
    return fs.statfsSync(dir).type === 0x01021994 ? 'tmpfs' : 'disk'
  } catch {
    return 'unknown'
  }
}

async function main(): Promise<void> {
  const seconds = Number(process.env.WAL_BENCH_SECONDS ?? 3)
  const root = fs.mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'streamline-walbench-'))
  const warn = fsTypeOf(root) === 'tmpfs' ? ' — WARNING: tmpfs, fdatasync is free here; these numbers mean nothing for a disk' : ''
  console.log(`streamline-io WAL bench — ${os.cpus().length} cores, kernel ${os.release()}, dir ${root}${warn}, ${seconds} s per run`)
  const uring = await openIo({ enableIoUring: true })
  const standard = await openIo({ enableIoUring: false })
  if (uring.backend !== 'io_uring') console.log(`(io_uring backend unavailable: ${uring.fallbackReason})`)
  let n = 0
  const fresh = (): string => {
    const d = path.join(root, `run-${++n}`)
    fs.mkdirSync(d)
    return d
  }
  const rows: string[][] = [['workload', 'target', 'rec/s', 'p50 µs', 'p99 µs', 'p999 µs', 'vs node:fs']]
  const row = (workload: string, name: string, r: Result, baseline: number | null): number => {
    const rate = r.ops / r.seconds
    rows.push([
      workload,
      name,
      Math.round(rate).toLocaleString('en-US'),
      percentile(r.latenciesUs, 50).toFixed(0),
      percentile(r.latenciesUs, 99).toFixed(0),
      percentile(r.latenciesUs, 99.9).toFixed(0),
      baseline === null ? '1.00x' : `${(rate / baseline).toFixed(2)}x`,
    ])
    return rate
  }
  const run = async (make: () => Promise<Appender>, writers: number, bytes: number): Promise<Result> => {
    const a = await make()
    try {
      return await drive(a, writers, bytes, seconds)
    } finally {
      await a.close()
    }
  }
  try {
    for (const [workload, writers, bytes] of [
      ['W1 1×4 KiB', 1, 4 * KiB],
      ['W2 64×1 KiB', 64, 1 * KiB],
    ] as const) {
      process.stdout.write(`  ${workload}…\n`)
      const base = row(workload, 'node:fs naive', await run(() => nodeFsAppender(fresh()), writers, bytes), null)
      row(workload, `WAL ${uring.backend}`, await run(() => walAppender(uring, fresh()), writers, bytes), base)
      row(workload, 'WAL standard', await run(() => walAppender(standard, fresh()), writers, bytes), base)
    }
    // Preallocation: 16 MiB files so a run rolls several times; a checkpointer behind.
    process.stdout.write('  W1 preallocation variants…\n')
    const segmentBytes = 16 * MiB
    const noPrealloc = await openIo({ enableIoUring: true, preallocateWal: false })
    try {
      const base = row('W1 prealloc', 'none (file grows)', await run(() => walAppender(noPrealloc, fresh(), undefined, segmentBytes, true), 1, 4 * KiB), null)
      for (const s of ['fallocate', 'zero-fill', 'recycle'] as const) {
        row('W1 prealloc', s, await run(() => walAppender(uring, fresh(), s, segmentBytes, true), 1, 4 * KiB), base)
      }
    } finally {
      await noPrealloc.close()
    }
  } finally {
    await uring.close()
    await standard.close()
    fs.rmSync(root, { recursive: true, force: true })
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)))
  for (const r of rows) console.log(r.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '))
}

main().catch((err: unknown) => {
  console.error(`WAL bench failed: ${(err as Error).stack ?? String(err)}`)
  process.exitCode = 1
})
