// The broker example (examples/kafka-broker) as the tests meet it: a child process
// started exactly as a user starts it (`node dist/examples/kafka-broker/main.js --dir …`),
// ready once it prints its `listening on HOST:PORT` line, stopped with SIGTERM (the
// graceful path) or SIGKILL (the crash path). Its output is kept for failure messages.

import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import type { BackendName } from './backends'

const MAIN = path.resolve(__dirname, '../../examples/kafka-broker/main.js')

export interface BrokerProcess {
  readonly port: number
  readonly pid: number
  /** Everything the broker printed so far (stdout and stderr interleaved). */
  output(): string
  /** SIGTERM, then waits for the exit; resolves the exit code (0 = drained cleanly). */
  stop(): Promise<number | null>
  /** SIGKILL (kill -9), then waits for the exit. */
  kill(): Promise<void>
  /** Open file descriptors of the broker process now (/proc/PID/fd). */
  fdCount(): number
}

export interface BrokerStart {
  dir: string
  backend: BackendName
  /** Extra CLI flags, e.g. ['--partitions', '2']. */
  args?: string[]
  /** How long to wait for `listening on` (default 30 s: a restart recovers every partition log first). */
  readyMs?: number
}

export function startBroker(opts: BrokerStart): Promise<BrokerProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    [MAIN, '--dir', opts.dir, '--port', '0', '--backend', opts.backend, ...(opts.args ?? [])],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let out = ''
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let ready = false
  return new Promise<BrokerProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`the broker did not print 'listening on' within ${opts.readyMs ?? 30_000} ms:\n${out}`))
    }, opts.readyMs ?? 30_000)
    const onData = (chunk: Buffer): void => {
      out += chunk.toString()
      const m = /listening on \S+:(\d+)/.exec(out)
      if (m && !ready) {
        ready = true
        clearTimeout(timer)
        const port = Number(m[1])
        resolve({
          port,
          pid: child.pid!,
          output: () => out,
          stop: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
            return exited
          },
          kill: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
            await exited
          },
          fdCount: () => fs.readdirSync(`/proc/${child.pid}/fd`).length,
        })
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    void exited.then((code) => {
      if (!ready) {
        clearTimeout(timer)
        reject(new Error(`the broker exited (code ${code}) before it was ready:\n${out}`))
      }
    })
  })
}
