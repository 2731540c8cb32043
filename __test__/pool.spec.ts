// io.pool (issue 3): size classes, stats arithmetic against an independent model, the
// keep limit, errors, page alignment, and registered-buffer I/O (READ_FIXED/WRITE_FIXED
// on io_uring, counted by metrics().registeredBufferHits) verified byte for byte, on
// both backends. The RLIMIT_MEMLOCK degrade (a child that drops to nobody) changes
// state shared by every process of that user: it is machine-wide/memlock.spec.ts.

import fs from 'node:fs'
import path from 'node:path'
import test, { type ExecutionContext } from 'ava'

import {
  assertBytes,
  backends,
  fixture,
  fsRead,
  ioUringExpected,
  openBackend,
  prng,
  randomBytes,
  tmpDir,
  type BackendName,
} from './helpers/backends'
import { cleanEnv, lastJson, runNode, summary } from './helpers/child'
import { Progress, settleWhileProgressing } from './helpers/progress'
import { fixedBufferSlots } from '../ts/backends/native'
import { limitsOf, loadAddon } from '../ts/native'
import type { BufferPool, PoolStats } from '../ts/pool'
import type { Io } from '../ts/types'

const KiB = 1024
const MiB = 1024 * KiB

/** The address of a view's first byte, from the addon (the suite expects it loaded). */
function addressOf(buf: Uint8Array): number {
  const load = loadAddon()
  if (load.addon === null) throw new Error(`the native addon is not loaded: ${load.reason}`)
  if (load.addon.bufferAddress === undefined) throw new Error('the addon lacks bufferAddress (stale build?)')
  return load.addon.bufferAddress(buf)
}

/** `Ctor:code` of what fn throws synchronously, or 'no error'. */
function thrown(fn: () => unknown): string {
  try {
    fn()
    return 'no error'
  } catch (e) {
    return `${(e as Error).constructor.name}:${String((e as NodeJS.ErrnoException).code)}`
  }
}

/** The message of what fn throws, or ''. */
function messageOf(fn: () => unknown): string {
  try {
    fn()
    return ''
  } catch (e) {
    return String((e as Error).message)
  }
}

/** The child's environment: clean, but in the engine mode this suite runs in (npm run test:thread). */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const engine = process.env.STREAMLINE_IO_ENGINE
  return cleanEnv({ ...(engine ? { STREAMLINE_IO_ENGINE: engine } : {}), ...extra })
}

/**
 * Waits until every buffer-table update the pool has asked for has been answered and
 * counted (a registration is counted when its promise settles, a moment after the I/O
 * — later still on a busy machine, so this waits for exactly that, not a guessed delay).
 */
async function settleTable(io: Io): Promise<void> {
  await (io.pool as BufferPool).settled()
}

/** An independent model of the pool's bookkeeping (DESIGN §3 / issue 3). */
class PoolModel {
  hits = 0
  misses = 0
  dropped = 0
  readonly kept: number[]
  readonly inUse: number[]
  readonly allocated: number[]
  constructor(
    readonly sizes: number[],
    readonly keep: number,
  ) {
    this.kept = sizes.map(() => 0)
    this.inUse = sizes.map(() => 0)
    this.allocated = sizes.map(() => 0)
  }
  classOf(minSize: number): number {
    return this.sizes.findIndex((s) => s >= minSize)
  }
  acquire(minSize: number): void {
    const c = this.classOf(minSize)
    this.inUse[c]++
    if (this.kept[c] > 0) {
      this.kept[c]--
      this.hits++
    } else {
      this.misses++
      this.allocated[c]++
    }
  }
  release(c: number): void {
    this.inUse[c]--
    if (this.kept[c] < this.keep) this.kept[c]++
    else {
      this.dropped++
      this.allocated[c]--
    }
  }
  expect(): Omit<PoolStats, 'aligned' | 'registered' | 'registrationFailures' | 'registrationRetries' | 'lastRegistrationError'> {
    const sum = (a: number[]) => a.reduce((x, y) => x + y, 0)
    return {
      hits: this.hits,
      misses: this.misses,
      allocatedBytes: sum(this.allocated.map((n, i) => n * this.sizes[i])),
      inUse: sum(this.inUse),
      inUseBytes: sum(this.inUse.map((n, i) => n * this.sizes[i])),
      kept: sum(this.kept),
      dropped: this.dropped,
      classes: this.sizes.map((size, i) => ({ size, inUse: this.inUse[i], kept: this.kept[i], allocated: this.allocated[i] })),
    }
  }
}

