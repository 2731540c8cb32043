// Walking the frames of one WAL file: what recovery and replay share. A walk stops at
// the first position that is not the next expected record and says why.
import { FRAME_HEADER_BYTES, HEADER_BYTES, frameBytes, frameCrc, isZeroHeader, readU64 } from './format'
import type { FileWindow } from '../file-window'

/** How a file's chain of records ended. */
export type FrameEnd =
  /** End of file exactly at a frame boundary (a file that is not preallocated). */
  | { kind: 'eof' }
  /** An all-zero frame header: preallocated space, the clean end. */
  | { kind: 'zero' }
  /** A valid frame below the file's first LSN: left over in a recycled file, the clean end. */
  | { kind: 'stale'; lsn: number }
  /** Anything else: torn or corrupt. `what` says which, in words. */
  | { kind: 'bad'; what: string }

export interface WalkResult {
  /** Where the chain ended: the next frame goes here. */
  pos: number
  /** The LSN the next frame would carry. */
  nextLsn: number
  end: FrameEnd
}

/**
 * Walks a file's frames from the header on, one valid record per `next()`, until the
 * first position that is not the next expected record; `end` then says why.
 */
export class FrameCursor {
  pos = HEADER_BYTES
  nextLsn: number
  end: FrameEnd | null = null

  constructor(
    private readonly win: FileWindow,
    private readonly firstLsn: number,
  ) {
    this.nextLsn = firstLsn
  }

  /** The next record (its payload view is valid until the next call), or null at the end. */
  async next(): Promise<{ lsn: number; payload: Buffer } | null> {
    if (this.end) return null
    const { win, pos } = this
    const expected = this.nextLsn
    const size = win.size
    const stop = (end: FrameEnd): null => {
      this.end = end
      return null
    }
    if (pos >= size) return stop({ kind: 'eof' })
    if (pos + FRAME_HEADER_BYTES > size) {
      const tail = await win.view(pos, size - pos)
      if (tail.every((b) => b === 0)) return stop({ kind: 'eof' })
      return stop({ kind: 'bad', what: `a torn frame header (${size - pos} bytes before the end of the file)` })
    }
    const h = await win.view(pos, FRAME_HEADER_BYTES)
    if (isZeroHeader(h, 0)) return stop({ kind: 'zero' })
    const len = h.readUInt32LE(0)
    const crc = h.readUInt32LE(4)
    const lsn = readU64(h, 8)
    const bytes = frameBytes(len)
    if (pos + bytes > size) return stop({ kind: 'bad', what: `a frame of ${len} bytes running past the end of the file (torn write; LSN ${expected} expected)` })
    const frame = await win.view(pos, FRAME_HEADER_BYTES + len)
    const payload = frame.subarray(FRAME_HEADER_BYTES)
    if (frameCrc(frame, 0, payload) !== crc) return stop({ kind: 'bad', what: `checksum mismatch (torn or corrupt record; LSN ${expected} expected)` })
    if (lsn === null) return stop({ kind: 'bad', what: 'LSN out of range' })
    if (lsn !== expected) {
      if (lsn < this.firstLsn) return stop({ kind: 'stale', lsn })
      return stop({ kind: 'bad', what: `record with LSN ${lsn} where LSN ${expected} was expected` })
    }
    this.pos = pos + bytes
    this.nextLsn = expected + 1
    return { lsn, payload }
  }
}

/** Walks every frame of a file and reports where and how the chain ends. */
export async function walkFrames(win: FileWindow, firstLsn: number): Promise<WalkResult> {
  const c = new FrameCursor(win, firstLsn)
  while ((await c.next()) !== null);
  return { pos: c.pos, nextLsn: c.nextLsn, end: c.end! }
}

export interface TailScan {
  /** The first valid frame with an LSN above the bound, or null. */
  found: { pos: number; lsn: number } | null
  /** End of the last non-zero 8-byte step seen (where zeroing can stop). */
  nonZeroEnd: number
}

/**
 * Scans [from, size) in 8-byte steps for a frame with a valid checksum and an LSN >
 * `aboveLsn`: evidence that records follow a bad spot (corruption, not a torn tail).
 * Stops at the first one found.
 */
export async function scanForValid(win: FileWindow, from: number, aboveLsn: number): Promise<TailScan> {
  const size = win.size
  let q = from
  let nonZeroEnd = from
  while (q + FRAME_HEADER_BYTES <= size) {
    const chunk = await win.view(q, Math.min(4 * 1024 * 1024, size - q))
    const n = chunk.length
    let j = 0
    const candidates: number[] = []
    for (; j + FRAME_HEADER_BYTES <= n; j += 8) {
      const len = chunk.readUInt32LE(j)
      const crc = chunk.readUInt32LE(j + 4)
      const lo = chunk.readUInt32LE(j + 8)
      const hi = chunk.readUInt32LE(j + 12)
      if ((len | crc | lo | hi) === 0) continue
      nonZeroEnd = q + j + FRAME_HEADER_BYTES
      if (hi >= 0x20_0000) continue
      const lsn = hi * 0x1_0000_0000 + lo
      if (lsn <= aboveLsn) continue
      if (q + j + frameBytes(len) > size) continue
      if (j + FRAME_HEADER_BYTES + len <= n) {
        if (frameCrc(chunk, j, chunk.subarray(j + FRAME_HEADER_BYTES, j + FRAME_HEADER_BYTES + len)) === crc) return { found: { pos: q + j, lsn }, nonZeroEnd }
      } else candidates.push(q + j)
    }
    // Candidates reaching past this chunk are checked with their own reads (rare).
    for (const at of candidates) {
      const hit = await checkAt(win, at, aboveLsn)
      if (hit) return { found: hit, nonZeroEnd }
    }
    if (j === 0) break
    q += j
  }
  // The last bytes (fewer than a frame header) still count as non-zero garbage.
  if (q < size) {
    const rest = await win.view(q, size - q)
    if (rest.some((b) => b !== 0)) nonZeroEnd = size
  }
  return { found: null, nonZeroEnd }
}

async function checkAt(win: FileWindow, at: number, aboveLsn: number): Promise<{ pos: number; lsn: number } | null> {
  const h = await win.view(at, FRAME_HEADER_BYTES)
  const len = h.readUInt32LE(0)
  const crc = h.readUInt32LE(4)
  const lsn = readU64(h, 8)
  if (lsn === null || lsn <= aboveLsn) return null
  const frame = Buffer.from(await win.view(at, FRAME_HEADER_BYTES + len))
  if (frame.length < FRAME_HEADER_BYTES + len) return null
  return frameCrc(frame, 0, frame.subarray(FRAME_HEADER_BYTES)) === crc ? { pos: at, lsn } : null
}
