// The addon's helpers for the standard backend's zero-copy sendTo (ARCHITECTURE §2,
// zero-copy.md §3.3/§4): dupFd, closeFd, sendfile (thread-pool steps of at most 16 MiB,
// [bytes, errno]) and the one-shot writability wait pollWritable/pollClose — over a real
// 127.0.0.1 TCP pair. No engine is involved: this file passes the same on an addon built
// without the io-uring feature. Descriptor accounting runs in a child process
// (fixtures/sendfile-addon-child.ts): ava runs this file's tests concurrently.

import crypto from 'node:crypto'
import fs from 'node:fs'
import test from 'ava'

import { fixture, settleWithin, tmpDir } from './helpers/backends'
import { cleanEnv, lastJson, runNode, summary } from './helpers/child'
import {
  EAGAIN,
  EBADF,
  ECONNRESET,
  EPIPE,
  SENDFILE_TASK_BYTES,
  fdOf,
  randomFile,
  sendAll,
  sendfileAddon,
  tcpPair,
  writable,
} from './helpers/sendfile-addon'

// `any` on purpose: these calls break the types the way untyped JavaScript callers do.
/* eslint-disable @typescript-eslint/no-explicit-any */
type Loose = any

const MiB = 1 << 20
/** A descriptor number above any RLIMIT_NOFILE: never open. */
const NEVER_OPEN = 2 ** 31 - 1

function inode(fd: number): string {
  return fs.readlinkSync(`/proc/self/fd/${fd}`)
}

test('dupFd gives another descriptor for the same socket; sendfile through it arrives; closeFd closes only the dup', async (t) => {
  const a = sendfileAddon()
  const pair = await tcpPair()
  t.teardown(() => pair.close())
  const file = randomFile(tmpDir(t), 'f', 4096)
  t.teardown(() => fs.closeSync(file.fd))
  const fd = fdOf(pair.sender)
  const dup = a.dupFd(fd)
  t.true(dup >= 0, `dupFd: ${dup}`)
  t.not(dup, fd)
  t.is(inode(dup), inode(fd), 'the dup refers to the same socket')
  t.regex(inode(dup), /^socket:\[\d+\]$/)
  const [bytes, errno] = await a.sendfile(dup, file.fd, 0, 4096)
  t.deepEqual([bytes, errno], [4096, 0])
  t.is(await pair.waitFor(4096), 4096)
  t.is(a.closeFd(dup), 0)
  t.is(a.closeFd(dup), -EBADF, 'closed: a second close is EBADF')
  // The original is untouched: Node still writes on it.
  await new Promise<void>((resolve, reject) => pair.sender.write('after', (e) => (e ? reject(e) : resolve())))
  t.is(await pair.waitFor(4096 + 5), 4096 + 5)
  t.is(pair.got.hash.digest('hex'), crypto.createHash('sha256').update(Buffer.concat([file.data, Buffer.from('after')])).digest('hex'))
})

for (const size of [1, MiB, 40 * MiB]) {
  test(`sendfile of ${size} B arrives byte-exact (sha256 both sides), in steps of at most 16 MiB`, async (t) => {
    const a = sendfileAddon()
    const pair = await tcpPair()
    t.teardown(() => pair.close())
    const file = randomFile(tmpDir(t), 'f', size)
    t.teardown(() => fs.closeSync(file.fd))
    const dup = a.dupFd(fdOf(pair.sender))
    t.true(dup >= 0)
    const out = await sendAll(a, dup, file.fd, 0, size)
    t.is(a.closeFd(dup), 0)
    t.is(out.errno, 0)
    t.is(out.sent, size)
    t.true(out.largestStep <= SENDFILE_TASK_BYTES, `one task sent ${out.largestStep}`)
    t.true(out.calls >= Math.ceil(size / SENDFILE_TASK_BYTES), `${out.calls} calls for ${size} B`)
    t.is(await pair.waitFor(size), size)
    t.is(pair.got.hash.digest('hex'), file.sha256)
    t.log(`${out.calls} calls, ${out.waits} writability waits`)
  })
}

