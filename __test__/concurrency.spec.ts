// 10,000 concurrent random reads and writes on one file, contents verified, with far
// more operations in flight than queueDepth (later ones must wait, not fail).

import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

import { assertBytes, backends, fixture, ioUringExpected, openBackend, pattern, prng, tmpDir } from './helpers/backends'
import { allSettledWhileProgressing } from './helpers/progress'
import { cleanEnv, lastJson, runNode, summary } from './helpers/child'
import type { IoConfig } from '../ts/types'

const MiB = 1024 * 1024
const READ_REGION = 8 * MiB

interface Variant {
  name: string
  config: Partial<IoConfig>
  ops: number
}

const variants: Variant[] = [
  { name: 'default config', config: {}, ops: 10_000 },
  { name: 'queueDepth 8', config: { queueDepth: 8 }, ops: 10_000 },
  { name: 'ioWorkers 2', config: { ioWorkers: 2 }, ops: 10_000 },
  { name: 'sqDepth 2 < queueDepth 64', config: { sqDepth: 2, queueDepth: 64 }, ops: 10_000 },
  { name: 'queueDepth 1', config: { queueDepth: 1 }, ops: 2_000 },
  { name: 'sqDepth 1', config: { sqDepth: 1, queueDepth: 32 }, ops: 2_000 },
]

async function run(t: import('ava').ExecutionContext, backend: 'io_uring' | 'standard', v: Variant, seed: number): Promise<void> {
  const io = await openBackend(t, backend, v.config)
  for (const [k, val] of Object.entries(v.config)) {
    t.deepEqual((io.config as unknown as Record<string, unknown>)[k], val, `io.config.${k}`)
  }
  const dir = tmpDir(t)
  const file = path.join(dir, 'c')
  const base = pattern(READ_REGION, 0, 1)
  fs.writeFileSync(file, base)
  const f = await io.openRw(file)
  const r = prng(seed)

  // Writes: non-overlapping random-length chunks laid after the read region, issued in
  // random order; each is read back once its write resolves.
  const nWrites = v.ops / 2
  const writes: Array<{ pos: number; data: Buffer }> = []
  let pos = READ_REGION
  for (let i = 0; i < nWrites; i++) {
    const len = 1 + Math.floor(r() * 8192)
    writes.push({ pos, data: pattern(len, pos, 2) })
    pos += len
  }
  const end = pos
  type Op = { kind: 'r'; pos: number; len: number } | { kind: 'w'; i: number }
  const ops: Op[] = []
  for (let i = 0; i < nWrites; i++) ops.push({ kind: 'w', i })
  for (let i = 0; i < v.ops - nWrites; i++) {
    const len = 1 + Math.floor(r() * 16384)
    ops.push({ kind: 'r', pos: Math.floor(r() * (READ_REGION - len)), len })
  }
  for (let i = ops.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1))
    ;[ops[i], ops[j]] = [ops[j], ops[i]]
  }

  let badReads = 0
  let badReadBacks = 0
  const firstBad: string[] = []
  // Every operation is started in this one synchronous loop: all 10,000 are in flight.
  const promises = ops.map(async (op) => {
    if (op.kind === 'r') {
      const b = Buffer.alloc(op.len)
      const res = await f.readAt(b, op.pos)
      if (res.bytesRead !== op.len || res.buffer !== b || !b.equals(base.subarray(op.pos, op.pos + op.len))) {
        badReads++
        if (firstBad.length < 5) firstBad.push(`read ${op.len} @ ${op.pos}: bytesRead ${res.bytesRead}`)
      }
    } else {
      const w = writes[op.i]
      const res = await f.writeAt(w.data, w.pos)
      if (res.bytesWritten !== w.data.length || res.buffer !== w.data) {
        firstBad.push(`write ${w.data.length} @ ${w.pos}: bytesWritten ${res.bytesWritten}`)
      }
      const back = Buffer.alloc(w.data.length)
      const rb = await f.readAt(back, w.pos)
      if (rb.bytesRead !== w.data.length || !back.equals(w.data)) {
        badReadBacks++
        if (firstBad.length < 5) firstBad.push(`read-back ${w.data.length} @ ${w.pos}: bytesRead ${rb.bytesRead}`)
      }
    }
  })
  // A hang detector, not a deadline: it fails only when none of them settled for
  // STALL_MS (a lost completion), however long a starved machine takes for them all.
  const settled = await allSettledWhileProgressing(promises, `${v.ops} concurrent operations`, { t })
  const rejected = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected')
  t.is(rejected.length, 0, `rejected operations, first: ${rejected[0] ? String((rejected[0].reason as Error)?.stack ?? rejected[0].reason) : ''}`)
  t.is(badReads, 0, `reads with wrong contents: ${firstBad.join('; ')}`)
  t.is(badReadBacks, 0, `read-backs with wrong contents: ${firstBad.join('; ')}`)
  t.is(await f.size(), end)
  await f.close()

  const disk = fs.readFileSync(file)
  t.is(disk.length, end)
  assertBytes(t, disk.subarray(0, READ_REGION), base, 'read region unchanged')
  assertBytes(t, disk.subarray(READ_REGION), pattern(end - READ_REGION, READ_REGION, 2), 'written region')
}

