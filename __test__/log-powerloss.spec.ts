// Power loss: the partition log runs on the fault-injecting Io (helpers/faulty-io.ts),
// which knows what the disk is guaranteed to hold. powerLoss() rewrites every file to its
// last durable state (unsynced writes dropped; optionally a prefix of the next one kept,
// torn at a 512-byte boundary; optionally a random prefix of the unsynced operations
// kept); a fresh real Io then reopens the log and the crash assertions apply
// (fixtures/log-verify.ts). Where the torn part lies in the active segment, recovery must
// cut exactly the bytes that our own RecordBatch walker finds invalid, and say why.
// Also: a power loss at each step of a segment roll, and under sync 'none' and
// { intervalMs } (nothing unflushed need survive, but what survives is a valid prefix).

import fs from 'node:fs'
import path from 'node:path'
import test, { type ExecutionContext } from 'ava'

import { openLog, type LogOptions, type PartitionLog } from '../ts/index'
import type { AsyncFile, OpenOptions } from '../ts/types'
import { backends, describeError, openBackend, prng, settleWithin, type BackendName } from './helpers/backends'
import { FaultyIo, type PowerLossOptions, type PowerLossReport } from './helpers/faulty-io'
import { kafkaToolsAvailable } from './helpers/kafka'
import { shmDir } from './helpers/log-api-util'
import { SaltMap, encodeBatch, recordFor, segmentFiles, walkSegment } from './fixtures/log-lib'
import { kafkaVerify, verifyLog } from './fixtures/log-verify'

const SOAK = process.env.SOAK === '1'

/**
 * The tests' directories: on tmpfs — FaultyIo is the disk model here, and a real disk's
 * fdatasync latency only slows the suite. /dev/shm is a tmpfs that needs no mount (a
 * mount is machine-wide state, for __test__/machine-wide/ only: issue 15); without it,
 * the temporary directory. (log-crash.spec.ts runs on the real disk.)
 */
function scratch(t: ExecutionContext, label: string): () => string {
  const root = shmDir(t, label)
  return () => fs.mkdtempSync(path.join(root, 'd-'))
}

interface Writer {
  acked: Array<[number, number]>
  /** One past the highest offset handed out. */
  issuedEnd: number
  errors: unknown[]
  stop(): void
  /** Settles when every append issued so far settled. */
  drained(): Promise<void>
}

/**
 * Keeps `concurrency` appends (append of 1..6 records, or appendBatch of 1..2 producer
 * batches) in flight on `log`, offsets from `first` on under `salt`. Acknowledgements are
 * recorded as they resolve (until stop()).
 */
function startWriter(log: PartitionLog, first: number, salt: number, concurrency: number, seed: number): Writer {
  const r = prng(seed)
  let next = first
  let inflight = 0
  let stopped = false
  const all: Array<Promise<unknown>> = []
  const w: Writer = {
    acked: [],
    issuedEnd: first,
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
    while (!stopped && w.errors.length === 0 && inflight < concurrency) {
      inflight++
      const base = next
      let p: Promise<{ baseOffset: number; lastOffset: number }>
      if (r() < 0.3) {
        const sizes = Array.from({ length: 1 + Math.floor(r() * 2) }, () => 1 + Math.floor(r() * 6))
        let o = base
        const bufs = sizes.map((n) => {
          const b = encodeBatch(Array.from({ length: n }, (_, i) => recordFor(o + i, salt)))
          o += n
          return b
        })
        next = o
        p = log.appendBatch(Buffer.concat(bufs))
      } else {
        const n = 1 + Math.floor(r() * 6)
        next += n
        p = log.append(Array.from({ length: n }, (_, i) => recordFor(base + i, salt)))
      }
      w.issuedEnd = next
      const n = next - base
      all.push(
        p.then(
          (info) => {
            inflight--
            if (!stopped) w.acked.push([info.baseOffset, info.lastOffset])
            if (info.baseOffset !== base || info.lastOffset !== base + n - 1) w.errors.push(new Error(`expected offsets ${base}..${base + n - 1}, got ${JSON.stringify(info)}`))
            pump()
          },
          (e: unknown) => {
            inflight--
            w.errors.push(e)
          },
        ),
      )
    }
  }
  pump()
  return w
}

/**
 * Waits for `cond`; fails when `progress` (e.g. acknowledgements so far) stands still for
 * `stallMs` — a hang detector that a slow, shared disk does not trip.
 */