test('sendfile past the end of the file sends up to the end with errno 0; at or past the end, 0', async (t) => {
  const a = sendfileAddon()
  const pair = await tcpPair()
  t.teardown(() => pair.close())
  const file = randomFile(tmpDir(t), 'f', 1000)
  t.teardown(() => fs.closeSync(file.fd))
  const dup = a.dupFd(fdOf(pair.sender))
  t.teardown(() => a.closeFd(dup))
  t.deepEqual([...(await a.sendfile(dup, file.fd, 900, 500))], [100, 0])
  t.deepEqual([...(await a.sendfile(dup, file.fd, 1000, 10))], [0, 0])
  t.deepEqual([...(await a.sendfile(dup, file.fd, 5000, 10))], [0, 0])
  t.deepEqual([...(await a.sendfile(dup, file.fd, 0, 0))], [0, 0], 'len 0: nothing to do')
  t.is(await pair.waitFor(100), 100)
  t.is(pair.got.hash.digest('hex'), crypto.createHash('sha256').update(file.data.subarray(900)).digest('hex'))
})

test('a paused reader: EAGAIN with bytes > 0, pollWritable fires once it reads again, then everything arrives', async (t) => {
  const a = sendfileAddon()
  const pair = await tcpPair({ paused: true })
  t.teardown(() => pair.close())
  const size = 32 * MiB
  const file = randomFile(tmpDir(t), 'f', size)
  t.teardown(() => fs.closeSync(file.fd))
  const dup = a.dupFd(fdOf(pair.sender))
  let resumeTimer: NodeJS.Timeout | undefined
  const out = await settleWithin(
    sendAll(a, dup, file.fd, 0, size, () => {
      resumeTimer = setTimeout(() => pair.receiver.resume(), 200)
    }),
    120_000,
    'the paused-reader transfer',
  )
  clearTimeout(resumeTimer)
  t.is(a.closeFd(dup), 0)
  t.is(out.errno, 0)
  t.is(out.sent, size)
  t.not(out.firstEagain, null, 'a reader that does not read fills the socket: EAGAIN')
  t.true((out.firstEagain?.bytes ?? 0) > 0, 'the step that hit EAGAIN had sent what fitted first')
  t.true(out.waits >= 1, 'the loop waited for writability')
  t.is(await pair.waitFor(size), size)
  t.is(pair.got.hash.digest('hex'), file.sha256)
})

test('pollClose before the wait fires: the callback is never called; pollClose is idempotent, also after firing', async (t) => {
  const a = sendfileAddon()
  const pair = await tcpPair()
  t.teardown(() => pair.close())
  const dup = a.dupFd(fdOf(pair.sender))
  t.teardown(() => a.closeFd(dup))
  // An idle connected socket is writable: a wait left open fires on the next loop turn.
  let closedCalls = 0
  const h = a.pollWritable(dup, () => closedCalls++)
  t.is(typeof h, 'object')
  a.pollClose(h)
  a.pollClose(h)
  // The control: the same wait not closed does fire.
  const w = writable(a, dup)
  await settleWithin(w.fired, 30_000, 'a wait on a writable socket')
  a.pollClose(w.handle)
  // A few more loop turns for a wait that should not exist to fire.
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  t.is(closedCalls, 0)
  // The callback runs through napi_make_callback: its microtasks run right after it,
  // before the loop goes on to an immediate queued before it fired.
  const order: string[] = []
  await new Promise<void>((resolve) => {
    let h2: object | undefined = undefined
    h2 = a.pollWritable(dup, () => {
      order.push('cb')
      a.pollClose(h2 as never) // from inside its own callback: a no-op
      void Promise.resolve().then(() => order.push('microtask'))
      setImmediate(() => {
        order.push('immediate')
        resolve()
      })
    })
  })
  t.deepEqual(order, ['cb', 'microtask', 'immediate'])
})

