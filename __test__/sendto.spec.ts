// Zero-copy sendTo (issue 11, docs/design/zero-copy.md §6.2): file.sendTo and log.sendTo
// to a real TCP connection on 127.0.0.1, on both backends. The receiver must get exactly
// the bytes a read returns — small, large (64 MiB) and multi-segment ranges, with and
// without a prefix — in call order; a paused reader gets everything; a reader that goes
// away mid-transfer gives a clean error and no leaked descriptor; io.close()/log.close()
// end transfers to a paused reader; TLS and in-process duplexes take the copy path with
// the same bytes. The path metrics (splice on io_uring, sendfile on standard) need the
// native parts (branches i11-engine and i11-sendfile): where the loaded addon lacks them,
// those assertions FAIL, naming what is missing (never a skip).

import fs from 'node:fs'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import test, { type ExecutionContext } from 'ava'

import { openLog, type PartitionLog } from '../ts/index'
import { loadAddon } from '../ts/native'
import type { AsyncFile, Io } from '../ts/types'
import { assertBytes, assertLibError, backends, fixture, fsRead, openBackend, settleWithin, tmpDir, type BackendName } from './helpers/backends'
import { cleanEnv, lastJson, runNode, summary } from './helpers/child'
import { expectedDioAlignment } from './helpers/direct'
import { eventually } from './helpers/log-api-util'
import { parseExposition, valueOf } from './helpers/prometheus'
import { fdTargets, sha256, socketInode, tcpPair, tlsPair, writeDataFile } from './helpers/sendto'

const MiB = 1024 * 1024

/** The children run on this process's engine mode (test:thread sets STREAMLINE_IO_ENGINE). */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const engine = process.env.STREAMLINE_IO_ENGINE
  return cleanEnv(engine === undefined ? extra : { STREAMLINE_IO_ENGINE: engine, ...extra })
}

/**
 * What the loaded addon lacks for `backend`'s zero-copy path, naming the branch that
 * builds it; null when it has everything. io_uring splices (kinds sendFile/cancel, every
 * ring's spliceOp); standard uses sendfile(2) through dupFd/closeFd/sendfile/pollWritable/pollClose.
 */
function missingZeroCopy(backend: BackendName, io: Io): string | null {
  const load = loadAddon()
  if (load.addon === null) return `no addon loaded (${load.reason})`
  const a = load.addon as unknown as Record<string, unknown>
  const helpers = ['dupFd', 'closeFd', 'sendfile', 'pollWritable', 'pollClose'].filter((k) => typeof a[k] !== 'function')
  if (backend === 'standard') return helpers.length === 0 ? null : `the addon lacks ${helpers.join(', ')} (branch i11-sendfile)`
  const kinds = ['sendFile', 'cancel'].filter((k) => !Number.isSafeInteger(load.protocol.kinds[k]))
  const rings = io.kernel.ring?.rings ?? null
  const why: string[] = []
  if (kinds.length > 0) why.push(`protocol().kinds lacks ${kinds.join(', ')}`)
  if (typeof a.sendStats !== 'function') why.push('the addon lacks sendStats')
  const infoOf = a.engineInfo
  if (typeof infoOf !== 'function') why.push('the addon lacks engineInfo')
  if (rings === null) why.push('no ring report')
  if (why.length > 0) return `${why.join('; ')} (branch i11-engine)`
  return null
}

/** The path `backend` must use for a plain TCP socket. */
function zeroCopyPath(backend: BackendName): 'splice' | 'sendfile' {
  return backend === 'io_uring' ? 'splice' : 'sendfile'
}

/** Asserts the zero-copy path carried exactly `bytes` more than `before` and copy nothing more; fails naming the missing native part. */
function assertZeroCopy(t: ExecutionContext, backend: BackendName, io: Io, before: Io['metrics'] extends () => infer M ? M : never, bytes: number, what: string): void {
  const missing = missingZeroCopy(backend, io)
  if (missing !== null) {
    t.fail(`${what}: the zero-copy path cannot run here: ${missing}`)
    return
  }
  const now = io.metrics().sendTo
  const p = zeroCopyPath(backend)
  t.is(now.bytes[p] - before.sendTo.bytes[p], bytes, `${what}: bytes by ${p}: ${JSON.stringify(now)}`)
  t.is(now.bytes.copy - before.sendTo.bytes.copy, 0, `${what}: nothing by copy: ${JSON.stringify(now)}`)
  t.is(now.fallbacks.noDescriptor + now.fallbacks.noAddon + now.fallbacks.noSplice, before.sendTo.fallbacks.noDescriptor + before.sendTo.fallbacks.noAddon + before.sendTo.fallbacks.noSplice, `${what}: no fallback: ${JSON.stringify(now)}`)
}

async function openLogIn(t: ExecutionContext, io: Io, dir: string, opts: Parameters<typeof openLog>[2]): Promise<PartitionLog> {
  const log = await openLog(io, dir, opts)
  t.teardown(() => log.close().catch(() => undefined))
  return log
}

