// io.batch(): many operations, one submission, ordered results, linked chains
// (IOSQE_IO_LINK semantics on both backends).
import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

import { assertBytes, backends, openBackend, pattern, tmpDir } from './helpers/backends'

for (const backend of backends) {
  test(`${backend}: a batch mixing files and kinds returns results in order`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const a = await io.create(path.join(dir, 'a'))
    const b = await io.create(path.join(dir, 'b'))
    const batch = io.batch()
    for (let i = 0; i < 64; i++) batch.writeAt(i % 2 ? a : b, pattern(4096, i * 4096, i % 2), i * 4096)
    batch.syncData(a).syncData(b)
    t.is(batch.length, 66)
    const results = await batch.submit()
    t.is(results.length, 66)
    results.forEach((r, i) => t.deepEqual(r, { ok: true, bytes: i < 64 ? 4096 : 0 }, `result ${i}`))
    // Read everything back in a second batch, each read into its own buffer.
    const reads = io.batch()
    const bufs = Array.from({ length: 64 }, () => Buffer.alloc(4096))
    bufs.forEach((buf, i) => reads.readAt(i % 2 ? a : b, buf, i * 4096))
    const rr = await reads.submit()
    rr.forEach((r, i) => t.deepEqual(r, { ok: true, bytes: 4096 }, `read ${i}`))
    bufs.forEach((buf, i) => assertBytes(t, buf, pattern(4096, i * 4096, i % 2), `block ${i}`))
  })

  test(`${backend}: a linked write → syncData chain succeeds and the data is in the file`, async (t) => {
    const io = await openBackend(t, backend)
    const file = path.join(tmpDir(t), 'wal')
    const f = await io.create(file)
    const data = pattern(10_000, 0, 3)
    const r = await io.batch().writeAt(f, data, 0, { link: true }).syncData(f).submit()
    t.deepEqual(r, [{ ok: true, bytes: 10_000 }, { ok: true, bytes: 0 }])
    assertBytes(t, fs.readFileSync(file), data, 'file')
  })

  test(`${backend}: a failed link cancels the rest of its chain with ECANCELED; other chains run`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'f')
    fs.writeFileSync(file, 'abc')
    const ro = await io.open(file)
    const rw = await io.openRw(file)
    const r = await io
      .batch()
      .writeAt(ro, Buffer.from('x'), 0, { link: true }) // EBADF: read-only
      .syncData(ro, { link: true })
      .readAt(ro, Buffer.alloc(3), 0) // end of the failed chain
      .writeAt(rw, Buffer.from('Z'), 5) // a separate chain
      .submit()
    t.is(r.length, 4)
    const codes = r.map((x) => (x.ok ? `ok:${x.bytes}` : `${(x.error as NodeJS.ErrnoException).code}:${(x.error as NodeJS.ErrnoException).syscall}`))
    t.deepEqual(codes, ['EBADF:write', 'ECANCELED:fdatasync', 'ECANCELED:read', 'ok:1'])
    for (const x of r.slice(0, 3)) if (!x.ok) t.is((x.error as NodeJS.ErrnoException).path, file)
    t.is(fs.readFileSync(file, 'latin1'), 'abc\0\0Z')
  })

  test(`${backend}: batch arguments are checked when added; submit twice and oversize batches reject`, async (t) => {
    const io = await openBackend(t, backend, { queueDepth: 4 })
    const f = await io.create(path.join(tmpDir(t), 'f'))
    const batch = io.batch()
    const code = (fn: () => unknown) => {
      try {
        fn()
        return 'no error'
      } catch (e) {
        return `${(e as Error).constructor.name}:${(e as NodeJS.ErrnoException).code}`
      }
    }
    t.is(code(() => batch.readAt(f, 'x' as unknown as Buffer, 0)), 'TypeError:ERR_INVALID_ARG_TYPE')
    t.is(code(() => batch.writeAt(f, Buffer.alloc(1), -1)), 'RangeError:ERR_OUT_OF_RANGE')
    t.is(code(() => batch.writeAt(f, Buffer.alloc(1), 0, { link: 'yes' as unknown as boolean })), 'TypeError:ERR_INVALID_ARG_TYPE')
    t.is(code(() => batch.syncData({} as never)), 'TypeError:ERR_INVALID_ARG_TYPE')
    t.is(batch.length, 0)
    for (let i = 0; i < 5; i++) batch.writeAt(f, Buffer.alloc(1), i)
    const tooMany = await batch.submit().then(() => 'ok', (e: NodeJS.ErrnoException) => `${e.constructor.name}:${e.code}`)
    t.is(tooMany, 'RangeError:ERR_OUT_OF_RANGE')
    const small = io.batch().writeAt(f, Buffer.from('q'), 0)
    t.deepEqual(await small.submit(), [{ ok: true, bytes: 1 }])
    const again = await small.submit().then(() => 'ok', (e: NodeJS.ErrnoException) => e.code)
    t.is(again, 'ERR_IO_BATCH_SUBMITTED')
    t.deepEqual(await io.batch().submit(), [])
  })

  test(`${backend}: a batch on a closed file or Io rejects ERR_IO_CLOSED; a file from another Io is refused`, async (t) => {
    const io = await openBackend(t, backend)
    const other = await openBackend(t, backend)
    const dir = tmpDir(t)
    const f = await io.create(path.join(dir, 'f'))
    const g = await other.create(path.join(dir, 'g'))
    const foreign = await io.batch().writeAt(g, Buffer.from('x'), 0).submit().then(() => 'ok', (e: NodeJS.ErrnoException) => e.code)
    t.is(foreign, 'ERR_INVALID_ARG_TYPE')
    const pending = io.batch().writeAt(f, Buffer.from('x'), 0)
    await f.close()
    t.is(await pending.submit().then(() => 'ok', (e: NodeJS.ErrnoException) => e.code), 'ERR_IO_CLOSED')
    const h = await io.create(path.join(dir, 'h'))
    const later = io.batch().writeAt(h, Buffer.from('x'), 0)
    await io.close()
    t.is(await later.submit().then(() => 'ok', (e: NodeJS.ErrnoException) => e.code), 'ERR_IO_CLOSED')
  })

  test(`${backend}: batches larger than the ring and many at once all complete (queueDepth 64, sqDepth 4)`, async (t) => {
    const io = await openBackend(t, backend, { queueDepth: 64, sqDepth: 4 })
    const file = path.join(tmpDir(t), 'f')
    const f = await io.create(file)
    const batches = Array.from({ length: 40 }, (_, b) => {
      const batch = io.batch()
      for (let i = 0; i < 50; i++) batch.writeAt(f, pattern(512, (b * 50 + i) * 512, 7), (b * 50 + i) * 512, { link: i % 5 !== 4 })
      return batch.submit()
    })
    const all = (await Promise.all(batches)).flat()
    t.is(all.length, 2000)
    t.true(all.every((r) => r.ok && r.bytes === 512))
    assertBytes(t, fs.readFileSync(file), pattern(2000 * 512, 0, 7), 'file')
  })
}
