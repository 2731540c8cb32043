// Z1 (DESIGN.md §6): serve a partition log's segments to a loopback consumer, the way a
// Kafka broker answers fetches — one log of `dataBytes` in 256 MiB segments, read from
// the start in fetches of 1 MiB (Kafka's max.partition.fetch.bytes default), each sent
// behind a 4-byte length (a response header) — and measure MB/s and the server's CPU per
// GB.
//   Z1   page cache warm (one untimed pass reads the segments first)
//   Z1C  cold: the segment files are evicted from the page cache before each pass
// The library serves with `log.slice` + `log.sendTo` (the path its backend takes:
// splice on io_uring, sendfile on the standard backend; the row says which carried the
// bytes). node:fs serves the same fetches as a Node user writes it: FileHandle.read of
// the range into a fresh Buffer behind its length, then socket.write with 'drain'
// backpressure. The consumer is a child process (./zerocopy-consumer-child.ts) so its CPU
// is not the server's; it reads into one reused buffer, checks the framing, and acks each
// pass's end marker (a zero length), so a pass is timed from its first fetch to the
// consumer holding its last byte. The 2 cores are shared by the consumer, the server and
// the kernel's loopback work (softirq receive is charged to whichever task runs it, often
// the sender) — the same for every peer.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { openLog, type Io, type PartitionLog } from '../../index'
import { type LatencyHistogram, newHistogram, recordSince } from './latency'

const KiB = 1024
const MiB = 1024 * KiB
export const Z1_SEGMENT_BYTES = 256 * MiB
export const Z1_FETCH_BYTES = MiB
/** The data set: 1 GiB (DESIGN.md §6), 128 MiB with --quick. */
export const z1DataBytes = (quick: boolean) => (quick ? 128 : 1024) * MiB
const Z1_RECORDS_PER_BATCH = 100
const Z1_RECORD_BYTES = KiB

export interface ZeroCopyResult {
  /** Fetches served. */
  ops: number
  /** Bytes that reached the consumer (lengths included). */
  bytes: number
  seconds: number
  /** Per fetch: from asking for it to its last byte handed to the kernel. */
  latency: LatencyHistogram
  /** The server process's CPU (user + system, every thread: io-wq workers and the libuv pool included), µs. */
  cpuUs: number
  /** The consumer child's CPU over the whole connection, µs. */
  consumerCpuUs: number
  /** Which path carried the library's body bytes (from io.metrics().sendTo), when it reports it. */
  paths?: Record<string, number>
}

/** The directory of the data set's one partition log. */
export const z1LogDir = (root: string) => path.join(root, 'z1-partition-0')

/** Writes the data set once (sync 'none', then closed): batches of 100 × 1 KiB records, 256 MiB segments (32 MiB with --quick). */
export async function makeZeroCopyData(io: Io, root: string, bytes: number): Promise<void> {
  const segmentBytes = bytes >= 4 * Z1_SEGMENT_BYTES ? Z1_SEGMENT_BYTES : Math.max(MiB, Math.floor(bytes / 4))
  const log = await openLog(io, z1LogDir(root), { sync: 'none', segmentBytes })
  try {
    const batches = Array.from({ length: 8 }, (_, b) =>
      Array.from({ length: Z1_RECORDS_PER_BATCH }, (_, i) => ({ key: Buffer.from(`key-${b}-${i}`), value: Buffer.alloc(Z1_RECORD_BYTES, (b * 31 + i) & 0xff) })),
    )
    let written = 0
    let n = 0
    // Four appends in flight: the log orders them; this only keeps the disk busy.
    const writer = async () => {
      while (written < bytes) {
        const batch = batches[n++ % batches.length]
        written += Z1_RECORDS_PER_BATCH * (Z1_RECORD_BYTES + 80)
        await log.append(batch)
      }
    }
    await Promise.all([writer(), writer(), writer(), writer()])
  } finally {
    await log.close()
  }
}

/** The data set's segment files, in offset order. */
export function zeroCopySegments(root: string): string[] {
  const dir = z1LogDir(root)
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.log'))
    .sort()
    .map((n) => path.join(dir, n))
}

/** A 4-byte big-endian length, as a Kafka response's size field. */
function lengthPrefix(n: number): Buffer {
  const b = Buffer.allocUnsafe(4)
  b.writeInt32BE(n)
  return b
}

/** The consumer child, connected to `server`'s port; resolves the server side of its connection. */
async function startConsumer(server: net.Server): Promise<{ child: ChildProcess; sock: net.Socket; report: Promise<{ bytes: number; frames: number; cpuUs: number }> }> {
  const port = (server.address() as net.AddressInfo).port
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
  const child = spawn(process.execPath, [path.join(__dirname, 'zerocopy-consumer-child.js'), String(port)], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const report = new Promise<{ bytes: number; frames: number; cpuUs: number }>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`Z1 consumer failed (exit ${code}): ${stderr.trim().split('\n')[0] ?? ''}`))
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop()!))
      } catch {
        reject(new Error('Z1 consumer printed no result'))
      }
    })
  })
  const sock = await Promise.race([accepted, report.then(() => Promise.reject(new Error('Z1 consumer exited before connecting')))])
  sock.setNoDelay(true)
  return { child, sock, report }
}

/** Resolves when the consumer acks a pass (one byte per end marker). */
function acks(sock: net.Socket): () => Promise<void> {
  let got = 0
  let waiting: (() => void) | null = null
  let want = 0
  sock.on('data', (d: Buffer) => {
    got += d.length
    if (waiting !== null && got >= want) {
      const w = waiting
      waiting = null
      w()
    }
  })
  return () => {
    want++
    if (got >= want) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      waiting = resolve
      sock.once('close', () => reject(new Error('Z1 consumer closed the connection mid-pass')))
    })
  }
}

