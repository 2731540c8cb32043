// W8 (issue 14, DESIGN.md §6): produce then consume 1M messages of 1 KiB through the
// example Kafka broker with librdkafka's producer and consumer — acks=all, batches as
// librdkafka forms them — on the io_uring and the standard backend, runs interleaved,
// medians of 3.
//
//   npm run bench:broker -- [--messages N] [--size BYTES] [--runs N]
//                           [--backend io_uring,standard] [--client confluent-kafka,kcat]
//                           [--rate N] [--dir DIR] [--profile] [--json] [--render FILE]
//
// Each run starts a fresh broker (`dist/examples/kafka-broker/main.js`, its own process,
// --port 0) on an empty directory, runs the client (benches/w8/rdkafka_client.py, a
// child process: confluent-kafka's bundled librdkafka, installed once into .cache by
// scripts/rdkafka-python.sh, or kcat driven by it), reads the broker's /metrics, stops the broker with SIGTERM
// (it must exit 0: a clean shutdown is part of the run) and removes the directory.
// The consume phase reads what was just produced (a tailing consumer: page cache warm),
// and checks — after its clock stops — that every sequence number came back exactly once.
// The broker, the client and the kernel share the machine's cores; the client's and the
// broker's CPU seconds are both reported so it is visible who used them.
//
// --profile: the first run of each client × backend runs the broker under `node --cpu-prof`, and
// the report says where its JavaScript thread spent the time (./cpu-profile.ts).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { median } from '../markdown'
import { machineFacts } from '../../ts/cli/bench/report'
import { summarizeProfile, type ProfileSummary } from './cpu-profile'

const ROOT = path.join(__dirname, '..', '..', '..')
const BROKER_MAIN = path.join(ROOT, 'dist', 'examples', 'kafka-broker', 'main.js')
const CLIENT = path.join(ROOT, 'benches', 'w8', 'rdkafka_client.py')
const PYTHON_DEPS = path.join(ROOT, '.cache', 'rdkafka-python')
const INSTALLER = path.join(ROOT, 'scripts', 'rdkafka-python.sh')
const BACKENDS = ['io_uring', 'standard'] as const
type Backend = (typeof BACKENDS)[number]
/** confluent-kafka: librdkafka driven from Python, per-message latency; kcat: librdkafka's own C tool, no Python per message, no latency. */
const CLIENTS = ['confluent-kafka', 'kcat'] as const
type Client = (typeof CLIENTS)[number]

interface Options {
  messages: number
  size: number
  runs: number
  backends: Backend[]
  clients: Client[]
  /** Messages per second the confluent-kafka producer is paced to; 0 = as fast as it takes them. */
  rate: number
  dir: string
  profile: boolean
  json: boolean
  /** --render FILE: print the table of an earlier --json report instead of running. */
  render: string | null
}

const USAGE = `usage: npm run bench:broker -- [options]
  --messages N        messages to produce and consume per run (default 1000000)
  --size BYTES        value size (default 1024)
  --runs N            runs per backend, interleaved (default 3)
  --backend LIST      io_uring,standard (default both)
  --client LIST       confluent-kafka,kcat (default both): librdkafka from Python (per-message latency)
                      and kcat (librdkafka's C tool: the broker sets the pace; no latency figures)
  --rate N            pace the confluent-kafka producer to N messages/s (default 0: as fast as it goes,
                      so latency includes a full client queue's wait)
  --dir DIR           where each run's broker directory is made (default: BENCH_DIR or the OS temp dir)
  --profile           run the first broker of each client × backend under node --cpu-prof and report where its JS time goes
  --json              print the whole report as JSON on stdout (progress stays on stderr)
  --render FILE       print the table of a report written by --json, without running anything
`

class UsageError extends Error {}

