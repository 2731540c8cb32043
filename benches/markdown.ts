// BENCHMARKS.md's generated table made from one or more `streamline-io bench --json`
// reports (ts/cli/bench/report.ts: BenchReport): medians across runs per workload ×
// backend, ratios against node:fs of the same run. scripts/benchmarks-md.ts is the
// command around renderMarkdown (npm run bench:md).
import fs from 'node:fs'
import path from 'node:path'
import { BENCH_SCHEMA, type BenchReport, type BenchResult } from '../ts/cli/bench/report'

export const MARK_BEGIN = '<!-- bench:begin -->'
export const MARK_END = '<!-- bench:end -->'

/** The median; for an even count the mean of the two middle values. NaN when empty. */
export function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const mid = v.length >> 1
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

/** The throughput of a result in its unit (MB/s for sequential scans, operations/s otherwise). */
export function rateOf(r: BenchResult): number {
  const unit = r.unit ?? (r.workload === 'W6' ? 'MB/s' : 'ops/s')
  return (unit === 'MB/s' ? r.mbPerSec : r.opsPerSec) ?? NaN
}

const unitOf = (r: BenchResult): 'ops/s' | 'MB/s' | 'records/s' => r.unit ?? (r.workload === 'W6' ? 'MB/s' : 'ops/s')

const BACKEND_ORDER = ['io_uring', 'standard', 'node-fs', 'node-fs-uring']
const byBackend = (a: string, b: string) => {
  const ia = BACKEND_ORDER.indexOf(a)
  const ib = BACKEND_ORDER.indexOf(b)
  return (ia === -1 ? 99 : ia) - (ib === -1 ? 99 : ib) || a.localeCompare(b)
}
const byName = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true })
/** Workloads by number (W2 before W10); phases of one workload (W7P, W7W, W7C) in the order the runs ran them. */
const workloadOrder = (reports: readonly BenchReport[]) => {
  const seen: string[] = []
  for (const rep of reports) for (const r of rep.results) if (!seen.includes(r.workload)) seen.push(r.workload)
  const family = (w: string) => w.replace(/^(W\d+).*$/, '$1')
  return (a: string, b: string) => byName(family(a), family(b)) || seen.indexOf(a) - seen.indexOf(b)
}

/** One row of the generated table: a workload × backend over every run. */
export interface MedianRow {
  workload: string
  backend: string
  unit: 'ops/s' | 'MB/s' | 'records/s'
  /** Per run, in report order: the throughput, 'skipped' (the run could not), or null (not in that run). */
  runs: Array<number | 'skipped' | null>
  median: number
  p50: number
  p99: number
  p999: number
  /** Median over runs of (this run's rate / node-fs's rate in the same run); null without node-fs. */
  vsNodeFs: number | null
  /** The same against the standard backend of the same run; null without it. */
  vsStandard: number | null
  /** Median over runs of the run's ratio to its floor (`bench --limits`); null without floors. */
  vsFloor: number | null
  /** The floor(s) those ratios were taken against (the best measured in each run). */
  floor: string | null
  /** Median CPU per operation (µs) and per GB (s) over the runs that measured it; NaN otherwise. */
  cpuUsPerOp: number
  cpuSecondsPerGB: number
  skipped: string | null
}

