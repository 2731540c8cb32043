// One crash round of the crash campaigns (DESIGN.md §7), shared by the WAL's and the
// partition log's: a fixture child appends with sync 'always', prints a JSON line
// `{ "ready": true, … }` when ready, one line per acknowledgement (`a …`) the moment it
// resolved, and `{ "error": … }` if it fails; the parent SIGKILLs it `killAfterMs` after
// its first acknowledgement (or after ready when `early`). A partial last line is an
// acknowledgement cut by the kill and is not counted.
import { spawn } from 'node:child_process'
import fs from 'node:fs'

import { fixture } from './backends'
import { cleanEnv, watchChild } from './child'

export interface CrashRound<Ready, Ack> {
  ready: Ready | null
  acked: Ack[]
  error: string | null
  stderr: string
  signal: NodeJS.Signals | null
  code: number | null
}

/** Runs fixture `name` with `args` (JSON) once; `parseAck` reads the text after "a ". */
export function crashRound<Ready, Ack>(name: string, args: object, killAfterMs: number, early: boolean, parseAck: (text: string) => Ack): Promise<CrashRound<Ready, Ack>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fixture(name), JSON.stringify(args)], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    const res: CrashRound<Ready, Ack> = { ready: null, acked: [], error: null, stderr: '', signal: null, code: null }
    let buf = ''
    let armed = false
    const arm = (): void => {
      if (armed) return
      armed = true
      setTimeout(() => child.kill('SIGKILL'), killAfterMs)
    }
    // A hang detector, not a deadline: a child starved by a busy machine is slow to get
    // ready, not hung (helpers/child.ts watchChild).
    const guard = watchChild(child, 30_000, (why) => {
      res.error = res.error ?? `child hung before it was killed on purpose: ${why}`
    })
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      guard.active()
      buf += d
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        if (line.startsWith('a ')) {
          res.acked.push(parseAck(line.slice(2)))
          arm()
        } else if (line.startsWith('{')) {
          const o = JSON.parse(line) as Record<string, unknown>
          if (o.ready) {
            res.ready = o as unknown as Ready
            if (early) arm()
          } else if (typeof o.error === 'string') res.error = o.error
        }
      }
    })
    child.stderr.setEncoding('utf8').on('data', (d: string) => (res.stderr += d))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      guard.stop()
      res.code = code
      res.signal = signal
      resolve(res)
    })
  })
}

/**
 * For the child: writes `line` to fd 1 synchronously, so it is in the pipe before
 * anything else happens and a SIGKILL cannot lose a reported acknowledgement.
 */
export function say(line: string): void {
  const b = Buffer.from(line + '\n')
  let done = 0
  while (done < b.length) {
    try {
      done += fs.writeSync(1, b, done)
    } catch (err) {
      // A non-blocking pipe that is full: wait for the parent to read.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err
    }
  }
}
