// The partition log's pipelined group commit (ts/log/writer.ts), both backends: while a
// group's fdatasync is in flight the next group is written and its own fdatasync issued,
// yet acknowledgements stay in order and nothing past a failure is acknowledged. The
// first group's fdatasync is held at a gate (the segment file's syncData is wrapped), so
// the overlap is certain rather than a matter of timing; with one group at a time in
// flight these tests time out waiting for the second fdatasync.
import test, { type ExecutionContext } from 'ava'

import { openLog, type PartitionLog } from '../ts/index'
import { systemError } from '../ts/errors'
import type { AsyncFile, Io } from '../ts/types'
import { assertLibError, backends, describeError, openBackend, outcome, settleWithin, tmpDir } from './helpers/backends'
import { eventually } from './helpers/log-api-util'

const EIO = 5

/** Holds the next segment fdatasync made through AsyncFile.syncData until released; can fail the next segment write. */
class Gate {
  armed = false
  held: { release: (err: Error | null) => void } | null = null
  /** syncData calls on .log files issued, and completed by the kernel (the held one completes only once released). */
  issued = 0
  completed = 0
  failNextWrite: Error | null = null

  wrap(file: AsyncFile): AsyncFile {
    if (!file.path.endsWith('.log')) return file
    const syncData = file.syncData.bind(file)
    const writeAt = file.writeAt.bind(file)
    const f = file as { syncData: () => Promise<void>; writeAt: AsyncFile['writeAt'] }
    f.syncData = async () => {
      this.issued++
      if (this.armed) {
        this.armed = false
        const err = await new Promise<Error | null>((resolve) => (this.held = { release: resolve }))
        if (err !== null) throw err
      }
      await syncData()
      this.completed++
    }
    f.writeAt = ((...args: Parameters<AsyncFile['writeAt']>) => {
      const err = this.failNextWrite
      if (err !== null) {
        this.failNextWrite = null
        return Promise.reject(err)
      }
      return writeAt(...args)
    }) as AsyncFile['writeAt']
    return file
  }

  io(inner: Io): Io {
    return new Proxy(inner, {
      get: (target, prop, receiver) => {
        const v = Reflect.get(target, prop, receiver) as unknown
        if (typeof v !== 'function') return v
        if (prop === 'open' || prop === 'openRw' || prop === 'create' || prop === 'openAppend') {
          return async (...args: unknown[]) => this.wrap(await (v as (...a: unknown[]) => Promise<AsyncFile>).apply(target, args))
        }
        return (v as (...a: unknown[]) => unknown).bind(target)
      },
    })
  }
}

async function openIn(t: ExecutionContext, io: Io, dir: string): Promise<PartitionLog> {
  const log = await openLog(io, dir, { sync: 'always' })
  t.teardown(() => log.close().catch(() => undefined))
  return log
}

/** Tracks a promise's outcome without awaiting it. */
function watch<T>(p: Promise<T>): { p: Promise<T>; settled: () => boolean } {
  let done = false
  p.then(
    () => (done = true),
    () => (done = true),
  )
  return { p, settled: () => done }
}

const rec = (s: string) => [{ value: Buffer.from(s) }]

/** A first group of two appends whose fdatasync is held, then a second group of two written and synced behind it. */
async function twoGroupsInFlight(t: ExecutionContext, gate: Gate, log: PartitionLog) {
  const issuedBefore = gate.issued
  gate.armed = true
  // Two appends in one tick: one group of two, which takes the pipelined path.
  const first = [watch(log.append(rec('g1-a'))), watch(log.append(rec('g1-b')))]
  t.true(await eventually(() => gate.held !== null), "the first group's fdatasync reached the gate")
  const second = [watch(log.append(rec('g2-a'))), watch(log.append(rec('g2-b')))]
  t.true(await eventually(() => gate.issued >= issuedBefore + 2, 10_000), `the second group was written and its fdatasync issued while the first one's is held (issued ${gate.issued - issuedBefore})`)
  return { first, second }
}

