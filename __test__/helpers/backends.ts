// Shared helpers for the one suite that runs against both backends.
//
// Every test opens its own Io through `openBackend`, which asserts that the io_uring
// backend really is in use wherever this machine should provide it: a silent fallback
// would otherwise make every 'io_uring' test pass while exercising node:fs.

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { ExecutionContext } from 'ava'

import { openIo } from '../../ts/index'
import type { Io, IoConfig } from '../../ts/types'

export type BackendName = 'io_uring' | 'standard'

/** The backends every behavioural test runs against. */
export const backends: readonly BackendName[] = ['io_uring', 'standard']

/** Parses "6.18.44-fc" → [6, 18]. */
function kernelVersion(release: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release)
  return m ? [Number(m[1]), Number(m[2])] : [0, 0]
}

/**
 * True where io_uring must be available: Linux, kernel >= 5.11 and
 * kernel.io_uring_disabled = 0. There a test on 'io_uring' fails (never skips) when the
 * library fell back to the standard backend.
 */
export function ioUringExpected(): boolean {
  if (process.platform !== 'linux') return false
  const [major, minor] = kernelVersion(os.release())
  if (major < 5 || (major === 5 && minor < 11)) return false
  try {
    return fs.readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim() === '0'
  } catch {
    // Kernels before 6.6 have no such sysctl: io_uring is then not disabled by it.
    return true
  }
}

/** The openIo overrides that select a backend. */
export function backendConfig(backend: BackendName): Partial<IoConfig> {
  return { enableIoUring: backend === 'io_uring' }
}

/**
 * Opens an Io for `backend` (plus `extra` overrides) and registers its close as a
 * teardown. Throws — failing the test — when io_uring was asked for, is expected on this
 * machine, and the library fell back anyway.
 */
export async function openBackend(
  t: ExecutionContext,
  backend: BackendName,
  extra: Partial<IoConfig> = {},
): Promise<Io> {
  const io = await openIo({ ...backendConfig(backend), ...extra })
  t.teardown(async () => {
    await io.close().catch(() => undefined)
  })
  if (backend === 'io_uring') {
    if (io.backend !== 'io_uring') {
      if (ioUringExpected()) {
        await io.close().catch(() => undefined)
        throw new Error(
          `io_uring is expected on this machine (Linux ${os.release()}, io_uring_disabled=0) ` +
            `but openIo chose '${io.backend}': fallbackReason = ${JSON.stringify(io.fallbackReason)}`,
        )
      }
      t.log(`io_uring not available here; running on '${io.backend}': ${io.fallbackReason}`)
    }
  } else if (io.backend !== 'standard') {
    await io.close().catch(() => undefined)
    throw new Error(`enableIoUring: false must select 'standard', got '${io.backend}'`)
  }
  return io
}

/** A fresh temporary directory, removed when the test ends. */
export function tmpDir(t: ExecutionContext, label = 'streamline-io-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), label))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

import { prng } from './prng'
export { prng }

/** Bytes whose value depends on their absolute file position and a tag. */
export function pattern(length: number, position: number, tag = 0): Buffer {
  const b = Buffer.allocUnsafe(length)
  for (let i = 0; i < length; i++) {
    const p = position + i
    b[i] = (p * 31 + (p >>> 8) * 7 + (p >>> 16) * 3 + tag * 101) & 0xff
  }
  return b
}

/** Fills buf with the pseudo-random bytes of `seed` (fast: 4 bytes per step). */
export function randomBytes(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length)
  const r = prng(seed)
  let i = 0
  for (; i + 4 <= length; i += 4) b.writeUInt32LE((r() * 4294967296) >>> 0, i)
  for (; i < length; i++) b[i] = (r() * 256) & 0xff
  return b
}

/** The first index where a and b differ, or -1. */
export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return a.length === b.length ? -1 : n
}

/** Asserts two byte ranges are equal, with a short message instead of a huge diff. */
export function assertBytes(t: ExecutionContext, actual: Uint8Array, expected: Uint8Array, what: string): boolean {
  const d = firstDiff(actual, expected)
  if (d === -1) {
    t.pass()
    return true
  }
  t.fail(
    `${what}: differs at byte ${d} (actual length ${actual.length}, expected ${expected.length}; ` +
      `actual ${actual[d]}, expected ${expected[d]})`,
  )
  return false
}

/** Reads a file range with plain node:fs (the independent witness). */
export function fsRead(file: string, position: number, length: number): Buffer {
  const fd = fs.openSync(file, 'r')
  try {
    const b = Buffer.alloc(length)
    let done = 0
    while (done < length) {
      const n = fs.readSync(fd, b, done, length - done, position + done)
      if (n === 0) break
      done += n
    }
    return b.subarray(0, done)
  } finally {
    fs.closeSync(fd)
  }
}

export interface ErrorShape {
  name?: string
  code?: unknown
  errno?: unknown
  syscall?: unknown
  path?: unknown
  message?: string
  ctor?: string
}

/** The properties of a thrown value that the tests care about, for messages. */
export function describeError(e: unknown): ErrorShape {
  if (e === null || typeof e !== 'object') return { message: String(e) }
  const o = e as Record<string, unknown>
  return {
    name: typeof o.name === 'string' ? o.name : undefined,
    ctor: (e as object).constructor?.name,
    code: o.code,
    errno: o.errno,
    syscall: o.syscall,
    path: o.path,
    message: typeof o.message === 'string' ? o.message : undefined,
  }
}