function parseArgs(argv: string[]): Options {
  const o: Options = { messages: 1_000_000, size: 1024, runs: 3, backends: [...BACKENDS], clients: [...CLIENTS], rate: 0, dir: process.env.BENCH_DIR ?? os.tmpdir(), profile: false, json: false, render: null }
  const count = (flag: string, raw: string | undefined, min: number, max: number): number => {
    const n = Number(raw)
    if (raw === undefined || !/^\d+$/.test(raw) || n < min || n > max) throw new UsageError(`${flag} takes a whole number in ${min}..${max}, got ${JSON.stringify(raw)}`)
    return n
  }
  const listOf = <T extends string>(flag: string, raw: string | undefined, allowed: readonly T[]): T[] => {
    const list = (raw ?? '').split(',').filter((x) => x !== '')
    const bad = list.find((x) => !(allowed as readonly string[]).includes(x))
    if (list.length === 0 || bad !== undefined) throw new UsageError(`${flag} takes a list of ${allowed.join(', ')}; got ${JSON.stringify(raw)}`)
    return list as T[]
  }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    switch (flag) {
      case '--messages':
        o.messages = count(flag, argv[++i], 1, 100_000_000)
        break
      case '--size':
        o.size = count(flag, argv[++i], 1, 1_000_000)
        break
      case '--runs':
        o.runs = count(flag, argv[++i], 1, 20)
        break
      case '--backend':
        o.backends = listOf(flag, argv[++i], BACKENDS)
        break
      case '--client':
        o.clients = listOf(flag, argv[++i], CLIENTS)
        break
      case '--rate':
        o.rate = count(flag, argv[++i], 0, 10_000_000)
        break
      case '--dir':
        if (argv[i + 1] === undefined) throw new UsageError('--dir takes a directory')
        o.dir = argv[++i]
        break
      case '--profile':
        o.profile = true
        break
      case '--json':
        o.json = true
        break
      case '--render':
        if (argv[i + 1] === undefined) throw new UsageError('--render takes a report written by --json')
        o.render = argv[++i]
        break
      case '--help':
        process.stdout.write(USAGE)
        process.exit(0)
        break
      default:
        throw new UsageError(`unknown option ${JSON.stringify(flag)}`)
    }
  }
  return o
}

const say = (line: string) => process.stderr.write(`w8: ${line}\n`)

interface PhaseResult {
  messages: number
  seconds: number
  messagesPerSec: number
  mbPerSec: number
  clientCpuSeconds: number
  brokerCpuSeconds: number | null
  latencyMs?: { p50: number; p99: number; p999: number; max: number }
  missing?: number
  duplicates?: number
  foreign?: number
  wrongSize?: number
}

interface RunResult {
  backend: Backend
  via: Client
  run: number
  /** What the client said it is (versions). */
  client: string
  produce: PhaseResult
  consume: PhaseResult
  /** From the broker's /metrics after the run: requests and broker-side seconds per API, Io operations per kind. */
  broker: { requests: Record<string, number>; requestSeconds: Record<string, number>; ioOps: Record<string, number>; bytesOnDisk: number }
  profile?: ProfileSummary
}

function ensureClient(): void {
  const r = spawnSync(INSTALLER, { stdio: ['ignore', 'inherit', 'inherit'] })
  if (r.status !== 0) throw new Error(`${INSTALLER} failed (exit ${r.status ?? r.signal}); W8 needs confluent-kafka (librdkafka) for Python`)
}

/** The last `max` lines a child printed on `input` (for error messages), each also handed to `each`. */
function lastLines(input: NodeJS.ReadableStream, max: number, each?: (line: string) => void): string[] {
  const lines: string[] = []
  readline.createInterface({ input }).on('line', (l) => {
    lines.push(l)
    if (lines.length > max) lines.shift()
    each?.(l)
  })
  return lines
}

/** Starts the broker and resolves once it prints its `listening on` line. */
async function startBroker(dir: string, backend: Backend, profileDir: string | null): Promise<{ child: ChildProcess; port: number; metricsPort: number; stderr: string[] }> {
  const nodeArgs = profileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]
  const child = spawn(process.execPath, [...nodeArgs, BROKER_MAIN, '--dir', dir, '--port', '0', '--metrics-port', '0', '--backend', backend, '--retention-check-ms', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const stderr = lastLines(child.stderr!, 50)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`the broker did not start in 30 s:\n${stderr.join('\n')}`))
    }, 30_000)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`the broker exited (${code ?? signal}) before listening:\n${stderr.join('\n')}`))
    })
    readline.createInterface({ input: child.stdout! }).once('line', (line) => {
      const m = /^listening on .*:(\d+) metrics .*:(\d+)$/.exec(line)
      clearTimeout(timer)
      child.removeAllListeners('exit')
      if (m === null) {
        child.kill('SIGKILL')
        reject(new Error(`unexpected first line from the broker: ${line}`))
      } else resolve({ child, port: Number(m[1]), metricsPort: Number(m[2]), stderr })
    })
  })
}

