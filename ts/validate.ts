// Argument checks at the public boundary, so bad input is a clear TypeError/RangeError
// (DESIGN.md §3 errors) before anything reaches a backend or the kernel.
import { types } from 'node:util'
import { invalidArgType, outOfRange } from './errors'
import type { OpenOptions } from './types'

export function checkBuffer(name: string, value: unknown): asserts value is Uint8Array {
  // util.types checks the internal slot: a Proxy of a Buffer or an object that merely
  // inherits from Buffer.prototype would pass `instanceof` and then fail deep inside.
  if (!types.isUint8Array(value)) throw invalidArgType(name, 'an instance of Buffer or Uint8Array', value)
}

/** A non-negative safe integer: file offsets and lengths. */
export function checkOffset(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  if (!Number.isSafeInteger(value) || value < 0) throw outOfRange(name, `an integer >= 0 and <= ${Number.MAX_SAFE_INTEGER}`, value)
}

export function checkPath(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value)
  if (value.includes('\u0000')) throw invalidArgType(name, 'a string without null bytes', value)
}

export interface CheckedOpenOptions {
  direct: boolean | 'prefer'
  mode: number
}

export function checkOpenOptions(value: unknown): CheckedOpenOptions {
  if (value === undefined) return { direct: false, mode: 0o644 }
  if (value === null || typeof value !== 'object') throw invalidArgType('options', 'of type object', value)
  const { direct = false, mode = 0o644 } = value as OpenOptions
  if (typeof direct !== 'boolean' && direct !== 'prefer') throw invalidArgType('options.direct', "a boolean or 'prefer'", direct)
  if (typeof mode !== 'number') throw invalidArgType('options.mode', 'of type number', mode)
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw outOfRange('options.mode', 'an integer >= 0 and <= 0o7777', mode)
  return { direct, mode }
}
