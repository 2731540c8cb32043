// O_DIRECT (issue 3): round trips on pool buffers, end-of-file reads, every alignment
// error (address, length, offset; readAt, writeAt, append, batch readAt/writeAt) with
// its exact code, class and wording, 'prefer' vs true, ERR_IO_DIRECT_UNAVAILABLE where
// the file system refuses O_DIRECT (ramfs, mounted in a private mount namespace) or the
// addon is missing, and batches mixing direct and buffered files with links — on both
// backends, on ext4 (os.tmpdir()) and tmpfs (/dev/shm).

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import test, { type ExecutionContext } from 'ava'

import {
  assertBytes,
  assertLibError,
  backends,
  describeError,
  fixture,
  fsRead,
  ioUringExpected,
  openBackend,
  outcome,
  prng,
  randomBytes,
  tmpDir,
  type BackendName,
} from './helpers/backends'
import { cleanEnv, lastJson, runNode, summary } from './helpers/child'
import { directFlagsOf, expectedDioAlignment, fsTypeOf, runNodeInPrivateMount } from './helpers/direct'
import { allWhileProgressing } from './helpers/progress'
import { rootTest } from './helpers/tmpfs'

const KiB = 1024
const MiB = 1024 * KiB

interface Target {
  name: string
  available: boolean
  dir(t: ExecutionContext): string
}

function shmDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync('/dev/shm/streamline-io-direct-')
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

const targets: Target[] = [
  { name: `${fsTypeOf(os.tmpdir())} (os.tmpdir())`, available: true, dir: (t) => tmpDir(t) },
  { name: 'tmpfs (/dev/shm)', available: fs.existsSync('/dev/shm') && fsTypeOf('/dev/shm') === 'tmpfs', dir: shmDir },
]

/** `Ctor:code` of a synchronous throw, or 'no error'. */
function thrown(fn: () => unknown): { id: string; message: string } {
  try {
    fn()
    return { id: 'no error', message: '' }
  } catch (e) {
    return { id: `${(e as Error).constructor.name}:${String((e as NodeJS.ErrnoException).code)}`, message: String((e as Error).message) }
  }
}

/** Asserts a rejected ERR_IO_ALIGNMENT naming `what` and the alignment. */
async function assertMisaligned(t: ExecutionContext, label: string, fn: () => unknown, what: 'buffer address' | 'buffer length' | 'offset', align: number, file: string): Promise<void> {
  await assertLibError(t, label, fn, 'RangeError', 'ERR_IO_ALIGNMENT')
  const o = await outcome(fn)
  const msg = o.kind === 'rejected' || o.kind === 'sync-throw' ? String(describeError(o.error).message) : ''
  t.true(msg.includes(what), `${label}: the message names the ${what}: ${msg}`)
  for (const other of ['buffer address', 'buffer length', 'offset'].filter((w) => w !== what)) {
    t.false(msg.includes(`the ${other} aligned`), `${label}: the message names only the ${what}: ${msg}`)
  }
  t.true(msg.includes(`${align} bytes`), `${label}: the message gives the alignment (${align}): ${msg}`)
  t.true(msg.includes(file), `${label}: the message names the file: ${msg}`)
}