/** Appends records of `valueBytes` until the log holds at least `total` bytes. */
async function fillLog(log: PartitionLog, total: number, valueBytes: number, seed = 1): Promise<void> {
  const value = Buffer.alloc(valueBytes)
  let written = 0
  const pending: Array<Promise<unknown>> = []
  for (let i = 0; written < total; i++) {
    value.writeUInt32BE((i * 2654435761 + seed) >>> 0, 0)
    for (let k = 4; k + 4 <= Math.min(valueBytes, 64); k += 4) value.writeUInt32BE((i + k * seed) >>> 0, k)
    pending.push(log.append([{ key: Buffer.from(`k${i}`), value: Buffer.from(value) }]))
    written += valueBytes + 80
    if (pending.length >= 16) await Promise.all(pending.splice(0))
  }
  await Promise.all(pending)
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return b
}

function codeOf(e: unknown): unknown {
  return (e as { code?: unknown } | null)?.code
}

for (const backend of backends) {
  test(`${backend}: file.sendTo small ranges (1 B, 4095 B, 1 MiB at odd positions): exact bytes and counts; past the end up to the end; at or past the end 0`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'sendto-small-')
    const file = path.join(dir, 'data')
    const size = 3 * MiB + 123
    const data = writeDataFile(file, size, 1)
    const f = await io.open(file)
    const pair = await tcpPair(t, { keep: true })
    const before = io.metrics()
    const cases: Array<[number, number, number]> = [
      [0, 1, 1],
      [7, 4095, 4095],
      [12_345, MiB, MiB],
      [size - 10, 100, 10],
      [size, 50, 0],
      [size + 5, 10, 0],
    ]
    let expected = 0
    for (const [pos, len, want] of cases) {
      t.is(await f.sendTo(pair.server, pos, len), want, `sendTo(${pos}, ${len})`)
      expected += want
    }
    await settleWithin(pair.rx.until(expected), 60_000, 'the receiver gets every byte')
    const want = Buffer.concat(cases.map(([pos, , n]) => data.subarray(pos, pos + n)))
    assertBytes(t, pair.rx.bytes(), want, 'received bytes')
    const m = io.metrics()
    t.is(m.ops.sendto.count - before.ops.sendto.count, cases.length, 'every sendTo counted as op sendto')
    t.is(m.ops.sendto.bytes - before.ops.sendto.bytes, expected, 'sendto bytes')
    assertZeroCopy(t, backend, io, before, expected, 'small ranges')
    t.false(pair.server.destroyed, 'the socket is still usable')
    await f.close()
  })

  test(`${backend}: file.sendTo of a 64 MiB file, whole: sha256 equal on both sides`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'sendto-large-')
    const file = path.join(dir, 'data')
    const size = 64 * MiB
    const data = writeDataFile(file, size, 2)
    const digest = sha256(data)
    const f = await io.open(file)
    const pair = await tcpPair(t)
    const before = io.metrics()
    t.is(await settleWithin(f.sendTo(pair.server, 0, size), 60_000, 'sendTo 64 MiB'), size)
    await settleWithin(pair.rx.until(size), 60_000, 'the receiver gets 64 MiB')
    t.is(pair.rx.count, size)
    t.is(pair.rx.digest(), digest, 'sha256')
    assertZeroCopy(t, backend, io, before, size, '64 MiB')
    await f.close()
  })

  test(`${backend}: log.sendTo of a multi-segment slice, with a prefix and without: prefix ‖ log.read(same); { bytes } counts the prefix`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'sendto-log-')
    const log = await openLogIn(t, io, dir, { segmentBytes: MiB, sync: 'none' })
    await fillLog(log, 5 * MiB, 100_000)
    const maxBytes = 3 * MiB + 500_000
    const s1 = await log.slice(0, { maxBytes })
    const body = await log.read(0, { maxBytes })
    t.is(s1.bytes, body.length)
    const segs = fs.readdirSync(dir).filter((n) => n.endsWith('.log'))
    t.true(segs.length >= 4, `segments: ${segs.join(' ')}`)
    t.true(body.length > 3 * MiB, 'the slice spans at least 4 segments (1 MiB each)')
    const pair = await tcpPair(t, { keep: true })
    const before = io.metrics()
    const prefix = int32(s1.bytes)
    t.deepEqual(await log.sendTo(pair.server, s1, { prefix }), { bytes: prefix.length + s1.bytes })
    const s2 = await log.slice(0, { maxBytes })
    t.deepEqual(await log.sendTo(pair.server, s2), { bytes: s2.bytes })
    const total = prefix.length + 2 * body.length
    await settleWithin(pair.rx.until(total), 60_000, 'the receiver gets both')
    assertBytes(t, pair.rx.bytes(), Buffer.concat([prefix, body, body]), 'prefix ‖ slice ‖ slice')
    const m = io.metrics()
    t.is(m.sendTo.prefixBytes - before.sendTo.prefixBytes, 4, 'prefix bytes counted on their own')
    assertZeroCopy(t, backend, io, before, 2 * body.length, 'log slices')
  })

  test(`${backend}: log.sendTo of a 64 MiB multi-segment slice arrives exactly`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'sendto-log64-')
    const log = await openLogIn(t, io, dir, { segmentBytes: 16 * MiB, sync: 'none' })
    await fillLog(log, 66 * MiB, MiB - 200, 3)
    const maxBytes = 64 * MiB
    const s = await log.slice(0, { maxBytes })
    const body = await log.read(0, { maxBytes })
    t.is(s.bytes, body.length)
    t.true(body.length > 60 * MiB, `slice of ${body.length} bytes`)
    const pair = await tcpPair(t)
    const before = io.metrics()
    const prefix = int32(s.bytes)
    t.deepEqual(await settleWithin(log.sendTo(pair.server, s, { prefix }), 60_000, 'log.sendTo 64 MiB'), { bytes: 4 + s.bytes })
    await settleWithin(pair.rx.until(4 + body.length), 60_000, 'the receiver gets it')
    t.is(pair.rx.count, 4 + body.length)
    t.is(pair.rx.digest(), sha256(Buffer.concat([prefix, body])), 'sha256 of prefix ‖ slice')
    assertZeroCopy(t, backend, io, before, body.length, '64 MiB slice')
  })

  test(`${backend}: 200 concurrent sendTo calls on one socket (file ranges and log slices with prefixes) arrive in call order, never interleaved`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'sendto-order-')
    const file = path.join(dir, 'data')
    const data = writeDataFile(file, 8 * MiB, 4)
    const f = await io.open(file)
    const log = await openLogIn(t, io, path.join(dir, 'log'), { segmentBytes: 256 * 1024, sync: 'none' })
    await fillLog(log, MiB, 20_000, 5)
    const pair = await tcpPair(t, { keep: true })
    const expected: Buffer[] = []
    const calls: Array<Promise<unknown>> = []
    let seed = 12345
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    const slices = []
    for (let i = 0; i < 40; i++) {
      const offset = rnd(Math.max(1, log.highWatermark - 1))
      const maxBytes = 1 + rnd(200_000)
      slices.push({ s: await log.slice(offset, { maxBytes }), body: await log.read(offset, { maxBytes }) })
    }
    let si = 0
    for (let i = 0; i < 200; i++) {
      if (i % 5 === 0 && si < slices.length) {
        const { s, body } = slices[si++]
        const prefix = Buffer.concat([Buffer.from('L'), int32(i), int32(body.length)])
        expected.push(prefix, body)
        calls.push(log.sendTo(pair.server, s, { prefix }))
      } else {
        const pos = rnd(data.length)
        const len = i % 17 === 0 ? 1 + rnd(2 * MiB) : 1 + rnd(70_000)
        const n = Math.min(len, data.length - pos)
        expected.push(data.subarray(pos, pos + n))
        calls.push(f.sendTo(pair.server, pos, len))
      }
    }
    const results = await settleWithin(Promise.allSettled(calls), 120_000, '200 sendTo calls')
    const failed = results.filter((r) => r.status === 'rejected')
    t.is(failed.length, 0, `rejections: ${failed.map((r) => String((r as PromiseRejectedResult).reason)).slice(0, 3).join('; ')}`)
    const want = Buffer.concat(expected)
    await settleWithin(pair.rx.until(want.length), 60_000, 'the receiver gets everything')
    assertBytes(t, pair.rx.bytes(), want, 'the stream is the ranges in call order')
    t.is(io.metrics().sendTo.inFlight, 0, 'no unit left in flight')
  })

  test(`${backend}: user writes before a sendTo arrive before it; writes made while a zero-copy unit runs arrive after it`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'sendto-writes-')
    const file = path.join(dir, 'data')
    const size = 16 * MiB
    const data = writeDataFile(file, size, 6)
    const f = await io.open(file)
    const pair = await tcpPair(t, { keep: true, paused: true })
    pair.server.write('BEFORE')
    const sending = f.sendTo(pair.server, 0, size)
    // Written synchronously after the call, before the unit's turn: also "before".
    pair.server.write('EARLY')
    const missing = missingZeroCopy(backend, io)
    if (missing === null) {
      // Wait until the unit corked the socket (it is running, the reader paused), then write.
      t.true(await eventually(() => pair.server.writableCorked > 0, 60_000), 'the unit corks the socket while it runs')
      pair.server.write('DURING')
    }
    pair.client.resume()
    t.is(await settleWithin(sending, 60_000, 'sendTo'), size)
    const tail = missing === null ? 'DURING' : ''
    const want = Buffer.concat([Buffer.from('BEFOREEARLY'), data, Buffer.from(tail)])
    await settleWithin(pair.rx.until(want.length), 60_000, 'the receiver gets everything')
    assertBytes(t, pair.rx.bytes(), want, 'BEFORE ‖ EARLY ‖ file ‖ DURING')
    // (AVA 6 assertions throw: the capability failure comes last, after the byte checks.)
    if (missing !== null) t.fail(`writes during a zero-copy unit: the zero-copy path cannot run here: ${missing}`)
  })

  test(`${backend}: a slow client (paused reads) gets all of 32 MiB; the transfer waited for the reader`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'sendto-slow-')
    const file = path.join(dir, 'data')
    const size = 32 * MiB
    const data = writeDataFile(file, size, 7)
    const f = await io.open(file)
    const pair = await tcpPair(t, { paused: true })
    const before = io.metrics()
    const sending = f.sendTo(pair.server, 0, size)
    setTimeout(() => pair.client.resume(), 300)
    t.is(await settleWithin(sending, 60_000, 'sendTo to a paused reader'), size)
    await settleWithin(pair.rx.until(size), 60_000, 'the receiver gets it')
    t.is(pair.rx.digest(), sha256(data))
    const missing = missingZeroCopy(backend, io)
    if (missing !== null) t.fail(`writableWaits: the zero-copy path cannot run here: ${missing}`)
    else t.true(io.metrics().sendTo.writableWaits > before.sendTo.writableWaits, `waited for the reader: ${JSON.stringify(io.metrics().sendTo)}`)
  })

  test(`${backend}: a client that disconnects mid-transfer: sendTo rejects with EPIPE/ECONNRESET (or the socket's error), the socket is destroyed, no descriptor still names it`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'sendto-disc-')
    const file = path.join(dir, 'data')
    const size = 64 * MiB
    writeDataFile(file, size, 8)
    const f = await io.open(file)
    const pair = await tcpPair(t)
    const inode = socketInode(pair.server)
    t.truthy(inode, 'the server socket has a descriptor')
    const pipesBefore = fdTargets().filter((x) => x.startsWith('pipe:')).length
    void pair.rx.until(MiB).then(() => pair.client.destroy())
    const err = await settleWithin(f.sendTo(pair.server, 0, size).then(() => null, (e: unknown) => e), 60_000, 'sendTo to a client that goes away')
    t.truthy(err, 'sendTo rejects')
    const e = err as { code?: string; syscall?: string; path?: string }
    const ok = ['EPIPE', 'ECONNRESET', 'ERR_SOCKET_CLOSED'].includes(String(e?.code))
    t.true(ok, `code: ${JSON.stringify({ code: e?.code, syscall: e?.syscall, message: (err as Error)?.message })}`)
    if (e?.code === 'EPIPE' || e?.code === 'ECONNRESET') t.regex(String(e.syscall), /^(splice|sendfile|write|read)$/, 'syscall (read: the socket\'s own error, from its read side)')
    t.true(pair.server.destroyed, 'the server socket is destroyed')
    t.false(fdTargets().includes(inode!), `no descriptor links to ${inode} (a dup would)`)
    const pipesAfter = fdTargets().filter((x) => x.startsWith('pipe:')).length
    t.true(pipesAfter <= pipesBefore + 2 * 16, `pipes: ${pipesBefore} → ${pipesAfter}`)
    // The Io is fine afterwards.
    const p2 = await tcpPair(t)
    t.is(await f.sendTo(p2.server, 0, 4096), 4096)
  })

  test(`${backend}: io.close() with transfers in flight to a paused reader: it settles, the running and the queued sendTo reject ERR_IO_CLOSED, the socket is destroyed`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'sendto-close-')
    const file = path.join(dir, 'data')
    const size = 32 * MiB
    writeDataFile(file, size, 9)
    const f = await io.open(file)
    const pair = await tcpPair(t, { paused: true })
    const first = f.sendTo(pair.server, 0, size).then(() => null, (e: unknown) => e)
    const queued = f.sendTo(pair.server, 0, 4096).then(() => null, (e: unknown) => e)
    // Let the first one start and fill the socket.
    await eventually(() => io.metrics().sendTo.bytes.splice + io.metrics().sendTo.bytes.sendfile + io.metrics().sendTo.bytes.copy > 0 || pair.server.writableLength > 0, 5_000)
    await settleWithin(io.close(), 10_000, 'io.close() with a transfer to a paused reader')
    const e1 = await settleWithin(first, 10_000, 'the running sendTo')
    const e2 = await settleWithin(queued, 10_000, 'the queued sendTo')
    t.is(codeOf(e1), 'ERR_IO_CLOSED', `running: ${String(e1)}`)
    t.is(codeOf(e2), 'ERR_IO_CLOSED', `queued: ${String(e2)}`)
    t.true(pair.server.destroyed, 'the socket (with a partial range on it) is destroyed')
    await assertLibError(t, 'sendTo after close', () => f.sendTo(pair.server, 0, 1), 'Error', 'ERR_IO_CLOSED')
  })

  test(`${backend}: log.close() with a log.sendTo in flight to a paused reader rejects it with the log's closed error and settles`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'sendto-logclose-')
    const log = await openLog(io, dir, { segmentBytes: 8 * MiB, sync: 'none' })
    await fillLog(log, 20 * MiB, 500_000, 10)
    const s = await log.slice(0, { maxBytes: 16 * MiB })
    const pair = await tcpPair(t, { paused: true })
    const sending = log.sendTo(pair.server, s, { prefix: int32(s.bytes) }).then(() => null, (e: unknown) => e)
    await eventually(() => pair.server.writableLength > 0 || io.metrics().sendTo.bytes.splice + io.metrics().sendTo.bytes.sendfile > 0, 5_000)
    await settleWithin(log.close(), 10_000, 'log.close() with a sendTo to a paused reader')
    const e = await settleWithin(sending, 10_000, 'the sendTo')
    // The log's closed error (ts/log/errors.ts logClosed: code ERR_IO_CLOSED, "the log is closed").
    t.is(codeOf(e), 'ERR_IO_CLOSED', String(e))
    t.regex(String((e as Error).message), /log is closed/)
    t.true(pair.server.destroyed, 'the socket is destroyed')
  })

  test(`${backend}: TLS sockets take the copy path (never the TCP fd under TLSWrap): 8 MiB and a prefixed slice arrive exactly`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'sendto-tls-')
    const file = path.join(dir, 'data')
    const size = 8 * MiB
    const data = writeDataFile(file, size, 11)
    const f = await io.open(file)
    const log = await openLogIn(t, io, path.join(dir, 'log'), { segmentBytes: MiB, sync: 'none' })
    await fillLog(log, 2 * MiB, 60_000, 11)
    const s = await log.slice(0, { maxBytes: 2 * MiB })
    const body = await log.read(0, { maxBytes: 2 * MiB })
    const pair = await tlsPair(t, { keep: true })
    const before = io.metrics()
    t.is(await settleWithin(f.sendTo(pair.server, 0, size), 60_000, 'sendTo over TLS'), size)
    const prefix = int32(s.bytes)
    t.deepEqual(await log.sendTo(pair.server, s, { prefix }), { bytes: 4 + s.bytes })
    const want = Buffer.concat([data, prefix, body])
    await settleWithin(pair.rx.until(want.length), 60_000, 'the TLS receiver gets everything')
    assertBytes(t, pair.rx.bytes(), want, 'decrypted bytes')
    const m = io.metrics().sendTo
    t.is(m.bytes.splice - before.sendTo.bytes.splice, 0, 'nothing spliced')
    t.is(m.bytes.sendfile - before.sendTo.bytes.sendfile, 0, 'nothing sendfile')
    t.is(m.bytes.copy - before.sendTo.bytes.copy, size + body.length, 'all by copy')
    t.true(m.fallbacks.noDescriptor - before.sendTo.fallbacks.noDescriptor >= 1, 'counted as no_descriptor')
  })

  test(`${backend}: an in-process PassThrough as the socket takes the copy path with the same bytes`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'sendto-pass-')
    const file = path.join(dir, 'data')
    const data = writeDataFile(file, 3 * MiB + 7, 12)
    const f = await io.open(file)
    const sink = new PassThrough()
    const got: Buffer[] = []
    sink.on('data', (d: Buffer) => got.push(d))
    const before = io.metrics()
    t.is(await f.sendTo(sink as never, 5, 3 * MiB), 3 * MiB)
    assertBytes(t, Buffer.concat(got), data.subarray(5, 5 + 3 * MiB), 'bytes through the PassThrough')
    const m = io.metrics().sendTo
    t.is(m.bytes.copy - before.sendTo.bytes.copy, 3 * MiB)
    t.true(m.fallbacks.noDescriptor > before.sendTo.fallbacks.noDescriptor)
  })

  test(`${backend}: retention while a slow log.sendTo of segment 0 runs: the segment is renamed .deleted, the bytes arrive intact, the files go after it settled`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'sendto-ret-')
    const log = await openLogIn(t, io, dir, { segmentBytes: 16 * MiB, retentionBytes: 0, sync: 'none' })
    await fillLog(log, 20 * MiB, 400_000, 13)
    const seg0 = fs.readdirSync(dir).filter((n) => n.endsWith('.log')).sort()[0]
    const s = await log.slice(0, { maxBytes: 15 * MiB })
    const body = await log.read(0, { maxBytes: 15 * MiB })
    const pair = await tcpPair(t, { paused: true })
    let settled = false
    const sending = log.sendTo(pair.server, s).finally(() => (settled = true))
    t.true((await log.applyRetention()) >= 1, 'retention deletes segment 0')
    if (!settled) t.true(fs.existsSync(path.join(dir, `${seg0}.deleted`)), 'renamed .deleted while the slice is being sent')
    pair.client.resume()
    t.deepEqual(await settleWithin(sending, 60_000, 'sendTo'), { bytes: body.length })
    await settleWithin(pair.rx.until(body.length), 60_000, 'the receiver gets it')
    t.is(pair.rx.digest(), sha256(body), 'bytes intact')
    t.true(await eventually(() => !fs.readdirSync(dir).some((n) => n.startsWith(seg0.replace('.log', '')))), `segment 0's files are gone: ${fs.readdirSync(dir).join(' ')}`)
  })

  test(`${backend}: validation and closed states: bad socket, bad position/length, closed file, destroyed socket; length 0 is 0`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'sendto-val-')
    const file = path.join(dir, 'data')
    writeDataFile(file, 10_000, 14)
    const f: AsyncFile = await io.open(file)
    const pair = await tcpPair(t)
    for (const bad of [null, undefined, {}, 'socket', 42, { write() {} }]) {
      await assertLibError(t, `sendTo(${String(bad)})`, () => f.sendTo(bad as never, 0, 1), 'TypeError', 'ERR_INVALID_ARG_TYPE')
    }
    for (const [pos, len] of [[-1, 1], [1.5, 1], [0, -1], [0, 0.5], [Number.NaN, 1], [0, Number.MAX_SAFE_INTEGER + 1], [Number.MAX_SAFE_INTEGER, 10]]) {
      const typeOk = typeof pos === 'number' && typeof len === 'number'
      t.true(typeOk)
      await assertLibError(t, `sendTo(s, ${pos}, ${len})`, () => f.sendTo(pair.server, pos, len), 'RangeError', 'ERR_OUT_OF_RANGE')
    }
    await assertLibError(t, 'sendTo(s, "0", 1)', () => f.sendTo(pair.server, '0' as never, 1), 'TypeError', 'ERR_INVALID_ARG_TYPE')
    t.is(await f.sendTo(pair.server, 0, 0), 0)
    const gone = await tcpPair(t)
    gone.server.destroy()
    await assertLibError(t, 'sendTo a destroyed socket', () => f.sendTo(gone.server, 0, 10), 'Error', 'ERR_SOCKET_CLOSED')
    t.is(pair.rx.count, 0, 'nothing was sent by the refused calls')
    await f.close()
    await assertLibError(t, 'sendTo on a closed file', () => f.sendTo(pair.server, 0, 1), 'Error', 'ERR_IO_CLOSED')
    t.false(pair.server.destroyed, 'refusals leave the socket alone')
  })

  test(`${backend}: prometheus() has the sendto families and they agree with metrics().sendTo`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'sendto-prom-')
    const file = path.join(dir, 'data')
    writeDataFile(file, 2 * MiB, 15)
    const f = await io.open(file)
    const pair = await tcpPair(t)
    await f.sendTo(pair.server, 0, 2 * MiB)
    const tl = await tlsPair(t)
    await f.sendTo(tl.server, 0, 1000)
    const m = io.metrics().sendTo
    const fam = parseExposition(io.prometheus())
    const labels = { backend: io.backend }
    for (const p of ['splice', 'sendfile', 'copy'] as const) t.is(valueOf(fam, 'streamline_io_sendto_bytes_total', { ...labels, path: p }), m.bytes[p], `path ${p}`)
    t.is(valueOf(fam, 'streamline_io_sendto_prefix_bytes_total', labels), m.prefixBytes)
    const reasons = { no_descriptor: m.fallbacks.noDescriptor, no_addon: m.fallbacks.noAddon, no_splice: m.fallbacks.noSplice, ring_failed: m.fallbacks.ringFailed }
    for (const [r, n] of Object.entries(reasons)) t.is(valueOf(fam, 'streamline_io_sendto_fallbacks_total', { ...labels, reason: r }), n, `reason ${r}`)
    t.is(valueOf(fam, 'streamline_io_sendto_writable_waits_total', labels), m.writableWaits)
    t.is(valueOf(fam, 'streamline_io_sendto_in_flight', labels), m.inFlight)
    t.is(valueOf(fam, 'streamline_io_ops_total', { ...labels, op: 'sendto' }), 2)
    t.is(m.bytes.splice + m.bytes.sendfile + m.bytes.copy, 2 * MiB + 1000)
    t.true(m.fallbacks.noDescriptor >= 1, 'the TLS send is a no_descriptor fallback')
    const missing = missingZeroCopy(backend, io)
    if (missing !== null) t.fail(`prometheus: the zero-copy path cannot run here: ${missing}`)
    t.is(m.bytes.copy, 1000, 'only the TLS send went by copy')
    t.is(m.bytes[zeroCopyPath(backend)], 2 * MiB, 'the TCP send went zero-copy')
  })

  test(`${backend}: in a process of its own, a disconnect mid-transfer and io.close() with transfers in flight give back every pipe, socket and anon_inode descriptor`, async (t) => {
    const r = await runNode([fixture('sendto-leak-child'), JSON.stringify({ mode: 'leak', backend, dir: tmpDir(t, 'sendto-leak-') })], { env: childEnv() })
    const out = lastJson<{ before: string[]; after: string[]; notes: string[]; missing: string | null }>(r)
    t.deepEqual(out.after, out.before, `descriptors before openIo and after io.close(): ${summary(r)}`)
    t.log(out.notes.join('; '))
  })
}