test('a peer that goes away mid-transfer: errno EPIPE or ECONNRESET, not a throw', async (t) => {
  const a = sendfileAddon()
  const pair = await tcpPair()
  t.teardown(() => pair.close())
  const size = 64 * MiB
  const file = randomFile(tmpDir(t), 'f', size)
  t.teardown(() => fs.closeSync(file.fd))
  const dup = a.dupFd(fdOf(pair.sender))
  void pair.waitFor(MiB).then(() => pair.receiver.destroy())
  const out = await settleWithin(sendAll(a, dup, file.fd, 0, size), 120_000, 'the transfer to a vanishing peer')
  t.is(a.closeFd(dup), 0)
  t.true([EPIPE, ECONNRESET].includes(out.errno), `errno ${out.errno} after ${out.sent} bytes`)
  t.true(out.sent < size)
})

test('a descriptor that is not open: errno EBADF in the result, never a throw or rejection', async (t) => {
  const a = sendfileAddon()
  const pair = await tcpPair()
  t.teardown(() => pair.close())
  const file = randomFile(tmpDir(t), 'f', 100)
  t.teardown(() => fs.closeSync(file.fd))
  const dup = a.dupFd(fdOf(pair.sender))
  t.teardown(() => a.closeFd(dup))
  t.deepEqual([...(await a.sendfile(NEVER_OPEN, file.fd, 0, 100))], [0, EBADF])
  t.deepEqual([...(await a.sendfile(dup, NEVER_OPEN, 0, 100))], [0, EBADF])
  t.is(a.dupFd(NEVER_OPEN), -EBADF)
  t.is(a.closeFd(NEVER_OPEN), -EBADF)
  const err = t.throws(() => a.pollWritable(NEVER_OPEN, () => t.fail('called back for a bad descriptor')))
  t.is((err as NodeJS.ErrnoException).code, 'EBADF')
  t.is((err as NodeJS.ErrnoException).errno, EBADF)
  // A regular file: epoll cannot watch it (EPERM), again a throw with .errno, no wait.
  const perm = t.throws(() => a.pollWritable(file.fd, () => t.fail('called back for a regular file')))
  t.is((perm as NodeJS.ErrnoException).code, 'EPERM')
})

const badFds: Array<[string, unknown, 'TypeError' | 'RangeError']> = [
  ['NaN', NaN, 'RangeError'],
  ['-1', -1, 'RangeError'],
  ['2**40', 2 ** 40, 'RangeError'],
  ['2**31', 2 ** 31, 'RangeError'],
  ['1.5', 1.5, 'RangeError'],
  ['Infinity', Infinity, 'RangeError'],
  ['a numeric string', '3', 'TypeError'],
  ['null', null, 'TypeError'],
  ['undefined', undefined, 'TypeError'],
  ['an object', {}, 'TypeError'],
  ['a bigint', 3n, 'TypeError'],
  ['a symbol', Symbol('fd'), 'TypeError'],
]
const badOffsets: Array<[string, unknown, 'TypeError' | 'RangeError']> = [
  ['NaN', NaN, 'RangeError'],
  ['-1', -1, 'RangeError'],
  ['2**53', 2 ** 53, 'RangeError'],
  ['0.5', 0.5, 'RangeError'],
  ['-Infinity', -Infinity, 'RangeError'],
  ['a string', '0', 'TypeError'],
  ['undefined', undefined, 'TypeError'],
]
const codeOf = (kind: string): string => (kind === 'TypeError' ? 'ERR_INVALID_ARG_TYPE' : 'ERR_OUT_OF_RANGE')

