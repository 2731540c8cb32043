// Power loss: the WAL runs on the fault-injecting Io (helpers/faulty-io.ts), which knows
// what the disk is guaranteed to hold. powerLoss() rewrites every file to its last
// durable state (unsynced writes dropped, optionally the last one torn at a 512-byte
// boundary); a fresh real Io then reopens the WAL and the crash assertions apply. Also:
// a failed fdatasync (or group write) puts the WAL in the failed state until reopened,
// and nothing acknowledged is lost.

import test, { type ExecutionContext } from 'ava'

import { backends, describeError, negErrno, openBackend, prng, settleWithin, tmpDir, type BackendName } from './helpers/backends'
import { faultyIo, type FaultyIo, type PowerLossOptions } from './helpers/faulty-io'
import { openWal, recordFor, type WalOptionsSpec, type WalSpec } from './fixtures/wal-lib'
import { SaltMap, verifyWal } from './fixtures/wal-verify'

const SOAK = process.env.SOAK === '1'

interface Writer {
  acked: number[]
  issued: number
  errors: unknown[]
  stop(): void
  /** Settles when every append issued so far settled. */
  drained(): Promise<void>
}

/**
 * Keeps `concurrency` appends (and some appendMany) in flight on `wal`, records from
 * `firstLsn` on under `salt`. Acknowledgements are recorded as they resolve.
 */
function startWriter(wal: WalSpec, firstLsn: number, salt: number, concurrency: number, seed: number, maxRecordBytes?: number): Writer {
  const r = prng(seed)
  let next = firstLsn
  let inflight = 0
  let stopped = false
  const all: Array<Promise<unknown>> = []
  const w: Writer = {
    acked: [],
    issued: firstLsn - 1,
    errors: [],
    stop: () => void (stopped = true),
    drained: async () => {
      while (true) {
        const n = all.length
        await Promise.allSettled(all)
        if (all.length === n) return
      }
    },
  }
  const pump = (): void => {
    while (!stopped && inflight < concurrency) {
      inflight++
      if (r() < 0.2) {
        const n = 2 + Math.floor(r() * 4)
        const first = next
        next += n
        w.issued = next - 1
        const p = wal.appendMany(Array.from({ length: n }, (_, i) => recordFor(first + i, salt, maxRecordBytes))).then(
          (lsns) => {
            inflight--
            if (!stopped) for (const l of lsns) w.acked.push(l)
            if (lsns[0] !== first) w.errors.push(new Error(`appendMany expected ${first}.., got ${JSON.stringify(lsns)}`))
            pump()
          },
          (e: unknown) => {
            inflight--
            w.errors.push(e)
          },
        )
        all.push(p)
      } else {
        const lsn = next++
        w.issued = lsn
        const p = wal.append(recordFor(lsn, salt, maxRecordBytes)).then(
          (got) => {
            inflight--
            if (!stopped) w.acked.push(got)
            if (got !== lsn) w.errors.push(new Error(`append expected ${lsn}, got ${got}`))
            pump()
          },
          (e: unknown) => {
            inflight--
            w.errors.push(e)
          },
        )
        all.push(p)
      }
    }
  }
  pump()
  return w
}

function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  return settleWithin(
    (async () => {
      while (!cond()) await new Promise((res) => setTimeout(res, 1))
    })(),
    ms,
    what,
  )
}

async function reopenAndVerify(
  t: ExecutionContext,
  backend: BackendName,
  dir: string,
  opts: WalOptionsSpec,
  exp: { salts: SaltMap; acked: number[]; maxIssued: number; what: string; maxRecordBytes?: number },
): Promise<{ wal: WalSpec; lastLsn: number; ok: boolean }> {
  const io = await openBackend(t, backend)
  let wal: WalSpec
  try {
    wal = await settleWithin(openWal(io, dir, opts), 30_000, `${exp.what}: reopen`)
  } catch (e) {
    t.fail(`${exp.what}: reopen after power loss failed: ${JSON.stringify(describeError(e))}`)
    return { wal: null as unknown as WalSpec, lastLsn: -1, ok: false }
  }
  const v = await verifyWal(t, wal, exp)
  return { wal, lastLsn: v.lastLsn, ok: v.ok }
}

const SCENARIOS: Array<{ name: string; pl: (seed: number) => PowerLossOptions; segmentBytes: number; maxRecordBytes?: number }> = [
  { name: 'unsynced writes dropped', pl: (seed) => ({ seed }), segmentBytes: 128 * 1024 },
  { name: 'last write torn at 512 B', pl: (seed) => ({ tearLast: true, seed }), segmentBytes: 128 * 1024 },
  { name: 'some unsynced writes kept, next one torn', pl: (seed) => ({ tearLast: true, keepUnsynced: 'random', seed }), segmentBytes: 128 * 1024 },
  { name: 'tiny files (a roll every few groups), torn', pl: (seed) => ({ tearLast: true, seed }), segmentBytes: 4096 + 24 * 1024, maxRecordBytes: 3000 },
]

