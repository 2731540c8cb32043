// `streamline-io bench --limits`: the disk's physical floors measured in the same run as
// the workloads (DESIGN.md §6), so every ratio to a floor compares minutes that shared a
// machine. The floors are the best a program can do here with no event loop and no
// library in the way:
//   - synchronous loops written with node:fs writeSync + fdatasyncSync: 4 KiB on a file
//     laid out beforehand (overwrite, W1's floor), 4 KiB on a growing file (W1r's), and
//     64 KiB on a laid-out file (W2's: a group of 64 × 1 KiB records per write);
//   - dd-style sequential 1 MiB reads of the data file with readSync, after evicting it
//     (buffered), and with O_DIRECT into an aligned buffer (W6's, with fio's);
//   - fio's jobs of DESIGN.md §6 where fio is installed (W1, W3 and W4, W5, W6); where it
//     is not, their rows say so.
// Each workload is compared with the best of its floors (FLOOR_OF); W2's is 64 records
// per write of the 64 KiB loop.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { alignedBuffer, requireDirect } from './aligned'
import { newHistogram, recordSince, summarizeLatency } from './latency'
import { syncWriteLoop } from './sync-loop'
import { type EvictMethod, KiB, MiB, type Workload, evict, makeDataFile, warm } from './workloads'

export const FLOOR_IDS = ['sync-4k-overwrite', 'sync-4k-append', 'sync-64k-overwrite', 'read-buffered', 'read-direct', 'fio-W1', 'fio-W3', 'fio-W5', 'fio-W6'] as const
export type FloorId = (typeof FLOOR_IDS)[number]

export const FLOOR_TITLES: Record<FloorId, string> = {
  'sync-4k-overwrite': 'sync loop: writeSync 4 KiB + fdatasyncSync, laid-out file',
  'sync-4k-append': 'sync loop: writeSync 4 KiB + fdatasyncSync, growing file',
  'sync-64k-overwrite': 'sync loop: writeSync 64 KiB + fdatasyncSync, laid-out file',
  'read-buffered': 'readSync 1 MiB sequential, cold cache (dd-style)',
  'read-direct': 'readSync 1 MiB sequential, O_DIRECT (dd iflag=direct-style)',
  'fio-W1': 'fio: write 4k, fdatasync=1, 64 MiB file, io_uring',
  'fio-W3': 'fio: randread 4k, iodepth 32, cached, io_uring',
  'fio-W5': 'fio: randread 4k, iodepth 32, direct=1, io_uring',
  'fio-W6': 'fio: read 1m, iodepth 8, cold, io_uring',
}

/** One floor as measured (rate null: it could not run here, and skipped says why). */
export interface Floor {
  id: FloorId
  title: string
  unit: 'ops/s' | 'MB/s'
  rate: number | null
  p50Us: number | null
  p99Us: number | null
  skipped?: string
}

/**
 * What each workload is measured against: the best of `floors` (in the workload's unit),
 * times `perOp` workload operations per floor operation. `also` are floors run beside it
 * for reference (fio's W1 job overwrites like the sync loop but queues through io_uring).
 */
export const FLOOR_OF: Partial<Record<Workload, { floors: FloorId[]; perOp: number; also?: FloorId[] }>> = {
  W1: { floors: ['sync-4k-overwrite'], perOp: 1, also: ['fio-W1'] },
  W1r: { floors: ['sync-4k-append'], perOp: 1 },
  W2: { floors: ['sync-64k-overwrite'], perOp: 64 },
  W3: { floors: ['fio-W3'], perOp: 1 },
  W4: { floors: ['fio-W3'], perOp: 1 },
  W5: { floors: ['fio-W5'], perOp: 1 },
  W6: { floors: ['read-buffered', 'read-direct', 'fio-W6'], perOp: 1 },
}

/** The floors the given workloads need, in FLOOR_IDS order. */
export function floorsFor(workloads: readonly Workload[]): FloorId[] {
  const want = new Set<FloorId>()
  for (const w of workloads) for (const f of [...(FLOOR_OF[w]?.floors ?? []), ...(FLOOR_OF[w]?.also ?? [])]) want.add(f)
  return FLOOR_IDS.filter((f) => want.has(f))
}

/** The workloads compared with `id` (for the table's last column); "(reference)" where it is only run beside one. */
export function workloadsOf(id: FloorId, workloads: readonly Workload[]): string[] {
  const out: string[] = []
  for (const w of workloads) {
    if (FLOOR_OF[w]?.floors.includes(id)) out.push(w)
    else if (FLOOR_OF[w]?.also?.includes(id)) out.push(`${w} (reference)`)
  }
  return out
}

/** `rate` (the workload's unit) over the best floor measured for it; null when it has none. */
export function vsFloor(workload: Workload, rate: number, floors: readonly Floor[]): { ratio: number; floor: FloorId } | null {
  const of = FLOOR_OF[workload]
  if (of === undefined) return null
  let best: Floor | null = null
  for (const f of floors) if (of.floors.includes(f.id) && f.rate !== null && f.rate > 0 && (best === null || f.rate > best.rate!)) best = f
  return best === null ? null : { ratio: rate / (best.rate! * of.perOp), floor: best.id }
}

