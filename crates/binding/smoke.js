'use strict'
// Dev smoke test of the native addon (not part of the ava suite).
//   npm run build:native && node --expose-gc crates/binding/smoke.js
// Exercises the ARCHITECTURE.md §2 surface directly: a file round trip, batches, GC
// pressure with buffers in flight, hostile arguments, several worker threads at once,
// idle exit without destroy(), process.exit() with operations in flight, and an
// onComplete that throws. Each scenario that must end the process runs in a child.
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { Worker, isMainThread, workerData } = require('node:worker_threads')

const native = require(path.join(__dirname, '..', '..', 'streamline-io.linux-x64-gnu.node'))
const { O_RDWR, O_CREAT, O_TRUNC, O_RDONLY } = fs.constants
const K = { read: 1, write: 2, fsync: 3, fdatasync: 4, fallocate: 5, ftruncate: 6, size: 7, open: 8, close: 9, nop: 10 }
const gc = typeof globalThis.gc === 'function' ? globalThis.gc : () => {}
// SMOKE_MODE=inline|thread picks the engine mode (default thread).
const OPTS = { sqDepth: 64, cqDepth: 0, queueCapacity: 256, fixedFileSlots: 64, testSetupErrno: 0, testFailAfter: 0, mode: process.env.SMOKE_MODE || 'thread' }

/** A tiny promise layer like ts/backends/native.ts: one submit per call of `batch`. */
function openEngine (opts = {}) {
  const pending = new Map()
  let nextId = 1
  let deliveries = 0
  const complete = (results) => {
    assert.ok(results instanceof Float64Array && results.length % 2 === 0)
    deliveries++
    for (let i = 0; i < results.length; i += 2) {
      const resolve = pending.get(results[i])
      assert.ok(resolve, `completion for unknown id ${results[i]}`)
      pending.delete(results[i])
      resolve(results[i + 1])
    }
  }
  const engine = native.createEngine({ ...OPTS, ...opts }, complete)
  /** ops: [kind, fd, offset, len, arg, extra] each; resolves to the results. */
  function batch (ops) {
    const desc = new Float64Array(ops.length * 7)
    const extras = []
    const promises = ops.map(([kind, fd, offset, len, arg, extra, flags = 0], i) => {
      const id = nextId++
      desc.set([id, kind, fd, offset, len, arg, flags], i * 7)
      extras.push(extra)
      return new Promise((resolve) => pending.set(id, resolve))
    })
    const done = native.submit(engine, desc, extras)
    if (done !== undefined) complete(done)
    return Promise.all(promises)
  }
  const op = (...a) => batch([a]).then((r) => r[0])
  return { engine, batch, op, pending, deliveries: () => deliveries, destroy: () => native.destroy(engine) }
}

