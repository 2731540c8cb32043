// The partition log's bytes against the Kafka protocol spec, judged by parties that are
// not the library: hand-computed CRC-32C and varint vectors; a RecordBatch v2 written
// field by field in this file and compared byte for byte with what append() stores;
// appendBatch() with batches from kafkajs's own encoder (uncompressed and gzip, an
// idempotent producer's id/epoch/sequence) stored as sent, read valid by Kafka's
// DumpLogSegments and by kafkajs's decoder; appendBatch() refusing malformed batches
// without writing anything. Indexes, rolls and recovery: log-kafka-compat.spec.ts.

import fs from 'node:fs'
import test, { type ExecutionContext } from 'ava'

import { crc32c, openLog, type PartitionLog } from '../ts/index'
import type { Io } from '../ts/types'
import { readVarint, varintBytes, writeVarint } from '../ts/log/varint'
import { assertBytes, assertLibError, backends, openBackend, tmpDir } from './helpers/backends'
import { parseLogDump } from './helpers/kafka'
import { Bytes, crc32cReference, recrc, runTool, segmentFiles } from './helpers/log-format'
import { type Producer, type ProducerRecord, kafkajsBatch, kafkajsDecode } from './helpers/log-kafkajs'

// ---------------------------------------------------------------------------------------
// Vectors computed from the definitions, independent of any encoder here.

test('CRC-32C check values (RFC 3720 B.4 and "123456789"): the bitwise reference and crc32c() agree', (t) => {
  const vectors: Array<[string, Buffer, number]> = [
    ['"123456789"', Buffer.from('123456789'), 0xe3069283],
    ['empty', Buffer.alloc(0), 0x00000000],
    ['32 × 0x00', Buffer.alloc(32, 0), 0x8a9136aa],
    ['32 × 0xff', Buffer.alloc(32, 0xff), 0x62a8ab43],
    ['0x00..0x1f', Buffer.from(Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e],
    ['0x1f..0x00', Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c],
  ]
  for (const [what, data, expected] of vectors) {
    t.is(crc32cReference(data), expected, `reference CRC of ${what}`)
    t.is(crc32c(data), expected, `crc32c() of ${what}`)
  }
})

/** Zig-zag varint/varlong encodings, worked out by hand from the spec (7 bits per byte, least significant group first). */
const VARINTS: Array<[number, number[]]> = [
  [0, [0x00]],
  [-1, [0x01]],
  [1, [0x02]],
  [-2, [0x03]],
  [2, [0x04]],
  [-64, [0x7f]],
  [63, [0x7e]],
  [64, [0x80, 0x01]],
  [-65, [0x81, 0x01]],
  [300, [0xd8, 0x04]],
  [-300, [0xd7, 0x04]],
  [8191, [0xfe, 0x7f]],
  [8192, [0x80, 0x80, 0x01]],
  [-8193, [0x81, 0x80, 0x01]],
  [2 ** 31 - 2, [0xfc, 0xff, 0xff, 0xff, 0x0f]],
  [2 ** 31 - 1, [0xfe, 0xff, 0xff, 0xff, 0x0f]],
  [-(2 ** 31) + 1, [0xfd, 0xff, 0xff, 0xff, 0x0f]],
  [-(2 ** 31), [0xff, 0xff, 0xff, 0xff, 0x0f]],
  [2 ** 31, [0x80, 0x80, 0x80, 0x80, 0x10]],
  [-(2 ** 31) - 1, [0x81, 0x80, 0x80, 0x80, 0x10]],
  [2 ** 32, [0x80, 0x80, 0x80, 0x80, 0x20]],
  [-(2 ** 32), [0xff, 0xff, 0xff, 0xff, 0x1f]],
  [1_700_000_000_000, [0x80, 0xa0, 0xab, 0xfe, 0xf9, 0x62]],
  [-1_700_000_000_000, [0xff, 0x9f, 0xab, 0xfe, 0xf9, 0x62]],
  [2 ** 52 - 1, [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]],
  [2 ** 52, [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]],
  [-(2 ** 52), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]],
  [2 ** 52 + 1, [0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]],
  [-(2 ** 52) - 1, [0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]],
  [Number.MAX_SAFE_INTEGER, [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f]],
  [-Number.MAX_SAFE_INTEGER, [0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f]],
]

