// Unit tests of the WAL's own pieces (ts/wal), both backends: options, limits, LSN
// bookkeeping, group commit shape, rotation and recycling, recovery decisions, locking,
// read-only mode. The reliability campaigns (crash, power loss, corruption, ENOSPC) live
// in the other wal-*.spec.ts files.

import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

import { openWal, type Wal } from '../ts/index'
import type { Io, IoBatch } from '../ts/types'
import { FRAME_HEADER_BYTES, HEADER_BYTES, encodeHeader, fileName, frameBytes } from '../ts/wal/format'
import { assertLibError, backends, openBackend, randomBytes, tmpDir } from './helpers/backends'

async function collect(wal: Wal, from?: number): Promise<Array<{ lsn: number; data: Buffer }>> {
  const out: Array<{ lsn: number; data: Buffer }> = []
  for await (const r of wal.replay(from)) out.push(r)
  return out
}

function walFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.endsWith('.wal')).sort()
}

/** An Io whose batch() calls are counted (group commit: one batch per group). */
function countingIo(io: Io): { io: Io; batches: () => number } {
  let n = 0
  const wrapped = new Proxy(io, {
    get(target, prop, receiver) {
      if (prop === 'batch') return (): IoBatch => (n++, target.batch())
      const v = Reflect.get(target, prop, receiver) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
  return { io: wrapped, batches: () => n }
}

for (const backend of backends) {
  test(`${backend}: a new WAL numbers records from 1; lastLsn, firstLsn, durableLsn follow appends`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'wal-unit-')
    const wal = await openWal(io, dir, { segmentBytes: 256 * 1024 })
    t.is(wal.firstLsn, 1)
    t.is(wal.lastLsn, 0)
    t.is(wal.durableLsn, 0)
    t.deepEqual(wal.recovery, { truncatedBytes: 0, file: null, reason: null })
    t.is(await wal.append(Buffer.from('one')), 1)
    t.is(await wal.append(new Uint8Array(0)), 2, 'an empty record is allowed')
    t.deepEqual(await wal.appendMany([Buffer.from('a'), Buffer.from('bb')]), [3, 4])
    t.deepEqual(await wal.appendMany([]), [])
    t.is(wal.lastLsn, 4)
    t.is(wal.durableLsn, 4)
    const got = await collect(wal)
    t.deepEqual(got.map((r) => [r.lsn, r.data.toString()]), [[1, 'one'], [2, ''], [3, 'a'], [4, 'bb']])
    t.deepEqual((await collect(wal, 3)).map((r) => r.lsn), [3, 4])
    t.deepEqual(await collect(wal, 5), [])
    t.deepEqual(walFiles(dir), [fileName(1)])
    await wal.close()
    await wal.close()
    await assertLibError(t, 'append after close', () => wal.append(Buffer.from('x')), 'Error', 'ERR_IO_CLOSED')
    await assertLibError(t, 'flush after close', () => wal.flush(), 'Error', 'ERR_IO_CLOSED')
  })

  test(`${backend}: concurrent appends form groups: one batch (write linked to fdatasync) per group`, async (t) => {
    const base = await openBackend(t, backend)
    const { io, batches } = countingIo(base)
    const dir = tmpDir(t, 'wal-unit-')
    const wal = await openWal(io, dir, { segmentBytes: 1024 * 1024 })
    const lsns = await Promise.all(Array.from({ length: 200 }, (_, i) => wal.append(randomBytes(100 + i, i))))
    t.deepEqual(lsns, Array.from({ length: 200 }, (_, i) => i + 1), 'LSNs in call order')
    t.is(batches(), 1, '200 appends made in one tick are one group')
    // 16 writers in a loop: groups while a group is in flight.
    let next = 0
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < 400) {
        next++
        await wal.append(Buffer.alloc(64, 7))
      }
    }))
    t.true(batches() < 1 + 400 / 4, `writers share groups (${batches()} batches for 400 appends)`)
    const all = await collect(wal)
    t.is(all.length, 600)
    t.true(all.every((r, i) => r.lsn === i + 1))
    t.true(all.slice(0, 200).every((r, i) => r.data.equals(randomBytes(100 + i, i))))
    await wal.close()
  })

  test(`${backend}: options are validated with errors naming the option; records over maxRecordBytes are ERR_RECORD_TOO_LARGE`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'wal-unit-')
    await assertLibError(t, 'sync', () => openWal(io, dir, { sync: 'sometimes' as never }), 'TypeError', 'ERR_INVALID_ARG_TYPE')
    await assertLibError(t, 'intervalMs', () => openWal(io, dir, { sync: { intervalMs: 0 } }), 'RangeError', 'ERR_OUT_OF_RANGE')
    await assertLibError(t, 'segmentBytes tiny', () => openWal(io, dir, { segmentBytes: 100 }), 'RangeError', 'ERR_OUT_OF_RANGE')
    await assertLibError(t, 'segmentBytes vs maxRecordBytes', () => openWal(io, dir, { segmentBytes: 64 * 1024, maxRecordBytes: 1024 * 1024 }), 'RangeError', 'ERR_OUT_OF_RANGE')
    await assertLibError(t, 'maxRecordBytes', () => openWal(io, dir, { maxRecordBytes: -1 }), 'RangeError', 'ERR_OUT_OF_RANGE')
    await assertLibError(t, 'recovery', () => openWal(io, dir, { recovery: 'lenient' as never }), 'TypeError', 'ERR_INVALID_ARG_TYPE')
    await assertLibError(t, 'readOnly', () => openWal(io, dir, { readOnly: 1 as never }), 'TypeError', 'ERR_INVALID_ARG_TYPE')
    await assertLibError(t, 'io', () => openWal({} as Io, dir), 'TypeError', 'ERR_INVALID_ARG_TYPE')
    const e = await t.throwsAsync(openWal(io, dir, { segmentBytes: 64 * 1024, maxRecordBytes: 1024 * 1024 }))
    t.regex(e!.message, /segmentBytes/)

    const wal = await openWal(io, dir, { segmentBytes: 64 * 1024, maxRecordBytes: 1000 })
    await assertLibError(t, 'too large', () => wal.append(Buffer.alloc(1001)), 'RangeError', 'ERR_RECORD_TOO_LARGE')
    await assertLibError(t, 'too large in appendMany', () => wal.appendMany([Buffer.alloc(1), Buffer.alloc(1001)]), 'RangeError', 'ERR_RECORD_TOO_LARGE')
    await assertLibError(t, 'not bytes', () => wal.append('text' as never), 'TypeError', 'ERR_INVALID_ARG_TYPE')
    await assertLibError(t, 'not an array', () => wal.appendMany(Buffer.alloc(1) as never), 'TypeError', 'ERR_INVALID_ARG_TYPE')
    t.is(await wal.append(Buffer.alloc(1000)), 1, 'exactly maxRecordBytes is fine')
    t.is(wal.lastLsn, 1, 'refused records take no LSN')
    await wal.close()
    // A small segmentBytes alone lowers the default record limit instead of refusing.
    const small = await openWal(io, tmpDir(t, 'wal-unit-'), { segmentBytes: HEADER_BYTES + 1024 })
    t.is(await small.append(Buffer.alloc(1024 - FRAME_HEADER_BYTES)), 1)
    await assertLibError(t, 'over the file', () => small.append(Buffer.alloc(1024)), 'RangeError', 'ERR_RECORD_TOO_LARGE')
    await small.close()
  })

  test(`${backend}: rotation across files, appendMany larger than a file, truncateBefore keeps LSNs and recycles`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'wal-unit-')
    const segmentBytes = HEADER_BYTES + 8 * frameBytes(1000)
    let wal = await openWal(io, dir, { segmentBytes })
    for (let i = 1; i <= 30; i++) t.is(await wal.append(randomBytes(1000, i)), i)
    const many = await wal.appendMany(Array.from({ length: 20 }, (_, i) => randomBytes(1000, 31 + i)))
    t.deepEqual(many, Array.from({ length: 20 }, (_, i) => 31 + i))
    const files = walFiles(dir)
    t.true(files.length >= 7, `rolled into ${files.length} files`)
    t.is(files[0], fileName(1))
    let all = await collect(wal)
    t.is(all.length, 50)
    t.true(all.every((r, i) => r.lsn === i + 1 && r.data.equals(randomBytes(1000, i + 1))))

    await wal.truncateBefore(20)
    t.true(wal.firstLsn <= 20 && wal.firstLsn > 1, `firstLsn ${wal.firstLsn}`)
    const first = wal.firstLsn
    t.deepEqual((await collect(wal)).map((r) => r.lsn)[0], first)
    t.true(fs.readdirSync(dir).some((n) => n.endsWith('.wal.free')), 'a checkpointed file is kept for recycling')
    await wal.truncateBefore(1000)
    t.is(walFiles(dir).length, 1, 'the active file is never dropped')
    await wal.close()

    wal = await openWal(io, dir, { segmentBytes })
    t.is(wal.lastLsn, 50)
    t.is(wal.firstLsn, Number(walFiles(dir)[0].slice(0, 20)))
    // New appends roll into recycled files whose stale records must not reappear.
    for (let i = 51; i <= 90; i++) t.is(await wal.append(randomBytes(1000, i)), i)
    await wal.close()
    wal = await openWal(io, dir, { segmentBytes })
    t.deepEqual(wal.recovery, { truncatedBytes: 0, file: null, reason: null })
    all = await collect(wal)
    t.is(all[all.length - 1].lsn, 90)
    t.true(all.every((r, i) => r.lsn === all[0].lsn + i && r.data.equals(randomBytes(1000, r.lsn))))
    await wal.close()
  })

  test(`${backend}: a torn tail is zeroed and reported; valid records after damage are ERR_WAL_CORRUPT; strict refuses the tail`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'wal-unit-')
    let wal = await openWal(io, dir, { segmentBytes: 128 * 1024 })
    for (let i = 1; i <= 10; i++) await wal.append(randomBytes(500, i))
    await wal.close()
    const file = path.join(dir, fileName(1))
    const end = HEADER_BYTES + 10 * frameBytes(500)
    // Garbage where the 11th frame would start: a torn write.
    const fd = fs.openSync(file, 'r+')
    fs.writeSync(fd, Buffer.from([1, 2, 0, 0, 9, 9, 9, 9, 11, 0, 0, 0, 0, 0, 0, 0, 42, 42]), 0, 18, end)
    fs.closeSync(fd)
    await assertLibError(t, 'strict', () => openWal(io, dir, { segmentBytes: 128 * 1024, recovery: 'strict' }), 'Error', 'ERR_WAL_CORRUPT')
    const ro = await openWal(io, dir, { readOnly: true })
    t.is(ro.lastLsn, 10)
    t.true(ro.recovery.truncatedBytes > 0, 'read-only reports what it would drop')
    await assertLibError(t, 'read-only append', () => ro.append(Buffer.alloc(1)), 'Error', 'ERR_WAL_READ_ONLY')
    await assertLibError(t, 'read-only truncateBefore', () => ro.truncateBefore(1), 'Error', 'ERR_WAL_READ_ONLY')
    t.is((await collect(ro)).length, 10)
    await ro.close()
    t.not(fs.readFileSync(file).subarray(end, end + 18).every((b) => b === 0), true, 'read-only changed nothing')

    wal = await openWal(io, dir, { segmentBytes: 128 * 1024 })
    t.is(wal.lastLsn, 10)
    t.is(wal.recovery.file, file)
    t.true(wal.recovery.truncatedBytes >= 18)
    t.regex(wal.recovery.reason!, /position/)
    t.true(fs.readFileSync(file).subarray(end, end + 64).every((b) => b === 0), 'the torn bytes are zeroed')
    t.is(await wal.append(Buffer.from('after')), 11)
    await wal.close()

    // A flipped byte in record 3 with records 4.. after it: corruption, not a tail.
    const fd2 = fs.openSync(file, 'r+')
    fs.writeSync(fd2, Buffer.from([0xff]), 0, 1, HEADER_BYTES + 2 * frameBytes(500) + 100)
    fs.closeSync(fd2)
    const e = await t.throwsAsync(openWal(io, dir, { segmentBytes: 128 * 1024 }))
    t.is((e as { code?: string }).code, 'ERR_WAL_CORRUPT')
    t.true(e!.message.includes(file) && /position \d+/.test(e!.message), e!.message)
    await assertLibError(t, 'read-only sees it too', () => openWal(io, dir, { readOnly: true }), 'Error', 'ERR_WAL_CORRUPT')
  })

  test(`${backend}: an unknown format version is refused; the lock refuses a second writer in the same process`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'wal-unit-')
    const wal = await openWal(io, dir, { segmentBytes: 64 * 1024 })
    await assertLibError(t, 'second writer', () => openWal(io, dir, { segmentBytes: 64 * 1024 }), 'Error', 'ERR_WAL_LOCKED')
    const ro = await openWal(io, dir, { readOnly: true })
    t.is(ro.lastLsn, 0, 'a reader beside the writer is fine')
    await ro.close()
    await wal.append(Buffer.from('x'))
    await wal.close()
    const again = await openWal(io, dir, { segmentBytes: 64 * 1024 })
    await again.close()

    const header = encodeHeader(1)
    header.writeUInt32LE(99, 8)
    const { crc32c } = await import('../ts/crc32c')
    header.writeUInt32LE(crc32c(header.subarray(0, 28)), 28)
    const fd = fs.openSync(path.join(dir, fileName(1)), 'r+')
    fs.writeSync(fd, header, 0, 32, 0)
    fs.closeSync(fd)
    const e = await t.throwsAsync(openWal(io, dir))
    t.is((e as { code?: string }).code, 'ERR_WAL_CORRUPT')
    t.regex(e!.message, /version 99/)
  })

  test(`${backend}: sync 'none' and { intervalMs }: appends resolve after the write; flush() and the timer make them durable`, async (t) => {
    const io = await openBackend(t, backend)
    const none = await openWal(io, tmpDir(t, 'wal-unit-'), { sync: 'none', segmentBytes: 64 * 1024 })
    for (let i = 1; i <= 5; i++) t.is(await none.append(Buffer.alloc(10, i)), i)
    t.is(none.durableLsn, 0)
    await none.flush()
    t.is(none.durableLsn, 5)
    await none.close()
    const timed = await openWal(io, tmpDir(t, 'wal-unit-'), { sync: { intervalMs: 5 }, segmentBytes: 64 * 1024 })
    await timed.append(Buffer.alloc(10))
    // The 5 ms timer's fdatasync makes it durable; the limit only ends a wait that would
    // never end (an fdatasync can take seconds on a disk another process keeps busy).
    const until = Date.now() + 60_000
    while (timed.durableLsn < 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 5))
    t.is(timed.durableLsn, 1)
    await timed.close()
  })
}
