// streamline-io bench: DESIGN.md §6's workloads side by side in one run, on the library's
// two backends and on node:fs as a Node user writes it (plain, and with UV_USE_IO_URING=1
// in a child process). The workload loops live in benches/workloads.ts. Progress goes to
// stderr; the table (or --json) to stdout.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { type EvictMethod, MiB, type RunFiles, type Summary, WORKLOADS, WORKLOAD_TITLES, type Workload, fsTypeOf, makeDataFile, runIo, runNodeFs, summarize } from '../../benches/workloads'
import { openIo } from '../io'
import { UsageError } from './args'
import type { CliContext } from './main'

export const BACKENDS = ['io_uring', 'standard', 'node-fs', 'node-fs-uring'] as const
type Backend = (typeof BACKENDS)[number]

const NOT_IMPLEMENTED: Record<string, string> = {
  W5: 'workload W5 (random 4 KiB O_DIRECT reads) is not implemented: the library has no O_DIRECT open mode yet',
  W7: 'workload W7 (partition log produce/consume) is not implemented: the library has no partition log yet',
}

function listFlag<T extends string>(raw: string | undefined, flag: string, known: readonly T[], special: Record<string, string> = {}): T[] {
  if (raw === undefined) return [...known]
  const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '')
  if (items.length === 0) throw new UsageError(`flag ${flag} needs a comma-separated list (${known.join(',')})`)
  for (const item of items) {
    if (special[item.toUpperCase()] !== undefined) throw new UsageError(special[item.toUpperCase()])
    if (!(known as readonly string[]).includes(flag === '--workload' ? item.toUpperCase() : item)) {
      throw new UsageError(`unknown ${flag.slice(2)} '${item}' (${known.join(', ')})`)
    }
  }
  return [...new Set(items.map((s) => (flag === '--workload' ? s.toUpperCase() : s) as T))]
}

function durationFlag(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined
  const n = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN
  if (!(n > 0) || n > 3600) throw new UsageError(`flag --duration needs a number of seconds (0 < S <= 3600), got ${JSON.stringify(raw)}`)
  return n
}

export interface BenchRow {
  workload: Workload
  backend: Backend
  /** Null when the backend could not run here (skipped says why). */
  result: (Summary & { vsNodeFs: number | null }) | null
  skipped?: string
}

