// M1 and M2 of DESIGN.md §6: what an idle Io costs in memory and what openIo() costs in
// time. Each figure comes from fresh child processes (median of 5), because RSS and
// first-call times depend on what the process has loaded before.
//
//   npm run bench:startup [-- --json]
//
// M1: RSS before `require('@streamline/io')` (bare Node) and after `openIo()`; M2: the
// first openIo() of a process (addon load, probe, ring setup) and the median of 20 more
// openIo()/close() pairs. Per engine mode and for the standard backend.
import { spawnSync } from 'node:child_process'
import path from 'node:path'

const MiB = 1024 * 1024
const ROUNDS = 5

interface Sample {
  bareRss: number
  openRss: number
  firstOpenMs: number
  medianOpenMs: number
  backend: string
}

/** The child: measures one process and prints a Sample as JSON. */
async function child(): Promise<void> {
  const bareRss = process.memoryUsage().rss
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { openIo } = require(path.join(__dirname, '..', 'ts', 'index')) as typeof import('../ts/index')
  let t = performance.now()
  const io = await openIo()
  const firstOpenMs = performance.now() - t
  const openRss = process.memoryUsage().rss
  const backend = io.backend
  await io.close()
  const times: number[] = []
  for (let i = 0; i < 20; i++) {
    t = performance.now()
    const again = await openIo()
    times.push(performance.now() - t)
    await again.close()
  }
  times.sort((a, b) => a - b)
  const sample: Sample = { bareRss, openRss, firstOpenMs, medianOpenMs: times[10], backend }
  process.stdout.write(JSON.stringify(sample))
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

function main(): void {
  const variants: Array<{ name: string; env: NodeJS.ProcessEnv }> = [
    { name: 'io_uring (inline engine)', env: { STREAMLINE_IO_ENGINE: 'inline' } },
    { name: 'io_uring (thread engine)', env: { STREAMLINE_IO_ENGINE: 'thread' } },
    { name: 'standard', env: { STREAMLINE_IO_URING: 'false' } },
  ]
  const rows = variants.map((v) => {
    const samples: Sample[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const r = spawnSync(process.execPath, [__filename, '--child'], { env: { ...process.env, ...v.env }, encoding: 'utf8' })
      if (r.status !== 0) throw new Error(`${v.name}: child failed: ${r.stderr}`)
      samples.push(JSON.parse(r.stdout) as Sample)
    }
    return {
      variant: v.name,
      backend: samples[0].backend,
      idleIoRssMiB: median(samples.map((s) => (s.openRss - s.bareRss) / MiB)),
      firstOpenIoMs: median(samples.map((s) => s.firstOpenMs)),
      medianOpenIoMs: median(samples.map((s) => s.medianOpenMs)),
    }
  })
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ node: process.version, rounds: ROUNDS, rows }, null, 2)}\n`)
    return
  }
  console.log(`M1/M2, median of ${ROUNDS} fresh processes each (node ${process.version})`)
  console.log('| variant | backend | idle Io RSS over bare Node | first openIo() | openIo() median of 20 |')
  console.log('|---|---|---|---|---|')
  for (const r of rows) {
    console.log(`| ${r.variant} | ${r.backend} | ${r.idleIoRssMiB.toFixed(2)} MiB | ${r.firstOpenIoMs.toFixed(2)} ms | ${r.medianOpenIoMs.toFixed(2)} ms |`)
  }
}

if (process.argv.includes('--child')) void child()
else main()
