// Recovery on open (DESIGN.md §3): walk every file in LSN order and decide where the log
// ends. A torn or corrupt *tail* — nothing valid after it, in this file or a later one —
// is the end of the log: zeroed through the Io and reported. Anything valid after a bad
// spot means acknowledged records would be dropped: ERR_WAL_CORRUPT, in both modes.
import fs from 'node:fs'
import path from 'node:path'
import { debug } from '../debug'
import type { Io } from '../types'
import { walCorrupt } from './errors'
import { FREE_SUFFIX, HEADER_BYTES, PREPARED_NAME, decodeHeader, parseFileName } from './format'
import { type FrameEnd, type TailScan, type WalkResult, scanForValid, walkFrames } from './frames'
import type { WalRecovery } from './types'
import { FileWindow, withFile } from '../file-window'

export interface LogFile {
  path: string
  firstLsn: number
}

export interface RecoveredLog {
  /** Retained files in LSN order (empty for a new directory). */
  files: LogFile[]
  /** The newest valid record (first file's firstLsn − 1 when there is none; 0 when no files). */
  lastLsn: number
  /** Where the next frame goes in the last file. */
  endPos: number
  /** Checkpointed files kept for recycling. */
  free: string[]
  recovery: WalRecovery
}

export interface RecoverOptions {
  strict: boolean
  /** False for readOnly: report what would be repaired, change nothing. */
  repair: boolean
}

export const NO_RECOVERY: WalRecovery = Object.freeze({ truncatedBytes: 0, file: null, reason: null })

export async function listDir(dir: string): Promise<{ files: LogFile[]; free: string[]; prepared: string[] }> {
  const names = await fs.promises.readdir(dir)
  const files: LogFile[] = []
  const free: string[] = []
  const prepared: string[] = []
  for (const name of names) {
    const lsn = parseFileName(name)
    if (lsn !== null) files.push({ path: path.join(dir, name), firstLsn: lsn })
    else if (name.endsWith(FREE_SUFFIX)) free.push(path.join(dir, name))
    else if (name === PREPARED_NAME) prepared.push(path.join(dir, name))
  }
  files.sort((a, b) => a.firstLsn - b.firstLsn)
  free.sort()
  return { files, free, prepared }
}

/** Checks a file's header against its name; throws ERR_WAL_CORRUPT otherwise. */
async function checkHeader(win: FileWindow, file: LogFile): Promise<void> {
  const h = decodeHeader(Buffer.from(await win.view(0, HEADER_BYTES)))
  if (!h.ok) throw walCorrupt(file.path, 0, h.what)
  if (h.firstLsn !== file.firstLsn) throw walCorrupt(file.path, 16, `header says first LSN ${h.firstLsn}, the file name says ${file.firstLsn}`)
}

/** Zeroes [from, to) through the Io and syncs it, so the torn bytes cannot resurface. */
async function zeroRange(io: Io, file: string, from: number, to: number): Promise<void> {
  const f = await io.openRw(file)
  try {
    const zeros = Buffer.alloc(Math.min(1024 * 1024, Math.max(0, to - from)))
    for (let at = from; at < to; at += zeros.length) {
      await f.writeAt(zeros.subarray(0, Math.min(zeros.length, to - at)), at)
    }
    await f.syncData()
  } finally {
    await f.close().catch(() => {})
  }
}

function describeEnd(end: FrameEnd): string {
  return end.kind === 'bad' ? end.what : end.kind
}

interface Examined {
  walk: WalkResult
  /** What lies beyond the end (see examine); null when not looked at. */
  scan: TailScan | null
  size: number
}

/**
 * Walks a file's records. After a bad end it looks for valid records further on (LSN >
 * the one expected there): that tells a torn tail from corruption. After a clean end in
 * the last file it looks for records with LSN >= the next expected one: zeros or a
 * stale record in the middle of the log (a lost or zeroed page), not its end. For other
 * files the next file's first LSN is the check.
 */
async function examine(io: Io, file: LogFile, last: boolean): Promise<Examined> {
  return withFile(io, file.path, async (f, size) => {
    const win = new FileWindow(f, size)
    await checkHeader(win, file)
    const walk = await walkFrames(win, file.firstLsn)
    const scan = walk.end.kind === 'bad' ? await scanForValid(win, walk.pos + 8, walk.nextLsn) : last ? await scanForValid(win, walk.pos + 8, walk.nextLsn - 1) : null
    return { walk, scan, size }
  })
}

/** The header's verdict, without throwing. */
async function headerProblem(io: Io, file: LogFile): Promise<string | null> {
  return withFile(io, file.path, async (f, size) => {
    try {
      await checkHeader(new FileWindow(f, size), file)
      return null
    } catch (err) {
      return (err as Error).message
    }
  })
}

/** The first valid record with an LSN >= minLsn anywhere after the header, or null. */
async function anyRecord(io: Io, file: LogFile, minLsn: number): Promise<{ pos: number; lsn: number } | null> {
  return withFile(io, file.path, async (f, size) => (await scanForValid(new FileWindow(f, size), HEADER_BYTES, minLsn - 1)).found)
}

