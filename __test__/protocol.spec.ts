// The wire protocol the addon exports (crates/binding/src/protocol.rs, `protocol()`):
// loaded through ts/native.ts's loader, asserted against ARCHITECTURE.md §2's numbers
// and against the numbers ts/native.ts uses today, and its limits enforced by
// createEngine at and past each bound, on both engines.

import test from 'ava'

import { DESC_FLAG_LINK, DESC_STRIDE, loadAddon, OpKind, RESULT_RING_FAILED, type EngineOptions, type NativeAddon } from '../ts/native'

interface Protocol {
  stride: number
  fields: string[]
  kinds: Record<string, number>
  flags: { link: number }
  resultRingFailed: number
  limits: {
    maxSqDepth: number
    maxCqEntries: number
    maxQueueCapacity: number
    maxFixedFileSlots: number
    maxFixedBufferSlots: number
    maxTransferBytes: number
    maxAlignedBytes: number
  }
}
type ProtocolAddon = NativeAddon & { protocol(): Protocol }

function addon(): ProtocolAddon {
  const load = loadAddon()
  if (load.addon === null) throw new Error(`the native addon is missing: ${load.reason}`)
  if (typeof (load.addon as Partial<ProtocolAddon>).protocol !== 'function') throw new Error('the addon lacks protocol() (stale build? npm run build:native)')
  return load.addon as ProtocolAddon
}

test('protocol(): the operation kinds are 1–12 as ARCHITECTURE.md §2 numbers them', (t) => {
  t.deepEqual(addon().protocol().kinds, {
    read: 1,
    write: 2,
    fsync: 3,
    fdatasync: 4,
    fallocate: 5,
    ftruncate: 6,
    size: 7,
    open: 8,
    close: 9,
    nop: 10,
    registerBuffer: 11,
    unregisterBuffer: 12,
  })
})

test('protocol(): the descriptor is 7 numbers [id, kind, fd, offset, len, arg, flags], LINK = 1', (t) => {
  const p = addon().protocol()
  t.is(p.stride, 7)
  t.is(p.stride, addon().descStride(), 'descStride() says the same')
  t.deepEqual(p.fields, ['id', 'kind', 'fd', 'offset', 'len', 'arg', 'flags'])
  t.deepEqual(p.flags, { link: 1 })
  t.is(p.resultRingFailed, -1_000_000)
})

test('protocol(): the limits, as numbers', (t) => {
  t.deepEqual(addon().protocol().limits, {
    maxSqDepth: 32_768,
    maxCqEntries: 65_536,
    maxQueueCapacity: 65_535,
    maxFixedFileSlots: 1 << 20,
    maxFixedBufferSlots: 16_384,
    maxTransferBytes: 0x7fff_f000,
    maxAlignedBytes: 1 << 30,
  })
  for (const [name, v] of Object.entries(addon().protocol().limits)) t.true(Number.isSafeInteger(v) && v > 0, `${name} = ${v}`)
})

test('the numbers ts/native.ts uses are the addon’s', (t) => {
  const p = addon().protocol()
  t.is(DESC_STRIDE, p.stride)
  t.is(DESC_FLAG_LINK, p.flags.link)
  t.is(RESULT_RING_FAILED, p.resultRingFailed)
  const ts: Record<string, number> = {
    read: OpKind.Read,
    write: OpKind.Write,
    fsync: OpKind.Fsync,
    fdatasync: OpKind.Fdatasync,
    fallocate: OpKind.Fallocate,
    ftruncate: OpKind.Ftruncate,
    size: OpKind.Size,
    open: OpKind.Open,
    close: OpKind.Close,
    nop: OpKind.Nop,
    registerBuffer: OpKind.RegisterBuffer,
    unregisterBuffer: OpKind.UnregisterBuffer,
  }
  t.deepEqual(ts, p.kinds)
})

test('protocol() returns a fresh object each call (callers may keep and change it)', (t) => {
  const a = addon().protocol()
  a.kinds.read = 99
  t.is(addon().protocol().kinds.read, 1)
})

const base: EngineOptions = { sqDepth: 8, cqDepth: 0, queueCapacity: 8, fixedFileSlots: 0, testSetupErrno: 0, testFailAfter: 0 }

for (const mode of ['inline', 'thread'] as const) {
  test(`${mode}: createEngine accepts every limit at its bound and refuses one past it with RangeError ERR_OUT_OF_RANGE naming the option and the bound`, (t) => {
    const a = addon()
    const l = a.protocol().limits
    const at: Array<[keyof EngineOptions, number]> = [
      ['sqDepth', l.maxSqDepth],
      ['cqDepth', l.maxCqEntries],
      ['queueCapacity', l.maxQueueCapacity],
      ['fixedBufferSlots', l.maxFixedBufferSlots],
    ]
    for (const [name, value] of at) {
      const e = a.createEngine({ ...base, mode, [name]: value }, () => undefined)
      a.destroy(e)
      t.pass(`${name} = ${value} accepted`)
    }
    const past: Array<[keyof EngineOptions, number]> = [
      ['sqDepth', l.maxSqDepth * 2],
      ['cqDepth', l.maxCqEntries + 1],
      ['queueCapacity', l.maxQueueCapacity + 1],
      ['fixedFileSlots', l.maxFixedFileSlots + 1],
      ['fixedBufferSlots', l.maxFixedBufferSlots + 1],
    ]
    for (const [name, value] of past) {
      const err = t.throws(() => a.createEngine({ ...base, mode, [name]: value }, () => undefined), { instanceOf: RangeError }, `${name} = ${value}`)
      t.is((err as NodeJS.ErrnoException | undefined)?.code, 'ERR_OUT_OF_RANGE')
      t.regex(err?.message ?? '', new RegExp(`^options\\.${name} must be .*<= ${name === 'sqDepth' ? l.maxSqDepth : value - 1}\\b`), err?.message)
    }
  })
}