function getText(port: number, urlPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, timeout: 10_000 }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (body += c))
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${urlPath}: HTTP ${res.statusCode}`))))
      })
      .on('error', reject)
  })
}

/** The values of one Prometheus family, keyed by one label's value (summed over the other labels). */
function family(text: string, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {}
  const re = new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm')
  for (const m of text.matchAll(re)) {
    const l = new RegExp(`${label}="([^"]*)"`).exec(m[1])
    if (l === null) continue
    out[l[1]] = (out[l[1]] ?? 0) + Number(m[2])
  }
  return out
}

function duBytes(dir: string): number {
  let total = 0
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += fs.statSync(path.join(e.parentPath, e.name)).size
  }
  return total
}

type ClientOutput = Omit<RunResult, 'backend' | 'via' | 'run' | 'broker' | 'profile'>

function runClient(args: string[]): Promise<ClientOutput> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, PYTHONPATH: [PYTHON_DEPS, process.env.PYTHONPATH].filter(Boolean).join(':') }
    const child = spawn('python3', [CLIENT, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c))
    const errLines = lastLines(child.stderr, 30, (l) => process.stderr.write(`  ${l}\n`))
    child.once('error', reject)
    child.once('exit', (code, signal) => {
      if (code !== 0) return reject(new Error(`the client failed (${code ?? signal}):\n${errLines.join('\n')}`))
      try {
        resolve(JSON.parse(out) as ClientOutput)
      } catch {
        reject(new Error(`the client printed no JSON: ${out.slice(0, 500)}`))
      }
    })
  })
}

