// syncData / syncAll / allocate / truncate / size against what node:fs sees on disk.

import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

import { assertBytes, backends, openBackend, pattern, tmpDir } from './helpers/backends'

const MiB = 1024 * 1024

for (const backend of backends) {
  test(`${backend}: size() follows writes and matches fstat`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 's')
    const f = await io.create(file)
    t.is(await f.size(), 0, 'a created file is empty')
    await f.writeAt(Buffer.alloc(10), 0)
    t.is(await f.size(), 10)
    await f.writeAt(Buffer.alloc(1), 5 * MiB)
    t.is(await f.size(), 5 * MiB + 1)
    t.is(fs.statSync(file).size, 5 * MiB + 1)
    await f.writeAt(Buffer.alloc(3), 1)
    t.is(await f.size(), 5 * MiB + 1, 'a write inside the file does not change its size')
    fs.appendFileSync(file, 'xyz')
    t.is(await f.size(), 5 * MiB + 4, 'size() asks the file system, it does not cache')
    await f.close()
  })

  test(`${backend}: syncData and syncAll resolve and the data is on disk`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'sync')
    const f = await io.create(file)
    const data = pattern(64 * 1024 + 5, 0, 1)
    await f.writeAt(data, 0)
    t.is(await f.syncData(), undefined)
    t.is(await f.syncAll(), undefined)
    // Concurrent syncs with concurrent writes all settle.
    const ops: Promise<unknown>[] = []
    for (let i = 0; i < 50; i++) {
      ops.push(f.writeAt(pattern(512, i * 512, 2), i * 512))
      ops.push(i % 2 ? f.syncData() : f.syncAll())
    }
    await Promise.all(ops)
    await f.syncData()
    await f.close()
    const disk = fs.readFileSync(file)
    assertBytes(t, disk.subarray(0, 50 * 512), pattern(50 * 512, 0, 2), 'rewritten head')
    assertBytes(t, disk.subarray(50 * 512), data.subarray(50 * 512), 'untouched tail')
  })

  test(`${backend}: syncData/syncAll on a read-only file resolve`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'ro')
    fs.writeFileSync(file, 'x')
    const f = await io.open(file)
    await t.notThrowsAsync(f.syncData())
    await t.notThrowsAsync(f.syncAll())
    await f.close()
  })

  test(`${backend}: allocate(len) grows an empty file to len, reading zeros`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'alloc')
    const f = await io.create(file)
    t.is(await f.allocate(MiB), undefined)
    t.is(await f.size(), MiB)
    t.is(fs.statSync(file).size, MiB)
    // fallocate mode 0 reserves blocks; a sparse ftruncate would not (a WAL relies on it
    // to meet ENOSPC at preallocation, not at a later write).
    const st = fs.statSync(file)
    t.true(st.blocks * 512 >= MiB, `allocate reserved ${st.blocks * 512} bytes of blocks for 1 MiB (sparse?)`)
    const b = Buffer.alloc(MiB, 0x77)
    t.is((await f.readAt(b, 0)).bytesRead, MiB)
    assertBytes(t, b, Buffer.alloc(MiB), 'allocated space reads as zeros')
    await f.close()
  })

  test(`${backend}: allocate(len, offset) grows the size to offset + len and keeps contents`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'alloc2')
    const f = await io.create(file)
    const head = pattern(10_000, 0, 4)
    await f.writeAt(head, 0)
    await f.allocate(4096, 3 * MiB + 1)
    t.is(await f.size(), 3 * MiB + 1 + 4096)
    assertBytes(t, fs.readFileSync(file).subarray(0, 10_000), head, 'data before the allocated range is kept')
    // Allocating inside the file changes neither size nor data.
    await f.allocate(5000, 100)
    t.is(await f.size(), 3 * MiB + 1 + 4096)
    assertBytes(t, fs.readFileSync(file).subarray(0, 10_000), head, 'allocate inside the file keeps data')
    // st_blocks shows real allocation (fallocate mode 0 reserves blocks): the 10,000
    // written bytes (3 blocks) plus the 4096 allocated at 3 MiB + 1 (2 blocks: unaligned).
    const st = fs.statSync(file)
    t.true(st.blocks * 512 >= 12288 + 8192, `blocks allocated: ${st.blocks * 512} bytes`)
    await f.close()
  })

  test(`${backend}: truncate shrinks and grows; grown space reads as zeros`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'trunc')
    const f = await io.create(file)
    const data = pattern(100_000, 0, 5)
    await f.writeAt(data, 0)
    t.is(await f.truncate(1234), undefined)
    t.is(await f.size(), 1234)
    t.is(fs.statSync(file).size, 1234)
    const b = Buffer.alloc(5000)
    t.is((await f.readAt(b, 0)).bytesRead, 1234, 'reads stop at the new EOF')
    assertBytes(t, b.subarray(0, 1234), data.subarray(0, 1234), 'kept prefix')

    await f.truncate(2 * MiB + 3)
    t.is(await f.size(), 2 * MiB + 3)
    const g = Buffer.alloc(2 * MiB + 3, 0x33)
    t.is((await f.readAt(g, 0)).bytesRead, 2 * MiB + 3)
    assertBytes(t, g.subarray(0, 1234), data.subarray(0, 1234), 'prefix after growing')
    assertBytes(t, g.subarray(1234), Buffer.alloc(2 * MiB + 3 - 1234), 'grown space is zeros (old bytes are gone)')

    await f.truncate(0)
    t.is(await f.size(), 0)
    t.is((await f.readAt(Buffer.alloc(10), 0)).bytesRead, 0)
    await f.close()
  })

  test(`${backend}: truncate to a size past 4 GiB (sparse) reports it exactly`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'big')
    const f = await io.create(file)
    await f.truncate(2 ** 32 + 7)
    t.is(await f.size(), 2 ** 32 + 7)
    t.is(fs.statSync(file).size, 2 ** 32 + 7)
    await f.writeAt(Buffer.from('tail'), 2 ** 32 + 7)
    t.is(await f.size(), 2 ** 32 + 11)
    await f.close()
  })
}
