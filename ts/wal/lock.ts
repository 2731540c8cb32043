// One writer per WAL (or partition log) directory (DESIGN.md §4): flock(LOCK_EX|LOCK_NB) on `LOCK` through
// the addon when it has `flock`; without it, a lock file holding the owner's pid with a
// stale-pid check. Both modes write the pid into `LOCK`, so each respects the other.
// flock locks belong to an open file description, so a second openWal in the same
// process (a new descriptor) is refused like another process would be.
import fs from 'node:fs'
import path from 'node:path'
import { systemError } from '../errors'
import { addonFromEnv } from '../config'
import { walLocked } from './errors'
import { LOCK_NAME } from './format'

const EAGAIN = 11

export interface DirLock {
  readonly kind: 'flock' | 'pid'
  release(): void
}

/** Builds the error for a directory held by `holder` (ERR_WAL_LOCKED, ERR_LOG_LOCKED). */
export type LockedError = (dir: string, holder: string) => Error

/**
 * Takes the directory's writer lock (file `name` in it) or throws `locked` naming the
 * holder. The WAL's lock is `LOCK`; a partition log's is `.lock`, Kafka's name.
 */
export function acquireLock(dir: string, name: string = LOCK_NAME, locked: LockedError = walLocked): DirLock {
  const { addon } = addonFromEnv()
  const flock = addon?.flock
  const file = path.join(dir, name)
  if (typeof flock === 'function') return flockLock(dir, file, locked, flock.bind(addon), addon?.funlock?.bind(addon))
  return pidLock(dir, file, locked)
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function readPid(file: string): number | null {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8').trim(), 10)
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null
  } catch {
    return null
  }
}

function flockLock(dir: string, file: string, locked: LockedError, flock: (fd: number, exclusive: boolean, nonBlocking: boolean) => number, funlock?: (fd: number) => number): DirLock {
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644)
  try {
    const rc = flock(fd, true, true)
    if (rc === -EAGAIN) {
      const pid = readPid(file)
      throw locked(dir, pid === null ? 'flock held' : `pid ${pid}`)
    }
    if (rc < 0) throw systemError(-rc, 'flock', file)
    // A live pid other than ours means a holder without the addon (pid mode), which
    // takes no flock: respect it.
    const pid = readPid(file)
    if (pid !== null && pid !== process.pid && pidAlive(pid)) throw locked(dir, `pid ${pid}, lock file without flock`)
    fs.ftruncateSync(fd, 0)
    fs.writeSync(fd, `${process.pid}\n`, 0)
  } catch (err) {
    fs.closeSync(fd)
    throw err
  }
  let released = false
  return {
    kind: 'flock',
    release() {
      if (released) return
      released = true
      // Empty the file first: a pid left behind would look like a live pid-mode holder
      // to a process without the addon while this process lives on.
      try {
        fs.ftruncateSync(fd, 0)
      } catch {}
      funlock?.(fd)
      fs.closeSync(fd)
    },
  }
}

function pidLock(dir: string, file: string, locked: LockedError): DirLock {
  for (let attempt = 0; attempt < 5; attempt++) {
    // Write the pid to a private file and link it into place: link() fails atomically
    // when LOCK exists, and LOCK is never seen empty.
    const tmp = `${file}.${process.pid}.${attempt}.tmp`
    fs.writeFileSync(tmp, `${process.pid}\n`)
    try {
      fs.linkSync(tmp, file)
      fs.unlinkSync(tmp)
      let released = false
      return {
        kind: 'pid',
        release() {
          if (released) return
          released = true
          try {
            if (readPid(file) === process.pid) fs.unlinkSync(file)
          } catch {}
        },
      }
    } catch (err) {
      fs.rmSync(tmp, { force: true })
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const pid = readPid(file)
    if (pid !== null && pidAlive(pid)) throw locked(dir, `pid ${pid}`)
    // Stale: its owner is gone (or it is empty, left by a flock-mode owner). Take it over.
    fs.rmSync(file, { force: true })
  }
  throw locked(dir, 'contended lock file')
}
