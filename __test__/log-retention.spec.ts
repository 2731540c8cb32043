// Retention of a partition log (DESIGN.md §3 "Partition log (openLog)"), both backends:
// by size (retentionBytes) and by age (retentionMs), applyRetention() resolving how many
// segments went, computed here from the segment files and the timestamps appended; the
// oldest go first and never the active one; logStartOffset moves to the next segment's
// base (and stays there after reopen); reads below it are ERR_OFFSET_OUT_OF_RANGE; a
// segment pinned by a slice (or being read) waits as *.deleted, still readable through
// the slice, and is unlinked (its descriptor closed) once released; .deleted leftovers go
// at the next open; io.metrics().log.retentionDeletions counts.

import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import test, { type ExecutionContext } from 'ava'

import { openLog, type LogRecordInput, type PartitionLog } from '../ts/index'
import type { Io } from '../ts/types'
import { assertLibError, backends, openBackend, settleWithin, tmpDir } from './helpers/backends'
import { eventually, expectedFetch, openFdsUnder, parseBatches, scanLogDir, segmentFiles } from './helpers/log-api-util'

const DAY = 24 * 60 * 60 * 1000

async function openIn(t: ExecutionContext, io: Io, dir: string, opts?: Parameters<typeof openLog>[2]): Promise<PartitionLog> {
  const log = await openLog(io, dir, opts)
  t.teardown(() => log.close().catch(() => undefined))
  return log
}

/** Appends `n` batches of 3 records of ~100 bytes; timestamps from `tsOf(batch)`. */
async function fillBatches(log: PartitionLog, n: number, tsOf: (a: number) => number): Promise<void> {
  for (let a = 0; a < n; a++) {
    const recs: LogRecordInput[] = [0, 1, 2].map((i) => ({ key: Buffer.from(`k${a}`), value: Buffer.alloc(90 + i, a & 0xff), timestamp: tsOf(a) - i }))
    await log.append(recs)
  }
}

/** Kafka's size rule, from the files: how many of the oldest segments go so the rest stays ≥ retentionBytes. */
function bySize(dir: string, retentionBytes: number): number {
  const sizes = segmentFiles(dir).map((s) => fs.statSync(s.log).size)
  let total = sizes.reduce((a, b) => a + b, 0)
  let n = 0
  while (n < sizes.length - 1 && total - sizes[n] >= retentionBytes) {
    total -= sizes[n]
    n++
  }
  return n
}

function names(dir: string): string[] {
  return fs.readdirSync(dir).sort()
}

