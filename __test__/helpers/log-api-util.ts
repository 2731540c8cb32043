// Independent witnesses for the partition-log API specs (log-api, log-read, log-retention,
// log-partitions): batch boundaries parsed from the raw bytes with node:fs and Buffer
// reads (baseOffset int64 BE at 0, batchLength int32 BE at 8, lastOffsetDelta int32 BE at
// 23 — the RecordBatch v2 layout, never the library's decoder), the fetch a Kafka broker
// would answer computed from those batches, directory hashes, open descriptors counted
// through /proc/self/fd, and kafkajs's own RecordBatch decoder for the records.

import { segmentFiles } from './log-dir'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { ExecutionContext } from 'ava'

import type { LogRecord, LogRecordInput } from '../../ts/index'
import { prng } from './prng'

export const SEGMENT_NAME_RE = /^(\d{20})\.log$/

/** One batch as the bytes say. */
export interface RawBatch {
  /** Byte position in the buffer (or segment file) it was parsed from. */
  position: number
  baseOffset: number
  batchLength: number
  /** 12 + batchLength. */
  size: number
  lastOffsetDelta: number
  lastOffset: number
}

/** Parses consecutive whole batches; throws when the bytes are not exactly whole batches. */
export function parseBatches(buf: Buffer, what = 'buffer'): RawBatch[] {
  const out: RawBatch[] = []
  let at = 0
  while (at < buf.length) {
    if (at + 61 > buf.length) throw new Error(`${what}: ${buf.length - at} bytes at ${at} are not a whole batch header`)
    const baseOffset = Number(buf.readBigInt64BE(at))
    const batchLength = buf.readInt32BE(at + 8)
    const lastOffsetDelta = buf.readInt32BE(at + 23)
    const size = 12 + batchLength
    if (batchLength < 49 || at + size > buf.length) throw new Error(`${what}: the batch at ${at} (batchLength ${batchLength}) is not whole in ${buf.length} bytes`)
    if (buf[at + 16] !== 2) throw new Error(`${what}: magic ${buf[at + 16]} at ${at + 16}`)
    out.push({ position: at, baseOffset, batchLength, size, lastOffsetDelta, lastOffset: baseOffset + lastOffsetDelta })
    at += size
  }
  return out
}

/** A batch inside a segment file, with its bytes. */
export interface FileBatch extends RawBatch {
  segmentBase: number
  file: string
  bytes: Buffer
}

/** The .log files of a directory, oldest first. */

/** Every batch of every segment of `dir`, read with node:fs. */
export function scanLogDir(dir: string): FileBatch[] {
  const out: FileBatch[] = []
  for (const { base, log: file } of segmentFiles(dir)) {
    const bytes = fs.readFileSync(file)
    for (const b of parseBatches(bytes, file)) out.push({ ...b, segmentBase: base, file, bytes: bytes.subarray(b.position, b.position + b.size) })
  }
  return out
}

/**
 * What a Kafka fetch of `offset` returns (DESIGN.md §3, KIP-74): the batch holding
 * `offset`, then following batches (across segments) while the total stays ≤ maxBytes;
 * the first one whole whatever its size. `batches` must be every batch of the log in
 * offset order. Null when no batch holds an offset ≥ `offset`.
 */
export function expectedFetch(batches: readonly FileBatch[], offset: number, maxBytes: number): { bytes: Buffer; batches: FileBatch[]; nextOffset: number } {
  const first = batches.findIndex((b) => b.lastOffset >= offset)
  const picked: FileBatch[] = []
  if (first >= 0) {
    let total = 0
    for (let i = first; i < batches.length; i++) {
      const b = batches[i]
      if (picked.length > 0 && total + b.size > maxBytes) break
      picked.push(b)
      total += b.size
      if (total >= maxBytes) break
    }
  }
  const nextOffset = picked.length === 0 ? offset : picked[picked.length - 1].lastOffset + 1
  return { bytes: Buffer.concat(picked.map((b) => b.bytes)), batches: picked, nextOffset }
}

/** Names, sizes and SHA-256 of every file in `dir` (not recursive), sorted by name. */
export function hashDir(dir: string): Record<string, { size: number; sha256: string }> {
  const out: Record<string, { size: number; sha256: string }> = {}
  for (const name of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, name)
    const st = fs.statSync(p)
    if (!st.isFile()) {
      out[name] = { size: -1, sha256: 'not a file' }
      continue
    }
    out[name] = { size: st.size, sha256: crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex') }
  }
  return out
}