async function roundTrip (dir, tag) {
  const io = openEngine()
  const file = path.join(dir, `rt-${tag}.dat`)
  const fd = await io.op(K.open, 0, 0, 0o644, O_RDWR | O_CREAT | O_TRUNC, file)
  assert.ok(fd >= 0, `open: ${fd}`)
  const data = Buffer.alloc(1 << 20)
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + tag.length) & 0xff
  assert.equal(await io.op(K.write, fd, 0, data.length, 0, data), data.length)
  assert.equal(await io.op(K.fdatasync, fd, 0, 0, 0), 0)
  const back = Buffer.alloc(data.length)
  assert.equal(await io.op(K.read, fd, 0, back.length, 0, back), back.length)
  assert.ok(back.equals(data), 'read back what was written')
  assert.equal(await io.op(K.size, fd, 0, 0, 0), data.length)
  // A subarray view at an offset: the pointer must include byteOffset.
  const view = Buffer.alloc(100).subarray(10, 20)
  assert.equal(await io.op(K.read, fd, 4096, view.length, 0, view), 10)
  assert.ok(view.equals(data.subarray(4096, 4106)))
  // Reads past EOF stop short; len < buffer length transfers len bytes.
  const tail = Buffer.alloc(64)
  assert.equal(await io.op(K.read, fd, data.length - 16, 64, 0, tail), 16)
  assert.equal(await io.op(K.read, fd, 0, 8, 0, tail), 8)
  assert.equal(await io.op(K.fallocate, fd, 0, 2 << 20, 0), 0)
  assert.equal(await io.op(K.size, fd, 0, 0, 0), 2 << 20)
  assert.equal(await io.op(K.ftruncate, fd, 0, 12345, 0), 0)
  assert.equal(await io.op(K.size, fd, 0, 0, 0), 12345)
  assert.equal(await io.op(K.fsync, fd, 0, 0, 0), 0)
  // One submit, many operations, one or a few deliveries.
  const before = io.deliveries()
  const many = await io.batch(Array.from({ length: 64 }, (_, i) => [K.read, fd, i * 128, 128, 0, Buffer.alloc(128)]))
  assert.deepEqual(many, Array(64).fill(128))
  assert.ok(io.deliveries() - before <= 64)
  assert.equal(await io.op(K.close, fd, 0, 0, 0), 0)
  // Errors arrive as -errno.
  assert.equal(await io.op(K.open, 0, 0, 0, O_RDONLY, path.join(dir, 'missing')), -os.constants.errno.ENOENT)
  assert.equal(await io.op(K.open, 0, 0, 0, O_RDONLY, dir), -os.constants.errno.EISDIR)
  assert.equal(await io.op(K.fsync, 999999, 0, 0, 0), -os.constants.errno.EBADF)
  assert.equal(await io.op(K.nop, 0, 0, 0, 0), 0)
  assert.equal(io.pending.size, 0)
  io.destroy()
  io.destroy() // idempotent
}

/** Buffers whose only reference is the addon's: GC must not free them in flight. */
async function gcPressure (dir) {
  const io = openEngine()
  const file = path.join(dir, 'gc.dat')
  const fd = await io.op(K.open, 0, 0, 0o644, O_RDWR | O_CREAT | O_TRUNC, file)
  const N = 64
  const SIZE = 64 * 1024
  const writes = []
  for (let i = 0; i < N; i++) {
    // Not kept anywhere in JavaScript once submitted.
    writes.push(io.op(K.write, fd, i * SIZE, SIZE, 0, Buffer.alloc(SIZE, i & 0xff)))
    if (i % 8 === 0) gc()
  }
  for (let j = 0; j < 5; j++) { gc(); Buffer.alloc(SIZE * 16, 0xee) }
  assert.deepEqual(await Promise.all(writes), Array(N).fill(SIZE))
  const reads = []
  for (let i = 0; i < N; i++) {
    const buf = Buffer.alloc(SIZE)
    reads.push(io.op(K.read, fd, i * SIZE, SIZE, 0, buf).then((n) => { assert.equal(n, SIZE); return buf }))
    gc()
  }
  const bufs = await Promise.all(reads)
  bufs.forEach((b, i) => assert.ok(b.every((x) => x === (i & 0xff)), `block ${i} intact`))
  // Reads into buffers nobody keeps, with GC running: must not crash.
  const lost = []
  for (let i = 0; i < 200; i++) {
    lost.push(io.op(K.read, fd, (i % N) * SIZE, SIZE, 0, Buffer.allocUnsafe(SIZE)))
    if (i % 10 === 0) gc()
  }
  await Promise.all(lost)
  await io.op(K.close, fd, 0, 0, 0)
  io.destroy()
}

function throwsLike (fn, ctor, code, what) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof ctor, `${what}: ${e} is not a ${ctor.name}`)
    assert.equal(e.code, code, `${what}: code ${e.code} (${e.message})`)
    return true
  }, what)
}

