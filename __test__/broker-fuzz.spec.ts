// Protocol fuzz on loopback (issue 14): random frames and mutations of valid requests
// (bytes flipped, bodies cut short or extended, counts and lengths made huge) for every
// API the broker serves, a bounded number of them, on both backends. The broker must not
// crash or hang — it answers a well-formed request afterwards and exits 0 on SIGTERM (a
// starved event loop would do neither) — and must not leak descriptors.
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import test from 'ava'

import { BufferWriter } from '../examples/kafka-broker/protocol/writer'
import { backends, prng, tmpDir, type BackendName } from './helpers/backends'
import { kcatMissing, runKcat, startBrokerChild, type BrokerChild } from './helpers/broker'

const CONNECTIONS = 120
const FRAMES_PER_CONNECTION = 6

function header(apiKey: number, apiVersion: number, correlationId: number, flexible = false): BufferWriter {
  const w = new BufferWriter().int16(apiKey).int16(apiVersion).int32(correlationId).nullableString('fuzz')
  if (flexible) w.taggedFields()
  return w
}

/** Well-formed requests of each API (the seeds the mutations start from). */
function seeds(): Buffer[] {
  const topic = 'fz'
  return [
    header(18, 2, 1).finish(),
    header(18, 3, 2, true).compactString('fuzz').compactString('1').taggedFields().finish(),
    header(3, 1, 3).array([topic], (w, t) => w.string(t)).finish(),
    header(3, 8, 4).array([topic, 'fz2'], (w, t) => w.string(t)).boolean(true).boolean(false).boolean(false).finish(),
    header(2, 5, 5).int32(-1).int8(0).array([topic], (w, t) => w.string(t).array([-1, -2, 0], (pw, ts) => pw.int32(0).int32(-1).int64(ts))).finish(),
    header(1, 11, 6).int32(-1).int32(50).int32(1).int32(1 << 20).int8(0).int32(0).int32(-1)
      .array([topic], (w, t) => w.string(t).array([0], (pw, p) => pw.int32(p).int32(-1).int64(0).int64(-1).int32(1 << 20)))
      .array([] as string[], (w, t) => w.string(t)).string('').finish(),
    header(1, 4, 7).int32(-1).int32(10).int32(1).int32(1024).int8(0).array([topic], (w, t) => w.string(t).array([0, 5], (pw, p) => pw.int32(p).int64(3).int32(512))).finish(),
    header(0, 8, 8).nullableString(null).int16(1).int32(1000).array([topic], (w, t) => w.string(t).array([0], (pw, p) => pw.int32(p).nullableBytes(Buffer.alloc(70, p)))).finish(),
  ]
}

function mutate(seed: Buffer, r: () => number): Buffer {
  const b = Buffer.from(seed)
  switch (Math.floor(r() * 5)) {
    case 0: // flip a few bytes past the api key and version (those are covered by case 4)
      for (let i = 0; i < 1 + r() * 4; i++) b[4 + Math.floor(r() * (b.length - 4))] = Math.floor(r() * 256)
      return b
    case 1: // cut short
      return b.subarray(0, Math.floor(r() * b.length))
    case 2: // extend with junk
      return Buffer.concat([b, Buffer.from(Array.from({ length: Math.floor(r() * 64) }, () => Math.floor(r() * 256)))])
    case 3: // a huge count or length somewhere
      if (b.length >= 14) b.writeInt32BE(r() < 0.5 ? 0x7fffffff : -2, 10 + Math.floor(r() * (b.length - 13)))
      return b
    default: // pure noise after a plausible api key and version
      return Buffer.concat([b.subarray(0, 4), Buffer.from(Array.from({ length: Math.floor(r() * 80) }, () => Math.floor(r() * 256)))])
  }
}

function framed(frame: Buffer): Buffer {
  const len = Buffer.alloc(4)
  len.writeInt32BE(frame.length)
  return Buffer.concat([len, frame])
}

function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length
}

/** Sends `frames` on one connection and waits until the broker closes it or 2 s pass. */
function blast(broker: BrokerChild, frames: Buffer[]): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(broker.port, broker.host, () => {
      for (const f of frames) s.write(f)
    })
    s.on('data', () => undefined)
    s.on('error', () => undefined)
    const timer = setTimeout(() => s.destroy(), 2_000)
    s.once('close', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

for (const backend of backends) {
  test.serial(`random and mutated frames: no crash, no hang, no leaked descriptor (${backend})`, async (t) => {
    const dir = tmpDir(t, 'broker-fuzz-')
    const broker = await startBrokerChild(t, backend as BackendName, path.join(dir, 'data'), ['--max-frame-bytes', '65536'])
    const pid = broker.child.pid!
    const r = prng(14)
    const base = seeds()
    // Warm up (the first topic creation opens files that stay open), then count descriptors.
    await blast(broker, base.map(framed))
    const fdsBefore = fdCount(pid)
    for (let c = 0; c < CONNECTIONS; c++) {
      const frames = Array.from({ length: FRAMES_PER_CONNECTION }, () => framed(mutate(base[Math.floor(r() * base.length)], r)))
      await blast(broker, frames)
    }
    t.is(broker.child.exitCode, null, `the broker is still running\n${broker.stderr().slice(-3000)}`)
    // Still serving: a real client gets metadata.
    const md = await runKcat(['-L', '-b', broker.bootstrap]).catch((err: Error) => ({ code: -1, stderr: err.message }))
    if (kcatMissing() === null) t.is(md.code, 0, md.stderr)
    // Sockets close asynchronously in the broker; give them a moment before counting.
    let fdsAfter = fdCount(pid)
    for (let i = 0; i < 50 && fdsAfter > fdsBefore; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      fdsAfter = fdCount(pid)
    }
    t.true(fdsAfter <= fdsBefore, `descriptors: ${fdsBefore} before, ${fdsAfter} after`)
    t.notRegex(broker.stderr(), /failed \(correlation id/, 'no handler failed with anything but a ProtocolError')
    t.deepEqual(await broker.stop('SIGTERM'), { code: 0, signal: null }, broker.stderr().slice(-3000))
  })
}

/** Sends one request frame and resolves its response frame (without the length). */
function roundTrip(broker: BrokerChild, frame: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0)
    const s = net.connect(broker.port, broker.host, () => s.write(framed(frame)))
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d])
      if (got.length >= 4 && got.length >= 4 + got.readInt32BE(0)) {
        s.destroy()
        resolve(got.subarray(4, 4 + got.readInt32BE(0)))
      }
    })
    s.on('error', reject)
    s.once('close', () => reject(new Error('closed before the response')))
  })
}