/** Descriptors of this process pointing at files in `dir` whose names end with `suffix`. */
export function openFdsUnder(dir: string, suffix = ''): string[] {
  const real = fs.realpathSync(dir) + path.sep
  const out: string[] = []
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    let target: string
    try {
      target = fs.readlinkSync(`/proc/self/fd/${fd}`)
    } catch {
      continue // closed meanwhile (the readdir's own descriptor, for one)
    }
    if (target.endsWith(' (deleted)')) target = target.slice(0, -' (deleted)'.length)
    if (target.startsWith(real) && target.endsWith(suffix)) out.push(target)
  }
  return out
}

/** A temporary directory on tmpfs (/dev/shm: fdatasync is free), removed at teardown; for scale tests only. */
export function shmDir(t: ExecutionContext, label: string): string {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : undefined
  const dir = fs.mkdtempSync(path.join(base ?? fs.realpathSync(os.tmpdir()), label))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Polls `cond` every few ms until true or `ms` pass (a hang detector, never a timing assertion). */
export async function eventually(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms
  for (;;) {
    if (cond()) return true
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** What a record should read back as, from what was appended. */
export interface ModelRecord {
  offset: number
  timestamp: number
  key: Buffer | null
  value: Buffer | null
  headers: Array<{ key: string; value: Buffer | null }>
}

/** The record readRecords must return for an input appended at `offset` with `timestamp`. */
export function modelOf(r: LogRecordInput, offset: number, timestamp: number): ModelRecord {
  const b = (v: Uint8Array | null | undefined): Buffer | null => (v === null || v === undefined ? null : Buffer.from(v))
  return { offset, timestamp, key: b(r.key), value: b(r.value), headers: (r.headers ?? []).map((h) => ({ key: h.key, value: b(h.value) })) }
}

/** A plain comparable form of records (Buffers as hex, null kept). */
export function plain(rs: ReadonlyArray<LogRecord | ModelRecord>): unknown[] {
  const hx = (v: Buffer | null): string | null => (v === null ? null : `hex:${v.toString('hex')}`)
  return rs.map((r) => ({ offset: r.offset, timestamp: r.timestamp, key: hx(r.key), value: hx(r.value), headers: r.headers.map((h) => ({ key: h.key, value: hx(h.value) })) }))
}

/**
 * A deterministic record for (seed, n): sizes vary, some keys and values null, some
 * headers with null values; timestamp given by the caller.
 */
export function genRecord(seed: number, n: number, timestamp: number, maxValue = 120): LogRecordInput {
  const r = prng(seed * 1_000_003 + n)
  const vlen = Math.floor(r() * maxValue)
  const value = n % 11 === 5 ? null : Buffer.from(Array.from({ length: vlen }, (_, i) => (n * 7 + i * 13 + seed) & 0xff))
  const key = n % 3 === 0 ? null : Buffer.from(`key-${seed}-${n}`)
  const headers = n % 4 === 1 ? [{ key: `h${n}`, value: Buffer.from(`hv${n}`) }, { key: 'nil', value: null }] : undefined
  return { key, value, timestamp, headers }
}

/** kafkajs's RecordBatch decoder (an implementation nobody here wrote) over whole batches. */
export async function kafkajsDecode(buf: Buffer): Promise<Array<{ offset: number; timestamp: number; key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer | null | Array<Buffer | null>>; crcOk: boolean }>> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Decoder = require('kafkajs/src/protocol/decoder')
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const decodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder')
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C')
  const out = []
  for (const b of parseBatches(buf)) {
    const bytes = buf.subarray(b.position, b.position + b.size)
    const crcOk = crc32C(bytes.subarray(21)) === bytes.readUInt32BE(17)
    const batch = await decodeBatch(new Decoder(bytes))
    for (const r of batch.records as Array<{ offset: string; timestamp: string; key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer | null> }>) {
      out.push({ offset: Number(r.offset), timestamp: Number(r.timestamp), key: r.key, value: r.value, headers: r.headers, crcOk })
    }
  }
  return out
}

export { segmentFiles }
