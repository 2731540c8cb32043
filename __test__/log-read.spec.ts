// Reading a partition log (DESIGN.md §3 "Partition log (openLog)"), both backends: read,
// readRecords and slice from EVERY offset of a multi-segment log under many maxBytes
// (0, 1, exactly a batch, a batch + 1, two batches, across a segment boundary, the 1 MiB
// default), each compared with what a Kafka fetch returns computed here from the segment
// files (batch boundaries parsed from the raw bytes, never with the library's decoder);
// KIP-74's whole first batch; out-of-range offsets; reads racing appends never see a
// partial batch; truncateTo (inside a batch, at a segment base, across segments, queued
// behind appends, stale slices, reopen); offsetForTimestamp over many segments, ties and
// timestamps that go back inside and across batches, before and after a reopen.

import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import test, { type ExecutionContext } from 'ava'

import { openLog, type LogRecordInput, type PartitionLog } from '../ts/index'
import type { Io } from '../ts/types'
import { assertLibError, backends, openBackend, prng, settleWithin, tmpDir } from './helpers/backends'
import { eventually, expectedFetch, type FileBatch, genRecord, hashDir, type ModelRecord, modelOf, parseBatches, plain, scanLogDir, segmentFiles } from './helpers/log-api-util'

const MiB = 1024 * 1024

async function openIn(t: ExecutionContext, io: Io, dir: string, opts?: Parameters<typeof openLog>[2]): Promise<PartitionLog> {
  const log = await openLog(io, dir, opts)
  t.teardown(() => log.close().catch(() => undefined))
  return log
}

/** Appends `appends` batches of 1..8 generated records; returns the model. Timestamps from `tsOf(n)`. */
async function fill(log: PartitionLog, seed: number, appends: number, tsOf: (n: number) => number, start: ModelRecord[] = []): Promise<ModelRecord[]> {
  const model = [...start]
  const r = prng(seed)
  for (let a = 0; a < appends; a++) {
    const k = 1 + Math.floor(r() * 8)
    const recs: LogRecordInput[] = Array.from({ length: k }, (_, i) => genRecord(seed, model.length + i, tsOf(model.length + i)))
    const info = await log.append(recs)
    if (info.baseOffset !== model.length) throw new Error(`append ${a}: baseOffset ${info.baseOffset}, expected ${model.length}`)
    recs.forEach((rec, i) => model.push(modelOf(rec, info.baseOffset + i, rec.timestamp!)))
  }
  return model
}

/** Checks that `batches` cover offsets [from, to) contiguously. */
function contiguous(batches: readonly FileBatch[], from: number, to: number): string | null {
  let next = from
  for (const b of batches) {
    if (b.baseOffset !== next) return `a batch at ${b.file}:${b.position} starts at ${b.baseOffset}, expected ${next}`
    next = b.lastOffset + 1
  }
  return next === to ? null : `the batches end at ${next}, expected ${to}`
}

function recordsOf(model: readonly ModelRecord[], batches: readonly FileBatch[], from: number): ModelRecord[] {
  if (batches.length === 0) return []
  const lo = Math.max(from, batches[0].baseOffset)
  const hi = batches[batches.length - 1].lastOffset
  return model.filter((m) => m.offset >= lo && m.offset <= hi)
}

/** Parses an index file's entries (relative offset int32 BE, position int32 BE), stopping at preallocated zeros. */
function indexEntries(file: string): Array<{ rel: number; position: number }> {
  const b = fs.readFileSync(file)
  const out = []
  for (let at = 0; at + 8 <= b.length; at += 8) {
    const rel = b.readInt32BE(at)
    const position = b.readInt32BE(at + 4)
    if (rel === 0 && position === 0) break
    out.push({ rel, position })
  }
  return out
}

function timeIndexEntries(file: string): Array<{ ts: number; rel: number }> {
  const b = fs.readFileSync(file)
  const out = []
  for (let at = 0; at + 12 <= b.length; at += 12) {
    const ts = Number(b.readBigInt64BE(at))
    const rel = b.readInt32BE(at + 8)
    if (ts === 0 && rel === 0) break
    out.push({ ts, rel })
  }
  return out
}