test('varint/varlong: writeVarint writes the spec bytes, varintBytes counts them, readVarint reads them back', (t) => {
  for (const [n, bytes] of VARINTS) {
    const expected = Buffer.from(bytes)
    const b = Buffer.alloc(16, 0xaa)
    const end = writeVarint(b, 3, n)
    t.is(end, 3 + bytes.length, `writeVarint(${n}) length`)
    t.is(b.subarray(3, end).toString('hex'), expected.toString('hex'), `writeVarint(${n}) bytes`)
    t.is(b[end], 0xaa, `writeVarint(${n}) wrote past its end`)
    t.is(varintBytes(n), bytes.length, `varintBytes(${n})`)
    // Read from the spec bytes, with something after them that must not be consumed.
    const src = Buffer.concat([Buffer.from([0x55]), expected, Buffer.from([0x7f])])
    t.deepEqual(readVarint(src, 1, src.length), { value: n, next: 1 + bytes.length }, `readVarint of ${n}'s bytes`)
  }
})

test('readVarint refuses what is no safe integer or runs past its end', (t) => {
  const read = (bytes: number[], end = bytes.length) => readVarint(Buffer.from(bytes), 0, end)
  t.is(read([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), null, 'Long.MAX_VALUE does not fit 53 bits')
  t.is(read([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), null, 'Long.MIN_VALUE does not fit 53 bits')
  t.is(read([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]), null, '2^54 (zig-zag 2^55) does not fit 53 bits')
  t.is(read([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), null, 'longer than 10 bytes')
  t.is(read([0x80]), null, 'a continuation bit at the end of the buffer')
  t.is(read([0xd8, 0x04], 1), null, 'a varint cut by `end`')
  t.is(read([], 0), null, 'nothing to read')
})

// ---------------------------------------------------------------------------------------
// A RecordBatch v2 written field by field from the spec (https://kafka.apache.org/documentation/#recordbatch).

const T0 = 1_700_000_000_000 // 0x0000018BCFE56800

/** A record: its hand-computed length varint, checked against the body it frames. */
function framed(lengthVarint: number[], length: number, body: Bytes): Buffer {
  // Zig-zag: a length L is written as 2L; here L < 64, so one byte.
  if (lengthVarint.length !== 1 || lengthVarint[0] !== 2 * length) throw new Error(`hand arithmetic: varint ${lengthVarint} is not zig-zag ${length}`)
  if (body.length !== length) throw new Error(`hand arithmetic: the record body is ${body.length} bytes, not ${length}`)
  return Buffer.concat([Buffer.from(lengthVarint), body.build()])
}

/**
 * Three records with fixed timestamps (the last one older than the first), a key, a null
 * key, a null value, headers with a null value and an empty value, as the spec lays them out.
 */
function handBatch(baseOffset: bigint, partitionLeaderEpoch: number): Buffer {
  const r0 = new Bytes()
    .raw([0x00]) // attributes int8
    .raw([0x00]) // timestampDelta varlong 0
    .raw([0x00]) // offsetDelta varint 0
    .raw([0x02]) // keyLength 1
    .raw('a')
    .raw([0x0a]) // valueLength 5
    .raw('hello')
    .raw([0x04]) // headers count 2
    .raw([0x02]) // header key length 1
    .raw('h')
    .raw([0x02]) // header value length 1
    .raw('v')
    .raw([0x02]) // header key length 1
    .raw('n')
    .raw([0x01]) // header value length -1: null
  const r1 = new Bytes()
    .raw([0x00]) // attributes
    .raw([0xd8, 0x04]) // timestampDelta +300
    .raw([0x02]) // offsetDelta 1
    .raw([0x01]) // keyLength -1: null key
    .raw([0x04]) // valueLength 2
    .raw('xy')
    .raw([0x00]) // no headers
  const r2 = new Bytes()
    .raw([0x00]) // attributes
    .raw([0x05]) // timestampDelta -3
    .raw([0x04]) // offsetDelta 2
    .raw([0x02]) // keyLength 1
    .raw('b')
    .raw([0x01]) // valueLength -1: null value (a tombstone)
    .raw([0x02]) // headers count 1
    .raw([0x02]) // header key length 1
    .raw('z')
    .raw([0x00]) // header value length 0: empty, not null
  const records = Buffer.concat([framed([0x26], 19, r0), framed([0x12], 9, r1), framed([0x14], 10, r2)])
  const checked = new Bytes()
    .int16(0) // attributes: no compression, CreateTime, not transactional, not control
    .int32(2) // lastOffsetDelta
    .int64(BigInt(T0)) // baseTimestamp: the first record's
    .int64(BigInt(T0 + 300)) // maxTimestamp
    .int64(-1n) // producerId
    .int16(-1) // producerEpoch
    .int32(-1) // baseSequence
    .int32(3) // records count
    .raw(records)
    .build()
  return new Bytes()
    .int64(baseOffset)
    .int32(4 + 1 + 4 + checked.length) // batchLength: the bytes after this field
    .int32(partitionLeaderEpoch)
    .int8(2) // magic
    .uint32(crc32cReference(checked)) // CRC-32C of attributes … end
    .raw(checked)
    .build()
}

const HAND_RECORDS = [
  {
    key: Buffer.from('a'),
    value: Buffer.from('hello'),
    timestamp: T0,
    headers: [
      { key: 'h', value: Buffer.from('v') },
      { key: 'n', value: null },
    ],
  },
  { key: null, value: Buffer.from('xy'), timestamp: T0 + 300 },
  { key: Buffer.from('b'), value: null, timestamp: T0 - 3, headers: [{ key: 'z', value: Buffer.alloc(0) }] },
]

test('the hand-built batch is the size the spec arithmetic gives', (t) => {
  const b = handBatch(0n, 5)
  t.is(b.length, 61 + 20 + 10 + 11)
  t.is(b.readInt32BE(8), b.length - 12)
})

function logFile(dir: string): string {
  const segs = segmentFiles(dir)
  if (segs.length !== 1) throw new Error(`expected one segment in ${dir}, found ${segs.length}`)
  return segs[0].log
}

for (const backend of backends) {
  test(`${backend}: append() stores exactly the RecordBatch v2 built by hand from the spec`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-format-hand-')
    const log = await openLog(io, dir, { leaderEpoch: 5 })
    t.teardown(() => log.close().catch(() => {}))
    t.deepEqual(await log.append(HAND_RECORDS), { baseOffset: 0, lastOffset: 2 })
    const first = handBatch(0n, 5)
    assertBytes(t, fs.readFileSync(logFile(dir)), first, 'the .log after one append')
    // The same records again: baseOffset 3, at the end of the first batch; the CRC is the
    // same since baseOffset lies outside it.
    t.deepEqual(await log.append(HAND_RECORDS), { baseOffset: 3, lastOffset: 5 })
    const second = handBatch(3n, 5)
    t.is(second.readUInt32BE(17), first.readUInt32BE(17))
    assertBytes(t, fs.readFileSync(logFile(dir)), Buffer.concat([first, second]), 'the .log after two appends')
    await log.close()
    assertBytes(t, fs.readFileSync(logFile(dir)), Buffer.concat([first, second]), 'the .log after close')
  })
}

// ---------------------------------------------------------------------------------------
// Extreme timestamp deltas: varlongs past 2^52 inside a batch, read by Kafka.

for (const backend of backends) {
  test(`${backend}: timestamp deltas of ±(2^53 − 1) are stored as Kafka reads them and read back`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-format-ts-')
    const log = await openLog(io, dir)
    t.teardown(() => log.close().catch(() => {}))
    const max = Number.MAX_SAFE_INTEGER
    const calls = [
      [0, max],
      [max, 0],
      [2 ** 52 + 1, 0, 2 ** 52 + 3],
    ]
    for (const stamps of calls) await log.append(stamps.map((timestamp, i) => ({ key: null, value: Buffer.from(`v${i}`), timestamp })))
    const expected = calls.flat()
    await log.close()
    const run = await runTool(['--deep-iteration', '--print-data-log'], [logFile(dir)])
    t.deepEqual(run.complaints, [])
    const batches = parseLogDump(run.stdout)
    t.deepEqual(
      batches.map((b) => b.isValid),
      calls.map(() => true),
    )
    t.deepEqual(
      batches.flatMap((b) => b.records.map((r) => r.timestamp)),
      expected,
      "Kafka's record timestamps",
    )
    t.deepEqual(
      batches.map((b) => b.maxTimestamp),
      calls.map((c) => Math.max(...c)),
    )
    const again = await openLog(io, dir)
    t.teardown(() => again.close().catch(() => {}))
    t.deepEqual(
      (await again.readRecords(0)).map((r) => r.timestamp),
      expected,
      'readRecords',
    )
  })
}

// ---------------------------------------------------------------------------------------
// appendBatch refusals: ERR_INVALID_RECORD_BATCH, and nothing written.

function mutated(base: Buffer, edit: (b: Buffer) => void): Buffer {
  const b = Buffer.from(base)
  edit(b)
  return b
}

for (const backend of backends) {
  test(`${backend}: appendBatch refuses malformed batches with ERR_INVALID_RECORD_BATCH and writes nothing`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-format-refuse-')
    const log = await openLog(io, dir, { leaderEpoch: 2 })
    t.teardown(() => log.close().catch(() => {}))
    const valid = handBatch(0n, 0)
    t.deepEqual(await log.appendBatch(Buffer.from(valid)), { baseOffset: 0, lastOffset: 2 })
    const file = logFile(dir)
    const size = fs.statSync(file).size
    t.is(size, valid.length)
    const cases: Array<[string, Buffer]> = [
      ['magic 1', mutated(valid, (b) => b.writeInt8(1, 16))],
      ['magic 0', mutated(valid, (b) => b.writeInt8(0, 16))],
      ['magic 3', mutated(valid, (b) => b.writeInt8(3, 16))],
      ['60 bytes: shorter than a batch header', valid.subarray(0, 60)],
      ['12 bytes', valid.subarray(0, 12)],
      ['a valid batch then 30 stray bytes', Buffer.concat([valid, valid.subarray(0, 30)])],
      ['batchLength one past the end', mutated(valid, (b) => b.writeInt32BE(b.length - 12 + 1, 8))],
      ['batchLength far past the end', mutated(valid, (b) => b.writeInt32BE(0x7fffffff, 8))],
      ['batchLength 48 (< 49)', mutated(valid, (b) => b.writeInt32BE(48, 8))],
      ['batchLength 0', mutated(valid, (b) => b.writeInt32BE(0, 8))],
      ['batchLength -1', mutated(valid, (b) => b.writeInt32BE(-1, 8))],
      ['a flipped byte in a record (CRC mismatch)', mutated(valid, (b) => (b[70] ^= 0x01))],
      ['a flipped CRC field', mutated(valid, (b) => (b[17] ^= 0x80))],
      ['a flipped attribute bit (inside the CRC)', mutated(valid, (b) => (b[22] ^= 0x08))],
      ['lastOffsetDelta 3 for 3 records (CRC fixed)', recrc(mutated(valid, (b) => b.writeInt32BE(3, 23)))],
      ['lastOffsetDelta 1 for 3 records (CRC fixed)', recrc(mutated(valid, (b) => b.writeInt32BE(1, 23)))],
      ['records count 2 with lastOffsetDelta 2 (CRC fixed)', recrc(mutated(valid, (b) => b.writeInt32BE(2, 57)))],
      ['records count 4 with lastOffsetDelta 2 (CRC fixed)', recrc(mutated(valid, (b) => b.writeInt32BE(4, 57)))],
      ['a valid batch, then one with a CRC mismatch', Buffer.concat([valid, mutated(valid, (b) => (b[80] ^= 0xff))])],
      ['a valid batch, then one with magic 1', Buffer.concat([valid, mutated(valid, (b) => b.writeInt8(1, 16))])],
    ]
    // Each case is checked to be the one thing wrong with it: the valid batch passes the
    // reference CRC, and the CRC cases fail it.
    t.is(crc32cReference(valid.subarray(21)), valid.readUInt32BE(17))
    for (const [what, bytes] of cases) {
      const before = { end: log.logEndOffset, hw: log.highWatermark }
      await assertLibError(t, what, () => log.appendBatch(bytes), 'Error', 'ERR_INVALID_RECORD_BATCH')
      t.is(log.logEndOffset, before.end, `${what}: logEndOffset`)
      t.is(log.highWatermark, before.hw, `${what}: highWatermark`)
      t.is(fs.statSync(file).size, size, `${what}: the .log size`)
    }
    // As stored: the log's leaderEpoch (2) in place of the producer's 0, offsets assigned.
    const stored = (baseOffset: bigint) =>
      mutated(valid, (b) => {
        b.writeBigInt64BE(baseOffset, 0)
        b.writeInt32BE(2, 12)
      })
    assertBytes(t, fs.readFileSync(file), stored(0n), 'the .log holds the first batch only')
    // The log is not failed by refusals: the next valid batch takes offset 3.
    t.deepEqual(await log.appendBatch(Buffer.from(valid)), { baseOffset: 3, lastOffset: 5 })
    assertBytes(t, fs.readFileSync(file), Buffer.concat([stored(0n), stored(3n)]), 'the .log after the next valid batch')
  })
}

