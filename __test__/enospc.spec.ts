// ENOSPC on a small tmpfs the test mounts (root only): a node:fs-shaped error, the same
// on both backends, and everything acknowledged before it still readable.

import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

import { assertSystemError, backends, openBackend, pattern, tmpDir } from './helpers/backends'

function mountTmpfs(dir: string, size: string): string | null {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' })
    return null
  } catch (e) {
    return String((e as Error).message).split('\n')[0]
  }
}

for (const backend of backends) {
  test(`${backend}: writing past a full file system rejects ENOSPC; earlier writes stay readable`, async (t) => {
    const dir = tmpDir(t)
    const mnt = path.join(dir, 'mnt')
    fs.mkdirSync(mnt)
    const err = mountTmpfs(mnt, '1m')
    if (err !== null) {
      t.log(`cannot mount a tmpfs here (${err}): ENOSPC not tested`)
      t.pass()
      return
    }
    t.teardown(() => {
      try {
        execFileSync('umount', ['-l', mnt], { stdio: 'pipe' })
      } catch {
        // Already unmounted.
      }
    })
    const io = await openBackend(t, backend)
    const file = path.join(mnt, 'full')
    const f = await io.create(file)
    const first = pattern(256 * 1024, 0, 6)
    t.is((await f.writeAt(first, 0)).bytesWritten, first.length)
    // 2 MiB at once: part of it fits, then the file system is full. The library must
    // continue the short write and then reject, not resolve with fewer bytes.
    await assertSystemError(t, 'writeAt of 2 MiB into ~0.75 MiB of space', () => f.writeAt(pattern(2 * 1024 * 1024, first.length, 6), first.length), {
      code: 'ENOSPC',
      path: file,
    })
    await assertSystemError(t, 'append when full', () => f.append(Buffer.alloc(2 * 1024 * 1024)), { code: 'ENOSPC', path: file })
    const back = Buffer.alloc(first.length)
    t.is((await f.readAt(back, 0)).bytesRead, first.length)
    t.true(back.equals(first), 'acknowledged data is intact')
    await f.close()
    t.true(fs.readFileSync(file).subarray(0, first.length).equals(first))
  })
}
