// Runs node child processes for the tests that need a process of their own: privilege
// drops, test hooks read at startup, --expose-gc, exit behaviour.

import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'

export interface ChildResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** True when the child was killed as hung (see runCommand: no activity for timeoutMs, or maxMs in all). */
  timedOut: boolean
  /** Why it was killed, with how long it ran and when it was last active; null if it was not. */
  killedBecause: string | null
}

/** A child that shows activity is never killed as hung before this (a livelock backstop). */
export const CHILD_MAX_MS = 15 * 60_000

/**
 * What process `pid` and its live descendants have done so far, as a string that changes
 * whenever any of them used CPU time (their threads included — io_uring's and libuv's
 * workers are threads of the process) or did I/O (/proc/PID/io), or gained or lost a
 * child. null when `pid` is gone.
 */
export function activityOf(pid: number): string | null {
  const parts: string[] = []
  const seen = new Set<number>()
  const visit = (p: number, depth: number): void => {
    if (seen.has(p) || depth > 8) return
    seen.add(p)
    let stat: string
    try {
      stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8')
    } catch {
      return
    }
    // utime stime cutime cstime: fields 14-17, the 12th-15th after "(comm) ".
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    let io = ''
    try {
      io = fs.readFileSync(`/proc/${p}/io`, 'utf8').replace(/\s+/g, ' ')
    } catch {
      // Not readable (another user's process): CPU time alone.
    }
    parts.push(`${p}:${f.slice(11, 15).join(',')}:${io}`)
    let tasks: string[] = []
    try {
      tasks = fs.readdirSync(`/proc/${p}/task`)
    } catch {
      return
    }
    for (const tid of tasks) {
      let kids = ''
      try {
        kids = fs.readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8')
      } catch {
        continue
      }
      for (const k of kids.split(' ')) if (k.trim() !== '') visit(Number(k), depth + 1)
    }
  }
  visit(pid, 0)
  return parts.length === 0 ? null : parts.join(';')
}

/**
 * Kills `child` (SIGKILL) as hung when, for `idleMs`, neither it nor its descendants
 * used CPU, did I/O or printed anything (the caller counts output: see `active`), or
 * after `maxMs` in all. A child that is only starved — the machine busy with other
 * work — keeps showing activity, however slowly, and is left to finish. Returns a
 * function that stops the watch, and `active()` to call on output.
 */
export function watchChild(
  child: ChildProcess,
  idleMs: number,
  onKill: (why: string) => void,
  maxMs = CHILD_MAX_MS,
): { stop: () => void; active: () => void } {
  const start = Date.now()
  let lastAt = start
  let last: string | null = null
  const pollMs = Math.min(1_000, Math.max(10, Math.floor(idleMs / 20)))
  const ago = (ms: number): string => `${(ms / 1000).toFixed(1)} s`
  const kill = (why: string): void => {
    stop()
    onKill(`${why} (ran ${ago(Date.now() - start)}; last active ${ago(lastAt - start)} after its start)`)
    child.kill('SIGKILL')
  }
  const timer = setInterval(() => {
    const now = Date.now()
    const a = child.pid === undefined ? null : activityOf(child.pid)
    if (a !== null && a !== last) {
      last = a
      lastAt = now
    }
    if (now - start >= maxMs) kill(`still running after ${ago(maxMs)}, the livelock backstop`)
    else if (now - lastAt >= idleMs) kill(`no CPU time, I/O or output for ${ago(now - lastAt)}`)
  }, pollMs)
  const stop = (): void => clearInterval(timer)
  return { stop, active: () => (lastAt = Date.now()) }
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
 * Runs `node ...args`, killing it (SIGKILL) as hung when it showed no activity — CPU
 * time, I/O, output, its own or its descendants' — for timeoutMs (default 30 s), or ran
 * maxMs (CHILD_MAX_MS) in all: a hang detector, not a deadline (issue 15: on a machine
 * busy with other suites a child that needs 1 s can take a minute, and is not hung).
 * The assertion is on what the child reports.
 */
export function runNode(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; maxMs?: number; cwd?: string } = {},
): Promise<ChildResult> {
  return runCommand(process.execPath, args, opts)
}

/** As runNode, for any executable (e.g. unshare wrapping node). */
export function runCommand(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; maxMs?: number; cwd?: string } = {},
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: opts.env ?? cleanEnv(),
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    let killedBecause: string | null = null
    const watch = watchChild(child, opts.timeoutMs ?? 30_000, (why) => (killedBecause = why), opts.maxMs)
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
      watch.active()
    })
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
      watch.active()
    })
    child.on('error', (e) => {
      watch.stop()
      reject(e)
    })
    child.on('close', (code, signal) => {
      watch.stop()
      resolve({ code, signal, stdout, stderr, timedOut: killedBecause !== null, killedBecause })
    })
  })
}

/** The last line of stdout parsed as JSON, or an Error naming what the child printed. */
export function lastJson<T>(r: ChildResult): T {
  const lines = r.stdout.trim().split('\n').filter((l) => l.trim().startsWith('{'))
  const last = lines[lines.length - 1]
  if (last === undefined) {
    throw new Error(
      `child printed no JSON (exit ${r.code}, signal ${r.signal}, timedOut ${r.timedOut}${r.killedBecause ? `: killed as hung, ${r.killedBecause}` : ''})\n` +
        `stdout: ${r.stdout.slice(-2000)}\nstderr: ${r.stderr.slice(-4000)}`,
    )
  }
  return JSON.parse(last) as T
}

/** A one-line summary of a child run for assertion messages. */
export function summary(r: ChildResult): string {
  return `exit ${r.code}, signal ${r.signal}, timedOut ${r.timedOut}${r.killedBecause ? ` (killed as hung: ${r.killedBecause})` : ''}\nstdout: ${r.stdout.slice(-1500)}\nstderr: ${r.stderr.slice(-3000)}`
}