// ---------------------------------------------------------------------------------------
// A producer's batches from an independent encoder (kafkajs), stored as sent.

function headerList(h: ProducerRecord['headers']): Array<{ key: string; value: string }> {
  return Object.entries(h).flatMap(([key, v]) => (Array.isArray(v) ? v : [v]).map((value) => ({ key, value })))
}

const PRODUCER: Producer = { id: 4242, epoch: 3, sequence: 17 }
const T1 = 1_750_000_000_000

function producerRecords(n: number, tag: string, t: number): ProducerRecord[] {
  const deltas = [0, 250, -40, 1000, 7, -900, 3]
  return Array.from({ length: n }, (_, i): ProducerRecord => ({
    key: i % 3 === 1 ? null : Buffer.from(`${tag}-key-${i}`),
    value: i % 4 === 2 ? null : Buffer.from(`${tag}-value-${i}-${'x'.repeat(i * 13)}`),
    timestamp: t + deltas[i % deltas.length],
    headers: i % 2 === 0 ? { trace: `${tag}${i}`, multi: ['one', 'two'] } : {},
  }))
}

/** What a record should look like, whoever decodes it. */
interface Expected {
  offset: number
  timestamp: number
  key: string | null
  value: string | null
  headers: Array<{ key: string; value: string | null }>
}