/** Medians across `reports` for every workload × backend that any of them has. */
export function medianRows(reports: readonly BenchReport[]): MedianRow[] {
  const keys = new Map<string, { workload: string; backend: string }>()
  for (const rep of reports) for (const r of rep.results) keys.set(`${r.workload}\0${r.backend}`, { workload: r.workload, backend: r.backend })
  const byWorkload = workloadOrder(reports)
  const ordered = [...keys.values()].sort((a, b) => byWorkload(a.workload, b.workload) || byBackend(a.backend, b.backend))
  return ordered.map(({ workload, backend }) => {
    const found = reports.map((rep) => rep.results.find((r) => r.workload === workload && r.backend === backend))
    const ran = found.filter((r): r is BenchResult => r !== undefined && r.skipped === undefined && Number.isFinite(rateOf(r)))
    const runs = found.map((r) => (r === undefined ? null : r.skipped === undefined && Number.isFinite(rateOf(r)) ? rateOf(r) : 'skipped'))
    const ratiosTo = (peer: string) => {
      const ratios: number[] = []
      reports.forEach((rep, i) => {
        const base = rep.results.find((r) => r.workload === workload && r.backend === peer && r.skipped === undefined)
        const mine = runs[i]
        if (base !== undefined && typeof mine === 'number' && rateOf(base) > 0) ratios.push(mine / rateOf(base))
      })
      return ratios.length === 0 ? null : median(ratios)
    }
    const skipped = ran.length === 0 ? (found.find((r) => r?.skipped !== undefined)?.skipped ?? 'no result') : null
    return {
      workload,
      backend,
      unit: unitOf(ran[0] ?? found.find((r) => r !== undefined)!),
      runs,
      median: median(ran.map(rateOf)),
      p50: median(ran.map((r) => r.latencyUs?.p50 ?? NaN)),
      p99: median(ran.map((r) => r.latencyUs?.p99 ?? NaN)),
      p999: median(ran.map((r) => r.latencyUs?.p999 ?? NaN)),
      vsNodeFs: ratiosTo('node-fs'),
      vsStandard: ratiosTo('standard'),
      ...floorRatio(ran),
      cpuUsPerOp: median(ran.map((r) => r.cpuUsPerOp ?? NaN)),
      cpuSecondsPerGB: median(ran.map((r) => r.cpuSecondsPerGB ?? NaN)),
      skipped,
    }
  })
}

/** The median of the runs' ratios to their floors, and which floors they were. */
function floorRatio(ran: readonly BenchResult[]): { vsFloor: number | null; floor: string | null } {
  const withFloor = ran.filter((r) => typeof r.vsFloor === 'number' && Number.isFinite(r.vsFloor))
  if (withFloor.length === 0) return { vsFloor: null, floor: null }
  return { vsFloor: median(withFloor.map((r) => r.vsFloor!)), floor: [...new Set(withFloor.map((r) => r.floor ?? '?'))].join(' / ') }
}

/** One floor of `bench --limits` across runs: each run's figure (null: not in that run, 'skipped': could not run), the median. */
export interface FloorRow {
  id: string
  title: string
  unit: string
  runs: Array<number | 'skipped' | null>
  median: number
  p50: number
  skipped: string | null
}

/** Medians of the floors the reports measured, in the order they first appear. */
export function floorRows(reports: readonly BenchReport[]): FloorRow[] {
  const ids: string[] = []
  for (const rep of reports) for (const f of rep.limits ?? []) if (!ids.includes(f.id)) ids.push(f.id)
  return ids.map((id) => {
    const found = reports.map((rep) => rep.limits?.find((f) => f.id === id))
    const ran = found.filter((f) => f !== undefined && f.rate !== null).map((f) => f!)
    const first = found.find((f) => f !== undefined)!
    return {
      id,
      title: first.title,
      unit: first.unit,
      runs: found.map((f) => (f === undefined ? null : f.rate === null ? 'skipped' : f.rate)),
      median: median(ran.map((f) => f.rate!)),
      p50: median(ran.map((f) => f.p50Us ?? NaN)),
      skipped: ran.length === 0 ? (found.find((f) => f?.skipped !== undefined)?.skipped ?? 'no result') : null,
    }
  })
}

const int = (x: number) => Math.round(x).toLocaleString('en-US')
/** Each run's figure, in report order: '—' where the run did not have it. */
const runsText = (runs: ReadonlyArray<number | 'skipped' | null>) => runs.map((x) => (x === null ? '—' : x === 'skipped' ? 'skipped' : int(x))).join(' / ')
const us = (x: number) => (Number.isNaN(x) ? '—' : x < 100 ? String(Math.round(x * 10) / 10) : int(x))
const GiB = 1024 ** 3

/** Distinct values in order; several are shown joined and flagged, since runs should share them. */
function agreed(values: string[]): string {
  const distinct = [...new Set(values)]
  return distinct.length === 1 ? distinct[0] : `${distinct.join(' / ')} (runs differ)`
}

function fsLine(rep: BenchReport): string {
  const f = rep.fs
  if (f === undefined || f.source === '') return `${rep.fsType} (${rep.dir})`
  return `${f.type} on ${f.source}, mounted at ${f.mountPoint} (bench dir ${rep.dir})`
}