test('hostile arguments: TypeError/RangeError with Node codes, sendfile as a rejection, never a crash', async (t) => {
  const a = sendfileAddon() as Loose
  for (const [what, v, kind] of badFds) {
    for (const f of ['dupFd', 'closeFd'] as const) {
      t.throws(() => a[f](v), { name: kind, code: codeOf(kind) } as never, `${f}(${what})`)
    }
    t.throws(() => a.pollWritable(v, () => undefined), { name: kind, code: codeOf(kind) } as never, `pollWritable(${what})`)
    for (const args of [[v, 0, 0, 1], [0, v, 0, 1]]) {
      let p: unknown
      t.notThrows(() => (p = a.sendfile(...args)), `sendfile(${String(args.map(String))}) does not throw`)
      t.true(p instanceof Promise)
      await t.throwsAsync(p as Promise<unknown>, { name: kind, code: codeOf(kind) } as never, `sendfile with fd ${what}`)
    }
  }
  for (const [what, v, kind] of badOffsets) {
    await t.throwsAsync(a.sendfile(0, 0, v, 1), { name: kind, code: codeOf(kind) } as never, `sendfile offset ${what}`)
    await t.throwsAsync(a.sendfile(0, 0, 0, v), { name: kind, code: codeOf(kind) } as never, `sendfile len ${what}`)
  }
  await t.throwsAsync(a.sendfile(), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' } as never, 'sendfile()')
  t.throws(() => a.dupFd(), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' } as never)
  for (const cb of [undefined, null, 1, 'cb', {}, Symbol('cb')]) {
    t.throws(() => a.pollWritable(0, cb), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /"cb"/ } as never, `pollWritable(0, ${String(cb)})`)
  }
  for (const h of [undefined, null, 0, 'h', {}, [], () => undefined, Buffer.alloc(8)]) {
    t.throws(() => a.pollClose(h), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /"handle"/ } as never, `pollClose(${String(h)})`)
  }
  // Another native object of the addon is not a wait either.
  const probe = a.probe(8, 0) as { ok: boolean }
  if (probe.ok) {
    const engine = a.createEngine({ sqDepth: 8, cqDepth: 0, queueCapacity: 8, fixedFileSlots: 0, testSetupErrno: 0, testFailAfter: 0, mode: 'inline' }, () => undefined)
    t.throws(() => a.pollClose(engine), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' } as never, 'pollClose(engine)')
    a.destroy(engine)
  }
  // Still working after all that.
  const fd = fs.openSync('/dev/null', 'r')
  const dup = a.dupFd(fd) as number
  fs.closeSync(fd)
  t.true(dup >= 0)
  t.is(a.closeFd(dup), 0)
})

interface ChildOut {
  before?: string[]
  after?: string[]
  pollCloseCalledBack?: number
  workers?: Array<{ exitCode: number; armed: boolean }>
  uncaught?: string[]
  transfers?: number
  waits?: number
  fatal?: string
}

test('in a process of its own: many dups, closes, waits and steps leave /proc/self/fd as it was; a closed wait never calls back and the process exits; worker threads with a wait pending end cleanly; a throwing callback is an uncaught exception', async (t) => {
  const r = await runNode([fixture('sendfile-addon-child'), JSON.stringify({ dir: tmpDir(t) })], { env: cleanEnv(), timeoutMs: 90_000 })
  t.false(r.timedOut, `hung: ${summary(r)}`)
  t.is(r.signal, null, `the child died of a signal: ${summary(r)}`)
  t.is(r.code, 0, summary(r))
  const out = lastJson<ChildOut>(r)
  t.is(out.fatal, undefined, summary(r))
  t.deepEqual(out.after, out.before, 'the same descriptors before and after')
  t.is(out.pollCloseCalledBack, 0, 'no callback after pollClose')
  t.true((out.waits ?? 0) > 0, 'the waits really waited (EAGAIN path)')
  t.true((out.transfers ?? 0) > 0)
  t.deepEqual(
    out.workers?.map((w) => [w.exitCode, w.armed]),
    [
      [1, true],
      [0, true],
    ],
    'a terminated worker and one that called process.exit(0), each with a wait pending',
  )
  t.deepEqual(out.uncaught, ['thrown by a pollWritable callback'], "a callback's exception is an uncaught exception")
})
