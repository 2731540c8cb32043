// streamline-io bench: DESIGN.md §6's workloads side by side in one run, on the library's
// two backends and on node:fs as a Node user writes it (plain, and with UV_USE_IO_URING=1
// in a child process). The workload loops live in ./workloads.ts (W7's in ./log.ts),
// latency recording (HDR histograms) in ./latency.ts, the --json report's facts in
// ./report.ts, --plot's SVG in ./plot.ts and --limits' floors in ./limits.ts: the bench code the package ships is what this
// command runs; the standalone benchmark scripts stay in benches/. Progress goes to
// stderr; the table (or --json) to stdout.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { histogramImplementation } from './latency'
import { type Floor, floorsFor, measureFloors, vsFloor, workloadsOf } from './limits'
import { plotReports } from './plot'
import { BENCH_SCHEMA, type BenchReport, machineFacts, mountOf } from './report'
import { makeLogData, W7_LOGS } from './log'
import { makeZeroCopyData, Z1_FETCH_BYTES, z1DataBytes } from './zerocopy'
import {
  type EvictMethod,
  LOG_WORKLOADS,
  MiB,
  NODE_FS_NO_LOG,
  type RunFiles,
  type Summary,
  WORKLOADS,
  WORKLOAD_TITLES,
  WORKLOAD_UNITS,
  type Workload,
  ZERO_COPY_WORKLOADS,
  fsTypeOf,
  makeDataFile,
  runIo,
  runNodeFs,
  summarize,
} from './workloads'
import { openIo } from '../../io'
import { UsageError } from '../args'
import type { CliContext } from '../main'

export const BACKENDS = ['io_uring', 'standard', 'node-fs', 'node-fs-uring'] as const
type Backend = (typeof BACKENDS)[number]

/** Names that stand for several workloads: W7 is its three phases, Z both Z1s. */
const WORKLOAD_ALIASES: Record<string, readonly string[]> = { W7: LOG_WORKLOADS, Z: ZERO_COPY_WORKLOADS }

function listFlag<T extends string>(raw: string | undefined, flag: string, known: readonly T[], aliases: Record<string, readonly string[]> = {}): T[] {
  if (raw === undefined) return [...known]
  const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '')
  if (items.length === 0) throw new UsageError(`flag ${flag} needs a comma-separated list (${known.join(',')})`)
  const out: string[] = []
  for (const item of items) {
    // Workload names match in any case (w6, W1R).
    const name = flag === '--workload' ? (known.find((k) => k.toUpperCase() === item.toUpperCase()) ?? item.toUpperCase()) : item
    if (aliases[name] !== undefined) {
      out.push(...aliases[name])
      continue
    }
    if (!(known as readonly string[]).includes(name)) {
      throw new UsageError(`unknown ${flag.slice(2)} '${item}' (${known.join(', ')}${Object.keys(aliases).length > 0 ? `; ${Object.keys(aliases).join(', ')} for several` : ''})`)
    }
    out.push(name)
  }
  return [...new Set(out)] as T[]
}

function durationFlag(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined
  const n = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN
  if (!(n > 0) || n > 3600) throw new UsageError(`flag --duration needs a number of seconds (0 < S <= 3600), got ${JSON.stringify(raw)}`)
  return n
}

/**
 * Checks before the run that `file` can be written (an existing directory holds it, and
 * it is not itself a directory), so a typo does not cost a whole benchmark.
 */
function writableFileFlag(flag: string, file: string | undefined): string | undefined {
  if (file === undefined) return undefined
  if (file === '') throw new UsageError(`flag ${flag} needs a file name`)
  const dir = path.dirname(path.resolve(file))
  let st: fs.Stats | undefined
  try {
    st = fs.statSync(file)
  } catch {
    // Not there yet: its directory must be.
  }
  if (st?.isDirectory()) throw new UsageError(`cannot write ${flag} ${file}: it is a directory`)
  let dst: fs.Stats
  try {
    dst = fs.statSync(dir)
  } catch {
    throw new UsageError(`cannot write ${flag} ${file}: no such directory ${dir}`)
  }
  if (!dst.isDirectory()) throw new UsageError(`cannot write ${flag} ${file}: ${dir} is not a directory`)
  try {
    fs.accessSync(st === undefined ? dir : file, fs.constants.W_OK)
  } catch {
    throw new UsageError(`cannot write ${flag} ${file}: permission denied`)
  }
  return file
}

