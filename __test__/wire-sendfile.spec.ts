// The addon's wire for zero-copy sends, on both engines (no TypeScript backend in
// between): submit kinds sendFile (13) and cancel (14) over a real loopback TCP
// connection, engineInfo().spliceOp, sendStats(), and the refusals (a socket fd that is
// not open → the submit throws EBADF/'dup'; links on or to either kind → RangeError).

import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'

import { loadAddon, type EngineHandle, type EngineInfo, type EngineOptions, type NativeAddon, type SendStats } from '../ts/native'

type WireAddon = NativeAddon & {
  engineInfo(engine: EngineHandle): EngineInfo | null
  sendStats(engine: EngineHandle): SendStats | null
}

function addon(): WireAddon {
  const load = loadAddon()
  if (load.addon === null) throw new Error(`the native addon is missing: ${load.reason}`)
  const a = load.addon as Partial<WireAddon>
  if (typeof a.sendStats !== 'function' || typeof a.engineInfo !== 'function') throw new Error('the addon lacks sendStats() (stale build? npm run build:native)')
  return load.addon as WireAddon
}

const ECANCELED = 125
const ENOENT = 2
const MIB = 1 << 20

const base: EngineOptions = { sqDepth: 64, cqDepth: 0, queueCapacity: 64, fixedFileSlots: 16, fixedBufferSlots: 0, testSetupErrno: 0, testFailAfter: 0 }

/** An engine whose results arrive as promises by id. */
function engine(a: WireAddon, mode: 'inline' | 'thread') {
  const waiting = new Map<number, (r: number) => void>()
  const early = new Map<number, number>()
  const deliver = (pairs: Float64Array | undefined): void => {
    if (pairs === undefined) return
    for (let i = 0; i < pairs.length; i += 2) {
      const [id, r] = [pairs[i], pairs[i + 1]]
      const w = waiting.get(id)
      if (w === undefined) early.set(id, r)
      else {
        waiting.delete(id)
        w(r)
      }
    }
  }
  const handle = a.createEngine({ ...base, mode }, deliver)
  return {
    handle,
    /** Submits one descriptor per op; resolves each op's result. */
    submit(...ops: number[][]): Promise<number>[] {
      const ps = ops.map(
        (op) =>
          new Promise<number>((resolve) => {
            waiting.set(op[0], resolve)
          }),
      )
      deliver(
        a.submit(
          handle,
          Float64Array.from(ops.flat()),
          ops.map(() => undefined),
        ),
      )
      for (const [id, r] of early) {
        const w = waiting.get(id)
        if (w !== undefined) {
          early.delete(id)
          waiting.delete(id)
          w(r)
        }
      }
      return ps
    },
  }
}

interface Pair {
  server: net.Socket
  client: net.Socket
  /** Everything the client received, once the server side ended. */
  received: Promise<Buffer>
  fd: number
}

async function tcpPair(): Promise<Pair> {
  const listener = net.createServer()
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  const { port } = listener.address() as net.AddressInfo
  const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve))
  const client = net.connect(port, '127.0.0.1')
  const server = await accepted
  listener.close()
  await new Promise<void>((resolve) => (client.connecting ? client.once('connect', () => resolve()) : resolve()))
  const chunks: Buffer[] = []
  client.on('data', (c: Buffer) => chunks.push(c))
  client.on('error', () => undefined)
  server.on('error', () => undefined)
  const received = new Promise<Buffer>((resolve) => client.once('close', () => resolve(Buffer.concat(chunks))))
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd
  return { server, client, received, fd }
}

let dir = ''
let file = ''
let data = Buffer.alloc(0)
test.before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'streamline-wire-sendfile-'))
  file = path.join(dir, 'src')
  data = crypto.randomBytes(64 * MIB + 4099)
  fs.writeFileSync(file, data)
})
test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }))

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

