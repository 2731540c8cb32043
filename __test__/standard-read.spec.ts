// What the standard backend's read must keep now that a read fitting one call is one
// FileHandle.read and one continuation, with the readFull loop only after a short read
// (ts/backends/standard.ts; what it saves is measured in BENCHMARKS.md, not here).
// A regular file only reads short at end-of-file, so the handle here is a stand-in that
// moves at most `chunk` bytes per call: every short read is continued, end-of-file and
// O_DIRECT's EINVAL at end-of-file end it with what was read, errors carry the path, and
// a buffer larger than one call's limit takes the general path. The same semantics on
// real files, both backends, are roundtrip.spec.ts and large.spec.ts.

import test from 'ava'

import type { BackendFile } from '../ts/backends/backend'
import { StandardBackend } from '../ts/backends/standard'

interface Call {
  bufOffset: number
  length: number
  position: number
}

/** A FileHandle stand-in over `source` that moves at most `chunk` bytes per read; `fail` picks calls to reject. */
function fakeFile(source: Buffer, chunk: number, fail?: (callIndex: number) => Error | null): { file: BackendFile; calls: Call[] } {
  const calls: Call[] = []
  const handle = {
    fd: 99,
    async read(buf: Uint8Array, bufOffset: number, length: number, position: number) {
      calls.push({ bufOffset, length, position })
      const err = fail?.(calls.length - 1) ?? null
      if (err !== null) throw err
      const n = Math.max(0, Math.min(length, chunk, source.length - position))
      source.copy(buf, bufOffset, position, position + n)
      return { bytesRead: n, buffer: buf }
    },
  }
  return { file: { path: '/fake/file', handle, fd: 99 } as unknown as BackendFile, calls }
}

const source = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff))

function sysError(code: string, syscall: string): Error {
  return Object.assign(new Error(`${code}: failure, ${syscall}`), { code, syscall })
}

test('a read that fits one call: one FileHandle.read, the bytes in place', async (t) => {
  const b = new StandardBackend({ maxTransferBytes: 1 << 20 })
  const { file, calls } = fakeFile(source, 1 << 20)
  const buf = Buffer.alloc(1000)
  t.is(await b.read(file, buf, 100), 1000)
  t.deepEqual(calls, [{ bufOffset: 0, length: 1000, position: 100 }])
  t.deepEqual(buf, source.subarray(100, 1100))
})

test('short reads are continued from where each stopped, until the buffer is full', async (t) => {
  const b = new StandardBackend({ maxTransferBytes: 1 << 20 })
  const { file, calls } = fakeFile(source, 300)
  const buf = Buffer.alloc(1000)
  t.is(await b.read(file, buf, 50), 1000)
  t.deepEqual(
    calls.map((c) => [c.bufOffset, c.length, c.position]),
    [
      [0, 1000, 50],
      [300, 700, 350],
      [600, 400, 650],
      [900, 100, 950],
    ],
  )
  t.deepEqual(buf, source.subarray(50, 1050))
})

test('end-of-file ends it with what was read; at end-of-file a read is 0 in one call', async (t) => {
  const b = new StandardBackend({ maxTransferBytes: 1 << 20 })
  const { file, calls } = fakeFile(source, 300)
  const buf = Buffer.alloc(1000, 0xee)
  t.is(await b.read(file, buf, 4500), 500)
  t.deepEqual(buf.subarray(0, 500), source.subarray(4500))
  t.true(buf.subarray(500).every((x) => x === 0xee), 'nothing written past what was read')
  t.is(calls.length, 3, '300, 200, then 0 at end-of-file')
  const { file: atEnd, calls: one } = fakeFile(source, 300)
  t.is(await b.read(atEnd, Buffer.alloc(10), 5000), 0)
  t.is(one.length, 1)
})

test('an error carries the path, on the first call and on a continuation; EINVAL after a short read is O_DIRECT at end-of-file', async (t) => {
  const b = new StandardBackend({ maxTransferBytes: 1 << 20 })
  const first = fakeFile(source, 300, (i) => (i === 0 ? sysError('EIO', 'read') : null))
  const e1 = await t.throwsAsync(b.read(first.file, Buffer.alloc(100), 0))
  t.is((e1 as Error & { path?: string }).path, '/fake/file')
  t.regex(e1!.message, /'\/fake\/file'/)
  const later = fakeFile(source, 300, (i) => (i === 1 ? sysError('EIO', 'read') : null))
  const e2 = await t.throwsAsync(b.read(later.file, Buffer.alloc(1000), 0))
  t.is((e2 as Error & { path?: string }).path, '/fake/file')
  // EINVAL on the first call is an error (a misaligned O_DIRECT read) …
  const misaligned = fakeFile(source, 300, (i) => (i === 0 ? sysError('EINVAL', 'read') : null))
  t.is(((await t.throwsAsync(b.read(misaligned.file, Buffer.alloc(100), 0))) as NodeJS.ErrnoException).code, 'EINVAL')
  // … after a short read it is the end of an O_DIRECT file: what was read is the answer.
  const directEof = fakeFile(source, 300, (i) => (i === 1 ? sysError('EINVAL', 'read') : null))
  t.is(await b.read(directEof.file, Buffer.alloc(1000), 0), 300)
})

test('a buffer larger than one call may move takes the readFull loop from the start, in steps', async (t) => {
  const b = new StandardBackend({ maxTransferBytes: 256 })
  const { file, calls } = fakeFile(source, 1 << 20)
  const buf = Buffer.alloc(1000)
  t.is(await b.read(file, buf, 0), 1000)
  t.deepEqual(
    calls.map((c) => c.length),
    [256, 256, 256, 232],
  )
  t.deepEqual(buf, source.subarray(0, 1000))
  t.is(await b.read(file, Buffer.alloc(0), 0), 0, 'an empty buffer reads nothing')
})
