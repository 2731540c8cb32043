// Micro-benchmarks of the JavaScript boundary (benny, i.e. Benchmark.js: each case runs
// until its timing is statistically stable; ops/s ± relative margin of error):
//   readAt       one cached 4 KiB read at a time: io_uring and standard backends vs
//                node:fs FileHandle.read (per call, queue depth 1: the fixed cost of a call)
//   batch        32 cached 4 KiB reads: io.batch() vs 32 readAt under Promise.all vs node:fs
//   pool         an I/O buffer per operation: io.pool acquire + release (io_uring's pool,
//                whose buffers are registered with the ring, and the standard backend's)
//                vs Buffer.alloc / Buffer.allocUnsafe, at 4 KiB and 64 KiB
//   registered   one cached 4 KiB readAt on io_uring into a registered pool buffer
//                (READ_FIXED) vs into a plain Buffer (the registered-buffer hits are
//                counted, so the row says the fixed path really ran)
//   crc32c       4 KiB: the native (SSE4.2) path vs the table implementation
//   metrics      what the library pays per operation to record it (Metrics.record), its
//                parts (performance.now, the histogram), and the bench's own HDR recorder
//
//   npm run bench:micro -- [--out FILE.json] [--dir DIR] [--max-time S]
//
// About 30 s with the default --max-time 1 (seconds per case). Results go to stdout as
// benny prints them and, with --out, to a JSON file (machine, kernel, node, date, and per
// case ops/s, ns/op, margin, samples). For what recording metrics costs a whole workload,
// see benches/metrics-cost.ts.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import b from 'benny'
import type { Summary as BennySummary } from 'benny/lib/internal/common-types'
import { crc32c, openIo } from '../ts/index'
import { crc32cTable } from '../ts/crc32c'
import { Histogram, Metrics } from '../ts/metrics'
import { newHistogram, recordSince } from '../ts/cli/bench/latency'
import { machineFacts } from '../ts/cli/bench/report'
import { KiB, MiB, makeDataFile, warm } from '../ts/cli/bench/workloads'

interface MicroArgs {
  out: string | null
  dir: string
  maxTimeSeconds: number
}

function parseArgs(argv: string[]): MicroArgs {
  const args: MicroArgs = { out: null, dir: process.env.BENCH_DIR ?? os.tmpdir(), maxTimeSeconds: 1 }
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1]
    if (argv[i] === '--out' && v !== undefined) args.out = argv[++i]
    else if (argv[i] === '--dir' && v !== undefined) args.dir = argv[++i]
    else if (argv[i] === '--max-time' && v !== undefined && Number(v) > 0) args.maxTimeSeconds = Number(argv[++i])
    else throw new Error(`unknown or incomplete argument ${argv[i]} (--out FILE, --dir DIR, --max-time S)`)
  }
  return args
}

export interface MicroCase {
  name: string
  opsPerSec: number
  nsPerOp: number
  /** Relative margin of error at 95% confidence, in percent. */
  marginPercent: number
  samples: number
}

