// The broker example (examples/kafka-broker, DESIGN.md §8) as a child process, and kcat
// (Debian's librdkafka client) runs against it. The broker prints `listening on
// HOST:PORT` once clients can connect; its stderr is kept for assertions on the reasons
// it logs. Children are watched for hangs (helpers/child.ts watchChild), not timed.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import type { ExecutionContext } from 'ava'

import { projectRoot, type BackendName } from './backends'
import { cleanEnv, watchChild } from './child'

export const BROKER_MAIN = path.join(projectRoot, 'dist', 'examples', 'kafka-broker', 'main.js')

/** Why kcat cannot run here, or null when it can. */
export function kcatMissing(): string | null {
  try {
    execFileSync('kcat', ['-V'], { stdio: 'ignore' })
    return null
  } catch (err) {
    return `kcat is not installed (${(err as Error).message}); .ci/run installs it with apt-get install kcat`
  }
}

export interface BrokerChild {
  readonly host: string
  readonly port: number
  readonly bootstrap: string
  /** The /metrics port when started with --metrics-port, else null. */
  readonly metricsPort: number | null
  readonly child: ChildProcess
  /** Everything the broker logged so far. */
  stderr(): string
  /** Sends `signal` and resolves how it exited. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Starts `node main.js --dir DIR --port 0 --backend B ...extra` and waits for its `listening on` line. */
export function startBrokerChild(t: ExecutionContext, backend: BackendName, dir: string, extra: string[] = []): Promise<BrokerChild> {
  const child = spawn(process.execPath, [BROKER_MAIN, '--dir', dir, '--port', '0', '--backend', backend, ...extra], {
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return new Promise((resolve, reject) => {
    let killedBecause: string | null = null
    const watch = watchChild(child, 60_000, (why) => (killedBecause = why))
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
      watch.active()
      const m = /listening on (\S+):(\d+)(?: metrics \S+:(\d+))?\n/.exec(stdout)
      if (m === null) return
      watch.stop()
      const host = m[1]
      const port = Number(m[2])
      resolve({
        host,
        port,
        bootstrap: `${host}:${port}`,
        metricsPort: m[3] === undefined ? null : Number(m[3]),
        child,
        stderr: () => stderr,
        stop: (signal = 'SIGTERM') => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal)
          return exited
        },
      })
    })
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
      watch.active()
    })
    void exited.then(({ code, signal }) => {
      watch.stop()
      reject(new Error(`the broker exited before listening (exit ${code}, signal ${signal}${killedBecause ? `, killed as hung: ${killedBecause}` : ''})\nstdout: ${stdout}\nstderr: ${stderr}`))
    })
  })
}

/** GET /metrics of a broker started with --metrics-port. */
export async function scrapeMetrics(broker: BrokerChild): Promise<string> {
  if (broker.metricsPort === null) throw new Error('the broker was started without --metrics-port')
  const res = await fetch(`http://${broker.host}:${broker.metricsPort}/metrics`)
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`)
  return res.text()
}

export interface KcatResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: Buffer
  stderr: string
}

/** Runs kcat with `args` (stdin closed), killing it as hung after 60 s without activity. */
export function runKcat(args: string[]): Promise<KcatResult> {
  return startKcat(args).done
}

/** As runKcat, with the child (to kill a consumer that would wait forever). */
export function startKcat(args: string[]): { child: ChildProcess; done: Promise<KcatResult> } {
  const child = spawn('kcat', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const done = new Promise<KcatResult>((resolve, reject) => {
    const out: Buffer[] = []
    let stderr = ''
    let killedBecause: string | null = null
    const watch = watchChild(child, 60_000, (why) => (killedBecause = why), 5 * 60_000)
    child.stdout.on('data', (d: Buffer) => {
      out.push(d)
      watch.active()
    })
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
      watch.active()
    })
    child.on('error', (err) => {
      watch.stop()
      reject(err)
    })
    child.on('close', (code, signal) => {
      watch.stop()
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: killedBecause === null ? stderr : `${stderr}\n(killed as hung: ${killedBecause})` })
    })
  })
  return { child, done }
}

export interface KcatMessage {
  partition: number
  offset: number
  key: Buffer | null
  value: Buffer | null
  headers: string
}

/** The -f format `parseKcatOutput` reads: lengths first, so keys and values may hold any byte. */
export const KCAT_FORMAT = '%p\\t%o\\t%K\\t%S\\t%k%s\\t%h\\n'

/** Parses what `kcat -C -f KCAT_FORMAT` printed. Lengths are −1 for null. */
export function parseKcatOutput(out: Buffer): KcatMessage[] {
  const messages: KcatMessage[] = []
  let at = 0
  const field = (): string => {
    const tab = out.indexOf(0x09, at)
    if (tab === -1) throw new Error(`kcat output: no tab after position ${at}`)
    const s = out.toString('latin1', at, tab)
    at = tab + 1
    return s
  }
  while (at < out.length) {
    const partition = Number(field())
    const offset = Number(field())
    const keyLength = Number(field())
    const valueLength = Number(field())
    const key = keyLength < 0 ? null : Buffer.from(out.subarray(at, at + keyLength))
    at += Math.max(0, keyLength)
    const value = valueLength < 0 ? null : Buffer.from(out.subarray(at, at + valueLength))
    at += Math.max(0, valueLength)
    if (out[at] !== 0x09) throw new Error(`kcat output: expected a tab after the value of offset ${offset} at position ${at}`)
    const nl = out.indexOf(0x0a, at + 1)
    if (nl === -1) throw new Error(`kcat output: no newline after the headers of offset ${offset}`)
    const headers = out.toString('utf8', at + 1, nl)
    at = nl + 1
    messages.push({ partition, offset, key, value, headers })
  }
  return messages
}
