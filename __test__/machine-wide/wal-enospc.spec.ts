// ENOSPC: a WAL on a small tmpfs of its own (root only, as enospc.spec.ts) fills it.
// Appends then fail with ENOSPC (or ERR_WAL_FAILED whose cause is ENOSPC) — never a hang
// or a crash — and everything acknowledged before is replayable after reopen; once space
// is freed the reopened WAL appends again.
//
// Machine-wide: the tmpfs is mounted in the machine's mount namespace (visible to every
// process until unmounted), so this file runs alone with the other machine-wide tests
// (`npm run test:machine-wide`; see enospc.spec.ts).

import fs from 'node:fs'
import path from 'node:path'

import { backends, describeError, negErrno, openBackend, settleWithin } from '../helpers/backends'
import { mountTmpfs, rootTest } from '../helpers/tmpfs'
import { collect, openWal, recordFor, type WalSpec } from '../fixtures/wal-lib'
import { SaltMap, verifyWal } from '../fixtures/wal-verify'

function isEnospc(e: unknown): boolean {
  const d = e as { code?: string; errno?: number; cause?: { code?: string; errno?: number } }
  if (d?.code === 'ENOSPC') return d.errno === negErrno('ENOSPC')
  return d?.code === 'ERR_WAL_FAILED' && d.cause?.code === 'ENOSPC'
}

for (const backend of backends) {
  for (const preallocateWal of [true, false]) {
    rootTest(`${backend}: a WAL filling its file system (preallocateWal ${preallocateWal}): ENOSPC, acknowledged records replayable after reopen`, async (t) => {
      const mnt = mountTmpfs(t, '2m', 'wal-enospc-')
      const dir = path.join(mnt, 'wal')
      fs.mkdirSync(dir)
      // Space to give back later.
      const filler = path.join(mnt, 'filler')
      fs.writeFileSync(filler, Buffer.alloc(256 * 1024, 1))
      const io = await openBackend(t, backend, { preallocateWal })
      const opts = { segmentBytes: 256 * 1024 }
      const wal: WalSpec = await openWal(io, dir, opts)
      const salts = new SaltMap()
      salts.add(1, 61)
      const acked: number[] = []
      let failure: unknown = null
      let lsn = 0
      // Concurrent groups until the file system is full (bounded: 2 MiB / ~3 KiB records).
      while (failure === null && lsn < 5000) {
        const group = Array.from({ length: 8 }, () => ++lsn).map((l) => wal.append(recordFor(l, 61, 6000)))
        const res = await settleWithin(Promise.allSettled(group), 60_000, `appends up to ${lsn}`)
        for (const r of res) {
          if (r.status === 'fulfilled') acked.push(r.value)
          else if (failure === null) failure = r.reason
        }
      }
      t.truthy(failure, `the file system filled up (${acked.length} appends acknowledged)`)
      t.true(isEnospc(failure), `the first failure is ENOSPC: ${JSON.stringify(describeError(failure))}`)
      // The next append fails too, promptly and clearly.
      const next = await settleWithin(wal.append(recordFor(lsn + 1, 61, 6000)).then(() => null, (e: unknown) => e), 60_000, 'append after ENOSPC')
      if (next !== null) t.true(isEnospc(next), `later append: ${JSON.stringify(describeError(next))}`)
      else acked.push(lsn + 1)
      await settleWithin(wal.close().catch(() => undefined), 60_000, 'close after ENOSPC')
      t.true(acked.length > 0, 'something was acknowledged before the disk filled')

      // Reopen on the full file system: everything acknowledged is there.
      const w2 = await settleWithin(openWal(io, dir, opts), 60_000, 'reopen on a full file system')
      const v = await verifyWal(t, w2, { salts, acked, what: `${backend} after ENOSPC`, maxRecordBytes: 6000 })
      await w2.close()
      // Free space: the reopened WAL appends again, and a reopen sees it.
      fs.unlinkSync(filler)
      const w3 = await openWal(io, dir, opts)
      salts.add(v.lastLsn + 1, 62)
      t.is(await w3.append(recordFor(v.lastLsn + 1, 62, 6000)), v.lastLsn + 1, 'appends after space was freed')
      await w3.close()
      const w4 = await openWal(io, dir, opts)
      await verifyWal(t, w4, { salts, acked: [...acked, v.lastLsn + 1], what: `${backend} after freeing space`, maxRecordBytes: 6000 })
      t.is((await collect(w4)).length, v.lastLsn + 1)
      await w4.close()
    })
  }
}
