// Kafka's RecordBatch, magic 2 (the "v2" message format of KIP-98), byte for byte as the
// protocol defines it (https://kafka.apache.org/documentation/#recordbatch). Big-endian.
//
//   0  baseOffset            int64
//   8  batchLength           int32   bytes after this field (so a batch is 12 + batchLength)
//  12  partitionLeaderEpoch  int32
//  16  magic                 int8    = 2
//  17  crc                   uint32  CRC-32C of bytes 21 … end (attributes to the last record)
//  21  attributes            int16   bits 0-2 codec, 3 timestamp type, 4 transactional, 5 control
//  23  lastOffsetDelta       int32
//  27  baseTimestamp         int64   the first record's timestamp
//  35  maxTimestamp          int64
//  43  producerId            int64
//  51  producerEpoch         int16
//  53  baseSequence          int32
//  57  records count         int32
//  61  records               (compressed as a whole when the codec is not none)
//
// Each record: length varint (bytes after it), attributes int8 (0), timestampDelta
// varlong, offsetDelta varint, keyLength varint (-1 = null), key, valueLength varint
// (-1 = null), value, header count varint, then per header keyLength varint, key (UTF-8),
// valueLength varint (-1 = null), value.
//
// baseOffset and partitionLeaderEpoch lie outside the CRC: a broker assigns them without
// recomputing it, and so does this log.
import { crc32c } from '../crc32c'
import { invalidRecordBatch } from './errors'
import { readVarint, varintBytes, writeVarint } from './varint'

export const LOG_OVERHEAD = 12
export const BATCH_HEADER_BYTES = 61
/** The smallest batchLength field: a header with no records. */
export const MIN_BATCH_LENGTH = BATCH_HEADER_BYTES - LOG_OVERHEAD
export const MAGIC_V2 = 2
export const CRC_FIELD = 17
export const CRC_START = 21
export const NO_TIMESTAMP = -1
const TWO_32 = 0x1_0000_0000

export const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const
export type Codec = (typeof CODECS)[number]
const CODEC_MASK = 0x07
const TIMESTAMP_TYPE_BIT = 0x08
const TRANSACTIONAL_BIT = 0x10
const CONTROL_BIT = 0x20

/** The 61 header bytes of a batch, decoded. */
export interface BatchHeader {
  baseOffset: number
  /** The batchLength field. */
  batchLength: number
  /** Bytes the whole batch takes: 12 + batchLength. */
  size: number
  leaderEpoch: number
  magic: number
  crc: number
  attributes: number
  lastOffsetDelta: number
  baseTimestamp: number
  maxTimestamp: number
  producerId: number
  producerEpoch: number
  baseSequence: number
  recordCount: number
}

export function readInt64(b: Buffer, at: number): number {
  return b.readInt32BE(at) * TWO_32 + b.readUInt32BE(at + 4)
}

export function writeInt64(b: Buffer, at: number, v: number): void {
  const hi = Math.floor(v / TWO_32)
  b.writeInt32BE(hi, at)
  b.writeUInt32BE(v - hi * TWO_32, at + 4)
}

/** Decodes the header at `at` (the caller made sure 61 bytes are there). */
export function readHeader(b: Buffer, at: number): BatchHeader {
  const batchLength = b.readInt32BE(at + 8)
  return {
    baseOffset: readInt64(b, at),
    batchLength,
    size: LOG_OVERHEAD + batchLength,
    leaderEpoch: b.readInt32BE(at + 12),
    magic: b.readInt8(at + 16),
    crc: b.readUInt32BE(at + 17),
    attributes: b.readInt16BE(at + 21),
    lastOffsetDelta: b.readInt32BE(at + 23),
    baseTimestamp: readInt64(b, at + 27),
    maxTimestamp: readInt64(b, at + 35),
    producerId: readInt64(b, at + 43),
    producerEpoch: b.readInt16BE(at + 51),
    baseSequence: b.readInt32BE(at + 53),
    recordCount: b.readInt32BE(at + 57),
  }
}

export function lastOffsetOf(h: BatchHeader): number {
  return h.baseOffset + h.lastOffsetDelta
}

export function codecOf(attributes: number): Codec | `unknown codec ${number}` {
  const c = attributes & CODEC_MASK
  return c < CODECS.length ? CODECS[c] : `unknown codec ${c}`
}

export function isLogAppendTime(attributes: number): boolean {
  return (attributes & TIMESTAMP_TYPE_BIT) !== 0
}

export function isControlBatch(attributes: number): boolean {
  return (attributes & CONTROL_BIT) !== 0
}

export function isTransactional(attributes: number): boolean {
  return (attributes & TRANSACTIONAL_BIT) !== 0
}

/** CRC-32C of the batch's checked bytes (attributes to the end). */
export function computeCrc(b: Buffer, at: number, size: number): number {
  return crc32c(b.subarray(at + CRC_START, at + size))
}

/** Patches the two fields outside the CRC: what a broker assigns to a producer's batch. */
export function assignOffsetAndEpoch(b: Buffer, at: number, baseOffset: number, leaderEpoch: number): void {
  writeInt64(b, at, baseOffset)
  b.writeInt32BE(leaderEpoch, at + 12)
}

