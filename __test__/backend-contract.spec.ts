// The Backend interface (ts/backends/backend.ts) is the whole contract between the Io and
// a backend (issue 10): buffer registration, its hit count and the ring report go through
// it on both backends, so ts/io.ts needs no `instanceof` of either. Each backend is
// driven here only through a `Backend`-typed reference; the io_uring one on both engines.

import fs from 'node:fs'
import path from 'node:path'
import test, { type ExecutionContext } from 'ava'

import type { Backend } from '../ts/backends/backend'
import { NativeBackend } from '../ts/backends/native'
import { StandardBackend } from '../ts/backends/standard'
import { loadConfig } from '../ts/config'
import { limitsOf, loadAddon, type NativeAddon } from '../ts/native'
import { backends, openBackend, tmpDir } from './helpers/backends'

function addon(): NativeAddon & { protocol: NativeAddon['protocol'] } {
  const load = loadAddon()
  if (load.addon === null) throw new Error(`the native addon is missing: ${load.reason}`)
  return load.addon
}

function make(t: ExecutionContext, which: 'io_uring-inline' | 'io_uring-thread' | 'standard'): Backend {
  const load = loadAddon()
  if (load.addon === null) throw new Error(load.reason)
  const b: Backend = which === 'standard'
    ? new StandardBackend(limitsOf(load).values)
    : new NativeBackend(load.addon, load.protocol, loadConfig({}, {}, []), {
      engine: which === 'io_uring-inline' ? 'inline' : 'thread',
      engineSource: 'default',
      testSetupErrno: 0,
      testRingFailAfter: 0,
    })
  t.teardown(() => b.shutdown())
  return b
}

for (const which of ['io_uring-inline', 'io_uring-thread'] as const) {
  test(`${which}: buffer registration through the Backend interface: registered reads and writes count as hits; unregistered, the buffer is plain again`, async (t) => {
    const b = make(t, which)
    t.true(b.registersBuffers)
    const file = path.join(tmpDir(t), 'reg')
    const f = await b.open(file, 'create', 0o644, false)
    const buf = addon().allocAligned!(8192)
    const registration = await b.registerBuffer(buf)
    const hits0 = b.registeredBufferHits()
    await b.write(f, buf.fill(7), 0)
    t.is(await b.read(f, buf.subarray(0, 4096), 4096), 4096, 'a subarray of a registered buffer is registered too')
    t.is(b.registeredBufferHits() - hits0, 2)
    b.unregisterBuffer(registration)
    // The unregistration is fire-and-forget: it is applied before anything submitted after it.
    await b.write(f, buf, 0)
    t.is(b.registeredBufferHits() - hits0, 2, 'no longer a hit')
    await b.close(f)
    t.is(fs.statSync(file).size, 8192)
    const setup = b.ringSetup()
    t.not(setup, null)
    t.is(setup?.engine, which === 'io_uring-inline' ? 'inline' : 'thread')
  })
}

test('standard: the same members — registersBuffers false, registerBuffer rejects saying why, unregisterBuffer is a no-op, no hits, no ring', async (t) => {
  const b = make(t, 'standard')
  t.false(b.registersBuffers)
  const buf = Buffer.alloc(4096)
  await t.throwsAsync(b.registerBuffer(buf), { message: /standard backend has no registered buffers/ })
  t.notThrows(() => b.unregisterBuffer(undefined as never))
  const file = path.join(tmpDir(t), 'plain')
  const f = await b.open(file, 'create', 0o644, false)
  await b.write(f, buf, 0)
  await b.close(f)
  t.is(b.registeredBufferHits(), 0)
  t.is(b.ringSetup(), null)
})

for (const backend of backends) {
  test(`${backend}: io.pool registers through the backend exactly where the backend registers buffers`, async (t) => {
    const io = await openBackend(t, backend, { bufferPoolSize: 2 })
    const buf = io.pool.acquire(4096)
    const f = await io.create(path.join(tmpDir(t), 'p'))
    await f.writeAt(buf.fill(1), 0)
    await f.readAt(buf, 0)
    await f.close()
    const stats = io.pool.stats()
    if (io.backend === 'io_uring') {
      t.true(stats.registered > 0, JSON.stringify(stats))
      t.true(io.metrics().registeredBufferHits > 0)
      t.not(io.kernel.ring, null)
    } else {
      t.is(stats.registered, 0)
      t.is(stats.registrationFailures, 0, 'the standard backend is never asked')
      t.is(io.metrics().registeredBufferHits, 0)
      t.is(io.kernel.ring, null)
    }
    io.pool.release(buf)
  })
}

for (const engine of ['inline', 'thread'] as const) {
  test(`io_uring, ${engine}: io.kernel.ring is the ring as the addon reports it (engineInfo), one entry per ring; or null with the reason`, async (t) => {
    const saved = process.env.STREAMLINE_IO_ENGINE
    process.env.STREAMLINE_IO_ENGINE = engine
    let io
    try {
      io = await openBackend(t, 'io_uring', { ioWorkers: 2 })
    } finally {
      if (saved === undefined) delete process.env.STREAMLINE_IO_ENGINE
      else process.env.STREAMLINE_IO_ENGINE = saved
    }
    if (io.backend !== 'io_uring') return t.pass('io_uring not available here')
    const ring = io.kernel.ring!
    t.like(ring, { engine, engineSource: 'env' })
    if (typeof addon().engineInfo !== 'function') {
      t.is(ring.rings, null)
      t.regex(ring.unreported ?? '', /engineInfo/)
      t.log('the addon has no engineInfo(): io.kernel.ring.rings is null')
      return
    }
    t.is(ring.rings?.length, engine === 'inline' ? 1 : 2, 'inline: one ring; thread: ioWorkers')
    for (const r of ring.rings!) {
      t.true(r.sqEntries >= ring.requested.sqEntries && r.cqEntries >= ring.requested.cqEntries, JSON.stringify(r))
      t.true(r.setupFlags.every((f) => typeof f === 'string') && r.features.length > 0)
      t.true(r.setupFlags.includes('cqsize'), 'the CQ was sized (IORING_SETUP_CQSIZE)')
      t.true(r.fixedFiles.refused === null ? r.fixedFiles.slots === ring.requested.fixedFileSlots : r.fixedFiles.slots === 0)
      t.true(r.fixedBuffers.refused === null ? r.fixedBuffers.slots === ring.requested.fixedBufferSlots : r.fixedBuffers.slots === 0)
    }
  })
}