function bookkeeping(s: PoolStats): ReturnType<PoolModel['expect']> {
  const { hits, misses, allocatedBytes, inUse, inUseBytes, kept, dropped, classes } = s
  return { hits, misses, allocatedBytes, inUse, inUseBytes, kept, dropped, classes }
}

for (const backend of backends) {
  test(`${backend}: acquire rounds up to the smallest size class; class sizes are exact; buffers are zeroed, distinct and page-aligned`, async (t) => {
    const io = await openBackend(t, backend)
    t.deepEqual(io.config.sizeClasses, [4 * KiB, 64 * KiB, MiB])
    const cases: Array<[number, number]> = [
      [0, 4 * KiB], [1, 4 * KiB], [512, 4 * KiB], [4095, 4 * KiB], [4 * KiB, 4 * KiB],
      [4 * KiB + 1, 64 * KiB], [10_000, 64 * KiB], [64 * KiB, 64 * KiB],
      [64 * KiB + 1, MiB], [MiB - 1, MiB], [MiB, MiB],
    ]
    const held: Buffer[] = []
    for (const [minSize, size] of cases) {
      const b = io.pool.acquire(minSize)
      t.true(Buffer.isBuffer(b), `acquire(${minSize}) returns a Buffer`)
      t.is(b.length, size, `acquire(${minSize}) → the ${size}-byte class`)
      t.is(b.byteLength, size)
      t.true(b.every((x) => x === 0), `acquire(${minSize}): a new buffer is zeroed`)
      t.is(addressOf(b) % 4096, 0, `acquire(${minSize}): page-aligned (address 0x${addressOf(b).toString(16)})`)
      held.push(b)
    }
    t.true(io.pool.stats().aligned, 'stats().aligned with the addon loaded')
    // Distinct memory: fill each with its own byte, then check none was overwritten.
    held.forEach((b, i) => b.fill(i + 1))
    held.forEach((b, i) => t.true(b.every((x) => x === i + 1), `buffer ${i} kept its own bytes (no overlap)`))
    for (const b of held) io.pool.release(b)
    // A kept buffer comes back as the same object (a hit), and holds what it held: the
    // pool does not clear reused buffers.
    const again = io.pool.acquire(MiB)
    t.true(held.includes(again), 'a kept buffer is reused')
    t.is(io.pool.stats().hits, 1)
    io.pool.release(again)
  })

  test(`${backend}: stats() follow an independent model over 3000 random acquire/release steps (bufferPoolSize 2)`, async (t) => {
    const sizes = [4 * KiB, 64 * KiB, MiB]
    const io = await openBackend(t, backend, { bufferPoolSize: 2 })
    const model = new PoolModel(sizes, 2)
    t.deepEqual(bookkeeping(io.pool.stats()), model.expect(), 'a fresh pool')
    const r = prng(77)
    const held: Array<{ buf: Buffer; cls: number }> = []
    const seen = new Set<Buffer>()
    let hitsOfKnown = 0
    for (let step = 0; step < 3000; step++) {
      if (held.length > 0 && (r() < 0.5 || held.length > 12)) {
        const { buf, cls } = held.splice(Math.floor(r() * held.length), 1)[0]
        io.pool.release(buf)
        model.release(cls)
      } else {
        const cls = Math.floor(r() * 3)
        const lo = cls === 0 ? 0 : sizes[cls - 1] + 1
        const minSize = lo + Math.floor(r() * (sizes[cls] - lo + 1))
        const hitsBefore = io.pool.stats().hits
        const buf = io.pool.acquire(minSize)
        model.acquire(minSize)
        t.is(buf.length, sizes[cls])
        if (io.pool.stats().hits > hitsBefore) {
          if (!seen.has(buf)) t.fail(`step ${step}: a hit returned a buffer the pool never gave out`)
          else hitsOfKnown++
        }
        seen.add(buf)
        held.push({ buf, cls })
      }
      if (step % 100 === 0) t.deepEqual(bookkeeping(io.pool.stats()), model.expect(), `step ${step}`)
    }
    for (const { buf, cls } of held.splice(0)) {
      io.pool.release(buf)
      model.release(cls)
    }
    const end = io.pool.stats()
    t.deepEqual(bookkeeping(end), model.expect(), 'after releasing everything')
    t.is(end.inUse, 0)
    t.true(end.kept <= 2 * sizes.length, `at most bufferPoolSize per class kept: ${end.kept}`)
    t.is(end.allocatedBytes, end.classes.reduce((n, c) => n + c.kept * c.size, 0), 'alive = kept once nothing is in use')
    t.true(model.hits > 100 && model.dropped > 100, `the run exercised hits (${model.hits}) and drops (${model.dropped})`)
    t.is(hitsOfKnown, model.hits)
  })

  test(`${backend}: keep limit: bufferPoolSize 2 keeps two per class, drops the rest, then hits twice and misses`, async (t) => {
    const io = await openBackend(t, backend, { bufferPoolSize: 2 })
    const five = Array.from({ length: 5 }, () => io.pool.acquire(100))
    let s = io.pool.stats()
    t.like(s, { hits: 0, misses: 5, inUse: 5, inUseBytes: 5 * 4 * KiB, allocatedBytes: 5 * 4 * KiB, kept: 0, dropped: 0 })
    const big = io.pool.acquire(MiB)
    for (const b of five) io.pool.release(b)
    s = io.pool.stats()
    t.like(s, { inUse: 1, inUseBytes: MiB, kept: 2, dropped: 3, allocatedBytes: 2 * 4 * KiB + MiB })
    t.deepEqual(s.classes.map((c) => [c.size, c.inUse, c.kept, c.allocated]), [[4 * KiB, 0, 2, 2], [64 * KiB, 0, 0, 0], [MiB, 1, 0, 1]])
    const a = io.pool.acquire(4 * KiB)
    const b = io.pool.acquire(1)
    const c = io.pool.acquire(4000)
    s = io.pool.stats()
    t.like(s, { hits: 2, misses: 7, inUse: 4, kept: 0 })
    t.true(five.includes(a) && five.includes(b), 'the two hits are kept buffers')
    t.false(five.includes(c), 'the miss is a new buffer')
    io.pool.release(big)
    for (const x of [a, b, c]) io.pool.release(x)
    t.like(io.pool.stats(), { inUse: 0, kept: 3, dropped: 4, allocatedBytes: 2 * 4 * KiB + MiB })
  })

  test(`${backend}: bufferPoolSize 0 keeps nothing: every acquire misses, every release drops, a second release is a double release`, async (t) => {
    const io = await openBackend(t, backend, { bufferPoolSize: 0 })
    for (let i = 0; i < 5; i++) {
      const b = io.pool.acquire(64 * KiB)
      t.like(io.pool.stats(), { inUse: 1, allocatedBytes: 64 * KiB, kept: 0 })
      io.pool.release(b)
      t.like(io.pool.stats(), { hits: 0, misses: i + 1, inUse: 0, allocatedBytes: 0, kept: 0, dropped: i + 1 })
      t.is(thrown(() => io.pool.release(b)), 'Error:ERR_POOL_DOUBLE_RELEASE', 'release after the buffer was dropped')
    }
    t.like(io.pool.stats(), { dropped: 5 }, 'a refused release changes nothing')
  })

  test(`${backend}: custom sizeClasses [512, 1536, 8192]: rounding, page alignment, the largest class is the limit`, async (t) => {
    const io = await openBackend(t, backend, { sizeClasses: [512, 1536, 8192], bufferPoolSize: 4 })
    t.deepEqual(io.pool.stats().classes.map((c) => c.size), [512, 1536, 8192])
    const cases: Array<[number, number]> = [[0, 512], [512, 512], [513, 1536], [1536, 1536], [1537, 8192], [8192, 8192]]
    for (const [minSize, size] of cases) {
      const b = io.pool.acquire(minSize)
      t.is(b.length, size, `acquire(${minSize})`)
      t.is(addressOf(b) % 4096, 0, `acquire(${minSize}) is page-aligned even for a ${size}-byte class`)
      io.pool.release(b)
    }
    t.is(thrown(() => io.pool.acquire(8193)), 'RangeError:ERR_OUT_OF_RANGE')
    t.regex(messageOf(() => io.pool.acquire(8193)), /8192/, 'the message names the largest class')
    t.like(io.pool.stats(), { misses: 3, hits: 3, kept: 3, inUse: 0, allocatedBytes: 512 + 1536 + 8192 })
  })

  test(`${backend}: release/acquire errors: foreign buffers, views of pool buffers, double release, wrong types and sizes — stats untouched`, async (t) => {
    const io = await openBackend(t, backend, { bufferPoolSize: 1 })
    const other = await openBackend(t, backend)
    const buf = io.pool.acquire(4096)
    const big = io.pool.acquire(64 * KiB)
    const before = io.pool.stats()

    // Foreign buffers: same size as a class or not, Buffer or Uint8Array, another Io's.
    t.is(thrown(() => io.pool.release(Buffer.alloc(4096))), 'Error:ERR_POOL_FOREIGN_BUFFER')
    t.is(thrown(() => io.pool.release(Buffer.alloc(100))), 'Error:ERR_POOL_FOREIGN_BUFFER')
    t.is(thrown(() => io.pool.release(new Uint8Array(4096) as Buffer)), 'Error:ERR_POOL_FOREIGN_BUFFER')
    const otherBuf = other.pool.acquire(4096)
    t.is(thrown(() => io.pool.release(otherBuf)), 'Error:ERR_POOL_FOREIGN_BUFFER', "another Io's pool buffer")
    t.regex(messageOf(() => io.pool.release(Buffer.alloc(4096))), /elsewhere/)
    // Views of a pool buffer: a proper subarray, a whole-length subarray (a new object
    // over the same memory), a Uint8Array over its memory.
    t.is(thrown(() => io.pool.release(buf.subarray(0, 512))), 'Error:ERR_POOL_FOREIGN_BUFFER')
    t.is(thrown(() => io.pool.release(big.subarray(4096))), 'Error:ERR_POOL_FOREIGN_BUFFER')
    t.is(thrown(() => io.pool.release(buf.subarray(0))), 'Error:ERR_POOL_FOREIGN_BUFFER')
    t.is(thrown(() => io.pool.release(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) as Buffer)), 'Error:ERR_POOL_FOREIGN_BUFFER')
    t.regex(messageOf(() => io.pool.release(buf.subarray(1, 513))), /view into a pool buffer/, 'the message says it is a view')
    // Wrong types.
    for (const bad of [undefined, null, 'buf', 4096, {}, new ArrayBuffer(4096), [1, 2, 3], new DataView(new ArrayBuffer(8))]) {
      t.is(thrown(() => io.pool.release(bad as unknown as Buffer)), 'TypeError:ERR_INVALID_ARG_TYPE', `release(${String(bad)})`)
    }
    for (const bad of [undefined, null, '4096', 4096n, {}, [4096]]) {
      t.is(thrown(() => io.pool.acquire(bad as unknown as number)), 'TypeError:ERR_INVALID_ARG_TYPE', `acquire(${String(bad)})`)
    }
    for (const bad of [-1, -0.5, 0.5, 4095.5, NaN, Infinity, -Infinity, MiB + 1, 2 ** 53, Number.MAX_VALUE]) {
      t.is(thrown(() => io.pool.acquire(bad)), 'RangeError:ERR_OUT_OF_RANGE', `acquire(${bad})`)
    }
    t.deepEqual(io.pool.stats(), before, 'refused calls change no statistic')

    // Double release: of a kept buffer, and of a dropped one (bufferPoolSize 1).
    io.pool.release(buf)
    t.is(thrown(() => io.pool.release(buf)), 'Error:ERR_POOL_DOUBLE_RELEASE', 'release of a kept buffer')
    t.regex(messageOf(() => io.pool.release(buf)), /already released/)
    const second = io.pool.acquire(4096) // the kept one
    t.is(second, buf)
    const third = io.pool.acquire(4096) // a new one
    io.pool.release(second) // kept
    io.pool.release(third) // dropped: the class keeps 1
    t.like(io.pool.stats(), { dropped: 1, kept: 1 })
    t.is(thrown(() => io.pool.release(third)), 'Error:ERR_POOL_DOUBLE_RELEASE', 'release of a dropped buffer')
    t.is(thrown(() => io.pool.release(second)), 'Error:ERR_POOL_DOUBLE_RELEASE')
    t.like(io.pool.stats(), { dropped: 1, kept: 1, inUse: 1 }, 'double releases change nothing')
    io.pool.release(big)
    other.pool.release(otherBuf)
    t.is(io.pool.stats().inUse, 0)
  })

  test(`${backend}: pool buffers of every class, and subarrays inside them, read and write byte for byte; registeredBufferHits counts exactly those`, async (t) => {
    const io = await openBackend(t, backend)
    const file = path.join(tmpDir(t), 'reg')
    const f = await io.create(file)
    const hits0 = io.metrics().registeredBufferHits
    t.is(hits0, 0, 'a fresh Io')
    let pooledOps = 0
    let pos = 0
    let seed = 1
    for (const S of io.config.sizeClasses) {
      // [label, start in the source buffer, length, start in the destination buffer]
      const cases: Array<[string, number, number, number]> = [
        ['whole buffer', 0, S, 0],
        ['head', 0, S / 2 + 3, 0],
        ['middle', 7, S - 100, 41],
        ['tail', S - 1000, 1000, 3],
        ['last byte', S - 1, 1, 0],
        ['one byte in the middle', S >> 1, 1, (S >> 1) + 1],
      ]
      for (const skew of [0, 1, 511, 4096]) {
        for (const [label, start, len, dstStart] of cases) {
          const what = `${S}-byte class, ${label} (${len} B) at file offset ${pos + skew}`
          const off = pos + skew
          const src = io.pool.acquire(S)
          t.is(addressOf(src) % 4096, 0)
          src.set(randomBytes(S, seed++))
          const view = src.subarray(start, start + len)
          const w = await f.writeAt(view, off)
          t.is(w.bytesWritten, len, what)
          t.is(w.buffer, view, `${what}: the result's buffer is the object passed`)
          const dst = io.pool.acquire(S)
          dst.fill(0xee)
          const dview = dst.subarray(dstStart, dstStart + len)
          const rr = await f.readAt(dview, off)
          t.is(rr.bytesRead, len, what)
          t.is(rr.buffer, dview)
          assertBytes(t, dview, view, `${what}: read back`)
          let outside = 0
          for (let i = 0; i < S; i++) if ((i < dstStart || i >= dstStart + len) && dst[i] !== 0xee) outside++
          t.is(outside, 0, `${what}: bytes of the pool buffer outside the subarray are untouched`)
          assertBytes(t, fsRead(file, off, len), view, `${what}: on disk (node:fs)`)
          pooledOps += 2
          io.pool.release(src)
          io.pool.release(dst)
          pos = off + len
        }
      }
    }
    // Plain buffers are not registered: they never count.
    const plain = randomBytes(10_000, 99)
    await f.writeAt(plain, pos)
    const plainBack = Buffer.alloc(10_000)
    await f.readAt(plainBack, pos)
    assertBytes(t, plainBack, plain, 'plain buffers')
    await settleTable(io)
    const hits = io.metrics().registeredBufferHits - hits0
    const s = io.pool.stats()
    t.log(`${backend}: ${pooledOps} pooled reads/writes, registeredBufferHits ${hits}, pool ${JSON.stringify({ registered: s.registered, misses: s.misses, hits: s.hits })}`)
    if (io.backend === 'io_uring') {
      t.is(hits, pooledOps, 'every read/write on a pool buffer (or a view inside one) is READ_FIXED/WRITE_FIXED, nothing else')
      t.is(s.registered, s.misses, 'every buffer the pool allocated is registered (kept ones stay registered)')
      t.is(s.registrationFailures, 0, String(s.lastRegistrationError))
      t.is(s.lastRegistrationError, null)
    } else {
      t.is(hits, 0, 'the standard backend has no registered buffers')
      t.is(s.registered, 0)
      t.is(s.registrationFailures, 0)
    }
    t.regex(io.prometheus(), new RegExp(`\\nstreamline_io_registered_buffer_hits_total\\{[^}]*\\} ${io.metrics().registeredBufferHits}\\n`))
    await f.close()
  })

  test(`${backend}: 2000 concurrent pooled reads/writes at QD 32 on 2 files (ioWorkers 2), verified byte for byte`, async (t) => {
    await pooledConcurrency(t, backend, 2000, 32)
  })

  test(`${backend}: a full registered-buffer table degrades to plain buffers (counted); dropped buffers free their slots`, async (t) => {
    const io = await openBackend(t, backend, { bufferPoolSize: 2 })
    const slots = fixedBufferSlots(io.config, limitsOf(loadAddon()).values.maxFixedBufferSlots)
    const file = path.join(tmpDir(t), 'full')
    const f = await io.create(file)
    const N = slots + 16
    const first = Array.from({ length: N }, () => io.pool.acquire(4096))
    let hitsBefore = io.metrics().registeredBufferHits
    await Promise.all(first.map((b, i) => f.writeAt(b.fill(i & 0xff), i * 4096)))
    await Promise.all(first.map(async (b, i) => {
      b.fill(0xaa)
      const r = await f.readAt(b, i * 4096)
      if (r.bytesRead !== 4096 || !b.every((x) => x === (i & 0xff))) t.fail(`buffer ${i}: wrong bytes read back`)
    }))
    await settleTable(io)
    let s = io.pool.stats()
    const isUring = io.backend === 'io_uring'
    if (isUring) {
      t.is(s.registered, slots, `a table of ${slots} slots fills`)
      t.is(s.registrationFailures, N - slots, 'the rest are counted as failed registrations')
      t.regex(String(s.lastRegistrationError), /ENOBUFS|full/, 'the reason names the full table')
      t.is(io.metrics().registeredBufferHits - hitsBefore, 2 * slots, 'only the registered ones use fixed I/O')
    } else {
      t.like(s, { registered: 0, registrationFailures: 0 })
    }
    // Release everything: 2 are kept (still registered), the rest dropped and unregistered.
    for (const b of first) io.pool.release(b)
    await f.size()
    await settleTable(io)
    s = io.pool.stats()
    t.like(s, { kept: 2, dropped: N - 2, inUse: 0 })
    if (isUring) t.is(s.registered, 2, 'dropped buffers are unregistered')
    // Their slots are free again: new buffers register into them.
    const second = Array.from({ length: slots }, () => io.pool.acquire(4096))
    hitsBefore = io.metrics().registeredBufferHits
    await Promise.all(second.map((b, i) => f.writeAt(b.fill(0x5a), i * 4096)))
    await settleTable(io)
    s = io.pool.stats()
    t.like(s, { hits: 2, misses: N + slots - 2 })
    if (isUring) {
      t.is(s.registered, slots, 'freed slots were reused')
      t.is(s.registrationFailures, N - slots, 'no new failures')
      t.is(io.metrics().registeredBufferHits - hitsBefore, slots, 'every write of the second round was fixed I/O')
    }
    for (const b of second) io.pool.release(b)
    const disk = fs.readFileSync(file)
    t.true(disk.subarray(0, slots * 4096).every((x) => x === 0x5a), 'the second round is on disk')
  })

  test(`${backend}: at a full table, a buffer released and dropped frees its slot for one acquired right after — in the same tick, and while its own registration is still on its way`, async (t) => {
    const io = await openBackend(t, backend, { bufferPoolSize: 0 })
    const slots = fixedBufferSlots(io.config, limitsOf(loadAddon()).values.maxFixedBufferSlots)
    const file = path.join(tmpDir(t), 'same-tick')
    const f = await io.create(file)
    const held = Array.from({ length: slots }, () => io.pool.acquire(4096))
    await settleTable(io)
    const isUring = io.backend === 'io_uring'
    if (isUring) t.like(io.pool.stats(), { registered: slots, registrationFailures: 0 }, 'the table is full')
    // Registered and settled: released (dropped: bufferPoolSize 0) and replaced at once.
    io.pool.release(held.pop()!)
    held.push(io.pool.acquire(4096))
    await settleTable(io)
    // Registration still on its way: with one slot free, a buffer is acquired (it takes
    // the slot), released at once and replaced; the replacement is refused while that
    // slot is being emptied, and tried again once it is.
    io.pool.release(held.pop()!)
    await settleTable(io)
    io.pool.release(io.pool.acquire(4096))
    held.push(io.pool.acquire(4096))
    await settleTable(io)
    const s = io.pool.stats()
    if (isUring) {
      t.is(s.registrationFailures, 0, String(s.lastRegistrationError))
      t.is(s.registered, slots, 'every buffer held is registered')
      t.is(s.registrationRetries, 1, 'the replacement was tried again once')
      const hits0 = io.metrics().registeredBufferHits
      await Promise.all(held.map((b, i) => f.writeAt(b.fill(i & 0xff), i * 4096)))
      t.is(io.metrics().registeredBufferHits - hits0, held.length, 'and goes out as WRITE_FIXED')
    } else {
      t.like(s, { registered: 0, registrationFailures: 0, registrationRetries: 0 })
    }
    t.log(JSON.stringify({ slots, registered: s.registered, failures: s.registrationFailures, retries: s.registrationRetries }))
    for (const b of held) io.pool.release(b)
    await f.close()
  })

  test(`${backend}: releasing pool buffers after io.close() (kept and dropped) neither throws nor takes the process down`, async (t) => {
    const r = await runNode([fixture('pool-table'), JSON.stringify({ enableIoUring: backend === 'io_uring', dir: tmpDir(t), scenario: 'after-close' })], {
      env: childEnv(),
      timeoutMs: 60_000,
    })
    const out = lastJson<{ fatal?: unknown; backend?: string; ok?: boolean; detail?: unknown }>(r)
    t.is(out.fatal, undefined, summary(r))
    t.is(r.code, 0, `the child must exit normally: ${summary(r)}`)
    if (backend === 'io_uring' && ioUringExpected()) t.is(out.backend, 'io_uring')
    t.true(out.ok, JSON.stringify(out.detail))
  })
}