/** Every index entry of every segment names a batch start whose last offset it holds (§5), and nothing at or past `end`. */
function checkIndexes(t: ExecutionContext, dir: string, end: number, what: string): void {
  const batches = scanLogDir(dir)
  for (const { base, log: file } of segmentFiles(dir)) {
    const stem = file.slice(0, -'.log'.length)
    const inSeg = batches.filter((b) => b.segmentBase === base)
    for (const e of indexEntries(stem + '.index')) {
      const b = inSeg.find((x) => x.position === e.position)
      t.truthy(b, `${what}: ${path.basename(stem)}.index entry (${e.rel}, ${e.position}) points at no batch start`)
      if (b) t.is(base + e.rel, b.lastOffset, `${what}: ${path.basename(stem)}.index entry at position ${e.position} holds the batch's last offset`)
      t.true(base + e.rel < end, `${what}: index entry ${base + e.rel} below the end ${end}`)
    }
    for (const e of timeIndexEntries(stem + '.timeindex')) t.true(base + e.rel < end, `${what}: time index entry ${base + e.rel} below the end ${end}`)
  }
}

async function drainSocketPair(): Promise<{ client: net.Socket; received: () => Buffer; close: () => void }> {
  const chunks: Buffer[] = []
  let serverSock: net.Socket | null = null
  const server = net.createServer((s) => {
    serverSock = s
    s.on('data', (d) => chunks.push(d))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as net.AddressInfo).port
  const client = net.connect(port, '127.0.0.1')
  await new Promise<void>((r) => client.once('connect', () => r()))
  return {
    client,
    received: () => Buffer.concat(chunks),
    close: () => {
      client.destroy()
      ;(serverSock as net.Socket | null)?.destroy()
      server.close()
    },
  }
}

for (const backend of backends) {
  test(`${backend}: read/slice/readRecords from every offset of a multi-segment log, for many maxBytes, equal a Kafka fetch computed from the files`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-read-')
    const log = await openIn(t, io, dir, { segmentBytes: 1500, indexIntervalBytes: 200 })
    const model = await fill(log, 11, 70, (n) => 1_000_000 + n)
    const N = model.length
    const batches = scanLogDir(dir)
    t.is(contiguous(batches, 0, N), null, 'the files hold offsets 0..N-1')
    const segBases = [...new Set(batches.map((b) => b.segmentBase))]
    t.true(segBases.length >= 6, `several segments: ${segBases.length}`)
    t.is(log.highWatermark, N)

    const failures: string[] = []
    let crossed = 0
    let before = 0
    for (let o = 0; o < N; o++) {
      const bi = batches.findIndex((b) => b.baseOffset <= o && o <= b.lastOffset)
      const b = batches[bi]
      const next = batches[bi + 1]
      const restOfSegment = batches.filter((x, i) => i >= bi && x.segmentBase === b.segmentBase).reduce((n, x) => n + x.size, 0)
      const firstOfNext = batches.find((x) => x.segmentBase > b.segmentBase)
      const variants: Array<number | undefined> = [undefined, 0, 1, b.size - 1, b.size, b.size + 1]
      if (next) variants.push(b.size + next.size - 1, b.size + next.size, b.size + next.size + 1)
      if (firstOfNext) variants.push(restOfSegment + firstOfNext.size, restOfSegment + firstOfNext.size - 1, restOfSegment)
      for (const mb of variants) {
        const opts = mb === undefined ? undefined : { maxBytes: mb }
        const exp = expectedFetch(batches, o, mb ?? MiB)
        const got = await log.read(o, opts)
        const what = `read(${o}, maxBytes ${mb ?? 'default'})`
        if (!Buffer.isBuffer(got)) failures.push(`${what}: not a Buffer`)
        else if (!got.equals(exp.bytes)) failures.push(`${what}: ${got.length} bytes, expected ${exp.bytes.length} (${exp.batches.length} batches from ${exp.batches[0]?.baseOffset})`)
        else {
          const parsed = parseBatches(got, what)
          if (!(parsed[0].baseOffset <= o && o <= parsed[0].lastOffset)) failures.push(`${what}: the first batch ${parsed[0].baseOffset}..${parsed[0].lastOffset} does not hold ${o}`)
          if (parsed[0].baseOffset < o) before++
          if (new Set(exp.batches.map((x) => x.segmentBase)).size > 1) crossed++
        }
        const s = await log.slice(o, opts)
        if (s.bytes !== exp.bytes.length || s.nextOffset !== exp.nextOffset) failures.push(`slice(${o}, ${mb}): bytes ${s.bytes} nextOffset ${s.nextOffset}, expected ${exp.bytes.length} / ${exp.nextOffset}`)
        s.release()
        s.release()
        if (mb === undefined || mb === 0 || mb === b.size + 1) {
          const recs = await log.readRecords(o, opts)
          const want = recordsOf(model, exp.batches, o)
          if (JSON.stringify(plain(recs)) !== JSON.stringify(plain(want))) failures.push(`readRecords(${o}, ${mb}): ${recs.length} records from ${recs[0]?.offset}, expected ${want.length} from ${want[0]?.offset}`)
        }
      }
    }
    t.deepEqual(failures.slice(0, 20), [], `${failures.length} reads differ from the fetch computed from the files`)
    t.true(crossed > 0, 'some reads crossed a segment boundary')
    t.true(before > 0, 'some reads began before the offset asked (inside a batch)')

    // The end and beyond.
    const atEnd = await log.read(N)
    t.true(Buffer.isBuffer(atEnd) && atEnd.length === 0, 'read(logEndOffset) is an empty Buffer')
    t.deepEqual(await log.readRecords(N), [])
    const s = await log.slice(N)
    t.is(s.bytes, 0)
    t.is(s.nextOffset, N)
    s.release()
    for (const m of ['read', 'readRecords', 'slice'] as const) {
      await assertLibError(t, `${m}(logEndOffset + 1)`, () => log[m](N + 1), 'RangeError', 'ERR_OFFSET_OUT_OF_RANGE')
      await assertLibError(t, `${m}(logEndOffset + 1000)`, () => log[m](N + 1000, { maxBytes: 0 }), 'RangeError', 'ERR_OFFSET_OUT_OF_RANGE')
    }

    // Below logStartOffset once retention has moved it.
    await log.close()
    const kept = await openIn(t, io, dir, { segmentBytes: 1500, indexIntervalBytes: 200, retentionBytes: 4000 })
    t.true((await kept.applyRetention()) > 0)
    const lso = kept.logStartOffset
    t.true(lso > 0)
    for (const m of ['read', 'readRecords', 'slice'] as const) {
      await assertLibError(t, `${m}(logStartOffset - 1)`, () => kept[m](lso - 1), 'RangeError', 'ERR_OFFSET_OUT_OF_RANGE')
      await assertLibError(t, `${m}(0)`, () => kept[m](0), 'RangeError', 'ERR_OFFSET_OUT_OF_RANGE')
    }
    const rest = scanLogDir(dir)
    t.true((await kept.read(lso, { maxBytes: 0 })).equals(expectedFetch(rest, lso, 0).bytes), 'read(logStartOffset) is the first remaining batch')
  })

  test(`${backend}: maxBytes: the default is 1 MiB; a first batch larger than maxBytes (or than 1 MiB) comes whole (KIP-74), never a partial batch`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-read-')
    const log = await openIn(t, io, dir, { segmentBytes: 4 * MiB })
    const sizes = [400_000, 400_000, 400_000, 1_500_000, 300_000, 300_000]
    for (const [i, n] of sizes.entries()) await log.append([{ value: Buffer.alloc(n, i + 1), timestamp: i }])
    const batches = scanLogDir(dir)
    t.is(batches.length, sizes.length)
    const r0 = await log.read(0)
    t.true(r0.equals(expectedFetch(batches, 0, MiB).bytes))
    t.is(parseBatches(r0).length, 2, 'two 400 kB batches fit in 1 MiB, the third would not')
    const r3 = await log.read(3)
    t.is(parseBatches(r3).length, 1, 'a 1.5 MB batch comes alone and whole under the default maxBytes')
    t.is(r3.length, batches[3].size)
    const r1 = await log.read(1, { maxBytes: 10 })
    t.true(r1.equals(batches[1].bytes), 'maxBytes 10: the first batch, whole')
    const all = await log.read(0, { maxBytes: 10 * MiB })
    t.is(all.length, batches.reduce((n, b) => n + b.size, 0), 'a large maxBytes reads the whole log')
    const recs = await log.readRecords(3, { maxBytes: 0 })
    t.is(recs.length, 1)
    t.is(recs[0].value!.length, 1_500_000)
    t.true(recs[0].value!.equals(Buffer.alloc(1_500_000, 4)))
  })

  test(`${backend}: reads racing appends return whole batches below the high watermark, equal to the bytes written`, async (t) => {
    const io = await openBackend(t, backend)
    for (const sync of ['always', 'none'] as const) {
      const dir = tmpDir(t, 'log-read-')
      const log = await openIn(t, io, dir, { segmentBytes: 3000, sync })
      const seen: Array<{ o: number; hw: number; bytes: Buffer }> = []
      let done = false
      const writer = (async () => {
        const r = prng(5)
        for (let i = 0; i < 60; i++) {
          const k = 1 + Math.floor(r() * 4)
          await Promise.all([log.append(Array.from({ length: k }, (_, j) => genRecord(3, i * 10 + j, i))), log.append([{ value: Buffer.alloc(50 + i, i) }])])
        }
        done = true
      })()
      const reader = async (seed: number) => {
        const r = prng(seed)
        while (!done) {
          const hw = log.highWatermark
          const o = Math.floor(r() * (hw + 1))
          seen.push({ o, hw, bytes: await log.read(o, { maxBytes: Math.floor(r() * 4000) }) })
          await new Promise((res) => setImmediate(res))
        }
      }
      await settleWithin(Promise.all([writer, reader(1), reader(2)]), 60_000, `appends and reads (${sync})`)
      const batches = scanLogDir(dir)
      t.is(contiguous(batches, 0, log.logEndOffset), null)
      const problems: string[] = []
      for (const { o, hw, bytes } of seen) {
        if (o === hw) {
          if (bytes.length !== 0 && parseBatches(bytes)[0].baseOffset > o) problems.push(`read(${o}) at the high watermark`)
          continue
        }
        let parsed
        try {
          parsed = parseBatches(bytes)
        } catch (e) {
          problems.push(`read(${o}): ${(e as Error).message}`)
          continue
        }
        if (parsed.length === 0) problems.push(`read(${o}) below the high watermark ${hw} was empty`)
        let at = 0
        for (const p of parsed) {
          const f = batches.find((b) => b.baseOffset === p.baseOffset)
          if (!f || !f.bytes.equals(bytes.subarray(at, at + p.size))) problems.push(`read(${o}): batch ${p.baseOffset} differs from the file`)
          at += p.size
        }
      }
      t.true(seen.length > 10, `${sync}: reads happened: ${seen.length}`)
      t.deepEqual(problems.slice(0, 10), [], `${sync}: ${problems.length} bad reads`)
    }
  })

  test(`${backend}: truncateTo drops the batch holding the offset and everything after, across segments; appends continue; reopen agrees`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-read-')
    const opts = { segmentBytes: 2000, indexIntervalBytes: 100 }
    let log = await openIn(t, io, dir, opts)
    let model = await fill(log, 21, 80, (n) => 2_000_000 + n)
    const N = model.length
    let batches = scanLogDir(dir)
    const segs = [...new Set(batches.map((b) => b.segmentBase))]
    t.true(segs.length >= 6, `several segments: ${segs.length}`)

    // No-ops: at and past the end.
    const before = hashDir(dir)
    await log.truncateTo(N)
    await log.truncateTo(N + 100)
    t.is(log.logEndOffset, N)
    t.deepEqual(hashDir(dir), before, 'truncateTo(offset >= logEndOffset) changes nothing')

    // Inside a multi-record batch of the third segment.
    const target = batches.find((b) => segs.indexOf(b.segmentBase) >= 2 && segs.indexOf(b.segmentBase) < segs.length - 2 && b.lastOffset > b.baseOffset && b.position > 0)!
    t.truthy(target, 'a multi-record batch inside an older segment, not its first')
    const si = segs.indexOf(target.segmentBase)
    const cutAt = target.baseOffset + 1
    const stale = await log.slice(cutAt + 1 <= target.lastOffset ? target.lastOffset : cutAt)
    await log.truncateTo(cutAt)
    t.is(log.logEndOffset, target.baseOffset, 'the end is the base offset of the batch that held the offset')
    t.is(log.highWatermark, target.baseOffset)
    t.deepEqual(
      segmentFiles(dir).map((s) => s.base),
      segs.slice(0, si + 1),
      'later segments are gone',
    )
    // The stale slice pins the later segments: they wait as *.deleted until it is released.
    const filesOf = (b: number) => fs.readdirSync(dir).filter((n) => n.startsWith(String(b).padStart(20, '0')))
    for (const b of segs.slice(si + 1)) t.true(filesOf(b).length > 0 && filesOf(b).every((n) => n.endsWith('.deleted')), `segment ${b}, pinned by a slice, is renamed *.deleted: ${filesOf(b).join(' ')}`)
    t.is(fs.statSync(segmentFiles(dir)[si].log).size, target.position, 'the segment is cut where the batch began')
    checkIndexes(t, dir, target.baseOffset, 'after truncateTo')
    model = model.slice(0, target.baseOffset)
    t.deepEqual(plain(await log.readRecords(0, { maxBytes: 100 * MiB })), plain(model))
    await assertLibError(t, 'read(old end)', () => log.read(N), 'RangeError', 'ERR_OFFSET_OUT_OF_RANGE')
    t.is((await log.read(target.baseOffset)).length, 0, 'read(new end) is empty')
    // A slice planned before the cut no longer reads.
    const sock = await drainSocketPair()
    t.teardown(sock.close)
    await assertLibError(t, 'sendTo of a slice the truncation cut', () => log.sendTo(sock.client, stale), 'RangeError', 'ERR_OFFSET_OUT_OF_RANGE')
    t.true(await eventually(() => segs.slice(si + 1).every((b) => filesOf(b).length === 0)), `once the slice is released (sendTo releases it) no file of a later segment is left: ${fs.readdirSync(dir).join(' ')}`)

    // Appends continue at the new end, in the same segment.
    model = await fill(log, 22, 12, (n) => 2_000_000 + n, model)
    t.is(log.logEndOffset, model.length)
    batches = scanLogDir(dir)
    t.is(contiguous(batches, 0, model.length), null)
    t.deepEqual(plain(await log.readRecords(0, { maxBytes: 100 * MiB })), plain(model))

    // At a segment's base offset: that segment is emptied and becomes the active one.
    const segs2 = segmentFiles(dir).map((s) => s.base)
    const base = segs2[segs2.length - 2]
    await log.truncateTo(base)
    t.is(log.logEndOffset, base)
    t.deepEqual(
      segmentFiles(dir).map((s) => s.base),
      segs2.slice(0, -1),
    )
    t.is(fs.statSync(segmentFiles(dir).at(-1)!.log).size, 0, 'the segment at the cut is empty')
    model = model.slice(0, base)
    t.deepEqual(await log.append([{ value: Buffer.from('at the base'), timestamp: 7 }]), { baseOffset: base, lastOffset: base })
    model.push(modelOf({ value: Buffer.from('at the base') }, base, 7))

    // Reopen sees the truncated log (and a clean marker-less crash would too).
    await log.close()
    checkIndexes(t, dir, model.length, 'after close')
    log = await openIn(t, io, dir, opts)
    t.is(log.logEndOffset, model.length)
    t.deepEqual(plain(await log.readRecords(0, { maxBytes: 100 * MiB })), plain(model), 'after reopen')
    t.deepEqual(await log.append([{ value: Buffer.from('after reopen'), timestamp: 8 }]), { baseOffset: model.length, lastOffset: model.length })
  })

  test(`${backend}: truncateTo runs in call order behind queued appends; to logStartOffset empties the log; below it is ERR_OFFSET_OUT_OF_RANGE`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-read-')
    const log = await openIn(t, io, dir, { segmentBytes: 1600, retentionBytes: 3000 })
    const model = await fill(log, 31, 40, (n) => n)
    const L = log.logEndOffset
    const p1 = log.append([{ value: Buffer.from('cut by the truncation') }])
    const p2 = log.truncateTo(L)
    const p3 = log.append([{ value: Buffer.from('after the truncation') }, { value: Buffer.from('second') }])
    const [i1, , i3] = await Promise.all([p1, p2, p3])
    t.deepEqual(i1, { baseOffset: L, lastOffset: L }, 'the append before truncateTo was written first')
    t.deepEqual(i3, { baseOffset: L, lastOffset: L + 1 }, 'the append after truncateTo follows the cut')
    t.deepEqual(
      (await log.readRecords(L)).map((r) => [r.offset, r.value!.toString()]),
      [
        [L, 'after the truncation'],
        [L + 1, 'second'],
      ],
    )
    t.deepEqual(plain((await log.readRecords(0, { maxBytes: 100 * MiB })).slice(0, L)), plain(model), 'what came before is untouched')

    t.true((await log.applyRetention()) > 0)
    const lso = log.logStartOffset
    t.true(lso > 0)
    await assertLibError(t, 'truncateTo(logStartOffset - 1)', () => log.truncateTo(lso - 1), 'RangeError', 'ERR_OFFSET_OUT_OF_RANGE')
    await assertLibError(t, 'truncateTo(0)', () => log.truncateTo(0), 'RangeError', 'ERR_OFFSET_OUT_OF_RANGE')
    await log.truncateTo(lso)
    t.is(log.logEndOffset, lso, 'truncateTo(logStartOffset) leaves an empty log')
    t.is(log.logStartOffset, lso)
    t.is(log.highWatermark, lso)
    t.deepEqual(await log.readRecords(lso), [])
    t.deepEqual(
      segmentFiles(dir).map((s) => [s.base, fs.statSync(s.log).size]),
      [[lso, 0]],
      'one empty segment at logStartOffset',
    )
    t.deepEqual(await log.append([{ value: Buffer.from('fresh') }]), { baseOffset: lso, lastOffset: lso })
  })

  test(`${backend}: offsetForTimestamp over many segments: the first record with timestamp >= ts (inside batches too), ties, going back in time; the same after reopen`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-read-')
    const opts = { segmentBytes: 1200, indexIntervalBytes: 150 }
    let log = await openIn(t, io, dir, opts)
    const T0 = 1_700_000_000_000
    const r = prng(99)
    const model: ModelRecord[] = []
    let clock = T0
    for (let a = 0; a < 80; a++) {
      const k = 1 + Math.floor(r() * 6)
      clock += Math.floor(r() * 50)
      const recs: LogRecordInput[] = Array.from({ length: k }, (_, i) => {
        // Inside a batch timestamps jump back and forth; some batches lie wholly in the
        // past of the one before (a producer's clock going back); ties are frequent.
        const jitter = Math.floor(r() * 5) * 20 - 40
        const back = a % 9 === 4 ? -300 : 0
        return { value: Buffer.from(`a${a}r${i}`), timestamp: clock + jitter + back + (i % 2 === 0 ? 0 : 7) }
      })
      const info = await log.append(recs)
      recs.forEach((rec, i) => model.push(modelOf(rec, info.baseOffset + i, rec.timestamp!)))
    }
    t.true(segmentFiles(dir).length >= 6, `several segments: ${segmentFiles(dir).length}`)
    const expected = (ts: number) => {
      const m = model.find((x) => x.timestamp >= ts)
      return m === undefined ? null : { offset: m.offset, timestamp: m.timestamp }
    }
    const stamps = [...new Set(model.map((m) => m.timestamp))]
    const queries = [0, T0 - 1000, Math.min(...stamps) - 1, Math.max(...stamps), Math.max(...stamps) + 1, T0 + 10 ** 9, ...stamps.flatMap((s) => [s - 1, s, s + 1])]
    t.true(
      model.some((m, i) => i > 0 && m.timestamp < model[i - 1].timestamp),
      'timestamps go back in the log',
    )
    t.true(
      stamps.length < model.length,
      'some timestamps repeat',
    )
    const check = async (what: string) => {
      const bad: string[] = []
      for (const q of queries) {
        const got = await log.offsetForTimestamp(q)
        const want = expected(q)
        if (JSON.stringify(got) !== JSON.stringify(want)) bad.push(`${what}: offsetForTimestamp(${q}) = ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`)
      }
      t.deepEqual(bad.slice(0, 10), [], `${bad.length} of ${queries.length} lookups differ`)
    }
    t.is(await log.offsetForTimestamp(Math.max(...stamps) + 1), null, 'null when every record is older')
    await check('open')
    await log.close()
    log = await openIn(t, io, dir, { ...opts, maxOpenSegments: 2 })
    await check('after reopen (indexes read from disk)')
    // Appending after reopen keeps lookups right in the active segment too.
    const info = await log.append([{ value: Buffer.from('late'), timestamp: T0 + 10 ** 9 }, { value: Buffer.from('early'), timestamp: T0 - 5 }])
    model.push(modelOf({ value: Buffer.from('late') }, info.baseOffset, T0 + 10 ** 9), modelOf({ value: Buffer.from('early') }, info.baseOffset + 1, T0 - 5))
    await check('after appending')
  })
}