async function hostile (dir) {
  const io = openEngine({ queueCapacity: 4 })
  const e = io.engine
  const d = (...ops) => new Float64Array(ops.flatMap((o) => [...o, 0]))
  const TE = TypeError; const RE = RangeError
  throwsLike(() => native.submit({}, d([1, 10, 0, 0, 0, 0]), []), TE, 'ERR_INVALID_ARG_TYPE', 'engine {}')
  throwsLike(() => native.submit(undefined, d(), []), TE, 'ERR_INVALID_ARG_TYPE', 'engine undefined')
  throwsLike(() => native.destroy(42), TE, 'ERR_INVALID_ARG_TYPE', 'destroy(42)')
  throwsLike(() => native.submit(e, [1, 10, 0, 0, 0, 0], []), TE, 'ERR_INVALID_ARG_TYPE', 'desc array')
  throwsLike(() => native.submit(e, new Float32Array(7), []), TE, 'ERR_INVALID_ARG_TYPE', 'desc f32')
  throwsLike(() => native.submit(e, new Float64Array(5), []), RE, 'ERR_OUT_OF_RANGE', 'desc length 5')
  throwsLike(() => native.submit(e, d([1, 10, 0, 0, 0, 0]), 'x'), TE, 'ERR_INVALID_ARG_TYPE', 'extras string')
  throwsLike(() => native.submit(e, d([1, 1, 0, 0, 8, 0]), []), TE, 'ERR_INVALID_ARG_TYPE', 'read without buffer')
  throwsLike(() => native.submit(e, d([1, 1, 0, 0, 8, 0]), [new Float64Array(8)]), TE, 'ERR_INVALID_ARG_TYPE', 'read f64 buffer')
  throwsLike(() => native.submit(e, d([1, 2, 0, 0, 8, 0]), ['abc']), TE, 'ERR_INVALID_ARG_TYPE', 'write string')
  throwsLike(() => native.submit(e, d([1, 1, 0, 0, 9, 0]), [Buffer.alloc(8)]), RE, 'ERR_OUT_OF_RANGE', 'len > byteLength')
  throwsLike(() => native.submit(e, d([1, 1, 0, -1, 8, 0]), [Buffer.alloc(8)]), RE, 'ERR_OUT_OF_RANGE', 'negative offset')
  throwsLike(() => native.submit(e, d([1, 1, 0, 0.5, 8, 0]), [Buffer.alloc(8)]), RE, 'ERR_OUT_OF_RANGE', 'fractional offset')
  throwsLike(() => native.submit(e, d([1, 1, 0, 2 ** 53, 8, 0]), [Buffer.alloc(8)]), RE, 'ERR_OUT_OF_RANGE', 'offset 2^53')
  throwsLike(() => native.submit(e, d([1, 1, -1, 0, 8, 0]), [Buffer.alloc(8)]), RE, 'ERR_OUT_OF_RANGE', 'fd -1')
  throwsLike(() => native.submit(e, d([NaN, 10, 0, 0, 0, 0]), []), RE, 'ERR_OUT_OF_RANGE', 'id NaN')
  throwsLike(() => native.submit(e, d([1, 0, 0, 0, 0, 0]), []), RE, 'ERR_OUT_OF_RANGE', 'kind 0')
  throwsLike(() => native.submit(e, d([1, 13, 0, 0, 0, 0]), []), RE, 'ERR_OUT_OF_RANGE', 'kind 13')
  throwsLike(() => native.submit(e, d([1, 8, 0, 0, 0o644, 0]), [42]), TE, 'ERR_INVALID_ARG_TYPE', 'open number path')
  throwsLike(() => native.submit(e, d([1, 8, 0, 0, 0o644, 0]), ['a\0b']), TE, 'ERR_INVALID_ARG_VALUE', 'open NUL path')
  throwsLike(() => native.submit(e, d([1, 10, 0, 0, 0, 0], [1, 10, 0, 0, 0, 0]), []), Error, 'ERR_INVALID_ARG_VALUE', 'duplicate id')
  // A bad op anywhere rejects the whole batch: id 7 must not have been recorded.
  throwsLike(() => native.submit(e, d([7, 10, 0, 0, 0, 0], [8, 1, 0, 0, 8, 0]), [undefined, 1]), TE, 'ERR_INVALID_ARG_TYPE', 'batch')
  // Over the queue capacity: EAGAIN with nothing queued.
  throwsLike(() => native.submit(e, d(...Array.from({ length: 5 }, (_, i) => [100 + i, 10, 0, 0, 0, 0])), []), Error, 'EAGAIN', 'over capacity')
  assert.equal(await io.op(K.nop, 0, 0, 0, 0), 0) // uses id 1
  const seven = new Promise((resolve) => io.pending.set(7, resolve))
  const now = native.submit(e, d([7, 10, 0, 0, 0, 0]), undefined)
  if (now !== undefined) io.pending.get(now[0])(now[1]) // inline: completed inside submit
  assert.equal(await seven, 0)
  // A getter in extras that destroys the engine: the submit must then fail cleanly.
  const evil = []
  Object.defineProperty(evil, 0, { get () { native.destroy(e); return Buffer.alloc(8) } })
  throwsLike(() => native.submit(e, d([9, 1, 0, 0, 8, 0]), evil), Error, 'ERR_IO_CLOSED', 'destroyed by a getter')
  throwsLike(() => native.submit(e, d([10, 10, 0, 0, 0, 0]), []), Error, 'ERR_IO_CLOSED', 'after destroy')
  throwsLike(() => native.submit(e, new Float64Array(0), []), Error, 'ERR_IO_CLOSED', 'empty batch after destroy')
  native.destroy(e)
  // createEngine arguments.
  throwsLike(() => native.createEngine({ ...OPTS, sqDepth: 100 }, () => {}), RE, 'ERR_OUT_OF_RANGE', 'sqDepth 100')
  throwsLike(() => native.createEngine({ ...OPTS, queueCapacity: 0 }, () => {}), RE, 'ERR_OUT_OF_RANGE', 'queueCapacity 0')
  throwsLike(() => native.createEngine({ ...OPTS, sqDepth: '64' }, () => {}), TE, 'ERR_INVALID_ARG_TYPE', 'sqDepth string')
  throwsLike(() => native.createEngine({ sqDepth: 64 }, () => {}), TE, 'ERR_INVALID_ARG_TYPE', 'missing options')
  throwsLike(() => native.createEngine(null, () => {}), TE, 'ERR_INVALID_ARG_TYPE', 'null options')
  throwsLike(() => native.createEngine(OPTS, 'f'), TE, 'ERR_INVALID_ARG_TYPE', 'onComplete string')
  throwsLike(() => native.createEngine({ ...OPTS, testSetupErrno: 1 }, () => {}), Error, 'EPERM', 'setup EPERM')
  try { native.createEngine({ ...OPTS, testSetupErrno: 12 }, () => {}) } catch (err) { assert.equal(err.errno, 12); assert.equal(err.code, 'ENOMEM') }
  throwsLike(() => native.probe(0, 0), RE, 'ERR_OUT_OF_RANGE', 'probe 0')
  throwsLike(() => native.strerror('x'), TE, 'ERR_INVALID_ARG_TYPE', 'strerror string')
  assert.deepEqual(native.probe(8, 38), { ok: false, errno: 38 })
  assert.equal(native.strerror(2), 'no such file or directory')
  // The ring-failure test hook: later requests come back as RESULT_RING_FAILED.
  const f = openEngine({ testFailAfter: 2 })
  const rs = await f.batch(Array.from({ length: 4 }, () => [K.nop, 0, 0, 0, 0]))
  assert.ok(rs.every((r) => r === 0 || r === -1_000_000), `ring-failed results ${rs}`)
  f.destroy()
  void dir
}

