// The synchronous durable-write loop, writeSync + fdatasyncSync with no event loop and no
// thread hop: the floor a single durable writer reaches (--limits' sync loops, ./limits.ts)
// and W7P's node-fs row for scale (./log.ts).
import fs from 'node:fs'
import { type LatencyHistogram, newHistogram, recordSince } from './latency'

/**
 * Writes `buf` at an advancing position of `fd` and fdatasyncs it, at least once and then
 * while `seconds` last; with `span`, the position wraps to 0 before passing it (overwrite).
 * One latency per write + fdatasync.
 */
export function syncWriteLoop(fd: number, buf: Buffer, seconds: number, span: number | null = null): { ops: number; seconds: number; latency: LatencyHistogram } {
  const lat = newHistogram()
  try {
    let pos = 0
    const start = performance.now()
    const end = start + seconds * 1000
    do {
      const t0 = performance.now()
      fs.writeSync(fd, buf, 0, buf.length, pos)
      fs.fdatasyncSync(fd)
      recordSince(lat, t0)
      pos += buf.length
      if (span !== null && pos + buf.length > span) pos = 0
    } while (performance.now() < end)
    return { ops: lat.totalCount, seconds: (performance.now() - start) / 1000, latency: lat }
  } catch (err) {
    // The WebAssembly histogram is not collected.
    lat.destroy()
    throw err
  }
}