export async function recover(io: Io, dir: string, opts: RecoverOptions): Promise<RecoveredLog> {
  const listed = await listDir(dir)
  const { free } = listed
  let files = listed.files
  if (files.length === 0) return { files, lastLsn: 0, endPos: HEADER_BYTES, free, recovery: NO_RECOVERY }

  // Files at the end that hold no records and either have no valid header or do not
  // continue the log are a roll that never completed (e.g. a machine that stopped
  // between the rename and the syncs its directory entry depended on): removed. Holding
  // a record, the same file is corruption.
  let hollow: LogFile[] = []
  let expected = files[0].firstLsn
  let last: Examined | null = null
  for (let i = 0; i < files.length; i++) {
    const file = files[i]
    const isLast = i === files.length - 1
    const problem = (await headerProblem(io, file)) ?? (file.firstLsn !== expected ? (file.firstLsn > expected ? `records ${expected}..${file.firstLsn - 1} are missing (the previous file ends before them)` : `first LSN ${file.firstLsn} overlaps the previous file, which ends at LSN ${expected - 1}`) : null)
    if (problem !== null) {
      const rest = files.slice(i)
      for (const lf of rest) {
        const hit = await anyRecord(io, lf, Math.min(expected, lf.firstLsn))
        if (hit) throw walCorrupt(file.path, 0, problem.replace(/^WAL corrupt: [^:]*: /, ''))
      }
      hollow = rest
      files = files.slice(0, i)
      break
    }
    const ex = await examine(io, file, isLast)
    const { walk, scan } = ex
    if (walk.end.kind === 'bad' && !isLast) {
      if (scan!.found) throw walCorrupt(file.path, walk.pos, `${walk.end.what}; record LSN ${scan!.found.lsn} at position ${scan!.found.pos} follows it, so this is not a torn tail`)
      // Nothing valid after it in this file: is anything valid in a later one?
      for (const lf of files.slice(i + 1)) {
        const hit = await anyRecord(io, lf, walk.nextLsn + 1)
        if (hit) throw walCorrupt(file.path, walk.pos, `${walk.end.what}; file ${lf.path} holds record LSN ${hit.lsn} after it, so this is not a torn tail`)
      }
      // A torn tail; the later files hold no records (they were rolled to before the
      // torn record was made whole) and would leave a gap.
      hollow = files.slice(i + 1)
      files = files.slice(0, i + 1)
      last = ex
      break
    }
    expected = walk.nextLsn
    if (isLast) last = ex
  }

  if (hollow.length > 0 && opts.strict) throw walCorrupt(hollow[0].path, 0, 'strict recovery refuses a log whose last file(s) hold no records and do not continue it (an unfinished roll)')
  if (files.length === 0) {
    // Nothing but an unfinished first file: start over, keeping its numbering.
    if (opts.repair) await removeFiles(dir, hollow)
    return { files: [], lastLsn: hollow[0].firstLsn - 1, endPos: HEADER_BYTES, free, recovery: hollowReport(hollow) }
  }
  if (last === null) last = await examine(io, files[files.length - 1], true)
  const lastFile = files[files.length - 1]
  const { walk, scan, size } = last

  let reason: string | null = null
  let zeroTo = walk.pos
  if (walk.end.kind === 'bad') {
    if (scan!.found) throw walCorrupt(lastFile.path, walk.pos, `${walk.end.what}; record LSN ${scan!.found.lsn} at position ${scan!.found.pos} follows it, so this is not a torn tail`)
    if (opts.strict) throw walCorrupt(lastFile.path, walk.pos, `strict recovery refuses a torn or corrupt tail: ${walk.end.what}`)
    reason = `${walk.end.what} at position ${walk.pos}`
    zeroTo = Math.min(size, Math.max(scan!.nonZeroEnd, walk.pos + 16))
  } else if (scan?.found) {
    // Zeros (or a stale record) where a record should be, valid records after them: a
    // lost write or a zeroed page in the middle of the log. Ending the log there would
    // drop acknowledged records, so refuse in both modes.
    throw walCorrupt(lastFile.path, walk.pos, `the log ends here (${describeEnd(walk.end)}) but record LSN ${scan.found.lsn} at position ${scan.found.pos} follows, so this is not the end of the log`)
  } else if (opts.strict && walk.end.kind === 'zero' && scan !== null && scan.nonZeroEnd > walk.pos + 8) {
    // Preallocated space is zeros (recycled files end at a stale record instead).
    throw walCorrupt(lastFile.path, walk.pos, `strict recovery refuses a tail that is not clean preallocated space: non-zero bytes before position ${scan.nonZeroEnd}`)
  }
  let recovery: WalRecovery = NO_RECOVERY
  if (reason !== null) {
    recovery = { truncatedBytes: zeroTo - walk.pos, file: lastFile.path, reason }
    debug('wal %s: %s; %d bytes of tail %s', dir, reason, zeroTo - walk.pos, opts.repair ? 'zeroed' : 'found (read-only: left as is)')
    if (opts.repair) await zeroRange(io, lastFile.path, walk.pos, zeroTo)
  } else if (hollow.length > 0) {
    recovery = hollowReport(hollow)
  }
  if (opts.repair) await removeFiles(dir, hollow)
  return { files, lastLsn: walk.nextLsn - 1, endPos: walk.pos, free, recovery }
}

function hollowReport(hollow: LogFile[]): WalRecovery {
  const reason = `removed ${hollow.length} file(s) at the end that held no records and did not continue the log (an unfinished roll)`
  debug('wal: %s: %s', hollow.map((f) => f.path).join(', '), reason)
  return { truncatedBytes: 0, file: hollow[0].path, reason }
}

async function removeFiles(dir: string, files: LogFile[]): Promise<void> {
  if (files.length === 0) return
  for (const f of files) await fs.promises.rm(f.path, { force: true })
  await fsyncDir(dir)
}

/** fsync(2) on the directory, so creates, renames and unlinks in it are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.promises.open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}
