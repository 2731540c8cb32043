// streamline-io wal dump|verify DIR: like Kafka's DumpLogSegments for the WAL. Both read
// through an Io (files opened read-only) and openWal({ readOnly: true }); neither
// writes, locks or repairs anything. The walking is the WAL's own (FrameCursor,
// recover), not a second reading of the format.
import path from 'node:path'
import type { Io } from '../types'
import { openWal } from '../wal'
import { FRAME_HEADER_BYTES, HEADER_BYTES, decodeHeader, readU64 } from '../wal/format'
import { FrameCursor, scanForValid } from '../wal/frames'
import { listDir } from '../wal/recovery'
import { FileWindow } from '../file-window'
import { intFlag } from './args'
import { checkDir, withIo } from './dirs'
import type { CliContext } from './main'

export interface DumpRecord {
  lsn: number | null
  file: string
  position: number
  size: number
  crcOk: boolean
}

export interface FileEnd {
  file: string
  firstLsn: number
  records: number
  /** eof, zero (preallocated space), stale (recycled file), bad, header (bad header), skipped. */
  end: 'eof' | 'zero' | 'stale' | 'bad' | 'header' | 'skipped'
  position: number
  what: string | null
  /** Bad spots the walk resumed after (a valid record further on): position and what. */
  badSpots: Array<{ position: number; what: string }>
}

export interface Verdict {
  status: 'clean' | 'torn-tail' | 'damaged' | 'empty'
  file: string | null
  position: number | null
  what: string | null
  firstLsn: number | null
  lastLsn: number | null
  files: number
  truncatedBytes: number
}

/** Recovery's verdict on `dir`, read-only. */
export async function verdictOf(io: Io, dir: string, strict: boolean): Promise<Verdict> {
  const files = (await listDir(dir)).files.length
  const base = { files, truncatedBytes: 0, firstLsn: null, lastLsn: null }
  let wal
  try {
    wal = await openWal(io, dir, { readOnly: true, recovery: strict ? 'strict' : 'tolerate-tail' })
  } catch (err) {
    const e = err as Error & { code?: string; path?: string; position?: number }
    if (e.code !== 'ERR_WAL_CORRUPT') throw err
    const what = e.message.replace(/^WAL corrupt: .* at position \d+: /, '')
    return { ...base, status: 'damaged', file: e.path ?? null, position: e.position ?? null, what }
  }
  try {
    const r = wal.recovery
    const span = { firstLsn: wal.firstLsn, lastLsn: wal.lastLsn }
    if (files === 0) return { ...base, status: 'empty', file: null, position: null, what: null }
    if (r.reason === null) return { ...base, ...span, status: 'clean', file: null, position: null, what: null }
    const at = /at position (\d+)$/.exec(r.reason)
    return { ...base, ...span, status: 'torn-tail', file: r.file, position: at ? Number(at[1]) : null, what: r.reason.replace(/ at position \d+$/, ''), truncatedBytes: r.truncatedBytes }
  } finally {
    await wal.close()
  }
}

function describeVerdict(v: Verdict, strictHint: boolean): string {
  switch (v.status) {
    case 'empty':
      return 'clean: no WAL files'
    case 'clean':
      return v.lastLsn! < v.firstLsn! ? `clean: ${v.files} file(s), no records` : `clean: ${v.files} file(s), LSN ${v.firstLsn}..${v.lastLsn} (${v.lastLsn! - v.firstLsn! + 1} records)`
    case 'torn-tail':
      return `warning: torn tail in ${v.file}${v.position === null ? '' : ` at position ${v.position}`}: ${v.what}; recovery would truncate it (${v.truncatedBytes} bytes)${strictHint ? ', --strict treats it as damage' : ''}; records LSN ${v.firstLsn}..${v.lastLsn} are intact`
    case 'damaged':
      return `damaged: ${v.file} at position ${v.position}: ${v.what}`
  }
}

export async function walVerify(ctx: CliContext, dir: string): Promise<number> {
  checkDir(dir)
  const strict = ctx.args.flags.has('--strict')
  const v = await withIo(ctx, (io) => verdictOf(io, dir, strict))
  if (ctx.args.flags.has('--json')) ctx.out(JSON.stringify({ dir, strict, ...v }, null, 2))
  else ctx.out(describeVerdict(v, true))
  return v.status === 'damaged' ? 1 : 0
}

