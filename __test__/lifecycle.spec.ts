// Lifecycle: close() with work in flight, closing twice, idle Io not keeping a process
// alive, garbage collection while buffers are in flight, worker-thread teardown.

import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

import {
  assertLibError,
  backends,
  describeError,
  fixture,
  ioUringExpected,
  libEntry,
  openBackend,
  outcome,
  pattern,
  settleWithin,
  tmpDir,
} from './helpers/backends'
import { cleanEnv, lastJson, runNode, summary } from './helpers/child'

for (const backend of backends) {
  test(`${backend}: io.close() with 2000 operations in flight: every promise settles, then ERR_IO_CLOSED`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'inflight')
    const base = pattern(1024 * 1024, 0, 1)
    fs.writeFileSync(file, base)
    const f = await io.openRw(file)
    const CH = 4096
    const WRITE_AT = base.length
    type Res = { kind: 'w'; i: number } | { kind: 'r'; i: number; buf: Buffer }
    const ops: Array<Promise<Res>> = []
    for (let i = 0; i < 1000; i++) {
      ops.push(f.writeAt(pattern(CH, WRITE_AT + i * CH, 2), WRITE_AT + i * CH).then(() => ({ kind: 'w' as const, i })))
      const buf = Buffer.alloc(CH)
      ops.push(f.readAt(buf, (i * 997) % (base.length - CH)).then(() => ({ kind: 'r' as const, i, buf })))
    }
    const closing = io.close()
    // Calls made after close() began are refused even before it resolves.
    await assertLibError(t, 'writeAt after close() began', () => f.writeAt(Buffer.from('late'), 0), 'Error', 'ERR_IO_CLOSED')
    await assertLibError(t, 'open after close() began', () => io.open(file), 'Error', 'ERR_IO_CLOSED')

    const settled = await settleWithin(Promise.allSettled(ops), 60_000, 'operations in flight at close()')
    await settleWithin(closing, 60_000, 'io.close()')
    let fulfilled = 0
    let closedRejections = 0
    const otherRejections: string[] = []
    const writtenOk: number[] = []
    for (const s of settled) {
      if (s.status === 'fulfilled') {
        fulfilled++
        const v = s.value
        if (v.kind === 'w') writtenOk.push(v.i)
        else {
          const at = (v.i * 997) % (base.length - CH)
          if (!v.buf.equals(base.subarray(at, at + CH))) otherRejections.push(`read ${v.i} fulfilled with wrong bytes`)
        }
      } else if ((s.reason as { code?: unknown })?.code === 'ERR_IO_CLOSED') closedRejections++
      else otherRejections.push(JSON.stringify(describeError(s.reason)))
    }
    t.log(`fulfilled ${fulfilled}, rejected ERR_IO_CLOSED ${closedRejections}`)
    t.deepEqual(otherRejections.slice(0, 5), [], 'every operation either completes correctly or rejects ERR_IO_CLOSED')
    // Every write that reported success is on disk.
    const disk = fs.readFileSync(file)
    const lost = writtenOk.filter((i) => !disk.subarray(WRITE_AT + i * CH, WRITE_AT + (i + 1) * CH).equals(pattern(CH, WRITE_AT + i * CH, 2)))
    t.deepEqual(lost, [], 'writes that resolved are on disk')

    await assertLibError(t, 'readAt after close', () => f.readAt(Buffer.alloc(1), 0), 'Error', 'ERR_IO_CLOSED')
    await assertLibError(t, 'create after close', () => io.create(path.join(dir, 'x')), 'Error', 'ERR_IO_CLOSED')
    const again = await outcome(() => io.close())
    t.true(
      again.kind === 'fulfilled' || (again.kind === 'rejected' && (again.error as { code?: unknown })?.code === 'ERR_IO_CLOSED'),
      `a second io.close() resolves or rejects ERR_IO_CLOSED: ${again.kind} ${JSON.stringify(describeError((again as { error?: unknown }).error))}`,
    )
  })

  test(`${backend}: file.close() with operations in flight settles them all`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'fclose')
    const f = await io.create(file)
    const ops = Array.from({ length: 500 }, (_, i) => f.writeAt(pattern(1000, i * 1000, 3), i * 1000))
    const closing = f.close()
    const settled = await settleWithin(Promise.allSettled(ops), 60_000, 'writes in flight at file.close()')
    await settleWithin(closing, 60_000, 'file.close()')
    const bad = settled.filter((s) => s.status === 'rejected' && (s.reason as { code?: unknown })?.code !== 'ERR_IO_CLOSED')
    t.deepEqual(bad.map((s) => JSON.stringify(describeError((s as PromiseRejectedResult).reason))).slice(0, 3), [])
    const disk = fs.readFileSync(file)
    settled.forEach((s, i) => {
      if (s.status === 'fulfilled' && !disk.subarray(i * 1000, (i + 1) * 1000).equals(pattern(1000, i * 1000, 3))) {
        t.fail(`write ${i} resolved but is not on disk`)
      }
    })
    // The Io itself stays usable.
    const g = await io.open(file)
    await g.close()
    t.pass()
  })

  test(`${backend}: file.close() twice never closes another file that reused the descriptor`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const a = await io.create(path.join(dir, 'a'))
    await a.close()
    // B is likely to get A's old descriptor number (and fixed-file slot).
    const b = await io.create(path.join(dir, 'b'))
    const second = await outcome(() => a.close())
    t.true(
      second.kind === 'fulfilled' || (second.kind === 'rejected' && (second.error as { code?: unknown })?.code === 'ERR_IO_CLOSED'),
      `second close resolves or rejects ERR_IO_CLOSED: ${second.kind} ${JSON.stringify(describeError((second as { error?: unknown }).error))}`,
    )
    await b.writeAt(Buffer.from('b is still open'), 0)
    const buf = Buffer.alloc(15)
    await b.readAt(buf, 0)
    t.is(buf.toString(), 'b is still open')
    // Two closes at once both settle.
    const both = await settleWithin(Promise.allSettled([b.close(), b.close()]), 30_000, 'concurrent closes')
    for (const s of both) {
      if (s.status === 'rejected') t.is((s.reason as { code?: unknown })?.code, 'ERR_IO_CLOSED')
    }
    t.is(fs.readFileSync(path.join(dir, 'b'), 'utf8'), 'b is still open')
  })

  test(`${backend}: two Io instances are independent; closing one leaves the other working`, async (t) => {
    const io1 = await openBackend(t, backend)
    const io2 = await openBackend(t, backend)
    const dir = tmpDir(t)
    const f1 = await io1.create(path.join(dir, 'one'))
    const f2 = await io2.create(path.join(dir, 'two'))
    await io1.close()
    await assertLibError(t, 'file of the closed Io', () => f1.size(), 'Error', 'ERR_IO_CLOSED')
    await f2.writeAt(Buffer.from('two'), 0)
    t.is(await f2.size(), 3)
    await f2.close()
  })

  test(`${backend}: an idle Io that is never closed does not keep a process alive`, async (t) => {
    const dir = tmpDir(t)
    const script = `
      const { openIo } = require(${JSON.stringify(libEntry)});
      (async () => {
        const io = await openIo({ enableIoUring: ${backend === 'io_uring'} });
        const f = await io.create(${JSON.stringify(path.join(dir, 'idle'))});
        await f.writeAt(Buffer.from('written'), 0);
        const unused = await openIo({ enableIoUring: ${backend === 'io_uring'} });
        console.log(JSON.stringify({ done: true, backend: io.backend, unused: unused.backend }));
        // Neither the file nor either Io is closed.
      })().catch((e) => { console.log(JSON.stringify({ fatal: String(e && e.stack || e) })); process.exitCode = 1 });
    `
    // The child needs well under a second of work; a kept-alive loop then sits idle for
    // good, and runNode kills a child idle (no CPU, I/O or output) for 60 s — however
    // long a machine busy with other work makes the child's work take.
    const r = await runNode(['-e', script], { env: cleanEnv(), timeoutMs: 60_000 })
    t.false(r.timedOut, `the child sat idle for 60 s without exiting: an idle Io keeps the event loop alive. ${summary(r)}`)
    t.is(r.code, 0, summary(r))
    const out = lastJson<{ done?: boolean; backend?: string; fatal?: string }>(r)
    t.true(out.done, summary(r))
    if (backend === 'io_uring' && ioUringExpected()) t.is(out.backend, 'io_uring')
    t.is(fs.readFileSync(path.join(dir, 'idle'), 'utf8'), 'written')
  })

  test(`${backend}: GC while buffers are in flight (node --expose-gc) loses and corrupts nothing`, async (t) => {
    const dir = tmpDir(t)
    const r = await runNode(['--expose-gc', fixture('gc-inflight'), JSON.stringify({ enableIoUring: backend === 'io_uring', dir })], {
      env: cleanEnv(),
      timeoutMs: 90_000,
    })
    const out = lastJson<{ backend?: string; fallbackReason?: string | null; badWrites?: number; okReads?: number; n?: number; diskOk?: boolean; sharedOk?: boolean; gcRuns?: number; fatal?: string }>(r)
    t.is(out.fatal, undefined, summary(r))
    t.is(r.signal, null, `the child died of a signal: ${summary(r)}`)
    t.is(r.code, 0, summary(r))
    if (backend === 'io_uring' && ioUringExpected()) t.is(out.backend, 'io_uring', `fallbackReason ${out.fallbackReason}`)
    t.is(out.badWrites, 0)
    t.is(out.okReads, out.n, 'every read returned the right bytes')
    t.true(out.diskOk, 'the file holds exactly what was written')
    t.true(out.sharedOk, 'reads sharing one buffer object all completed with the right bytes')
    t.true((out.gcRuns ?? 0) > 0)
  })

  test(`${backend}: worker threads ending or terminated with I/O in flight do not take the process down`, async (t) => {
    const dir = tmpDir(t)
    const r = await runNode([fixture('worker-teardown'), JSON.stringify({ enableIoUring: backend === 'io_uring', dir, lib: libEntry })], {
      env: cleanEnv(),
      timeoutMs: 90_000,
    })
    t.false(r.timedOut, `hung: ${summary(r)}`)
    t.is(r.signal, null, `the process died of a signal: ${summary(r)}`)
    t.is(r.code, 0, summary(r))
    const out = lastJson<{ returnedOk?: boolean; mainOk?: boolean; returned?: { exitCode: number }; fatal?: string }>(r)
    t.is(out.fatal, undefined, summary(r))
    t.is(out.returned?.exitCode, 0, 'a worker that returns with an unclosed Io exits normally')
    t.true(out.returnedOk, "the returned worker's writes are all on disk")
    t.true(out.mainOk, 'the main thread still does I/O afterwards')
  })
}

