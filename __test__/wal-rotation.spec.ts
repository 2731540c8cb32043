// Rotation, checkpoint and the rest of the WAL contract (DESIGN.md §3): many files with a
// small segmentBytes, replay(fromLsn) across them, truncateBefore dropping whole files with
// numbering that survives reopen, firstLsn/lastLsn/durableLsn, appendMany, the sync modes
// and flush(), readOnly, the directory lock (same process and another process), record
// limits, use after close, and hostile arguments.

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

import { assertLibError, backendConfig, backends, describeError, fixture, openBackend, settleWithin, tmpDir } from './helpers/backends'
import { cleanEnv, lastJson, runNode, summary } from './helpers/child'
import { collect, openWal, recordFor, snapshotDir, walFiles, type WalSpec } from './fixtures/wal-lib'

const SMALL = 4096 + 8 * 1024 // header + 8 KiB of frames
const MAXREC = 1500

function check(t: import('ava').ExecutionContext, recs: Array<{ lsn: number; data: Buffer }>, from: number, to: number, salt: number, what: string): void {
  const ok = recs.length === Math.max(0, to - from + 1) && recs.every((r, i) => r.lsn === from + i && r.data.equals(recordFor(r.lsn, salt, MAXREC)))
  t.true(ok, `${what}: want LSNs ${from}..${to}, got ${recs.length} records ${recs.length > 0 ? `${recs[0].lsn}..${recs[recs.length - 1].lsn}` : ''}`)
}

/** Compares two directory snapshots with a short message. */
function sameDir(t: import('ava').ExecutionContext, a: Map<string, Buffer>, b: Map<string, Buffer>, what: string): void {
  const names = [...new Set([...a.keys(), ...b.keys()])].sort()
  const diff = names.filter((n) => !(a.get(n) && b.get(n) && a.get(n)!.equals(b.get(n)!)))
  t.deepEqual(diff, [], `${what}: files that changed: ${diff.join(', ')}`)
}