/** Walks one file with the WAL's FrameCursor; `emit` gets each record at or after `from`. */
async function dumpFile(
  io: Io,
  file: { path: string; firstLsn: number },
  from: number,
  emit: (r: DumpRecord) => void,
  onResume: (badPos: number, what: string, at: { pos: number; lsn: number }) => void,
): Promise<FileEnd> {
  const name = path.basename(file.path)
  const f = await io.open(file.path)
  try {
    const win = new FileWindow(f, await f.size())
    const h = decodeHeader(Buffer.from(await win.view(0, HEADER_BYTES)))
    if (!h.ok) return { file: name, firstLsn: file.firstLsn, records: 0, end: 'header', position: 0, what: h.what, badSpots: [] }
    if (h.firstLsn !== file.firstLsn) return { file: name, firstLsn: file.firstLsn, records: 0, end: 'header', position: 16, what: `header says first LSN ${h.firstLsn}, the file name says ${file.firstLsn}`, badSpots: [] }
    const cursor = new FrameCursor(win, file.firstLsn)
    let records = 0
    const badSpots: FileEnd['badSpots'] = []
    let end
    for (;;) {
      const position = cursor.pos
      const rec = await cursor.next()
      if (rec !== null) {
        records++
        if (rec.lsn >= from) emit({ lsn: rec.lsn, file: name, position, size: rec.payload.length, crcOk: true })
        continue
      }
      end = cursor.end!
      if (end.kind !== 'bad') break
      if (end.what.startsWith('checksum mismatch')) {
        // The frame that failed its checksum, as its header describes it.
        const fh = Buffer.from(await win.view(cursor.pos, FRAME_HEADER_BYTES))
        const lsn = readU64(fh, 8)
        if (lsn === null || lsn >= from) emit({ lsn, file: name, position: cursor.pos, size: fh.readUInt32LE(0), crcOk: false })
      }
      // Records after the bad spot (recovery's own scan): list them too, as Kafka's
      // dump goes on past a bad batch. Each resumption is further on, so this ends.
      const { found } = await scanForValid(win, cursor.pos + 8, cursor.nextLsn - 1)
      if (found === null) break
      badSpots.push({ position: cursor.pos, what: end.what })
      onResume(cursor.pos, end.what, found)
      cursor.pos = found.pos
      cursor.nextLsn = found.lsn
      cursor.end = null
    }
    const what = end.kind === 'bad' ? end.what : end.kind === 'stale' ? `a stale record (LSN ${end.lsn}) from a recycled file` : end.kind === 'zero' ? 'zeros (preallocated space)' : 'end of file'
    return { file: name, firstLsn: file.firstLsn, records, end: end.kind, position: cursor.pos, what, badSpots }
  } finally {
    await f.close().catch(() => {})
  }
}

export async function walDump(ctx: CliContext, dir: string): Promise<number> {
  checkDir(dir)
  const from = intFlag(ctx.args, '--from') ?? 0
  const json = ctx.args.flags.has('--json')
  return withIo(ctx, async (io) => {
    const { files } = await listDir(dir)
    const records: DumpRecord[] = []
    const ends: FileEnd[] = []
    for (let i = 0; i < files.length; i++) {
      const file = files[i]
      // Files that end before `from` are not read.
      if (i + 1 < files.length && files[i + 1].firstLsn <= from) {
        ends.push({ file: path.basename(file.path), firstLsn: file.firstLsn, records: 0, end: 'skipped', position: 0, what: null, badSpots: [] })
        continue
      }
      if (!json) ctx.out(`Dumping ${file.path} (first LSN ${file.firstLsn})`)
      const end = await dumpFile(
        io,
        file,
        from,
        (r) => {
          if (json) records.push(r)
          else ctx.out(`lsn: ${r.lsn ?? '?'} position: ${r.position} size: ${r.size} crc: ${r.crcOk ? 'ok' : 'MISMATCH'}`)
        },
        (badPos, what, at) => {
          if (!json) ctx.out(`bad spot at position ${badPos}: ${what}; records resume at position ${at.pos} (LSN ${at.lsn})`)
        },
      )
      ends.push(end)
      if (!json) ctx.out(`end of records at position ${end.position}: ${end.what}`)
    }
    const verdict = await verdictOf(io, dir, false)
    if (json) ctx.out(JSON.stringify({ dir, from, records, files: ends, verdict }, null, 2))
    else ctx.out(describeVerdict(verdict, false))
    return 0
  })
}