test('no addon (STREAMLINE_IO_TEST_NO_ADDON=1): sendTo still gives exact bytes, counted as no_addon copies', async (t) => {
  const r = await runNode([fixture('sendto-leak-child'), JSON.stringify({ mode: 'noAddon', backend: 'standard', dir: tmpDir(t, 'sendto-noaddon-') })], { env: cleanEnv({ STREAMLINE_IO_TEST_NO_ADDON: '1' }) })
  const out = lastJson<{ backend: string; exact: boolean; sent: number; size: number; sendTo: { bytes: Record<string, number>; fallbacks: Record<string, number> } }>(r)
  t.is(out.backend, 'standard', summary(r))
  t.true(out.exact, `the bytes arrived exactly: ${summary(r)}`)
  t.is(out.sent, out.size)
  t.true(out.sendTo.fallbacks.noAddon >= 1, JSON.stringify(out.sendTo))
  t.is(out.sendTo.bytes.copy, out.size)
})

test('io_uring: a ring that fails mid-transfer (STREAMLINE_IO_TEST_RING_FAIL_AFTER): 64 MiB arrive exactly once, the rest on sendfile counted ring_failed', async (t) => {
  const r = await runNode([fixture('sendto-leak-child'), JSON.stringify({ mode: 'ringFail', backend: 'io_uring', dir: tmpDir(t, 'sendto-ringfail-') })], { env: childEnv({ STREAMLINE_IO_TEST_RING_FAIL_AFTER: '2' }) })
  const out = lastJson<{ backend: string; exact: boolean; received: number; size: number; missing: string | null; sendTo: { bytes: Record<string, number>; fallbacks: Record<string, number> } }>(r)
  t.is(out.backend, 'io_uring', summary(r))
  t.is(out.received, out.size, `every byte exactly once: ${summary(r)}`)
  t.true(out.exact, 'sha256 equal')
  if (out.missing !== null) t.fail(`ring failure during a splice transfer: the zero-copy path cannot run here: ${out.missing}`)
  else t.true(out.sendTo.fallbacks.ringFailed >= 1, JSON.stringify(out.sendTo))
  t.true(out.sendTo.bytes.splice > 0 && out.sendTo.bytes.sendfile > 0, `part spliced before the failure, the rest by sendfile: ${JSON.stringify(out.sendTo)}`)
  t.is(out.sendTo.bytes.splice + out.sendTo.bytes.sendfile, out.size, 'no byte counted twice')
})

