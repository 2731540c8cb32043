// WalOptions → the settings the WAL runs with, validated with errors that name the
// option (DESIGN.md §3 errors: TypeError for types, RangeError for values).
import { invalidArgType, outOfRange } from '../errors'
import type { Io } from '../types'
import { FRAME_HEADER_BYTES, HEADER_BYTES, MAX_PAYLOAD_BYTES, frameBytes } from './format'
import type { WalOptions } from './types'

export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024

export type SyncMode = { kind: 'always' } | { kind: 'none' } | { kind: 'interval'; intervalMs: number }

export interface WalSettings {
  sync: SyncMode
  segmentBytes: number
  maxRecordBytes: number
  recovery: 'tolerate-tail' | 'strict'
  readOnly: boolean
  preallocate: boolean
}

/** `sync` of WalOptions and LogOptions: 'always' (default), 'none' or { intervalMs }. */
export function parseSync(value: unknown): SyncMode {
  const s = value ?? 'always'
  if (s === 'always') return { kind: 'always' }
  if (s === 'none') return { kind: 'none' }
  if (s !== null && typeof s === 'object' && 'intervalMs' in s) {
    const ms = (s as { intervalMs: unknown }).intervalMs
    if (typeof ms !== 'number') throw invalidArgType('options.sync.intervalMs', 'of type number', ms)
    if (!Number.isFinite(ms) || ms <= 0 || ms > 2_147_483_647) throw outOfRange('options.sync.intervalMs', 'a number > 0 and <= 2147483647', ms)
    return { kind: 'interval', intervalMs: ms }
  }
  throw invalidArgType('options.sync', "'always', 'none' or { intervalMs: number }", s)
}

/** The largest payload whose frame fits in a file of `segmentBytes` after the header. */
function largestFitting(segmentBytes: number): number {
  return Math.floor((segmentBytes - HEADER_BYTES - FRAME_HEADER_BYTES) / 8) * 8
}

export function resolveOptions(io: Io, opts: unknown): WalSettings {
  if (opts === undefined) opts = {}
  if (opts === null || typeof opts !== 'object') throw invalidArgType('options', 'of type object', opts)
  const o = opts as WalOptions

  const sync = parseSync(o.sync)

  const segmentBytes = o.segmentBytes ?? io.config.preallocateSize
  if (typeof segmentBytes !== 'number') throw invalidArgType('options.segmentBytes', 'of type number', segmentBytes)
  const minSegment = HEADER_BYTES + frameBytes(0)
  if (!Number.isSafeInteger(segmentBytes) || segmentBytes < minSegment) {
    throw outOfRange('options.segmentBytes', `an integer >= ${minSegment} (the header plus one empty record)`, segmentBytes)
  }

  let maxRecordBytes: number
  if (o.maxRecordBytes === undefined) {
    // A small segmentBytes (rotation tests, tiny devices) lowers the default limit
    // rather than refusing: the caller asked only for small files.
    maxRecordBytes = Math.min(DEFAULT_MAX_RECORD_BYTES, largestFitting(segmentBytes))
  } else {
    maxRecordBytes = o.maxRecordBytes
    if (typeof maxRecordBytes !== 'number') throw invalidArgType('options.maxRecordBytes', 'of type number', maxRecordBytes)
    if (!Number.isSafeInteger(maxRecordBytes) || maxRecordBytes < 0 || maxRecordBytes > MAX_PAYLOAD_BYTES) {
      throw outOfRange('options.maxRecordBytes', `an integer >= 0 and <= ${MAX_PAYLOAD_BYTES}`, maxRecordBytes)
    }
    if (HEADER_BYTES + frameBytes(maxRecordBytes) > segmentBytes) {
      throw outOfRange(
        'options.segmentBytes',
        `at least ${HEADER_BYTES + frameBytes(maxRecordBytes)} to hold the header and one record of maxRecordBytes (${maxRecordBytes})`,
        segmentBytes,
      )
    }
  }

  const recovery = o.recovery ?? 'tolerate-tail'
  if (recovery !== 'tolerate-tail' && recovery !== 'strict') throw invalidArgType('options.recovery', "'tolerate-tail' or 'strict'", recovery)
  const readOnly = o.readOnly ?? false
  if (typeof readOnly !== 'boolean') throw invalidArgType('options.readOnly', 'of type boolean', readOnly)

  return { sync, segmentBytes, maxRecordBytes, recovery, readOnly, preallocate: io.config.preallocateWal }
}
