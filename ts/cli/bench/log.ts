// W7 (DESIGN.md §6): 16 partition logs in one Io.
//   W7P  produce: 16 writers, one per log, each appending batches of 100 × 1 KiB records
//        with sync 'always' (every acknowledgement durable); latency per append
//   W7W  consume, warm: 16 readers, one per log, each reading its log from the start with
//        read(offset, { maxBytes: 64 KiB }) and wrapping around; latency per read
//   W7C  consume, cold: the same over the logs' segment files evicted from the page cache
//        before each pass (eviction not timed)
// Counted in records (and bytes of batches). The consume phases read one data set made
// once per run (written with sync 'none', then closed), opened readOnly by each backend.
// node:fs has no partition log; its row for W7P is the single-writer sync loop (write
// one batch's bytes + fdatasync) "for scale", as §6 asks.
import fs from 'node:fs'
import path from 'node:path'
import { openLog, type Io, type PartitionLog } from '../../index'
import { type LatencyHistogram, newHistogram, recordSince } from './latency'
import { syncWriteLoop } from './sync-loop'

function cpuSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start)
  return d.user + d.system
}

const KiB = 1024
export const W7_LOGS = 16
export const W7_RECORDS_PER_BATCH = 100
export const W7_RECORD_BYTES = KiB
export const W7_FETCH_BYTES = 64 * KiB

export interface LogResult {
  ops: number
  bytes: number
  seconds: number
  latency: LatencyHistogram
  cpuUs: number
}

function batchOf(salt: number): Array<{ key: Buffer; value: Buffer }> {
  return Array.from({ length: W7_RECORDS_PER_BATCH }, (_, i) => ({ key: Buffer.from(`key-${salt}-${i}`), value: Buffer.alloc(W7_RECORD_BYTES, (salt + i) & 0xff) }))
}

async function openLogs(io: Io, root: string, readOnly: boolean): Promise<PartitionLog[]> {
  return Promise.all(Array.from({ length: W7_LOGS }, (_, i) => openLog(io, path.join(root, `topic-${i}`), readOnly ? { readOnly: true } : { sync: 'always' })))
}

/** W7P on the library: `seconds` of 16 concurrent producers, one log each. */
export async function produce(io: Io, root: string, seconds: number): Promise<LogResult> {
  const logs = await openLogs(io, root, false)
  const lat = newHistogram()
  let records = 0
  let bytes = 0
  const batches = Array.from({ length: 8 }, (_, i) => batchOf(i))
  const batchBytes = batches[0].reduce((n, r) => n + r.key.length + r.value.length, 0)
  const end = performance.now() + seconds * 1000
  const start = performance.now()
  const c0 = process.cpuUsage()
  let cpuUs = 0
  try {
    await Promise.all(
      logs.map(async (log, i) => {
        let n = i
        do {
          const t0 = performance.now()
          await log.append(batches[n++ % batches.length])
          recordSince(lat, t0)
          records += W7_RECORDS_PER_BATCH
          bytes += batchBytes
        } while (performance.now() < end)
      }),
    )
    cpuUs = cpuSince(c0)
  } finally {
    await Promise.all(logs.map((l) => l.close()))
  }
  return { ops: records, bytes, seconds: (performance.now() - start) / 1000, latency: lat, cpuUs }
}

/** The single-writer sync loop for scale: one batch's worth of bytes + fdatasync, synchronously. */
export function syncLoopProduce(dir: string, seconds: number): LogResult {
  const file = path.join(dir, 'sync-loop.log')
  const fd = fs.openSync(file, 'w')
  const batch = Buffer.alloc(W7_RECORDS_PER_BATCH * (W7_RECORD_BYTES + 80), 0x5a)
  const c0 = process.cpuUsage()
  try {
    const r = syncWriteLoop(fd, batch, seconds)
    const records = r.ops * W7_RECORDS_PER_BATCH
    return { ops: records, bytes: records * W7_RECORD_BYTES, seconds: r.seconds, latency: r.latency, cpuUs: cpuSince(c0) }
  } finally {
    fs.closeSync(fd)
    fs.rmSync(file, { force: true })
  }
}

