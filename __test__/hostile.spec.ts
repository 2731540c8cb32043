// Hostile arguments into every method: exactly the errors of DESIGN §3's table, as
// rejections (never a synchronous throw from a promise-returning method, never a crash,
// never a promise that does not settle).

import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

import { assertLibError, backends, describeError, openBackend, outcome, settleWithin, tmpDir } from './helpers/backends'
import type { AsyncFile, Io } from '../ts/types'

// `any` on purpose: these calls break the types the way untyped JavaScript callers do.
/* eslint-disable @typescript-eslint/no-explicit-any */
type Loose = any

const notBuffers: Array<[string, unknown]> = [
  ['a string', 'abc'],
  ['a number', 123],
  ['null', null],
  ['undefined', undefined],
  ['a plain object', { length: 4 }],
  ['an array', [1, 2, 3]],
  ['an ArrayBuffer', new ArrayBuffer(8)],
  ['a boolean', true],
  ['a bigint', 1n],
  ['a symbol', Symbol('x')],
  ['a function', () => 0],
  ['an object with Buffer.prototype', Object.setPrototypeOf({ length: 4, byteLength: 4, byteOffset: 0 }, Buffer.prototype)],
  ['a Proxy of a Buffer', new Proxy(Buffer.alloc(4), {})],
  ['a DataView-free ArrayBuffer subclass', new (class extends ArrayBuffer {})(8)],
]
const notNumbers: Array<[string, unknown]> = [
  ['a numeric string', '0'],
  ['null', null],
  ['an object', {}],
  ['a bigint', 1n],
  ['a boolean', true],
  ['an array', [0]],
  ['a symbol', Symbol('y')],
]
const outOfRange: Array<[string, number]> = [
  ['NaN', NaN],
  ['-1', -1],
  ['1.5', 1.5],
  ['2^53', 2 ** 53],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ['-2^53', -(2 ** 53)],
  ['1e300', 1e300],
]
const notPaths: Array<[string, unknown]> = [
  ['a number', 123],
  ['null', null],
  ['undefined', undefined],
  ['an object', {}],
  ['a symbol', Symbol('p')],
  ['a boolean', false],
]

async function setup(t: import('ava').ExecutionContext, backend: 'io_uring' | 'standard'): Promise<{ io: Io; f: AsyncFile; file: string; dir: string }> {
  const io = await openBackend(t, backend)
  const dir = tmpDir(t)
  const file = path.join(dir, 'h')
  fs.writeFileSync(file, 'hostile')
  const f = await io.openRw(file)
  t.teardown(() => f.close().catch(() => undefined))
  return { io, f, file, dir }
}

