// engineInfo(engine): the ring as the kernel set it up (crates/uring's RingInfo), on
// both engines — the setup flags actually in use after the fallbacks, the kernel's
// features, the fixed-file and registered-buffer tables and why either was refused.

import test from 'ava'

import { loadAddon, type EngineHandle, type EngineInfo, type EngineOptions, type NativeAddon } from '../ts/native'

type InfoAddon = NativeAddon & { engineInfo(engine: EngineHandle): EngineInfo | null }

function addon(): InfoAddon {
  const load = loadAddon()
  if (load.addon === null) throw new Error(`the native addon is missing: ${load.reason}`)
  if (typeof (load.addon as Partial<InfoAddon>).engineInfo !== 'function') throw new Error('the addon lacks engineInfo() (stale build? npm run build:native)')
  return load.addon as InfoAddon
}

const base: EngineOptions = { sqDepth: 8, cqDepth: 0, queueCapacity: 100, fixedFileSlots: 16, fixedBufferSlots: 4, testSetupErrno: 0, testFailAfter: 0 }

for (const mode of ['inline', 'thread'] as const) {
  test(`${mode}: engineInfo() reports the ring as set up, and null once destroyed`, (t) => {
    const a = addon()
    const probe = a.probe(8, 0)
    if (!probe.ok) return t.pass(`io_uring unavailable here (errno ${probe.errno})`)
    const e = a.createEngine({ ...base, mode }, () => undefined)
    const info = a.engineInfo(e)
    t.log(JSON.stringify(info))
    t.truthy(info)
    if (info === null) return
    t.is(info.sqEntries, 8)
    // The CQ is raised to a power of two holding queueCapacity + 1 completions.
    t.is(info.cqEntries, 128)
    t.true(info.setupFlags.includes('cqsize'), 'CQSIZE is in every setup attempt')
    for (const f of info.setupFlags) t.true(probe.setupFlags.includes(f) || f === 'sqpoll', `${f} is a flag the probe's ring accepted`)
    // The inline ring never uses DEFER_TASKRUN (its fd would not wake the event loop).
    if (mode === 'inline') t.false(info.setupFlags.includes('defer_taskrun'))
    else t.deepEqual(info.setupFlags, probe.setupFlags, 'the ring thread uses the same flag fallback as the probe')
    t.deepEqual(info.features, probe.features)
    // Fixed tables: either set up at the size asked, or refused with a positive errno.
    if (info.fixedFilesErrno === null) t.is(info.fixedFileSlots, 16)
    else t.true(info.fixedFileSlots === 0 && info.fixedFilesErrno > 0)
    if (info.fixedBuffersErrno === null) t.is(info.fixedBufferSlots, 4)
    else t.true(info.fixedBufferSlots === 0 && info.fixedBuffersErrno > 0)
    t.is(typeof info.ftruncateOp, 'boolean')
    // sendFile runs where the probe has all three opcodes (wire-sendfile.spec.ts sends).
    t.is(info.spliceOp, ['splice', 'poll_add', 'async_cancel'].every((op) => probe.opcodes.includes(op)))
    a.destroy(e)
    t.is(a.engineInfo(e), null)
  })
}

test('engineInfo() refuses what is not an engine with TypeError ERR_INVALID_ARG_TYPE', (t) => {
  const a = addon()
  t.throws(() => a.engineInfo({} as EngineHandle), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' } as never)
})
