// LogOptions → the settings a partition log runs with, validated with errors that name
// the option (DESIGN.md §3 errors: TypeError for types, RangeError for values).
import { invalidArgType, outOfRange } from '../errors'
import { type SyncMode, parseSync } from '../wal/options'
import { BATCH_HEADER_BYTES } from './record-batch'
import { TIME_ENTRY_BYTES } from './time-index'
import type { LogOptions } from './types'

export const INT32_MAX = 0x7fff_ffff
const DAY_MS = 24 * 60 * 60 * 1000

export const LOG_DEFAULTS = {
  segmentBytes: 1024 * 1024 * 1024,
  segmentMs: 7 * DAY_MS,
  indexIntervalBytes: 4096,
  maxIndexBytes: 10 * 1024 * 1024,
  leaderEpoch: 0,
  maxOpenSegments: 64,
} as const

export interface LogSettings {
  segmentBytes: number
  segmentMs: number
  indexIntervalBytes: number
  maxIndexBytes: number
  /** null: no retention of that kind. */
  retentionBytes: number | null
  retentionMs: number | null
  leaderEpoch: number
  sync: SyncMode
  maxOpenSegments: number
  readOnly: boolean
}

function int(o: Record<string, unknown>, name: keyof LogOptions, fallback: number, min: number, max: number): number {
  const v = o[name]
  if (v === undefined) return fallback
  if (typeof v !== 'number') throw invalidArgType(`options.${name}`, 'of type number', v)
  if (!Number.isSafeInteger(v) || v < min || v > max) throw outOfRange(`options.${name}`, `an integer >= ${min} and <= ${max}`, v)
  return v
}

function optionalInt(o: Record<string, unknown>, name: keyof LogOptions, min: number): number | null {
  if (o[name] === undefined || o[name] === null) return null
  return int(o, name, 0, min, Number.MAX_SAFE_INTEGER)
}

export function resolveLogOptions(opts: unknown): LogSettings {
  if (opts === undefined) opts = {}
  if (opts === null || typeof opts !== 'object') throw invalidArgType('options', 'of type object', opts)
  const o = opts as Record<string, unknown>
  const readOnly = o.readOnly ?? false
  if (typeof readOnly !== 'boolean') throw invalidArgType('options.readOnly', 'of type boolean', readOnly)
  return {
    // One batch header at least; Kafka's positions are int32.
    segmentBytes: int(o, 'segmentBytes', LOG_DEFAULTS.segmentBytes, BATCH_HEADER_BYTES, INT32_MAX),
    segmentMs: int(o, 'segmentMs', LOG_DEFAULTS.segmentMs, 1, Number.MAX_SAFE_INTEGER),
    indexIntervalBytes: int(o, 'indexIntervalBytes', LOG_DEFAULTS.indexIntervalBytes, 0, INT32_MAX),
    // Room for two time-index entries: one to fill, one for the roll's final entry.
    maxIndexBytes: int(o, 'maxIndexBytes', LOG_DEFAULTS.maxIndexBytes, 2 * TIME_ENTRY_BYTES, INT32_MAX),
    retentionBytes: optionalInt(o, 'retentionBytes', 0),
    retentionMs: optionalInt(o, 'retentionMs', 0),
    leaderEpoch: int(o, 'leaderEpoch', LOG_DEFAULTS.leaderEpoch, -1, INT32_MAX),
    sync: parseSync(o.sync),
    maxOpenSegments: int(o, 'maxOpenSegments', LOG_DEFAULTS.maxOpenSegments, 1, 1_000_000),
    readOnly,
  }
}
