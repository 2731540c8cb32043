// Corruption of a partition log's segments (DESIGN.md §5 recovery, §7): seeded random bit
// flips, truncations, zeroed ranges, garbage and a deleted segment, in the active segment
// and in older ones, on a log closed cleanly (marker) and on one left as a crash leaves
// it (no marker). Opening must either recover a valid prefix or reject with
// ERR_LOG_CORRUPT naming the file and position — never crash, hang (every step is
// guarded), fail with another code, or hand out a record that was not written; reading
// the whole log afterwards returns the records written or ERR_LOG_CORRUPT. Each case is
// classified by log-lib's own RecordBatch walker (length, magic, CRC-32C, offsets):
// - the active segment's damage with nothing valid after it is a torn tail: cut, exactly
//   the bytes our walker finds invalid, reported in log.recovery;
// - damage with a valid batch after it is ERR_LOG_CORRUPT at the first bad batch (the
//   WAL's rule, stricter than Kafka's) — at open without the marker; with the marker (the
//   active segment is trusted, as Kafka trusts it) at open or when that batch is read;
// - damage in an older segment (never walked at open) is ERR_LOG_CORRUPT at open or when
//   read, never skipped over.
// Also: a flip in a batch body of an old segment and of the active one, with and without
// the marker, read back through readRecords.

import fs from 'node:fs'
import path from 'node:path'
import test, { type ExecutionContext } from 'ava'

import { openLog, type LogOptions, type PartitionLog } from '../ts/index'
import type { Io } from '../ts/types'
import { backends, describeError, openBackend, prng, settleWithin, tmpDir, type BackendName } from './helpers/backends'
import { shmDir } from './helpers/log-api-util'
import { T0, batchProblem, identityOf, recordDiff, recordFor, segmentFiles, walkSegment } from './fixtures/log-lib'
import { dumpLogSegments, kafkaToolsAvailable } from './helpers/kafka'
import { buildTemplate, type LogTemplate } from './fixtures/log-template'
import { recoveryProblems } from './fixtures/log-verify'

const SOAK = process.env.SOAK === '1'
const CASES = SOAK ? 2000 : 200
// One open or replay of a small damaged directory: a hang is one that never settles, so the
// deadline is generous — a soak on a 2-core machine under load 20 took over 15 s for one
// standard-backend open (its fdatasyncs queued behind other processes'), which is slow,
// not hung (issue 15).
const CASE_MS = 120_000
const OPTIONS: LogOptions = { segmentBytes: 6 * 1024, indexIntervalBytes: 300, maxIndexBytes: 4096 }
const MAX_VALUE = 400

// ---------------------------------------------------------------------------------------
// Mutations.

interface Mutation {
  desc: string
}

function readFile(p: string): Buffer {
  return fs.readFileSync(p)
}

function flipBit(file: string, at: number, bit: number): void {
  const b = readFile(file)
  b[at] ^= 1 << bit
  fs.writeFileSync(file, b)
}

function zeroRange(file: string, at: number, len: number): void {
  const b = readFile(file)
  b.fill(0, at, Math.min(b.length, at + len))
  fs.writeFileSync(file, b)
}