async function until(cond: () => boolean, stallMs: number, what: string, progress: () => number = () => 0): Promise<void> {
  let last = progress()
  let since = Date.now()
  while (!cond()) {
    await new Promise((res) => setTimeout(res, 1))
    const p = progress()
    if (p !== last) {
      last = p
      since = Date.now()
    } else if (Date.now() - since > stallMs) throw new Error(`${what}: no progress for ${stallMs} ms (at ${p})`)
  }
}

/** What the active segment's .log held right after the power loss, judged by our own walker. */
interface TailSnapshot {
  log: string
  size: number
  validEnd: number
  bad: string | null
}

function snapshotTail(dir: string): TailSnapshot | null {
  const last = segmentFiles(dir).pop()
  if (last === undefined) return null
  const b = fs.readFileSync(last.log)
  const w = walkSegment(b, last.base)
  return { log: last.log, size: b.length, validEnd: w.validEnd, bad: w.bad === null ? null : `${w.bad.what} at ${w.bad.position}` }
}

/**
 * The checks on the tail: recovery cut exactly what our walker finds invalid after the
 * last valid batch (a torn or garbage tail), reported it, and left the file there.
 */
function checkTail(t: ExecutionContext, log: PartitionLog, snap: TailSnapshot | null, report: PowerLossReport | null, what: string): boolean {
  if (snap === null) return true
  const rec = log.recovery
  const cut = snap.size - snap.validEnd
  let ok = true
  const check = (cond: boolean, msg: string): void => {
    if (!cond) {
      ok = false
      t.fail(`${what}: ${msg}: recovery ${JSON.stringify(rec)}, our walker: ${snap.size} bytes, valid up to ${snap.validEnd} (${snap.bad})`)
    }
  }
  check(rec.truncatedBytes === cut, `recovery cut ${rec.truncatedBytes} bytes, the invalid tail is ${cut}`)
  if (cut > 0) {
    check(rec.file === snap.log, `recovery names ${rec.file}, the torn tail is in ${snap.log}`)
    check(typeof rec.reason === 'string' && rec.reason.length > 0, 'no reason given for the cut')
    if (report?.torn && report.torn.path === snap.log) check(/torn|past the end|CRC|zero/i.test(String(rec.reason)), `the reason says why: ${rec.reason}`)
  } else check(rec.reason === null, `nothing was cut, yet a reason: ${rec.reason}`)
  const now = fs.statSync(snap.log).size
  check(now === snap.validEnd, `the segment is ${now} bytes after recovery, its valid batches end at ${snap.validEnd}`)
  if (ok) t.pass()
  return ok
}

async function reopen(t: ExecutionContext, backend: BackendName, dir: string, opts: LogOptions, what: string): Promise<PartitionLog | null> {
  const io = await openBackend(t, backend)
  try {
    return await settleWithin(openLog(io, dir, opts), 30_000, `${what}: reopen`)
  } catch (e) {
    t.fail(`${what}: reopen after the power loss failed: ${JSON.stringify(describeError(e))}`)
    return null
  }
}

/** Every error from an append in flight at the power loss: EIO, or ERR_LOG_FAILED caused by it. */
function checkAfterLossErrors(t: ExecutionContext, errors: unknown[], what: string): void {
  for (const e of errors) {
    const d = e as { code?: string; cause?: { code?: string } }
    if (!(d.code === 'EIO' || (d.code === 'ERR_LOG_FAILED' && d.cause?.code === 'EIO'))) {
      t.fail(`${what}: an append in flight at the power loss failed with ${JSON.stringify(describeError(e))}`)
    }
  }
}

const SCENARIOS: Array<{ name: string; pl: (seed: number) => PowerLossOptions; options: LogOptions; queueDepth?: number; afterWrite?: boolean }> = [
  { name: 'unsynced writes dropped', pl: (seed) => ({ seed }), options: { segmentBytes: 64 * 1024, indexIntervalBytes: 1024 } },
  { name: 'last write torn at 512 B', pl: (seed) => ({ tearLast: true, seed }), options: { segmentBytes: 64 * 1024, indexIntervalBytes: 1024 } },
  // One operation in flight: a group's write completes before its fdatasync starts, and
  // the power goes right then (the trap fires as the write completes): that write is torn.
  { name: 'queueDepth 1, the power goes between a write and its fdatasync, torn', pl: (seed) => ({ tearLast: true, seed }), options: { segmentBytes: 64 * 1024, indexIntervalBytes: 512 }, queueDepth: 1, afterWrite: true },
  { name: 'queueDepth 1, some unsynced kept, next one torn', pl: (seed) => ({ tearLast: true, keepUnsynced: 'random', seed }), options: { segmentBytes: 64 * 1024, indexIntervalBytes: 512 }, queueDepth: 1, afterWrite: true },
  { name: 'tiny segments (a roll every few groups), torn', pl: (seed) => ({ tearLast: true, keepUnsynced: 'random', seed }), options: { segmentBytes: 8 * 1024, indexIntervalBytes: 256, maxIndexBytes: 240 } },
]

