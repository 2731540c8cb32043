// The fault-injecting Io (helpers/faulty-io.ts) that the WAL power-loss tests rely on:
// if its model of "durable" were wrong, those tests would prove nothing. Checked here on
// plain files, both backends: synced writes survive powerLoss(), unsynced ones are undone
// (bytes and size), a torn write keeps a 512-byte-aligned prefix, a batch sync covers only
// the writes linked before it, failures fire once with node:fs-shaped errors, and files
// renamed through node:fs keep their model. After powerLoss() everything rejects with EIO,
// including an operation that was in flight when the power went out.

import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

import { assertSystemError, backends, openBackend, pattern, tmpDir } from './helpers/backends'
import { faultyIo } from './helpers/faulty-io'

for (const backend of backends) {
  test(`${backend}: faulty Io: synced writes survive powerLoss(), unsynced writes and size changes are undone`, async (t) => {
    const dir = tmpDir(t)
    const fio = faultyIo(await openBackend(t, backend))
    t.is(fio.backend, backend === 'io_uring' ? fio.inner.backend : 'standard')
    const p = path.join(dir, 'f')
    const f = await fio.create(p)
    await f.writeAt(pattern(10_000, 0, 1), 0)
    await f.syncData()
    await f.writeAt(pattern(3000, 2000, 2), 2000) // overwrite, unsynced
    await f.writeAt(pattern(5000, 10_000, 3), 10_000) // extends, unsynced
    await f.allocate(64 * 1024) // size change, unsynced
    t.is(fs.statSync(p).size, 64 * 1024)
    const report = await fio.powerLoss()
    t.is(report.dropped, 3)
    t.deepEqual(report.files, [p])
    t.true(fs.readFileSync(p).equals(pattern(10_000, 0, 1)), 'the file is back to its synced content and size')
    // The power is off: every operation rejects with EIO and nothing reaches the disk.
    await assertSystemError(t, 'writeAt after powerLoss()', () => f.writeAt(Buffer.from('after the power went out'), 0), { code: 'EIO', path: p })
    await assertSystemError(t, 'syncData after powerLoss()', () => f.syncData(), { code: 'EIO', path: p })
    await assertSystemError(t, 'create after powerLoss()', () => fio.create(path.join(dir, 'late')), { code: 'EIO' })
    const b = await fio.batch().writeAt(f, Buffer.from('x'), 0).submit()
    t.is(!b[0].ok && (b[0].error as { code?: string }).code, 'EIO')
    t.true(fs.readFileSync(p).equals(pattern(10_000, 0, 1)))
    t.false(fs.existsSync(path.join(dir, 'late')))
    await f.close()
  })

  test(`${backend}: faulty Io: an operation in flight at powerLoss() reports EIO and is not durable`, async (t) => {
    const dir = tmpDir(t)
    const fio = faultyIo(await openBackend(t, backend))
    const p = path.join(dir, 'inflight')
    const f = await fio.create(p)
    await f.writeAt(pattern(4096, 0, 1), 0)
    const w = f.writeAt(pattern(1 << 20, 4096, 2), 4096)
    const s = f.syncData()
    await fio.powerLoss()
    await assertSystemError(t, 'write in flight at the power loss', () => w, { code: 'EIO', path: p })
    await assertSystemError(t, 'sync in flight at the power loss', () => s, { code: 'EIO', path: p })
    t.is(fs.statSync(p).size, 0, 'nothing was ever synced')
  })

  test(`${backend}: faulty Io: a never-synced new file comes back empty; an existing file keeps its content; create's truncation is unsynced`, async (t) => {
    const dir = tmpDir(t)
    const old = path.join(dir, 'old')
    fs.writeFileSync(old, pattern(777, 0, 4))
    const fio = faultyIo(await openBackend(t, backend))
    const a = await fio.create(path.join(dir, 'new'))
    await a.append(pattern(4096, 0, 5))
    const b = await fio.create(old) // truncates
    await b.writeAt(Buffer.from('x'), 0)
    await fio.powerLoss()
    t.is(fs.statSync(path.join(dir, 'new')).size, 0)
    t.true(fs.readFileSync(old).equals(pattern(777, 0, 4)))
  })

  test(`${backend}: faulty Io: tearLast keeps a prefix of the last unsynced write cut at a 512-byte file boundary`, async (t) => {
    for (let seed = 1; seed <= 12; seed++) {
      const dir = tmpDir(t)
      const fio = faultyIo(await openBackend(t, backend))
      const p = path.join(dir, 'torn')
      const f = await fio.create(p)
      await f.writeAt(pattern(1000, 0, 6), 0)
      await f.syncData()
      await f.writeAt(pattern(300, 1000, 7), 1000) // dropped
      await f.writeAt(pattern(9000, 1300, 8), 1300) // torn
      const r = await fio.powerLoss({ tearLast: true, seed })
      t.truthy(r.torn)
      const kept = r.torn!.keptBytes
      t.is((1300 + kept) % 512, 0, `seed ${seed}: the cut is on a sector boundary`)
      t.true(kept > 0 && kept < 9000)
      const disk = fs.readFileSync(p)
      t.is(disk.length, 1300 + kept)
      t.true(disk.subarray(0, 1000).equals(pattern(1000, 0, 6)))
      t.true(disk.subarray(1000, 1300).equals(Buffer.alloc(300)), 'the dropped write reads as zeros (a hole)')
      t.true(disk.subarray(1300).equals(pattern(kept, 1300, 8)))
      await fio.close()
    }
  })

  test(`${backend}: faulty Io: keepUnsynced keeps a prefix of the unsynced writes in completion order`, async (t) => {
    const dir = tmpDir(t)
    const fio = faultyIo(await openBackend(t, backend))
    const p = path.join(dir, 'k')
    const f = await fio.create(p)
    for (let i = 0; i < 5; i++) await f.writeAt(pattern(100, i * 100, 9), i * 100)
    const r = await fio.powerLoss({ keepUnsynced: 3 })
    t.is(r.kept, 3)
    t.true(fs.readFileSync(p).equals(pattern(300, 0, 9)))
  })

  test(`${backend}: faulty Io: in a batch a syncData covers the writes linked before it, not writes of other chains`, async (t) => {
    const dir = tmpDir(t)
    const fio = faultyIo(await openBackend(t, backend))
    const p = path.join(dir, 'b')
    const f = await fio.create(p)
    await f.writeAt(pattern(512, 0, 1), 0) // completed before the batch: covered by its sync
    const res = await fio
      .batch()
      .writeAt(f, pattern(512, 512, 2), 512, { link: true })
      .syncData(f)
      .writeAt(f, pattern(512, 1024, 3), 1024) // another chain: not covered
      .submit()
    t.true(res.every((r) => r.ok))
    t.is(fs.statSync(p).size, 1536)
    await fio.powerLoss()
    t.true(fs.readFileSync(p).equals(Buffer.concat([pattern(512, 0, 1), pattern(512, 512, 2)])))
  })

  test(`${backend}: faulty Io: failNext makes one sync / write fail with a node:fs-shaped errno; a failed sync covers nothing`, async (t) => {
    const dir = tmpDir(t)
    const fio = faultyIo(await openBackend(t, backend))
    const p = path.join(dir, 'e')
    const f = await fio.create(p)
    await f.writeAt(pattern(4096, 0, 1), 0)
    fio.failNext('sync', 'EIO')
    await assertSystemError(t, 'injected fdatasync EIO', () => f.syncData(), { code: 'EIO', path: p, syscall: 'fdatasync' })
    fio.failNext('write', 'ENOSPC', { afterBytes: 1000 })
    await assertSystemError(t, 'injected short write ENOSPC', () => f.writeAt(pattern(4096, 4096, 2), 4096), { code: 'ENOSPC', path: p, syscall: 'write' })
    t.is(fs.statSync(p).size, 4096 + 1000, 'the short write reached the file')
    // In a batch: the sync fails, the linked op after it is cancelled.
    fio.failNext('syncData', 'EIO')
    const res = await fio.batch().writeAt(f, Buffer.from('abc'), 0, { link: true }).syncData(f, { link: true }).writeAt(f, Buffer.from('def'), 3).submit()
    t.true(res[0].ok)
    t.false(res[1].ok)
    t.is(!res[1].ok && (res[1].error as { code?: string }).code, 'EIO')
    t.is(!res[2].ok && (res[2].error as { code?: string }).code, 'ECANCELED')
    t.is(fio.stats.injected, 3)
    t.is(fio.armedFaults, 0)
    await f.syncData() // no fault left
    await fio.powerLoss()
    // The last sync covered everything that had completed: the failed syncs did not matter.
    const disk = fs.readFileSync(p)
    t.is(disk.length, 5096)
    t.true(disk.subarray(0, 3).equals(Buffer.from('abc')))
  })

  test(`${backend}: faulty Io: a file renamed through node:fs keeps its model; an unlinked one is left alone`, async (t) => {
    const dir = tmpDir(t)
    const fio = faultyIo(await openBackend(t, backend))
    const a = path.join(dir, 'a.tmp')
    const gone = path.join(dir, 'gone')
    const f = await fio.create(a)
    await f.writeAt(pattern(2048, 0, 1), 0)
    await f.syncData()
    await f.writeAt(pattern(2048, 2048, 2), 2048)
    fs.renameSync(a, path.join(dir, 'a.final'))
    const g = await fio.create(gone)
    await g.writeAt(Buffer.from('x'), 0)
    fs.unlinkSync(gone)
    const r = await fio.powerLoss()
    t.deepEqual(r.files, [path.join(dir, 'a.final')])
    t.true(fs.readFileSync(path.join(dir, 'a.final')).equals(pattern(2048, 0, 1)))
    t.false(fs.existsSync(gone))
  })
}