function expectFromProducer(records: ProducerRecord[], baseOffset: number): Expected[] {
  return records.map((r, i) => ({
    offset: baseOffset + i,
    timestamp: r.timestamp,
    key: r.key?.toString() ?? null,
    value: r.value?.toString() ?? null,
    headers: headerList(r.headers),
  }))
}

async function appendAndCheckStored(t: ExecutionContext, log: PartitionLog, file: string, input: Buffer, expectedBase: number, leaderEpoch: number, what: string): Promise<void> {
  const position = fs.statSync(file).size
  const copy = Buffer.from(input)
  const info = await log.appendBatch(input)
  t.is(info.baseOffset, expectedBase, `${what}: baseOffset`)
  assertBytes(t, input, copy, `${what}: the caller's buffer is left alone`)
  const stored = fs.readFileSync(file).subarray(position)
  t.is(stored.length, input.length, `${what}: stored length`)
  // Only the two fields outside the CRC differ: baseOffset and partitionLeaderEpoch.
  t.is(stored.readBigInt64BE(0), BigInt(expectedBase), `${what}: stored baseOffset`)
  t.is(stored.readInt32BE(12), leaderEpoch, `${what}: stored partitionLeaderEpoch`)
  assertBytes(t, stored.subarray(8, 12), input.subarray(8, 12), `${what}: batchLength`)
  assertBytes(t, stored.subarray(16), input.subarray(16), `${what}: magic, CRC and everything after`)
  t.is(crc32cReference(stored.subarray(21)), stored.readUInt32BE(17), `${what}: the CRC still holds`)
}

