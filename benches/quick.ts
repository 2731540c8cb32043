// A quick side-by-side comparison (the README's main job, `npm start`): the io_uring
// backend, the standard backend and plain node:fs (FileHandle, as a Node user writes it)
// on two workloads from DESIGN.md §6, in one run on this machine:
//   W1  4 KiB append + fdatasync, one writer
//   W3  random 4 KiB reads from a page-cache-warm file, 32 in flight, a promise each
// It is a first look, not the benchmark suite: see BENCHMARKS.md for the method.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { openIo } from '../ts/index'

const KiB = 1024
const MiB = 1024 * KiB

interface Target {
  name: string
  open(file: string, create: boolean): Promise<{
    readAt(buf: Buffer, pos: number): Promise<unknown>
    writeAt(buf: Buffer, pos: number): Promise<unknown>
    syncData(): Promise<void>
    close(): Promise<void>
  }>
  done(): Promise<void>
}

async function ioTarget(enableIoUring: boolean): Promise<Target> {
  const io = await openIo({ enableIoUring })
  if (enableIoUring && io.backend !== 'io_uring') throw new Error(`io_uring unavailable: ${io.fallbackReason}`)
  return {
    name: `${io.backend} backend`,
    open: (file, create) => (create ? io.create(file) : io.openRw(file)),
    done: () => io.close(),
  }
}

const nodeFsTarget: Target = {
  name: 'node:fs FileHandle',
  async open(file, create) {
    const fh = await fs.promises.open(file, create ? 'w+' : 'r+')
    return {
      readAt: (buf, pos) => fh.read(buf, 0, buf.length, pos),
      writeAt: (buf, pos) => fh.write(buf, 0, buf.length, pos),
      syncData: () => fh.datasync(),
      close: () => fh.close(),
    }
  },
  done: async () => {},
}

interface Result {
  ops: number
  seconds: number
  latenciesUs: number[]
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

async function w1(target: Target, dir: string, seconds: number): Promise<Result> {
  const f = await target.open(path.join(dir, 'w1.wal'), true)
  const buf = Buffer.alloc(4 * KiB, 0x5a)
  const latenciesUs: number[] = []
  const end = performance.now() + seconds * 1000
  let pos = 0
  const start = performance.now()
  while (performance.now() < end) {
    const t0 = performance.now()
    await f.writeAt(buf, pos)
    await f.syncData()
    latenciesUs.push((performance.now() - t0) * 1000)
    pos += buf.length
  }
  const elapsed = (performance.now() - start) / 1000
  await f.close()
  return { ops: latenciesUs.length, seconds: elapsed, latenciesUs }
}

async function w3(target: Target, file: string, fileBytes: number, seconds: number): Promise<Result> {
  const f = await target.open(file, false)
  const blocks = fileBytes / (4 * KiB)
  const latenciesUs: number[] = []
  const end = performance.now() + seconds * 1000
  const start = performance.now()
  const worker = async () => {
    const buf = Buffer.alloc(4 * KiB)
    while (performance.now() < end) {
      const t0 = performance.now()
      await f.readAt(buf, Math.floor(Math.random() * blocks) * 4 * KiB)
      latenciesUs.push((performance.now() - t0) * 1000)
    }
  }
  await Promise.all(Array.from({ length: 32 }, worker))
  const elapsed = (performance.now() - start) / 1000
  await f.close()
  return { ops: latenciesUs.length, seconds: elapsed, latenciesUs }
}

function row(workload: string, name: string, r: Result, baseline: number | null): string[] {
  const sorted = Float64Array.from(r.latenciesUs).sort()
  const opsPerS = r.ops / r.seconds
  const list = Array.from(sorted)
  return [
    workload,
    name,
    Math.round(opsPerS).toLocaleString('en-US'),
    percentile(list, 50).toFixed(1),
    percentile(list, 99).toFixed(1),
    baseline === null ? '1.00x' : `${(opsPerS / baseline).toFixed(2)}x`,
  ]
}

async function main(): Promise<void> {
  const seconds = Number(process.env.QUICK_SECONDS ?? 3)
  const dir = fs.mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'streamline-quick-'))
  const dataBytes = 64 * MiB
  const data = path.join(dir, 'data.bin')
  fs.writeFileSync(data, Buffer.alloc(dataBytes, 1))
  fs.readFileSync(data) // warm the page cache for W3
  const fsType = (() => {
    try {
      return fs.statfsSync(dir).type === 0x01021994 ? 'tmpfs' : 'disk'
    } catch {
      return 'unknown'
    }
  })()
  console.log(`streamline-io quick comparison — ${os.cpus().length} cores, kernel ${os.release()}, dir ${dir}${fsType === 'tmpfs' ? ' (tmpfs: fdatasync is free here, W1 is not meaningful)' : ''}`)
  const targets = [nodeFsTarget, await ioTarget(false)]
  try {
    targets.push(await ioTarget(true))
  } catch (err) {
    console.log(`(io_uring backend skipped: ${(err as Error).message})`)
  }
  const rows: string[][] = [['workload', 'target', 'ops/s', 'p50 µs', 'p99 µs', 'vs node:fs']]
  try {
    for (const [workload, run] of [
      ['W1 4K append+fdatasync', (t: Target) => w1(t, dir, seconds)],
      ['W3 4K rand read QD32', (t: Target) => w3(t, data, dataBytes, seconds)],
    ] as const) {
      let baseline: number | null = null
      for (const t of targets) {
        process.stdout.write(`  running ${workload} on ${t.name}…\n`)
        const r = await run(t)
        rows.push(row(workload, t.name, r, baseline))
        baseline ??= r.ops / r.seconds
      }
    }
  } finally {
    for (const t of targets) await t.done()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)))
  for (const r of rows) console.log(r.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '))
}

main().catch((err: unknown) => {
  console.error(`quick comparison failed: ${(err as Error).message}`)
  process.exitCode = 1
})