for (const backend of backends) {
  test(`${backend}: many files: replay(fromLsn) across files, truncateBefore drops whole files, numbering survives reopen`, async (t) => {
    const dir = tmpDir(t, 'wal-rot-')
    const io = await openBackend(t, backend)
    let wal = await openWal(io, dir, { segmentBytes: SMALL })
    t.is(wal.firstLsn, 1, 'empty log: firstLsn 1')
    t.is(wal.lastLsn, 0, 'empty log: lastLsn 0')
    t.is(wal.durableLsn, 0, 'empty log: durableLsn 0')
    t.deepEqual(await collect(wal), [], 'empty log replays nothing')
    const N = 600
    for (let lsn = 1; lsn <= N; lsn++) {
      t.is(await wal.append(recordFor(lsn, 1, MAXREC)), lsn)
      if (lsn % 97 === 0) t.is(wal.durableLsn, lsn, "durableLsn = lastLsn under 'always' once settled")
    }
    t.is(wal.lastLsn, N)
    const files = walFiles(dir)
    t.true(files.length >= 20, `many files: ${files.length}`)
    for (const from of [1, 2, 77, 300, N - 1, N]) check(t, await collect(wal, from), from, N, 1, `replay(${from})`)
    t.deepEqual(await collect(wal, N + 1), [], 'replay(lastLsn + 1) is empty')
    // File boundaries: the first LSN of each file, from its name.
    const firsts = files.map((f) => Number(path.basename(f).slice(0, 20)))
    t.is(firsts[0], 1)
    for (let i = 1; i < firsts.length; i++) t.true(firsts[i] > firsts[i - 1])
    const mid = firsts[Math.floor(firsts.length / 2)]
    check(t, await collect(wal, mid), mid, N, 1, `replay from a file's first LSN ${mid}`)
    check(t, await collect(wal, mid - 1), mid - 1, N, 1, `replay from the last LSN of a file ${mid - 1}`)

    // Checkpoint inside a file: files wholly below go, the file holding the LSN stays.
    const cut = mid + 1
    await wal.truncateBefore(cut)
    t.is(wal.firstLsn, mid, `firstLsn after truncateBefore(${cut}) is the first LSN of the file holding it`)
    const after = walFiles(dir)
    t.is(after.length, files.length - Math.floor(firsts.length / 2), 'whole files below the checkpoint were dropped')
    t.is(Number(path.basename(after[0]).slice(0, 20)), mid)
    check(t, await collect(wal), mid, N, 1, 'replay() after the checkpoint')
    await wal.truncateBefore(1) // below firstLsn: nothing happens
    t.is(wal.firstLsn, mid)
    await wal.close()

    wal = await openWal(io, dir, { segmentBytes: SMALL })
    t.is(wal.firstLsn, mid, 'firstLsn survives reopen')
    t.is(wal.lastLsn, N, 'lastLsn survives reopen')
    t.is(wal.durableLsn, N)
    t.is(await wal.append(recordFor(N + 1, 1, MAXREC)), N + 1, 'appends continue with the next LSN')
    // Checkpoint everything: only the active file stays; numbering still survives.
    await wal.truncateBefore(N + 2)
    const left = walFiles(dir)
    t.true(left.length >= 1 && left.length <= 2, `at most the active file(s) remain: ${left.map((f) => path.basename(f)).join(', ')}`)
    t.true(wal.firstLsn <= N + 1 && wal.firstLsn > mid)
    const firstKept = wal.firstLsn
    await wal.close()
    wal = await openWal(io, dir, { segmentBytes: SMALL })
    t.is(wal.firstLsn, firstKept)
    t.is(wal.lastLsn, N + 1)
    t.is(await wal.append(recordFor(N + 2, 1, MAXREC)), N + 2)
    check(t, await collect(wal), firstKept, N + 2, 1, 'replay after checkpointing everything and reopening')
    await wal.close()
  })

  test(`${backend}: appendMany hands out contiguous LSNs, also among concurrent appends; an empty record is a record`, async (t) => {
    const dir = tmpDir(t, 'wal-many-')
    const io = await openBackend(t, backend)
    const wal = await openWal(io, dir, { segmentBytes: 64 * 1024 })
    const calls: Array<Promise<number | number[]>> = []
    const sizes: number[] = []
    for (let i = 0; i < 60; i++) {
      if (i % 3 === 0) {
        const n = 1 + (i % 5)
        sizes.push(n)
        calls.push(wal.appendMany(Array.from({ length: n }, () => Buffer.from(`m${i}`))))
      } else {
        sizes.push(1)
        calls.push(wal.append(Buffer.from(`a${i}`)))
      }
    }
    const res = await Promise.all(calls)
    let expect = 1
    res.forEach((r, i) => {
      const lsns = Array.isArray(r) ? r : [r]
      t.deepEqual(lsns, Array.from({ length: sizes[i] }, (_, k) => expect + k), `call ${i}: LSNs in call order, contiguous`)
      expect += sizes[i]
    })
    t.deepEqual(await wal.appendMany([]), [], 'appendMany([]) appends nothing')
    const empty = await wal.append(Buffer.alloc(0))
    t.is(empty, expect)
    const u8 = new Uint8Array([9, 8, 7, 6, 5]).subarray(1, 4)
    t.is(await wal.append(u8), expect + 1, 'a Uint8Array view is accepted')
    const recs = await collect(wal)
    t.is(recs.length, expect + 1)
    t.is(recs[expect - 1].data.length, 0, 'the empty record replays as empty')
    t.deepEqual([...recs[expect].data], [8, 7, 6], 'only the view is written')
    await wal.close()
  })

  test(`${backend}: sync 'none' and { intervalMs }: appends resolve, durableLsn catches up by flush() or the timer`, async (t) => {
    const io = await openBackend(t, backend)
    for (const sync of ['none', { intervalMs: 20 }] as const) {
      const dir = tmpDir(t, 'wal-sync-')
      const wal = await openWal(io, dir, { sync, segmentBytes: 64 * 1024 })
      for (let lsn = 1; lsn <= 50; lsn++) t.is(await wal.append(recordFor(lsn, 3, MAXREC)), lsn)
      t.is(wal.lastLsn, 50)
      t.true(wal.durableLsn >= 0 && wal.durableLsn <= 50, `durableLsn ${wal.durableLsn} within [0, lastLsn]`)
      if (typeof sync === 'object') {
        // The timer makes it durable without a flush (a hang detector, not a timing assertion).
        await settleWithin(
          (async () => {
            while (wal.durableLsn < 50) await new Promise((r) => setTimeout(r, 5))
          })(),
          20_000,
          'durableLsn reaching lastLsn on the interval timer',
        )
      }
      for (let lsn = 51; lsn <= 80; lsn++) await wal.append(recordFor(lsn, 3, MAXREC))
      await wal.flush()
      t.is(wal.durableLsn, 80, `${JSON.stringify(sync)}: flush() makes everything appended durable`)
      await wal.flush() // nothing to do: still resolves
      check(t, await collect(wal), 1, 80, 3, `${JSON.stringify(sync)}: replay`)
      await wal.close()
    }
  })

  test(`${backend}: readOnly opens beside a writer without writing (bytes unchanged, torn tail left alone) and rejects appends`, async (t) => {
    const dir = tmpDir(t, 'wal-ro-')
    const io = await openBackend(t, backend)
    const w = await openWal(io, dir, { segmentBytes: 16 * 1024 })
    for (let lsn = 1; lsn <= 40; lsn++) await w.append(recordFor(lsn, 5, MAXREC))
    const ro = await openWal(io, dir, { readOnly: true })
    t.is(ro.lastLsn, 40)
    check(t, await collect(ro), 1, 40, 5, 'readOnly replay beside the writer')
    const codes = await Promise.all([
      ro.append(Buffer.from('x')).then(() => 'resolved', (e: { code?: string }) => e.code ?? 'no code'),
      ro.appendMany([Buffer.from('x')]).then(() => 'resolved', (e: { code?: string }) => e.code ?? 'no code'),
      ro.truncateBefore(30).then(() => 'resolved', (e: { code?: string }) => e.code ?? 'no code'),
    ])
    for (const c of codes) t.not(c, 'resolved', `readOnly must refuse writes: ${codes.join(', ')}`)
    t.is(ro.lastLsn, 40)
    await ro.close()
    await w.close()
    // With the writer closed (it prepares files in the background), a readOnly open must
    // leave every byte as it was.
    const before = snapshotDir(dir)
    const ro1 = await openWal(io, dir, { readOnly: true })
    check(t, await collect(ro1), 1, 40, 5, 'readOnly replay')
    await ro1.close()
    sameDir(t, snapshotDir(dir), before, 'a readOnly open wrote nothing')

    // A torn tail: garbage after the last record. readOnly reports it but leaves the bytes.
    const last = walFiles(dir).pop()!
    const buf = fs.readFileSync(last)
    const lastPayload = buf.indexOf(recordFor(40, 5, MAXREC).subarray(0, 16))
    const end = lastPayload + Math.ceil(recordFor(40, 5, MAXREC).length / 8) * 8
    const garbage = Buffer.from('torn torn torn torn torn torn!!!')
    garbage.copy(buf, end)
    fs.writeFileSync(last, buf)
    const torn = snapshotDir(dir)
    const ro2 = await openWal(io, dir, { readOnly: true })
    check(t, await collect(ro2), 1, 40, 5, 'readOnly replay of a log with a torn tail')
    t.is(ro2.lastLsn, 40)
    await ro2.close()
    sameDir(t, snapshotDir(dir), torn, 'readOnly did not repair the torn tail')
    // Only a writer repairs it.
    const w2 = await openWal(io, dir, { segmentBytes: 16 * 1024 })
    t.true(w2.recovery.truncatedBytes > 0, `the writer reports the torn tail: ${JSON.stringify(w2.recovery)}`)
    t.is(w2.recovery.file, last)
    await w2.close()
  })

  test(`${backend}: one writer per directory: ERR_WAL_LOCKED in the same process and from another process, released on close / exit`, async (t) => {
    const dir = tmpDir(t, 'wal-lock-')
    const io = await openBackend(t, backend)
    const a = await openWal(io, dir, { segmentBytes: 64 * 1024 })
    await assertLibError(t, 'second writer, same process', () => openWal(io, dir, { segmentBytes: 64 * 1024 }), 'Error', 'ERR_WAL_LOCKED')
    const tryChild = async (): Promise<string | null> => {
      const r = await runNode([fixture('wal-lock-child'), JSON.stringify({ ...backendConfig(backend), dir, mode: 'try' })], { env: cleanEnv(), timeoutMs: 30_000 })
      const o = lastJson<{ code?: string | null; error?: string }>(r)
      if (o.error) throw new Error(`lock child failed: ${o.error}\n${summary(r)}`)
      return o.code ?? null
    }
    t.is(await tryChild(), 'ERR_WAL_LOCKED', 'a writer in another process is refused')
    await a.append(Buffer.from('still mine'))
    await a.close()
    t.is(await tryChild(), null, 'released on close: another process opens it')
    const b = await openWal(io, dir, { segmentBytes: 64 * 1024 })
    await b.close()

    // Held by another process: refused here until that process dies (SIGKILL, no close).
    const holder = spawn(process.execPath, [fixture('wal-lock-child'), JSON.stringify({ ...backendConfig(backend), dir, mode: 'hold' })], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    t.teardown(() => void holder.kill('SIGKILL'))
    await settleWithin(
      new Promise<void>((resolve, reject) => {
        let out = ''
        holder.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d
          if (out.includes('"held"')) resolve()
        })
        holder.on('exit', (code) => reject(new Error(`holder exited (${code}) before holding the lock`)))
      }),
      30_000,
      'the holder child takes the lock',
    )
    await assertLibError(t, 'writer while another process holds it', () => openWal(io, dir, { segmentBytes: 64 * 1024 }), 'Error', 'ERR_WAL_LOCKED')
    const ro = await openWal(io, dir, { readOnly: true })
    await ro.close()
    t.pass('readOnly opens beside another process')
    const exited = new Promise((r) => holder.on('exit', r))
    holder.kill('SIGKILL')
    await exited
    const c = await openWal(io, dir, { segmentBytes: 64 * 1024 })
    t.is(c.lastLsn, 1)
    await c.close()
  })

  test(`${backend}: records over maxRecordBytes are refused with ERR_RECORD_TOO_LARGE and nothing is appended`, async (t) => {
    const dir = tmpDir(t, 'wal-big-')
    const io = await openBackend(t, backend)
    const wal = await openWal(io, dir, { segmentBytes: 64 * 1024, maxRecordBytes: 1000 })
    t.is(await wal.append(Buffer.alloc(1000, 1)), 1, 'exactly maxRecordBytes is fine')
    await assertLibError(t, 'append of maxRecordBytes + 1', () => wal.append(Buffer.alloc(1001)), 'RangeError', 'ERR_RECORD_TOO_LARGE')
    await assertLibError(t, 'appendMany with one record too large', () => wal.appendMany([Buffer.alloc(10), Buffer.alloc(5000)]), 'RangeError', 'ERR_RECORD_TOO_LARGE')
    t.is(wal.lastLsn, 1, 'nothing of a refused appendMany was appended')
    t.is(await wal.append(Buffer.alloc(3, 2)), 2, 'the WAL carries on')
    await wal.close()
    // Default limit with small files: a record that cannot fit in a file is refused too.
    const dir2 = tmpDir(t, 'wal-big2-')
    const w2 = await openWal(io, dir2, { segmentBytes: SMALL })
    await assertLibError(t, 'a record larger than a file', () => w2.append(Buffer.alloc(SMALL)), 'RangeError', 'ERR_RECORD_TOO_LARGE')
    await w2.close()
  })

  test(`${backend}: after close(): every method rejects ERR_IO_CLOSED; close twice is fine`, async (t) => {
    const dir = tmpDir(t, 'wal-closed-')
    const io = await openBackend(t, backend)
    const wal = await openWal(io, dir, { segmentBytes: 64 * 1024 })
    await wal.append(Buffer.from('x'))
    await wal.close()
    await wal.close()
    await assertLibError(t, 'append after close', () => wal.append(Buffer.from('y')), 'Error', 'ERR_IO_CLOSED')
    await assertLibError(t, 'appendMany after close', () => wal.appendMany([Buffer.from('y')]), 'Error', 'ERR_IO_CLOSED')
    await assertLibError(t, 'flush after close', () => wal.flush(), 'Error', 'ERR_IO_CLOSED')
    await assertLibError(t, 'truncateBefore after close', () => wal.truncateBefore(1), 'Error', 'ERR_IO_CLOSED')
    await assertLibError(t, 'replay after close', () => collect(wal), 'Error', 'ERR_IO_CLOSED')
    // Appends in flight at close settle (no hang), then the WAL reopens with all that resolved.
    const w2 = await openWal(io, dir, { segmentBytes: 64 * 1024 })
    const inflight = Array.from({ length: 50 }, (_, i) => w2.append(Buffer.from(`z${i}`)))
    const closing = w2.close()
    const settled = await settleWithin(Promise.allSettled(inflight), 30_000, 'appends in flight at close')
    await settleWithin(closing, 30_000, 'close with appends in flight')
    const ok = settled.filter((s) => s.status === 'fulfilled').map((s) => (s as PromiseFulfilledResult<number>).value)
    for (const s of settled) if (s.status === 'rejected') t.is((s.reason as { code?: string }).code, 'ERR_IO_CLOSED', JSON.stringify(describeError(s.reason)))
    const w3 = await openWal(io, dir, { segmentBytes: 64 * 1024 })
    const recs = await collect(w3)
    for (const lsn of ok) t.true(recs.some((r) => r.lsn === lsn), `acknowledged LSN ${lsn} is there after close + reopen`)
    await w3.close()
  })

  test(`${backend}: hostile arguments: clear TypeError / RangeError, never a crash`, async (t) => {
    const dir = tmpDir(t, 'wal-hostile-')
    const io = await openBackend(t, backend)
    const bad: Array<[string, unknown, 'TypeError' | 'RangeError']> = [
      ['options not an object', 'always', 'TypeError'],
      ['sync unknown', { sync: 'sometimes' }, 'TypeError'],
      ['intervalMs 0', { sync: { intervalMs: 0 } }, 'RangeError'],
      ['intervalMs NaN', { sync: { intervalMs: NaN } }, 'RangeError'],
      ['intervalMs string', { sync: { intervalMs: '5' } }, 'TypeError'],
      ['segmentBytes negative', { segmentBytes: -1 }, 'RangeError'],
      ['segmentBytes fractional', { segmentBytes: 65536.5 }, 'RangeError'],
      ['segmentBytes too small', { segmentBytes: 100 }, 'RangeError'],
      ['segmentBytes string', { segmentBytes: '64m' }, 'TypeError'],
      ['maxRecordBytes negative', { maxRecordBytes: -5 }, 'RangeError'],
      ['maxRecordBytes string', { maxRecordBytes: '1k' }, 'TypeError'],
      ['maxRecordBytes larger than a file', { segmentBytes: 65536, maxRecordBytes: 1 << 20 }, 'RangeError'],
      ['recovery unknown', { recovery: 'lenient' }, 'TypeError'],
      ['readOnly string', { readOnly: 'yes' }, 'TypeError'],
    ]
    for (const [what, opts, cls] of bad) {
      await assertLibError(t, `openWal: ${what}`, () => openWal(io, dir, opts as never), cls, cls === 'TypeError' ? 'ERR_INVALID_ARG_TYPE' : 'ERR_OUT_OF_RANGE')
    }
    t.deepEqual(fs.readdirSync(dir).filter((n) => n.endsWith('.wal')), [], 'refused opens created no WAL file')
    await assertLibError(t, 'openWal: dir not a string', () => openWal(io, 42 as never), 'TypeError', 'ERR_INVALID_ARG_TYPE')
    const wal: WalSpec = await openWal(io, dir, { segmentBytes: 64 * 1024 })
    for (const [what, rec] of [
      ['a string', 'text'],
      ['null', null],
      ['a number', 7],
      ['an array of numbers', [1, 2, 3]],
      ['an ArrayBuffer', new ArrayBuffer(4)],
      ['a DataView', new DataView(new ArrayBuffer(4))],
      ['a fake Buffer', Object.create(Buffer.prototype)],
    ] as Array<[string, unknown]>) {
      await assertLibError(t, `append(${what})`, () => wal.append(rec as never), 'TypeError', 'ERR_INVALID_ARG_TYPE')
      await assertLibError(t, `appendMany([${what}])`, () => wal.appendMany([Buffer.from('ok'), rec] as never), 'TypeError', 'ERR_INVALID_ARG_TYPE')
    }
    await assertLibError(t, 'appendMany(not an array)', () => wal.appendMany(Buffer.from('x') as never), 'TypeError', 'ERR_INVALID_ARG_TYPE')
    for (const [what, v, cls] of [
      ['-1', -1, 'RangeError'],
      ['1.5', 1.5, 'RangeError'],
      ['NaN', NaN, 'RangeError'],
      ["'3'", '3', 'TypeError'],
    ] as Array<[string, unknown, 'TypeError' | 'RangeError']>) {
      await assertLibError(t, `truncateBefore(${what})`, () => wal.truncateBefore(v as never), cls, cls === 'TypeError' ? 'ERR_INVALID_ARG_TYPE' : 'ERR_OUT_OF_RANGE')
      const r = await settleWithin(collect(wal, v as never).then(() => null, (e: unknown) => e), 10_000, `replay(${what})`)
      t.truthy(r, `replay(${what}) must reject`)
      t.true(r instanceof TypeError || r instanceof RangeError, `replay(${what}): ${JSON.stringify(describeError(r))}`)
    }
    t.is(wal.lastLsn, 0, 'nothing hostile was appended')
    t.is(await wal.append(Buffer.from('fine')), 1)
    await wal.close()
  })
}