for (const mode of ['inline', 'thread'] as const) {
  test.serial(`${mode}: engineInfo().spliceOp is SPLICE && POLL_ADD && ASYNC_CANCEL of the probe`, (t) => {
    const a = addon()
    const probe = a.probe(8, 0)
    if (!probe.ok) return t.pass(`io_uring unavailable here (errno ${probe.errno})`)
    const e = a.createEngine({ ...base, mode }, () => undefined)
    const info = a.engineInfo(e)
    const want = ['splice', 'poll_add', 'async_cancel'].every((op) => probe.opcodes.includes(op))
    t.is(info?.spliceOp, want)
    a.destroy(e)
  })

  test.serial(`${mode}: sendFile sends exact bytes; sendStats counts pipes; a paused reader makes it poll; null once destroyed`, async (t) => {
    const a = addon()
    if (!a.probe(8, 0).ok) return t.pass('io_uring unavailable here')
    const e = engine(a, mode)
    const fd = fs.openSync(file, 'r')
    try {
      t.deepEqual(a.sendStats(e.handle), { polls: 0, pipesOpen: 0, pipeBytes: 0 })
      // Small and odd.
      const p = await tcpPair()
      const [off, len] = [1001, 2 * MIB + 7]
      const [r] = e.submit([1, 13, fd, off, len, p.fd, 0])
      t.is(await r, len)
      p.server.end()
      t.true((await p.received).equals(data.subarray(off, off + len)), 'the client got exactly the range')
      const s = a.sendStats(e.handle)
      t.truthy(s)
      t.true(s !== null && s.pipesOpen >= 1 && s.pipeBytes > 0 && Number.isInteger(s.polls), JSON.stringify(s))
      // Past the end of the file: up to the end.
      const q = await tcpPair()
      const [r2] = e.submit([2, 13, fd, data.length - 10, 100, q.fd, 0])
      t.is(await r2, 10)
      q.server.end()
      t.true((await q.received).equals(data.subarray(data.length - 10)))
      // A paused reader: the socket fills, the engine waits with POLL_ADD.
      const polls = s?.polls ?? 0
      const z = await tcpPair()
      z.client.pause()
      const big = 16 * MIB
      const [r3] = e.submit([3, 13, fd, 3, big, z.fd, 0])
      await sleep(300)
      z.client.resume()
      t.is(await r3, big)
      z.server.end()
      t.true((await z.received).equals(data.subarray(3, 3 + big)))
      t.true((a.sendStats(e.handle)?.polls ?? 0) > polls, 'POLL_ADD counted')
    } finally {
      a.destroy(e.handle)
      fs.closeSync(fd)
    }
    t.is(a.sendStats(e.handle), null)
  })

  test.serial(`${mode}: cancel ends a transfer to a reader that never reads (0, then the bytes sent or -ECANCELED); unknown id → -ENOENT`, async (t) => {
    const a = addon()
    if (!a.probe(8, 0).ok) return t.pass('io_uring unavailable here')
    const e = engine(a, mode)
    const fd = fs.openSync(file, 'r')
    const p = await tcpPair()
    p.client.pause()
    try {
      const len = 64 * MIB
      const [sent] = e.submit([10, 13, fd, 0, len, p.fd, 0])
      await sleep(200)
      const [c, none] = e.submit([11, 14, 0, 10, 0, 0, 0], [12, 14, 0, 9999, 0, 0, 0])
      t.is(await c, 0)
      t.is(await none, -ENOENT)
      const r = await sent
      t.true(r === -ECANCELED || (r > 0 && r < len), `result ${r}`)
      const [again] = e.submit([13, 14, 0, 10, 0, 0, 0])
      t.is(await again, -ENOENT, 'the transfer is gone')
    } finally {
      p.server.destroy()
      p.client.destroy()
      a.destroy(e.handle)
      fs.closeSync(fd)
    }
  })

  test.serial(`${mode}: destroy() with a transfer waiting for a reader returns (the engine cancels it)`, async (t) => {
    const a = addon()
    if (!a.probe(8, 0).ok) return t.pass('io_uring unavailable here')
    const e = engine(a, mode)
    const fd = fs.openSync(file, 'r')
    const p = await tcpPair()
    p.client.pause()
    e.submit([20, 13, fd, 0, 64 * MIB, p.fd, 0])
    await sleep(200)
    a.destroy(e.handle) // blocks until the (cancelled) transfer completed
    t.is(a.sendStats(e.handle), null)
    p.server.destroy()
    p.client.destroy()
    fs.closeSync(fd)
  })

  test.serial(`${mode}: a socket fd that is not open throws EBADF (syscall dup) and accepts nothing; links on or to sendFile/cancel are RangeErrors`, async (t) => {
    const a = addon()
    if (!a.probe(8, 0).ok) return t.pass('io_uring unavailable here')
    const e = engine(a, mode)
    try {
      // fd 0x3fffffff is far above any open descriptor here.
      const bad = 0x3fff_ffff
      const err = t.throws(() => e.submit([30, 10, 0, 0, 0, 0, 0], [31, 13, 0, 0, 10, bad, 0]))
      t.like(err as unknown as Record<string, unknown>, { code: 'EBADF', errno: 9, syscall: 'dup' })
      // Nothing of the batch was accepted: the same ids go through now.
      const [nop, cancel] = await Promise.all(e.submit([30, 10, 0, 0, 0, 0, 0], [31, 14, 0, 424242, 0, 0, 0]))
      t.is(nop, 0)
      t.is(cancel, -ENOENT)
      for (const desc of [
        [[40, 13, 0, 0, 10, 1, 1]],
        [[41, 14, 0, 1, 0, 0, 1]],
        [
          [42, 10, 0, 0, 0, 0, 1],
          [43, 13, 0, 0, 10, 1, 0],
        ],
        [
          [44, 10, 0, 0, 0, 0, 1],
          [45, 14, 0, 1, 0, 0, 0],
        ],
      ]) {
        t.throws(() => e.submit(...desc), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE', message: /cannot be linked/ } as never, JSON.stringify(desc))
      }
      for (const desc of [
        [50, 13, 0, 0, 10, -1, 0],
        [51, 13, 0, 0, 10, Number.NaN, 0],
        [52, 13, 0, -1, 10, 1, 0],
        [53, 14, 0, -1, 0, 0, 0],
        [54, 14, 0, 2 ** 53, 0, 0, 0],
      ]) {
        t.throws(() => e.submit(desc), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' } as never, JSON.stringify(desc))
      }
    } finally {
      a.destroy(e.handle)
    }
  })
}
