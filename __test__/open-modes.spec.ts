// Opening modes and their errors. System errors are shaped like node:fs's (code,
// negative errno, syscall, path) and both backends reject with the same ones.

import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

import {
  assertSystemError,
  backends,
  describeError,
  fixture,
  ioUringExpected,
  negErrno,
  openBackend,
  outcome,
  tmpDir,
} from './helpers/backends'
import { cleanEnv, lastJson, runNode, summary } from './helpers/child'
import type { AsyncFile, Io } from '../ts/types'

function umask(): number {
  const m = /^Umask:\s*([0-7]+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))
  return m ? parseInt(m[1], 8) : 0o022
}

/** What node:fs itself throws for a synchronous call. */
function nodeError(fn: () => unknown): { code?: unknown; errno?: unknown } {
  try {
    fn()
  } catch (e) {
    const d = describeError(e)
    return { code: d.code, errno: d.errno }
  }
  return {}
}

for (const backend of backends) {
  test(`${backend}: open() is read-only: reads work, writes reject like node:fs`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'ro')
    fs.writeFileSync(file, 'read me')
    const f = await io.open(file)
    t.is(f.path, file)
    const b = Buffer.alloc(7)
    t.is((await f.readAt(b, 0)).bytesRead, 7)
    t.is(b.toString(), 'read me')

    const fd = fs.openSync(file, 'r')
    const nodeWrite = nodeError(() => fs.writeSync(fd, Buffer.from('x'), 0, 1, 0))
    const nodeTrunc = nodeError(() => fs.ftruncateSync(fd, 1))
    fs.closeSync(fd)
    t.is(nodeWrite.code, 'EBADF')

    await assertSystemError(t, 'writeAt on read-only', () => f.writeAt(Buffer.from('x'), 0), { code: 'EBADF', path: file })
    await assertSystemError(t, 'append on read-only', () => f.append(Buffer.from('x')), { code: 'EBADF', path: file })
    await assertSystemError(t, 'truncate on read-only', () => f.truncate(1), { code: String(nodeTrunc.code), path: file })
    await assertSystemError(t, 'allocate on read-only (fallocate(2): EBADF)', () => f.allocate(4096), { code: 'EBADF', path: file })
    t.is(fs.readFileSync(file, 'utf8'), 'read me', 'nothing was written')
    // The file is still usable after the errors.
    t.is((await f.readAt(Buffer.alloc(4), 5)).bytesRead, 2)
    await f.close()
  })

  test(`${backend}: open/openRw of a missing file reject ENOENT; openRw opens an existing file read-write without truncating`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const missing = path.join(dir, 'missing')
    await assertSystemError(t, 'openRw missing', () => io.openRw(missing), { code: 'ENOENT', path: missing })
    await assertSystemError(t, 'open missing', () => io.open(missing), { code: 'ENOENT', path: missing })
    t.false(fs.existsSync(missing), 'openRw must not create')

    const file = path.join(dir, 'rw')
    fs.writeFileSync(file, 'abcdef')
    const f = await io.openRw(file)
    t.is(await f.size(), 6, 'openRw does not truncate')
    await f.writeAt(Buffer.from('Z'), 2)
    await f.close()
    t.is(fs.readFileSync(file, 'utf8'), 'abZdef')
  })

  test(`${backend}: create() creates, and truncates an existing file; the file is read-write`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'c')
    const f1 = await io.create(file)
    t.true(fs.existsSync(file))
    await f1.writeAt(Buffer.alloc(100, 1), 0)
    await f1.close()
    t.is(fs.statSync(file).size, 100)

    const f2 = await io.create(file)
    t.is(await f2.size(), 0, 'create truncates')
    t.is(fs.statSync(file).size, 0)
    await f2.writeAt(Buffer.from('new'), 0)
    const b = Buffer.alloc(3)
    await f2.readAt(b, 0)
    t.is(b.toString(), 'new')
    await f2.close()
  })

  test(`${backend}: create in a missing directory rejects ENOENT; a file as a directory rejects ENOTDIR`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const inMissing = path.join(dir, 'no-such-dir', 'f')
    await assertSystemError(t, 'create in missing dir', () => io.create(inMissing), { code: 'ENOENT', path: inMissing })
    await assertSystemError(t, 'openAppend in missing dir', () => io.openAppend(inMissing), { code: 'ENOENT', path: inMissing })
    const file = path.join(dir, 'plain')
    fs.writeFileSync(file, '')
    const under = path.join(file, 'x')
    const nodeCode = nodeError(() => fs.openSync(under, 'r')).code
    t.is(nodeCode, 'ENOTDIR')
    await assertSystemError(t, 'open file/x', () => io.open(under), { code: 'ENOTDIR', path: under })
    await assertSystemError(t, 'create file/x', () => io.create(under), { code: 'ENOTDIR', path: under })
  })

  test(`${backend}: mode is applied on create (0o600), default 0o644, not changed on an existing file`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const mask = umask()
    const perm = (p: string): number => fs.statSync(p).mode & 0o777

    const a = path.join(dir, 'a')
    await (await io.create(a, { mode: 0o600 })).close()
    t.is(perm(a), 0o600 & ~mask, 'create with mode 0o600')

    const b = path.join(dir, 'b')
    await (await io.openAppend(b, { mode: 0o600 })).close()
    t.is(perm(b), 0o600 & ~mask, 'openAppend with mode 0o600')

    const c = path.join(dir, 'c')
    await (await io.create(c)).close()
    t.is(perm(c), 0o644 & ~mask, 'create default mode')

    const d = path.join(dir, 'd')
    await (await io.openAppend(d)).close()
    t.is(perm(d), 0o644 & ~mask, 'openAppend default mode')

    const e = path.join(dir, 'e')
    await (await io.create(e, { mode: 0o640 })).close()
    t.is(perm(e), 0o640 & ~mask, 'create with mode 0o640')

    // O_CREAT's mode applies only when the file is created.
    fs.chmodSync(a, 0o644)
    await (await io.create(a, { mode: 0o600 })).close()
    t.is(perm(a), 0o644, 'create of an existing file keeps its mode')
    await (await io.openAppend(a, { mode: 0o600 })).close()
    t.is(perm(a), 0o644, 'openAppend of an existing file keeps its mode')
  })

  test(`${backend}: every open* on a directory rejects EISDIR`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const sub = path.join(dir, 'sub')
    fs.mkdirSync(sub)
    const opens: Array<[string, (p: string) => Promise<AsyncFile>]> = [
      ['open', (p) => io.open(p)],
      ['openRw', (p) => io.openRw(p)],
      ['create', (p) => io.create(p)],
      ['openAppend', (p) => io.openAppend(p)],
    ]
    for (const [name, fn] of opens) {
      await assertSystemError(t, `${name}(directory)`, () => fn(sub), { code: 'EISDIR', path: sub })
    }
    t.true(fs.statSync(sub).isDirectory(), 'the directory is untouched')
    // No file descriptor leaked into a usable AsyncFile: the Io still works.
    const f = await io.create(path.join(sub, 'inside'))
    await f.writeAt(Buffer.from('ok'), 0)
    await f.close()
  })

  test(`${backend}: the empty path rejects: ENOENT like node:fs, or an invalid-value error — not a type error`, async (t) => {
    const io = await openBackend(t, backend)
    t.is(nodeError(() => fs.openSync('', 'r')).code, 'ENOENT')
    for (const [name, call] of [
      ["open('')", () => io.open('')],
      ["openRw('')", () => io.openRw('')],
      ["create('')", () => io.create('')],
    ] as const) {
      const o = await outcome(call)
      t.is(o.kind, 'rejected', `${name}: ${o.kind}`)
      const d = describeError((o as { error?: unknown }).error)
      // '' is a string, so ERR_INVALID_ARG_TYPE would be wrong; node:fs says ENOENT.
      t.true(
        (d.code === 'ENOENT' && d.errno === negErrno('ENOENT')) || d.code === 'ERR_INVALID_ARG_VALUE',
        `${name}: expected ENOENT (as node:fs) or ERR_INVALID_ARG_VALUE, got ${JSON.stringify(d)}`,
      )
    }
  })

  test(`${backend}: a relative path resolves against the working directory`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const file = path.join(dir, 'rel')
    fs.writeFileSync(file, 'relative')
    const rel = path.relative(process.cwd(), file)
    const f = await io.open(rel)
    const b = Buffer.alloc(8)
    await f.readAt(b, 0)
    t.is(b.toString(), 'relative')
    await f.close()
  })

  test(`${backend}: EACCES in a child that drops to nobody before opening its Io`, async (t) => {
    const dir = tmpDir(t)
    fs.chmodSync(dir, 0o755)
    const secret = path.join(dir, 'secret')
    fs.writeFileSync(secret, 'root only', { mode: 0o600 })
    fs.chmodSync(secret, 0o600)
    const lockedDir = path.join(dir, 'locked')
    fs.mkdirSync(lockedDir, { mode: 0o755 })
    const writableDir = path.join(dir, 'writable')
    fs.mkdirSync(writableDir)
    fs.chmodSync(writableDir, 0o777)

    const r = await runNode(
      [fixture('eacces'), JSON.stringify({ enableIoUring: backend === 'io_uring', secret, lockedDir, writableDir })],
      { env: cleanEnv(), timeoutMs: 60_000 },
    )
    const out = lastJson<{
      uid?: number
      backend: string
      fallbackReason: string | null
      ours: Record<string, Record<string, unknown>>
      node: Record<string, Record<string, unknown>>
      roundTrip: Record<string, unknown>
      fatal?: unknown
    }>(r)
    t.is(out.fatal, undefined, `child failed: ${summary(r)}`)
    t.is(r.code, 0, summary(r))
    t.is(out.uid, 65534)
    if (backend === 'io_uring' && ioUringExpected()) {
      t.is(out.backend, 'io_uring', `an unprivileged process keeps io_uring (sysctl 0): fallbackReason ${out.fallbackReason}`)
    }
    const expectedPath: Record<string, string> = {
      open: secret,
      openRw: secret,
      openAppend: secret,
      create: path.join(lockedDir, 'new-file'),
    }
    for (const op of ['open', 'openRw', 'openAppend', 'create']) {
      const e = out.ours[op]
      const n = out.node[op]
      t.is(n.code, 'EACCES', `node:fs ${op} as nobody: ${JSON.stringify(n)}`)
      t.is(e.ok, false, `${op} as nobody must fail: ${JSON.stringify(e)}`)
      t.true(e.isError, `${op}: an Error`)
      t.is(e.code, 'EACCES', `${op} as nobody: ${JSON.stringify(e)}`)
      t.is(e.errno, negErrno('EACCES'), `${op}: errno like node:fs (${String(n.errno)}): ${JSON.stringify(e)}`)
      t.is(typeof e.syscall, 'string', `${op}: syscall: ${JSON.stringify(e)}`)
      t.is(e.path, expectedPath[op], `${op}: path: ${JSON.stringify(e)}`)
    }
    t.false(fs.existsSync(path.join(lockedDir, 'new-file')))
    t.is(out.roundTrip.ok, true, `unprivileged 16 MiB round trip (memlock 8 MiB): ${JSON.stringify(out.roundTrip)}`)
    t.is(out.roundTrip.uid, 65534, 'the file was created by nobody')
  })
}

