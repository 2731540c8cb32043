// WAL benchmarks (DESIGN.md §6), one run, side by side on this machine:
//   W1  1 writer, 4 KiB records, sync 'always', each append awaited
//   W2  64 concurrent writers × 1 KiB records, every acknowledgement durable
// on the io_uring backend, the standard backend and a naive node:fs WAL (FileHandle
// write + datasync per record, as a Node user would write it); then W1 on the io_uring
// backend under each preallocation strategy (ts/wal/segment.ts) with small files and a
// checkpointer, so that every strategy is exercised at file rolls too.
//
// The machine is noisy (DESIGN.md §6): every target runs once per round, rounds
// interleave the targets, and the table shows each target's median round. fio's W1 job
// (DESIGN.md §6) runs in each round too when fio is installed, as the peer figure.
//
//   node dist/benches/wal.js
//   BENCH_DIR=/work/tmp   where the files go (default os.tmpdir(); must be a real disk)
//   WAL_BENCH_SECONDS=2   seconds per measurement
//   WAL_BENCH_ROUNDS=3    rounds (medians are taken over them)
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { openIo } from '../ts/index'
import { type Appender, KiB, MiB, type Summary, drive, fsTypeOf, nodeFsAppender, summarize, walAppender } from '../ts/cli/bench/workloads'

/** fio's W1 job (DESIGN.md §6) for `seconds`: write IOPS, or null without fio. */
function fioW1(dir: string, seconds: number): number | null {
  const file = path.join(dir, 'fio-w1.dat')
  const r = spawnSync('fio', ['--output-format=json', `--runtime=${seconds}`, '--time_based', '--name=w1', `--filename=${file}`, '--size=64m', '--rw=write', '--bs=4k', '--ioengine=io_uring', '--fdatasync=1'], { encoding: 'utf8' })
  fs.rmSync(file, { force: true })
  if (r.status !== 0 || !r.stdout) return null
  try {
    return (JSON.parse(r.stdout) as { jobs: Array<{ write: { iops: number } }> }).jobs[0].write.iops
  } catch {
    return null
  }
}

async function main(): Promise<void> {
  const seconds = Number(process.env.WAL_BENCH_SECONDS ?? 2)
  const rounds = Number(process.env.WAL_BENCH_ROUNDS ?? 3)
  const root = fs.mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'streamline-walbench-'))
  const warn = fsTypeOf(root) === 'tmpfs' ? ' — WARNING: tmpfs, fdatasync is free here; these numbers mean nothing for a disk' : ''
  console.log(`streamline-io WAL bench — ${os.cpus().length} cores, kernel ${os.release()}, dir ${root}${warn}, ${rounds} rounds × ${seconds} s, engine ${process.env.STREAMLINE_IO_ENGINE ?? 'default'}`)
  const uring = await openIo({ enableIoUring: true })
  const standard = await openIo({ enableIoUring: false })
  const noPrealloc = await openIo({ enableIoUring: true, preallocateWal: false })
  if (uring.backend !== 'io_uring') console.log(`(io_uring backend unavailable: ${uring.fallbackReason})`)
  let n = 0
  const fresh = (): string => {
    const d = path.join(root, `run-${++n}`)
    fs.mkdirSync(d)
    return d
  }
  const run = async (make: () => Promise<Appender>, writers: number, bytes: number): Promise<Summary> => {
    const a = await make()
    try {
      return summarize(await drive(a, writers, bytes, seconds))
    } finally {
      await a.close()
    }
  }
  // Preallocation variants: 16 MiB files so a run rolls several times, a checkpointer behind.
  const segmentBytes = 16 * MiB
  interface Case { workload: string; name: string; baseline: boolean; go: () => Promise<Summary> }
  const cases: Case[] = []
  for (const [workload, writers, bytes] of [
    ['W1 1×4 KiB', 1, 4 * KiB],
    ['W2 64×1 KiB', 64, 1 * KiB],
  ] as const) {
    cases.push({ workload, name: 'node:fs naive', baseline: true, go: () => run(() => nodeFsAppender(fresh()), writers, bytes) })
    cases.push({ workload, name: `WAL ${uring.backend}`, baseline: false, go: () => run(() => walAppender(uring, fresh()), writers, bytes) })
    cases.push({ workload, name: 'WAL standard', baseline: false, go: () => run(() => walAppender(standard, fresh()), writers, bytes) })
  }
  // As a broker runs it: a checkpointer behind the writers, so rolled files are recycled
  // instead of zero-filled (which doubles the bytes written while throughput-bound).
  cases.push({ workload: 'W2 64×1 KiB', name: `WAL ${uring.backend} +ckpt`, baseline: false, go: () => run(() => walAppender(uring, fresh(), { checkpoint: true }), 64, 1 * KiB) })
  cases.push({ workload: 'W1 prealloc', name: 'none (file grows)', baseline: true, go: () => run(() => walAppender(noPrealloc, fresh(), { segmentBytes, checkpoint: true }), 1, 4 * KiB) })
  for (const s of ['fallocate', 'zero-fill', 'recycle'] as const) {
    cases.push({ workload: 'W1 prealloc', name: s, baseline: false, go: () => run(() => walAppender(uring, fresh(), { prealloc: s, segmentBytes, checkpoint: true }), 1, 4 * KiB) })
  }
  const results = new Map<Case, Summary[]>(cases.map((c) => [c, []]))
  const fio: number[] = []
  try {
    for (let r = 1; r <= rounds; r++) {
      process.stdout.write(`  round ${r}/${rounds}…\n`)
      for (const c of cases) results.get(c)!.push(await c.go())
      const f = fioW1(root, seconds)
      if (f !== null) fio.push(f)
    }
  } finally {
    await uring.close()
    await standard.close()
    await noPrealloc.close()
    fs.rmSync(root, { recursive: true, force: true })
  }
  const rate = (x: Summary): number => x.opsPerSec
  const median = (xs: Summary[]): Summary => [...xs].sort((a, b) => rate(a) - rate(b))[Math.floor(xs.length / 2)]
  const rows: string[][] = [['workload', 'target', 'rec/s', 'p50 µs', 'p99 µs', 'p999 µs', 'vs base', 'rounds (rec/s)']]
  let base = 0
  for (const c of cases) {
    const all = results.get(c)!
    const m = median(all)
    if (c.baseline) base = rate(m)
    rows.push([
      c.workload,
      c.name,
      Math.round(rate(m)).toLocaleString('en-US'),
      m.latencyUs.p50.toFixed(0),
      m.latencyUs.p99.toFixed(0),
      m.latencyUs.p999.toFixed(0),
      `${(rate(m) / base).toFixed(2)}x`,
      all.map((x) => Math.round(rate(x))).join(' / '),
    ])
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)))
  for (const r of rows) console.log(r.map((cell, c) => (c < 2 || c === 7 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '))
  if (fio.length > 0) {
    const sorted = [...fio].sort((a, b) => a - b)
    const fioMedian = sorted[Math.floor(sorted.length / 2)]
    const w1 = median(results.get(cases[1])!)
    console.log(`fio W1 (same rounds): median ${Math.round(fioMedian).toLocaleString('en-US')} ops/s (${fio.map((x) => Math.round(x)).join(' / ')}); WAL ${uring.backend} W1 = ${(rate(w1) / fioMedian).toFixed(2)}x fio (target >= 0.95x)`)
  } else {
    console.log('(fio not found: no peer figure for W1)')
  }
}

main().catch((err: unknown) => {
  console.error(`WAL bench failed: ${(err as Error).stack ?? String(err)}`)
  process.exitCode = 1
})
