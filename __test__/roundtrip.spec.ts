// Round trips through writeAt/readAt at many offsets and sizes, end-of-file reads, and
// the ownership rule: the buffer in a result is the very object that was passed in.

import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

import {
  assertBytes,
  backends,
  fsRead,
  openBackend,
  pattern,
  randomBytes,
  tmpDir,
} from './helpers/backends'

const KiB = 1024
const MiB = 1024 * KiB

const sizes = [1, 7, 511, 512, 513, 4095, 4096, 4097, 65535, 65536, 65537, MiB - 1, MiB, MiB + 1, 8 * MiB]
// Unaligned offsets, offsets past 4 GiB (32-bit truncation) and 1 TiB (sparse).
const offsets = [0, 1, 511, 4096, 4097, 1_000_003, 2 ** 32 + 5, 2 ** 40 + 3]

for (const backend of backends) {
  test(`${backend}: writeAt/readAt round trip, sizes 1 B … 8 MiB at unaligned and >4 GiB offsets`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    await Promise.all(
      offsets.map(async (offset, oi) => {
        const file = path.join(dir, `rt-${oi}`)
        const f = await io.create(file)
        for (const [si, size] of sizes.entries()) {
          const data = randomBytes(size, oi * 1000 + si + 1)
          const w = await f.writeAt(data, offset)
          t.is(w.bytesWritten, size, `writeAt ${size} @ ${offset}: bytesWritten`)
          t.is(w.buffer, data, `writeAt ${size} @ ${offset}: result.buffer is the buffer passed in`)
          const back = Buffer.alloc(size, 0xee)
          const r = await f.readAt(back, offset)
          t.is(r.bytesRead, size, `readAt ${size} @ ${offset}: bytesRead`)
          t.is(r.buffer, back, `readAt ${size} @ ${offset}: result.buffer is the buffer passed in`)
          assertBytes(t, back, data, `readAt ${size} @ ${offset}`)
          // The independent witness: node:fs sees the same bytes.
          assertBytes(t, fsRead(file, offset, size), data, `node:fs view of ${size} @ ${offset}`)
          t.is(await f.size(), offset + Math.max(...sizes.slice(0, si + 1)), `size after ${size} @ ${offset}`)
        }
        await f.close()
      }),
    )
  })

  test(`${backend}: readAt sees bytes written by node:fs, at unaligned offsets`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'witness')
    const content = pattern(3 * MiB + 333, 0, 7)
    fs.writeFileSync(file, content)
    const f = await io.open(file)
    for (const [off, len] of [
      [0, 1],
      [1, 4095],
      [4095, 2],
      [12345, 65537],
      [MiB - 3, MiB + 7],
      [3 * MiB, 333],
    ] as const) {
      const b = Buffer.alloc(len)
      const r = await f.readAt(b, off)
      t.is(r.bytesRead, len, `readAt ${len} @ ${off}`)
      assertBytes(t, b, content.subarray(off, off + len), `readAt ${len} @ ${off}`)
    }
    await f.close()
  })

  test(`${backend}: a subarray reads and writes exactly its own range`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'sub')
    const f = await io.create(file)
    const big = Buffer.alloc(100, 0x11)
    big.fill(0x22, 10, 20)
    const w = await f.writeAt(big.subarray(10, 20), 5)
    t.is(w.bytesWritten, 10)
    t.is(await f.size(), 15, 'only the 10 bytes of the subarray were written, at 5')
    assertBytes(t, fs.readFileSync(file), Buffer.concat([Buffer.alloc(5), Buffer.alloc(10, 0x22)]), 'file after subarray write')

    const target = Buffer.alloc(64, 0x99)
    const view = target.subarray(20, 30)
    const r = await f.readAt(view, 5)
    t.is(r.bytesRead, 10)
    t.is(r.buffer, view, 'result.buffer is the subarray passed in')
    assertBytes(t, target.subarray(0, 20), Buffer.alloc(20, 0x99), 'bytes before the subarray untouched')
    assertBytes(t, target.subarray(20, 30), Buffer.alloc(10, 0x22), 'subarray filled')
    assertBytes(t, target.subarray(30), Buffer.alloc(34, 0x99), 'bytes after the subarray untouched')
    await f.close()
  })

  test(`${backend}: a plain Uint8Array is accepted for readAt and writeAt`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'u8')
    const f = await io.create(file)
    const data = new Uint8Array([1, 2, 3, 4, 5, 6, 7])
    const w = await f.writeAt(data as Buffer, 3)
    t.is(w.bytesWritten, 7)
    t.is(w.buffer as Uint8Array, data)
    const back = new Uint8Array(7)
    const r = await f.readAt(back as Buffer, 3)
    t.is(r.bytesRead, 7)
    t.is(r.buffer as Uint8Array, back)
    t.deepEqual(Array.from(back), [1, 2, 3, 4, 5, 6, 7])
    await f.close()
  })

  test(`${backend}: zero-length reads and writes complete with 0 bytes`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'zero')
    fs.writeFileSync(file, 'abc')
    const f = await io.openRw(file)
    const empty = Buffer.alloc(0)
    const w = await f.writeAt(empty, 1)
    t.is(w.bytesWritten, 0)
    t.is(w.buffer, empty)
    const r = await f.readAt(Buffer.alloc(0), 0)
    t.is(r.bytesRead, 0)
    const far = await f.writeAt(Buffer.alloc(0), 10_000)
    t.is(far.bytesWritten, 0)
    t.is(fs.readFileSync(file, 'utf8'), 'abc', 'zero-length writes change nothing, not even the size')
    await f.close()
  })

  test(`${backend}: readAt at end of file: short reads, 0 past EOF, the rest of the buffer untouched`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'eof')
    const content = pattern(1000, 0, 3)
    fs.writeFileSync(file, content)
    const f = await io.open(file)

    const b = Buffer.alloc(4096, 0xaa)
    const r = await f.readAt(b, 0)
    t.is(r.bytesRead, 1000, 'short read at EOF')
    t.is(r.buffer, b, 'same buffer object on a short read')
    assertBytes(t, b.subarray(0, 1000), content, 'content before EOF')
    assertBytes(t, b.subarray(1000), Buffer.alloc(3096, 0xaa), 'bytes past EOF are left untouched')

    const r2 = await f.readAt(Buffer.alloc(1000), 600)
    t.is(r2.bytesRead, 400, 'read crossing EOF returns the bytes before it')
    assertBytes(t, r2.buffer.subarray(0, 400), content.subarray(600), 'content of the crossing read')

    t.is((await f.readAt(Buffer.alloc(10), 1000)).bytesRead, 0, 'read exactly at EOF')
    t.is((await f.readAt(Buffer.alloc(10), 5000)).bytesRead, 0, 'read past EOF')
    t.is((await f.readAt(Buffer.alloc(10), 2 ** 40)).bytesRead, 0, 'read far past EOF')
    t.is((await f.readAt(Buffer.alloc(10), Number.MAX_SAFE_INTEGER)).bytesRead, 0, 'read at 2^53-1')
    await f.close()

    const emptyFile = path.join(dir, 'empty')
    fs.writeFileSync(emptyFile, '')
    const e = await io.open(emptyFile)
    t.is((await e.readAt(Buffer.alloc(4096), 0)).bytesRead, 0, 'empty file')
    await e.close()
  })

  test(`${backend}: an 8 MiB buffer over a 5 MiB + 17 B file reads up to EOF`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'big-eof')
    const content = randomBytes(5 * MiB + 17, 99)
    fs.writeFileSync(file, content)
    const f = await io.open(file)
    const b = Buffer.alloc(8 * MiB)
    const r = await f.readAt(b, 0)
    t.is(r.bytesRead, content.length)
    assertBytes(t, b.subarray(0, content.length), content, '8 MiB read up to EOF')
    await f.close()
  })

  test(`${backend}: readAt fills the buffer from a sparse hole with zeros`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'hole')
    const f = await io.create(file)
    await f.writeAt(Buffer.from('end'), MiB)
    const b = Buffer.alloc(MiB + 3, 0x55)
    const r = await f.readAt(b, 0)
    t.is(r.bytesRead, MiB + 3)
    assertBytes(t, b.subarray(0, MiB), Buffer.alloc(MiB), 'hole reads as zeros')
    t.is(b.subarray(MiB).toString(), 'end')
    await f.close()
  })
}

