// What `streamline-io bench --json` writes (BenchReport) and the facts about the machine
// it states. BENCHMARKS.md's table made from such reports is benches/markdown.ts (npm run
// bench:md), which the package does not ship.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** The `schema` of a BenchReport; bump when a field changes meaning. */
export const BENCH_SCHEMA = 'streamline-io-bench/1'

/** One workload on one backend in one run (skipped: why it could not run here). */
export interface BenchResult {
  workload: string
  backend: string
  /** What the throughput is counted in: operations (records, reads) or megabytes (10^6 B). */
  unit?: 'ops/s' | 'MB/s' | 'records/s'
  ops?: number
  bytes?: number
  seconds?: number
  opsPerSec?: number
  mbPerSec?: number
  latencyUs?: { p50: number; p90?: number; p99: number; p999: number; max?: number; mean?: number }
  /** HdrHistogram V2 compressed base64 of the latencies in ns (./latency.ts). */
  histogram?: string
  vsNodeFs?: number | null
  vsStandard?: number | null
  /** Process CPU (user + system) per operation and per GB moved, where the workload measures it. */
  cpuUsPerOp?: number
  cpuSecondsPerGB?: number
  /** With --limits: the throughput over the best floor measured for the workload, and that floor's id. */
  vsFloor?: number | null
  floor?: string | null
  skipped?: string
}

export interface MachineFacts {
  cpus: number
  cpuModel: string
  memoryBytes: number
  node: string
  arch: string
}

export interface FsFacts {
  /** By statfs magic (tmpfs, ext4, xfs, …). */
  type: string
  /** What is mounted there (a block device, tmpfs, overlay), from /proc/self/mountinfo. */
  source: string
  mountPoint: string
}

/** What `streamline-io bench --json` prints. Older reports may lack the optional fields. */
export interface BenchReport {
  schema?: string
  machine: MachineFacts
  kernel: string
  /** Same as fs.type (kept: the first reports had only this). */
  fsType: string
  fs?: FsFacts
  /** The directory given (--dir or BENCH_DIR), or the OS temp directory. */
  dir: string
  date: string
  /** The command line as typed, with the environment variables that change a run in front. */
  command: string
  durationSeconds?: number
  quick?: boolean
  /** How W6 evicted its file from the page cache (fadvise, drop_caches, none); null without W6. */
  eviction?: string | null
  warnings?: string[]
  notes?: Record<string, string>
  /** With --limits: the floors measured in the run (./limits.ts), null rates where one could not run. */
  limits?: Array<{ id: string; title: string; unit: string; rate: number | null; p50Us: number | null; p99Us: number | null; skipped?: string }>
  results: BenchResult[]
}

export function machineFacts(): MachineFacts {
  const cpus = os.cpus()
  return { cpus: cpus.length, cpuModel: cpus[0]?.model.trim() ?? 'unknown', memoryBytes: os.totalmem(), node: process.version, arch: process.arch }
}

/** Undoes mountinfo's octal escapes (`\040` is a space). */
const unescapeMount = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))

/** The mount holding `dir`: the longest mount point that is a prefix of its real path. */
export function mountOf(dir: string, mountinfo?: string): { source: string; mountPoint: string; type: string } | null {
  let text = mountinfo
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/self/mountinfo', 'utf8')
    } catch {
      return null
    }
  }
  let real = dir
  try {
    real = fs.realpathSync(dir)
  } catch {
    // Not there (a fixture): match the path as given.
  }
  let best: { source: string; mountPoint: string; type: string } | null = null
  for (const line of text.split('\n')) {
    // "36 35 98:0 /root /mnt rw,noatime master:1 - ext4 /dev/vda rw" (proc(5))
    const [left, right] = line.split(' - ')
    if (right === undefined) continue
    const mountPoint = unescapeMount(left.split(' ')[4] ?? '')
    const [type, source] = right.split(' ')
    const inside = mountPoint === '/' || real === mountPoint || real.startsWith(`${mountPoint}/`)
    // Later lines mount over earlier ones at the same point: >= keeps the last.
    if (inside && (best === null || mountPoint.length >= best.mountPoint.length)) best = { source: unescapeMount(source ?? ''), mountPoint, type }
  }
  return best
}
