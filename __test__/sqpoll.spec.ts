// SQPOLL (issue 3, opt-in `sqpoll: true`): round trips, batches with links and close on
// both backends (the standard backend ignores it), submissions after the polling thread
// has gone to sleep (the wake-up path), and — in a child, where no other Io can blur
// the count — that the kernel's polling thread really exists only with sqpoll: true
// and is gone after close().

import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

import { assertBytes, backends, fixture, ioUringExpected, openBackend, randomBytes, settleWithin, tmpDir } from './helpers/backends'
import { cleanEnv, lastJson, runNode, summary } from './helpers/child'
import { allWhileProgressing } from './helpers/progress'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

for (const backend of backends) {
  test(`${backend}: sqpoll: true — round trips on pool and plain buffers, a linked batch, 2000 concurrent ops, close`, async (t) => {
    const io = await openBackend(t, backend, { sqpoll: true })
    t.true(io.config.sqpoll)
    const file = path.join(tmpDir(t), 'sq')
    const f = await io.create(file)
    const data = randomBytes(256 * 1024, 5)
    const pb = io.pool.acquire(data.length)
    pb.set(data)
    t.is((await f.writeAt(pb.subarray(0, data.length), 0)).bytesWritten, data.length)
    const back = Buffer.alloc(data.length)
    t.is((await f.readAt(back, 0)).bytesRead, data.length)
    assertBytes(t, back, data, 'pool write, plain read')
    io.pool.release(pb)

    const w = randomBytes(5000, 6)
    const r = await io.batch().writeAt(f, w, data.length, { link: true }).syncData(f, { link: true }).readAt(f, Buffer.alloc(5000), data.length).submit()
    t.deepEqual(r, [{ ok: true, bytes: 5000 }, { ok: true, bytes: 0 }, { ok: true, bytes: 5000 }])

    const base = data.length + 5000
    const ops = Array.from({ length: 1000 }, (_, i) => f.writeAt(randomBytes(100, 1000 + i), base + i * 100))
    // Hang detectors (no operation settled for STALL_MS), not deadlines for all 1000.
    await allWhileProgressing(ops, '1000 writes', { t })
    const reads = await allWhileProgressing(
      Array.from({ length: 1000 }, (_, i) => f.readAt(Buffer.alloc(100), base + i * 100)),
      '1000 reads',
      { t },
    )
    let bad = 0
    reads.forEach((res, i) => {
      if (res.bytesRead !== 100 || !res.buffer.equals(randomBytes(100, 1000 + i))) bad++
    })
    t.is(bad, 0)
    await f.close()
    await settleWithin(io.close(), 60_000, 'close with sqpoll')
    const disk = fs.readFileSync(file)
    assertBytes(t, disk.subarray(0, data.length), data, 'disk')
    assertBytes(t, disk.subarray(data.length, base), w, 'batched write on disk')
  })

  test(`${backend}: sqpoll: true — submissions after the polling thread went idle (150 ms pauses) still complete`, async (t) => {
    const io = await openBackend(t, backend, { sqpoll: true })
    const f = await io.create(path.join(tmpDir(t), 'idle'))
    // A missed wake-up hangs for good, so the deadlines are hang detectors, generous
    // enough for an fdatasync on a disk another process keeps busy (not measurements).
    const HANG_MS = 60_000
    for (let i = 0; i < 6; i++) {
      await sleep(150)
      const b = Buffer.alloc(4096, i + 1)
      await settleWithin(f.writeAt(b, i * 4096), HANG_MS, `write ${i} after an idle pause`)
      const back = Buffer.alloc(4096)
      const res = await settleWithin(f.readAt(back, i * 4096), HANG_MS, `read ${i} after the write`)
      t.is(res.bytesRead, 4096)
      t.true(back.every((x) => x === i + 1))
      await sleep(150)
      const batch = await settleWithin(io.batch().readAt(f, Buffer.alloc(4096), 0).syncData(f).submit(), HANG_MS, `batch ${i} after an idle pause`)
      t.true(batch.every((x) => x.ok))
    }
  })
}

// Both engine modes explicitly, so not again under npm run test:thread.
for (const engine of process.env.STREAMLINE_IO_ENGINE ? [] : (['inline', 'thread'] as const)) {
  test(`io_uring (${engine} engine): a kernel SQ polling thread exists with sqpoll: true only, and is gone after close()`, async (t) => {
    const r = await runNode([fixture('sqpoll-threads'), JSON.stringify({ dir: tmpDir(t) })], {
      env: cleanEnv({ STREAMLINE_IO_ENGINE: engine }),
      timeoutMs: 60_000,
    })
    const out = lastJson<{ fatal?: unknown; backend?: string; withSqpoll?: string[]; withoutSqpoll?: string[]; afterClose?: string[]; ok?: boolean }>(r)
    t.is(out.fatal, undefined, summary(r))
    t.is(r.code, 0, summary(r))
    if (ioUringExpected()) t.is(out.backend, 'io_uring')
    t.log(JSON.stringify(out))
    t.is(out.withSqpoll?.length, 1, `one iou-sqp thread with sqpoll: true: ${JSON.stringify(out.withSqpoll)}`)
    t.deepEqual(out.withoutSqpoll, [], 'none without it')
    t.deepEqual(out.afterClose, [], 'the polling thread ends with the ring')
    t.true(out.ok, 'the I/O of both Ios was correct')
  })
}