// ---------------------------------------------------------------------------------------
// Encoding (append): an uncompressed batch as Kafka's non-idempotent producer writes it.

export interface RecordInput {
  key: Uint8Array | null
  value: Uint8Array | null
  timestamp: number
  headers: Array<{ key: string; value: Uint8Array | null }>
}

/** What the log needs to know about an encoded batch without decoding it again. */
export interface EncodedBatch {
  bytes: Buffer
  recordCount: number
  maxTimestamp: number
}

function bytesLength(v: Uint8Array | null): number {
  return v === null ? varintBytes(-1) : varintBytes(v.length) + v.length
}

/**
 * Encodes `records` as one uncompressed batch with baseOffset 0 (assigned at write time,
 * outside the CRC), producerId −1, producerEpoch −1, baseSequence −1, CreateTime.
 */
export function encodeBatch(records: readonly RecordInput[], leaderEpoch: number): EncodedBatch {
  const n = records.length
  const baseTimestamp = records[0].timestamp
  let maxTimestamp = baseTimestamp
  // Pass 1: sizes, so the batch is one allocation.
  const bodies = new Array<number>(n)
  const keyBytes = new Array<number[]>(n)
  let total = BATCH_HEADER_BYTES
  for (let i = 0; i < n; i++) {
    const r = records[i]
    if (r.timestamp > maxTimestamp) maxTimestamp = r.timestamp
    let body = 1 + varintBytes(r.timestamp - baseTimestamp) + varintBytes(i) + bytesLength(r.key) + bytesLength(r.value) + varintBytes(r.headers.length)
    const hk: number[] = []
    for (const h of r.headers) {
      const kb = Buffer.byteLength(h.key, 'utf8')
      hk.push(kb)
      body += varintBytes(kb) + kb + bytesLength(h.value)
    }
    keyBytes[i] = hk
    bodies[i] = body
    total += varintBytes(body) + body
  }
  const b = Buffer.allocUnsafe(total)
  writeInt64(b, 0, 0)
  b.writeInt32BE(total - LOG_OVERHEAD, 8)
  b.writeInt32BE(leaderEpoch, 12)
  b.writeInt8(MAGIC_V2, 16)
  b.writeInt16BE(0, 21)
  b.writeInt32BE(n - 1, 23)
  writeInt64(b, 27, baseTimestamp)
  writeInt64(b, 35, maxTimestamp)
  writeInt64(b, 43, -1)
  b.writeInt16BE(-1, 51)
  b.writeInt32BE(-1, 53)
  b.writeInt32BE(n, 57)
  // Pass 2: the records.
  let at = BATCH_HEADER_BYTES
  const putBytes = (v: Uint8Array | null) => {
    if (v === null) {
      at = writeVarint(b, at, -1)
      return
    }
    at = writeVarint(b, at, v.length)
    b.set(v, at)
    at += v.length
  }
  for (let i = 0; i < n; i++) {
    const r = records[i]
    at = writeVarint(b, at, bodies[i])
    b[at++] = 0
    at = writeVarint(b, at, r.timestamp - baseTimestamp)
    at = writeVarint(b, at, i)
    putBytes(r.key)
    putBytes(r.value)
    at = writeVarint(b, at, r.headers.length)
    const hk = keyBytes[i]
    for (let j = 0; j < r.headers.length; j++) {
      const h = r.headers[j]
      at = writeVarint(b, at, hk[j])
      at += b.write(h.key, at, 'utf8')
      putBytes(h.value)
    }
  }
  b.writeUInt32BE(computeCrc(b, 0, total), CRC_FIELD)
  return { bytes: b, recordCount: n, maxTimestamp }
}

// ---------------------------------------------------------------------------------------
// Checking a producer's batch (appendBatch) and decoding records (readRecords).

/** One batch found in a buffer handed to appendBatch. */
export interface IncomingBatch {
  /** Where it starts in the buffer. */
  at: number
  header: BatchHeader
}

/**
 * Splits `buf` into whole, valid v2 batches, or throws ERR_INVALID_RECORD_BATCH naming
 * the first problem. Checked: length, magic, CRC, codec, lastOffsetDelta + 1 = record
 * count, and for uncompressed batches the records' framing and offset deltas.
 */