for (const backend of backends) {
  for (const sc of SCENARIOS) {
    test(`${backend}: power loss during group commit (${sc.name}): acknowledged offsets survive, the torn tail is cut`, async (t) => {
      t.timeout(SOAK ? 900_000 : 300_000)
      const dir = scratch(t, 'log-power-')()
      const rand = prng(sc.name.length * 7919 + (backend === 'io_uring' ? 1 : 2))
      const salts = new SaltMap()
      const acked: Array<[number, number]> = []
      const opts: LogOptions = { ...sc.options, sync: 'always' }
      const cycles = SOAK ? 20 : 4
      let cutCycles = 0
      for (let cycle = 0; cycle < cycles; cycle++) {
        const what = `${backend} ${sc.name} cycle ${cycle}`
        const fio = new TrapIo(await openBackend(t, backend, sc.queueDepth ? { queueDepth: sc.queueDepth } : {}))
        const log = await settleWithin(openLog(fio, dir, opts), 30_000, `${what}: open`)
        const salt = 5000 + cycle
        salts.add(log.logEndOffset, salt)
        const w = startWriter(log, log.logEndOffset, salt, 1 + Math.floor(rand() * 24), Math.floor(rand() * 2 ** 31))
        // Cut the power after a random number of acknowledgements (0 = during the first groups).
        const after = cycle === 0 ? 0 : Math.floor(rand() * 150)
        await until(() => w.acked.length >= after || w.errors.length > 0, 30_000, `${what}: ${after} acknowledgements`, () => w.acked.length)
        let ackedNow = [...w.acked]
        let errorsBefore = [...w.errors]
        let report: PowerLossReport
        if (sc.afterWrite) {
          // The power goes as the next write to a segment completes, before its fdatasync.
          fio.arm('a .log write completed', sc.pl(Math.floor(rand() * 2 ** 31)))
          await until(() => fio.lost !== null || w.errors.length > 0, 30_000, `${what}: the next write`, () => w.acked.length)
          ackedNow = [...w.acked]
          errorsBefore = fio.lost === null ? [...w.errors] : []
          report = fio.lost === null ? await fio.powerLoss() : await fio.lost
          if (sc.pl(0).keepUnsynced === undefined) t.truthy(report.torn, `${what}: the write caught by the trap is torn`)
        } else report = await fio.powerLoss(sc.pl(Math.floor(rand() * 2 ** 31)))
        w.stop()
        if (errorsBefore.length > 0) {
          t.fail(`${what}: an append failed before the power loss: ${JSON.stringify(describeError(errorsBefore[0]))}`)
          return
        }
        await settleWithin(w.drained(), 30_000, `${what}: appends in flight at the power loss settle`)
        checkAfterLossErrors(t, w.errors, what)
        // The process "lives on" without a disk; close must still settle (and release the lock).
        await settleWithin(log.close().catch(() => undefined), 30_000, `${what}: close after the power loss`)
        acked.push(...ackedNow)
        const snap = snapshotTail(dir)
        const re = await reopen(t, backend, dir, opts, what)
        if (re === null) return
        t.false(re.recovery.clean, `${what}: no clean-shutdown marker after a power loss`)
        if (snap !== null && snap.size > snap.validEnd) cutCycles++
        const tailOk = checkTail(t, re, snap, report, what)
        const v = await verifyLog(t, re, dir, { salts, acked, maxEnd: Math.max(w.issuedEnd, ...acked.map(([, l]) => l + 1)), what })
        if (!v.ok || !tailOk) {
          await re.close().catch(() => undefined)
          return
        }
        t.log(`${what}: ${ackedNow.length} acked, end ${v.logEndOffset}, ${report.dropped} unsynced ops dropped, kept ${report.kept}, torn ${JSON.stringify(report.torn)}, cut ${re.recovery.truncatedBytes}`)
        // Appends continue at logEndOffset.
        salts.add(v.logEndOffset, 900_000 + cycle)
        const info = await re.append([recordFor(v.logEndOffset, 900_000 + cycle)])
        t.deepEqual(info, { baseOffset: v.logEndOffset, lastOffset: v.logEndOffset }, `${what}: appends continue at logEndOffset`)
        acked.push([info.baseOffset, info.lastOffset])
        await re.close()
      }
      t.log(`${backend} ${sc.name}: ${cutCycles} of ${cycles} cycles had an invalid tail to cut; ${segmentFiles(dir).length} segments`)
    })
  }

  test(`${backend}: a torn unacknowledged append (its fdatasync failed, then the power went): recovery cuts exactly the torn bytes and says so`, async (t) => {
    const newDir = scratch(t, 'log-torn-')
    for (const seed of [1, 2, 3, 4, 5]) {
      const what = `${backend} torn append seed ${seed}`
      const dir = newDir()
      const opts: LogOptions = { segmentBytes: 1024 * 1024, indexIntervalBytes: 1024 }
      const fio = new FaultyIo(await openBackend(t, backend))
      const log = await openLog(fio, dir, opts)
      const salts = new SaltMap()
      salts.add(0, 70 + seed)
      const acked: Array<[number, number]> = []
      for (let o = 0; o < 60; o += 3) {
        const info = await log.append([0, 1, 2].map((i) => recordFor(o + i, 70 + seed)))
        acked.push([info.baseOffset, info.lastOffset])
      }
      const durableEnd = fs.statSync(segmentFiles(dir)[0].log).size
      // The next group's write lands in the page cache, its fdatasync fails: not acknowledged.
      fio.failNext('sync', 'EIO')
      const big = log.append(Array.from({ length: 40 }, (_, i) => recordFor(60 + i, 70 + seed, 2000)))
      const e = await settleWithin(
        big.then(
          () => null,
          (x: unknown) => x,
        ),
        30_000,
        `${what}: the append whose sync fails`,
      )
      t.is((e as { code?: string } | null)?.code, 'EIO', `${what}: the append rejects with the fdatasync's EIO: ${JSON.stringify(describeError(e))}`)
      const report = await fio.powerLoss({ tearLast: true, seed })
      await log.close().catch(() => undefined)
      t.truthy(report.torn, `${what}: the unsynced write was torn`)
      const torn = report.torn!
      t.is(torn.offset, durableEnd, `${what}: the torn write starts where the durable batches end`)
      t.true(torn.keptBytes > 0 && torn.keptBytes < torn.length, `${what}: part of the write survived (${torn.keptBytes} of ${torn.length})`)
      const snap = snapshotTail(dir)
      t.is(snap?.size, durableEnd + torn.keptBytes, `${what}: the segment holds the durable batches and the torn part`)
      const re = await reopen(t, backend, dir, opts, what)
      if (re === null) return
      t.is(re.recovery.truncatedBytes, torn.keptBytes, `${what}: recovery cuts the torn part, exactly`)
      t.is(re.recovery.file, snap?.log ?? null, `${what}: recovery names the segment`)
      t.regex(String(re.recovery.reason), /torn/i, `${what}: the reason says the tail is torn: ${re.recovery.reason}`)
      t.false(re.recovery.clean)
      checkTail(t, re, snap, report, what)
      const v = await verifyLog(t, re, dir, { salts, acked, maxEnd: 100, what })
      t.is(v.logEndOffset, 60, `${what}: the acknowledged offsets and nothing of the torn append`)
      await re.close()
      // A second open finds nothing left to cut.
      const again = await reopen(t, backend, dir, opts, `${what}, second open`)
      if (again === null) return
      t.is(again.recovery.truncatedBytes, 0, `${what}: the second open finds a clean tail`)
      t.true(again.recovery.clean, `${what}: the reopened log was closed cleanly`)
      await again.close()
    }
  })
}