async function oneRun(o: Options, via: Client, backend: Backend, run: number): Promise<RunResult> {
  const dir = fs.mkdtempSync(path.join(o.dir, `w8-${backend}-`))
  const profileDir = o.profile && run === 1 ? fs.mkdtempSync(path.join(os.tmpdir(), 'w8-prof-')) : null
  try {
    const broker = await startBroker(dir, backend, profileDir)
    const exited = new Promise<number | string>((resolve) => broker.child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')))
    let client
    try {
      client = await runClient([
        ...['--via', via, '--bootstrap', `127.0.0.1:${broker.port}`, '--topic', 'w8', '--messages', String(o.messages), '--size', String(o.size)],
        ...['--broker-pid', String(broker.child.pid), '--rate', String(o.rate), '--scratch', o.dir],
      ])
    } catch (err) {
      broker.child.kill('SIGKILL')
      throw err
    }
    const metrics = await getText(broker.metricsPort, '/metrics')
    broker.child.kill('SIGTERM')
    const code = await exited
    if (code !== 0) throw new Error(`the broker did not stop cleanly (exit ${code}):\n${broker.stderr.join('\n')}`)
    const result: RunResult = {
      backend,
      via,
      run,
      ...client,
      broker: {
        requests: family(metrics, 'streamline_broker_requests_total', 'api'),
        requestSeconds: family(metrics, 'streamline_broker_request_duration_seconds_sum', 'api'),
        ioOps: family(metrics, 'streamline_io_ops_total', 'op'),
        bytesOnDisk: duBytes(dir),
      },
    }
    if (profileDir !== null) {
      const file = fs.readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'))
      if (file !== undefined) result.profile = summarizeProfile(path.join(profileDir, file))
    }
    const c = result.consume
    if (c.missing !== 0 || c.duplicates !== 0 || c.foreign !== 0 || c.wrongSize !== 0) {
      throw new Error(`${via}, ${backend} run ${run}: consumed back wrong: missing ${c.missing}, duplicates ${c.duplicates}, foreign ${c.foreign}, wrong size ${c.wrongSize}`)
    }
    return result
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
    if (profileDir !== null) fs.rmSync(profileDir, { recursive: true, force: true })
  }
}

const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–')

function table(o: Options, results: RunResult[]): string {
  const gb = (o.messages * o.size) / 1e9
  const pacing = o.rate > 0 ? `, confluent-kafka's producer paced to ${fmt(o.rate)} msgs/s` : ''
  const lines = [
    `W8: ${fmt(o.messages)} × ${fmt(o.size)} B through the broker, acks=all${pacing}; medians of ${o.runs} (CPU in s per GB of values)`,
    '',
    '| client | backend | produce msgs/s (runs) | median | vs standard | p50 / p99 ms | broker CPU | client CPU | consume msgs/s (runs) | median | vs standard | broker CPU | client CPU | Produce requests | broker ms per Produce |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (const via of o.clients) {
    const of = (backend: Backend) => results.filter((r) => r.via === via && r.backend === backend)
    const medianOf = (rs: RunResult[], f: (r: RunResult) => number) => median(rs.map(f))
    const standardProduce = medianOf(of('standard'), (r) => r.produce.messagesPerSec)
    const standardConsume = medianOf(of('standard'), (r) => r.consume.messagesPerSec)
    for (const backend of o.backends) {
      const rs = of(backend)
      if (rs.length === 0) continue
      const m = (f: (r: RunResult) => number) => medianOf(rs, f)
      const produceRate = m((r) => r.produce.messagesPerSec)
      const consumeRate = m((r) => r.consume.messagesPerSec)
      const latency = rs[0].produce.latencyMs === undefined ? 'n/a' : `${fmt(m((r) => r.produce.latencyMs!.p50), 1)} / ${fmt(m((r) => r.produce.latencyMs!.p99), 1)}`
      const cells = [
        rs[0].client,
        backend,
        rs.map((r) => fmt(r.produce.messagesPerSec)).join(' / '),
        `**${fmt(produceRate)}**`,
        `${fmt(produceRate / standardProduce, 2)}×`,
        latency,
        fmt(m((r) => (r.produce.brokerCpuSeconds ?? NaN) / gb), 2),
        fmt(m((r) => r.produce.clientCpuSeconds / gb), 2),
        rs.map((r) => fmt(r.consume.messagesPerSec)).join(' / '),
        `**${fmt(consumeRate)}**`,
        `${fmt(consumeRate / standardConsume, 2)}×`,
        fmt(m((r) => (r.consume.brokerCpuSeconds ?? NaN) / gb), 2),
        fmt(m((r) => r.consume.clientCpuSeconds / gb), 2),
        fmt(m((r) => r.broker.requests.Produce ?? NaN)),
        fmt(m((r) => ((r.broker.requestSeconds.Produce ?? NaN) / (r.broker.requests.Produce ?? NaN)) * 1e3), 1),
      ]
      lines.push(`| ${cells.join(' | ')} |`)
    }
  }
  for (const r of results) {
    if (r.profile === undefined) continue
    lines.push('', `Broker JS thread, ${r.via}, ${r.backend} run ${r.run} (node --cpu-prof; share of non-idle samples; idle ${fmt(((r.profile.parts.find((p) => p.part === 'idle')?.us ?? 0) / r.profile.totalUs) * 100)}% of ${fmt(r.profile.totalUs / 1e6, 1)} s):`)
    for (const p of r.profile.parts) if (p.part !== 'idle') lines.push(`- ${p.part}: ${fmt(p.share * 100, 1)}%`)
    lines.push('  top functions by self time:')
    for (const f of r.profile.top) lines.push(`  - ${fmt(f.share * 100, 1)}% ${f.fn}`)
  }
  return lines.join('\n')
}

async function main(): Promise<void> {
  let o: Options
  try {
    o = parseArgs(process.argv.slice(2))
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`bench:broker: ${err.message}\n${USAGE}`)
    process.exitCode = 2
    return
  }
  if (o.render !== null) {
    const report = JSON.parse(fs.readFileSync(o.render, 'utf8')) as { options: Options; results: RunResult[] }
    process.stdout.write(`${table(report.options, report.results)}\n`)
    return
  }
  if (!fs.existsSync(BROKER_MAIN)) throw new Error(`${BROKER_MAIN} is missing: run npm run build:ts first`)
  fs.mkdirSync(o.dir, { recursive: true })
  ensureClient()
  const started = new Date()
  const results: RunResult[] = []
  for (let run = 1; run <= o.runs; run++) {
    for (const backend of o.backends) {
      for (const via of o.clients) {
        say(`run ${run}/${o.runs}, ${via}, ${backend}: ${o.messages} × ${o.size} B`)
        const r = await oneRun(o, via, backend, run)
        const p99 = r.produce.latencyMs === undefined ? '' : ` (p99 ${fmt(r.produce.latencyMs.p99, 1)} ms)`
        say(`run ${run}/${o.runs}, ${via}, ${backend}: produce ${fmt(r.produce.messagesPerSec)} msgs/s${p99}, consume ${fmt(r.consume.messagesPerSec)} msgs/s`)
        results.push(r)
      }
    }
  }
  const report = { workload: 'W8', started: started.toISOString(), machine: machineFacts(), kernel: os.release(), options: o, results }
  if (o.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  else process.stdout.write(`${table(o, results)}\n`)
}

main().catch((err: Error) => {
  process.stderr.write(`bench:broker: ${err.message}\n`)
  process.exit(1)
})
