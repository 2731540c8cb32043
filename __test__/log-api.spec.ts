// The partition log's API (DESIGN.md §3 "Partition log (openLog)"), both backends:
// append/readRecords round trips (keys, null keys and values, headers with null values,
// explicit and default timestamps) checked against kafkajs's decoder too; hostile
// arguments with exact codes; ERR_RECORD_TOO_LARGE writing nothing; group commit and the
// sync policies counted through io.metrics(); waitFor; the directory lock (same process
// and another process); readOnly changing nothing, even after a crash; use after close
// and the clean-shutdown marker; ERR_LOG_FAILED after an injected EIO; the log metrics
// and their Prometheus families.

import fs from 'node:fs'
import path from 'node:path'
import { spawn } from 'node:child_process'
import test, { type ExecutionContext } from 'ava'

import { openLog, type LogRecordInput, type PartitionLog } from '../ts/index'
import type { Io } from '../ts/types'
import { assertLibError, assertSystemError, backendConfig, backends, describeError, fixture, type LibErrorClass, openBackend, outcome, settleWithin, tmpDir } from './helpers/backends'
import { cleanEnv, lastJson, runNode, summary } from './helpers/child'
import { faultyIo } from './helpers/faulty-io'
import { eventually, genRecord, hashDir, kafkajsDecode, type ModelRecord, modelOf, parseBatches, plain, segmentFiles } from './helpers/log-api-util'
import { parseExposition, valueOf } from './helpers/prometheus'

const CLEAN = '.kafka_cleanshutdown'

async function openIn(t: ExecutionContext, io: Io, dir: string, opts?: Parameters<typeof openLog>[2]): Promise<PartitionLog> {
  const log = await openLog(io, dir, opts)
  t.teardown(() => log.close().catch(() => undefined))
  return log
}

/** assertLibError, plus: the message names `mention` (an option or argument name). */
async function libError(t: ExecutionContext, what: string, fn: () => unknown, cls: LibErrorClass, code: string, mention?: string): Promise<void> {
  await assertLibError(t, what, fn, cls, code)
  if (mention === undefined) return
  const o = await outcome(fn)
  const msg = 'error' in o ? String((o.error as Error)?.message) : ''
  t.true(msg.includes(mention), `${what}: the message names ${mention}: ${JSON.stringify(msg)}`)
}

function segSizes(dir: string): number {
  return segmentFiles(dir).reduce((n, s) => n + fs.statSync(s.log).size, 0)
}