/** A shell word as typed: quoted only when it needs to be. */
const shellWord = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`)

/** The command line, with the environment variables that change a run in front of it. */
function commandLine(): string {
  const env = Object.entries(process.env)
    .filter(([k]) => k === 'BENCH_DIR' || k === 'UV_USE_IO_URING' || k.startsWith('STREAMLINE_IO_'))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${shellWord(v ?? '')}`)
  return [...env, 'streamline-io', ...process.argv.slice(2).map(shellWord)].join(' ')
}

export interface BenchRow {
  workload: Workload
  backend: Backend
  /** Null when the backend could not run here (skipped says why). */
  result: (Summary & { vsNodeFs: number | null; vsStandard: number | null; vsFloor?: number | null; floor?: string | null }) | null
  skipped?: string
}

/** Runs the node:fs code in a child with UV_USE_IO_URING=1; its Summary comes back as JSON. */
function runChild(workload: Workload, files: RunFiles, seconds: number): Promise<{ summary: Summary; evictions: EvictMethod[] }> {
  const script = path.join(__dirname, 'node-fs-child.js')
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, JSON.stringify({ workload, files, seconds })], {
      env: { ...process.env, UV_USE_IO_URING: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`node-fs-uring child failed on ${workload} (exit ${code}): ${stderr.trim().split('\n')[0] ?? ''}`))
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop()!))
      } catch {
        reject(new Error(`node-fs-uring child printed no result for ${workload}`))
      }
    })
  })
}