for (const backend of backends) {
  for (const [vi, v] of variants.entries()) {
    test(`${backend}: ${v.ops} concurrent random reads/writes on one file, verified (${v.name})`, async (t) => {
      await run(t, backend, v, 1000 + vi)
    })
  }

  test(`${backend}: concurrent I/O on 8 files at once with ioWorkers 2 and queueDepth 16`, async (t) => {
    const io = await openBackend(t, backend, { ioWorkers: 2, queueDepth: 16 })
    const dir = tmpDir(t)
    const results = await Promise.all(
      Array.from({ length: 8 }, async (_, fi) => {
        const file = path.join(dir, `m${fi}`)
        const f = await io.create(file)
        const chunk = 4096
        const writes = Array.from({ length: 256 }, (_, i) => f.writeAt(pattern(chunk, i * chunk, fi), i * chunk))
        await Promise.all(writes)
        const reads = await Promise.all(
          Array.from({ length: 256 }, async (_, i) => {
            const b = Buffer.alloc(chunk)
            await f.readAt(b, i * chunk)
            return b.equals(pattern(chunk, i * chunk, fi))
          }),
        )
        await f.close()
        return reads.every(Boolean) && fs.readFileSync(file).equals(pattern(256 * chunk, 0, fi))
      }),
    )
    t.deepEqual(results, Array(8).fill(true))
  })
}

for (const backend of backends) {
  test(`${backend}: 3000 files open at once on one Io (more than any fixed-file table), each written and read`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const N = 3000
    const files = await Promise.all(Array.from({ length: N }, (_, i) => io.create(path.join(dir, `f${i}`))))
    await Promise.all(files.map((f, i) => f.writeAt(pattern(100, i, 4), 0)))
    const ok = await Promise.all(
      files.map(async (f, i) => {
        const b = Buffer.alloc(100)
        const r = await f.readAt(b, 0)
        return r.bytesRead === 100 && b.equals(pattern(100, i, 4))
      }),
    )
    t.is(ok.filter((x) => !x).length, 0, 'every file reads back its own bytes')
    await Promise.all(files.map((f) => f.close()))
    const wrong = Array.from({ length: N }, (_, i) => i).filter((i) => !fs.readFileSync(path.join(dir, `f${i}`)).equals(pattern(100, i, 4)))
    t.deepEqual(wrong.slice(0, 5), [], 'on disk, every file holds its own bytes')
  })
}

for (const backend of backends) {
  // In a child of its own (see the fixture): there the timer is still pending when the
  // loop starts. The child's limit (100 × the timer) ends a starving loop; runNode's
  // timeout is only a hang detector for the child as a whole.
  test(`${backend}: a loop of awaited cached reads lets timers and I/O run (no microtask starvation)`, async (t) => {
    const engine = process.env.STREAMLINE_IO_ENGINE
    const r = await runNode([fixture('starvation'), JSON.stringify({ enableIoUring: backend === 'io_uring', dir: tmpDir(t) })], {
      env: cleanEnv(engine ? { STREAMLINE_IO_ENGINE: engine } : {}),
      timeoutMs: 90_000,
    })
    const out = lastJson<{ fatal?: unknown; backend?: string; timerFired?: boolean; reads?: number; elapsedMs?: number; timerMs?: number; limitMs?: number }>(r)
    t.is(out.fatal, undefined, summary(r))
    t.is(r.code, 0, summary(r))
    if (backend === 'io_uring' && ioUringExpected()) t.is(out.backend, 'io_uring')
    t.log(`${out.reads} awaited reads in ${out.elapsedMs} ms; the ${out.timerMs} ms timer ${out.timerFired ? 'fired' : 'never fired'}`)
    t.true(out.timerFired, `the timer never fired during ${out.elapsedMs} ms (limit ${out.limitMs} ms) of awaited cached reads (${out.reads} reads): timers are starved`)
    t.true(out.reads! > 0)
  })
}
