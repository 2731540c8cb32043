// Must-not-regress comparison of this build against an earlier built copy of the package,
// side by side in ONE process (issue 10: "W1, W3, W4, W5 within 10% of today, measured side
// by side in one process against today's build, ≥ 8 rounds per workload in alternating
// order, the median of the pair ratios"):
//
//   git worktree add /tmp/before <commit> && (cd /tmp/before && npm ci)   # or any built clone
//   npm run build:ts && node dist/benches/regress.js --baseline /tmp/before [--rounds 8]
//
// Each side is its own package root: its compiled library (dist/ts/index.js), its own
// native addon, and its own benchmark workloads (dist/ts/cli/bench/workloads.js, or
// dist/benches/workloads.js in builds from before the bench code moved), so each side runs
// exactly the code it shipped. Both open an Io with the same settings (the io_uring
// backend unless --backend standard, the default engine unless --engine). Round r runs every workload on both sides,
// baseline first in even rounds and this build first in odd ones (A B, B A, …), so drift of
// the machine during a round falls on both sides alike; a workload's figure is the median
// over rounds of (this build's ops/s ÷ the baseline's in the same round).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

interface Result {
  ops: number
  seconds: number
}
interface Summary {
  opsPerSec: number
  latencyUs: { p50: number; p99: number }
}
interface IoLike {
  readonly backend: string
  close(): Promise<void>
}
interface Side {
  name: string
  root: string
  io: IoLike
  run(workload: string, files: unknown, seconds: number): Promise<Result>
  summarize(r: Result): Summary
  makeDataFile(file: string, bytes: number): void
}

const USAGE = `Usage: node dist/benches/regress.js --baseline DIR [--rounds N] [--duration S]
                      [--workload LIST] [--backend io_uring|standard] [--engine inline|thread]
                      [--dir DIR] [--json FILE]

Runs W1, W3, W4, W5 (or LIST) on this build and on the built package at DIR in one
process, N rounds (default 8) in alternating order, S seconds each (default 3), and prints
per workload the median of the per-round ratios (this ÷ baseline) with both sides' medians.
--dir: where the files go (default $BENCH_DIR, else the OS temp directory; not tmpfs).`

const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b)
  const m = v.length >> 1
  return v.length % 2 === 1 ? v[m] : (v[m - 1] + v[m]) / 2
}

function workloadsModule(root: string): string {
  for (const rel of ['dist/ts/cli/bench/workloads.js', 'dist/benches/workloads.js']) {
    const p = path.join(root, rel)
    if (fs.existsSync(p)) return p
  }
  throw new Error(`${root}: no built benchmark workloads (dist/ts/cli/bench/workloads.js or dist/benches/workloads.js); build it first (npm ci)`)
}

async function openSide(name: string, root: string, engine: string | undefined, backend: 'io_uring' | 'standard'): Promise<Side> {
  const libPath = path.join(root, 'dist', 'ts', 'index.js')
  if (!fs.existsSync(libPath)) throw new Error(`${root}: no dist/ts/index.js; build it first (npm ci)`)
  // STREAMLINE_IO_ENGINE is read when an Io opens (by either build), so set it around each open.
  const before = process.env.STREAMLINE_IO_ENGINE
  if (engine !== undefined) process.env.STREAMLINE_IO_ENGINE = engine
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const lib = require(libPath) as { openIo(o?: object): Promise<IoLike & { fallbackReason?: string | null }> }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const wl = require(workloadsModule(root)) as {
      runIo(io: IoLike, w: string, files: unknown, s: number, onEvict: () => void): Promise<Result>
      summarize(r: Result): Summary
      makeDataFile(file: string, bytes: number): void
    }
    const io = await lib.openIo({ enableIoUring: backend === 'io_uring' })
    if (io.backend !== backend) throw new Error(`${name} (${root}): io_uring unavailable (${io.fallbackReason})`)
    return { name, root, io, run: (w, files, s) => wl.runIo(io, w, files, s, () => {}), summarize: wl.summarize, makeDataFile: wl.makeDataFile }
  } finally {
    if (before === undefined) delete process.env.STREAMLINE_IO_ENGINE
    else process.env.STREAMLINE_IO_ENGINE = before
  }
}

