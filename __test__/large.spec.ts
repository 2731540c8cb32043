// Huge lengths: one buffer over 2 GiB. Linux transfers at most 0x7ffff000 bytes per
// read/write call, so these only pass if the library continues short transfers, and
// they catch lengths squeezed through 32-bit integers. Serial: each needs ~4 GiB.

import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

import { assertBytes, backends, fsRead, openBackend, pattern, tmpDir } from './helpers/backends'

const HUGE = 2 ** 31 + 4096 + 3
const KERNEL_MAX_RW = 0x7ffff000

for (const backend of backends) {
  test.serial(`${backend}: a ${HUGE}-byte buffer reads a small file up to EOF`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'small')
    const content = pattern(10_000, 0, 9)
    fs.writeFileSync(file, content)
    const f = await io.open(file)
    const big = Buffer.allocUnsafe(HUGE)
    const r = await f.readAt(big, 5)
    t.is(r.bytesRead, 10_000 - 5)
    t.is(r.buffer, big)
    assertBytes(t, big.subarray(0, 9995), content.subarray(5), 'bytes read')
    await f.close()
  })

  test.serial(`${backend}: writeAt of one ${HUGE}-byte buffer writes it whole (short writes continued), readAt reads it whole`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'huge')
    const f = await io.create(file)
    try {
      // A period of 4099 bytes: any misplaced or repeated chunk shows.
      const data = Buffer.allocUnsafe(HUGE).fill(pattern(4099, 0, 3))
      const w = await f.writeAt(data, 1)
      t.is(w.bytesWritten, HUGE)
      t.is(await f.size(), HUGE + 1)
      // Around the kernel's per-call limit, and the end.
      for (const at of [0, KERNEL_MAX_RW - 7, 2 ** 31 - 3, HUGE - 100]) {
        assertBytes(t, fsRead(file, at + 1, 200).subarray(0, Math.min(200, HUGE - at)), data.subarray(at, at + 200), `node:fs view at ${at}`)
      }
      const back = Buffer.allocUnsafe(HUGE)
      const r = await f.readAt(back, 1)
      t.is(r.bytesRead, HUGE)
      t.true(back.equals(data), 'the whole buffer reads back equal')
    } finally {
      await f.close()
      fs.rmSync(file, { force: true })
    }
  })
}