async function main (dir, tag) {
  await roundTrip(dir, tag)
  await gcPressure(dir)
  await hostile(dir)
}

// ---- child-process scenarios ----------------------------------------------------------
const scenarios = {
  // No destroy(): an idle engine must not keep the process alive.
  async idle (dir) {
    const io = openEngine()
    assert.equal(await io.op(K.nop, 0, 0, 0, 0), 0)
    console.log('idle-ok')
  },
  // process.exit() with writes in flight: exits cleanly (no crash, status 0).
  async 'exit-inflight' (dir) {
    const io = openEngine({ queueCapacity: 1024 })
    const fd = await io.op(K.open, 0, 0, 0o644, O_RDWR | O_CREAT | O_TRUNC, path.join(dir, 'exit.dat'))
    for (let i = 0; i < 16; i++) io.batch(Array.from({ length: 32 }, (_, j) => [K.write, fd, (i * 32 + j) << 16, 1 << 16, 0, Buffer.alloc(1 << 16, 7)]))
    io.op(K.fsync, fd, 0, 0, 0)
    gc()
    console.log('exit-inflight-ok')
    process.exit(0)
  },
  // The same inside worker threads: process.exit() in one, terminate() of another.
  async 'worker-exit' (dir) {
    const w1 = new Worker(__filename, { workerData: { scenario: 'exit-inflight', dir } })
    const w2 = new Worker(__filename, { workerData: { scenario: 'busy', dir } })
    await new Promise((resolve) => setTimeout(resolve, 50))
    await w2.terminate()
    const code = await new Promise((resolve) => w1.on('exit', resolve))
    assert.equal(code, 0)
    console.log('worker-exit-ok')
  },
  async busy (dir) {
    const io = openEngine({ queueCapacity: 1024 })
    const fd = await io.op(K.open, 0, 0, 0o644, O_RDWR | O_CREAT | O_TRUNC, path.join(dir, `busy-${process.pid}-${Math.random()}.dat`))
    for (;;) await io.batch(Array.from({ length: 64 }, (_, j) => [K.write, fd, j << 16, 1 << 16, 0, Buffer.alloc(1 << 16, 3)]))
  },
  // onComplete throws: reported through 'uncaughtException', nothing crashes.
  async throws (dir) {
    const engine = native.createEngine(OPTS, () => { throw new Error('boom from onComplete') })
    process.on('uncaughtException', (err) => {
      assert.equal(err.message, 'boom from onComplete')
      native.destroy(engine)
      console.log('throws-ok')
    })
    // An fsync of fresh dirty data completes later in both modes (inline: through the
    // poll handle, never inside submit).
    const fd = fs.openSync(path.join(dir, 'throws.dat'), 'w')
    fs.writeSync(fd, Buffer.alloc(1 << 20, 1))
    const done = native.submit(engine, new Float64Array([1, K.fsync, fd, 0, 0, 0, 0]), [])
    assert.equal(done, undefined)
  },
  // Several worker threads at once, each with its own engine (context-aware addon).
  async workers (dir) {
    const ws = Array.from({ length: 3 }, (_, i) => new Worker(__filename, { workerData: { scenario: 'main', dir, tag: `w${i}` } }))
    const codes = await Promise.all(ws.map((w) => new Promise((resolve, reject) => { w.on('error', reject); w.on('exit', resolve) })))
    assert.deepEqual(codes, [0, 0, 0])
    console.log('workers-ok')
  },
  async main (dir, tag) {
    await main(dir, tag || 'main')
    console.log(`main-ok ${tag || ''}`)
  }
}