for (const backend of backends) {
  test(`${backend}: append/readRecords round trip: keys, null keys and values, headers (null values too), explicit and default timestamps`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-api-')
    let log = await openIn(t, io, dir, { leaderEpoch: 7 })
    t.is(log.logStartOffset, 0)
    t.is(log.logEndOffset, 0)
    t.is(log.highWatermark, 0)
    t.deepEqual(await log.readRecords(0), [], 'an empty log reads nothing')
    t.is((await log.read(0)).length, 0)

    const appends: LogRecordInput[][] = [
      [{ key: Buffer.from('k0'), value: Buffer.from('v0'), timestamp: 1_000 }],
      [
        { key: null, value: Buffer.from('no key'), timestamp: 1_001 },
        { value: null, timestamp: 1_002 }, // a tombstone without a key at all
        { key: Buffer.from('tomb'), value: null, timestamp: 999 }, // timestamps need not grow inside a batch
      ],
      [
        {
          key: new Uint8Array([1, 2, 3]), // a plain Uint8Array, not a Buffer
          value: new Uint8Array(0), // empty, which is not null
          headers: [
            { key: 'a', value: Buffer.from('x') },
            { key: '', value: Buffer.alloc(0) },
            { key: 'nil', value: null },
            { key: 'ünï', value: Buffer.from([0, 255, 0]) },
          ],
          timestamp: 2 ** 40 + 3,
        },
        { value: Buffer.from('empty headers'), headers: [], timestamp: 0 },
      ],
      [{ value: Buffer.from('default ts 1') }, { key: Buffer.from('d'), value: Buffer.from('default ts 2'), headers: [{ key: 'h', value: null }] }],
      [{ key: Buffer.alloc(300, 1), value: Buffer.alloc(5000, 7), timestamp: 1_003 }],
    ]
    const model: ModelRecord[] = []
    for (const recs of appends) {
      const before = Date.now()
      const info = await log.append(recs)
      const after = Date.now()
      t.deepEqual(info, { baseOffset: model.length, lastOffset: model.length + recs.length - 1 }, 'offsets follow on')
      t.is(log.logEndOffset, model.length + recs.length)
      t.is(log.highWatermark, log.logEndOffset, "sync 'always': the high watermark is the end once append resolves")
      const read = await log.readRecords(info.baseOffset)
      recs.forEach((r, i) => {
        let ts = r.timestamp
        if (ts === undefined) {
          ts = read[i].timestamp
          t.true(ts >= before && ts <= after, `a default timestamp is the time of the call: ${ts} not in [${before}, ${after}]`)
        }
        model.push(modelOf(r, info.baseOffset + i, ts))
      })
    }
    t.deepEqual(plain(await log.readRecords(0)), plain(model), 'readRecords(0) returns exactly what was appended')
    for (let o = 0; o <= model.length; o++) t.deepEqual(plain(await log.readRecords(o)), plain(model.slice(o)), `readRecords(${o}) drops offsets below ${o}`)

    // An implementation nobody here wrote reads the same bytes.
    const bytes = await log.read(0)
    const batches = parseBatches(bytes)
    t.is(batches.length, appends.length, 'one batch per append')
    for (const b of batches) {
      t.is(bytes.readInt32BE(b.position + 12), 7, 'partitionLeaderEpoch is the leaderEpoch option')
      t.is(bytes.readBigInt64BE(b.position + 43), -1n, 'producerId -1')
      t.is(bytes.readInt16BE(b.position + 51), -1, 'producerEpoch -1')
      t.is(bytes.readInt32BE(b.position + 53), -1, 'baseSequence -1')
    }
    const kj = await kafkajsDecode(bytes)
    t.is(kj.length, model.length)
    kj.forEach((r, i) => {
      const m = model[i]
      t.true(r.crcOk, `kafkajs record ${i}: CRC-32C holds`)
      t.is(r.offset, m.offset)
      t.is(r.timestamp, m.timestamp)
      t.deepEqual(r.key === null ? null : Buffer.from(r.key), m.key)
      t.deepEqual(r.value === null ? null : Buffer.from(r.value), m.value)
      const hs: Record<string, Buffer | null> = {}
      for (const h of m.headers) hs[h.key] = h.value
      t.deepEqual(Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v === null ? null : Buffer.from(v as Buffer)])), hs, `kafkajs record ${i}: headers`)
    })

    // The same after a clean reopen.
    await log.close()
    log = await openIn(t, io, dir)
    t.is(log.logEndOffset, model.length)
    t.deepEqual(plain(await log.readRecords(0)), plain(model), 'after reopen')
    const more = await log.append([{ value: Buffer.from('after reopen'), timestamp: 5 }])
    t.deepEqual(more, { baseOffset: model.length, lastOffset: model.length })
  })

  test(`${backend}: append([]) is ERR_INVALID_ARG_VALUE; hostile arguments get exact codes and write nothing`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-api-')
    const log = await openIn(t, io, dir)
    await log.append([{ value: Buffer.from('seed') }])
    const before = hashDir(dir)
    const ap = (r: unknown) => () => log.append(r as LogRecordInput[])
    await libError(t, 'append([])', ap([]), 'TypeError', 'ERR_INVALID_ARG_VALUE')
    const T = 'ERR_INVALID_ARG_TYPE'
    const R = 'ERR_OUT_OF_RANGE'
    const v = Buffer.from('v')
    const cases: Array<[string, unknown, LibErrorClass, string, string?]> = [
      ['undefined', undefined, 'TypeError', T, 'records'],
      ['null', null, 'TypeError', T, 'records'],
      ['a string', 'records', 'TypeError', T, 'records'],
      ['a Buffer', Buffer.from('x'), 'TypeError', T, 'records'],
      ['an array-like', { length: 1, 0: { value: v } }, 'TypeError', T, 'records'],
      ['[null]', [null], 'TypeError', T, 'records[0]'],
      ['[42]', [42], 'TypeError', T, 'records[0]'],
      ['a record without value', [{ value: v }, { key: v }], 'TypeError', T, 'records[1]'],
      ['value undefined', [{ value: undefined }], 'TypeError', T, 'records[0]'],
      ['value a string', [{ value: 'str' }], 'TypeError', T, 'records[0].value'],
      ['value a number', [{ value: 7 }], 'TypeError', T, 'records[0].value'],
      ['value an ArrayBuffer', [{ value: new ArrayBuffer(4) }], 'TypeError', T, 'records[0].value'],
      ['key a string', [{ key: 'k', value: v }], 'TypeError', T, 'records[0].key'],
      ['timestamp a string', [{ value: v, timestamp: '1' }], 'TypeError', T, 'records[0].timestamp'],
      ['timestamp a bigint', [{ value: v, timestamp: 1n }], 'TypeError', T, 'records[0].timestamp'],
      ['timestamp negative', [{ value: v, timestamp: -1 }], 'RangeError', R, 'records[0].timestamp'],
      ['timestamp fractional', [{ value: v, timestamp: 1.5 }], 'RangeError', R, 'records[0].timestamp'],
      ['timestamp NaN', [{ value: v, timestamp: NaN }], 'RangeError', R, 'records[0].timestamp'],
      ['timestamp Infinity', [{ value: v, timestamp: Infinity }], 'RangeError', R, 'records[0].timestamp'],
      ['timestamp 2^53', [{ value: v, timestamp: 2 ** 53 }], 'RangeError', R, 'records[0].timestamp'],
      ['headers not an array', [{ value: v, headers: { a: v } }], 'TypeError', T, 'records[0].headers'],
      ['a null header', [{ value: v, headers: [null] }], 'TypeError', T, 'records[0].headers[0]'],
      ['a header key not a string', [{ value: v, headers: [{ key: 1, value: v }] }], 'TypeError', T, 'records[0].headers[0].key'],
      ['a header value a string', [{ value: v, headers: [{ key: 'a', value: 'str' }] }], 'TypeError', T, 'records[0].headers[0].value'],
    ]
    for (const [what, arg, cls, code, mention] of cases) await libError(t, `append(${what})`, ap(arg), cls, code, mention)

    const offsetCases: Array<[string, unknown, LibErrorClass, string]> = [
      ['-1', -1, 'RangeError', R],
      ['1.5', 1.5, 'RangeError', R],
      ['NaN', NaN, 'RangeError', R],
      ['Infinity', Infinity, 'RangeError', R],
      ['2^53', 2 ** 53, 'RangeError', R],
      ["'0'", '0', 'TypeError', T],
      ['null', null, 'TypeError', T],
      ['undefined', undefined, 'TypeError', T],
      ['0n', 0n, 'TypeError', T],
    ]
    const anyLog = log as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>
    for (const m of ['read', 'readRecords', 'slice', 'waitFor', 'truncateTo']) {
      for (const [what, arg, cls, code] of offsetCases) await libError(t, `${m}(${what})`, () => anyLog[m](arg, m === 'waitFor' ? { timeoutMs: 0 } : undefined), cls, code, 'offset')
    }
    const optCases: Array<[string, unknown, LibErrorClass, string, string]> = [
      ['options a string', 'x', 'TypeError', T, 'options'],
      ['options null', null, 'TypeError', T, 'options'],
      ['maxBytes -1', { maxBytes: -1 }, 'RangeError', R, 'maxBytes'],
      ['maxBytes 1.5', { maxBytes: 1.5 }, 'RangeError', R, 'maxBytes'],
      ['maxBytes NaN', { maxBytes: NaN }, 'RangeError', R, 'maxBytes'],
      ["maxBytes '1'", { maxBytes: '1' }, 'TypeError', T, 'maxBytes'],
    ]
    for (const m of ['read', 'readRecords', 'slice']) {
      for (const [what, arg, cls, code, mention] of optCases) await libError(t, `${m}(0, ${what})`, () => anyLog[m](0, arg), cls, code, mention)
    }
    const waitCases: Array<[string, unknown, LibErrorClass, string, string]> = [
      ['options a number', 5, 'TypeError', T, 'options'],
      ['timeoutMs -1', { timeoutMs: -1 }, 'RangeError', R, 'timeoutMs'],
      ['timeoutMs NaN', { timeoutMs: NaN }, 'RangeError', R, 'timeoutMs'],
      ["timeoutMs '5'", { timeoutMs: '5' }, 'TypeError', T, 'timeoutMs'],
      ['signal a plain object', { signal: {} }, 'TypeError', T, 'signal'],
      ['signal a string', { signal: 'abort' }, 'TypeError', T, 'signal'],
    ]
    for (const [what, arg, cls, code, mention] of waitCases) await libError(t, `waitFor(5, ${what})`, () => log.waitFor(5, arg as never), cls, code, mention)
    await libError(t, "offsetForTimestamp('1')", () => log.offsetForTimestamp('1' as never), 'TypeError', T, 'ts')
    await libError(t, 'offsetForTimestamp(1.5)', () => log.offsetForTimestamp(1.5), 'RangeError', R, 'ts')
    await libError(t, 'offsetForTimestamp(NaN)', () => log.offsetForTimestamp(NaN), 'RangeError', R, 'ts')
    await libError(t, "appendBatch('x')", () => log.appendBatch('x' as never), 'TypeError', T, 'recordBatch')
    await libError(t, 'sendTo(socket, {})', () => log.sendTo({} as never, { bytes: 0, nextOffset: 0, release() {} }), 'TypeError', T, 'slice')
    t.deepEqual(hashDir(dir), before, 'no rejected call wrote anything')
    t.is(log.logEndOffset, 1)
    t.deepEqual(await log.append([{ value: Buffer.from('still fine') }]), { baseOffset: 1, lastOffset: 1 })
  })

  test(`${backend}: openLog rejects bad arguments and options, naming them, and creates nothing`, async (t) => {
    const io = await openBackend(t, backend)
    const root = tmpDir(t, 'log-api-')
    const dir = path.join(root, 'never')
    const T = 'ERR_INVALID_ARG_TYPE'
    const R = 'ERR_OUT_OF_RANGE'
    await libError(t, 'openLog(null io)', () => openLog(null as never, dir), 'TypeError', T, 'io')
    await libError(t, 'openLog({} as io)', () => openLog({} as never, dir), 'TypeError', T, 'io')
    await libError(t, 'openLog(io, 42)', () => openLog(io, 42 as never), 'TypeError', T, 'dir')
    await libError(t, 'openLog(io, undefined)', () => openLog(io, undefined as never), 'TypeError', T, 'dir')
    const cases: Array<[unknown, LibErrorClass, string, string]> = [
      ['x', 'TypeError', T, 'options'],
      [null, 'TypeError', T, 'options'],
      [{ segmentBytes: '1024' }, 'TypeError', T, 'segmentBytes'],
      [{ segmentBytes: 0 }, 'RangeError', R, 'segmentBytes'],
      [{ segmentBytes: 2 ** 31 }, 'RangeError', R, 'segmentBytes'],
      [{ segmentBytes: 4096.5 }, 'RangeError', R, 'segmentBytes'],
      [{ segmentBytes: NaN }, 'RangeError', R, 'segmentBytes'],
      [{ segmentMs: 0 }, 'RangeError', R, 'segmentMs'],
      [{ segmentMs: '1' }, 'TypeError', T, 'segmentMs'],
      [{ indexIntervalBytes: -1 }, 'RangeError', R, 'indexIntervalBytes'],
      [{ maxIndexBytes: 1 }, 'RangeError', R, 'maxIndexBytes'],
      [{ maxIndexBytes: 2 ** 31 }, 'RangeError', R, 'maxIndexBytes'],
      [{ retentionBytes: -1 }, 'RangeError', R, 'retentionBytes'],
      [{ retentionBytes: '1' }, 'TypeError', T, 'retentionBytes'],
      [{ retentionMs: -5 }, 'RangeError', R, 'retentionMs'],
      [{ retentionMs: 1.5 }, 'RangeError', R, 'retentionMs'],
      [{ leaderEpoch: -2 }, 'RangeError', R, 'leaderEpoch'],
      [{ leaderEpoch: 2 ** 31 }, 'RangeError', R, 'leaderEpoch'],
      [{ sync: 'sometimes' }, 'TypeError', T, 'sync'],
      [{ sync: { intervalMs: 0 } }, 'RangeError', R, 'intervalMs'],
      [{ sync: { intervalMs: '5' } }, 'TypeError', T, 'intervalMs'],
      [{ maxOpenSegments: 0 }, 'RangeError', R, 'maxOpenSegments'],
      [{ maxOpenSegments: '4' }, 'TypeError', T, 'maxOpenSegments'],
      [{ readOnly: 'yes' }, 'TypeError', T, 'readOnly'],
    ]
    for (const [opts, cls, code, mention] of cases) await libError(t, `openLog(io, dir, ${JSON.stringify(opts)})`, () => openLog(io, dir, opts as never), cls, code, mention)
    t.false(fs.existsSync(dir), 'a rejected openLog creates no directory')
    await assertSystemError(t, 'readOnly on a missing directory', () => openLog(io, dir, { readOnly: true }), { code: 'ENOENT', path: dir })
    t.false(fs.existsSync(dir), 'readOnly creates no directory')
  })

  test(`${backend}: a batch larger than segmentBytes is ERR_RECORD_TOO_LARGE and writes nothing; one of exactly segmentBytes fits`, async (t) => {
    const io = await openBackend(t, backend)
    const S = 2000
    // The size of a one-record batch, measured on a log of its own (sizes from the file).
    const probeDir = tmpDir(t, 'log-api-probe-')
    const probe = await openIn(t, io, probeDir)
    await probe.append([{ value: Buffer.alloc(1000, 1), timestamp: 1 }])
    const s1000 = segSizes(probeDir)
    const fitting = 1000 + (S - s1000)
    await probe.append([{ value: Buffer.alloc(fitting, 1), timestamp: 1 }])
    t.is(segSizes(probeDir) - s1000, S, `a value of ${fitting} bytes makes a batch of exactly ${S}`)

    const dir = tmpDir(t, 'log-api-')
    const log = await openIn(t, io, dir, { segmentBytes: S })
    await log.append([{ value: Buffer.from('first'), timestamp: 1 }])
    const before = hashDir(dir)
    await libError(t, 'append of a batch of segmentBytes + 1', () => log.append([{ value: Buffer.alloc(fitting + 1, 1), timestamp: 1 }]), 'RangeError', 'ERR_RECORD_TOO_LARGE', 'segmentBytes')
    await libError(t, 'append of many records over segmentBytes', () => log.append(Array.from({ length: 40 }, () => ({ value: Buffer.alloc(60, 2) }))), 'RangeError', 'ERR_RECORD_TOO_LARGE')
    t.deepEqual(hashDir(dir), before, 'nothing written')
    t.is(log.logEndOffset, 1)
    t.deepEqual(await log.append([{ value: Buffer.alloc(fitting, 3), timestamp: 1 }]), { baseOffset: 1, lastOffset: 1 }, 'a batch of exactly segmentBytes is accepted')
    const segs = segmentFiles(dir)
    t.is(segs.length, 2, 'it rolled to a segment of its own')
    t.is(fs.statSync(segs[1].log).size, S)
    t.is(segs[1].base, 1)
    const recs = await log.readRecords(1)
    t.is(recs.length, 1)
    t.true(recs[0].value!.equals(Buffer.alloc(fitting, 3)))
  })

  test(`${backend}: group commit: N concurrent appends under sync 'always' take fewer write + fdatasync pairs than N, offsets in call order`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-api-')
    const log = await openIn(t, io, dir)
    await log.append([{ value: Buffer.from('warm-up') }])
    const N = 64
    const m0 = io.metrics().ops
    const hwAtResolve: Array<[number, number]> = []
    const infos = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        log.append([{ value: Buffer.from(`rec-${i}`) }, { value: Buffer.from(`rec-${i}b`) }]).then((info) => {
          hwAtResolve.push([info.lastOffset, log.highWatermark])
          return info
        }),
      ),
    )
    const m1 = io.metrics().ops
    const syncs = m1.fdatasync.count - m0.fdatasync.count
    const writes = m1.write.count - m0.write.count
    t.true(syncs >= 1 && syncs < N, `fdatasyncs for ${N} concurrent appends: ${syncs}`)
    t.true(writes >= 1 && writes < N, `writes for ${N} concurrent appends: ${writes}`)
    infos.forEach((info, i) => t.deepEqual(info, { baseOffset: 1 + 2 * i, lastOffset: 2 + 2 * i }, `append ${i} got its offsets in call order`))
    for (const [last, hw] of hwAtResolve) t.true(hw > last, `the high watermark (${hw}) covers an append (last offset ${last}) once it resolves`)
    t.is(log.highWatermark, log.logEndOffset)
    t.is(log.logEndOffset, 1 + 2 * N)
    const recs = await log.readRecords(1)
    t.deepEqual(
      recs.map((r) => r.value!.toString()),
      Array.from({ length: N }, (_, i) => [`rec-${i}`, `rec-${i}b`]).flat(),
      'the records are in call order',
    )
  })

  test(`${backend}: sync 'none': reads see written data without an fdatasync; flush() makes it durable`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-api-')
    const log = await openIn(t, io, dir, { sync: 'none' })
    const s0 = io.metrics().ops.fdatasync.count
    const infos = await Promise.all(Array.from({ length: 10 }, (_, i) => log.append([{ value: Buffer.from(`n${i}`) }])))
    t.deepEqual(
      infos.map((i) => i.baseOffset),
      Array.from({ length: 10 }, (_, i) => i),
    )
    t.is(log.highWatermark, 10, "under 'none' the high watermark is the end of what was written")
    t.deepEqual(
      (await log.readRecords(0)).map((r) => r.value!.toString()),
      Array.from({ length: 10 }, (_, i) => `n${i}`),
    )
    t.is(io.metrics().ops.fdatasync.count, s0, "sync 'none' issues no fdatasync for appends")
    await log.flush()
    t.true(io.metrics().ops.fdatasync.count > s0, 'flush() issues an fdatasync')
  })

  test(`${backend}: sync { intervalMs } syncs on its own, and does not keep the process alive`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-api-')
    const log = await openIn(t, io, dir, { sync: { intervalMs: 20 } })
    const s0 = io.metrics().ops.fdatasync.count
    const info = await log.append([{ value: Buffer.from('interval') }])
    t.is(log.highWatermark, info.lastOffset + 1)
    t.true(await eventually(() => io.metrics().ops.fdatasync.count > s0, 20_000), 'an fdatasync came from the interval')

    const childDir = tmpDir(t, 'log-api-child-')
    const r = await runNode([fixture('log-api-child'), JSON.stringify({ ...backendConfig(backend), dir: childDir, mode: 'interval' })], { timeoutMs: 30_000 })
    t.false(r.timedOut, `the child exited by itself: ${summary(r)}`)
    t.is(r.code, 0, summary(r))
    t.deepEqual(lastJson<{ appended: boolean; logEndOffset: number }>(r), { appended: true, logEndOffset: 1 })
  })

  test(`${backend}: waitFor: true at once below the high watermark, true once an append covers it, false on timeout and on close, AbortError on abort`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-api-')
    const log = await openIn(t, io, dir)
    t.false(await log.waitFor(0, { timeoutMs: 0 }), 'nothing yet, timeoutMs 0: false at once')
    await log.append([{ value: Buffer.from('a') }, { value: Buffer.from('b') }])
    t.true(await log.waitFor(0), 'highWatermark 2 > 0')
    t.true(await log.waitFor(1, { timeoutMs: 0 }), 'highWatermark 2 > 1')

    let settled: unknown = 'pending'
    const w = log.waitFor(3, { timeoutMs: 60_000 })
    void w.then((v) => (settled = v))
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
    t.is(settled, 'pending', 'waitFor(3) waits while the high watermark is 2')
    await log.append([{ value: Buffer.from('c') }])
    t.is(settled, 'pending', 'offset 2 does not satisfy waitFor(3)')
    const info = await log.append([{ value: Buffer.from('d') }])
    t.true(await settleWithin(w, 10_000, 'waitFor(3)'), 'true once an append makes the high watermark 4')
    t.is(info.lastOffset, 3)
    t.true((await log.read(3)).length > 0, 'what waitFor announced is readable')

    t.false(await settleWithin(log.waitFor(10, { timeoutMs: 30 }), 10_000, 'waitFor with timeoutMs'), 'false on timeout')

    const ac = new AbortController()
    const aborted = log.waitFor(10, { signal: ac.signal })
    ac.abort(new Error('stop'))
    const a = await outcome(() => aborted)
    t.is(a.kind, 'rejected')
    t.like(describeError((a as { error: unknown }).error), { name: 'AbortError', code: 'ABORT_ERR' })
    const pre = await outcome(() => log.waitFor(10, { signal: AbortSignal.abort() }))
    t.is(pre.kind, 'rejected', 'an already-aborted signal rejects')
    t.like(describeError((pre as { error: unknown }).error), { name: 'AbortError', code: 'ABORT_ERR' })

    // Many waiters, some with signals that never fire: all settle false at close.
    const ac2 = new AbortController()
    const pending = [log.waitFor(100), log.waitFor(4, { timeoutMs: 60_000 }), log.waitFor(50, { signal: ac2.signal })]
    await log.close()
    t.deepEqual(await settleWithin(Promise.all(pending), 10_000, 'waitFor at close'), [false, false, false], 'close resolves waiters false')
    ac2.abort()
    t.false(await log.waitFor(100), 'waitFor on a closed log: false')
  })

  test(`${backend}: the lock: a second openLog in this process is ERR_LOG_LOCKED; readOnly opens beside the writer`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-api-')
    const log = await openIn(t, io, dir)
    await log.append([{ value: Buffer.from('one') }, { value: Buffer.from('two') }])
    await libError(t, 'second openLog, same Io', () => openLog(io, dir), 'Error', 'ERR_LOG_LOCKED')
    const io2 = await openBackend(t, backend)
    await libError(t, 'second openLog, another Io', () => openLog(io2, dir), 'Error', 'ERR_LOG_LOCKED')
    t.false(fs.existsSync(path.join(dir, CLEAN)), 'no clean-shutdown marker while open')
    const ro = await openIn(t, io2, dir, { readOnly: true })
    t.is(ro.logEndOffset, 2)
    t.deepEqual(
      (await ro.readRecords(0)).map((r) => r.value!.toString()),
      ['one', 'two'],
    )
    await ro.close()
    t.deepEqual(await log.append([{ value: Buffer.from('three') }]), { baseOffset: 2, lastOffset: 2 }, 'the writer is unaffected')
    await log.close()
    t.true(fs.existsSync(path.join(dir, CLEAN)), 'close writes the clean-shutdown marker')
    const again = await openIn(t, io, dir)
    t.false(fs.existsSync(path.join(dir, CLEAN)), 'open removes it')
    t.is(again.recovery.clean, true)
    t.is(again.logEndOffset, 3)
  })

  test(`${backend}: the lock across processes: ERR_LOG_LOCKED both ways, free again after the holder is gone`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-api-')
    const arg = (mode: string) => JSON.stringify({ ...backendConfig(backend), dir, mode })
    // This process holds it: the child is refused.
    const log = await openLog(io, dir)
    await log.append([{ value: Buffer.from('x') }])
    let r = await runNode([fixture('log-api-child'), arg('try')])
    t.is(lastJson<{ code: string | null }>(r).code, 'ERR_LOG_LOCKED', summary(r))
    await log.close()
    r = await runNode([fixture('log-api-child'), arg('try')])
    t.is(lastJson<{ code: string | null }>(r).code, null, `free after close: ${summary(r)}`)

    // A child holds it: this process is refused until the child dies.
    const child = spawn(process.execPath, [fixture('log-api-child'), arg('hold')], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    t.teardown(() => void child.kill('SIGKILL'))
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d))
    t.true(await eventually(() => out.includes('"held":true') || out.includes('error') || child.exitCode !== null, 30_000), `the child holds the log: ${out}`)
    t.true(out.includes('"held":true'), out)
    await libError(t, 'openLog while a child holds it', () => openLog(io, dir), 'Error', 'ERR_LOG_LOCKED')
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await settleWithin(exited, 10_000, 'the child exits')
    const after = await openIn(t, io, dir)
    t.is(after.logEndOffset, 1, 'the log opens once the holder is gone')
  })

  test(`${backend}: readOnly after a crash changes nothing on disk (names, sizes, bytes), also after reads; writes are ERR_LOG_READ_ONLY`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-api-')
    const N = 60
    const r = await runNode([fixture('log-api-child'), JSON.stringify({ ...backendConfig(backend), dir, mode: 'crash', records: N })], { timeoutMs: 60_000 })
    t.is(r.code, 0, summary(r))
    t.is(lastJson<{ logEndOffset: number }>(r).logEndOffset, N)
    t.false(fs.existsSync(path.join(dir, CLEAN)), 'a crash leaves no marker')
    const segs = segmentFiles(dir)
    t.true(segs.length >= 3, `several segments: ${segs.length}`)
    // A torn tail on the active segment: recovery would cut it; readOnly must not.
    const active = segs[segs.length - 1].log
    fs.appendFileSync(active, Buffer.from([0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 1, 0, 0xff, 0xee]))
    const before = hashDir(dir)

    const ro = await openIn(t, io, dir, { readOnly: true })
    t.false(ro.recovery.clean)
    t.is(ro.recovery.truncatedBytes, 14, 'the torn tail is found (and left as is)')
    t.is(ro.recovery.file, active)
    t.is(typeof ro.recovery.reason, 'string')
    t.is(ro.logStartOffset, 0)
    t.is(ro.logEndOffset, N)
    t.is(ro.highWatermark, N)
    const want = Array.from({ length: N }, (_, n) => modelOf(genRecord(77, n, 5_000_000 + n), n, 5_000_000 + n))
    const got = []
    for (let o = 0; o < N; ) {
      const rs = await ro.readRecords(o, { maxBytes: 1 })
      t.true(rs.length > 0)
      got.push(...rs)
      o = rs[rs.length - 1].offset + 1
    }
    t.deepEqual(plain(got), plain(want), 'every record reads back')
    t.deepEqual(await ro.offsetForTimestamp(5_000_000 + 33), { offset: 33, timestamp: 5_000_033 })
    const s = await ro.slice(0)
    t.true(s.bytes > 0)
    s.release()
    t.true(await ro.waitFor(N - 1, { timeoutMs: 0 }))
    for (const [m, call] of [
      ['append', () => ro.append([{ value: Buffer.from('no') }])],
      ['appendBatch', () => ro.appendBatch(Buffer.alloc(61))],
      ['truncateTo', () => ro.truncateTo(1)],
      ['flush', () => ro.flush()],
      ['applyRetention', () => ro.applyRetention()],
    ] as const) await libError(t, `${m} on a readOnly log`, call, 'Error', 'ERR_LOG_READ_ONLY', m)
    t.deepEqual(hashDir(dir), before, 'nothing changed while open and reading')
    await ro.close()
    t.deepEqual(hashDir(dir), before, 'nothing changed at close (no marker, no trimmed index, no lock file)')

    // A writer then recovers it: the torn tail goes, every record stays.
    const w = await openIn(t, io, dir)
    t.is(w.recovery.truncatedBytes, 14)
    t.is(w.logEndOffset, N)
    t.is(fs.statSync(active).size, before[path.basename(active)].size - 14)
  })

  test(`${backend}: after close every call is ERR_IO_CLOSED; close is idempotent`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-api-')
    const log = await openLog(io, dir)
    await log.append([{ value: Buffer.from('x') }])
    const s = await log.slice(0)
    await log.close()
    await log.close()
    t.true(fs.existsSync(path.join(dir, CLEAN)))
    for (const [m, call] of [
      ['append', () => log.append([{ value: Buffer.from('no') }])],
      ['appendBatch', () => log.appendBatch(Buffer.alloc(61))],
      ['read', () => log.read(0)],
      ['readRecords', () => log.readRecords(0)],
      ['slice', () => log.slice(0)],
      ['truncateTo', () => log.truncateTo(0)],
      ['flush', () => log.flush()],
      ['applyRetention', () => log.applyRetention()],
      ['offsetForTimestamp', () => log.offsetForTimestamp(0)],
    ] as const) await libError(t, `${m} after close`, call, 'Error', 'ERR_IO_CLOSED')
    t.notThrows(() => s.release(), 'releasing a slice after close is harmless')
    t.notThrows(() => s.release(), 'and idempotent')
  })

  test(`${backend}: a failed fdatasync: the waiting appends reject with it, later ones ERR_LOG_FAILED with cause; reopen keeps what was acknowledged`, async (t) => {
    const inner = await openBackend(t, backend)
    const fio = faultyIo(inner)
    const dir = tmpDir(t, 'log-api-')
    const log = await openIn(t, fio, dir)
    const acked: string[] = []
    for (let i = 0; i < 5; i++) {
      await log.append([{ value: Buffer.from(`acked-${i}`) }])
      acked.push(`acked-${i}`)
    }
    fio.failNext('syncData', 'EIO', { path: /\.log$/ })
    const doomed = ['doomed-0', 'doomed-1', 'doomed-2', 'doomed-3']
    const ps = [log.append([{ value: Buffer.from(doomed[0]) }]), log.append([{ value: Buffer.from(doomed[1]) }])]
    await new Promise((r) => setImmediate(r)) // the first group is on its way; these two queue behind it
    ps.push(log.append([{ value: Buffer.from(doomed[2]) }]), log.append([{ value: Buffer.from(doomed[3]) }]))
    const results = await settleWithin(Promise.allSettled(ps), 20_000, 'appends around the failed fdatasync')
    t.is(fio.stats.injected, 1, 'the fault fired')
    const errors = results.map((x) => (x.status === 'rejected' ? x.reason : null))
    for (const [i, e] of errors.entries()) t.is(describeError(e).code, 'EIO', `waiting append ${i} rejects with the fdatasync's error: ${JSON.stringify(describeError(e))}`)
    const later = await outcome(() => log.append([{ value: Buffer.from('later') }]))
    t.is(later.kind, 'rejected')
    const le = (later as { error: Error & { code?: string; cause?: unknown } }).error
    t.is(le.code, 'ERR_LOG_FAILED')
    t.is(describeError(le.cause).code, 'EIO', 'cause is the failed fdatasync')
    t.is(le.cause, errors[0], 'cause is that very error')
    await libError(t, 'flush after the failure', () => log.flush(), 'Error', 'ERR_LOG_FAILED')
    await libError(t, 'truncateTo after the failure', () => log.truncateTo(0), 'Error', 'ERR_LOG_FAILED')
    t.is(log.highWatermark, acked.length, 'the high watermark stays at what was acknowledged')
    t.deepEqual(
      (await log.readRecords(0)).map((r) => r.value!.toString()),
      acked,
      'reads return only what was acknowledged',
    )
    await log.close()
    t.false(fs.existsSync(path.join(dir, CLEAN)), 'a failed log does not claim a clean shutdown')

    const re = await openIn(t, inner, dir)
    t.false(re.recovery.clean)
    const values = (await re.readRecords(0)).map((r) => r.value!.toString())
    t.deepEqual(values.slice(0, acked.length), acked, 'every acknowledged record is intact')
    const extra = values.slice(acked.length)
    t.deepEqual(extra, doomed.slice(0, extra.length), 'beyond them at most a prefix of the failed appends, nothing invented')
    const info = await re.append([{ value: Buffer.from('after reopen') }])
    t.is(info.baseOffset, values.length, 'appends continue after reopen')
  })

  test.serial(`${backend}: metrics: io.metrics().log counts appends, batches, records and bytes; io.prometheus() has the streamline_log_* families`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-api-')
    const log = await openIn(t, io, dir)
    const m0 = io.metrics().log
    const sizes = [1, 3, 2, 5]
    await Promise.all(sizes.map((n, i) => log.append(Array.from({ length: n }, (_, j) => ({ value: Buffer.alloc(100 + 10 * j, i) })))))
    await log.append([{ key: Buffer.from('k'), value: null }])
    const m1 = io.metrics().log
    const bytes = segSizes(dir)
    t.is(m1.appends - m0.appends, sizes.length + 1, 'appends')
    t.is(m1.batches - m0.batches, sizes.length + 1, 'batches')
    t.is(m1.records - m0.records, sizes.reduce((a, b) => a + b, 0) + 1, 'records')
    t.is(m1.bytes - m0.bytes, bytes, 'bytes: what the .log files grew by')
    t.true(m1.openSegmentFiles >= 1, 'the active segment is open')
    const fam = parseExposition(io.prometheus())
    const m = io.metrics().log
    const expect: Array<[string, 'counter' | 'gauge', number]> = [
      ['streamline_log_appends_total', 'counter', m.appends],
      ['streamline_log_batches_total', 'counter', m.batches],
      ['streamline_log_records_total', 'counter', m.records],
      ['streamline_log_bytes_total', 'counter', m.bytes],
      ['streamline_log_recoveries_total', 'counter', m.recoveries],
      ['streamline_log_truncated_bytes_total', 'counter', m.truncatedBytes],
      ['streamline_log_retention_deleted_segments_total', 'counter', m.retentionDeletions],
      ['streamline_log_open_segment_files', 'gauge', m.openSegmentFiles],
    ]
    for (const [name, type, value] of expect) {
      const f = [...fam.values()].find((x) => x.samples.some((s) => s.name === name))
      t.is(f?.type, type, `${name} is a ${type}`)
      t.is(valueOf(fam, name), value, `${name} equals io.metrics().log`)
    }
    await log.close()
    t.is(io.metrics().log.openSegmentFiles, m1.openSegmentFiles - 1, 'close releases the open segment file')
  })
}