for (const backend of backends) {
  test(`${backend}: a group is written and synced while the previous group's fdatasync is in flight; acknowledgements stay in order`, async (t) => {
    const gate = new Gate()
    const inner = await openBackend(t, backend)
    const log = await openIn(t, gate.io(inner), tmpDir(t, 'log-pipeline-'))
    await log.append(rec('a0'))
    const syncedBefore = gate.completed
    const { first, second } = await twoGroupsInFlight(t, gate, log)
    t.true(await eventually(() => gate.completed === syncedBefore + 1), "the second group's fdatasync completed")
    await new Promise((r) => setTimeout(r, 50))
    t.false(second.some((w) => w.settled()), 'the second group, durable, is not acknowledged before the first')
    t.false(first.some((w) => w.settled()), 'nor is the first, whose fdatasync is held')
    t.is(log.highWatermark, 1, 'the high watermark waits too')
    gate.held!.release(null)
    const infos = await settleWithin(Promise.all([...first, ...second].map((w) => w.p)), 10_000, 'the four appends')
    t.deepEqual(
      infos.map((i) => i.baseOffset),
      [1, 2, 3, 4],
      'offsets in call order',
    )
    t.is(log.highWatermark, 5)
    t.deepEqual(
      (await log.readRecords(0)).map((r) => r.value!.toString()),
      ['a0', 'g1-a', 'g1-b', 'g2-a', 'g2-b'],
    )
  })

  test(`${backend}: a failed fdatasync rejects the group written behind it too, though that group's own fdatasync succeeded`, async (t) => {
    const gate = new Gate()
    const inner = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-pipeline-')
    const log = await openIn(t, gate.io(inner), dir)
    await log.append(rec('a0'))
    const syncedBefore = gate.completed
    const { first, second } = await twoGroupsInFlight(t, gate, log)
    t.true(await eventually(() => gate.completed === syncedBefore + 1), "the second group's fdatasync completed")
    const eio = systemError(EIO, 'fdatasync', 'the segment')
    gate.held!.release(eio)
    const results = await settleWithin(Promise.allSettled([...first, ...second].map((w) => w.p)), 10_000, 'the four appends')
    for (const [i, r] of results.entries()) {
      t.is(r.status, 'rejected', `append ${i} is not acknowledged`)
      if (r.status === 'rejected') t.is(r.reason, eio, `append ${i} rejects with the failed fdatasync's error: ${JSON.stringify(describeError(r.reason))}`)
    }
    const later = await outcome(() => log.append(rec('later')))
    t.is(later.kind, 'rejected')
    const le = (later as { error: Error & { code?: string; cause?: unknown } }).error
    t.is(le.code, 'ERR_LOG_FAILED')
    t.is(le.cause, eio)
    t.is(log.highWatermark, 1, 'the high watermark stays at what was acknowledged')
    await log.close()

    const re = await openIn(t, inner, dir)
    const values = (await re.readRecords(0)).map((r) => r.value!.toString())
    t.is(values[0], 'a0', 'the acknowledged record is intact')
    const doomed = ['g1-a', 'g1-b', 'g2-a', 'g2-b']
    t.deepEqual(values.slice(1), doomed.slice(0, values.length - 1), 'beyond it at most a prefix of the failed appends, nothing invented')
  })

  test(`${backend}: a failed write behind a syncing group fails the log, and the syncing group, once durable, is still acknowledged`, async (t) => {
    const gate = new Gate()
    const inner = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-pipeline-')
    const log = await openIn(t, gate.io(inner), dir)
    await log.append(rec('a0'))
    gate.armed = true
    const first = [watch(log.append(rec('g1-a'))), watch(log.append(rec('g1-b')))]
    t.true(await eventually(() => gate.held !== null), "the first group's fdatasync reached the gate")
    const eio = systemError(EIO, 'pwrite', 'the segment')
    gate.failNextWrite = eio
    const second = [log.append(rec('g2-a')), log.append(rec('g2-b'))]
    const failed = await settleWithin(Promise.allSettled(second), 10_000, 'the second group')
    for (const r of failed) t.is(r.status === 'rejected' ? r.reason : null, eio, 'the second group rejects with its write error')
    t.false(first.some((w) => w.settled()), 'the first group is still waiting for its fdatasync')
    gate.held!.release(null)
    const infos = await settleWithin(Promise.all(first.map((w) => w.p)), 10_000, 'the first group')
    t.deepEqual(
      infos.map((i) => i.baseOffset),
      [1, 2],
      'the first group is durable, and acknowledged',
    )
    t.is(log.highWatermark, 3)
    await assertLibError(t, 'an append after the failed write (the log is failed)', () => log.append(rec('later')), 'Error', 'ERR_LOG_FAILED')
    await log.close()
    const re = await openIn(t, inner, dir)
    t.deepEqual(
      (await re.readRecords(0)).map((r) => r.value!.toString()),
      ['a0', 'g1-a', 'g1-b'],
      'after reopen: everything acknowledged, nothing of the failed write',
    )
  })
}
