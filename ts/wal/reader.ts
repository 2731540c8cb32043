// replay(): records in LSN order through the Io, each file read in large chunks.
import type { Io } from '../types'
import { walCorrupt } from './errors'
import { HEADER_BYTES, decodeHeader } from './format'
import { FrameCursor } from './frames'
import type { LogFile } from './recovery'
import type { WalRecord } from './types'
import { FileWindow } from '../file-window'

/**
 * Yields records with fromLsn <= lsn <= endLsn from `files` (a snapshot). Every record
 * up to endLsn is known to be on disk, so a chain that ends early is corruption that
 * happened after open: ERR_WAL_CORRUPT, never a silently short replay.
 */
export async function* replayFiles(io: Io, files: readonly LogFile[], fromLsn: number, endLsn: number): AsyncGenerator<WalRecord> {
  if (files.length === 0 || fromLsn > endLsn) return
  let i = 0
  while (i + 1 < files.length && files[i + 1].firstLsn <= fromLsn) i++
  for (; i < files.length; i++) {
    const file = files[i]
    if (file.firstLsn > endLsn) return
    const f = await io.open(file.path)
    try {
      const win = new FileWindow(f, await f.size())
      const h = decodeHeader(Buffer.from(await win.view(0, HEADER_BYTES)))
      if (!h.ok) throw walCorrupt(file.path, 0, h.what)
      if (h.firstLsn !== file.firstLsn) throw walCorrupt(file.path, 16, `header says first LSN ${h.firstLsn}, the file name says ${file.firstLsn}`)
      const cursor = new FrameCursor(win, file.firstLsn)
      for (;;) {
        const rec = await cursor.next()
        if (rec === null) break
        if (rec.lsn > endLsn) return
        // A copy: the payload is a view of the window's reused buffer.
        if (rec.lsn >= fromLsn) yield { lsn: rec.lsn, data: Buffer.from(rec.payload) }
      }
      const nextFirst = i + 1 < files.length ? files[i + 1].firstLsn : endLsn + 1
      if (cursor.nextLsn !== nextFirst && cursor.nextLsn <= endLsn) {
        const end = cursor.end!
        throw walCorrupt(file.path, cursor.pos, `record LSN ${cursor.nextLsn} expected but found ${end.kind === 'bad' ? end.what : end.kind === 'stale' ? `a stale record (LSN ${end.lsn})` : end.kind === 'zero' ? 'zeros' : 'the end of the file'}`)
      }
    } finally {
      await f.close().catch(() => {})
    }
  }
}
