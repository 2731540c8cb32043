// ENOSPC: a partition log on a small tmpfs of its own (root only, as wal-enospc.spec.ts)
// fills it. Appends then fail with ENOSPC (or ERR_LOG_FAILED whose cause is ENOSPC) —
// never a hang or a crash — and everything acknowledged before reads back after reopen
// (on the full file system, and read-only); once space is freed the log appends again.
// (It stood in log-powerloss.spec.ts until the machine-wide rule of issue 15 reached it.)
//
// Machine-wide: the tmpfs is mounted in the machine's mount namespace (visible to every
// process until unmounted), so this file runs alone with the other machine-wide tests
// (`npm run test:machine-wide`; see enospc.spec.ts).

import fs from 'node:fs'
import path from 'node:path'

import { openLog, type LogOptions, type PartitionLog } from '../../ts/index'
import { backends, describeError, negErrno, openBackend, settleWithin } from '../helpers/backends'
import { mountTmpfs, rootTest } from '../helpers/tmpfs'
import { SaltMap, encodeBatch, recordFor } from '../fixtures/log-lib'
import { verifyLog } from '../fixtures/log-verify'

function isEnospc(e: unknown): boolean {
  const d = e as { code?: string; errno?: number; cause?: { code?: string; errno?: number } }
  if (d?.code === 'ENOSPC') return d.errno === negErrno('ENOSPC')
  return d?.code === 'ERR_LOG_FAILED' && d.cause?.code === 'ENOSPC'
}

const ENOSPC_VALUE = 3000

for (const backend of backends) {
  rootTest(`${backend}: a partition log filling its file system: ENOSPC, acknowledged offsets readable after reopen, appends again once space is freed`, async (t) => {
    t.timeout(300_000)
    const mnt = mountTmpfs(t, '2m', 'log-enospc-')
    const dir = path.join(mnt, 'log')
    fs.mkdirSync(dir)
    // Space to give back later.
    const filler = path.join(mnt, 'filler')
    fs.writeFileSync(filler, Buffer.alloc(256 * 1024, 1))
    const io = await openBackend(t, backend)
    const opts: LogOptions = { segmentBytes: 384 * 1024, indexIntervalBytes: 4096, maxIndexBytes: 64 * 1024 }
    const log = await openLog(io, dir, opts)
    const salts = new SaltMap()
    salts.add(0, 61)
    const acked: Array<[number, number]> = []
    let failure: unknown = null
    let next = 0
    // Concurrent groups until the file system is full (bounded: 2 MiB / ~1.5 KiB records).
    while (failure === null && next < 20_000) {
      const calls = Array.from({ length: 8 }, (_, k) => {
        const first = next
        next += 3
        const recs = [0, 1, 2].map((i) => recordFor(first + i, 61, ENOSPC_VALUE))
        return k % 2 === 0 ? log.append(recs) : log.appendBatch(encodeBatch(recs))
      })
      const res = await settleWithin(Promise.allSettled(calls), 60_000, `${backend}: appends up to ${next}`)
      for (const r of res) {
        if (r.status === 'fulfilled') acked.push([r.value.baseOffset, r.value.lastOffset])
        else if (failure === null) failure = r.reason
      }
    }
    t.truthy(failure, `the file system filled up (${acked.length} appends acknowledged)`)
    t.true(isEnospc(failure), `the first failure is ENOSPC: ${JSON.stringify(describeError(failure))}`)
    // The next append fails too, promptly and clearly.
    const again = await settleWithin(
      log.append([recordFor(next, 61, ENOSPC_VALUE)]).then(
        () => null,
        (e: unknown) => e,
      ),
      60_000,
      'append after ENOSPC',
    )
    t.true(again !== null && isEnospc(again), `the append after ENOSPC fails with ENOSPC or ERR_LOG_FAILED (cause ENOSPC): ${JSON.stringify(describeError(again))}`)
    await settleWithin(log.close().catch(() => undefined), 60_000, 'close after ENOSPC')
    t.true(acked.length > 0, 'something was acknowledged before the disk filled')

    // Read-only on the full file system: nothing to write, everything acknowledged is there.
    const ro = await settleWithin(openLog(io, dir, { ...opts, readOnly: true }), 60_000, 'read-only open on a full file system')
    await verifyLog(t, ro, dir, { salts, acked, maxEnd: next + 1, maxValueBytes: ENOSPC_VALUE, what: `${backend} read-only after ENOSPC` })
    await ro.close()
    // A writable open on the full file system recovers (it may have to write index entries:
    // then it fails with ENOSPC, clearly, and changes nothing the next open needs).
    const full = await settleWithin(openLog(io, dir, opts), 60_000, 'reopen on a full file system').catch((e: unknown) => e as Error)
    t.log(`${backend}: ${acked.length} appends acknowledged, then ${JSON.stringify(describeError(failure))}; reopen on the full file system: ${typeof (full as PartitionLog).readRecords === 'function' ? `recovery ${JSON.stringify((full as PartitionLog).recovery)}` : JSON.stringify(describeError(full))}`)
    if (typeof (full as PartitionLog).readRecords === 'function') {
      const v = await verifyLog(t, full as PartitionLog, dir, { salts, acked, maxEnd: next + 1, maxValueBytes: ENOSPC_VALUE, what: `${backend} after ENOSPC` })
      t.true(v.ok)
      await (full as PartitionLog).close()
    } else t.true(isEnospc(full), `reopen on the full file system: ${JSON.stringify(describeError(full))}`)
    // Free space: the log appends again, and a reopen sees it.
    fs.unlinkSync(filler)
    const l3 = await openLog(io, dir, opts)
    const v3 = await verifyLog(t, l3, dir, { salts, acked, maxEnd: next + 1, maxValueBytes: ENOSPC_VALUE, what: `${backend} after freeing space` })
    salts.add(v3.logEndOffset, 62)
    const info = await l3.append([recordFor(v3.logEndOffset, 62, ENOSPC_VALUE)])
    t.deepEqual(info, { baseOffset: v3.logEndOffset, lastOffset: v3.logEndOffset }, 'appends after space was freed')
    acked.push([info.baseOffset, info.lastOffset])
    await l3.close()
    const l4 = await openLog(io, dir, opts)
    const v4 = await verifyLog(t, l4, dir, { salts, acked, maxValueBytes: ENOSPC_VALUE, what: `${backend} reopened after freeing space` })
    t.is(v4.logEndOffset, v3.logEndOffset + 1)
    t.true(l4.recovery.clean, 'closed cleanly once there was space')
    await l4.close()
  })
}
