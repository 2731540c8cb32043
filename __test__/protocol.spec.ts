// The wire protocol the addon exports (crates/binding/src/protocol.rs, `protocol()`):
// loaded through ts/native.ts's loader, asserted against ARCHITECTURE.md §2's numbers;
// the numbers ts/ uses are the addon's (the loader's copy, ts/backends/native.ts's Wire,
// the fallback limits), and the io_uring backend runs — both engines — on a protocol
// whose every number differs from today's (kinds renumbered, fields permuted, another
// stride, LINK bit and ring-failed result), through an addon that translates back; and
// createEngine enforces the limits at and past each bound, on both engines.

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'

import { NativeBackend, ProtocolMismatch, Wire, type NativeBackendEnv } from '../ts/backends/native'
import { loadConfig } from '../ts/config'
import { FALLBACK_LIMITS, limitsOf, loadAddon, type EngineInfo, type EngineOptions, type NativeAddon, type Protocol } from '../ts/native'
import type { BackendFile } from '../ts/backends/backend'

function addon(): NativeAddon {
  const load = loadAddon()
  if (load.addon === null) throw new Error(`the native addon is missing: ${load.reason}`)
  return load.addon
}

test('protocol(): the operation kinds are 1–14 as ARCHITECTURE.md §2 numbers them', (t) => {
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
    sendFile: 13,
    cancel: 14,
  })
})