function runChild (scenario, dir, expect) {
  const r = spawnSync(process.execPath, ['--expose-gc', __filename, scenario, dir], { encoding: 'utf8', timeout: 60_000 })
  const out = `${r.stdout}${r.stderr}`
  assert.equal(r.signal, null, `${scenario}: killed by ${r.signal} (timeout = hung)\n${out}`)
  assert.equal(r.status, 0, `${scenario}: status ${r.status}\n${out}`)
  assert.match(r.stdout, expect, `${scenario}\n${out}`)
  console.log(`ok ${scenario}`)
}

if (!isMainThread) {
  scenarios[workerData.scenario](workerData.dir, workerData.tag).catch((e) => { console.error(e); process.exit(1) })
} else if (process.argv[2]) {
  scenarios[process.argv[2]](process.argv[3]).catch((e) => { console.error(e); process.exit(1) })
} else {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'streamline-smoke-'))
  ;(async () => {
    await main(dir, 'main')
    console.log('ok main thread: round trip, GC pressure, hostile arguments')
    runChild('idle', dir, /idle-ok/)
    runChild('exit-inflight', dir, /exit-inflight-ok/)
    runChild('throws', dir, /throws-ok/)
    runChild('workers', dir, /workers-ok/)
    runChild('worker-exit', dir, /worker-exit-ok/)
    for (let i = 0; i < 5; i++) runChild('exit-inflight', dir, /exit-inflight-ok/)
    fs.rmSync(dir, { recursive: true, force: true })
    console.log('smoke: all ok')
  })().catch((e) => { console.error(e); process.exit(1) })
}