for (const backend of backends) {
  for (const target of targets) {
    const tt = target.available ? test : test.skip
    const on = `${backend} on ${target.name}`

    tt(`${on}: direct: true really opens with O_DIRECT; pool-buffer round trips of several sizes at aligned offsets are exact`, async (t) => {
      const io = await openBackend(t, backend)
      const dir = target.dir(t)
      const align = expectedDioAlignment(dir)
      t.log(`${fsTypeOf(dir)}: expected alignment mem ${align.mem}, offset ${align.offset} (${align.source})`)
      const file = path.join(dir, 'direct')
      const f = await io.create(file, { direct: true })
      t.deepEqual(directFlagsOf(file), [true], 'the descriptor has O_DIRECT (/proc/self/fdinfo)')
      const A = align.offset
      const hits0 = io.metrics().registeredBufferHits
      let pooled = 0
      // [length, offset, where in the pool buffer the view starts]
      const cases: Array<[number, number, number]> = [
        [A, 0, 0],
        [4 * KiB, A, 0],
        [8 * KiB, 3 * A, 0],
        [64 * KiB, 64 * KiB, 0],
        [MiB, MiB + A, 0],
        [3 * A, 5 * MiB, Math.max(A, align.mem)], // a view starting inside a pool buffer
        [4 * KiB, 5 * 1024 * MiB + A, 0], // beyond 4 GiB (a sparse file)
      ]
      let seed = 1
      for (const [len, offset, start] of cases) {
        const what = `${len} B at ${offset} (view at +${start})`
        const src = io.pool.acquire(start + len)
        const view = src.subarray(start, start + len)
        view.set(randomBytes(len, seed++))
        t.is((await f.writeAt(view, offset)).bytesWritten, len, what)
        const dst = io.pool.acquire(start + len)
        const dview = dst.subarray(start, start + len)
        dview.fill(0x11)
        const r = await f.readAt(dview, offset)
        t.is(r.bytesRead, len, what)
        t.is(r.buffer, dview)
        assertBytes(t, dview, view, `${what}: read back`)
        assertBytes(t, fsRead(file, offset, len), view, `${what}: on disk (node:fs)`)
        pooled += 2
        io.pool.release(src)
        io.pool.release(dst)
      }
      // Appends on a direct file land at aligned end-of-file positions.
      const g = await io.openAppend(path.join(dir, 'appended'), { direct: true })
      const blocks = [0, 1, 2].map((i) => io.pool.acquire(4 * KiB).fill(0x30 + i))
      const positions = await Promise.all(blocks.map((b) => g.append(b).then((r) => r.position)))
      t.deepEqual(positions, [0, 4 * KiB, 8 * KiB])
      pooled += 3
      for (const b of blocks) io.pool.release(b)
      await g.close()
      t.deepEqual([...fs.readFileSync(path.join(dir, 'appended'))].filter((_, i) => i % 4096 === 0), [0x30, 0x31, 0x32])
      const hits = io.metrics().registeredBufferHits - hits0
      if (io.backend === 'io_uring') t.is(hits, pooled, 'O_DIRECT on pool buffers is fixed I/O')
      else t.is(hits, 0)
      // Zero-length transfers need no alignment of their (empty) buffer.
      t.is((await f.readAt(Buffer.alloc(0), 0)).bytesRead, 0)
      t.is((await f.writeAt(Buffer.alloc(0), 0)).bytesWritten, 0)
      await f.close()
      t.deepEqual(directFlagsOf(file), [], 'closed')
    })

    tt(`${on}: direct reads of a 10,000-byte file stop at end of file with exactly the bytes before it`, async (t) => {
      const io = await openBackend(t, backend)
      const dir = target.dir(t)
      const A = expectedDioAlignment(dir).offset
      const file = path.join(dir, 'eof')
      const data = randomBytes(10_000, 7)
      fs.writeFileSync(file, data)
      const f = await io.open(file, { direct: true })
      t.deepEqual(directFlagsOf(file), [true])
      const lastBlock = Math.floor(10_000 / A) * A
      const cases: Array<[number, number]> = [
        [0, 16 * KiB], [0, 12 * KiB], [8 * KiB, 4 * KiB], [8 * KiB, 64 * KiB], [lastBlock, A], [lastBlock - A, 2 * A],
        [0, MiB], [Math.ceil(10_000 / A) * A, A], [64 * KiB, 4 * KiB],
      ]
      for (const [offset, len] of cases) {
        const buf = io.pool.acquire(len)
        const view = buf.subarray(0, len)
        const r = await f.readAt(view, offset)
        const expect = Math.max(0, Math.min(len, 10_000 - offset))
        t.is(r.bytesRead, expect, `read ${len} @ ${offset}`)
        assertBytes(t, view.subarray(0, r.bytesRead), data.subarray(offset, offset + expect), `read ${len} @ ${offset}`)
        io.pool.release(buf)
      }
      // Batch reads past end of file report the same counts.
      const bufs = [io.pool.acquire(16 * KiB), io.pool.acquire(4 * KiB)]
      const rr = await io.batch().readAt(f, bufs[0], 0).readAt(f, bufs[1], 8 * KiB).submit()
      t.deepEqual(rr, [{ ok: true, bytes: 10_000 }, { ok: true, bytes: 10_000 - 8 * KiB }])
      assertBytes(t, bufs[0].subarray(0, 10_000), data, 'batch read')
      for (const b of bufs) io.pool.release(b)
      await f.close()
    })

    tt(`${on}: every misalignment (address, length, offset) of readAt, writeAt, append and batch readAt/writeAt is a RangeError ERR_IO_ALIGNMENT naming it; nothing is written`, async (t) => {
      const io = await openBackend(t, backend)
      const dir = target.dir(t)
      const align = expectedDioAlignment(dir)
      const A = align.offset
      const M = align.mem
      const file = path.join(dir, 'misaligned')
      const f = await io.create(file, { direct: true })
      const good = io.pool.acquire(64 * KiB).fill(0x42)
      const aligned = good.subarray(0, A)
      await f.writeAt(aligned, 0)
      const before = fs.readFileSync(file)
      const badAddress = good.subarray(1, 1 + A) // aligned length, address off by one
      t.is(badAddress.length % A, 0)
      const badLengths = [good.subarray(0, A + 1), good.subarray(0, A - 1), good.subarray(0, 100)]
      const badOffsets = [1, A / 2, A + A / 2, 4095]
      if (M > 1) {
        for (const [label, buf] of [['subarray(1)', badAddress], [`subarray(${M / 2})`, good.subarray(M / 2, M / 2 + A)]] as const) {
          await assertMisaligned(t, `readAt address ${label}`, () => f.readAt(buf, 0), 'buffer address', M, file)
          await assertMisaligned(t, `writeAt address ${label}`, () => f.writeAt(buf, 0), 'buffer address', M, file)
          await assertMisaligned(t, `append address ${label}`, () => f.append(buf), 'buffer address', M, file)
        }
      }
      for (const buf of badLengths) {
        await assertMisaligned(t, `readAt length ${buf.length}`, () => f.readAt(buf, 0), 'buffer length', A, file)
        await assertMisaligned(t, `writeAt length ${buf.length}`, () => f.writeAt(buf, 0), 'buffer length', A, file)
        await assertMisaligned(t, `append length ${buf.length}`, () => f.append(buf), 'buffer length', A, file)
      }
      for (const off of badOffsets.filter((o) => o % A !== 0)) {
        await assertMisaligned(t, `readAt offset ${off}`, () => f.readAt(aligned, off), 'offset', A, file)
        await assertMisaligned(t, `writeAt offset ${off}`, () => f.writeAt(aligned, off), 'offset', A, file)
      }
      // Batches check each operation as it is added: a synchronous throw, the batch unharmed.
      const batch = io.batch()
      const cases: Array<[string, () => unknown, string]> = [
        ['batch readAt address', () => batch.readAt(f, badAddress, 0), 'buffer address'],
        ['batch writeAt address', () => batch.writeAt(f, badAddress, 0), 'buffer address'],
        ['batch readAt length', () => batch.readAt(f, badLengths[0], 0), 'buffer length'],
        ['batch writeAt length', () => batch.writeAt(f, badLengths[2], 0), 'buffer length'],
        ['batch readAt offset', () => batch.readAt(f, aligned, 1), 'offset'],
        ['batch writeAt offset', () => batch.writeAt(f, aligned, A + 1, { link: true }), 'offset'],
      ]
      for (const [label, fn, what] of cases) {
        if (what === 'buffer address' && M === 1) continue
        const e = thrown(fn)
        t.is(e.id, 'RangeError:ERR_IO_ALIGNMENT', label)
        t.true(e.message.includes(what), `${label}: ${e.message}`)
      }
      t.is(batch.length, 0, 'refused operations were not added')
      const back = io.pool.acquire(A)
      t.deepEqual(await batch.readAt(f, back, 0).submit(), [{ ok: true, bytes: A }])
      t.true(back.subarray(0, A).every((x) => x === 0x42))
      // append whose position would be misaligned: the file's size is not a multiple of A.
      await f.close()
      fs.appendFileSync(file, 'tail')
      const g = await io.openAppend(file, { direct: true })
      await assertMisaligned(t, 'append at a misaligned end of file', () => g.append(aligned), 'offset', A, file)
      await g.close()
      const after = fs.readFileSync(file)
      assertBytes(t, after, Buffer.concat([before, Buffer.from('tail')]), 'refused operations wrote nothing')
      io.pool.release(good)
      io.pool.release(back)
    })

    tt(`${on}: direct: 'prefer' uses O_DIRECT where the file system allows it`, async (t) => {
      const io = await openBackend(t, backend)
      const dir = target.dir(t)
      const file = path.join(dir, 'prefer')
      const f = await io.create(file, { direct: 'prefer' })
      t.deepEqual(directFlagsOf(file), [true])
      const b = io.pool.acquire(4096).fill(9)
      await f.writeAt(b, 4096)
      // Alignment is enforced exactly as for direct: true.
      await assertLibError(t, "unaligned offset on a 'prefer' file that got O_DIRECT", () => f.writeAt(b, 1), 'RangeError', 'ERR_IO_ALIGNMENT')
      for (const open of ['open', 'openRw', 'openAppend'] as const) {
        const g = await io[open](file, { direct: 'prefer' })
        t.deepEqual(directFlagsOf(file), [true, true], `${open} with 'prefer'`)
        const r = io.pool.acquire(4096)
        t.is((await g.readAt(r, 4096)).bytesRead, 4096)
        t.true(r.every((x) => x === 9))
        io.pool.release(r)
        await g.close()
      }
      io.pool.release(b)
      await f.close()
    })

    tt(`${on}: a batch mixes direct and buffered files and op kinds; linked write → syncData on a direct file; a failed first link cancels its chain`, async (t) => {
      const io = await openBackend(t, backend)
      const dir = target.dir(t)
      const dfile = path.join(dir, 'direct')
      const bfile = path.join(dir, 'buffered')
      const d = await io.create(dfile, { direct: true })
      const b = await io.create(bfile)
      const A = expectedDioAlignment(dir).offset
      const w1 = io.pool.acquire(4096)
      w1.set(randomBytes(4096, 1))
      const w2 = io.pool.acquire(64 * KiB)
      w2.set(randomBytes(64 * KiB, 2))
      const plain = randomBytes(777, 3) // unaligned: fine on the buffered file
      const r = await io
        .batch()
        .writeAt(d, w1, 0, { link: true })
        .syncData(d)
        .writeAt(b, plain, 13, { link: true })
        .syncData(b, { link: true })
        .writeAt(d, w2, 4096 + A, { link: true })
        .syncData(d)
        .submit()
      t.deepEqual(r, [
        { ok: true, bytes: 4096 }, { ok: true, bytes: 0 },
        { ok: true, bytes: 777 }, { ok: true, bytes: 0 },
        { ok: true, bytes: 64 * KiB }, { ok: true, bytes: 0 },
      ])
      const r1 = io.pool.acquire(4096)
      const r2 = io.pool.acquire(64 * KiB)
      const rb = Buffer.alloc(800)
      const reads = await io.batch().readAt(d, r1, 0).readAt(b, rb, 10).readAt(d, r2, 4096 + A).submit()
      t.deepEqual(reads, [{ ok: true, bytes: 4096 }, { ok: true, bytes: 780 }, { ok: true, bytes: 64 * KiB }])
      assertBytes(t, r1, w1, 'direct block 1')
      assertBytes(t, rb.subarray(3, 780), plain, 'buffered bytes')
      assertBytes(t, r2, w2, 'direct block 2')
      assertBytes(t, fs.readFileSync(dfile).subarray(4096 + A), w2, 'direct file on disk')

      // A failing first link on a direct, read-only file: EBADF, then ECANCELED.
      const ro = await io.open(dfile, { direct: true })
      const chain = await io
        .batch()
        .writeAt(ro, w1, 0, { link: true })
        .syncData(ro, { link: true })
        .readAt(ro, r1, 0)
        .readAt(d, r2, 0)
        .submit()
      const codes = chain.map((x) => (x.ok ? `ok:${x.bytes}` : `${(x.error as NodeJS.ErrnoException).code}:${(x.error as NodeJS.ErrnoException).syscall}`))
      t.deepEqual(codes, ['EBADF:write', 'ECANCELED:fdatasync', 'ECANCELED:read', `ok:${64 * KiB}`])
      for (const buf of [w1, w2, r1, r2]) io.pool.release(buf)
      await Promise.all([d.close(), b.close(), ro.close()])
    })

    tt(`${on}: 1000 concurrent direct reads/writes at QD 32 on pool buffers, verified`, async (t) => {
      const io = await openBackend(t, backend, { queueDepth: 32 })
      const dir = target.dir(t)
      const A = expectedDioAlignment(dir).offset
      const file = path.join(dir, 'concurrent')
      const REGION = 4 * MiB
      const base = randomBytes(REGION, 11)
      fs.writeFileSync(file, base)
      const f = await io.openRw(file, { direct: true })
      const r = prng(12)
      const ops: Array<{ kind: 'r' | 'w'; pos: number; len: number; seed: number }> = []
      let wpos = REGION
      for (let i = 0; i < 1000; i++) {
        const len = A * (1 + Math.floor(r() * ((64 * KiB) / A)))
        if (i % 2 === 0) ops.push({ kind: 'r', pos: A * Math.floor(r() * ((REGION - len) / A)), len, seed: 0 })
        else {
          ops.push({ kind: 'w', pos: wpos, len, seed: 100 + i })
          wpos += len
        }
      }
      const expected = Buffer.alloc(wpos)
      base.copy(expected)
      for (const op of ops) if (op.kind === 'w') randomBytes(op.len, op.seed).copy(expected, op.pos)
      const bad: string[] = []
      const run = ops.map(async (op) => {
        const buf = io.pool.acquire(op.len)
        const view = buf.subarray(0, op.len)
        try {
          if (op.kind === 'r') {
            const res = await f.readAt(view, op.pos)
            if (res.bytesRead !== op.len || !view.equals(base.subarray(op.pos, op.pos + op.len))) bad.push(`read ${op.len} @ ${op.pos}`)
          } else {
            view.set(randomBytes(op.len, op.seed))
            await f.writeAt(view, op.pos)
          }
        } finally {
          io.pool.release(buf)
        }
      })
      // A hang detector (no operation settled for STALL_MS), not a deadline for them all.
      await allWhileProgressing(run, '1000 direct operations', { t })
      t.deepEqual(bad.slice(0, 5), [], `${bad.length} bad reads`)
      await f.close()
      assertBytes(t, fs.readFileSync(file), expected, 'the file')
    })
  }

  rootTest(`${backend}: on ramfs (private mount namespace), which refuses O_DIRECT: direct: true → ERR_IO_DIRECT_UNAVAILABLE for every open*, 'prefer' opens without it and works`, async (t) => {
    const mnt = path.join(tmpDir(t), 'ramfs')
    fs.mkdirSync(mnt)
    const r = await runNodeInPrivateMount('ramfs', mnt, [fixture('direct-child'), JSON.stringify({ enableIoUring: backend === 'io_uring', dir: mnt, scenario: 'refused' })], {
      // In the engine mode this suite runs in (npm run test:thread).
      env: cleanEnv(process.env.STREAMLINE_IO_ENGINE ? { STREAMLINE_IO_ENGINE: process.env.STREAMLINE_IO_ENGINE } : {}),
      timeoutMs: 60_000,
    })
    t.not(r.code, 97, `mount -t ramfs failed: ${summary(r)}`)
    const out = lastJson<ChildOut>(r)
    t.is(out.fatal, undefined, summary(r))
    t.is(r.code, 0, summary(r))
    t.is(out.fsType, 'ramfs', 'the child sees ramfs on its private mount')
    t.false(fs.readdirSync(mnt).length > 0, 'the mount (and its files) is invisible outside the namespace')
    checkRefusal(t, backend, out, 'ramfs')
  })

  test(`${backend}: without the native addon (STREAMLINE_IO_TEST_NO_ADDON=1): direct: true → ERR_IO_DIRECT_UNAVAILABLE, 'prefer' opens without O_DIRECT and works`, async (t) => {
    const dir = tmpDir(t)
    const r = await runNode([fixture('direct-child'), JSON.stringify({ enableIoUring: backend === 'io_uring', dir, scenario: 'refused' })], {
      env: cleanEnv({ STREAMLINE_IO_TEST_NO_ADDON: '1' }),
      timeoutMs: 60_000,
    })
    const out = lastJson<ChildOut>(r)
    t.is(out.fatal, undefined, summary(r))
    t.is(r.code, 0, summary(r))
    t.is(out.backend, 'standard', 'no addon: the standard backend')
    if (backend === 'io_uring') t.regex(String(out.fallbackReason), /addon/, 'the fallback reason names the missing addon')
    t.false(out.poolAligned, 'pool memory is plain without the addon')
    checkRefusal(t, backend, out, 'no addon')
  })
}