async function main(argv: string[]): Promise<number> {
  let baseline: string | undefined
  let rounds = 8
  let seconds = 3
  let workloads = ['W1', 'W3', 'W4', 'W5']
  let engine: string | undefined
  let backend: 'io_uring' | 'standard' = 'io_uring'
  let dir = process.env.BENCH_DIR ?? os.tmpdir()
  let json: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const v = () => {
      const x = argv[++i]
      if (x === undefined) throw new Error(`${a} needs a value`)
      return x
    }
    if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`)
      return 0
    } else if (a === '--baseline') baseline = path.resolve(v())
    else if (a === '--rounds') rounds = Number(v())
    else if (a === '--duration') seconds = Number(v())
    else if (a === '--workload') workloads = v().split(',')
    else if (a === '--engine') engine = v()
    else if (a === '--backend') {
      const b = v()
      if (b !== 'io_uring' && b !== 'standard') throw new Error(`--backend is io_uring or standard, not ${JSON.stringify(b)}`)
      backend = b
    }
    else if (a === '--dir') dir = v()
    else if (a === '--json') json = v()
    else throw new Error(`unknown argument ${a} (see --help)`)
  }
  if (baseline === undefined) throw new Error('--baseline DIR is required (a built copy of the package to compare against)')
  if (!Number.isInteger(rounds) || rounds < 2) throw new Error('--rounds must be an integer ≥ 2')
  if (!(seconds > 0)) throw new Error('--duration must be > 0')
  const here = path.resolve(__dirname, '..', '..')
  const root = fs.mkdtempSync(path.join(dir, 'regress-'))
  const sides = [await openSide('baseline', baseline, engine, backend), await openSide('this build', here, engine, backend)]
  const dataBytes = 1024 * 1024 * 1024
  const rows = new Map<string, Array<{ base: Summary; mine: Summary }>>()
  try {
    process.stderr.write(`regress: writing a ${dataBytes >> 20} MiB data file in ${root}\n`)
    sides[1].makeDataFile(path.join(root, 'data.bin'), dataBytes)
    let n = 0
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [sides[0], sides[1]] : [sides[1], sides[0]]
      for (const w of workloads) {
        const got = new Map<string, Summary>()
        for (const side of order) {
          const walDir = path.join(root, `wal-${n++}`)
          fs.mkdirSync(walDir)
          const files = { dataFile: path.join(root, 'data.bin'), dataBytes, walDir }
          const s = side.summarize(await side.run(w, files, seconds))
          got.set(side.name, s)
          fs.rmSync(walDir, { recursive: true, force: true })
        }
        const pair = { base: got.get('baseline')!, mine: got.get('this build')! }
        if (!rows.has(w)) rows.set(w, [])
        rows.get(w)!.push(pair)
        process.stderr.write(`regress: round ${r + 1}/${rounds} ${w} (${order.map((s) => s.name).join(' → ')}): baseline ${Math.round(pair.base.opsPerSec)}/s, this build ${Math.round(pair.mine.opsPerSec)}/s, ratio ${(pair.mine.opsPerSec / pair.base.opsPerSec).toFixed(3)}\n`)
      }
    }
  } finally {
    for (const s of sides) await s.io.close()
    fs.rmSync(root, { recursive: true, force: true })
  }
  const out = [...rows].map(([w, pairs]) => ({
    workload: w,
    rounds: pairs.length,
    ratio: median(pairs.map((p) => p.mine.opsPerSec / p.base.opsPerSec)),
    ratios: pairs.map((p) => p.mine.opsPerSec / p.base.opsPerSec),
    baseline: { opsPerSec: median(pairs.map((p) => p.base.opsPerSec)), p50: median(pairs.map((p) => p.base.latencyUs.p50)), p99: median(pairs.map((p) => p.base.latencyUs.p99)) },
    thisBuild: { opsPerSec: median(pairs.map((p) => p.mine.opsPerSec)), p50: median(pairs.map((p) => p.mine.latencyUs.p50)), p99: median(pairs.map((p) => p.mine.latencyUs.p99)) },
  }))
  const int = (x: number) => Math.round(x).toLocaleString('en-US')
  const lines = [
    `regress: ${rounds} rounds × ${seconds} s, ${backend} backend, engine ${engine ?? 'default'}, baseline ${baseline}, this build ${here}, ${new Date().toISOString()}`,
    '',
    '| workload | baseline ops/s | this build ops/s | median of pair ratios | min–max ratio | p50 µs baseline / this | p99 µs baseline / this |',
    '|---|---|---|---|---|---|---|',
    ...out.map(
      (o) =>
        `| ${o.workload} | ${int(o.baseline.opsPerSec)} | ${int(o.thisBuild.opsPerSec)} | **${o.ratio.toFixed(3)}** | ${Math.min(...o.ratios).toFixed(2)}–${Math.max(...o.ratios).toFixed(2)} | ${o.baseline.p50.toFixed(0)} / ${o.thisBuild.p50.toFixed(0)} | ${o.baseline.p99.toFixed(0)} / ${o.thisBuild.p99.toFixed(0)} |`,
    ),
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
  if (json !== undefined) fs.writeFileSync(json, JSON.stringify({ rounds, seconds, backend, engine: engine ?? null, baseline, thisBuild: here, results: out }, null, 2))
  return 0
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: Error) => {
    process.stderr.write(`regress: ${err.message}\n`)
    process.exitCode = 1
  },
)