for (const backend of backends) {
  test(`${backend}: concurrent reads and writes through disjoint subarrays of one ArrayBuffer`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'views')
    const N = 256
    const CH = 4093 // odd: every view starts at an unaligned byteOffset
    const src = Buffer.alloc(N * CH + 7)
    for (let i = 0; i < N; i++) pattern(CH, i * CH, 8).copy(src, 7 + i * CH)
    const f = await io.create(file)
    // Write view i (byteOffset 7 + i·CH) to file offset (N-1-i)·CH: a reversed layout.
    const w = await Promise.all(Array.from({ length: N }, (_, i) => f.writeAt(src.subarray(7 + i * CH, 7 + (i + 1) * CH), (N - 1 - i) * CH)))
    t.true(w.every((r) => r.bytesWritten === CH))
    const dst = Buffer.alloc(N * CH + 3, 0xfe)
    const r = await Promise.all(Array.from({ length: N }, (_, i) => f.readAt(dst.subarray(3 + i * CH, 3 + (i + 1) * CH), (N - 1 - i) * CH)))
    t.true(r.every((x) => x.bytesRead === CH))
    t.is(dst[0], 0xfe)
    t.is(dst[2], 0xfe)
    assertBytes(t, dst.subarray(3), src.subarray(7), 'every view read back into its own place')
    await f.close()
  })
}
