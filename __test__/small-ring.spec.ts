// A ring of 4 entries under 10,000 operations (issue 3, overflow paths): single reads
// and writes on pool and plain buffers, and batches mixing two files, kinds and linked
// write → syncData chains — 200 of them in flight at a time (several hundred
// operations), so far more is waiting than the SQ (4) or queueDepth (64) holds, and
// with queueDepth 1024 hundreds of operations pass through 4 SQ entries. Every byte is checked, and on io_uring every
// read/write on a pool buffer must have been fixed I/O. (batch.spec.ts covers 2,000
// linked writes at sqDepth 4; concurrency.spec.ts 10,000 single operations at
// sqDepth 2 on plain buffers.)

import fs from 'node:fs'
import path from 'node:path'
import test, { type ExecutionContext } from 'ava'

import { assertBytes, backends, openBackend, prng, randomBytes, tmpDir, type BackendName } from './helpers/backends'
import { Progress, settleWhileProgressing } from './helpers/progress'
import type { AsyncFile, BatchResult, IoConfig } from '../ts/types'

const KiB = 1024
const REGION = 2 * 1024 * KiB

type Single = { kind: 'read' | 'write'; file: number; pos: number; len: number; pooled: boolean; seed: number }
type Batched = { kind: 'read' | 'write'; file: number; pos: number; len: number; pooled: boolean; seed: number; link: boolean } | { kind: 'sync'; file: number; link: boolean }
type Work = { type: 'single'; op: Single } | { type: 'batch'; ops: Batched[] }