// ---------------------------------------------------------------------------------------
// Power loss at each step of a roll.

type RollStep = 'old .index flush' | 'old .timeindex flush' | 'new .index create' | 'new .timeindex create' | 'new .log create' | 'after the roll, before the first write'
type TrapStep = RollStep | 'a .log write completed'

const ROLL_STEPS: RollStep[] = ['old .index flush', 'old .timeindex flush', 'new .index create', 'new .timeindex create', 'new .log create', 'after the roll, before the first write']

/**
 * A FaultyIo that, once armed, cuts the power at a chosen moment: a step of the next roll,
 * or as the next write to a segment's .log completes (recorded, not yet synced).
 */
class TrapIo extends FaultyIo {
  private armed: { step: TrapStep; opts: PowerLossOptions } | null = null
  lost: Promise<PowerLossReport> | null = null
  /** Paths the trapped operation was about (for messages). */
  firedAt: string | null = null

  arm(step: TrapStep, opts: PowerLossOptions): void {
    this.armed = { step, opts }
  }

  private fire(p: string): void {
    if (this.armed === null) return
    this.firedAt = p
    // Sets the device dead at once: the operation that called us then fails with EIO.
    this.lost = this.powerLoss(this.armed.opts)
    this.armed = null
  }

  override recordWrite(...args: Parameters<FaultyIo['recordWrite']>): void {
    super.recordWrite(...args)
    const p = args[0].paths[args[0].paths.length - 1]
    if (this.armed?.step === 'a .log write completed' && p.endsWith('.log')) this.fire(p)
  }