// Both engine modes explicitly (so not again under npm run test:thread): in the thread
// mode, buffer-table updates share the ring's request capacity with reads and writes.
const capacityScenarios = [
  ['churn-at-capacity', 'acquire/release churn beside a full queue (queueDepth 2, bufferPoolSize 0): no crash, no leaked table slots'],
  ['fresh-at-capacity', 'two writers at queueDepth 2, each write on a newly allocated pool buffer: no write fails, every block exact'],
] as const
for (const engine of process.env.STREAMLINE_IO_ENGINE ? [] : (['inline', 'thread'] as const)) {
  for (const [scenario, title] of capacityScenarios) {
    test(`io_uring (${engine} engine): ${title}`, async (t) => {
      const r = await runNode([fixture('pool-table'), JSON.stringify({ enableIoUring: true, dir: tmpDir(t), scenario })], {
        env: cleanEnv({ STREAMLINE_IO_ENGINE: engine }),
        timeoutMs: 60_000,
      })
      const out = lastJson<{ fatal?: unknown; backend?: string; ok?: boolean; detail?: Record<string, unknown> }>(r)
      t.is(out.fatal, undefined, summary(r))
      t.is(r.code, 0, `the child must exit normally: ${summary(r)}`)
      if (ioUringExpected()) t.is(out.backend, 'io_uring')
      t.log(JSON.stringify(out.detail))
      t.true(out.ok, JSON.stringify(out.detail))
    })
  }
}