for (const backend of backends) {
  for (const sc of SCENARIOS) {
    test(`${backend}: power loss during group commit (${sc.name}): acknowledged records survive`, async (t) => {
      t.timeout(SOAK ? 900_000 : 300_000)
      const dir = tmpDir(t, 'wal-power-')
      const rand = prng(sc.name.length * 7919 + (backend === 'io_uring' ? 1 : 2))
      const salts = new SaltMap()
      const acked: number[] = []
      let maxIssued = 0
      const opts: WalOptionsSpec = { segmentBytes: sc.segmentBytes, sync: 'always' }
      const cycles = SOAK ? 20 : 4
      for (let cycle = 0; cycle < cycles; cycle++) {
        const what = `${backend} ${sc.name} cycle ${cycle}`
        const fio: FaultyIo = faultyIo(await openBackend(t, backend))
        const wal = await settleWithin(openWal(fio, dir, opts), 30_000, `${what}: open`)
        const salt = 5000 + cycle
        salts.add(wal.lastLsn + 1, salt)
        const w = startWriter(wal, wal.lastLsn + 1, salt, 1 + Math.floor(rand() * 24), Math.floor(rand() * 2 ** 31), sc.maxRecordBytes)
        // Cut the power after a random number of acknowledgements (0 = during the first groups).
        const after = cycle === 0 ? 0 : Math.floor(rand() * 300)
        await until(() => w.acked.length >= after || w.errors.length > 0, 30_000, `${what}: ${after} acknowledgements`)
        const ackedNow = [...w.acked]
        const errorsBefore = [...w.errors]
        const report = await fio.powerLoss(sc.pl(Math.floor(rand() * 2 ** 31)))
        w.stop()
        if (errorsBefore.length > 0) {
          t.fail(`${what}: an append failed before the power loss: ${JSON.stringify(describeError(errorsBefore[0]))}`)
          return
        }
        // After it, everything in flight fails (EIO, or ERR_WAL_FAILED caused by it).
        for (const e of w.errors) {
          const d = e as { code?: string; cause?: { code?: string } }
          if (!(d.code === 'EIO' || (d.code === 'ERR_WAL_FAILED' && d.cause?.code === 'EIO'))) {
            t.fail(`${what}: an append in flight at the power loss failed with ${JSON.stringify(describeError(e))}`)
          }
        }
        await settleWithin(w.drained(), 30_000, `${what}: appends in flight at the power loss settle`)
        // The process "lives on" without a disk; close must still settle (and release the lock).
        await settleWithin(wal.close().catch(() => undefined), 30_000, `${what}: close after power loss`)
        acked.push(...ackedNow)
        maxIssued = Math.max(maxIssued, w.issued)
        t.log(`${what}: ${ackedNow.length} acked, ${report.dropped} unsynced ops dropped, kept ${report.kept}, torn ${JSON.stringify(report.torn)}`)
        const re = await reopenAndVerify(t, backend, dir, opts, { salts, acked, maxIssued, what, maxRecordBytes: sc.maxRecordBytes })
        if (!re.ok) {
          await re.wal?.close().catch(() => undefined)
          return
        }
        const next = re.lastLsn + 1
        salts.add(next, 900_000 + cycle)
        t.is(await re.wal.append(recordFor(next, 900_000 + cycle, sc.maxRecordBytes)), next, `${what}: appends continue with the next LSN`)
        acked.push(next)
        maxIssued = Math.max(maxIssued, next)
        await re.wal.close()
      }
    })
  }

  test(`${backend}: power loss under sync 'none' and { intervalMs }: everything before the last flush() survives`, async (t) => {
    for (const sync of ['none', { intervalMs: 5 }] as const) {
      const what = `${backend} sync ${JSON.stringify(sync)}`
      const dir = tmpDir(t, 'wal-power-nosync-')
      const opts: WalOptionsSpec = { segmentBytes: 64 * 1024, sync }
      const fio = faultyIo(await openBackend(t, backend))
      const wal = await openWal(fio, dir, opts)
      const salts = new SaltMap()
      salts.add(1, 77)
      let lsn = 0
      for (let i = 0; i < 150; i++) t.is(await wal.append(recordFor(++lsn, 77)), lsn)
      await wal.flush()
      t.is(wal.durableLsn, lsn, `${what}: durableLsn after flush()`)
      const flushed = Array.from({ length: lsn }, (_, i) => i + 1)
      for (let i = 0; i < 60; i++) t.is(await wal.append(recordFor(++lsn, 77)), lsn)
      await fio.powerLoss({ tearLast: true, keepUnsynced: 'random', seed: 42 })
      await wal.close().catch(() => undefined)
      const re = await reopenAndVerify(t, backend, dir, { segmentBytes: 64 * 1024 }, { salts, acked: flushed, maxIssued: lsn, what })
      if (re.ok) {
        t.true(re.lastLsn >= 150, `${what}: the flushed records are there`)
        await re.wal.close()
      }
    }
  })

  test(`${backend}: a failed fdatasync fails the WAL (errno to the group, ERR_WAL_FAILED with cause after) until reopened; nothing acknowledged lost`, async (t) => {
    for (const code of ['EIO', 'ENOSPC'] as const) {
      const what = `${backend} fdatasync ${code}`
      const dir = tmpDir(t, 'wal-syncfail-')
      const opts: WalOptionsSpec = { segmentBytes: 128 * 1024 }
      const fio = faultyIo(await openBackend(t, backend))
      const wal = await openWal(fio, dir, opts)
      const salts = new SaltMap()
      salts.add(1, 11)
      const acked: number[] = []
      for (let l = 1; l <= 40; l++) acked.push(await wal.append(recordFor(l, 11)))
      fio.failNext('sync', code)
      // A group in flight when the sync fails: every one of them rejects with the errno.
      const group = Array.from({ length: 8 }, (_, i) => wal.append(recordFor(41 + i, 11)))
      const settled = await settleWithin(Promise.allSettled(group), 30_000, `${what}: the failing group settles`)
      t.is(fio.stats.injected, 1, `${what}: the fault fired`)
      const codes = settled.map((s) => (s.status === 'rejected' ? (s.reason as { code?: string }).code : 'fulfilled'))
      t.true(codes.includes(code), `${what}: some append of the failing group rejects with ${code}: ${JSON.stringify(codes)}`)
      for (const [i, s] of settled.entries()) {
        if (s.status === 'fulfilled') {
          // Only a group synced before the failure may resolve.
          acked.push(s.value)
          continue
        }
        const e = s.reason as { code?: string; errno?: number; cause?: { code?: string } }
        if (e.code === code) t.is(e.errno, negErrno(code), `${what}: append ${i}: a node:fs-shaped errno`)
        else {
          t.is(e.code, 'ERR_WAL_FAILED', `${what}: append ${i}: ${JSON.stringify(describeError(e))}`)
          t.is(e.cause?.code, code, `${what}: append ${i}: ERR_WAL_FAILED's cause is the ${code}`)
        }
      }
      // Later appends (and flush) are refused with ERR_WAL_FAILED whose cause is the original error.
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['append', () => wal.append(recordFor(60, 11))],
        ['appendMany', () => wal.appendMany([recordFor(61, 11)])],
        ['flush', () => wal.flush()],
      ]
      for (const [name, call] of calls) {
        const r = await settleWithin(
          Promise.resolve()
            .then(call)
            .then(
              () => null,
              (e: unknown) => e,
            ),
          30_000,
          `${what}: ${name} after the failure`,
        )
        const e = r as { code?: string; cause?: { code?: string; errno?: number } } | null
        if (name === 'flush' && e === null) continue // nothing left to flush may resolve
        t.is(e?.code, 'ERR_WAL_FAILED', `${what}: ${name} after the failure: ${JSON.stringify(describeError(e))}`)
        t.true(e instanceof Error, `${what}: ${name}: an Error`)
        t.is(e?.cause?.code, code, `${what}: ${name}: cause is the original ${code}`)
        t.is(e?.cause?.errno, negErrno(code), `${what}: ${name}: the cause keeps its errno`)
      }
      t.is(fio.stats.injected, 1, `${what}: no retry of the sync hid the failure`)
      await settleWithin(wal.close().catch(() => undefined), 30_000, `${what}: close of a failed WAL`)
      // Reopen (lock released by close): the acknowledged records are there; the failed
      // group may or may not be (it was never acknowledged), then appends continue.
      const re = await reopenAndVerify(t, backend, dir, opts, { salts, acked, maxIssued: 61, what })
      if (!re.ok) return
      t.true(re.lastLsn >= 40 && re.lastLsn <= 48, `${what}: lastLsn ${re.lastLsn}: acknowledged 40, the failed group at most 48`)
      salts.add(re.lastLsn + 1, 12)
      t.is(await re.wal.append(recordFor(re.lastLsn + 1, 12)), re.lastLsn + 1, `${what}: reopened WAL appends`)
      await re.wal.close()
    }
  })

  test(`${backend}: a failed fdatasync then power loss: nothing acknowledged lost, the failed group not resurrected as acknowledged`, async (t) => {
    const dir = tmpDir(t, 'wal-syncfail-power-')
    const opts: WalOptionsSpec = { segmentBytes: 64 * 1024 }
    const fio = faultyIo(await openBackend(t, backend))
    const wal = await openWal(fio, dir, opts)
    const salts = new SaltMap()
    salts.add(1, 21)
    const acked: number[] = []
    const w = startWriter(wal, 1, 21, 12, 99)
    await until(() => w.acked.length >= 150 || w.errors.length > 0, 30_000, 'first acknowledgements')
    fio.failNext('sync', 'EIO')
    await until(() => w.errors.length > 0, 30_000, 'the injected EIO reaches an append')
    w.stop()
    await settleWithin(w.drained(), 30_000, 'appends settle after the failure')
    acked.push(...w.acked)
    const codes = new Set(w.errors.map((e) => (e as { code?: string }).code))
    t.true([...codes].every((c) => c === 'EIO' || c === 'ERR_WAL_FAILED'), `errors are EIO or ERR_WAL_FAILED: ${[...codes].join(', ')}`)
    await fio.powerLoss({ tearLast: true, seed: 3 })
    await settleWithin(wal.close().catch(() => undefined), 30_000, 'close')
    const re = await reopenAndVerify(t, backend, dir, opts, { salts, acked, maxIssued: w.issued, what: `${backend} EIO then power loss` })
    if (re.ok) await re.wal.close()
  })

  test(`${backend}: a failed group write (ENOSPC, short) fails the appends; nothing acknowledged lost and reopen works`, async (t) => {
    for (const afterBytes of [0, 100, 5000]) {
      const what = `${backend} write ENOSPC after ${afterBytes} bytes`
      const dir = tmpDir(t, 'wal-writefail-')
      const opts: WalOptionsSpec = { segmentBytes: 128 * 1024 }
      const fio = faultyIo(await openBackend(t, backend))
      const wal = await openWal(fio, dir, opts)
      const salts = new SaltMap()
      salts.add(1, 31)
      const acked: number[] = []
      for (let l = 1; l <= 20; l++) acked.push(await wal.append(recordFor(l, 31)))
      fio.failNext('write', 'ENOSPC', { afterBytes })
      const group = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => wal.append(recordFor(21 + i, 31))))
      t.is(fio.stats.injected, 1, `${what}: the fault fired`)
      t.true(
        group.some((s) => s.status === 'rejected' && ((s.reason as { code?: string }).code === 'ENOSPC' || (s.reason as { cause?: { code?: string } }).cause?.code === 'ENOSPC')),
        `${what}: the group's appends reject with ENOSPC: ${JSON.stringify(group.map((s) => (s.status === 'rejected' ? describeError(s.reason) : s.value)))}`,
      )
      // Whatever the WAL does next (failed state, or carrying on), anything it
      // acknowledges must survive a reopen.
      const later = await Promise.allSettled(Array.from({ length: 4 }, (_, i) => wal.append(recordFor(27 + i, 31))))
      for (const s of group) if (s.status === 'fulfilled') acked.push(s.value)
      for (const s of later) {
        if (s.status === 'fulfilled') acked.push(s.value)
        else {
          const e = s.reason as { code?: string; cause?: { code?: string } }
          t.true(e.code === 'ENOSPC' || (e.code === 'ERR_WAL_FAILED' && e.cause?.code === 'ENOSPC'), `${what}: later append: ${JSON.stringify(describeError(e))}`)
        }
      }
      await settleWithin(wal.close().catch(() => undefined), 30_000, `${what}: close`)
      const re = await reopenAndVerify(t, backend, dir, opts, { salts, acked, maxIssued: 30, what })
      if (!re.ok) continue
      salts.add(re.lastLsn + 1, 32)
      t.is(await re.wal.append(recordFor(re.lastLsn + 1, 32)), re.lastLsn + 1, `${what}: appends after reopen`)
      await re.wal.close()
      const again = await reopenAndVerify(t, backend, dir, opts, { salts, acked: [...acked, re.lastLsn + 1], maxIssued: 10_000, what: `${what}, second reopen` })
      if (again.ok) {
        t.is(again.wal.recovery.truncatedBytes, 0, `${what}: the second reopen finds a clean log`)
        await again.wal.close()
      }
    }
  })
}