// A check of the reader: fsRead is the witness used above for ranges; keep it honest.
test('helper: writeDataFile writes what it returns', (t) => {
  const dir = tmpDir(t, 'sendto-helper-')
  const file = path.join(dir, 'x')
  const b = writeDataFile(file, 3 * MiB + 5, 99)
  t.true(fsRead(file, 0, b.length).equals(b))
  t.not(sha256(b.subarray(0, MiB)), sha256(b.subarray(MiB, 2 * MiB)), 'MiB blocks differ')
})

// ts/backends/sendfile.ts's loop against a scripted stand-in for the addon's helpers:
// the dup happens synchronously at the call, every syscall uses the dup, EAGAIN waits on
// a poll of the dup, a cancel stops the wait, the dup is closed after the last task, and
// errors are node:fs-shaped. (The real helpers run in every standard-backend test above.)
function fakeHelpers(script: Array<[number, number]>, opts: { pollFires?: boolean; dupResult?: number } = {}) {
  const log: string[] = []
  let pending = 0
  const helpers = {
    dupFd(fd: number): number {
      log.push(`dup ${fd}`)
      return opts.dupResult ?? 1000 + fd
    },
    closeFd(fd: number): number {
      log.push(`close ${fd}${pending > 0 ? ' (while a task runs!)' : ''}`)
      return 0
    },
    sendfile(out: number, inFd: number, offset: number, len: number): Promise<Float64Array> {
      log.push(`sendfile ${out} ${inFd} ${offset} ${len}`)
      const r = script.shift() ?? [0, 0]
      pending++
      return new Promise((resolve) => setImmediate(() => {
        pending--
        resolve(Float64Array.from(r))
      }))
    },
    pollWritable(fd: number, cb: () => void): never {
      log.push(`poll ${fd}`)
      const h = { closed: false }
      if (opts.pollFires !== false) setImmediate(() => !h.closed && cb())
      return h as never
    },
    pollClose(h: object): void {
      log.push('pollClose')
      ;(h as { closed: boolean }).closed = true
    },
  }
  return { helpers, log }
}