async function run(t: ExecutionContext, backend: BackendName, config: Partial<IoConfig>, total: number, seed: number): Promise<void> {
  const io = await openBackend(t, backend, config)
  t.is(io.config.sqDepth, 4)
  const dir = tmpDir(t)
  const names = ['a', 'b'].map((n) => path.join(dir, n))
  const bases = names.map((n, i) => {
    const b = randomBytes(REGION, seed * 10 + i)
    fs.writeFileSync(n, b)
    return b
  })
  const files: AsyncFile[] = await Promise.all(names.map((n) => io.openRw(n)))
  const r = prng(seed)
  const ends = [REGION, REGION]
  const next = (file: number, len: number) => {
    const pos = ends[file]
    ends[file] += len
    return pos
  }
  const op = (): Single => {
    const file = r() < 0.5 ? 0 : 1
    const len = 1 + Math.floor(r() * 16 * KiB)
    const pooled = r() < 0.7
    if (r() < 0.5) return { kind: 'read', file, pos: Math.floor(r() * (REGION - len)), len, pooled, seed: 0 }
    return { kind: 'write', file, pos: next(file, len), len, pooled, seed: Math.floor(r() * 2 ** 31) }
  }
  const work: Work[] = []
  let count = 0
  let syncs = 0
  while (count < total) {
    if (r() < 0.9) {
      work.push({ type: 'single', op: op() })
      count++
      continue
    }
    // A batch of 2–24 operations (more than the SQ holds), with linked write → syncData
    // chains in it (a few: fdatasync is slow on a real disk).
    const n = Math.min(total - count, 2 + Math.floor(r() * 23))
    const ops: Batched[] = []
    for (let i = 0; i < n; i++) {
      if (i < n - 1 && syncs < 20 && r() < 0.1) {
        const w = op()
        const file = w.file
        ops.push({ ...w, kind: 'write', pos: next(file, w.len), link: true }, { kind: 'sync', file, link: false })
        syncs++
        i++
      } else {
        ops.push({ ...op(), link: r() < 0.2 })
      }
    }
    work.push({ type: 'batch', ops })
    count += ops.length
  }
  const expected = ends.map((end, i) => {
    const e = Buffer.alloc(end)
    bases[i].copy(e)
    return e
  })
  const dataOf = (o: { len: number; seed: number }) => randomBytes(o.len, o.seed)
  for (const w of work) {
    const list = w.type === 'single' ? [w.op] : w.ops
    for (const o of list) if (o.kind === 'write') dataOf(o).copy(expected[o.file], o.pos)
  }

  const hits0 = io.metrics().registeredBufferHits
  let pooledRw = 0
  const bad: string[] = []
  const bufferFor = (o: { len: number; pooled: boolean }): { buf: Buffer; done: () => void } => {
    if (!o.pooled) return { buf: Buffer.alloc(o.len), done: () => {} }
    pooledRw++
    const whole = io.pool.acquire(o.len)
    // Sometimes a view that does not start at the pool buffer's first byte.
    const start = (o.len & 7) === 0 ? 0 : Math.min(whole.length - o.len, o.len & 0xfff)
    return { buf: whole.subarray(start, start + o.len), done: () => io.pool.release(whole) }
  }
  const checkRead = (o: { file: number; pos: number; len: number }, buf: Buffer, bytes: number, what: string) => {
    if (bytes !== o.len || !buf.equals(bases[o.file].subarray(o.pos, o.pos + o.len))) bad.push(`${what}: read ${o.len} @ ${o.pos} of file ${o.file}: ${bytes} bytes`)
  }

  // Operations started and not completed, sampled as work is issued.
  let maxInFlight = 0
  const sample = (wi: number) => {
    if (wi % 8 === 0) queueMicrotask(() => (maxInFlight = Math.max(maxInFlight, io.metrics().inFlight)))
  }
  const one = async (w: Work, wi: number): Promise<void> => {
    sample(wi)
    if (w.type === 'single') {
      const o = w.op
      const { buf, done } = bufferFor(o)
      try {
        if (o.kind === 'read') {
          const res = await files[o.file].readAt(buf, o.pos)
          checkRead(o, buf, res.bytesRead, `single ${wi}`)
        } else {
          buf.set(dataOf(o))
          const res = await files[o.file].writeAt(buf, o.pos)
          if (res.bytesWritten !== o.len) bad.push(`single ${wi}: wrote ${res.bytesWritten} of ${o.len}`)
        }
      } finally {
        done()
      }
      return
    }
    const batch = io.batch()
    const held: Array<{ buf: Buffer; done: () => void } | null> = []
    for (const o of w.ops) {
      if (o.kind === 'sync') {
        batch.syncData(files[o.file], { link: o.link })
        held.push(null)
        continue
      }
      const h = bufferFor(o)
      held.push(h)
      if (o.kind === 'read') batch.readAt(files[o.file], h.buf, o.pos, { link: o.link })
      else {
        h.buf.set(dataOf(o))
        batch.writeAt(files[o.file], h.buf, o.pos, { link: o.link })
      }
    }
    let results: BatchResult[]
    try {
      results = await batch.submit()
    } finally {
      for (const h of held) h?.done()
    }
    if (results.length !== w.ops.length) bad.push(`batch ${wi}: ${results.length} results for ${w.ops.length} operations`)
    w.ops.forEach((o, i) => {
      const res = results[i]
      if (!res?.ok) {
        bad.push(`batch ${wi} op ${i} (${o.kind}): ${res ? String(res.error) : 'missing'}`)
        return
      }
      if (o.kind === 'sync') {
        if (res.bytes !== 0) bad.push(`batch ${wi} op ${i}: syncData bytes ${res.bytes}`)
      } else if (o.kind === 'read') {
        checkRead(o, held[i]!.buf, res.bytes, `batch ${wi} op ${i}`)
      } else if (res.bytes !== o.len) bad.push(`batch ${wi} op ${i}: wrote ${res.bytes} of ${o.len}`)
    })
  }
  // 200 work items at a time: every pool buffer in use fits the registered-buffer table
  // (bufferPoolSize 128: 768 slots), so every pooled read/write must be fixed I/O.
  let nextWork = 0
  // A hang detector, not a deadline: it fails only when no work item settled for
  // STALL_MS (a lost completion), however long a starved machine takes for them all.
  const progress = new Progress(work.length)
  const promises = Array.from({ length: 200 }, async () => {
    while (nextWork < work.length) {
      const wi = nextWork++
      await progress.track(one(work[wi], wi))
    }
  })
  const settled = await settleWhileProgressing(Promise.allSettled(promises), progress, `${total} operations (${work.length} work items)`, { t })
  const rejected = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected')
  t.is(rejected.length, 0, `rejected: ${rejected.slice(0, 3).map((s) => String((s.reason as Error)?.stack ?? s.reason)).join('\n')}`)
  t.deepEqual(bad.slice(0, 5), [], `${bad.length} operations went wrong`)
  t.is(io.pool.stats().inUse, 0)
  const hits = io.metrics().registeredBufferHits - hits0
  const batches = work.filter((w) => w.type === 'batch').length
  t.log(`${backend} ${JSON.stringify(config)}: ${count} operations (${batches} batches, ${syncs} linked write→syncData), ${pooledRw} on pool buffers, registeredBufferHits ${hits}, in flight up to ${maxInFlight} (sampled)`)
  if (io.backend === 'io_uring') {
    const s = io.pool.stats()
    t.is(s.registrationFailures, 0, String(s.lastRegistrationError))
    t.is(hits, pooledRw, 'every read/write on a pool buffer was fixed I/O')
  } else t.is(hits, 0)
  t.is(io.metrics().inFlight, 0)
  t.true(maxInFlight > 4, `more operations in flight than SQ entries (sampled ${maxInFlight})`)
  for (const f of files) await f.close()
  names.forEach((n, i) => assertBytes(t, fs.readFileSync(n), expected[i], `file ${n}`))
}

for (const backend of backends) {
  test(`${backend}: sqDepth 4, queueDepth 64: 10,000 mixed reads/writes/batches (pool and plain buffers), 200 in flight at a time, verified`, async (t) => {
    await run(t, backend, { sqDepth: 4, queueDepth: 64, bufferPoolSize: 128 }, 10_000, 41)
  })
  test(`${backend}: sqDepth 4, queueDepth 1024: 10,000 mixed reads/writes/batches (pool and plain buffers), 200 in flight at a time, verified`, async (t) => {
    await run(t, backend, { sqDepth: 4, queueDepth: 1024, bufferPoolSize: 128 }, 10_000, 42)
  })
}
