// append(): positions are reserved in-process when append is called, so concurrent
// appends never overlap; openAppend does not use O_APPEND, so writeAt writes where told.

import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

import { assertBytes, backends, openBackend, prng, randomBytes, tmpDir } from './helpers/backends'
import type { AppendResult } from '../ts/types'

for (const backend of backends) {
  test(`${backend}: 1000 concurrent appends of varied sizes never overlap and concatenate in position order`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'log')
    const f = await io.openAppend(file)
    const r = prng(42)
    const bufs: Buffer[] = []
    for (let i = 0; i < 1000; i++) {
      // Mostly small records, some large ones; sizes 1 B … ~200 KiB.
      const size = r() < 0.05 ? 65536 + Math.floor(r() * 150_000) : 1 + Math.floor(r() * 5000)
      bufs.push(randomBytes(size, i + 1))
    }
    const results: AppendResult[] = await Promise.all(bufs.map((b) => f.append(b)))
    const total = bufs.reduce((s, b) => s + b.length, 0)

    results.forEach((res, i) => {
      t.is(res.bytesWritten, bufs[i].length, `append ${i}: bytesWritten`)
      t.is(res.buffer, bufs[i], `append ${i}: result.buffer is the buffer passed in`)
      t.true(Number.isSafeInteger(res.position) && res.position >= 0, `append ${i}: position ${res.position}`)
    })
    const order = results.map((res, i) => ({ pos: res.position, i })).sort((a, b) => a.pos - b.pos)
    let expectPos = 0
    let contiguous = true
    for (const { pos, i } of order) {
      if (pos !== expectPos) {
        t.fail(`append ${i} at ${pos}, expected ${expectPos}: appends overlap or leave a gap`)
        contiguous = false
        break
      }
      expectPos += bufs[i].length
    }
    if (contiguous) t.is(expectPos, total)
    t.is(await f.size(), total, 'file size = sum of appends')
    await f.close()
    const onDisk = fs.readFileSync(file)
    t.is(onDisk.length, total)
    assertBytes(t, onDisk, Buffer.concat(order.map(({ i }) => bufs[i])), 'file = appends concatenated in position order')
  })

  test(`${backend}: openAppend on an existing file appends at its end`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'existing')
    fs.writeFileSync(file, Buffer.alloc(123, 0x41))
    const f = await io.openAppend(file)
    t.is(await f.size(), 123, 'openAppend does not truncate')
    const a = await f.append(Buffer.from('hello'))
    t.is(a.position, 123)
    t.is(a.bytesWritten, 5)
    const b = await f.append(Buffer.from('world'))
    t.is(b.position, 128)
    await f.close()
    t.is(fs.readFileSync(file).toString('latin1'), 'A'.repeat(123) + 'helloworld')
  })

  test(`${backend}: openAppend creates a missing file, and sequential appends start at 0`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'new')
    const f = await io.openAppend(file)
    t.true(fs.existsSync(file))
    const positions: number[] = []
    for (const s of ['a', 'bc', 'def']) positions.push((await f.append(Buffer.from(s))).position)
    t.deepEqual(positions, [0, 1, 3])
    await f.close()
    t.is(fs.readFileSync(file, 'utf8'), 'abcdef')
  })

  test(`${backend}: writeAt on an openAppend file writes where told, not at the end`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'wa')
    fs.writeFileSync(file, '0123456789')
    const f = await io.openAppend(file)
    const w = await f.writeAt(Buffer.from('XY'), 2)
    t.is(w.bytesWritten, 2)
    t.is(await f.size(), 10, 'a writeAt inside the file does not grow it (no O_APPEND)')
    const r = Buffer.alloc(10)
    await f.readAt(r, 0)
    t.is(r.toString(), '01XY456789', 'an openAppend file is readable')
    const a = await f.append(Buffer.from('!'))
    t.is(a.position, 10)
    await f.close()
    t.is(fs.readFileSync(file, 'utf8'), '01XY456789!')
  })

  test(`${backend}: appends interleaved with reads of what was appended`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'rw')
    const f = await io.openAppend(file)
    const checks: Promise<void>[] = []
    for (let i = 0; i < 200; i++) {
      const rec = randomBytes(1 + ((i * 37) % 700), 5000 + i)
      checks.push(
        f.append(rec).then(async ({ position }) => {
          const back = Buffer.alloc(rec.length)
          const { bytesRead } = await f.readAt(back, position)
          t.is(bytesRead, rec.length, `record ${i} read back length`)
          if (!back.equals(rec)) t.fail(`record ${i} at ${position} read back differently`)
        }),
      )
    }
    await Promise.all(checks)
    await f.close()
  })
}