const dateOf = (iso: string) => (Number.isNaN(Date.parse(iso)) ? iso : new Date(iso).toISOString().replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC'))

/** The facts every run states: what the header of the generated section says. */
export function headerFacts(reports: readonly BenchReport[]): { machine: string; kernel: string; fileSystem: string; date: string; node: string; command: string } {
  const dates = reports.map((r) => r.date).filter((d) => !Number.isNaN(Date.parse(d))).sort()
  return {
    machine: agreed(reports.map((r) => `${r.machine.cpus} × ${r.machine.cpuModel}, ${(r.machine.memoryBytes / GiB).toFixed(1)} GiB RAM${r.machine.arch ? `, ${r.machine.arch}` : ''}`)),
    kernel: agreed(reports.map((r) => `Linux ${r.kernel}`)),
    fileSystem: agreed(reports.map(fsLine)),
    date: dates.length === 0 ? 'unknown' : dates.length === 1 ? dateOf(dates[0]) : `${dateOf(dates[0])} – ${dateOf(dates[dates.length - 1])}`,
    node: agreed(reports.map((r) => r.machine.node)),
    command: agreed(reports.map((r) => r.command)),
  }
}

/**
 * The generated section of BENCHMARKS.md (without the markers): the facts, then one row per
 * workload × backend with each run's throughput, the median, the median percentiles and the
 * median ratio against node-fs. `sources` names the JSON files, for the regeneration command.
 */
export function renderMarkdown(reports: readonly BenchReport[], sources: readonly string[] = []): string {
  if (reports.length === 0) throw new Error('no reports to summarize')
  const f = headerFacts(reports)
  const n = reports.length
  const lines: string[] = []
  lines.push(`## \`streamline-io bench\`: ${n === 1 ? 'one run' : `medians of ${n} runs`}, ${f.date.slice(0, 10)}`)
  lines.push('')
  lines.push(`- Machine: ${f.machine}`)
  lines.push(`- Kernel: ${f.kernel}`)
  lines.push(`- File system: ${f.fileSystem}`)
  lines.push(`- Node: ${f.node}`)
  lines.push(`- Date: ${f.date}`)
  lines.push(`- Command (${n === 1 ? 'one run' : `each of ${n} runs`}): \`${f.command}\``)
  const regen = sources.length > 0 ? `npm run bench:md -- ${sources.map((s) => path.basename(s)).join(' ')} --write BENCHMARKS.md` : 'npm run bench:md'
  lines.push(`- Generated by \`${regen}\` from the \`--json\` output: throughput is the median across runs, percentiles are medians of each run's (HDR histogram) percentiles, and "vs node-fs" / "vs standard" are the medians of each run's ratio against that peer in the same run; CPU is the benchmark process's user + system time per record (W7) or per GB (W6), median across runs.`)
  const backends = new Set(reports.flatMap((r) => r.results.map((x) => x.backend)))
  const said: string[] = []
  if (backends.has('io_uring') || backends.has('standard')) said.push("io_uring and standard are the library's backends")
  if (backends.has('node-fs')) said.push('node-fs is plain node:fs FileHandle code as a Node user writes it')
  if (backends.has('node-fs-uring')) said.push('node-fs-uring is the same code in a child process with UV_USE_IO_URING=1')
  if (said.length > 0) lines.push(`- Backends: ${said.join('; ')}.`)
  const evictions = [...new Set(reports.map((r) => r.eviction).filter((e): e is string => typeof e === 'string'))]
  if (evictions.length > 0) lines.push(`- W6 cache eviction before each pass: ${evictions.map((e) => (e === 'fadvise' ? 'posix_fadvise(DONTNEED) after fdatasync' : e)).join(' / ')}.`)
  const notes = new Set<string>()
  for (const rep of reports) for (const [w, note] of Object.entries(rep.notes ?? {})) notes.add(`${w}: ${note}`)
  const warnings = new Set<string>()
  for (const rep of reports) for (const w of rep.warnings ?? []) warnings.add(w)
  if (notes.size > 0) lines.push(`- Notes: ${[...notes].join('; ')}.`)
  for (const w of warnings) lines.push(`- **Warning** (from the run): ${w}`)
  lines.push('')
  const rows = medianRows(reports)
  // The CPU column only when some run measured CPU; older reports keep their 9 columns.
  const withCpu = rows.some((r) => Number.isFinite(r.cpuUsPerOp) || Number.isFinite(r.cpuSecondsPerGB))
  // The floor column only for runs made with --limits.
  const withFloor = rows.some((r) => r.vsFloor !== null)
  lines.push(`| workload | backend | runs | median | p50 µs | p99 µs | p999 µs | vs node-fs | vs standard |${withFloor ? ' vs floor |' : ''}${withCpu ? ' CPU |' : ''}`)
  lines.push(`|---|---|---|---|---|---|---|---|---|${withFloor ? '---|' : ''}${withCpu ? '---|' : ''}`)
  const ratio = (x: number | null) => (x === null ? '—' : `${x.toFixed(2)}×`)
  const cpuOf = (r: MedianRow) => (r.unit === 'records/s' && Number.isFinite(r.cpuUsPerOp) ? `${r.cpuUsPerOp.toFixed(2)} µs/rec` : r.unit === 'MB/s' && Number.isFinite(r.cpuSecondsPerGB) ? `${r.cpuSecondsPerGB.toFixed(2)} s/GB` : '')
  for (const r of rows) {
    if (r.skipped !== null) {
      lines.push(`| ${r.workload} | ${r.backend} | skipped: ${r.skipped.replace(/\|/g, '\\|')} | | | | | | |${withFloor ? ' |' : ''}${withCpu ? ' |' : ''}`)
      continue
    }
    const runs = runsText(r.runs)
    const med = r.unit === 'MB/s' ? `**${int(r.median)} MB/s**` : `**${int(r.median)}/s**`
    lines.push(`| ${r.workload} | ${r.backend} | ${runs} | ${med} | ${us(r.p50)} | ${us(r.p99)} | ${us(r.p999)} | ${ratio(r.vsNodeFs)} | ${ratio(r.vsStandard)} |${withFloor ? ` ${r.vsFloor === null ? '—' : `${ratio(r.vsFloor)} (${r.floor})`} |` : ''}${withCpu ? ` ${cpuOf(r)} |` : ''}`)
  }
  const floors = floorRows(reports)
  if (floors.length > 0) {
    lines.push('')
    lines.push('Floors (`bench --limits`, measured in each run before its workloads; "vs floor" above is each run\'s ratio to the best floor of that workload, W2 per 64 records of the 64 KiB loop):')
    lines.push('')
    lines.push('| floor | measured | runs | median | p50 µs |')
    lines.push('|---|---|---|---|---|')
    for (const f of floors) {
      if (f.skipped !== null) {
        lines.push(`| ${f.id} | ${f.title} | skipped: ${f.skipped.replace(/\|/g, '\\|')} | | |`)
        continue
      }
      lines.push(`| ${f.id} | ${f.title} | ${runsText(f.runs)} | **${int(f.median)} ${f.unit}** | ${us(f.p50)} |`)
    }
  }
  return lines.join('\n')
}

/** `doc` with the text between the bench markers replaced by `section`; throws without markers. */
export function replaceBetweenMarkers(doc: string, section: string): string {
  const begin = doc.indexOf(MARK_BEGIN)
  const end = doc.indexOf(MARK_END)
  if (begin === -1 || end === -1 || end < begin) throw new Error(`no ${MARK_BEGIN} … ${MARK_END} section to replace`)
  if (doc.indexOf(MARK_BEGIN, begin + 1) !== -1 || doc.indexOf(MARK_END, end + 1) !== -1) throw new Error(`more than one ${MARK_BEGIN} … ${MARK_END} section`)
  return `${doc.slice(0, begin + MARK_BEGIN.length)}\n${section.trim()}\n${doc.slice(end)}`
}

/** Reads a `--json` report, checking what the table needs; errors name the file. */
export function readReport(file: string): BenchReport {
  let parsed: unknown
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new Error(`${file}: ${e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e instanceof SyntaxError ? `not JSON (${e.message})` : e.message}`)
  }
  const rep = parsed as Partial<BenchReport>
  if (typeof rep !== 'object' || rep === null || !Array.isArray(rep.results) || typeof rep.machine !== 'object' || typeof rep.kernel !== 'string') {
    throw new Error(`${file}: not the output of streamline-io bench --json (needs machine, kernel, results)`)
  }
  if (rep.schema !== undefined && rep.schema !== BENCH_SCHEMA) throw new Error(`${file}: schema ${rep.schema} is not ${BENCH_SCHEMA}`)
  return rep as BenchReport
}
