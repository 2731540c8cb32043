// ENOSPC on a small tmpfs the test mounts (root only): a node:fs-shaped error, the same
// on both backends, and everything acknowledged before it still readable.
//
// Machine-wide: the tmpfs is mounted in the machine's mount namespace (the Io under test
// lives in this process, so the mount cannot be private to a child), where every process
// sees it until it is unmounted. So this file runs with the other machine-wide tests,
// alone (`npm run test:machine-wide`: after the rest of the suite, one test at a time,
// holding the machine's test lock exclusively — scripts/machine-lock.sh).

import fs from 'node:fs'
import path from 'node:path'

import { assertSystemError, backends, openBackend, pattern } from '../helpers/backends'
import { mountTmpfs, rootTest } from '../helpers/tmpfs'

for (const backend of backends) {
  rootTest(`${backend}: writing past a full file system rejects ENOSPC; earlier writes stay readable`, async (t) => {
    const mnt = mountTmpfs(t, '1m')
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
