// Many partition logs in one Io, and the bound on open segment files (DESIGN.md §3
// "Partition log (openLog)": maxOpenSegments, LRU), both backends. 1,000 logs with small
// segments: appends and reads on all of them, every descriptor released at close. One log
// with many segments and maxOpenSegments 4: reading every offset never leaves more than 4
// of its .log files open — counted in /proc/self/fd, and io.metrics().log.openSegmentFiles
// agrees. The tests here are serial: openSegmentFiles is process-wide.

import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

import { openLog, type PartitionLog } from '../ts/index'
import { backends, openBackend, tmpDir } from './helpers/backends'
import { eventually, openFdsUnder, scanLogDir, segmentFiles, shmDir } from './helpers/log-api-util'

const LOGS = 1000

for (const backend of backends) {
  test.serial(`${backend}: ${LOGS} logs in one Io: appends and reads on all, each its own offsets and bytes; close releases every descriptor`, async (t) => {
    const io = await openBackend(t, backend)
    // tmpfs: this is about bookkeeping and descriptors at scale, not about the disk.
    const root = shmDir(t, 'log-parts-')
    const open0 = io.metrics().log.openSegmentFiles
    const logs: PartitionLog[] = []
    const CHUNK = 50
    for (let i = 0; i < LOGS; i += CHUNK) {
      logs.push(...(await Promise.all(Array.from({ length: Math.min(CHUNK, LOGS - i) }, (_, j) => openLog(io, path.join(root, `p${i + j}`), { segmentBytes: 700, maxIndexBytes: 1200 })))))
    }
    t.teardown(() => Promise.all(logs.map((l) => l.close().catch(() => undefined))))
    t.is(io.metrics().log.openSegmentFiles - open0, LOGS, 'one open segment file per log')
    // Three appends each, all logs at once; the third rolls every log to a new segment.
    const val = (p: number, k: number) => Buffer.alloc(250, (p * 3 + k) & 0xff)
    for (let k = 0; k < 3; k++) {
      const infos = await Promise.all(logs.map((l, p) => l.append([{ key: Buffer.from(`p${p}`), value: val(p, k), timestamp: k }])))
      const wrong = infos.map((info, p) => [p, info] as const).filter(([, info]) => info.baseOffset !== k || info.lastOffset !== k)
      t.deepEqual(wrong.slice(0, 5), [], `append ${k}: every log assigns offset ${k}`)
    }
    const bad: string[] = []
    const reads = await Promise.all(logs.map((l) => l.readRecords(0)))
    reads.forEach((recs, p) => {
      const ok = recs.length === 3 && recs.every((r, k) => r.offset === k && r.key!.toString() === `p${p}` && r.value!.equals(val(p, k)) && r.timestamp === k)
      if (!ok) bad.push(`log ${p}: ${recs.length} records`)
    })
    t.deepEqual(bad.slice(0, 5), [], `${bad.length} logs read back wrong`)
    for (const p of [0, 1, 499, LOGS - 1]) {
      const dir = path.join(root, `p${p}`)
      t.is(segmentFiles(dir).length, 2, `log ${p} rolled once`)
      t.deepEqual(
        scanLogDir(dir).map((b) => b.baseOffset),
        [0, 1, 2],
      )
    }
    t.true(openFdsUnder(root, '.log').length >= LOGS, 'every log holds its active segment open')
    await Promise.all(logs.map((l) => l.close()))
    t.true(await eventually(() => openFdsUnder(root).length === 0, 30_000), `close releases every descriptor: ${openFdsUnder(root).length} left`)
    t.is(io.metrics().log.openSegmentFiles, open0, 'openSegmentFiles back where it was')
  })

  test.serial(`${backend}: maxOpenSegments 4: reading every offset of a log with many segments never leaves more than 4 .log files open; the metric agrees`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t, 'log-parts-')
    const open0 = io.metrics().log.openSegmentFiles
    let log = await openLog(io, dir, { segmentBytes: 1000, maxOpenSegments: 4 })
    t.teardown(() => log.close().catch(() => undefined))
    for (let i = 0; i < 40; i++) await log.append([{ value: Buffer.alloc(300, i) }, { value: Buffer.alloc(20, i) }])
    const segs = segmentFiles(dir)
    t.true(segs.length >= 15, `many segments: ${segs.length}`)
    const logFds = () => openFdsUnder(dir, '.log').length
    const metric = () => io.metrics().log.openSegmentFiles - open0
    const over: string[] = []
    const check = async (what: string) => {
      // Evicted segments are closed asynchronously: give the close a moment to land.
      if (!(await eventually(() => logFds() <= 4, 10_000))) over.push(`${what}: ${logFds()} .log files open`)
      if (metric() > 4) over.push(`${what}: openSegmentFiles says ${metric()}`)
      if (metric() !== logFds()) over.push(`${what}: openSegmentFiles ${metric()} but ${logFds()} open`)
    }
    await check('after the appends')
    const end = log.logEndOffset
    for (let o = 0; o < end; o++) {
      await log.read(o, { maxBytes: 0 })
      await check(`read(${o})`)
    }
    // Back and forth, and across all segments at once.
    for (const o of [end - 1, 0, Math.floor(end / 2), 1, end - 2]) {
      await log.readRecords(o, { maxBytes: 1 })
      await check(`readRecords(${o})`)
    }
    t.is((await log.read(0, { maxBytes: 10 ** 7 })).length, segs.reduce((n, s) => n + fs.statSync(s.log).size, 0))
    await check('a read across every segment')
    t.not(await log.offsetForTimestamp(0), null)
    await check('offsetForTimestamp')
    t.deepEqual(over.slice(0, 10), [], `${over.length} times over the bound`)

    // The same bound for a readOnly log beside the writer.
    const ro = await openLog(io, dir, { readOnly: true, maxOpenSegments: 4 })
    for (let o = 0; o < end; o += 3) await ro.read(o, { maxBytes: 0 })
    await ro.close()
    await log.close()
    t.true(await eventually(() => openFdsUnder(dir).length === 0), `close releases every descriptor: ${openFdsUnder(dir).join(' ')}`)
    t.is(metric(), 0, 'openSegmentFiles back where it was')
    log = await openLog(io, dir, { maxOpenSegments: 4 })
    t.is(metric(), 1, 'a reopened log opens only its active segment')
  })
}
