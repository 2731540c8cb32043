// Protocol fuzz of the broker example on loopback (issue 14): random frames and mutated
// valid requests, a bounded number in bounded time. The broker must not crash or hang,
// its descriptor count must come back to where it was, and a kafkajs producer working
// beside the fuzzing connections must not notice. Both backends.

import net from 'node:net'

import test from 'ava'
import { Kafka, logLevel } from 'kafkajs'

import { backends, prng, tmpDir } from './helpers/backends'
import { startBroker } from './helpers/broker-process'

const FRAMES = 400
const BUDGET_MS = 25_000

/** A request frame: int32 size, then header v1 (key, version, correlation id, client id) and body. */
function frame(key: number, version: number, correlationId: number, body: Buffer): Buffer {
  const client = Buffer.from('fuzz')
  const header = Buffer.alloc(10)
  header.writeInt16BE(key, 0)
  header.writeInt16BE(version, 2)
  header.writeInt32BE(correlationId, 4)
  header.writeInt16BE(client.length, 8)
  const size = Buffer.alloc(4)
  size.writeInt32BE(header.length + client.length + body.length)
  return Buffer.concat([size, header, client, body])
}

const int16 = (v: number) => Buffer.from([(v >> 8) & 0xff, v & 0xff])
const int32 = (v: number) => { const b = Buffer.alloc(4); b.writeInt32BE(v); return b }
const str = (s: string) => Buffer.concat([int16(s.length), Buffer.from(s)])

/** Valid requests to mutate: ApiVersions v0, Metadata v1 (all topics, and one topic), Fetch v4, ListOffsets v1. */
const SEEDS: Buffer[] = [
  frame(18, 0, 1, Buffer.alloc(0)),
  frame(3, 1, 2, int32(-1)),
  frame(3, 4, 3, Buffer.concat([int32(1), str('fuzzed'), Buffer.from([1])])),
  // Fetch v4: replica −1, max wait 10 ms, min bytes 1, max bytes 1 MiB, isolation 0, one topic, partition 0 at offset 0 (int64), its max bytes.
  frame(1, 4, 4, Buffer.concat([int32(-1), int32(10), int32(1), int32(1 << 20), Buffer.from([0]), int32(1), str('fuzzed'), int32(1), int32(0), int32(0), int32(0), int32(1 << 20)])),
  // ListOffsets v1: replica −1, one topic, partition 0, timestamp −1 (latest).
  frame(2, 1, 5, Buffer.concat([int32(-1), int32(1), str('fuzzed'), int32(1), int32(0), int32(-1), int32(-1)])),
]

function mutate(rand: () => number, seed: Buffer): Buffer {
  const b = Buffer.from(seed)
  switch (Math.floor(rand() * 5)) {
    case 0: // flip a few bytes anywhere (the size field included)
      for (let i = 0; i < 1 + rand() * 4; i++) b[Math.floor(rand() * b.length)] ^= 1 + Math.floor(rand() * 255)
      return b
    case 1: // truncate, keeping the declared size (the broker waits for bytes that never come)
      return b.subarray(0, Math.floor(rand() * b.length))
    case 2: // a consistent size with garbage appended
      { const extra = Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)))
        const out = Buffer.concat([b, extra]); out.writeInt32BE(out.length - 4); return out }
    case 3: // an array count or string length replaced by something huge or negative
      { const at = 14 + Math.floor(rand() * Math.max(1, b.length - 18)); if (at + 4 <= b.length) b.writeInt32BE(rand() < 0.5 ? -2 - Math.floor(rand() * 1000) : 0x7fff0000, at); return b }
    default: // random api key and version on a valid body
      b.writeInt16BE(Math.floor(rand() * 80) - 5, 4)
      b.writeInt16BE(Math.floor(rand() * 20) - 2, 6)
      return b
  }
}

function randomFrame(rand: () => number): Buffer {
  const len = Math.floor(rand() * 200)
  const body = Buffer.from(Array.from({ length: len }, () => Math.floor(rand() * 256)))
  const kind = rand()
  if (kind < 0.1) return Buffer.concat([int32(-Math.floor(rand() * 100)), body]) // a negative size
  if (kind < 0.2) return Buffer.concat([int32(0x7ffffff0), body]) // over the frame limit
  return Buffer.concat([int32(len), body])
}