/**
 * `total` operations by `qd` workers, each on a pool buffer (random class and length,
 * often a subarray): reads of a pre-written region checked against it, writes to
 * disjoint places each read back into another pool buffer, then the files checked.
 */
async function pooledConcurrency(t: ExecutionContext, backend: BackendName, total: number, qd: number): Promise<void> {
  const io = await openBackend(t, backend, { ioWorkers: 2 })
  const dir = tmpDir(t)
  const REGION = 4 * MiB
  const names = ['a', 'b'].map((n) => path.join(dir, n))
  const bases = names.map((n, i) => {
    const b = randomBytes(REGION, 500 + i)
    fs.writeFileSync(n, b)
    return b
  })
  const files = await Promise.all(names.map((n) => io.openRw(n)))
  const r = prng(4242)
  const sizes = io.config.sizeClasses
  type Op = { kind: 'r' | 'w'; file: number; pos: number; len: number; start: number; seed: number }
  const ops: Op[] = []
  const ends = [REGION, REGION]
  for (let i = 0; i < total; i++) {
    const cls = r() < 0.6 ? 0 : r() < 0.8 ? 1 : 2
    const cap = cls === 2 ? 256 * KiB : sizes[cls]
    const len = 1 + Math.floor(r() * cap)
    const start = Math.floor(r() * (sizes[cls] - len + 1))
    const file = i & 1
    if (i % 2 === 0) {
      ops.push({ kind: 'r', file, pos: Math.floor(r() * (REGION - len)), len, start, seed: 0 })
    } else {
      // Writes leave random gaps (holes that read back as zeros) between them.
      const gap = Math.floor(r() * 100)
      ops.push({ kind: 'w', file, pos: ends[file] + gap, len, start, seed: 10_000 + i })
      ends[file] += gap + len
    }
  }
  const expected = ends.map((end, i) => {
    const e = Buffer.alloc(end)
    bases[i].copy(e)
    return e
  })
  for (const op of ops) if (op.kind === 'w') randomBytes(op.len, op.seed).copy(expected[op.file], op.pos)

  const hits0 = io.metrics().registeredBufferHits
  let pooledOps = 0
  const bad: string[] = []
  let next = 0
  // A hang detector, not a deadline: it fails only when no operation settled for
  // STALL_MS (a lost completion), however long a starved machine takes for them all.
  const progress = new Progress(ops.length)
  const worker = async (): Promise<void> => {
    while (next < ops.length) {
      const op = ops[next++]
      const f = files[op.file]
      const buf = io.pool.acquire(op.start + op.len)
      const view = buf.subarray(op.start, op.start + op.len)
      try {
        if (op.kind === 'r') {
          const res = await f.readAt(view, op.pos)
          pooledOps++
          if (res.bytesRead !== op.len || !view.equals(bases[op.file].subarray(op.pos, op.pos + op.len))) bad.push(`read ${op.len} @ ${op.pos}`)
        } else {
          view.set(randomBytes(op.len, op.seed))
          const res = await f.writeAt(view, op.pos)
          pooledOps++
          if (res.bytesWritten !== op.len) bad.push(`write ${op.len} @ ${op.pos}: ${res.bytesWritten}`)
          const back = io.pool.acquire(op.len)
          try {
            const rb = await f.readAt(back.subarray(0, op.len), op.pos)
            pooledOps++
            if (rb.bytesRead !== op.len || !back.subarray(0, op.len).equals(view)) bad.push(`read-back ${op.len} @ ${op.pos}`)
          } finally {
            io.pool.release(back)
          }
        }
      } finally {
        io.pool.release(buf)
        progress.tick()
      }
    }
  }
  await settleWhileProgressing(Promise.all(Array.from({ length: qd }, worker)), progress, `${total} pooled operations`, { t })
  t.deepEqual(bad.slice(0, 5), [], `${bad.length} operations returned wrong bytes`)
  await settleTable(io)
  const s = io.pool.stats()
  t.is(s.inUse, 0)
  t.is(s.hits + s.misses, pooledOps, 'one acquire per operation')
  const hits = io.metrics().registeredBufferHits - hits0
  t.log(`${backend}: ${pooledOps} pooled ops, registeredBufferHits ${hits}, pool hits ${s.hits} misses ${s.misses} registered ${s.registered} failures ${s.registrationFailures}`)
  if (io.backend === 'io_uring') {
    t.is(s.registrationFailures, 0, String(s.lastRegistrationError))
    t.is(hits, pooledOps, 'every pooled operation was fixed I/O')
  } else {
    t.is(hits, 0)
  }
  for (const f of files) await f.close()
  names.forEach((n, i) => assertBytes(t, fs.readFileSync(n), expected[i], `file ${i}`))
}