/** Writes through node:net with its own backpressure (end markers, and the node:fs peer's fetches). */
async function write(sock: net.Socket, buf: Buffer): Promise<void> {
  if (!sock.write(buf)) {
    await new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        sock.off('close', onClose)
        resolve()
      }
      const onClose = () => {
        sock.off('drain', onDrain)
        reject(new Error('Z1 consumer closed the connection'))
      }
      sock.once('drain', onDrain)
      sock.once('close', onClose)
    })
  }
}

/** The passes: at least one, more while `seconds` of serving last; eviction (cold) before each, not timed. */
async function serve(seconds: number, evictAll: (() => void) | null, pass: (sock: net.Socket, lat: LatencyHistogram) => Promise<{ ops: number; bytes: number }>): Promise<ZeroCopyResult> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const lat = newHistogram()
  let ops = 0
  let bytes = 0
  let busy = 0
  let cpuUs = 0
  try {
    const { sock, report } = await startConsumer(server)
    const acked = acks(sock)
    const end = lengthPrefix(0)
    do {
      evictAll?.()
      const t = performance.now()
      const c0 = process.cpuUsage()
      const r = await pass(sock, lat)
      await write(sock, end)
      await acked()
      const c = process.cpuUsage(c0)
      cpuUs += c.user + c.system
      busy += performance.now() - t
      ops += r.ops
      bytes += r.bytes + end.length
    } while (busy < seconds * 1000)
    sock.end()
    const consumer = await report
    if (consumer.bytes !== bytes) throw new Error(`Z1: the consumer received ${consumer.bytes} bytes, the server sent ${bytes}`)
    return { ops, bytes, seconds: busy / 1000, latency: lat, cpuUs, consumerCpuUs: consumer.cpuUs }
  } finally {
    server.close()
  }
}

/** Z1 on the library: slice + sendTo of 1 MiB fetches from the start of the log. */
export async function serveLibrary(io: Io, root: string, seconds: number, evictAll: (() => void) | null, warm: (file: string) => void): Promise<ZeroCopyResult> {
  const log: PartitionLog = await openLog(io, z1LogDir(root), { readOnly: true })
  try {
    if (evictAll === null) for (const f of zeroCopySegments(root)) warm(f)
    const before = pathBytes(io)
    const r = await serve(seconds, evictAll, async (sock, lat) => {
      let ops = 0
      let bytes = 0
      for (let offset = log.logStartOffset; offset < log.highWatermark; ) {
        const t0 = performance.now()
        const s = await log.slice(offset, { maxBytes: Z1_FETCH_BYTES })
        const { bytes: n } = await log.sendTo(sock, s, { prefix: lengthPrefix(s.bytes) })
        recordSince(lat, t0)
        ops++
        bytes += n
        offset = s.nextOffset
      }
      return { ops, bytes }
    })
    const after = pathBytes(io)
    if (before !== null && after !== null) r.paths = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]))
    return r
  } finally {
    await log.close()
  }
}

/** io.metrics().sendTo.bytes where the library reports it (bytes per path), else null. */
function pathBytes(io: Io): Record<string, number> | null {
  const m = io.metrics() as unknown as { sendTo?: { bytes?: Record<string, number> } }
  return m.sendTo?.bytes !== undefined ? { ...m.sendTo.bytes } : null
}

/** One fetch as node:fs serves it: a range of one segment file (whole batches, ≤ 1 MiB unless one batch is larger). */
interface Range {
  file: number
  position: number
  length: number
}

/** Plans the fetches from the batch headers (baseOffset int64, batchLength int32), as the library's slice does within a segment. Not timed. */
function planRanges(segments: string[]): Range[] {
  const out: Range[] = []
  const head = Buffer.alloc(12)
  segments.forEach((file, i) => {
    const fd = fs.openSync(file, 'r')
    try {
      const size = fs.fstatSync(fd).size
      let start = 0
      let pos = 0
      while (pos + 12 <= size) {
        fs.readSync(fd, head, 0, 12, pos)
        const next = pos + 12 + head.readInt32BE(8)
        if (next > size) break
        if (next - start > Z1_FETCH_BYTES && pos > start) {
          out.push({ file: i, position: start, length: pos - start })
          start = pos
        }
        pos = next
      }
      if (pos > start) out.push({ file: i, position: start, length: pos - start })
    } finally {
      fs.closeSync(fd)
    }
  })
  return out
}

/** Z1 on node:fs as a Node user writes it: FileHandle.read into a fresh Buffer behind the length, socket.write, 'drain'. */
export async function serveNodeFs(root: string, seconds: number, evictAll: (() => void) | null, warm: (file: string) => void): Promise<ZeroCopyResult> {
  const segments = zeroCopySegments(root)
  const ranges = planRanges(segments)
  const handles = await Promise.all(segments.map((f) => fs.promises.open(f, 'r')))
  try {
    if (evictAll === null) for (const f of segments) warm(f)
    return await serve(seconds, evictAll, async (sock, lat) => {
      let bytes = 0
      for (const r of ranges) {
        const t0 = performance.now()
        const buf = Buffer.allocUnsafe(4 + r.length)
        buf.writeInt32BE(r.length)
        const { bytesRead } = await handles[r.file].read(buf, 4, r.length, r.position)
        if (bytesRead !== r.length) throw new Error(`Z1: short read of ${segments[r.file]} at ${r.position}`)
        await write(sock, buf)
        recordSince(lat, t0)
        bytes += buf.length
      }
      return { ops: ranges.length, bytes }
    })
  } finally {
    await Promise.all(handles.map((h) => h.close()))
  }
}
