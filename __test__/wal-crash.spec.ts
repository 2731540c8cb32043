// Crash: a child process appends to a WAL with sync 'always' and reports every
// acknowledged LSN; the parent SIGKILLs it at a random moment, reopens the WAL and checks
// (DESIGN.md §7): every acknowledged LSN present with its exact bytes, LSNs contiguous
// from firstLsn, nothing invented (an unacknowledged tail may survive, with the right
// bytes), a sane recovery report, and appends continuing with the next LSN. The same
// directory goes through every round, so recovery runs on recovered logs and the small
// segmentBytes makes the rounds cross file rolls. 5 rounds per backend; SOAK=1 → 25.

import test from 'ava'

import { backendConfig, backends, ioUringExpected, openBackend, prng, settleWithin, tmpDir } from './helpers/backends'
import { type CrashRound, crashRound } from './helpers/crash-round'
import { openWal, recordFor } from './fixtures/wal-lib'
import { SaltMap, verifyWal } from './fixtures/wal-verify'

const SOAK = process.env.SOAK === '1'
const ROUNDS = SOAK ? 25 : 5
const SEGMENT_BYTES = 256 * 1024

interface Ready {
  backend: string
  fallbackReason: string | null
  firstLsn: number
  lastLsn: number
  durableLsn: number
  recovery: unknown
}

/** One round: acknowledgements are "a <lsn>" lines. */
function runRound(args: object, killAfterMs: number, early: boolean): Promise<CrashRound<Ready, number>> {
  return crashRound('wal-crash-child', args, killAfterMs, early, Number)
}

for (const backend of backends) {
  test(`${backend}: WAL survives SIGKILL at random moments (${ROUNDS} rounds): acknowledged records intact, contiguous, nothing invented`, async (t) => {
    t.timeout(SOAK ? 900_000 : 300_000)
    const dir = tmpDir(t, 'wal-crash-')
    const rand = prng(backend === 'io_uring' ? 0xc0ffee : 0xbeef)
    const salts = new SaltMap()
    const acked: number[] = []
    let maxIssued = 0
    let totalAcked = 0
    for (let round = 0; round < ROUNDS; round++) {
      const salt = 1000 + round
      // One round in five is killed before its first acknowledgement can matter.
      const early = round % 5 === 4
      const killAfterMs = early ? Math.floor(rand() * 40) : 20 + Math.floor(rand() * 400)
      const r = await runRound({ ...backendConfig(backend), dir, salt, segmentBytes: SEGMENT_BYTES, seed: Math.floor(rand() * 2 ** 31) }, killAfterMs, early)
      const what = `${backend} round ${round} (kill ${killAfterMs} ms after ${early ? 'ready' : 'first ack'})`
      if (r.error !== null || r.ready === null) {
        t.fail(`${what}: child failed: ${r.error}\nstderr: ${r.stderr.slice(-3000)}`)
        return
      }
      t.is(r.signal, 'SIGKILL', `${what}: the child must die by our SIGKILL (exit ${r.code}), stderr: ${r.stderr.slice(-2000)}`)
      if (backend === 'io_uring' && ioUringExpected()) t.is(r.ready.backend, 'io_uring', `${what}: child fell back: ${r.ready.fallbackReason}`)
      salts.add(r.ready.lastLsn + 1, salt)
      for (const l of r.acked) acked.push(l)
      totalAcked += r.acked.length
      // The child hands out LSNs from lastLsn + 1 in call order and keeps at most 16
      // appends of at most 7 records in flight: nothing may exist beyond that.
      const roundMax = r.acked.length > 0 ? Math.max(...r.acked) : r.ready.lastLsn
      maxIssued = Math.max(maxIssued, roundMax + 16 * 7)

      if (process.env.WAL_DEBUG) t.log(`${what}: ready ${JSON.stringify(r.ready)} acked ${r.acked.length} max ${roundMax} min ${Math.min(...r.acked)}`)
      const io = await openBackend(t, backend)
      const wal = await settleWithin(openWal(io, dir, { segmentBytes: SEGMENT_BYTES }), 30_000, `${what}: openWal after the kill`)
      const v = await verifyWal(t, wal, { salts, acked, maxIssued, what })
      if (!v.ok) {
        await wal.close()
        return
      }
      // Appends continue with the next LSN.
      const parentSalt = 900_000 + round
      salts.add(v.lastLsn + 1, parentSalt)
      const lsn = await wal.append(recordFor(v.lastLsn + 1, parentSalt))
      t.is(lsn, v.lastLsn + 1, `${what}: the first append after recovery must get lastLsn + 1`)
      t.is(wal.lastLsn, lsn, `${what}: lastLsn after the append`)
      t.is(wal.durableLsn, lsn, `${what}: durableLsn after an 'always' append resolved`)
      acked.push(lsn)
      maxIssued = Math.max(maxIssued, lsn)
      await wal.close()
      await io.close()
    }
    t.log(`${backend}: ${ROUNDS} rounds, ${totalAcked} acknowledged appends from the children`)
    t.true(totalAcked > 0, 'the children acknowledged something')
  })
}