export function checkIncoming(buf: Buffer): IncomingBatch[] {
  const out: IncomingBatch[] = []
  let at = 0
  while (at < buf.length) {
    const left = buf.length - at
    if (left < BATCH_HEADER_BYTES) throw invalidRecordBatch(at, `${left} bytes left, fewer than a batch header (${BATCH_HEADER_BYTES})`)
    const h = readHeader(buf, at)
    if (h.magic !== MAGIC_V2) throw invalidRecordBatch(at, `magic ${h.magic}; only RecordBatch v2 (magic 2) is accepted`)
    if (h.batchLength < MIN_BATCH_LENGTH) throw invalidRecordBatch(at, `batchLength ${h.batchLength} is below the minimum ${MIN_BATCH_LENGTH}`)
    if (h.size > left) throw invalidRecordBatch(at, `batchLength ${h.batchLength} runs past the end of the buffer (${left - LOG_OVERHEAD} bytes follow the length field)`)
    const crc = computeCrc(buf, at, h.size)
    if (crc !== h.crc) throw invalidRecordBatch(at, `CRC mismatch: the batch says 0x${h.crc.toString(16)}, its bytes give 0x${crc.toString(16)}`)
    const codec = codecOf(h.attributes)
    if (!(CODECS as readonly string[]).includes(codec)) throw invalidRecordBatch(at, codec)
    if (h.lastOffsetDelta < 0 || h.lastOffsetDelta + 1 !== h.recordCount) {
      throw invalidRecordBatch(at, `lastOffsetDelta ${h.lastOffsetDelta} + 1 does not equal the record count ${h.recordCount}`)
    }
    if (codec === 'none') {
      const problem = checkRecordFraming(buf, at + BATCH_HEADER_BYTES, at + h.size, h.recordCount)
      if (problem !== null) throw invalidRecordBatch(at, problem)
    }
    out.push({ at, header: h })
    at += h.size
  }
  return out
}

/** Walks uncompressed records: each length inside the batch, offset deltas 0, 1, 2 … */
function checkRecordFraming(b: Buffer, from: number, end: number, count: number): string | null {
  let at = from
  for (let i = 0; i < count; i++) {
    const len = readVarint(b, at, end)
    if (len === null || len.value < 0 || len.next + len.value > end) return `record ${i} has a length that runs past the end of the batch`
    const recordEnd = len.next + len.value
    let p = len.next + 1
    const tsDelta = readVarint(b, p, recordEnd)
    if (tsDelta === null) return `record ${i} has a malformed timestamp delta`
    p = tsDelta.next
    const offsetDelta = readVarint(b, p, recordEnd)
    if (offsetDelta === null || offsetDelta.value !== i) return `record ${i} has offset delta ${offsetDelta?.value ?? '(malformed)'}, expected ${i}`
    at = recordEnd
  }
  if (at !== end) return `${end - at} bytes follow the last of its ${count} records`
  return null
}

export interface DecodedRecord {
  offset: number
  timestamp: number
  key: Buffer | null
  value: Buffer | null
  headers: Array<{ key: string; value: Buffer | null }>
}

/**
 * Decodes the records of an (uncompressed or already decompressed) records section.
 * Returns the records, or a string saying what is malformed. Keys, values and header
 * values are views of `b`.
 */
export function decodeRecords(b: Buffer, from: number, end: number, h: BatchHeader): DecodedRecord[] | string {
  const out: DecodedRecord[] = []
  const logAppendTime = isLogAppendTime(h.attributes)
  let at = from
  const bytesField = (limit: number, what: string): Buffer | null | string => {
    const len = readVarint(b, at, limit)
    if (len === null || len.value < -1 || len.next + Math.max(0, len.value) > limit) return `malformed ${what} length`
    at = len.next
    if (len.value === -1) return null
    const v = b.subarray(at, at + len.value)
    at += len.value
    return v
  }
  for (let i = 0; i < h.recordCount; i++) {
    const len = readVarint(b, at, end)
    if (len === null || len.value < 0 || len.next + len.value > end) return `record ${i}: length runs past the end of the batch`
    const recordEnd = len.next + len.value
    at = len.next + 1 // attributes (unused in v2)
    const tsDelta = readVarint(b, at, recordEnd)
    if (tsDelta === null) return `record ${i}: malformed timestamp delta`
    at = tsDelta.next
    const offsetDelta = readVarint(b, at, recordEnd)
    if (offsetDelta === null) return `record ${i}: malformed offset delta`
    at = offsetDelta.next
    const key = bytesField(recordEnd, `record ${i} key`)
    if (typeof key === 'string') return key
    const value = bytesField(recordEnd, `record ${i} value`)
    if (typeof value === 'string') return value
    const hc = readVarint(b, at, recordEnd)
    if (hc === null || hc.value < 0) return `record ${i}: malformed header count`
    at = hc.next
    const headers: DecodedRecord['headers'] = []
    for (let j = 0; j < hc.value; j++) {
      const k = bytesField(recordEnd, `record ${i} header ${j} key`)
      if (typeof k === 'string') return k
      if (k === null) return `record ${i}: header ${j} has a null key`
      const v = bytesField(recordEnd, `record ${i} header ${j} value`)
      if (typeof v === 'string') return v
      headers.push({ key: k.toString('utf8'), value: v })
    }
    if (at !== recordEnd) return `record ${i}: ${recordEnd - at} bytes left over inside the record`
    out.push({
      offset: h.baseOffset + offsetDelta.value,
      timestamp: logAppendTime ? h.maxTimestamp : h.baseTimestamp + tsDelta.value,
      key,
      value,
      headers,
    })
  }
  if (at !== end) return `${end - at} bytes follow the last of its ${h.recordCount} records`
  return out
}