test('sendfileRange: dup at the call, 16 MiB tasks, EAGAIN → poll on the dup, end of file, the dup closed after the last task', async (t) => {
  const { sendfileRange, SENDFILE_TASK_BYTES } = await import('../ts/backends/sendfile')
  const T = SENDFILE_TASK_BYTES
  const { helpers, log } = fakeHelpers([[T, 0], [MiB, 11], [T - MiB - 5, 0]])
  const counters = { writableWaits: 0 }
  const control = { cancel: null as (() => void) | null }
  const p = sendfileRange(helpers, { fd: 7, path: '/seg' }, 21, 100, 3 * T, control, counters)
  t.is(log[0], 'dup 21', 'dupped synchronously, at the call')
  t.is(typeof control.cancel, 'function', 'cancellable while it runs')
  t.is(await p, T + MiB + T - MiB - 5, 'fewer than asked with errno 0: end of file')
  t.deepEqual(log, ['dup 21', `sendfile 1021 7 100 ${T}`, `sendfile 1021 7 ${100 + T} ${T}`, 'poll 1021', `sendfile 1021 7 ${100 + T + MiB} ${T}`, 'close 1021'])
  t.is(counters.writableWaits, 1)
  t.is(control.cancel, null)
})

test('sendfileRange: an errno rejects node:fs-shaped (syscall sendfile, the file\'s path); a failed dup rejects (syscall dup); the dup is closed either way', async (t) => {
  const { sendfileRange } = await import('../ts/backends/sendfile')
  const a = fakeHelpers([[5, 32]])
  const e = await sendfileRange(a.helpers, { fd: 7, path: '/seg' }, 21, 0, 100, { cancel: null }, { writableWaits: 0 }).catch((x: unknown) => x)
  t.like(e as object, { code: 'EPIPE', errno: -32, syscall: 'sendfile', path: '/seg' })
  t.is(a.log[a.log.length - 1], 'close 1021')
  const b = fakeHelpers([], { dupResult: -24 })
  const e2 = await sendfileRange(b.helpers, { fd: 7, path: '/seg' }, 21, 0, 100, { cancel: null }, { writableWaits: 0 }).catch((x: unknown) => x)
  t.like(e2 as object, { code: 'EMFILE', syscall: 'dup' })
  t.deepEqual(b.log, ['dup 21'], 'nothing else ran, nothing to close')
})

