// The checks of scripts/no-io-uring.sh, on the package copy in argv[2] whose addon was
// built without the io-uring feature. Prints one line per check, then "N passed, M
// failed"; exits 1 when any failed.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const root = process.argv[2]
if (!root) throw new Error('usage: no-io-uring-check.js PACKAGE_COPY')
const REASON = 'the addon was built without the io-uring feature'

/* eslint-disable @typescript-eslint/no-require-imports */
const addon = require(path.join(root, 'streamline-io.linux-x64-gnu.node')) as Record<string, (...a: unknown[]) => unknown>
const lib = require(path.join(root, 'dist', 'ts', 'index.js')) as typeof import('../ts/index')

const checks: Array<[string, () => void | Promise<void>]> = [
  ['probe() says io_uring is not built in', () => {
    assert.deepEqual(addon.probe(8, 0), { ok: false, errno: os.constants.errno.ENOSYS, reason: REASON })
  }],
  ['createEngine() throws ERR_IO_URING_NOT_BUILT', () => {
    assert.throws(() => addon.createEngine({}, () => undefined), { code: 'ERR_IO_URING_NOT_BUILT', message: REASON })
  }],
  ['submit()/destroy() refuse any engine argument', () => {
    assert.throws(() => addon.submit({}, new Float64Array(7), []), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => addon.destroy({}), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  }],
  ['the helpers work: crc32c, allocAligned, bufferAddress, protocol, strerror', () => {
    assert.equal(addon.crc32c(Buffer.from('123456789'), 0), 0xe3069283)
    const b = addon.allocAligned(8192) as Buffer
    assert.equal(b.length, 8192)
    assert.equal((addon.bufferAddress(b) as number) % 4096, 0)
    assert.equal((addon.protocol() as { stride: number }).stride, 7)
    assert.equal(addon.strerror(2), 'no such file or directory')
  }],
  ['the sendTo helpers are there: dupFd, closeFd, sendfile, pollWritable, pollClose', async () => {
    const fd = fs.openSync('/dev/null', 'r')
    const dup = addon.dupFd(fd) as number
    fs.closeSync(fd)
    assert.ok(dup >= 0, `dupFd: ${dup}`)
    assert.equal(addon.closeFd(dup), 0)
    assert.equal(addon.closeFd(dup), -os.constants.errno.EBADF)
    assert.deepEqual([...((await addon.sendfile(2 ** 31 - 1, 0, 0, 1)) as Float64Array)], [0, os.constants.errno.EBADF])
    assert.throws(() => addon.pollWritable(2 ** 31 - 1, () => undefined), { code: 'EBADF' })
    assert.throws(() => addon.pollClose({}), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  }],
  ['openIo() runs the standard backend and says why', async () => {
    const io = await lib.openIo()
    try {
      assert.equal(io.backend, 'standard')
      assert.equal(io.fallbackReason, REASON)
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'no-io-uring-'))
      const f = await io.create(path.join(dir, 'x'))
      await f.writeAt(Buffer.from('hello'), 0)
      const { bytesRead, buffer } = await f.readAt(Buffer.alloc(5), 0)
      assert.equal(buffer.subarray(0, bytesRead).toString(), 'hello')
      await f.close()
      fs.rmSync(dir, { recursive: true })
      assert.equal(io.pool.acquire(4096).length, 4096, 'the pool allocates aligned memory through the addon')
    } finally {
      await io.close()
    }
  }],
]

async function main(): Promise<void> {
  let passed = 0
  let failed = 0
  for (const [name, check] of checks) {
    try {
      await check()
      passed++
      console.log(`ok ${name}`)
    } catch (err) {
      failed++
      console.log(`FAILED ${name}: ${(err as Error).message}`)
    }
  }
  console.log(`no-io-uring: ${passed} passed, ${failed} failed`)
  if (failed > 0) process.exitCode = 1
}

void main()