  override openAppend(p: string, opts?: OpenOptions): Promise<AsyncFile> {
    const step = this.armed?.step
    if ((step === 'old .index flush' && p.endsWith('.index')) || (step === 'old .timeindex flush' && p.endsWith('.timeindex'))) this.fire(p)
    return super.openAppend(p, opts)
  }

  override async create(p: string, opts?: OpenOptions): Promise<AsyncFile> {
    const step = this.armed?.step
    if ((step === 'new .index create' && p.endsWith('.index')) || (step === 'new .timeindex create' && p.endsWith('.timeindex')) || (step === 'new .log create' && p.endsWith('.log'))) this.fire(p)
    const f = await super.create(p, opts)
    // The roll goes on to fsync the directory (node:fs); the next write is lost.
    if (step === 'after the roll, before the first write' && p.endsWith('.log') && this.armed !== null) this.fire(p)
    return f
  }
}

for (const backend of backends) {
  test(`${backend}: power loss at each step of a segment roll: acknowledged offsets survive, the directory stays openable, Kafka's DumpLogSegments agrees`, async (t) => {
    t.timeout(SOAK ? 900_000 : 300_000)
    const dir = scratch(t, 'log-power-roll-')()
    const rand = prng(backend === 'io_uring' ? 77 : 78)
    const salts = new SaltMap()
    const acked: Array<[number, number]> = []
    const opts: LogOptions = { segmentBytes: 12 * 1024, indexIntervalBytes: 512, sync: 'always' }
    const steps = SOAK ? [...ROLL_STEPS, ...ROLL_STEPS, ...ROLL_STEPS] : ROLL_STEPS
    let end = 0
    for (const [i, step] of steps.entries()) {
      const what = `${backend} power loss at '${step}' (${i})`
      const fio = new TrapIo(await openBackend(t, backend))
      const log = await settleWithin(openLog(fio, dir, opts), 30_000, `${what}: open`)
      const segmentsBefore = segmentFiles(dir).length
      const salt = 6000 + i
      salts.add(log.logEndOffset, salt)
      const w = startWriter(log, log.logEndOffset, salt, 1 + Math.floor(rand() * 8), Math.floor(rand() * 2 ** 31))
      // Let a little go by, then arm: the power goes at that step of the next roll.
      await until(() => w.acked.length >= 5 || w.errors.length > 0, 30_000, `${what}: first acknowledgements`, () => w.acked.length)
      fio.arm(step, { tearLast: true, keepUnsynced: i % 2 === 0 ? 0 : 'random', seed: 100 + i })
      await until(() => fio.lost !== null || w.errors.length > 0, 30_000, `${what}: the roll comes`, () => w.acked.length)
      const ackedNow = [...w.acked]
      w.stop()
      if (fio.lost === null) {
        t.fail(`${what}: an append failed before the trap fired: ${JSON.stringify(describeError(w.errors[0]))}`)
        return
      }
      const report = await fio.lost
      await settleWithin(w.drained(), 30_000, `${what}: appends in flight settle`)
      checkAfterLossErrors(t, w.errors, what)
      await settleWithin(log.close().catch(() => undefined), 30_000, `${what}: close after the power loss`)
      acked.push(...ackedNow)
      const snap = snapshotTail(dir)
      const re = await reopen(t, backend, dir, opts, what)
      if (re === null) return
      const tailOk = checkTail(t, re, snap, report, what)
      const v = await verifyLog(t, re, dir, { salts, acked, maxEnd: w.issuedEnd, what })
      t.log(`${what}: fired at ${fio.firedAt}; ${segmentsBefore} → ${segmentFiles(dir).length} segments; end ${v.logEndOffset}; recovery ${JSON.stringify(re.recovery)}`)
      if (!v.ok || !tailOk) {
        await re.close().catch(() => undefined)
        return
      }
      salts.add(v.logEndOffset, 910_000 + i)
      const info = await re.append([recordFor(v.logEndOffset, 910_000 + i), recordFor(v.logEndOffset + 1, 910_000 + i)])
      t.is(info.baseOffset, v.logEndOffset, `${what}: appends continue at logEndOffset`)
      acked.push([info.baseOffset, info.lastOffset])
      end = re.logEndOffset
      await re.close()
    }
    t.log(`${backend}: ${steps.length} power losses during rolls; ${segmentFiles(dir).length} segments, ${end} offsets`)
    const missing = kafkaToolsAvailable()
    if (missing !== null) {
      t.fail(missing)
      return
    }
    await kafkaVerify(t, dir, { salts, end, what: `${backend} after power losses during rolls` })
  })

  test(`${backend}: power loss under sync 'none' and { intervalMs }: what survives is a valid prefix holding everything flushed and every rolled segment`, async (t) => {
    t.timeout(300_000)
    const seeds = SOAK ? [1, 2, 3, 4, 5, 6, 7, 8] : [1, 2, 3]
    const newDir = scratch(t, 'log-power-nosync-')
    for (const sync of ['none', { intervalMs: 5 }] as const) {
      for (const seed of seeds) {
        const what = `${backend} sync ${JSON.stringify(sync)} seed ${seed}`
        const dir = newDir()
        const opts: LogOptions = { segmentBytes: 16 * 1024, indexIntervalBytes: 512, sync }
        const fio = new FaultyIo(await openBackend(t, backend))
        const log = await openLog(fio, dir, opts)
        const salts = new SaltMap()
        salts.add(0, 80 + seed)
        const r = prng(seed)
        let end = 0
        const appendSome = async (n: number): Promise<void> => {
          for (let i = 0; i < n; i++) {
            const k = 1 + Math.floor(r() * 5)
            const info = r() < 0.3 ? await log.appendBatch(encodeBatch(Array.from({ length: k }, (_, j) => recordFor(end + j, 80 + seed)))) : await log.append(Array.from({ length: k }, (_, j) => recordFor(end + j, 80 + seed)))
            t.is(info.baseOffset, end, `${what}: offsets in call order`)
            end = info.lastOffset + 1
            // Under 'none' and { intervalMs } reads see what was written.
            if (log.highWatermark !== end) t.is(log.highWatermark, end, `${what}: highWatermark is the end of what was written`)
          }
        }
        await appendSome(40 + Math.floor(r() * 40))
        await log.flush()
        const flushedEnd = end
        await appendSome(20 + Math.floor(r() * 60))
        // Every segment but the last was fsynced at its roll.
        const bases = segmentFiles(dir).map((s) => s.base)
        const rolledEnd = bases[bases.length - 1]
        const report = await fio.powerLoss({ tearLast: true, keepUnsynced: 'random', seed })
        await log.close().catch(() => undefined)
        const snap = snapshotTail(dir)
        const re = await reopen(t, backend, dir, { segmentBytes: 16 * 1024, indexIntervalBytes: 512 }, what)
        if (re === null) return
        checkTail(t, re, snap, report, what)
        const v = await verifyLog(t, re, dir, { salts, acked: flushedEnd > 0 ? [[0, flushedEnd - 1]] : [], maxEnd: end, what })
        t.true(v.logEndOffset >= Math.max(flushedEnd, rolledEnd), `${what}: logEndOffset ${v.logEndOffset} keeps the flushed ${flushedEnd} and the rolled segments (${rolledEnd})`)
        t.log(`${what}: wrote ${end}, flushed ${flushedEnd}, rolled up to ${rolledEnd}, kept ${v.logEndOffset}; kept ${report.kept} unsynced ops, torn ${JSON.stringify(report.torn)}, cut ${re.recovery.truncatedBytes}`)
        await re.close()
      }
    }
  })
}