const caseOf = (r: BennySummary['results'][number]): MicroCase => ({
  name: r.name,
  opsPerSec: r.ops,
  nsPerOp: 1e9 / r.ops,
  marginPercent: r.margin,
  samples: r.samples,
})

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const root = fs.mkdtempSync(path.join(args.dir, 'streamline-micro-'))
  const file = path.join(root, 'data.bin')
  const fileBytes = 16 * MiB
  makeDataFile(file, fileBytes)
  warm(file)
  const blocks = fileBytes / (4 * KiB)
  let seed = 1
  // A fixed pseudo-random walk (xorshift): every target reads the same offsets.
  const nextOffset = () => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return ((seed >>> 0) % blocks) * 4 * KiB
  }
  const uring = await openIo({ enableIoUring: true })
  const standard = await openIo({ enableIoUring: false })
  const uf = await uring.open(file)
  const sf = await standard.open(file)
  const fh = await fs.promises.open(file, 'r')
  const buf = Buffer.alloc(4 * KiB)
  const bufs = Array.from({ length: 32 }, () => Buffer.alloc(4 * KiB))
  const config = b.configure({ cases: { maxTime: args.maxTimeSeconds, minSamples: 5 } })
  const summaries: BennySummary[] = []
  // benny calls these per suite: cycle prints each case as it finishes, complete collects.
  const cycle = b.cycle()
  const done = b.complete((s) => void summaries.push(s))
  let registeredReads = { reads: 0, registeredBufferHits: 0 }
  try {
    await b.suite(
      `readAt 4 KiB, page cache warm, one at a time (${uring.backend} vs standard vs node:fs)`,
      config,
      b.add(`${uring.backend} readAt`, async () => {
        await uf.readAt(buf, nextOffset())
      }),
      b.add('standard readAt', async () => {
        await sf.readAt(buf, nextOffset())
      }),
      b.add('node:fs FileHandle.read', async () => {
        await fh.read(buf, 0, buf.length, nextOffset())
      }),
      cycle,
      done,
    )
    await b.suite(
      '32 reads of 4 KiB, page cache warm (per 32)',
      config,
      b.add(`${uring.backend} io.batch() of 32`, async () => {
        const batch = uring.batch()
        for (const x of bufs) batch.readAt(uf, x, nextOffset())
        await batch.submit()
      }),
      b.add(`${uring.backend} Promise.all of 32 readAt`, async () => {
        await Promise.all(bufs.map((x) => uf.readAt(x, nextOffset())))
      }),
      b.add('node:fs Promise.all of 32 FileHandle.read', async () => {
        await Promise.all(bufs.map((x) => fh.read(x, 0, x.length, nextOffset())))
      }),
      cycle,
      done,
    )
    let held = 0
    for (const size of [4 * KiB, 64 * KiB]) {
      const label = `${size / KiB} KiB`
      await b.suite(
        `an I/O buffer of ${label} per operation (get one, give it back)`,
        config,
        b.add(`${uring.backend} io.pool acquire + release`, () => {
          const x = uring.pool.acquire(size)
          held ^= x.length
          uring.pool.release(x)
        }),
        b.add('standard io.pool acquire + release', () => {
          const x = standard.pool.acquire(size)
          held ^= x.length
          standard.pool.release(x)
        }),
        b.add(`Buffer.alloc(${size}) (zeroed; left to the GC)`, () => {
          held ^= Buffer.alloc(size).length
        }),
        b.add(`Buffer.allocUnsafe(${size}) (left to the GC)`, () => {
          held ^= Buffer.allocUnsafe(size).length
        }),
        cycle,
        done,
      )
    }
    const fixed = uring.pool.acquire(4 * KiB)
    const hitsBefore = uring.metrics().registeredBufferHits
    let fixedCalls = 0
    await b.suite(
      `readAt 4 KiB on ${uring.backend}, page cache warm, one at a time: registered pool buffer vs plain Buffer`,
      config,
      b.add(`${uring.backend} readAt into an io.pool buffer (registered: READ_FIXED)`, async () => {
        fixedCalls++
        await uf.readAt(fixed, nextOffset())
      }),
      b.add(`${uring.backend} readAt into a plain Buffer`, async () => {
        await uf.readAt(buf, nextOffset())
      }),
      cycle,
      done,
    )
    const fixedHits = uring.metrics().registeredBufferHits - hitsBefore
    registeredReads = { reads: fixedCalls, registeredBufferHits: fixedHits }
    console.log(`  registered-buffer hits: ${fixedHits} of ${fixedCalls} reads into the pool buffer${uring.backend === 'io_uring' && fixedHits < fixedCalls ? ' (fewer: some went unregistered — see io.pool.stats())' : ''}`)
    uring.pool.release(fixed)
    if (held === 0.5) console.log(held) // keeps the buffers' lengths used
    const data = Buffer.alloc(4 * KiB, 0x5a)
    let sink = 0
    await b.suite(
      'crc32c of 4 KiB',
      config,
      b.add('crc32c (native where available)', () => {
        sink ^= crc32c(data)
      }),
      b.add('crc32cTable (JavaScript, slicing-by-8)', () => {
        sink ^= crc32cTable(data)
      }),
      cycle,
      done,
    )
    const metrics = new Metrics({ backend: 'io_uring', inFlight: 0, queued: 0, fallbacks: 0, registeredBufferHits: 0 })
    const hist = new Histogram()
    const hdr = newHistogram()
    let t = 0
    await b.suite(
      'recording one operation',
      config,
      b.add('Metrics.record (what every library operation pays)', () => {
        metrics.record('read', performance.now() - 0.05, 4096, false)
      }),
      b.add('performance.now() (one of the two each timed operation reads)', () => {
        t += performance.now()
      }),
      b.add('metrics Histogram.record (log-linear buckets)', () => {
        hist.record(50 + (t++ & 1023))
      }),
      b.add('hdr-histogram-js recordValue (the bench recorder, WebAssembly)', () => {
        hdr.recordValue(50_000 + (t++ & 1023) * 1000)
      }),
      b.add('bench recordSince (performance.now + recordValue)', () => {
        recordSince(hdr, performance.now() - 0.05)
      }),
      cycle,
      done,
    )
    hdr.destroy()
    if (sink === 0.5) console.log(sink) // keeps the CRC results alive
  } finally {
    await uf.close()
    await sf.close()
    await fh.close()
    await uring.close()
    await standard.close()
    fs.rmSync(root, { recursive: true, force: true })
  }
  const report = {
    schema: 'streamline-io-micro/1',
    machine: machineFacts(),
    kernel: os.release(),
    date: new Date().toISOString(),
    command: ['node', path.relative(process.cwd(), process.argv[1]), ...process.argv.slice(2)].join(' '),
    backend: uring.backend,
    fallbackReason: uring.fallbackReason,
    maxTimeSeconds: args.maxTimeSeconds,
    registeredReads,
    suites: summaries.map((s) => ({ name: s.name, cases: s.results.map(caseOf) })),
  }
  console.log('\nns per call (fastest first within each suite):')
  for (const s of report.suites) {
    console.log(`  ${s.name}`)
    for (const c of [...s.cases].sort((x, y) => x.nsPerOp - y.nsPerOp)) console.log(`    ${Math.round(c.nsPerOp).toLocaleString('en-US').padStart(10)} ns  ±${c.marginPercent.toFixed(1)}%  ${c.name}`)
  }
  if (args.out !== null) {
    fs.writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`)
    console.log(`results written to ${args.out}`)
  }
}

main().catch((err: unknown) => {
  console.error(`micro bench failed: ${(err as Error).message}`)
  process.exitCode = 1
})