for (const backend of backends) {
  test(`${backend}: opening and closing 50 Ios and 2000 files gives back every descriptor and thread`, async (t) => {
    const dir = tmpDir(t)
    const r = await runNode([fixture('resources'), JSON.stringify({ enableIoUring: backend === 'io_uring', dir })], {
      env: cleanEnv(),
      timeoutMs: 90_000,
    })
    const out = lastJson<{
      base?: { fds: number; threads: number }
      afterIos?: { fds: number; threads: number }
      afterFiles?: { fds: number; threads: number; midFds: number; afterIoClose: number; lateCloseCodes: string[] }
      fatal?: string
    }>(r)
    t.is(out.fatal, undefined, summary(r))
    t.is(r.code, 0, summary(r))
    t.log(JSON.stringify(out))
    const base = out.base!
    t.true(out.afterIos!.fds <= base.fds + 2, `descriptors after 50 Ios: ${out.afterIos!.fds}, baseline ${base.fds}`)
    t.true(out.afterIos!.threads <= base.threads + 1, `threads after 50 Ios: ${out.afterIos!.threads}, baseline ${base.threads}`)
    t.true(out.afterFiles!.midFds <= base.fds + 4, `descriptors after 2000 files opened and closed: ${out.afterFiles!.midFds}, baseline ${base.fds}`)
    t.true(out.afterFiles!.fds <= base.fds + 2, `descriptors after an Io closed with 20 files open, then those closed: ${out.afterFiles!.fds}, baseline ${base.fds} (right after io.close: ${out.afterFiles!.afterIoClose}; late closes: ${out.afterFiles!.lateCloseCodes})`)
    t.true(out.afterFiles!.threads <= base.threads + 1, `threads: ${out.afterFiles!.threads}, baseline ${base.threads}`)
  })

  test(`${backend}: with queueDepth 1, writes queued behind the limit never land in a file opened after close`, async (t) => {
    const io = await openBackend(t, backend, { queueDepth: 1 })
    const dir = tmpDir(t)
    const a = await io.create(path.join(dir, 'a'))
    const writes = Array.from({ length: 300 }, (_, i) => a.writeAt(Buffer.alloc(100, 0x41), i * 100))
    const closing = a.close()
    // B is opened while A's writes wait in the queue; it may get A's descriptor number.
    const b = await io.create(path.join(dir, 'b'))
    await b.writeAt(Buffer.alloc(50, 0x42), 0)
    const settled = await settleWithin(Promise.allSettled(writes), 60_000, 'queued writes')
    await settleWithin(closing, 60_000, 'close of A')
    const bad = settled.filter((s) => s.status === 'rejected' && (s.reason as { code?: unknown })?.code !== 'ERR_IO_CLOSED')
    t.deepEqual(bad.map((s) => JSON.stringify(describeError((s as PromiseRejectedResult).reason))).slice(0, 3), [], 'queued writes complete or reject ERR_IO_CLOSED')
    await b.close()
    t.deepEqual(fs.readFileSync(path.join(dir, 'b')), Buffer.alloc(50, 0x42), "B holds only its own bytes, none of A's")
    const disk = fs.readFileSync(path.join(dir, 'a'))
    settled.forEach((s, i) => {
      if (s.status === 'fulfilled' && !disk.subarray(i * 100, (i + 1) * 100).equals(Buffer.alloc(100, 0x41))) t.fail(`write ${i} resolved but is not in A`)
    })
  })

  test(`${backend}: io.close() with queueDepth 4 and 1000 operations queued behind the limit: all settle`, async (t) => {
    const io = await openBackend(t, backend, { queueDepth: 4 })
    const dir = tmpDir(t)
    const f = await io.create(path.join(dir, 'q'))
    const ops = Array.from({ length: 1000 }, (_, i) => f.writeAt(Buffer.alloc(512, i & 0xff), i * 512))
    const closing = io.close()
    const settled = await settleWithin(Promise.allSettled(ops), 60_000, 'queued operations at io.close()')
    await settleWithin(closing, 60_000, 'io.close()')
    const bad = settled.filter((s) => s.status === 'rejected' && (s.reason as { code?: unknown })?.code !== 'ERR_IO_CLOSED')
    t.deepEqual(bad.map((s) => JSON.stringify(describeError((s as PromiseRejectedResult).reason))).slice(0, 3), [])
    const disk = fs.readFileSync(path.join(dir, 'q'))
    const lost = settled.flatMap((s, i) => (s.status === 'fulfilled' && !disk.subarray(i * 512, (i + 1) * 512).equals(Buffer.alloc(512, i & 0xff)) ? [i] : []))
    t.deepEqual(lost, [], 'every write that resolved is on disk')
    t.log(`fulfilled ${settled.filter((s) => s.status === 'fulfilled').length} of 1000`)
  })
}