test('protocol(): the descriptor is 7 numbers [id, kind, fd, offset, len, arg, flags], LINK = 1', (t) => {
  const p = addon().protocol()
  t.is(p.stride, 7)
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

test('the numbers ts/ uses are the addon’s: the loader’s protocol, the Wire of ts/backends/native.ts, the limits', (t) => {
  const load = loadAddon()
  if (load.addon === null) throw new Error(load.reason)
  const p = addon().protocol()
  t.deepEqual(load.protocol, p, 'the loader keeps the addon’s protocol() as it was at load')
  t.true(Object.isFrozen(load.protocol) && Object.isFrozen(load.protocol.kinds) && Object.isFrozen(load.protocol.limits))
  const wire = new Wire(load.protocol)
  t.is(wire.stride, p.stride)
  t.deepEqual(Object.entries(wire.at).map(([f, i]) => [f, p.fields[i]]), Object.keys(wire.at).map((f) => [f, f]), 'each field at its index in protocol().fields')
  // Every kind the Wire knows is the addon's number (kinds it does not send, if any, it
  // need not know).
  t.true(Object.keys(wire.kind).length >= 12)
  for (const [k, v] of Object.entries(wire.kind)) t.is(v, p.kinds[k as keyof typeof p.kinds], `kind ${k}`)
  t.is(wire.link, p.flags.link)
  t.is(wire.ringFailed, p.resultRingFailed)
  t.deepEqual(limitsOf(load), { values: p.limits, from: 'addon' })
})

test('FALLBACK_LIMITS (no addon) equal the addon’s protocol().limits, and apply when the addon is missing', (t) => {
  t.deepEqual({ ...FALLBACK_LIMITS }, addon().protocol().limits)
  const none = loadAddon({ disabled: true })
  t.is(none.addon, null)
  t.deepEqual(limitsOf(none), { values: FALLBACK_LIMITS, from: 'fallback' })
  t.not(loadAddon().addon, null, 'disabling it for one caller does not unload it for the others')
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

// ---- the io_uring backend on a protocol with other numbers ----

const FAKE_FIELDS = ['flags', 'pad', 'arg', 'len', 'offset', 'fd', 'kind', 'id']
const FAKE_LINK = 4
const FAKE_RING_FAILED = -7_777_777
const KIND_SHIFT = 100

interface Remapped {
  addon: NativeAddon
  protocol: Protocol
  /** Every descriptor the backend sent, as it sent it. */
  sent: Float64Array[]
}

/**
 * An addon whose protocol() differs from the real one in every number; its submit
 * translates descriptors back to the real layout, its completions turn the real
 * RESULT_RING_FAILED into FAKE_RING_FAILED. A backend that restated today's numbers
 * would send descriptors the translation garbles.
 */
function remapped(real: NativeAddon, extra: Partial<NativeAddon> = {}): Remapped {
  const p = real.protocol()
  const protocol: Protocol = {
    ...p,
    stride: FAKE_FIELDS.length,
    fields: FAKE_FIELDS,
    kinds: Object.fromEntries(Object.entries(p.kinds).map(([k, v]) => [k, v + KIND_SHIFT])),
    flags: { link: FAKE_LINK },
    resultRingFailed: FAKE_RING_FAILED,
  }
  const sent: Float64Array[] = []
  const back = (results: Float64Array) => {
    for (let i = 1; i < results.length; i += 2) if (results[i] === p.resultRingFailed) results[i] = FAKE_RING_FAILED
    return results
  }
  const fake: NativeAddon = {
    ...real,
    protocol: () => protocol,
    createEngine: (o, onComplete) => real.createEngine(o, (r) => onComplete(back(r))),
    submit: (engine, desc, extras) => {
      sent.push(desc.slice())
      if (desc.length % protocol.stride !== 0) throw new RangeError(`descriptor of ${desc.length} numbers is not stride ${protocol.stride}`)
      const n = desc.length / protocol.stride
      const out = new Float64Array(n * p.stride)
      for (let i = 0; i < n; i++) {
        for (const f of p.fields) {
          let v = desc[i * protocol.stride + FAKE_FIELDS.indexOf(f)]
          if (f === 'kind') v -= KIND_SHIFT
          if (f === 'flags') {
            if ((v & ~FAKE_LINK) !== 0) throw new RangeError(`flags ${v} has bits besides LINK (${FAKE_LINK})`)
            v = v === FAKE_LINK ? p.flags.link : 0
          }
          out[i * p.stride + p.fields.indexOf(f)] = v
        }
      }
      const done = real.submit(engine, out, extras)
      return done === undefined ? undefined : back(done)
    },
    ...extra,
  }
  return { addon: fake, protocol, sent }
}

const env = (engine: 'inline' | 'thread', extra: Partial<NativeBackendEnv> = {}): NativeBackendEnv => ({ engine, engineSource: 'default', testSetupErrno: 0, testRingFailAfter: 0, ...extra })

function tmpFile(t: import('ava').ExecutionContext, name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'protocol-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return path.join(dir, name)
}

for (const engine of ['inline', 'thread'] as const) {
  test(`${engine}: the io_uring backend reads every wire number from protocol(): it runs on renumbered kinds, permuted fields, stride 8, another LINK bit`, async (t) => {
    const r = remapped(addon())
    const config = loadConfig({}, {}, [])
    const b = new NativeBackend(r.addon, r.protocol, config, env(engine))
    t.teardown(() => b.shutdown())
    const file = tmpFile(t, 'f')
    const f: BackendFile = await b.open(file, 'create', 0o644, false)
    await b.write(f, Buffer.from('hello, protocol'), 0)
    const buf = Buffer.alloc(15)
    t.is(await b.read(f, buf, 0), 15)
    t.is(buf.toString(), 'hello, protocol')
    t.is(await b.size(f), 15)
    await b.allocate(f, 0, 8192)
    t.is(await b.size(f), 8192)
    await b.truncate(f, 5)
    await b.sync(f, false)
    t.is(await b.size(f), 5)
    const results = await b.batch([
      { kind: 'write', file: f, buf: Buffer.from('AB'), offset: 0, link: true },
      { kind: 'syncData', file: f, offset: 0, link: true },
      { kind: 'read', file: f, buf: Buffer.alloc(5), offset: 0, link: false },
    ])
    t.deepEqual(results.map((x) => (x.ok ? x.bytes : x.error.message)), [2, 0, 5])
    const slots = await b.registerBuffer(r.addon.allocAligned!(4096))
    b.unregisterBuffer(slots)
    await b.close(f)
    t.is(fs.readFileSync(file, 'utf8'), 'ABllo')
    t.true(r.sent.length > 0 && r.sent.every((d) => d.length % 8 === 0), 'every descriptor in the protocol’s stride')
    const kinds = new Set(r.sent.flatMap((d) => Array.from({ length: d.length / 8 }, (_, i) => d[i * 8 + FAKE_FIELDS.indexOf('kind')])))
    t.true([...kinds].every((k) => k > KIND_SHIFT), `kinds sent: ${[...kinds].join(', ')}`)
    t.true(r.sent.some((d) => d.some((_, i) => i % 8 === FAKE_FIELDS.indexOf('flags') && d[i] === FAKE_LINK)), 'the batch’s links went out as the protocol’s LINK bit')
    t.is(b.degradedOps, 0)
  })

  test(`${engine}: the protocol’s RESULT_RING_FAILED (whatever its number) sends the operation to node:fs`, async (t) => {
    const r = remapped(addon())
    const b = new NativeBackend(r.addon, r.protocol, loadConfig({}, {}, []), env(engine, { testRingFailAfter: 3 }))
    t.teardown(() => b.shutdown())
    const file = tmpFile(t, 'g')
    const f = await b.open(file, 'create', 0o644, false)
    for (let i = 0; i < 8; i++) await b.write(f, Buffer.from([65 + i]), i)
    const buf = Buffer.alloc(8)
    t.is(await b.read(f, buf, 0), 8)
    t.is(buf.toString(), 'ABCDEFGH')
    t.true(b.degradedOps > 0, `degradedOps ${b.degradedOps}`)
    await b.close(f)
  })
}

test('a protocol() lacking an operation kind or a field the backend sends: ProtocolMismatch naming them (openIo falls back with it)', (t) => {
  const p = addon().protocol()
  const { registerBuffer: _, ...kinds } = p.kinds
  const bad: Protocol = { ...p, kinds, fields: p.fields.map((f) => (f === 'arg' ? 'argument' : f)) }
  const err = t.throws(() => new NativeBackend(addon(), bad, loadConfig({}, {}, []), env('inline')), { instanceOf: ProtocolMismatch })
  t.regex(err?.message ?? '', /lacks operation kinds registerBuffer and descriptor fields arg \(a stale build\?/)
})

test('io.kernel.ring from engineInfo(): setup flags, features, and why a table was refused, per ring', async (t) => {
  const info: EngineInfo = {
    sqEntries: 256, cqEntries: 2048, setupFlags: ['cqsize', 'single_issuer'], features: ['nodrop', 'ext_arg'],
    fixedFileSlots: 4096, fixedFilesErrno: null, fixedBufferSlots: 0, fixedBuffersErrno: 12, ftruncateOp: true,
  }
  const r = remapped(addon(), { engineInfo: () => info })
  const config = loadConfig({ ioWorkers: 2 }, {}, [])
  const b = new NativeBackend(r.addon, r.protocol, config, env('thread', { engineSource: 'env' }))
  t.teardown(() => b.shutdown())
  const setup = b.ringSetup()
  t.is(setup.engine, 'thread')
  t.is(setup.engineSource, 'env')
  t.is(setup.rings?.length, 2)
  t.deepEqual(setup.rings?.[0].setupFlags, ['cqsize', 'single_issuer'])
  t.deepEqual(setup.rings?.[0].features, ['nodrop', 'ext_arg'])
  t.deepEqual(setup.rings?.[0].fixedFiles, { slots: 4096, refused: null })
  t.is(setup.rings?.[0].fixedBuffers.slots, 0)
  t.regex(setup.rings?.[0].fixedBuffers.refused ?? '', /^ENOMEM: .*RLIMIT_MEMLOCK/)
  t.is(setup.unreported, undefined)
})