/** Runs the node:fs code in a child with UV_USE_IO_URING=1; its Summary comes back as JSON. */
function runChild(workload: Workload, files: RunFiles, seconds: number): Promise<{ summary: Summary; evictions: EvictMethod[] }> {
  const script = path.join(__dirname, '..', '..', 'benches', 'node-fs-child.js')
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

const fmtInt = (x: number) => Math.round(x).toLocaleString('en-US')
const fmtUs = (x: number) => (Number.isNaN(x) ? '-' : x < 100 ? x.toFixed(1) : fmtInt(x))

function table(rows: BenchRow[]): string {
  const out: string[][] = [['workload', 'backend', 'throughput', 'p50 µs', 'p99 µs', 'p999 µs', 'vs node-fs']]
  for (const r of rows) {
    const name = `${r.workload} ${WORKLOAD_TITLES[r.workload]}`
    if (r.result === null) {
      out.push([name, r.backend, `skipped: ${r.skipped}`, '', '', '', ''])
      continue
    }
    const s = r.result
    out.push([
      name,
      r.backend,
      r.workload === 'W6' ? `${fmtInt(s.mbPerSec)} MB/s` : `${fmtInt(s.opsPerSec)} ops/s`,
      fmtUs(s.latencyUs.p50),
      fmtUs(s.latencyUs.p99),
      fmtUs(s.latencyUs.p999),
      s.vsNodeFs === null ? '-' : `${s.vsNodeFs.toFixed(2)}x`,
    ])
  }
  const widths = out[0].map((_, c) => Math.max(...out.map((r) => (r[c].startsWith('skipped') ? 0 : r[c].length))))
  return out.map((r) => r.map((cell, c) => (c < 2 || cell.startsWith('skipped') ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd()).join('\n')
}

export async function bench(ctx: CliContext): Promise<number> {
  const flags = ctx.args.flags
  const quick = flags.has('--quick')
  const json = flags.has('--json')
  const workloads = listFlag(flags.get('--workload'), '--workload', WORKLOADS, NOT_IMPLEMENTED)
  const backends = listFlag(flags.get('--backend'), '--backend', BACKENDS)
  const seconds = durationFlag(flags.get('--duration')) ?? (quick ? 1 : 3)
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
  const warnings: string[] = []
  if (fsType === 'tmpfs') {
    warnings.push(`${root} is on tmpfs: fdatasync costs nothing and there is no cold cache there; W1, W2 and W6 mean nothing for a disk (use --dir on the disk you care about)`)
  }
  for (const w of warnings) process.stderr.write(`streamline-io: warning: ${w}\n`)
  const dataBytes = (quick ? 64 : 256) * MiB
  const evictions = new Set<EvictMethod>()
  const onEvict = (m: EvictMethod) => void evictions.add(m)
  const rows: BenchRow[] = []
  const ios = new Map<Backend, Awaited<ReturnType<typeof openIo>>>()
  let run = 0
  try {
    const needsData = workloads.some((w) => w === 'W3' || w === 'W4' || w === 'W6')
    if (needsData) {
      progress(`writing a ${dataBytes / MiB} MiB data file in ${root} (${fsType})`)
      makeDataFile(path.join(root, 'data.bin'), dataBytes)
    }
    for (const b of backends) {
      if (b !== 'io_uring' && b !== 'standard') continue
      const io = await openIo({ ...ctx.config, enableIoUring: b === 'io_uring' })
      ios.set(b, io)
    }
    const total = workloads.length * backends.length
    for (const workload of workloads) {
      let baseline: number | null = null
      const here: BenchRow[] = []
      for (const backend of backends) {
        run++
        const walDir = path.join(root, `wal-${run}`)
        fs.mkdirSync(walDir)
        const files: RunFiles = { dataFile: path.join(root, 'data.bin'), dataBytes, walDir }
        const io = ios.get(backend)
        if (io !== undefined && backend === 'io_uring' && io.backend !== 'io_uring') {
          here.push({ workload, backend, result: null, skipped: `io_uring unavailable (${io.fallbackReason})` })
          progress(`[${run}/${total}] ${workload} on ${backend}: skipped, io_uring unavailable (${io.fallbackReason})`)
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
        const rate = workload === 'W6' ? s.mbPerSec : s.opsPerSec
        if (backend === 'node-fs') baseline = rate
        here.push({ workload, backend, result: { ...s, vsNodeFs: null } })
        progress(`[${run}/${total}] ${workload} on ${backend}: ${workload === 'W6' ? `${fmtInt(s.mbPerSec)} MB/s` : `${fmtInt(s.opsPerSec)} ops/s`}, p50 ${fmtUs(s.latencyUs.p50)} µs`)
      }
      for (const r of here) {
        if (r.result !== null && baseline !== null) r.result.vsNodeFs = (workload === 'W6' ? r.result.mbPerSec : r.result.opsPerSec) / baseline
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
  const cpus = os.cpus()
  const report = {
    machine: { cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', memoryBytes: os.totalmem(), node: process.version, arch: process.arch },
    kernel: os.release(),
    fsType,
    dir: userDir ?? os.tmpdir(),
    date: new Date().toISOString(),
    command: ['streamline-io', ...process.argv.slice(2)].join(' '),
    durationSeconds: seconds,
    quick,
    dataFileBytes: dataBytes,
    eviction,
    warnings,
    notes: { W4: 'latency per batch of 32 reads', W6: 'MB/s; 1 MiB reads, 8 in flight; latency per read' },
    results: rows.map((r) => ({ workload: r.workload, backend: r.backend, ...(r.result ?? { skipped: r.skipped }) })),
  }
  if (json) {
    ctx.out(JSON.stringify(report, null, 2))
    return 0
  }
  const lines = [`streamline-io bench — ${cpus.length} × ${report.machine.cpuModel}, kernel ${report.kernel}, node ${process.version}, ${fsType} (${report.dir}), ${seconds} s per run`]
  lines.push(table(rows))
  const notes = []
  if (workloads.includes('W4')) notes.push('W4 latency is per batch of 32')
  if (eviction !== null) notes.push(`W6 cache eviction: ${eviction === 'fadvise' ? 'posix_fadvise(DONTNEED) after fdatasync' : eviction}`)
  if (notes.length > 0) lines.push(notes.join('; '))
  ctx.out(lines.join('\n'))
  return 0
}