interface ChildOut {
  fatal?: unknown
  backend?: string
  fallbackReason?: string | null
  fsType?: string
  poolAligned?: boolean
  direct?: Record<string, { code?: string; ctor?: string; message?: string; ok?: boolean; existsAfter?: boolean }>
  prefer?: Record<string, { ok: boolean; odirect?: boolean[]; roundTrip?: boolean; error?: string }>
}

function checkRefusal(t: ExecutionContext, backend: BackendName, out: ChildOut, why: string): void {
  if (why === 'ramfs' && backend === 'io_uring' && ioUringExpected()) t.is(out.backend, 'io_uring', String(out.fallbackReason))
  for (const op of ['open', 'openRw', 'create', 'openAppend']) {
    const d = out.direct?.[op]
    t.truthy(d, `direct: true ${op} ran`)
    t.is(d?.ok, false, `${why}: direct: true ${op} must be refused: ${JSON.stringify(d)}`)
    t.is(d?.code, 'ERR_IO_DIRECT_UNAVAILABLE', `${why}: ${op}: ${JSON.stringify(d)}`)
    t.is(d?.ctor, 'Error', `${why}: ${op}: a plain Error`)
    t.regex(String(d?.message), /O_DIRECT/, `${why}: ${op}: ${d?.message}`)
    const p = out.prefer?.[op]
    t.is(p?.ok, true, `${why}: 'prefer' ${op} opens: ${JSON.stringify(p)}`)
    t.deepEqual(p?.odirect, [false], `${why}: 'prefer' ${op} opened without O_DIRECT`)
    t.true(p?.roundTrip, `${why}: 'prefer' ${op}: an unaligned round trip works`)
  }
  // A refused create/openAppend leaves no file behind (open(2) with O_CREAT creates it
  // before the file system refuses O_DIRECT; the library removes what it created).
  t.is(out.direct?.create?.existsAfter, false, `${why}: no file left after a refused direct create`)
  t.is(out.direct?.openAppend?.existsAfter, false, `${why}: no file left after a refused direct openAppend`)
}