for (const backend of backends) {
  test(`${backend}: readAt/writeAt/append reject a non-buffer with TypeError ERR_INVALID_ARG_TYPE`, async (t) => {
    const { f, file } = await setup(t, backend)
    const ff = f as Loose
    for (const [what, v] of notBuffers) {
      await assertLibError(t, `readAt(${what})`, () => ff.readAt(v, 0), 'TypeError', 'ERR_INVALID_ARG_TYPE')
      await assertLibError(t, `writeAt(${what})`, () => ff.writeAt(v, 0), 'TypeError', 'ERR_INVALID_ARG_TYPE')
      await assertLibError(t, `append(${what})`, () => ff.append(v), 'TypeError', 'ERR_INVALID_ARG_TYPE')
    }
    await assertLibError(t, 'readAt() with no arguments', () => ff.readAt(), 'TypeError', 'ERR_INVALID_ARG_TYPE')
    t.is(fs.readFileSync(file, 'utf8'), 'hostile', 'nothing was written')
  })

  test(`${backend}: offsets of the wrong type reject with TypeError ERR_INVALID_ARG_TYPE`, async (t) => {
    const { f, file } = await setup(t, backend)
    const ff = f as Loose
    for (const [what, v] of [...notNumbers, ['undefined', undefined] as [string, unknown]]) {
      await assertLibError(t, `readAt(buf, ${what})`, () => ff.readAt(Buffer.alloc(4), v), 'TypeError', 'ERR_INVALID_ARG_TYPE')
      await assertLibError(t, `writeAt(buf, ${what})`, () => ff.writeAt(Buffer.from('x'), v), 'TypeError', 'ERR_INVALID_ARG_TYPE')
    }
    t.is(fs.readFileSync(file, 'utf8'), 'hostile')
  })

  test(`${backend}: offsets out of range (NaN, -1, 1.5, 2^53, ±Infinity) reject with RangeError ERR_OUT_OF_RANGE`, async (t) => {
    const { f, file } = await setup(t, backend)
    for (const [what, v] of outOfRange) {
      await assertLibError(t, `readAt(buf, ${what})`, () => f.readAt(Buffer.alloc(4), v), 'RangeError', 'ERR_OUT_OF_RANGE')
      await assertLibError(t, `writeAt(buf, ${what})`, () => f.writeAt(Buffer.from('x'), v), 'RangeError', 'ERR_OUT_OF_RANGE')
    }
    t.is(fs.readFileSync(file, 'utf8'), 'hostile')
  })

  test(`${backend}: allocate/truncate lengths and offsets: TypeError for wrong types, RangeError for bad numbers`, async (t) => {
    const { f, file } = await setup(t, backend)
    const ff = f as Loose
    for (const [what, v] of notNumbers) {
      await assertLibError(t, `allocate(${what})`, () => ff.allocate(v), 'TypeError', 'ERR_INVALID_ARG_TYPE')
      await assertLibError(t, `allocate(1, ${what})`, () => ff.allocate(1, v), 'TypeError', 'ERR_INVALID_ARG_TYPE')
      await assertLibError(t, `truncate(${what})`, () => ff.truncate(v), 'TypeError', 'ERR_INVALID_ARG_TYPE')
    }
    await assertLibError(t, 'allocate()', () => ff.allocate(), 'TypeError', 'ERR_INVALID_ARG_TYPE')
    await assertLibError(t, 'truncate()', () => ff.truncate(), 'TypeError', 'ERR_INVALID_ARG_TYPE')
    for (const [what, v] of outOfRange) {
      await assertLibError(t, `allocate(${what})`, () => f.allocate(v), 'RangeError', 'ERR_OUT_OF_RANGE')
      await assertLibError(t, `allocate(1, ${what})`, () => f.allocate(1, v), 'RangeError', 'ERR_OUT_OF_RANGE')
      await assertLibError(t, `truncate(${what})`, () => f.truncate(v), 'RangeError', 'ERR_OUT_OF_RANGE')
    }
    t.is(fs.readFileSync(file, 'utf8'), 'hostile', 'no bad call changed the file')
    t.is(await f.size(), 7)
  })

  test(`${backend}: open* reject non-string paths with TypeError and a NUL byte in a path without crashing`, async (t) => {
    const { io, dir } = await setup(t, backend)
    const anyIo = io as Loose
    for (const m of ['open', 'openRw', 'create', 'openAppend']) {
      for (const [what, v] of notPaths) {
        await assertLibError(t, `${m}(${what})`, () => anyIo[m](v), 'TypeError', 'ERR_INVALID_ARG_TYPE')
      }
      const nul = path.join(dir, 'a\u0000b')
      const o = await outcome(() => anyIo[m](nul))
      t.is(o.kind, 'rejected', `${m}(path with NUL) must reject: ${o.kind} ${JSON.stringify(describeError((o as { error?: unknown }).error))}`)
      if (o.kind === 'rejected') t.true(o.error instanceof TypeError, `${m}(path with NUL): like node:fs, a TypeError: ${JSON.stringify(describeError(o.error))}`)
    }
    t.deepEqual(fs.readdirSync(dir).sort(), ['h'], 'nothing was created')
  })

  test(`${backend}: open* reject bad options: wrong types TypeError, bad mode numbers RangeError (as node:fs)`, async (t) => {
    const { io, dir } = await setup(t, backend)
    const anyIo = io as Loose
    const p = path.join(dir, 'opt')
    const badTypes: Array<[string, unknown]> = [
      ['options a string', 'r'],
      ['options a number', 42],
      ['mode a string', { mode: 'abc' }],
      ['mode an object', { mode: {} }],
      ['mode a bigint', { mode: 1n }],
      ['direct a string', { direct: 'yes' }],
      ['direct a number', { direct: 1 }],
    ]
    for (const m of ['open', 'openRw', 'create', 'openAppend']) {
      for (const [what, opts] of badTypes) {
        await assertLibError(t, `${m}(p, ${what})`, () => anyIo[m](p, opts), 'TypeError', 'ERR_INVALID_ARG_TYPE')
      }
    }
    for (const m of ['create', 'openAppend']) {
      for (const [what, mode] of [['-1', -1], ['1.5', 1.5], ['NaN', NaN]] as const) {
        await assertLibError(t, `${m}(p, { mode: ${what} })`, () => anyIo[m](p, { mode }), 'RangeError', 'ERR_OUT_OF_RANGE')
      }
    }
    t.false(fs.existsSync(p), 'no bad call created the file')
  })

  test(`${backend}: every method of a closed file rejects with Error ERR_IO_CLOSED`, async (t) => {
    const { f, file } = await setup(t, backend)
    await f.close()
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['readAt', () => f.readAt(Buffer.alloc(4), 0)],
      ['writeAt', () => f.writeAt(Buffer.from('x'), 0)],
      ['append', () => f.append(Buffer.from('x'))],
      ['syncData', () => f.syncData()],
      ['syncAll', () => f.syncAll()],
      ['size', () => f.size()],
      ['allocate', () => f.allocate(4096)],
      ['truncate', () => f.truncate(0)],
    ]
    for (const [name, call] of calls) {
      await assertLibError(t, `closed file: ${name}`, call, 'Error', 'ERR_IO_CLOSED')
    }
    t.is(fs.readFileSync(file, 'utf8'), 'hostile')
  })

  test(`${backend}: every method after io.close() rejects with Error ERR_IO_CLOSED`, async (t) => {
    const { io, f, file, dir } = await setup(t, backend)
    await io.close()
    const other = path.join(dir, 'after-close')
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['io.open', () => io.open(file)],
      ['io.openRw', () => io.openRw(file)],
      ['io.create', () => io.create(other)],
      ['io.openAppend', () => io.openAppend(other)],
      ['file.readAt', () => f.readAt(Buffer.alloc(4), 0)],
      ['file.writeAt', () => f.writeAt(Buffer.from('x'), 0)],
      ['file.append', () => f.append(Buffer.from('x'))],
      ['file.syncData', () => f.syncData()],
      ['file.syncAll', () => f.syncAll()],
      ['file.size', () => f.size()],
      ['file.allocate', () => f.allocate(4096)],
      ['file.truncate', () => f.truncate(0)],
    ]
    for (const [name, call] of calls) {
      await assertLibError(t, `closed Io: ${name}`, call, 'Error', 'ERR_IO_CLOSED')
    }
    t.false(fs.existsSync(other), 'a closed Io creates nothing')
    t.is(fs.readFileSync(file, 'utf8'), 'hostile')
  })

  test(`${backend}: bad calls interleaved with good ones: the good ones all succeed and everything settles`, async (t) => {
    const { f, file } = await setup(t, backend)
    const ff = f as Loose
    const all: Promise<unknown>[] = []
    let good = 0
    for (let i = 0; i < 500; i++) {
      const b = Buffer.alloc(1, 65 + (i % 26))
      all.push(f.writeAt(b, i).then(() => good++))
      all.push(Promise.resolve().then(() => ff.readAt(null, i)).catch(() => undefined))
      all.push(Promise.resolve().then(() => ff.writeAt(b, -i - 1)).catch(() => undefined))
      all.push(Promise.resolve().then(() => ff.truncate(NaN)).catch(() => undefined))
    }
    await settleWithin(Promise.all(all), 60_000, 'mixed good and bad calls')
    t.is(good, 500)
    const expected = Array.from({ length: 500 }, (_, i) => String.fromCharCode(65 + (i % 26))).join('')
    t.is(fs.readFileSync(file, 'latin1'), expected)
  })

  test(`${backend}: a valid edge: offset -0 is offset 0 and 2^53-1 is accepted (read → 0 bytes)`, async (t) => {
    const { f } = await setup(t, backend)
    const b = Buffer.alloc(7)
    t.is((await f.readAt(b, -0)).bytesRead, 7)
    t.is(b.toString(), 'hostile')
    t.is((await f.readAt(Buffer.alloc(7), Number.MAX_SAFE_INTEGER)).bytesRead, 0)
  })

  test(`${backend}: the process survives all of the above: a fresh Io still round-trips`, async (t) => {
    const { io, dir } = await setup(t, backend)
    const g = await io.create(path.join(dir, 'alive'))
    await g.writeAt(Buffer.from('still alive'), 0)
    const b = Buffer.alloc(11)
    await g.readAt(b, 0)
    t.is(b.toString(), 'still alive')
    await g.close()
  })
}
