// Runs node child processes for the tests that need a process of their own: privilege
// drops, test hooks read at startup, --expose-gc, exit behaviour.

import { spawn } from 'node:child_process'

export interface ChildResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** True when the child was killed because it outlived timeoutMs. */
  timedOut: boolean
}

/** process.env without any STREAMLINE_IO_* variable, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('STREAMLINE_IO_') && k !== 'NODE_OPTIONS') env[k] = v
  }
  return { ...env, ...extra }
}

/**
 * Runs `node ...args`, killing it (SIGKILL) after timeoutMs — a hang detector, the
 * assertion is on what the child reports.
 */
export function runNode(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<ChildResult> {
  return runCommand(process.execPath, args, opts)
}

/** As runNode, for any executable (e.g. unshare wrapping node). */
export function runCommand(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: opts.env ?? cleanEnv(),
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, opts.timeoutMs ?? 30_000)
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, timedOut })
    })
  })
}

/** The last line of stdout parsed as JSON, or an Error naming what the child printed. */
export function lastJson<T>(r: ChildResult): T {
  const lines = r.stdout.trim().split('\n').filter((l) => l.trim().startsWith('{'))
  const last = lines[lines.length - 1]
  if (last === undefined) {
    throw new Error(
      `child printed no JSON (exit ${r.code}, signal ${r.signal}, timedOut ${r.timedOut})\n` +
        `stdout: ${r.stdout.slice(-2000)}\nstderr: ${r.stderr.slice(-4000)}`,
    )
  }
  return JSON.parse(last) as T
}

/** A one-line summary of a child run for assertion messages. */
export function summary(r: ChildResult): string {
  return `exit ${r.code}, signal ${r.signal}, timedOut ${r.timedOut}\nstdout: ${r.stdout.slice(-1500)}\nstderr: ${r.stderr.slice(-3000)}`
}