/** Sends `bytes` on a fresh connection; resolves once the broker closed it or after `ms`. */
function poke(port: number, bytes: Buffer, ms: number): Promise<'closed' | 'open'> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    const done = (how: 'closed' | 'open') => { clearTimeout(timer); s.destroy(); resolve(how) }
    const timer = setTimeout(() => done('open'), ms)
    s.on('error', () => done('closed'))
    s.on('close', () => done('closed'))
    s.on('data', () => undefined)
    s.write(bytes)
  })
}

/** One ApiVersions v0 round trip: the error code and the number of APIs listed. */
function apiVersions(port: number): Promise<{ error: number; apis: number }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1')
    let got = Buffer.alloc(0)
    s.setTimeout(5000, () => { s.destroy(); reject(new Error('ApiVersions: no answer in 5 s')) })
    s.on('error', reject)
    s.on('data', (d) => {
      got = Buffer.concat([got, d])
      if (got.length >= 4 && got.length >= 4 + got.readInt32BE(0)) {
        s.destroy()
        // size, correlation id, error code, api count
        resolve({ error: got.readInt16BE(8), apis: got.readInt32BE(10) })
      }
    })
    s.write(frame(18, 0, 99, Buffer.alloc(0)))
  })
}

for (const backend of backends) {
  test.serial(`${backend}: ${FRAMES} random and mutated frames neither crash nor hang the broker; other clients are unaffected; descriptors come back`, async (t) => {
    t.timeout(120_000)
    const broker = await startBroker({ dir: tmpDir(t), backend, args: ['--partitions', '1'] })
    t.teardown(() => broker.kill())
    t.deepEqual(await apiVersions(broker.port).then((r) => r.error), 0)
    const fdsBefore = broker.fdCount()

    // A well-behaved producer keeps working the whole time.
    const kafka = new Kafka({ clientId: 'bystander', brokers: [`127.0.0.1:${broker.port}`], logLevel: logLevel.NOTHING })
    const producer = kafka.producer({ allowAutoTopicCreation: true })
    await producer.connect()
    let fuzzing = true
    let produced = 0
    const bystander = (async () => {
      while (fuzzing) {
        await producer.send({ topic: 'bystander', acks: -1, messages: [{ value: `m${produced}` }] })
        produced++
      }
    })()

    const rand = prng(0x5eed + (backend === 'io_uring' ? 1 : 2))
    const started = Date.now()
    let sent = 0
    let closedByBroker = 0
    const inFlight = new Set<Promise<unknown>>()
    while (sent < FRAMES && Date.now() - started < BUDGET_MS) {
      const bytes = rand() < 0.5 ? randomFrame(rand) : mutate(rand, SEEDS[Math.floor(rand() * SEEDS.length)])
      const p = poke(broker.port, bytes, 300).then((how) => { if (how === 'closed') closedByBroker++ })
      inFlight.add(p)
      void p.finally(() => inFlight.delete(p))
      sent++
      if (inFlight.size >= 16) await Promise.race(inFlight)
    }
    await Promise.all(inFlight)
    fuzzing = false
    await bystander
    await producer.disconnect()

    t.log(`${backend}: ${sent} frames in ${Date.now() - started} ms, ${closedByBroker} connections closed by the broker; the bystander produced ${produced}`)
    t.true(sent >= 100, 'enough frames were sent to mean something')
    t.true(produced > 0, 'the bystander producer kept producing')
    const after = await apiVersions(broker.port)
    t.is(after.error, 0, 'the broker still answers ApiVersions')
    t.true(after.apis >= 10)
    // The fuzzers' sockets are closed: the broker's descriptors return to their level
    // (a little slack for the bystander's connection and the log files it created).
    let fdsAfter = broker.fdCount()
    for (let i = 0; i < 40 && fdsAfter > fdsBefore + 8; i++) {
      await new Promise((r) => setTimeout(r, 50))
      fdsAfter = broker.fdCount()
    }
    t.true(fdsAfter <= fdsBefore + 8, `descriptors ${fdsBefore} before, ${fdsAfter} after`)
    t.is(await broker.stop(), 0, `the broker drained and exited cleanly:\n${broker.output().slice(-4000)}`)
  })
}