export type Outcome =
  | { kind: 'sync-throw'; error: unknown }
  | { kind: 'rejected'; error: unknown }
  | { kind: 'fulfilled'; value: unknown }
  | { kind: 'returned'; value: unknown }

/**
 * Runs fn and reports how it ended: a synchronous throw, a rejection, a fulfilment, or
 * a non-promise return. Never throws itself.
 */
export async function outcome(fn: () => unknown): Promise<Outcome> {
  let r: unknown
  try {
    r = fn()
  } catch (error) {
    return { kind: 'sync-throw', error }
  }
  if (r instanceof Promise || (r !== null && typeof r === 'object' && typeof (r as { then?: unknown }).then === 'function')) {
    try {
      return { kind: 'fulfilled', value: await r }
    } catch (error) {
      return { kind: 'rejected', error }
    }
  }
  return { kind: 'returned', value: r }
}

/** The errno node:fs reports for a code: negative, e.g. ENOENT → -2. */
export function negErrno(code: string): number {
  const n = (os.constants.errno as Record<string, number>)[code]
  if (typeof n !== 'number') throw new Error(`unknown errno code ${code}`)
  return -n
}

/**
 * Asserts that a promise-returning call rejects (not throws synchronously) with a
 * node:fs-shaped system error: `code`, negative `errno`, a `syscall` string and `path`.
 */
export async function assertSystemError(
  t: ExecutionContext,
  what: string,
  fn: () => unknown,
  expected: { code: string; path?: string; syscall?: string | RegExp },
): Promise<void> {
  const o = await outcome(fn)
  if (o.kind !== 'rejected') {
    t.fail(`${what}: expected a rejection with ${expected.code}, got ${o.kind}: ${JSON.stringify(describeError((o as { error?: unknown }).error ?? (o as { value?: unknown }).value))}`)
    return
  }
  const e = o.error
  const d = describeError(e)
  const shown = JSON.stringify(d)
  t.true(e instanceof Error, `${what}: not an Error: ${shown}`)
  t.is(d.code, expected.code, `${what}: code: ${shown}`)
  t.is(d.errno, negErrno(expected.code), `${what}: errno must be negative like node:fs: ${shown}`)
  t.is(typeof d.syscall, 'string', `${what}: syscall missing: ${shown}`)
  if (typeof d.syscall === 'string') t.true(d.syscall.length > 0, `${what}: empty syscall: ${shown}`)
  if (expected.syscall instanceof RegExp) t.regex(String(d.syscall), expected.syscall, `${what}: syscall: ${shown}`)
  else if (typeof expected.syscall === 'string') t.is(d.syscall, expected.syscall, `${what}: syscall: ${shown}`)
  if (expected.path !== undefined) t.is(d.path, expected.path, `${what}: path: ${shown}`)
}

export type LibErrorClass = 'TypeError' | 'RangeError' | 'Error'

/**
 * Asserts a library error (DESIGN §3 table): the promise rejects — a synchronous throw
 * from a promise-returning method is reported as a failure of its own — with exactly
 * the class and code given.
 */
export async function assertLibError(
  t: ExecutionContext,
  what: string,
  fn: () => unknown,
  cls: LibErrorClass,
  code: string,
): Promise<void> {
  const o = await outcome(fn)
  if (o.kind === 'fulfilled' || o.kind === 'returned') {
    t.fail(`${what}: expected ${cls} ${code}, but it succeeded (${o.kind})`)
    return
  }
  const d = describeError(o.error)
  const shown = JSON.stringify(d)
  if (o.kind === 'sync-throw') {
    t.fail(`${what}: threw synchronously instead of returning a rejected promise: ${shown}`)
  }
  t.is(d.code, code, `${what}: code: ${shown}`)
  const e = o.error
  if (cls === 'TypeError') t.true(e instanceof TypeError, `${what}: must be a TypeError: ${shown}`)
  else if (cls === 'RangeError') t.true(e instanceof RangeError, `${what}: must be a RangeError: ${shown}`)
  else {
    t.true(e instanceof Error, `${what}: must be an Error: ${shown}`)
    t.false(e instanceof TypeError || e instanceof RangeError, `${what}: must be a plain Error: ${shown}`)
  }
}

/**
 * The least time one operation gets before settleWithin calls it hung. A soak campaign
 * beside a 22-run stress test (load 15–20 on 2 cores) saw a standard-backend WAL open
 * with its fdatasyncs take more than 30 s — slow, not hung: a hang is an operation that
 * never settles, so no single-operation deadline in the suite is shorter than this.
 */
export const HANG_FLOOR_MS = 120_000

/**
 * Rejects with a clear message when p does not settle within max(ms, HANG_FLOOR_MS) (a
 * hang detector, not a timing assertion) — for one operation. For a workload of many,
 * whose total time only says how busy the machine is, use helpers/progress.ts (fails
 * only without progress).
 */
export function settleWithin<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  const limit = Math.max(ms, HANG_FLOOR_MS)
  let timer: NodeJS.Timeout | undefined
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: did not settle within ${limit} ms`)), limit)
  })
  return Promise.race([p, guard]).finally(() => clearTimeout(timer))
}

/** The project root (…/main), from dist/__test__/helpers at run time. */
export const projectRoot = path.resolve(__dirname, '..', '..', '..')
/** The compiled library entry point, for child processes. */
export const libEntry = path.join(projectRoot, 'dist', 'ts', 'index.js')
/** A compiled fixture script under dist/__test__/fixtures. */
export function fixture(name: string): string {
  return path.join(__dirname, '..', 'fixtures', name.endsWith('.js') ? name : `${name}.js`)
}