/** The laid-out file's size for the overwrite loops (fio's W1 job uses the same). */
const OVERWRITE_SPAN = 64 * MiB

interface LoopFigures {
  rate: number
  p50Us: number
  p99Us: number
}

/** A latency loop's figures from its histogram (destroyed here). */
function figures(ops: number, seconds: number, lat: ReturnType<typeof newHistogram>): LoopFigures {
  const { latencyUs } = summarizeLatency(lat)
  return { rate: ops / seconds, p50Us: latencyUs.p50, p99Us: latencyUs.p99 }
}

/** writeSync `recordBytes` + fdatasyncSync in a loop for `seconds` (after laying the file out when `overwrite`). */
function syncLoop(file: string, recordBytes: number, overwrite: boolean, seconds: number): LoopFigures {
  // Laid out as the workloads' data file is: written whole and fdatasynced.
  if (overwrite) makeDataFile(file, OVERWRITE_SPAN)
  const fd = fs.openSync(file, overwrite ? 'r+' : 'w+')
  try {
    const r = syncWriteLoop(fd, Buffer.alloc(recordBytes, 0x5a), seconds, overwrite ? OVERWRITE_SPAN : null)
    return figures(r.ops, r.seconds, r.latency)
  } finally {
    fs.closeSync(fd)
    fs.rmSync(file, { force: true })
  }
}

/**
 * Sequential 1 MiB readSync passes over `file` (evicted before each buffered pass; O_DIRECT
 * reads bypass the cache), at least one, more while `seconds` last. Rate in MB/s; latency
 * per read.
 */
function sequentialReads(file: string, bytes: number, direct: boolean, seconds: number, onEvict: (m: EvictMethod) => void): LoopFigures {
  const fd = fs.openSync(file, direct ? fs.constants.O_RDONLY | fs.constants.O_DIRECT : 'r')
  try {
    if (direct) requireDirect(fd, file)
    const buf = direct ? alignedBuffer(fd, MiB) : Buffer.allocUnsafeSlow(MiB)
    const lat = newHistogram()
    let moved = 0
    let busy = 0
    do {
      if (!direct) onEvict(evict(file))
      const t = performance.now()
      for (let pos = 0; pos < bytes; pos += MiB) {
        const t0 = performance.now()
        moved += fs.readSync(fd, buf, 0, MiB, pos)
        recordSince(lat, t0)
      }
      busy += performance.now() - t
    } while (busy < seconds * 1000)
    const f = figures(lat.totalCount, busy / 1000, lat)
    return { ...f, rate: moved / 1e6 / (busy / 1000) }
  } finally {
    fs.closeSync(fd)
  }
}

/** A path as fio's --filename takes it: ':' separates several files there, so it is escaped. */
const fioPath = (p: string) => p.replace(/:/g, '\\:')

/** fio's version line, or null when it cannot be run. */
export function fioVersion(): string | null {
  const r = spawnSync('fio', ['--version'], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : null
}

interface FioJob {
  read: { io_bytes: number; iops: number; bw_bytes: number; clat_ns: { percentile?: Record<string, number> } }
  write: { io_bytes: number; iops: number; bw_bytes: number; clat_ns: { percentile?: Record<string, number> } }
  error: number
}

/** Runs one fio job (JSON output); its read or write side's figures. */
function fio(args: string[], side: 'read' | 'write', unit: 'ops/s' | 'MB/s', timeoutMs: number): LoopFigures {
  const r = spawnSync('fio', [...args, '--output-format=json'], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * MiB })
  if (r.error !== undefined) throw new Error(`fio could not run: ${r.error.message}`)
  if (r.status !== 0) throw new Error(`fio exited with ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim().split('\n')[0] ?? ''}`)
  let job: FioJob
  try {
    // fio may print notes before its JSON.
    job = (JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as { jobs: FioJob[] }).jobs[0]
  } catch {
    throw new Error(`fio printed no JSON result: ${r.stdout.trim().split('\n')[0] ?? ''}`)
  }
  if (job.error !== 0) throw new Error(`fio's job failed with error ${job.error}`)
  const x = job[side]
  if (!(x.io_bytes > 0)) throw new Error(`fio's job moved no bytes`)
  const pct = x.clat_ns.percentile ?? {}
  return {
    rate: unit === 'MB/s' ? x.bw_bytes / 1e6 : x.iops,
    p50Us: pct['50.000000'] === undefined ? NaN : pct['50.000000'] / 1000,
    p99Us: pct['99.000000'] === undefined ? NaN : pct['99.000000'] / 1000,
  }
}