for (const backend of backends) {
  test(`${backend}: process.exit() with 5000 operations in flight exits cleanly`, async (t) => {
    const dir = tmpDir(t)
    const script = `
      const { openIo } = require(${JSON.stringify(libEntry)});
      (async () => {
        const io = await openIo({ enableIoUring: ${backend === 'io_uring'} });
        const f = await io.create(${JSON.stringify(path.join(dir, 'exit'))});
        for (let i = 0; i < 5000; i++) f.writeAt(Buffer.alloc(4096, 1), i * 4096).catch(() => {});
        for (let i = 0; i < 1000; i++) f.readAt(Buffer.alloc(4096), i * 4096).catch(() => {});
        console.log(JSON.stringify({ backend: io.backend }));
        process.exit(7);
      })();
    `
    const r = await runNode(['-e', script], { env: cleanEnv(), timeoutMs: 30_000 })
    t.false(r.timedOut, `hung at exit: ${summary(r)}`)
    t.is(r.signal, null, `crashed at exit: ${summary(r)}`)
    t.is(r.code, 7, summary(r))
    t.is(r.stderr, '', 'nothing printed at exit')
  })
}

for (const backend of backends) {
  test(`${backend}: 20 Ios opened at once, used at once, closed at once`, async (t) => {
    const dir = tmpDir(t)
    const ios = await Promise.all(Array.from({ length: 20 }, () => openBackend(t, backend)))
    const ok = await Promise.all(
      ios.map(async (io, i) => {
        const f = await io.create(path.join(dir, `io-${i}`))
        await f.writeAt(pattern(10_000, 0, i), 0)
        const b = Buffer.alloc(10_000)
        await f.readAt(b, 0)
        await f.close()
        return b.equals(pattern(10_000, 0, i))
      }),
    )
    t.deepEqual(ok, Array(20).fill(true))
    await settleWithin(Promise.all(ios.map((io) => io.close())), 60_000, 'closing 20 Ios at once')
  })
}