/** Writes the consume phases' data set: 16 logs of `bytesPerLog` each (sync 'none', then closed). */
export async function makeLogData(io: Io, root: string, bytesPerLog: number): Promise<void> {
  const logs = await Promise.all(Array.from({ length: W7_LOGS }, (_, i) => openLog(io, path.join(root, `topic-${i}`), { sync: 'none' })))
  try {
    const batches = Array.from({ length: 8 }, (_, i) => batchOf(i))
    const perLog = Math.ceil(bytesPerLog / (W7_RECORDS_PER_BATCH * W7_RECORD_BYTES))
    await Promise.all(
      logs.map(async (log, i) => {
        for (let n = 0; n < perLog; n++) await log.append(batches[(n + i) % batches.length])
      }),
    )
  } finally {
    await Promise.all(logs.map((l) => l.close()))
  }
}

/** Records in (and the offset after) the batches of a read's bytes. */
function walk(bytes: Buffer): { records: number; next: number } {
  let at = 0
  let records = 0
  let next = -1
  while (at + 61 <= bytes.length) {
    const base = bytes.readInt32BE(at) * 0x1_0000_0000 + bytes.readUInt32BE(at + 4)
    const lastDelta = bytes.readInt32BE(at + 23)
    records += lastDelta + 1
    next = base + lastDelta + 1
    at += 12 + bytes.readInt32BE(at + 8)
  }
  return { records, next }
}

/** The segment files of the data set (what a cold pass evicts). */
export function logDataFiles(root: string): string[] {
  const out: string[] = []
  for (let i = 0; i < W7_LOGS; i++) {
    const dir = path.join(root, `topic-${i}`)
    for (const name of fs.readdirSync(dir)) if (name.endsWith('.log')) out.push(path.join(dir, name))
  }
  return out
}

/**
 * W7W / W7C on the library: 16 readers, one per log, fetching 64 KiB at a time from the
 * start. Warm: they wrap around for `seconds`. Cold: passes over the whole data set, each
 * after `evictAll()`, at least one, more while `seconds` last.
 */
export async function consume(io: Io, root: string, seconds: number, evictAll: (() => void) | null): Promise<LogResult> {
  const logs = await openLogs(io, root, true)
  const lat = newHistogram()
  let records = 0
  let bytes = 0
  let busy = 0
  let cpuUs = 0
  try {
    if (evictAll === null) {
      // One untimed pass so that "warm" means cached, whatever ran before.
      for (const log of logs) for (let o = 0; o < log.highWatermark; ) o = walk(await log.read(o, { maxBytes: 1024 * 1024 })).next
    }
    do {
      evictAll?.()
      const end = performance.now() + seconds * 1000
      const t = performance.now()
      const c0 = process.cpuUsage()
      await Promise.all(
        logs.map(async (log) => {
          let offset = 0
          let reads = 0
          for (;;) {
            if (offset >= log.highWatermark) {
              if (evictAll !== null) return
              offset = 0
            }
            // At least one read each, however late this reader starts on a busy machine.
            if (evictAll === null && reads++ > 0 && performance.now() >= end) return
            const t0 = performance.now()
            const b = await log.read(offset, { maxBytes: W7_FETCH_BYTES })
            recordSince(lat, t0)
            const w = walk(b)
            records += w.records
            bytes += b.length
            offset = w.next
          }
        }),
      )
      busy += performance.now() - t
      cpuUs += cpuSince(c0)
    } while (evictAll !== null && busy < seconds * 1000)
  } finally {
    await Promise.all(logs.map((l) => l.close()))
  }
  return { ops: records, bytes, seconds: busy / 1000, latency: lat, cpuUs }
}
