// streamline-io log dump|verify DIR: Kafka's DumpLogSegments for a partition log
// directory. Both read through an Io (files opened read-only) and openLog({ readOnly:
// true }); neither writes, locks or repairs anything. The batch checks are recovery's own
// (ts/log/inspect.ts), not a second reading of the format.
import fs from 'node:fs'
import path from 'node:path'
import { CLEAN_SHUTDOWN_NAME, listSegments, segmentPaths } from '../log/files'
import { type InspectedBatch, type LogVerdict, type SegmentEnd, readIndexes, verifyLog, walkSegmentFile } from '../log/inspect'
import { intFlag } from './args'
import { checkDir, withIo } from './dirs'
import type { CliContext } from './main'

function describe(v: LogVerdict): string {
  switch (v.status) {
    case 'empty':
      return 'clean: no segments'
    case 'clean':
      return `clean: ${v.segments} segment(s), offsets ${v.logStartOffset}..${(v.logEndOffset ?? 0) - 1} (${v.batches} batches, ${v.indexEntries} index entries checked${v.cleanShutdown ? '' : '; no clean-shutdown marker: the active segment\'s indexes are rebuilt at open and were not checked'})`
    case 'torn-tail':
      return `warning: torn tail in ${v.file} at position ${v.position}: ${v.what}; opening the log cuts it (${v.truncatedBytes} bytes); offsets ${v.logStartOffset}..${(v.logEndOffset ?? 0) - 1} are intact`
    case 'damaged':
      return `damaged: ${v.file} at position ${v.position}: ${v.what}`
  }
}

export async function logVerify(ctx: CliContext, dir: string): Promise<number> {
  checkDir(dir)
  const v = await withIo(ctx, (io) => verifyLog(io, dir))
  if (ctx.args.flags.has('--json')) ctx.out(JSON.stringify({ dir, ...v }, null, 2))
  else ctx.out(describe(v))
  return v.status === 'damaged' ? 1 : 0
}

function batchLine(b: InspectedBatch): string {
  return (
    `baseOffset: ${b.baseOffset} lastOffset: ${b.lastOffset} count: ${b.count} position: ${b.position} size: ${b.size} ` +
    `baseTimestamp: ${b.baseTimestamp} maxTimestamp: ${b.maxTimestamp} (${b.timestampType}) codec: ${b.codec} crc: ${b.crc} crcOk: ${b.crcOk} ` +
    `leaderEpoch: ${b.leaderEpoch} producerId: ${b.producerId} producerEpoch: ${b.producerEpoch} baseSequence: ${b.baseSequence}` +
    `${b.transactional ? ' transactional' : ''}${b.control ? ' control' : ''}`
  )
}

export async function logDump(ctx: CliContext, dir: string): Promise<number> {
  checkDir(dir)
  const json = ctx.args.flags.has('--json')
  const withIndexes = ctx.args.flags.has('--indexes')
  const from = intFlag(ctx.args, '--from') ?? 0
  return withIo(ctx, async (io) => {
    const { bases } = await listSegments(dir)
    const clean = fs.existsSync(path.join(dir, CLEAN_SHUTDOWN_NAME))
    const segments: Array<SegmentEnd & { batches: number; list?: InspectedBatch[]; index?: unknown; timeIndex?: unknown; unwrittenIndexEntries?: number; unwrittenTimeEntries?: number }> = []
    for (let i = 0; i < bases.length; i++) {
      const base = bases[i]
      // Segments that end before `from` are not read.
      if (i + 1 < bases.length && bases[i + 1] <= from) continue
      const p = segmentPaths(dir, base)
      if (!json) ctx.out(`Dumping ${p.log} (base offset ${base})`)
      const list: InspectedBatch[] = []
      const end = await walkSegmentFile(io, p.log, base, (b) => {
        if (b.lastOffset < from) return
        if (json) list.push(b)
        else ctx.out(batchLine(b))
      })
      for (const bad of end.badSpots) if (!json) ctx.out(`bad spot at position ${bad.position}: ${bad.what}; batches resume at position ${bad.resumedAt}`)
      if (!json) ctx.out(`end of batches at position ${end.position}: ${end.what}`)
      const seg: (typeof segments)[number] = { ...end, list }
      if (withIndexes) {
        // Without the clean-shutdown marker the active segment's index files are its
        // preallocated space plus whatever a flush wrote: zeros at the end are not entries.
        const ix = await readIndexes(io, dir, base, !clean && i === bases.length - 1)
        const unwritten = (n: number) => (n > 0 ? `, then ${n} preallocated entries not written (the active segment of a log without a clean shutdown: opening it rebuilds them)` : '')
        if (json) {
          seg.index = ix.offsets
          seg.timeIndex = ix.times
          seg.unwrittenIndexEntries = ix.unwrittenIndexEntries
          seg.unwrittenTimeEntries = ix.unwrittenTimeEntries
        } else {
          ctx.out(`Dumping ${p.index} (${ix.indexBytes === null ? 'missing' : `${ix.offsets.length} entries${unwritten(ix.unwrittenIndexEntries)}`})`)
          for (const e of ix.offsets) ctx.out(`offset: ${e.offset} position: ${e.position}`)
          ctx.out(`Dumping ${p.timeIndex} (${ix.timeIndexBytes === null ? 'missing' : `${ix.times.length} entries${unwritten(ix.unwrittenTimeEntries)}`})`)
          for (const e of ix.times) ctx.out(`timestamp: ${e.timestamp} offset: ${e.offset}`)
        }
      }
      segments.push(seg)
    }
    const verdict = await verifyLog(io, dir)
    if (json) ctx.out(JSON.stringify({ dir, from, segments: segments.map(({ list, ...s }) => ({ ...s, file: path.basename(s.file), batches: list })), verdict }, null, 2))
    else ctx.out(describe(verdict))
    return 0
  })
}