for (const backend of backends) {
  test.serial(`a long poll with nothing to watch waits without starving the other connections (${backend})`, async (t) => {
    const dir = tmpDir(t, 'broker-lp0-')
    const broker = await startBrokerChild(t, backend as BackendName, path.join(dir, 'data'))
    // Fetch v4 of no partitions, minBytes 1, maxWait 3 s: nothing can ever arrive, so it
    // is answered at its deadline — and meanwhile the broker serves everyone else.
    const events: string[] = []
    const fetch = roundTrip(broker, header(1, 4, 21).int32(-1).int32(3_000).int32(1).int32(1024).int8(0).array([] as string[], (w, n) => w.string(n)).finish()).then((b) => {
      events.push('fetch')
      return b
    })
    await new Promise((resolve) => setTimeout(resolve, 200))
    const versions = await roundTrip(broker, header(18, 0, 22).finish())
    events.push('api-versions')
    const f = await fetch
    t.deepEqual(events, ['api-versions', 'fetch'], 'ApiVersions on another connection is answered while the fetch waits')
    t.is(versions.readInt16BE(4), 0)
    t.is(f.readInt32BE(0), 21, 'the fetch is answered (correlation id)')
    t.is(f.readInt32BE(8), 0, 'with no topics')
    t.deepEqual(await broker.stop('SIGTERM'), { code: 0, signal: null }, broker.stderr())
  })
}

/** Sends `frames` back to back on one connection and resolves the first `count` response frames, in arrival order. */
function pipeline(broker: BrokerChild, frames: Buffer[], count: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0)
    const out: Buffer[] = []
    const s = net.connect(broker.port, broker.host, () => s.write(Buffer.concat(frames.map(framed))))
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d])
      while (got.length >= 4 && got.length >= 4 + got.readInt32BE(0)) {
        out.push(got.subarray(4, 4 + got.readInt32BE(0)))
        got = got.subarray(4 + got.readInt32BE(0))
      }
      if (out.length >= count) {
        s.destroy()
        resolve(out)
      }
    })
    s.on('error', reject)
    s.once('close', () => reject(new Error(`closed after ${out.length} of ${count} responses`)))
  })
}

for (const backend of backends) {
  test.serial(`responses come in request order; a bad record set is refused per partition, not by closing (${backend})`, async (t) => {
    const dir = tmpDir(t, 'broker-order-')
    const broker = await startBrokerChild(t, backend as BackendName, path.join(dir, 'data'))
    await roundTrip(broker, header(3, 1, 1).array(['ord'], (w, n) => w.string(n)).finish()) // creates the topic
    // A long poll (1 s, nothing to read) and, behind it, requests that finish at once.
    const fetch = header(1, 4, 2).int32(-1).int32(1_000).int32(1).int32(1024).int8(0).array(['ord'], (w, n) => w.string(n).array([0], (pw, p) => pw.int32(p).int64(0).int32(1024))).finish()
    const versions = header(18, 1, 3).finish()
    const produce = (correlationId: number, records: Buffer): Buffer =>
      header(0, 3, correlationId).nullableString(null).int16(1).int32(1000).array(['ord'], (w, n) => w.string(n).array([0], (pw, p) => pw.int32(p).nullableBytes(records))).finish()
    const badCrc = Buffer.alloc(70)
    badCrc.writeInt32BE(70 - 12, 8) // batchLength
    badCrc[16] = 2 // magic 2, but the CRC and the rest are zeros
    const magic1 = Buffer.from(badCrc)
    magic1[16] = 1
    const responses = await pipeline(broker, [fetch, versions, produce(4, badCrc), produce(5, magic1)], 4)
    t.deepEqual(responses.map((r) => r.readInt32BE(0)), [2, 3, 4, 5], 'correlation ids in request order')
    // Fetch v4: correlation id, throttle, [topic: name, [partition, error, ...]].
    t.is(responses[0].readInt16BE(4 + 4 + 4 + 2 + 3 + 4 + 4), 0, 'the long poll ended without error (nothing to read)')
    // Produce v3 response: [topic: name, [partition, error, base offset, log append time]], throttle.
    const produceError = (r: Buffer): number => r.readInt16BE(4 + 4 + 2 + 3 + 4 + 4)
    t.is(produceError(responses[2]), 2, 'a batch whose CRC fails: CORRUPT_MESSAGE')
    t.is(produceError(responses[3]), 43, 'magic 1: UNSUPPORTED_FOR_MESSAGE_FORMAT')
    t.deepEqual(await broker.stop('SIGTERM'), { code: 0, signal: null }, broker.stderr())
  })
}