function pickMutation(tpl: LogTemplate, dir: string, rand: () => number): Mutation {
  const segs = tpl.segments
  const last = segs.length - 1
  const file = (i: number): string => path.join(dir, path.basename(segs[i].log))
  const int = (n: number): number => Math.floor(rand() * n)
  const size = (i: number): number => segs[i].bytes.length
  const old = (): number => int(last)
  switch (int(12)) {
    case 0:
    case 1: {
      // A flip in one of the active segment's last three batches (the torn-tail case).
      const bs = segs[last].batches.slice(-3)
      const b = bs[int(bs.length)]
      const at = b.position + int(b.size)
      flipBit(file(last), at, int(8))
      return { desc: `flip in the active segment's tail at ${at}` }
    }
    case 2: {
      const at = int(size(last))
      flipBit(file(last), at, int(8))
      return { desc: `flip in the active segment at ${at}` }
    }
    case 3: {
      const i = old()
      const at = int(size(i))
      flipBit(file(i), at, int(8))
      return { desc: `flip in old segment ${i} at ${at}` }
    }
    case 4: {
      const spots: string[] = []
      for (let n = 2 + int(3); n > 0; n--) {
        const i = int(segs.length)
        const at = int(size(i))
        flipBit(file(i), at, int(8))
        spots.push(`${i}:${at}`)
      }
      return { desc: `flips at ${spots.join(', ')}` }
    }
    case 5: {
      const at = int(size(last))
      fs.truncateSync(file(last), at)
      return { desc: `active segment truncated to ${at}` }
    }
    case 6: {
      const i = old()
      const at = int(size(i))
      fs.truncateSync(file(i), at)
      return { desc: `old segment ${i} truncated to ${at}` }
    }
    case 7: {
      // Zeros from a point in the active segment's last batches to its end: a lost write.
      const bs = segs[last].batches.slice(-4)
      const b = bs[int(bs.length)]
      const at = b.position + int(b.size)
      zeroRange(file(last), at, size(last))
      return { desc: `active segment zeroed from ${at} to its end` }
    }
    case 8: {
      const i = int(segs.length)
      const at = int(size(i))
      const len = 1 + int(600)
      zeroRange(file(i), at, len)
      return { desc: `${len} bytes zeroed in segment ${i}${i === last ? ' (active)' : ''} at ${at}` }
    }
    case 9: {
      // Garbage after the active segment's last batch (a torn write of something else).
      const g = Buffer.from(Array.from({ length: 1 + int(300) }, () => int(256)))
      fs.appendFileSync(file(last), g)
      return { desc: `${g.length} bytes of garbage after the active segment's end` }
    }
    case 10: {
      // A run of garbage over the active segment's tail.
      const bs = segs[last].batches.slice(-2)
      const at = bs[0].position + int(size(last) - bs[0].position)
      const b = readFile(file(last))
      for (let k = at; k < Math.min(b.length, at + 1 + int(200)); k++) b[k] = int(256)
      fs.writeFileSync(file(last), b)
      return { desc: `garbage over the active segment's tail from ${at}` }
    }
    default: {
      if (last >= 2) {
        const i = 1 + int(last - 1)
        fs.unlinkSync(file(i))
        return { desc: `old segment ${i} (in the middle) deleted` }
      }
      const at = int(size(0))
      flipBit(file(0), at, int(8))
      return { desc: `flip in segment 0 at ${at}` }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Classification by our own walker.

interface Analysis {
  /** Offsets in batches wholly before the first changed byte (in log order). */
  prefixEnd: number
  /**
   * Below this offset reads must work: prefixEnd when the first damage is in the active
   * segment; the damaged segment's base when it is in an older one (its index may have to
   * be rebuilt from its batches first, and that refuses the whole segment).
   */
  readableEnd: number
  /** Older segments our walker finds damaged (invalid batch, short, missing). */
  oldDamaged: number[]
  /** Files whose bytes changed (or that are gone): an ERR_LOG_CORRUPT may name these. */
  blame: Set<string>
  active: {
    file: string
    size: number
    validEnd: number
    nextOffset: number
    bad: { position: number; what: string } | null
    /** A batch written after the bad spot is still whole and valid at its place. */
    validAfter: boolean
    /**
     * One is whole with its CRC intact but its baseOffset (outside the CRC) damaged: is it
     * a valid batch after the damage or not? DESIGN §5's "offsets follow on" says not; the
     * recovery scan may count it (it counts batches at or past the expected offset, so a
     * producer's value that is itself an old batch does not count). Either answer is right.
     */
    crcValidAfter: boolean
  }
  changed: boolean
}

function analyse(tpl: LogTemplate, dir: string): Analysis {
  const segs = tpl.segments
  const lastI = segs.length - 1
  let prefixEnd: number | null = null
  let readableEnd: number | null = null
  const oldDamaged: number[] = []
  const blame = new Set<string>()
  let changed = false
  let active: Analysis['active'] | null = null
  segs.forEach((s, i) => {
    const p = path.join(dir, path.basename(s.log))
    const now = fs.existsSync(p) ? readFile(p) : null
    let firstDiff = -1
    if (now === null) firstDiff = 0
    else {
      const n = Math.min(now.length, s.bytes.length)
      for (let k = 0; k < n; k++) {
        if (now[k] !== s.bytes[k]) {
          firstDiff = k
          break
        }
      }
      if (firstDiff < 0 && now.length !== s.bytes.length) firstDiff = n
    }
    if (firstDiff >= 0) {
      changed = true
      blame.add(p)
      // A deleted segment: the reads that miss it happen in the segment before.
      if (now === null && i > 0) blame.add(path.join(dir, path.basename(segs[i - 1].log)))
      if (prefixEnd === null) {
        readableEnd = i === lastI ? null : s.base
        prefixEnd = s.base
        for (const b of s.batches) if (b.position + b.size <= firstDiff) prefixEnd = b.lastOffset + 1
      }
    }
    const bytes = now ?? Buffer.alloc(0)
    const w = walkSegment(bytes, s.base)
    if (i < lastI) {
      if (now === null || w.bad !== null || w.nextOffset !== segs[i + 1].base) oldDamaged.push(i)
    } else {
      const later = w.bad === null ? [] : s.batches.filter((b) => b.position > w.bad!.position)
      const validAfter = later.some((b) => batchProblem(bytes, b.position, b.baseOffset) === null)
      const crcValidAfter = validAfter || later.some((b) => batchProblem(bytes, b.position, null) === null)
      active = { file: p, size: bytes.length, validEnd: w.validEnd, nextOffset: w.nextOffset, bad: w.bad, validAfter, crcValidAfter }
    }
  })
  return { prefixEnd: prefixEnd ?? tpl.written, readableEnd: readableEnd ?? prefixEnd ?? tpl.written, oldDamaged, blame, active: active!, changed }
}

// ---------------------------------------------------------------------------------------
// Reading everything back.

interface ReadAll {
  /** One past the last record returned in order and intact. */
  next: number
  /** The ERR_LOG_CORRUPT that stopped the walk, if any. */
  corrupt: { path: unknown; position: unknown; message: string } | null
  /** What was wrong, if anything (a wrong record, another error, a silent gap). */
  problem: string | null
}

async function readAll(log: PartitionLog, tpl: LogTemplate, what: string, extra?: { from: number; salt: number }): Promise<ReadAll> {
  let next = log.logStartOffset
  const hw = log.highWatermark
  // Many batches per call; after an ERR_LOG_CORRUPT, one batch per call from where that
  // call started, so the walk stops at the very batch that fails.
  let maxBytes = 16 * 1024
  while (true) {
    const r = await readFrom(log, tpl, what, next, hw, maxBytes, extra)
    if (r.corrupt === null || maxBytes === 1) return r
    maxBytes = 1
    next = r.next
  }
}

async function readFrom(log: PartitionLog, tpl: LogTemplate, what: string, from: number, hw: number, maxBytes: number, extra?: { from: number; salt: number }): Promise<ReadAll> {
  let next = from
  try {
    while (next < hw) {
      const recs = await settleWithin(log.readRecords(next, { maxBytes }), CASE_MS, `${what}: readRecords(${next})`)
      if (recs.length === 0) return { next, corrupt: null, problem: `readRecords(${next}) returned nothing below the high watermark ${hw}: a silent gap` }
      for (const r of recs) {
        if (r.offset !== next) return { next, corrupt: null, problem: `readRecords returned offset ${r.offset} where ${next} was due` }
        const salt = extra && r.offset >= extra.from ? extra.salt : tpl.salt
        const d = r.offset >= tpl.written && !extra ? 'beyond what was written' : recordDiff(r, r.offset, recordFor(r.offset, salt, tpl.maxValueBytes))
        if (d !== null) return { next, corrupt: null, problem: `readRecords returned a record that was not written at offset ${r.offset}: ${d} (${identityOf(r)})` }
        next++
      }
    }
  } catch (e) {
    const d = describeError(e)
    if (/did not settle/.test(String(d.message))) return { next, corrupt: null, problem: String(d.message) }
    if (d.code !== 'ERR_LOG_CORRUPT') return { next, corrupt: null, problem: `readRecords(${next}) failed with something else than ERR_LOG_CORRUPT: ${JSON.stringify(d)}` }
    const o = e as { path?: unknown; position?: unknown }
    return { next, corrupt: { path: o.path, position: o.position, message: String(d.message) }, problem: null }
  }
  return { next, corrupt: null, problem: null }
}

function corruptShape(e: { path?: unknown; position?: unknown; message?: unknown }, dir: string): string | null {
  if (typeof e.path !== 'string' || path.dirname(e.path) !== dir || !/^\d{20}\.log$/.test(path.basename(e.path))) return `path ${JSON.stringify(e.path)} is not a segment of ${dir}`
  if (typeof e.position !== 'number' || !Number.isSafeInteger(e.position) || e.position < 0) return `position ${JSON.stringify(e.position)} is not a byte position`
  if (!String(e.message).includes(path.basename(e.path))) return `the message does not name the file: ${e.message}`
  return null
}

// ---------------------------------------------------------------------------------------
// One case.

/** Collects a case's failure (the campaign goes on, and reports them all at the end). */
type Fail = (msg: string) => void

/**
 * Where the cases' directories go: tmpfs (recovery is what is tested, not the disk's
 * fdatasync latency: a case makes a dozen). /dev/shm is a tmpfs that needs no mount (a
 * mount is machine-wide state, for __test__/machine-wide/ only: issue 15); without it,
 * the temporary directory.
 */
function scratch(t: ExecutionContext, label: string): string {
  return shmDir(t, label)
}

async function runCase(t: ExecutionContext, fail: Fail, backend: BackendName, tpl: LogTemplate, seed: number, root: string): Promise<string> {
  const rand = prng(seed)
  const dir = fs.mkdtempSync(path.join(root, 'case-'))
  fs.cpSync(tpl.dir, dir, { recursive: true })
  const m = pickMutation(tpl, dir, rand)
  const what = `${backend} case ${seed} [${tpl.marker ? 'marker' : 'no marker'}] ${m.desc}`
  const a = analyse(tpl, dir)
  const io = await openBackend(t, backend)
  try {
    return await openCase(fail, io, dir, tpl, a, what)
  } finally {
    // One Io per case, closed now rather than at the end of the test (2000 rings in SOAK).
    await io.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

async function openCase(failed: Fail, io: Io, dir: string, tpl: LogTemplate, a: Analysis, what: string): Promise<string> {
  const act = a.active
  const oldDamaged = a.oldDamaged.length > 0
  // The cases where the rules leave no choice at open.
  const mustReject = !tpl.marker && !oldDamaged && act.bad !== null && act.validAfter
  const mustOpen = !oldDamaged && (act.bad === null || !act.crcValidAfter)
  const fail = (msg: string, label: string): string => {
    failed(`${what}: ${msg}`)
    return `FAIL ${label}`
  }
  let log: PartitionLog | null = null
  let err: unknown = null
  try {
    log = await settleWithin(openLog(io, dir, tpl.options), CASE_MS, `${what}: open`)
  } catch (e) {
    err = e
  }
  if (log === null) {
    const d = describeError(err)
    if (/did not settle/.test(String(d.message))) return fail('open hung', 'hang')
    if (d.code !== 'ERR_LOG_CORRUPT') return fail(`open failed with something else than ERR_LOG_CORRUPT: ${JSON.stringify(d)}`, 'bad-error')
    if (!(err instanceof Error) || err instanceof TypeError || err instanceof RangeError) return fail('ERR_LOG_CORRUPT must be a plain Error', 'bad-error')
    const shape = corruptShape(err as { path?: unknown; position?: unknown; message?: unknown }, dir)
    if (shape !== null) return fail(`ERR_LOG_CORRUPT: ${shape}`, 'bad-error')
    const e = err as unknown as { path: string; position: number }
    if (mustOpen) return fail(`refused a log whose only damage is a torn tail with nothing valid after it (our walker: ${JSON.stringify(act.bad)}): ${d.message}`, 'refused-tail')
    if (!oldDamaged && (e.path !== act.file || e.position !== act.bad?.position)) return fail(`ERR_LOG_CORRUPT names ${path.basename(e.path)} at ${e.position}; the first bad batch is in ${path.basename(act.file)} at ${act.bad?.position} (${act.bad?.what})`, 'bad-error')
    if (oldDamaged && !a.blame.has(e.path) && e.path !== act.file) return fail(`ERR_LOG_CORRUPT names ${e.path}, which is not damaged: ${d.message}`, 'bad-error')
    // A refused open changes nothing on disk.
    for (const s of tpl.segments) {
      const p = path.join(dir, path.basename(s.log))
      if (fs.existsSync(p) && a.blame.has(p) === false && !readFile(p).equals(s.bytes)) return fail(`the refused open changed ${p}`, 'changed')
    }
    return 'corrupt-at-open'
  }
  try {
    if (mustReject) return fail(`opened although a valid batch follows the damage in the active segment (our walker: ${JSON.stringify(act.bad)}; recovery ${JSON.stringify(log.recovery)})`, 'accepted-corrupt')
    const report = recoveryProblems(log, dir)
    if (report !== null) return fail(`recovery report: ${report}: ${JSON.stringify(log.recovery)}`, 'bad-report')
    const problems: string[] = []
    if (log.logStartOffset !== 0) problems.push(`logStartOffset ${log.logStartOffset}`)
    if (log.logEndOffset > tpl.written) problems.push(`logEndOffset ${log.logEndOffset} beyond the ${tpl.written} offsets written`)
    if (log.highWatermark !== log.logEndOffset) problems.push(`highWatermark ${log.highWatermark}, logEndOffset ${log.logEndOffset}`)
    // clean: the marker was there and trusted (nothing had to be walked and cut).
    if (log.recovery.clean !== (tpl.marker && log.recovery.reason === null)) problems.push(`recovery.clean ${log.recovery.clean} but the marker was ${tpl.marker ? '' : 'not '}there: ${JSON.stringify(log.recovery)}`)
    if (problems.length > 0) return fail(problems.join('; '), 'bad-open')
    const r = await readAll(log, tpl, what)
    if (r.problem !== null) return fail(r.problem, 'bad-read')
    if (r.corrupt !== null) {
      const shape = corruptShape(r.corrupt, dir)
      if (shape !== null) return fail(`readRecords' ERR_LOG_CORRUPT: ${shape}`, 'bad-error')
      if (r.next < a.readableEnd) return fail(`readRecords reported ERR_LOG_CORRUPT at offset ${r.next}, before the damage (offsets below ${a.prefixEnd} are intact): ${r.corrupt.message}`, 'bad-read')
      if (!a.blame.has(r.corrupt.path as string)) return fail(`readRecords' ERR_LOG_CORRUPT names ${r.corrupt.path}, which is not damaged: ${r.corrupt.message}`, 'bad-read')
      // Without the marker the active segment was walked batch by batch at open: what it
      // kept reads back. With it, damage the trusted segment hides is found when read.
      if (!oldDamaged && !(tpl.marker && act.bad !== null)) return fail(`readRecords found corruption (${r.corrupt.message}) that open should have dealt with`, 'bad-read')
      return 'corrupt-at-read'
    }
    // Everything up to logEndOffset read back intact. That is right only when nothing
    // valid was dropped: a torn tail of the active segment, cut exactly.
    if (r.next !== log.logEndOffset) return fail(`the records end at ${r.next}, logEndOffset is ${log.logEndOffset}`, 'bad-read')
    if (oldDamaged) return fail(`read the whole log without an error although older segment(s) ${a.oldDamaged.join(', ')} are damaged (read ${r.next} of ${tpl.written})`, 'skipped-damage')
    if (act.bad !== null && act.validAfter) return fail(`dropped valid batches after the damage: read ${r.next} of ${tpl.written}`, 'dropped-valid')
    if (log.logEndOffset !== act.nextOffset) return fail(`logEndOffset ${log.logEndOffset}; the valid batches of the active segment end at ${act.nextOffset} (our walker: ${JSON.stringify(act.bad)})`, 'bad-open')
    const cut = act.size - act.validEnd
    if (log.recovery.truncatedBytes !== cut) return fail(`recovery cut ${log.recovery.truncatedBytes} bytes; the invalid tail is ${cut} (our walker: ${JSON.stringify(act.bad)}; recovery ${JSON.stringify(log.recovery)})`, 'bad-cut')
    if (cut > 0 && (log.recovery.file !== act.file || log.recovery.reason === null)) return fail(`recovery does not name the cut: ${JSON.stringify(log.recovery)}`, 'bad-report')
    if (fs.statSync(act.file).size !== act.validEnd) return fail(`the active segment is ${fs.statSync(act.file).size} bytes after recovery; its valid batches end at ${act.validEnd}`, 'bad-cut')
    // The recovered log takes appends at logEndOffset, and a second open finds it clean.
    const end = log.logEndOffset
    const salt2 = tpl.salt + 1
    const info = await settleWithin(log.append([recordFor(end, salt2, tpl.maxValueBytes), recordFor(end + 1, salt2, tpl.maxValueBytes)]), CASE_MS, `${what}: append after recovery`)
    if (info.baseOffset !== end || info.lastOffset !== end + 1) return fail(`the append after recovery got ${JSON.stringify(info)}, expected ${end}..${end + 1}`, 'bad-append')
    await settleWithin(log.close(), CASE_MS, `${what}: close`)
    log = null
    const again = await settleWithin(openLog(io, dir, tpl.options), CASE_MS, `${what}: second open`).catch((e: unknown) => e as Error)
    if (!(again && typeof (again as PartitionLog).readRecords === 'function')) return fail(`the second open failed: ${JSON.stringify(describeError(again))}`, 'bad-reopen')
    log = again as PartitionLog
    if (!log.recovery.clean || log.recovery.truncatedBytes !== 0 || log.logEndOffset !== end + 2) return fail(`the second open: ${JSON.stringify(log.recovery)}, logEndOffset ${log.logEndOffset} (want ${end + 2})`, 'bad-reopen')
    const r2 = await readAll(log, tpl, `${what} (second open)`, { from: end, salt: salt2 })
    if (r2.problem !== null || r2.corrupt !== null || r2.next !== end + 2) return fail(`the second open reads ${r2.next} records: ${r2.problem ?? r2.corrupt?.message ?? ''}`, 'bad-reopen')
    return !a.changed || (cut === 0 && end === tpl.written) ? 'intact' : 'prefix'
  } finally {
    await log?.close().catch(() => undefined)
  }
}

for (const backend of backends) {
  test(`${backend}: ${CASES} seeded corruptions of segments (flips, truncations, zeroed ranges, garbage, a deleted segment; active and old; marker and none): a valid prefix or ERR_LOG_CORRUPT`, async (t) => {
    t.timeout(SOAK ? 1_800_000 : 300_000)
    const io = await openBackend(t, backend)
    const root = scratch(t, 'log-corrupt-')
    const templates = [
      await buildTemplate(t, io, { marker: false, appends: 70, salt: 4242, maxValueBytes: MAX_VALUE, options: OPTIONS, label: 'tpl', root }),
      await buildTemplate(t, io, { marker: true, appends: 70, salt: 4242, maxValueBytes: MAX_VALUE, options: OPTIONS, label: 'tpl', root }),
    ]
    t.true(templates[0].segments.length >= 4, `the template spans several segments (${templates[0].segments.length})`)
    const tally: Record<string, number> = {}
    const failures: string[] = []
    const fail: Fail = (msg) => void failures.push(msg)
    const base = backend === 'io_uring' ? 10_000 : 20_000
    // LOG_CORRUPTION_CASE=<seed> reruns one case (the seed is in every failure message).
    const only = process.env.LOG_CORRUPTION_CASE
    const seeds = only ? [Number(only)] : Array.from({ length: CASES }, (_, c) => base + c)
    for (const seed of seeds) {
      const tpl = templates[seed % 2]
      const outcome = await runCase(t, fail, backend, tpl, seed, root)
      const key = `${tpl.marker ? 'marker' : 'none'}:${outcome}`
      tally[key] = (tally[key] ?? 0) + 1
    }
    t.log(`${backend}: ${JSON.stringify(tally)} over ${templates[0].segments.length} segments, ${templates[0].written} offsets`)
    if (failures.length > 0) t.fail(`${failures.length} of ${seeds.length} cases failed:\n  ${failures.slice(0, 12).join('\n  ')}`)
    else t.pass()
  })

  test(`${backend}: a flip in a batch body of an old segment and of the active one, with and without the marker: ERR_LOG_CORRUPT for that batch (at open or when read), never wrong data`, async (t) => {
    const io = await openBackend(t, backend)
    for (const marker of [false, true]) {
      const tpl = await buildTemplate(t, io, { marker, appends: 70, salt: 99, maxValueBytes: MAX_VALUE, options: OPTIONS, label: 'log-flip-tpl' })
      const last = tpl.segments.length - 1
      for (const target of ['old', 'active'] as const) {
        const si = target === 'old' ? 1 : last
        const seg = tpl.segments[si]
        // A batch in the middle of the segment (valid ones follow it), a byte in its records (covered by the CRC only).
        t.true(seg.batches.length >= 3, `the ${target} segment holds several batches (${seg.batches.length})`)
        const b = seg.batches[Math.floor((seg.batches.length - 1) / 2)]
        const what = `${backend} [${marker ? 'marker' : 'no marker'}] flip in the body of batch ${b.baseOffset}..${b.lastOffset} of the ${target} segment ${path.basename(seg.log)}`
        const dir = tmpDir(t, 'log-flip-')
        fs.cpSync(tpl.dir, dir, { recursive: true })
        const file = path.join(dir, path.basename(seg.log))
        flipBit(file, b.position + b.size - 5, 3)
        let log: PartitionLog
        try {
          log = await settleWithin(openLog(io, dir, tpl.options), CASE_MS, `${what}: open`)
        } catch (e) {
          const d = describeError(e)
          // Only an unmarked active segment is walked (and CRC-checked) at open; valid batches follow this one.
          t.true(target === 'active' && !marker, `${what}: open refused: ${JSON.stringify(d)}`)
          t.is(d.code, 'ERR_LOG_CORRUPT', `${what}: ${JSON.stringify(d)}`)
          t.is(d.path, file, `${what}: the error names the segment`)
          t.is((e as { position?: number }).position, b.position, `${what}: the error names the batch's position`)
          t.true(fs.readFileSync(file).equals((() => {
            const x = Buffer.from(seg.bytes)
            x[b.position + b.size - 5] ^= 1 << 3
            return x
          })()), `${what}: the refused open left the segment as it was`)
          continue
        }
        t.false(target === 'active' && !marker, `${what}: open must refuse: a valid batch follows the damaged one (recovery ${JSON.stringify(log.recovery)})`)
        t.is(log.logEndOffset, tpl.written, `${what}: nothing cut`)
        // Records before the batch read back intact.
        const before = await readAll(log, tpl, what)
        t.true(before.next === b.baseOffset && before.corrupt !== null, `${what}: the records before the batch read back, then ERR_LOG_CORRUPT (stopped at ${before.next}, ${before.problem ?? before.corrupt?.message})`)
        // The damaged batch itself: ERR_LOG_CORRUPT, the CRC, file and position named.
        for (const o of [b.baseOffset, b.lastOffset]) {
          const e = await settleWithin(
            log.readRecords(o).then(
              (recs) => ({ recs }),
              (x: unknown) => x,
            ),
            CASE_MS,
            `${what}: readRecords(${o})`,
          )
          const d = describeError(e)
          t.is(d.code, 'ERR_LOG_CORRUPT', `${what}: readRecords(${o}) must not return the batch: ${JSON.stringify(d)}`)
          t.is(d.path, file, `${what}: readRecords(${o}) names the segment`)
          t.is((e as { position?: number }).position, b.position, `${what}: readRecords(${o}) names the batch's position`)
          t.regex(String(d.message), /CRC/, `${what}: readRecords(${o}) says the CRC failed`)
        }
        // What follows the batch reads back intact.
        const recs = await log.readRecords(b.lastOffset + 1, { maxBytes: 1 })
        t.is(recs[0]?.offset, b.lastOffset + 1, `${what}: the next batch reads`)
        t.is(recordDiff(recs[0], b.lastOffset + 1, recordFor(b.lastOffset + 1, tpl.salt, MAX_VALUE)), null, `${what}: the next batch is intact`)
        await log.close()
      }
    }
  })

  test(`${backend}: a deleted or cut old segment is never read over silently: ERR_LOG_CORRUPT at open or when its offsets are read`, async (t) => {
    const io = await openBackend(t, backend)
    for (const marker of [false, true]) {
      const tpl = await buildTemplate(t, io, { marker, appends: 70, salt: 17, maxValueBytes: MAX_VALUE, options: OPTIONS, label: 'log-gap-tpl' })
      const seg = tpl.segments[1]
      for (const how of ['deleted', 'cut at a batch boundary'] as const) {
        const what = `${backend} [${marker ? 'marker' : 'no marker'}] old segment ${path.basename(seg.log)} ${how}`
        const dir = tmpDir(t, 'log-gap-')
        fs.cpSync(tpl.dir, dir, { recursive: true })
        const file = path.join(dir, path.basename(seg.log))
        // Cut after the first batch: the index's entries stay inside what is left when it has none past it.
        if (how === 'deleted') fs.unlinkSync(file)
        else fs.truncateSync(file, seg.batches[seg.batches.length - 1].position)
        const gapFrom = how === 'deleted' ? seg.base : seg.batches[seg.batches.length - 1].baseOffset
        let log: PartitionLog
        try {
          log = await settleWithin(openLog(io, dir, tpl.options), CASE_MS, `${what}: open`)
        } catch (e) {
          t.is(describeError(e).code, 'ERR_LOG_CORRUPT', `${what}: open: ${JSON.stringify(describeError(e))}`)
          continue
        }
        const r = await readAll(log, tpl, what)
        t.is(r.problem, null, `${what}: reading the whole log`)
        t.truthy(r.corrupt, `${what}: reading over offsets ${gapFrom}.. (gone) must report ERR_LOG_CORRUPT, not stop short (read ${r.next} of ${tpl.written})`)
        // The records before the gap read back — or, where the segment's index has to be
        // rebuilt from its batches first (the marker: indexes are loaded when first read,
        // and this one points past the cut), the whole segment is refused.
        t.true(r.next === gapFrom || (how !== 'deleted' && r.next === seg.base), `${what}: the records before the gap read back (stopped at ${r.next}, gap at ${gapFrom}: ${r.corrupt?.message})`)
        const e = await log.readRecords(gapFrom).then(
          (recs) => `returned ${recs.length} records`,
          (x: unknown) => describeError(x).code,
        )
        t.is(e, 'ERR_LOG_CORRUPT', `${what}: readRecords(${gapFrom})`)
        const after = tpl.segments[2].base
        t.is((await log.readRecords(after, { maxBytes: 1 }))[0]?.offset, after, `${what}: the next segment reads`)
        await log.close()
      }
    }
  })
}

// ---------------------------------------------------------------------------------------
// Index damage: the .index and .timeindex carry no checksum. Deleted, cut to a size that is
// not a whole number of entries, or filled with garbage — of an old segment and of the
// active one, with and without the marker — they are rebuilt from the batches: open
// succeeds and lists them in recovery.rebuiltIndexes where its sanity check (old
// segments, no marker) or its load (the active segment, marker) found them unusable;
// reads from every offset and offsetForTimestamp still answer right; and once the log is
// closed, Kafka's DumpLogSegments --verify-index-only passes on every index file.

type IndexDamage = 'deleted' | 'cut to a non-multiple' | 'garbage'

function damageIndex(file: string, entryBytes: number, how: IndexDamage, rand: () => number): void {
  const size = fs.existsSync(file) ? fs.statSync(file).size : 0
  if (how === 'deleted') fs.unlinkSync(file)
  else if (how === 'cut to a non-multiple') {
    if (size > entryBytes) fs.truncateSync(file, size - 1 - Math.floor(rand() * (entryBytes - 1)))
    else fs.writeFileSync(file, Buffer.alloc(entryBytes - 3, 7))
  } else {
    const n = size > 0 ? size : 5 * entryBytes
    fs.writeFileSync(file, Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256))))
  }
}

/** The first offset whose record's timestamp is ≥ ts, with that timestamp (what offsetForTimestamp must answer), or null. */
function expectedForTimestamp(tpl: LogTemplate, ts: number): { offset: number; timestamp: number } | null {
  for (let o = 0; o < tpl.written; o++) {
    const r = recordFor(o, tpl.salt, tpl.maxValueBytes)
    if (r.timestamp >= ts) return { offset: o, timestamp: r.timestamp }
  }
  return null
}

for (const backend of backends) {
  test(`${backend}: damaged .index / .timeindex (deleted, cut to a non-multiple, garbage; old and active segment; marker and none): rebuilt, every offset reads, Kafka's --verify-index-only passes`, async (t) => {
    t.timeout(300_000)
    const io = await openBackend(t, backend)
    const root = scratch(t, 'log-index-')
    const done: string[] = []
    let seed = backend === 'io_uring' ? 500 : 600
    for (const marker of [false, true]) {
      const tpl = await buildTemplate(t, io, { marker, appends: 70, salt: 31, maxValueBytes: MAX_VALUE, options: OPTIONS, label: 'tpl', root })
      const last = tpl.segments.length - 1
      const probes = [T0 - 5, ...Array.from({ length: 8 }, (_, i) => recordFor(Math.floor((i * tpl.written) / 8), tpl.salt, MAX_VALUE).timestamp + (i % 3) - 1), recordFor(tpl.written - 1, tpl.salt, MAX_VALUE).timestamp + 100]
      for (const target of ['old', 'active'] as const) {
        for (const kind of ['index', 'timeIndex'] as const) {
          for (const how of ['deleted', 'cut to a non-multiple', 'garbage'] as const) {
            const seg = tpl.segments[target === 'old' ? 1 : last]
            const what = `${backend} [${marker ? 'marker' : 'no marker'}] ${target} segment's ${kind === 'index' ? '.index' : '.timeindex'} ${how}`
            const dir = fs.mkdtempSync(path.join(root, 'idx-'))
            fs.cpSync(tpl.dir, dir, { recursive: true })
            const file = path.join(dir, path.basename(seg[kind]))
            damageIndex(file, kind === 'index' ? 8 : 12, how, prng(seed++))
            let log: PartitionLog
            try {
              log = await settleWithin(openLog(io, dir, tpl.options), CASE_MS, `${what}: open`)
            } catch (e) {
              t.fail(`${what}: open failed: ${JSON.stringify(describeError(e))}`)
              continue
            }
            try {
              const report = recoveryProblems(log, dir)
              t.is(report, null, `${what}: recovery report ${JSON.stringify(log.recovery)}`)
              t.is(log.recovery.truncatedBytes, 0, `${what}: the segments are intact, nothing is cut: ${JSON.stringify(log.recovery)}`)
              t.is(log.logEndOffset, tpl.written, `${what}: logEndOffset`)
              // Where open looks at this file, it must say it rebuilt it.
              const looked = (target === 'active' && marker) || (target === 'old' && !marker)
              if (looked) t.true(log.recovery.rebuiltIndexes.includes(file), `${what}: recovery.rebuiltIndexes lists ${path.basename(file)}: ${JSON.stringify(log.recovery.rebuiltIndexes)}`)
              // Every offset, from every start.
              const wrong: string[] = []
              for (let o = 0; o < tpl.written; o++) {
                const recs = await settleWithin(log.readRecords(o, { maxBytes: 1 }), CASE_MS, `${what}: readRecords(${o})`).catch((e: unknown) => e as Error)
                if (!Array.isArray(recs)) wrong.push(`readRecords(${o}) failed: ${JSON.stringify(describeError(recs))}`)
                else if (recs.length === 0) wrong.push(`readRecords(${o}) returned nothing`)
                else {
                  const d = recordDiff(recs[0], o, recordFor(o, tpl.salt, MAX_VALUE))
                  if (d !== null) wrong.push(`readRecords(${o}): ${d}`)
                }
                if (wrong.length >= 3) break
              }
              t.deepEqual(wrong, [], `${what}: reads from every offset`)
              for (const ts of probes) {
                const got = await settleWithin(log.offsetForTimestamp(ts), CASE_MS, `${what}: offsetForTimestamp(${ts})`)
                t.deepEqual(got, expectedForTimestamp(tpl, ts), `${what}: offsetForTimestamp(${ts})`)
              }
            } finally {
              await settleWithin(log.close(), CASE_MS, `${what}: close`)
            }
            t.true(fs.existsSync(file) && fs.statSync(file).size % (kind === 'index' ? 8 : 12) === 0, `${what}: the file is whole entries again after close`)
            done.push(dir)
          }
        }
      }
    }
    // Kafka's own check of every index file of every case, in one run.
    const missing = kafkaToolsAvailable()
    if (missing !== null) {
      t.fail(missing)
      return
    }
    const files = done.flatMap((d) => segmentFiles(d).flatMap((s) => [s.index, s.timeIndex]))
    const v = await dumpLogSegments(['--verify-index-only', '--files', files.join(',')]).catch((e: unknown) => e as { stdout?: string; stderr?: string; message?: string })
    const complaints = String(v.stderr ?? '')
      .split('\n')
      .filter((l) => l.trim().length > 0 && !/^(SLF4J|WARNING: )/.test(l))
    t.deepEqual(complaints.slice(0, 10), [], `${backend}: Kafka's --verify-index-only on ${files.length} index files: ${(v as { message?: string }).message ?? ''}`)
    t.is(String(v.stdout ?? '').split('\n').filter((l) => l.startsWith('Dumping ')).length, files.length, `${backend}: Kafka dumped every index file`)
  })
}