test('sendfileRange: cancel while waiting for the reader stops the poll and resolves the bytes sent so far; cancel between tasks stops after the running one', async (t) => {
  const { sendfileRange } = await import('../ts/backends/sendfile')
  const a = fakeHelpers([[300, 11]], { pollFires: false })
  const control = { cancel: null as (() => void) | null }
  const p = sendfileRange(a.helpers, { fd: 7, path: '/seg' }, 21, 0, 1000, control, { writableWaits: 0 })
  await eventually(() => a.log.includes('poll 1021'), 10_000)
  control.cancel!()
  t.is(await p, 300)
  t.deepEqual(a.log.slice(-2), ['pollClose', 'close 1021'])
  const b = fakeHelpers([[100, 0], [100, 0]])
  const c2 = { cancel: null as (() => void) | null }
  const q = sendfileRange(b.helpers, { fd: 7, path: '/seg' }, 21, 0, 100, c2, { writableWaits: 0 })
  c2.cancel!()
  t.is(await q, 100, 'the running task completes; no further task starts')
  t.deepEqual(b.log, ['dup 21', 'sendfile 1021 7 0 100', 'close 1021'])
})

for (const backend of backends) {
  test(`${backend}: O_DIRECT files: aligned ranges arrive exactly, zero-copy to TCP and by copy (aligned io.pool windows) to TLS; unaligned ones are ERR_IO_ALIGNMENT`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'sendto-direct-')
    const { offset: align } = expectedDioAlignment(dir)
    const file = path.join(dir, 'data')
    const size = 4 * MiB
    const data = writeDataFile(file, size, 16)
    const f = await io.open(file, { direct: true })
    await assertLibError(t, 'unaligned position', () => f.sendTo(tcpDummy, 1, align), 'RangeError', 'ERR_IO_ALIGNMENT')
    await assertLibError(t, 'unaligned length', () => f.sendTo(tcpDummy, 0, align + 1), 'RangeError', 'ERR_IO_ALIGNMENT')
    const tcp = await tcpPair(t, { keep: true })
    t.is(await f.sendTo(tcp.server, align, 2 * MiB), 2 * MiB)
    const tl = await tlsPair(t, { keep: true })
    const before = io.metrics().sendTo
    t.is(await f.sendTo(tl.server, 2 * align, 3 * MiB), 3 * MiB)
    t.is(io.metrics().sendTo.bytes.copy - before.bytes.copy, 3 * MiB, 'the TLS send went by copy')
    await settleWithin(tcp.rx.until(2 * MiB), 60_000, 'tcp receiver')
    await settleWithin(tl.rx.until(3 * MiB), 60_000, 'tls receiver')
    assertBytes(t, tcp.rx.bytes(), data.subarray(align, align + 2 * MiB), 'TCP bytes')
    assertBytes(t, tl.rx.bytes(), data.subarray(2 * align, 2 * align + 3 * MiB), 'TLS bytes')
    t.is(io.pool.stats().inUse, 0, 'every copy window went back to io.pool')
  })
}