/** Z1's body bytes by the path that carried them, as shares ("splice 100%"). */
function pathsText(paths: Record<string, number>): string {
  const total = Object.values(paths).reduce((a, b) => a + b, 0)
  if (total === 0) return 'no body bytes counted'
  return Object.entries(paths)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} ${((100 * v) / total).toFixed(0)}%`)
    .join(', ')
}

const fmtInt = (x: number) => Math.round(x).toLocaleString('en-US')
const fmtUs = (x: number) => (Number.isNaN(x) ? '-' : x < 100 ? x.toFixed(1) : fmtInt(x))

/** A result's throughput in its workload's unit. */
function rateOf(workload: Workload, s: Summary): number {
  return WORKLOAD_UNITS[workload] === 'MB/s' ? s.mbPerSec : s.opsPerSec
}

function fmtRate(workload: Workload, s: Summary): string {
  const unit = WORKLOAD_UNITS[workload]
  if (unit === 'MB/s') return `${fmtInt(s.mbPerSec)} MB/s`
  if (unit === 'records/s') return `${fmtInt(s.opsPerSec)} rec/s (${fmtInt(s.mbPerSec)} MB/s)`
  return `${fmtInt(s.opsPerSec)} ops/s`
}

/** Right-aligned columns, except the first `left` and any in `leftToo`; a 'skipped' cell takes no width. */
function columns(out: string[][], left: number, leftToo: readonly number[] = []): string {
  const widths = out[0].map((_, c) => Math.max(...out.map((r) => (r[c].startsWith('skipped') ? 0 : r[c].length))))
  const isLeft = (c: number, cell: string) => c < left || leftToo.includes(c) || cell.startsWith('skipped')
  return out.map((r) => r.map((cell, c) => (isLeft(c, cell) ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd()).join('\n')
}

function table(rows: BenchRow[], withFloor: boolean): string {
  const out: string[][] = [['workload', 'backend', 'throughput', 'p50 µs', 'p99 µs', 'p999 µs', 'vs node-fs', 'vs standard', ...(withFloor ? ['vs floor'] : []), 'CPU']]
  for (const r of rows) {
    const name = `${r.workload} ${WORKLOAD_TITLES[r.workload]}`
    if (r.result === null) {
      out.push([name, r.backend, `skipped: ${r.skipped}`, '', '', '', '', '', ...(withFloor ? [''] : []), ''])
      continue
    }
    const s = r.result
    const cpu = s.cpuSecondsPerGB === undefined ? '' : WORKLOAD_UNITS[r.workload] === 'records/s' ? `${s.cpuUsPerOp!.toFixed(2)} µs/rec` : `${s.cpuSecondsPerGB.toFixed(2)} s/GB`
    out.push([
      name,
      r.backend,
      fmtRate(r.workload, s),
      fmtUs(s.latencyUs.p50),
      fmtUs(s.latencyUs.p99),
      fmtUs(s.latencyUs.p999),
      s.vsNodeFs === null ? '-' : `${s.vsNodeFs.toFixed(2)}x`,
      s.vsStandard === null ? '-' : `${s.vsStandard.toFixed(2)}x`,
      ...(withFloor ? [s.vsFloor === null || s.vsFloor === undefined ? '-' : `${s.vsFloor.toFixed(2)}x`] : []),
      cpu,
    ])
  }
  return columns(out, 2)
}

/** --limits: the floors measured, and which workloads' "vs floor" each one is. */
function floorTable(floors: readonly Floor[], workloads: readonly Workload[]): string {
  const out: string[][] = [['floor', 'measured', 'throughput', 'p50 µs', 'p99 µs', 'floor of']]
  for (const f of floors) {
    const of = workloadsOf(f.id, workloads).join(', ')
    if (f.rate === null) {
      out.push([f.id, f.title, `skipped: ${f.skipped ?? ''}`, '', '', ''])
      continue
    }
    out.push([f.id, f.title, `${fmtInt(f.rate)} ${f.unit}`, f.p50Us === null ? '-' : fmtUs(f.p50Us), f.p99Us === null ? '-' : fmtUs(f.p99Us), of])
  }
  // The workloads a floor serves read as a list: left-aligned.
  return columns(out, 2, [5])
}

export async function bench(ctx: CliContext): Promise<number> {
  const flags = ctx.args.flags
  const quick = flags.has('--quick')
  const json = flags.has('--json')
  const workloads = listFlag(flags.get('--workload'), '--workload', WORKLOADS, WORKLOAD_ALIASES)
  const backends = listFlag(flags.get('--backend'), '--backend', BACKENDS)
  const seconds = durationFlag(flags.get('--duration')) ?? (quick ? 1 : 3)
  const plotFile = writableFileFlag('--plot', flags.get('--plot'))
  const limits = flags.has('--limits')
  const userDir = flags.get('--dir') ?? process.env.BENCH_DIR
  if (userDir !== undefined) {
    let st: fs.Stats
    try {
      st = fs.statSync(userDir)
    } catch {
      throw new UsageError(`no such directory: ${userDir}${flags.has('--dir') ? '' : ' (from BENCH_DIR)'}`)
    }
    if (!st.isDirectory()) throw new UsageError(`not a directory: ${userDir}${flags.has('--dir') ? '' : ' (from BENCH_DIR)'}`)
  }
  const progress = (line: string) => void process.stderr.write(`bench: ${line}\n`)
  const root = fs.mkdtempSync(path.join(userDir ?? os.tmpdir(), 'streamline-bench-'))
  const fsType = fsTypeOf(root)
  const mount = mountOf(root)
  const warnings: string[] = []
  if (fsType === 'tmpfs') {
    warnings.push(`${root} is on tmpfs: fdatasync costs nothing and there is no cold cache there; W1, W1r, W2, W5, W6 and the --limits floors mean nothing for a disk (use --dir on the disk you care about)`)
  }
  for (const w of warnings) process.stderr.write(`streamline-io: warning: ${w}\n`)
  const dataBytes = (quick ? 64 : 256) * MiB
  const evictions = new Set<EvictMethod>()
  const onEvict = (m: EvictMethod) => void evictions.add(m)
  const rows: BenchRow[] = []
  const ios = new Map<Backend, Awaited<ReturnType<typeof openIo>>>()
  let run = 0
  let floors: Floor[] | null = null
  try {
    const needsData = workloads.some((w) => w === 'W3' || w === 'W4' || w === 'W5' || w === 'W6')
    if (needsData) {
      progress(`writing a ${dataBytes / MiB} MiB data file in ${root} (${fsType})`)
      makeDataFile(path.join(root, 'data.bin'), dataBytes)
    }
    if (limits) {
      // Before the workloads, in the same run: ratios to a floor compare shared minutes.
      const floorDir = path.join(root, 'floors')
      fs.mkdirSync(floorDir)
      floors = measureFloors(floorsFor(workloads), { dir: floorDir, dataFile: path.join(root, 'data.bin'), dataBytes, seconds, progress, onEvict })
      fs.rmSync(floorDir, { recursive: true, force: true })
    }
    for (const b of backends) {
      if (b !== 'io_uring' && b !== 'standard') continue
      const io = await openIo({ ...ctx.config, enableIoUring: b === 'io_uring' })
      ios.set(b, io)
    }
    let logData: string | undefined
    if (workloads.includes('W7W') || workloads.includes('W7C')) {
      // One data set for every backend's consume phases, written once (sync 'none').
      const perLog = (quick ? 2 : 16) * MiB
      logData = path.join(root, 'w7-data')
      progress(`writing the W7 data set: ${W7_LOGS} partition logs × ${perLog / MiB} MiB in ${logData}`)
      const maker = ios.get('standard') ?? ios.get('io_uring') ?? (await openIo({ ...ctx.config, enableIoUring: false }))
      await makeLogData(maker, logData, perLog)
      if (!ios.has('standard') && !ios.has('io_uring')) await maker.close()
    }
    let zeroCopyData: string | undefined
    if (workloads.some((w) => ZERO_COPY_WORKLOADS.includes(w))) {
      const bytes = z1DataBytes(quick)
      zeroCopyData = path.join(root, 'z1-data')
      progress(`writing the Z1 data set: one partition log of ${bytes / MiB} MiB in ${zeroCopyData}`)
      const maker = ios.get('standard') ?? ios.get('io_uring') ?? (await openIo({ ...ctx.config, enableIoUring: false }))
      await makeZeroCopyData(maker, zeroCopyData, bytes)
      if (!ios.has('standard') && !ios.has('io_uring')) await maker.close()
    }
    const total = workloads.length * backends.length
    for (const workload of workloads) {
      let baseline: number | null = null
      let standardRate: number | null = null
      const here: BenchRow[] = []
      for (const backend of backends) {
        run++
        const walDir = path.join(root, `wal-${run}`)
        fs.mkdirSync(walDir)
        const files: RunFiles = { dataFile: path.join(root, 'data.bin'), dataBytes, walDir, logData, zeroCopyData }
        const io = ios.get(backend)
        if (io !== undefined && backend === 'io_uring' && io.backend !== 'io_uring') {
          here.push({ workload, backend, result: null, skipped: `io_uring unavailable (${io.fallbackReason})` })
          progress(`[${run}/${total}] ${workload} on ${backend}: skipped, io_uring unavailable (${io.fallbackReason})`)
          continue
        }
        if (LOG_WORKLOADS.includes(workload) && io === undefined && !(workload === 'W7P' && backend === 'node-fs')) {
          here.push({ workload, backend, result: null, skipped: NODE_FS_NO_LOG })
          progress(`[${run}/${total}] ${workload} on ${backend}: skipped, ${NODE_FS_NO_LOG}`)
          continue
        }
        progress(`[${run}/${total}] ${workload} (${WORKLOAD_TITLES[workload]}) on ${backend}, ${seconds} s…`)
        let s: Summary
        if (backend === 'node-fs-uring') {
          const child = await runChild(workload, files, seconds)
          child.evictions.forEach(onEvict)
          s = child.summary
        } else {
          s = summarize(io !== undefined ? await runIo(io, workload, files, seconds, onEvict) : await runNodeFs(workload, files, seconds, onEvict))
        }
        fs.rmSync(walDir, { recursive: true, force: true })
        const rate = rateOf(workload, s)
        if (backend === 'node-fs') baseline = rate
        if (backend === 'standard') standardRate = rate
        const toFloor = floors === null ? null : vsFloor(workload, rate, floors)
        here.push({ workload, backend, result: { ...s, vsNodeFs: null, vsStandard: null, ...(floors === null ? {} : { vsFloor: toFloor?.ratio ?? null, floor: toFloor?.floor ?? null }) } })
        const extra = s.cpuSecondsPerGB !== undefined && ZERO_COPY_WORKLOADS.includes(workload) ? `, server CPU ${s.cpuSecondsPerGB.toFixed(2)} s/GB${s.paths === undefined ? '' : ` (${pathsText(s.paths)})`}` : ''
        progress(`[${run}/${total}] ${workload} on ${backend}: ${fmtRate(workload, s)}, p50 ${fmtUs(s.latencyUs.p50)} µs${extra}`)
      }
      for (const r of here) {
        if (r.result !== null && baseline !== null) r.result.vsNodeFs = rateOf(workload, r.result) / baseline
        if (r.result !== null && standardRate !== null) r.result.vsStandard = rateOf(workload, r.result) / standardRate
        rows.push(r)
      }
    }
  } finally {
    for (const io of ios.values()) await io.close()
    fs.rmSync(root, { recursive: true, force: true })
  }
  const eviction = workloads.includes('W6') ? [...evictions].join(',') || 'none' : null
  if (eviction !== null && evictions.has('none')) {
    warnings.push('W6: could not evict the file from the page cache (no fadviseDontNeed in the addon and not root): its reads were warm')
    process.stderr.write(`streamline-io: warning: ${warnings[warnings.length - 1]}\n`)
  }
  const machine = machineFacts()
  const report: BenchReport & Record<string, unknown> = {
    schema: BENCH_SCHEMA,
    machine,
    kernel: os.release(),
    fsType,
    fs: { type: fsType, source: mount?.source ?? 'unknown', mountPoint: mount?.mountPoint ?? 'unknown' },
    dir: userDir ?? os.tmpdir(),
    date: new Date().toISOString(),
    command: commandLine(),
    config: ctx.config,
    durationSeconds: seconds,
    quick,
    dataFileBytes: dataBytes,
    eviction,
    warnings,
    ...(floors === null ? {} : { limits: floors }),
    notes: Object.fromEntries(Object.entries(NOTES).filter(([w]) => (workloads as string[]).includes(w))),
    latencyHistograms: { unit: 'ns', encoding: 'HdrHistogram V2 compressed, base64', recorder: `hdr-histogram-js (${histogramImplementation()})` },
    results: rows.map((r) => ({ workload: r.workload, backend: r.backend, ...(r.result === null ? { skipped: r.skipped } : { unit: WORKLOAD_UNITS[r.workload], ...r.result }) })),
  }
  if (json) {
    ctx.out(JSON.stringify(report, null, 2))
  } else {
    const lines = [`streamline-io bench — ${machine.cpus} × ${machine.cpuModel}, kernel ${report.kernel}, node ${process.version}, ${fsType} (${report.dir}), ${seconds} s per run`]
    lines.push(table(rows, floors !== null))
    if (floors !== null) lines.push('', floors.length === 0 ? `floors (--limits): none for ${workloads.join(', ')} (floors exist for W1, W1r, W2, W3, W4, W5 and W6)` : `floors (--limits; measured in this run, before the workloads):\n${floorTable(floors, workloads)}`)
    const notes = []
    if (workloads.includes('W4')) notes.push('W4 latency is per batch of 32')
    if (workloads.some((w) => ZERO_COPY_WORKLOADS.includes(w))) notes.push(`Z1 latency is per ${Z1_FETCH_BYTES / MiB} MiB fetch; CPU is the server process's`)
    if (floors !== null) notes.push('vs floor: the throughput over the best floor measured for that workload (W2: over 64 records per write of the 64 KiB loop)')
    if (eviction !== null) notes.push(`W6 cache eviction: ${eviction === 'fadvise' ? 'posix_fadvise(DONTNEED) after fdatasync' : eviction}`)
    if (notes.length > 0) lines.push(notes.join('; '))
    ctx.out(lines.join('\n'))
  }
  if (plotFile !== undefined) {
    // The results are out already: a failure here costs the picture, not the numbers.
    try {
      fs.writeFileSync(plotFile, plotReports([report], WORKLOAD_TITLES))
    } catch (err) {
      process.stderr.write(`streamline-io: cannot write --plot ${plotFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`)
      return 1
    }
    progress(`latency plot written to ${plotFile}`)
  }
  return 0
}