test('io_uring and standard reject with identical errors (code, errno, syscall, path)', async (t) => {
  const dir = tmpDir(t)
  const ios: Io[] = [await openBackend(t, 'io_uring'), await openBackend(t, 'standard')]
  const file = path.join(dir, 'f')
  fs.writeFileSync(file, 'data')
  const sub = path.join(dir, 'sub')
  fs.mkdirSync(sub)
  const under = path.join(file, 'x')
  const missing = path.join(dir, 'missing')

  type Case = [string, (io: Io) => Promise<unknown>]
  const cases: Case[] = [
    ['open missing', (io) => io.open(missing)],
    ['openRw missing', (io) => io.openRw(missing)],
    ['create in missing dir', (io) => io.create(path.join(missing, 'x'))],
    ['open directory', (io) => io.open(sub)],
    ['create directory', (io) => io.create(sub)],
    ['open file/x', (io) => io.open(under)],
    ['writeAt read-only', async (io) => {
      const f = await io.open(file)
      try {
        return await f.writeAt(Buffer.from('x'), 0)
      } finally {
        await f.close()
      }
    }],
    ['truncate read-only', async (io) => {
      const f = await io.open(file)
      try {
        return await f.truncate(0)
      } finally {
        await f.close()
      }
    }],
    ['append read-only', async (io) => {
      const f = await io.open(file)
      try {
        return await f.append(Buffer.from('x'))
      } finally {
        await f.close()
      }
    }],
    ['allocate read-only', async (io) => {
      const f = await io.open(file)
      try {
        return await f.allocate(4096)
      } finally {
        await f.close()
      }
    }],
    ['openAppend directory', (io) => io.openAppend(sub)],
    ['openRw file/x', (io) => io.openRw(under)],
    ['writeAt at 2^53-1 (EFBIG)', async (io) => {
      const f = await io.openRw(file)
      try {
        return await f.writeAt(Buffer.from('x'), Number.MAX_SAFE_INTEGER)
      } finally {
        await f.close()
      }
    }],
    ['truncate to 2^53-1 (EFBIG)', async (io) => {
      const f = await io.openRw(file)
      try {
        return await f.truncate(Number.MAX_SAFE_INTEGER)
      } finally {
        await f.close()
      }
    }],
  ]
  for (const [name, run] of cases) {
    const shapes = []
    for (const io of ios) {
      try {
        await run(io)
        shapes.push({ resolved: true })
      } catch (e) {
        const d = describeError(e)
        shapes.push({ code: d.code, errno: d.errno, syscall: d.syscall, path: d.path })
      }
    }
    t.deepEqual(shapes[0], shapes[1], `${name}: io_uring ${JSON.stringify(shapes[0])} vs standard ${JSON.stringify(shapes[1])}`)
    t.false('resolved' in shapes[1], `${name} must reject`)
  }
  t.is(fs.readFileSync(file, 'utf8'), 'data')
})
