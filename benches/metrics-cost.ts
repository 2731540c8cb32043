// What recording metrics costs a workload (issue 5: "the cost of recording stays within a
// few percent — measure it"): W3 (random 4 KiB cached reads, 32 in flight, a promise each,
// the workload with the least time per operation, so where recording weighs most) on each
// backend, with `Metrics.prototype.record` as shipped and replaced by a no-op, in
// interleaved rounds in one process; medians.
//
//   npm run bench:metrics-cost -- [--rounds 5] [--seconds 2] [--backend io_uring,standard] [--dir DIR] [--out FILE.json]
//
// What the no-op leaves out: the histogram, counters and the second performance.now() of
// Metrics.record. What it keeps: the first performance.now() (taken in ts/io.ts before the
// operation starts) and the promise step that calls record — so the figure is the cost of
// recording, not of a library without metrics. benches/micro.ts has the per-call figure.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { openIo } from '../ts/index'
import { Metrics } from '../ts/metrics'
import { median } from './markdown'
import { machineFacts } from '../ts/cli/bench/report'
import { MiB, type Summary, ioReader, makeDataFile, randomReads, summarize, warm } from '../ts/cli/bench/workloads'

interface Args {
  rounds: number
  seconds: number
  backends: Array<'io_uring' | 'standard'>
  dir: string
  out: string | null
}

function parseArgs(argv: string[]): Args {
  const args: Args = { rounds: 5, seconds: 2, backends: ['io_uring'], dir: process.env.BENCH_DIR ?? os.tmpdir(), out: null }
  for (let i = 0; i < argv.length; i++) {
    const [flag, v] = [argv[i], argv[i + 1]]
    if (v === undefined) throw new Error(`flag ${flag} needs a value`)
    i++
    if (flag === '--rounds' && Number.isInteger(Number(v)) && Number(v) > 0) args.rounds = Number(v)
    else if (flag === '--seconds' && Number(v) > 0) args.seconds = Number(v)
    else if (flag === '--backend' && v.split(',').every((x) => x === 'io_uring' || x === 'standard')) args.backends = v.split(',') as Args['backends']
    else if (flag === '--dir') args.dir = v
    else if (flag === '--out') args.out = v
    else throw new Error(`bad argument ${flag} ${v} (--rounds N, --seconds S, --backend io_uring,standard, --dir DIR, --out FILE)`)
  }
  return args
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const root = fs.mkdtempSync(path.join(args.dir, 'streamline-metrics-cost-'))
  const file = path.join(root, 'data.bin')
  const fileBytes = 64 * MiB
  makeDataFile(file, fileBytes)
  const shipped = Metrics.prototype.record
  const noop: typeof shipped = () => {}
  const runs = new Map<string, Summary[]>()
  console.log(`metrics cost: W3 on ${args.backends.join(', ')}, ${args.rounds} rounds × ${args.seconds} s per variant, ${root}`)
  try {
    for (const backend of args.backends) {
      const io = await openIo({ enableIoUring: backend === 'io_uring' })
      try {
        if (io.backend !== backend) {
          console.log(`${backend}: unavailable here (${io.fallbackReason}); skipped`)
          continue
        }
        const r = await ioReader(io, file)
        try {
          // One uncounted pass of each variant first: the JIT's warm-up would count against
          // whichever variant ran first.
          for (const fn of [shipped, noop]) {
            Metrics.prototype.record = fn
            warm(file)
            summarize(await randomReads(r, fileBytes, Math.min(1, args.seconds)))
          }
          for (let round = 1; round <= args.rounds; round++) {
            // Alternate which variant goes first, so a drift over the round favours neither.
            const order = round % 2 === 1 ? (['recorded', 'no-op'] as const) : (['no-op', 'recorded'] as const)
            for (const variant of order) {
              Metrics.prototype.record = variant === 'recorded' ? shipped : noop
              warm(file)
              const s = summarize(await randomReads(r, fileBytes, args.seconds))
              const key = `${backend} ${variant}`
              runs.set(key, [...(runs.get(key) ?? []), s])
              console.log(`  round ${round}/${args.rounds} ${key}: ${Math.round(s.opsPerSec).toLocaleString('en-US')} reads/s`)
            }
          }
        } finally {
          Metrics.prototype.record = shipped
          await r.close()
        }
      } finally {
        await io.close()
      }
    }
  } finally {
    Metrics.prototype.record = shipped
    fs.rmSync(root, { recursive: true, force: true })
  }
  const results = args.backends.flatMap((backend) => {
    const on = runs.get(`${backend} recorded`)
    const off = runs.get(`${backend} no-op`)
    if (on === undefined || off === undefined) return []
    const recorded = median(on.map((s) => s.opsPerSec))
    const noRecording = median(off.map((s) => s.opsPerSec))
    return [{ backend, recordedOpsPerSec: recorded, noopOpsPerSec: noRecording, costPercent: 100 * (1 - recorded / noRecording), rounds: { recorded: on.map((s) => s.opsPerSec), noop: off.map((s) => s.opsPerSec) } }]
  })
  for (const r of results) {
    console.log(`${r.backend}: ${Math.round(r.recordedOpsPerSec).toLocaleString('en-US')} reads/s recorded vs ${Math.round(r.noopOpsPerSec).toLocaleString('en-US')} with record() a no-op (medians): recording costs ${r.costPercent.toFixed(1)}%`)
  }
  if (args.out !== null) {
    const report = { schema: 'streamline-io-metrics-cost/1', machine: machineFacts(), kernel: os.release(), date: new Date().toISOString(), command: ['node', path.relative(process.cwd(), process.argv[1]), ...process.argv.slice(2)].join(' '), workload: 'W3', seconds: args.seconds, results }
    fs.writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`)
    console.log(`results written to ${args.out}`)
  }
}

main().catch((err: unknown) => {
  console.error(`metrics-cost bench failed: ${(err as Error).message}`)
  process.exitCode = 1
})