/** What a latency sample is, per workload (in --json and on the plot). */
const NOTES: Record<string, string> = {
  W1: 'latency per append (write + fdatasync acknowledged)',
  W1r: 'latency per record: writeAt 4 KiB then syncData, each awaited, on a growing file',
  W2: 'latency per append, 64 writers; acknowledged when durable',
  W3: 'latency per 4 KiB read, 32 in flight',
  W4: 'latency per batch of 32 reads',
  W5: 'latency per 4 KiB O_DIRECT read, 32 in flight; the library reads into io.pool buffers, node-fs into an aligned subarray of an over-allocated Buffer',
  W6: 'MB/s; 1 MiB reads, 8 in flight; latency per read; CPU per GB read',
  W7P: 'records/s; 16 logs, one producer each, append() of 100 × 1 KiB records under sync always; latency per append; node-fs row: the single-writer sync loop (write one batch + fdatasync)',
  W7W: 'records/s; 16 logs, one reader each, read(offset, { maxBytes: 64 KiB }) from the start, wrapping; page cache warm; latency per read',
  W7C: 'records/s; as W7W, one pass over the segments after evicting them from the page cache; latency per read',
  Z1: 'MB/s; one partition log (1 GiB, 256 MiB segments; 128 MiB with --quick) served to a loopback consumer child in 1 MiB fetches, each behind a 4-byte length: log.slice + log.sendTo (library), FileHandle.read + socket.write (node-fs); page cache warm; latency per fetch; CPU = the server process per GB; consumerCpuSecondsPerGB = the consumer child',
  Z1C: 'MB/s; as Z1, the segments evicted from the page cache before each pass',
}