async function socketSink(t: ExecutionContext): Promise<{ client: net.Socket; received: () => Buffer; ended: () => Promise<void> }> {
  const chunks: Buffer[] = []
  let onEnd!: () => void
  const ended = new Promise<void>((r) => (onEnd = r))
  const server = net.createServer((s) => {
    s.on('end', () => onEnd())
    s.on('data', (d) => chunks.push(d))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  await new Promise<void>((r) => client.once('connect', () => r()))
  t.teardown(() => {
    client.destroy()
    server.close()
  })
  return { client, received: () => Buffer.concat(chunks), ended: () => ended }
}

for (const backend of backends) {
  test.serial(`${backend}: retention by size: the oldest segments go while the rest stays >= retentionBytes, never the active one; logStartOffset follows; metrics count`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-ret-')
    const opts = { segmentBytes: 1200 }
    let log = await openIn(t, io, dir, opts)
    await fillBatches(log, 40, () => Date.now())
    const segs = segmentFiles(dir)
    t.true(segs.length >= 8, `several segments: ${segs.length}`)
    t.is(await log.applyRetention(), 0, 'no retention configured: nothing goes')
    await log.close()

    const total = segs.reduce((n, s) => n + fs.statSync(s.log).size, 0)
    const retentionBytes = Math.floor(total / 2)
    const want = bySize(dir, retentionBytes)
    t.true(want >= 2 && want < segs.length - 1, `the rule deletes some, not all: ${want}`)
    log = await openIn(t, io, dir, { ...opts, retentionBytes })
    const end = log.logEndOffset
    const before = scanLogDir(dir)
    const m0 = io.metrics().log.retentionDeletions
    t.is(await log.applyRetention(), want, 'applyRetention resolves how many segments went')
    t.is(io.metrics().log.retentionDeletions - m0, want, 'retentionDeletions counts them')
    const left = segs.slice(want)
    t.deepEqual(
      segmentFiles(dir).map((s) => s.base),
      left.map((s) => s.base),
      'the oldest went',
    )
    t.false(
      names(dir).some((n) => n.endsWith('.deleted')),
      'nothing pinned: no .deleted left',
    )
    for (const s of segs.slice(0, want)) t.false(names(dir).some((n) => n.startsWith(path.basename(s.log, '.log'))), `every file of ${path.basename(s.log)} is gone`)
    t.is(log.logStartOffset, left[0].base, "logStartOffset is the next segment's base")
    t.is(log.logEndOffset, end)
    await assertLibError(t, 'read(logStartOffset - 1)', () => log.read(log.logStartOffset - 1), 'RangeError', 'ERR_OFFSET_OUT_OF_RANGE')
    await assertLibError(t, 'readRecords(0)', () => log.readRecords(0), 'RangeError', 'ERR_OFFSET_OUT_OF_RANGE')
    const rest = before.filter((b) => b.baseOffset >= left[0].base)
    t.true((await log.read(log.logStartOffset, { maxBytes: 10 ** 7 })).equals(expectedFetch(rest, log.logStartOffset, 10 ** 7).bytes), 'what is left reads as before')
    t.is(await log.applyRetention(), 0, 'a second pass finds nothing')

    // retentionBytes 0: everything but the active segment.
    await log.close()
    log = await openIn(t, io, dir, { ...opts, retentionBytes: 0 })
    t.is(log.logStartOffset, left[0].base, 'logStartOffset survives reopen (segment names)')
    t.is(await log.applyRetention(), left.length - 1)
    t.deepEqual(
      segmentFiles(dir).map((s) => s.base),
      [segs[segs.length - 1].base],
      'only the active segment stays',
    )
    t.is(log.logStartOffset, segs[segs.length - 1].base)
    t.is(await log.applyRetention(), 0, 'the active segment never goes')
    t.deepEqual(await log.append([{ value: Buffer.from('after retention') }]), { baseOffset: end, lastOffset: end })
  })

  test(`${backend}: retention by age: segments whose newest timestamp is older than now - retentionMs go, oldest first, never the active one`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-ret-')
    const now = Date.now()
    // Ages by batch: 30 days .. 20 days old, then a recent stretch, then old again, then recent.
    const age = (a: number) => (a < 24 ? 30 * DAY - a * 10 * 60_000 : a < 32 ? 60_000 : a < 40 ? 10 * DAY : 0)
    const log = await openIn(t, io, dir, { segmentBytes: 1200, retentionMs: DAY })
    await fillBatches(log, 48, (a) => now - age(a))
    const batches = scanLogDir(dir)
    const segs = segmentFiles(dir)
    // The newest timestamp of each segment, from what was appended (3 records a batch, the first the newest).
    const newest = segs.map((s) => Math.max(...batches.filter((b) => b.segmentBase === s.base).map((b) => now - age(b.baseOffset / 3))))
    const cutoff = Date.now() - DAY
    let want = 0
    while (want < segs.length - 1 && newest[want] < cutoff) want++
    t.true(want >= 3, `old segments at the front: ${want}`)
    t.true(
      newest.slice(want + 1, -1).some((ts) => ts < cutoff),
      'an old segment after a recent one (it must stay: retention takes the oldest first)',
    )
    t.is(await log.applyRetention(), want)
    t.deepEqual(
      segmentFiles(dir).map((s) => s.base),
      segs.slice(want).map((s) => s.base),
    )
    t.is(log.logStartOffset, segs[want].base)
    t.is(await log.applyRetention(), 0)

    // Every segment old, the active one too: all but the active go.
    const dir2 = tmpDir(t, 'log-ret-')
    const old = await openIn(t, io, dir2, { segmentBytes: 1200, retentionMs: DAY })
    await fillBatches(old, 20, (a) => now - 40 * DAY + a)
    const segs2 = segmentFiles(dir2)
    t.is(await old.applyRetention(), segs2.length - 1)
    t.deepEqual(
      segmentFiles(dir2).map((s) => s.base),
      [segs2[segs2.length - 1].base],
      'the active segment stays however old',
    )
    t.is(old.logEndOffset, 60)
    t.is((await old.readRecords(old.logStartOffset)).at(-1)?.offset, 59)
  })

  test(`${backend}: a segment pinned by a slice waits as *.deleted, still reads through the slice, and is unlinked once it is sent or released`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-ret-')
    const log = await openIn(t, io, dir, { segmentBytes: 1200, retentionBytes: 0 })
    await fillBatches(log, 30, () => Date.now())
    const segs = segmentFiles(dir)
    const batches = scanLogDir(dir)
    const stem = (i: number) => path.basename(segs[i].log, '.log')
    // Slice A pins segment 0 (one batch); slice B pins segment 1.
    const a = await log.slice(0, { maxBytes: 0 })
    const bStart = segs[1].base
    const b = await log.slice(bStart, { maxBytes: 0 })
    const aBytes = expectedFetch(batches, 0, 0).bytes
    t.is(a.bytes, aBytes.length)
    const n = await log.applyRetention()
    t.is(n, segs.length - 1)
    t.is(log.logStartOffset, segs[segs.length - 1].base)
    await assertLibError(t, 'read(0) after retention', () => log.read(0), 'RangeError', 'ERR_OFFSET_OUT_OF_RANGE')
    const listing = names(dir)
    for (const i of [0, 1]) {
      t.deepEqual(
        listing.filter((x) => x.startsWith(stem(i))),
        [`${stem(i)}.index.deleted`, `${stem(i)}.log.deleted`, `${stem(i)}.timeindex.deleted`],
        `pinned segment ${i} is renamed *.deleted`,
      )
    }
    for (let i = 2; i < segs.length - 1; i++) t.false(listing.some((x) => x.startsWith(stem(i))), `unpinned segment ${i} is gone`)

    // The slice still reads its bytes.
    const sink = await socketSink(t)
    const sent = await log.sendTo(sink.client, a, { prefix: Buffer.from('HDR!') })
    t.is(sent.bytes, 4 + aBytes.length)
    sink.client.end()
    await settleWithin(sink.ended(), 10_000, 'the socket drains')
    t.true(sink.received().equals(Buffer.concat([Buffer.from('HDR!'), aBytes])), 'the pinned segment read through the slice')
    t.true(await eventually(() => !names(dir).some((x) => x.startsWith(stem(0)))), `sendTo released it: segment 0 unlinked: ${names(dir).join(' ')}`)
    t.true(await eventually(() => openFdsUnder(dir, `${stem(0)}.log.deleted`).length === 0), 'and its descriptor closed')
    t.true(names(dir).some((x) => x === `${stem(1)}.log.deleted`), 'segment 1 still pinned')
    t.true(openFdsUnder(dir, `${stem(1)}.log.deleted`).length >= 1, 'its file still open')
    b.release()
    b.release()
    t.true(await eventually(() => !names(dir).some((x) => x.startsWith(stem(1)))), `release() unlinks segment 1: ${names(dir).join(' ')}`)
    t.true(await eventually(() => openFdsUnder(dir, '.deleted').length === 0), 'no descriptor on a deleted segment is left')
    await assertLibError(t, 'sendTo of a released slice', () => log.sendTo(sink.client, b), 'TypeError', 'ERR_INVALID_ARG_VALUE')
  })

  test(`${backend}: a read racing retention returns contiguous whole batches (or ERR_OFFSET_OUT_OF_RANGE), never a gap; .deleted leftovers go at the next open`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-ret-')
    let log = await openIn(t, io, dir, { segmentBytes: 1200, retentionBytes: 0 })
    await fillBatches(log, 30, () => Date.now())
    const batches = scanLogDir(dir)
    const full = expectedFetch(batches, 0, 10 ** 7).bytes
    const reading = log.read(0, { maxBytes: 10 ** 7 })
    const deleting = log.applyRetention()
    const [r, n] = await Promise.allSettled([reading, deleting])
    t.is(n.status, 'fulfilled')
    if (r.status === 'rejected') t.is((r.reason as { code?: string }).code, 'ERR_OFFSET_OUT_OF_RANGE')
    else {
      const got = parseBatches(r.value)
      t.true(got.length > 0)
      t.is(got[0].baseOffset, 0)
      for (let i = 1; i < got.length; i++) t.is(got[i].baseOffset, got[i - 1].lastOffset + 1, `batch ${i} follows on: no offsets skipped`)
      t.true(full.subarray(0, r.value.length).equals(r.value), 'a prefix of what the log held')
    }
    t.true(await eventually(() => !names(dir).some((x) => x.endsWith('.deleted'))), 'the read done, nothing stays .deleted')

    // A slice held across close leaves *.deleted behind; the next open removes them.
    await fillBatches(log, 10, () => Date.now())
    const pin = await log.slice(log.logStartOffset, { maxBytes: 0 })
    t.true((await log.applyRetention()) >= 1)
    t.true(names(dir).some((x) => x.endsWith('.log.deleted')), 'pinned: renamed')
    await log.close()
    t.true(names(dir).some((x) => x.endsWith('.log.deleted')), 'still there after close')
    log = await openIn(t, io, dir, { segmentBytes: 1200 })
    t.deepEqual(
      names(dir).filter((x) => x.endsWith('.deleted')),
      [],
      'open removed the .deleted leftovers',
    )
    pin.release()
    t.true(await eventually(() => openFdsUnder(dir, '.deleted').length === 0), 'releasing the old slice closes its descriptor')
    t.is(log.logStartOffset, segmentFiles(dir)[0].base)
    t.true((await log.readRecords(log.logStartOffset)).length > 0)
  })
}