export interface FloorPlan {
  /** A directory of the run's own (the loops' and fio's W1 files go there). */
  dir: string
  /** The workloads' data file (reads, fio's read jobs) and its size. */
  dataFile: string
  dataBytes: number
  seconds: number
  progress: (line: string) => void
  onEvict: (m: EvictMethod) => void
}

/** Measures `ids` one after another; a floor that fails is reported with why, not thrown. */
export function measureFloors(ids: readonly FloorId[], plan: FloorPlan): Floor[] {
  const fioHere = ids.some((id) => id.startsWith('fio-')) ? fioVersion() : null
  const ms = `${Math.max(200, Math.round(plan.seconds * 1000))}ms`
  const timeoutMs = plan.seconds * 1000 + 120_000
  const readOnly = [`--filename=${fioPath(plan.dataFile)}`, `--size=${plan.dataBytes}`, '--readonly', '--ioengine=io_uring']
  const out: Floor[] = []
  for (const [i, id] of ids.entries()) {
    const unit: 'ops/s' | 'MB/s' = id === 'read-buffered' || id === 'read-direct' || id === 'fio-W6' ? 'MB/s' : 'ops/s'
    const floor: Floor = { id, title: FLOOR_TITLES[id], unit, rate: null, p50Us: null, p99Us: null }
    out.push(floor)
    if (id.startsWith('fio-') && fioHere === null) {
      floor.skipped = 'fio not installed (Debian: apt-get install fio)'
      plan.progress(`[floor ${i + 1}/${ids.length}] ${id}: skipped, ${floor.skipped}`)
      continue
    }
    plan.progress(`[floor ${i + 1}/${ids.length}] ${id} (${FLOOR_TITLES[id]})…`)
    try {
      let f: LoopFigures
      switch (id) {
        case 'sync-4k-overwrite':
          f = syncLoop(path.join(plan.dir, 'floor-4k-overwrite.dat'), 4 * KiB, true, plan.seconds)
          break
        case 'sync-4k-append':
          f = syncLoop(path.join(plan.dir, 'floor-4k-append.dat'), 4 * KiB, false, plan.seconds)
          break
        case 'sync-64k-overwrite':
          f = syncLoop(path.join(plan.dir, 'floor-64k-overwrite.dat'), 64 * KiB, true, plan.seconds)
          break
        case 'read-buffered':
          f = sequentialReads(plan.dataFile, plan.dataBytes, false, plan.seconds, plan.onEvict)
          break
        case 'read-direct':
          f = sequentialReads(plan.dataFile, plan.dataBytes, true, plan.seconds, plan.onEvict)
          break
        case 'fio-W1': {
          const file = path.join(plan.dir, 'fio-w1.dat')
          try {
            // --overwrite=1: fio lays the file out before the timed part, so the job
            // overwrites written blocks as DESIGN.md §6 says (without it fio recreates the
            // file and every fdatasync also commits the allocation).
            f = fio(['--name=W1', `--filename=${fioPath(file)}`, '--size=64m', '--overwrite=1', '--rw=write', '--bs=4k', '--ioengine=io_uring', '--fdatasync=1', `--runtime=${ms}`, '--time_based'], 'write', unit, timeoutMs)
          } finally {
            fs.rmSync(file, { force: true })
          }
          // fio's completion latency is the write's alone, without its fdatasync.
          f = { ...f, p50Us: NaN, p99Us: NaN }
          break
        }
        case 'fio-W3':
          warm(plan.dataFile)
          f = fio(['--name=W3', ...readOnly, '--rw=randread', '--bs=4k', '--iodepth=32', '--invalidate=0', `--runtime=${ms}`, '--time_based'], 'read', unit, timeoutMs)
          break
        case 'fio-W5':
          f = fio(['--name=W5', ...readOnly, '--rw=randread', '--bs=4k', '--iodepth=32', '--direct=1', `--runtime=${ms}`, '--time_based'], 'read', unit, timeoutMs)
          break
        case 'fio-W6':
          // One pass, not time-based: a second pass of a buffered read would find the file
          // in the page cache (the readSync floor evicts before each of its passes).
          plan.onEvict(evict(plan.dataFile))
          f = fio(['--name=W6', ...readOnly, '--rw=read', '--bs=1m', '--iodepth=8', '--invalidate=1'], 'read', unit, timeoutMs)
          break
      }
      floor.rate = f.rate
      floor.p50Us = Number.isNaN(f.p50Us) ? null : f.p50Us
      floor.p99Us = Number.isNaN(f.p99Us) ? null : f.p99Us
      plan.progress(`[floor ${i + 1}/${ids.length}] ${id}: ${Math.round(f.rate).toLocaleString('en-US')} ${unit}${floor.p50Us === null ? '' : `, p50 ${floor.p50Us.toFixed(0)} µs`}`)
    } catch (err) {
      floor.skipped = `failed: ${(err as Error).message}`
      plan.progress(`[floor ${i + 1}/${ids.length}] ${id}: ${floor.skipped}`)
    }
  }
  return out
}