for (const backend of backends) {
  test(`${backend}: appendBatch stores kafkajs batches (none, gzip, two in one buffer) as sent; Kafka and kafkajs read them`, async (t) => {
    const io: Io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-format-kafkajs-')
    const leaderEpoch = 9
    const log = await openLog(io, dir, { leaderEpoch })
    t.teardown(() => log.close().catch(() => {}))
    // An append() batch first, so the producer's batches get offsets other than their 0.
    const own = [
      { key: Buffer.from('own-0'), value: Buffer.from('v0'), timestamp: T1 - 5, headers: [{ key: 'nul', value: null }] },
      { key: null, value: null, timestamp: T1 - 9 },
    ]
    t.deepEqual(await log.append(own), { baseOffset: 0, lastOffset: 1 })
    const file = logFile(dir)

    const plainRecs = producerRecords(5, 'plain', T1)
    const plain = await kafkajsBatch(plainRecs, 'none', PRODUCER)
    t.is(plain.readInt16BE(21) & 0x07, 0, 'kafkajs made an uncompressed batch')
    const gzipRecs = producerRecords(7, 'gzip', T1 + 10_000)
    const gzip = await kafkajsBatch(gzipRecs, 'gzip', { ...PRODUCER, sequence: PRODUCER.sequence + 5 })
    t.is(gzip.readInt16BE(21) & 0x07, 1, 'kafkajs made a gzip batch')
    const pairRecs = [producerRecords(2, 'pair-a', T1 + 20_000), producerRecords(3, 'pair-b', T1 + 30_000)]
    const pair = [
      await kafkajsBatch(pairRecs[0], 'none', { ...PRODUCER, sequence: PRODUCER.sequence + 12 }),
      await kafkajsBatch(pairRecs[1], 'gzip', { ...PRODUCER, sequence: PRODUCER.sequence + 14 }),
    ]

    await appendAndCheckStored(t, log, file, plain, 2, leaderEpoch, 'uncompressed')
    await appendAndCheckStored(t, log, file, gzip, 7, leaderEpoch, 'gzip')
    const pairPosition = fs.statSync(file).size
    t.deepEqual(await log.appendBatch(Buffer.concat(pair)), { baseOffset: 14, lastOffset: 18 })
    const pairStored = fs.readFileSync(file).subarray(pairPosition)
    t.is(pairStored.length, pair[0].length + pair[1].length)
    t.is(pairStored.readBigInt64BE(0), 14n, 'first of the pair: baseOffset')
    t.is(pairStored.readBigInt64BE(pair[0].length), 16n, 'second of the pair: baseOffset')
    for (const [i, at] of [0, pair[0].length].entries()) {
      t.is(pairStored.readInt32BE(at + 12), leaderEpoch, `pair ${i}: partitionLeaderEpoch`)
      assertBytes(t, pairStored.subarray(at + 16, at + pair[i].length), pair[i].subarray(16), `pair ${i}: bytes after the epoch`)
    }

    const expected: Expected[] = [
      { offset: 0, timestamp: T1 - 5, key: 'own-0', value: 'v0', headers: [{ key: 'nul', value: null }] },
      { offset: 1, timestamp: T1 - 9, key: null, value: null, headers: [] },
      ...expectFromProducer(plainRecs, 2),
      ...expectFromProducer(gzipRecs, 7),
      ...expectFromProducer(pairRecs[0], 14),
      ...expectFromProducer(pairRecs[1], 16),
    ]
    const producerBatches = [
      { base: 2, count: 5, codec: 'none', sequence: 17, records: plainRecs },
      { base: 7, count: 7, codec: 'gzip', sequence: 22, records: gzipRecs },
      { base: 14, count: 2, codec: 'none', sequence: 29, records: pairRecs[0] },
      { base: 16, count: 3, codec: 'gzip', sequence: 31, records: pairRecs[1] },
    ]

    // readRecords decodes all of them (gzip included).
    const got = await log.readRecords(0)
    t.deepEqual(
      got.map((r) => ({ offset: r.offset, timestamp: r.timestamp, key: r.key?.toString() ?? null, value: r.value?.toString() ?? null, headers: r.headers.map((h) => ({ key: h.key, value: h.value?.toString() ?? null })) })),
      expected,
      'readRecords',
    )

    // kafkajs's decoder over what read() returns: a second reader nobody here wrote.
    const viaKafkajs: Expected[] = []
    const batchMeta: Array<{ base: string; epoch: number; producerId: string; producerEpoch: number; sequence: number }> = []
    for (const b of await kafkajsDecode(await log.read(0))) {
      batchMeta.push({ base: b.firstOffset, epoch: b.partitionLeaderEpoch, producerId: b.producerId, producerEpoch: b.producerEpoch, sequence: b.firstSequence })
      for (const r of b.records) {
        viaKafkajs.push({
          offset: Number(r.offset),
          timestamp: Number(r.timestamp),
          key: r.key?.toString() ?? null,
          value: r.value?.toString() ?? null,
          headers: Object.entries(r.headers).flatMap(([key, v]) => (Array.isArray(v) ? v : [v]).map((value) => ({ key, value: value?.toString() ?? null }))),
        })
      }
    }
    t.deepEqual(viaKafkajs, expected, "kafkajs's decoder")
    t.deepEqual(batchMeta, [
      { base: '0', epoch: leaderEpoch, producerId: '-1', producerEpoch: -1, sequence: -1 },
      ...producerBatches.map((p) => ({ base: String(p.base), epoch: leaderEpoch, producerId: String(PRODUCER.id), producerEpoch: PRODUCER.epoch, sequence: p.sequence })),
    ])

    // Kafka's DumpLogSegments: every batch valid, gzip inflated, the producer's fields kept.
    await log.close()
    const run = await runTool(['--deep-iteration', '--print-data-log'], [file])
    t.deepEqual(run.complaints, [], 'DumpLogSegments complaints')
    const dumped = parseLogDump(run.stdout)
    t.is(dumped.length, 5)
    t.deepEqual(
      dumped.map((b) => b.isValid),
      [true, true, true, true, true],
    )
    t.deepEqual(
      dumped.map((b) => b.codec),
      ['none', ...producerBatches.map((p) => p.codec)],
    )
    t.deepEqual(
      dumped.map((b) => [b.baseOffset, b.lastOffset, b.count, b.partitionLeaderEpoch, b.producerId, b.producerEpoch, b.baseSequence, b.magic]),
      [[0, 1, 2, leaderEpoch, -1, -1, -1, 2], ...producerBatches.map((p) => [p.base, p.base + p.count - 1, p.count, leaderEpoch, PRODUCER.id, PRODUCER.epoch, p.sequence, 2])],
    )
    t.deepEqual(
      dumped.map((b) => b.maxTimestamp),
      [T1 - 5, ...producerBatches.map((p) => Math.max(...p.records.map((r) => r.timestamp)))],
    )
    let position = 0
    for (const b of dumped) {
      t.is(b.position, position, `batch ${b.baseOffset}: position`)
      position += b.size
    }
    t.is(position, fs.statSync(file).size)
    t.deepEqual(
      dumped.flatMap((b) => b.records.map((r) => ({ offset: r.offset, timestamp: r.timestamp, key: r.key, payload: r.payload, headerKeys: r.headerKeys }))),
      expected.map((e) => ({ offset: e.offset, timestamp: e.timestamp, key: e.key, payload: e.value, headerKeys: e.headers.map((h) => h.key) })),
      "Kafka's records",
    )
  })
}