/** A stand-in socket for checks that refuse before touching it. */
const tcpDummy = { write() {}, cork() {}, uncork() {}, once() {} } as never

for (const backend of backends) {
  test(`${backend}: the sender destroys its socket mid-transfer (paused reader): sendTo rejects ERR_SOCKET_CLOSED, the transfer's dup is closed, the next sendTo on it is refused`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'sendto-destroy-')
    const file = path.join(dir, 'data')
    writeDataFile(file, 32 * MiB, 17)
    const f = await io.open(file)
    const pair = await tcpPair(t, { paused: true })
    const inode = socketInode(pair.server)
    const sending = f.sendTo(pair.server, 0, 32 * MiB).then(() => null, (e: unknown) => e)
    t.true(await eventually(() => io.metrics().sendTo.inFlight > 0 && (pair.server.writableCorked > 0 || pair.server.writableLength > 0), 10_000), 'the transfer is running')
    pair.server.destroy()
    const e = await settleWithin(sending, 10_000, 'sendTo after destroy()')
    t.is(codeOf(e), 'ERR_SOCKET_CLOSED', String(e))
    t.false(fdTargets().includes(inode!), `no descriptor links to ${inode} any more`)
    await assertLibError(t, 'sendTo on the destroyed socket', () => f.sendTo(pair.server, 0, 10), 'Error', 'ERR_SOCKET_CLOSED')
    t.is(io.metrics().sendTo.inFlight, 0)
  })
}
