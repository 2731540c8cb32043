// Corruption: seeded random bit flips, truncations, zeroed ranges, garbage and deleted
// files in a WAL written by the library (headers included, tail and middle). Opening it
// must either recover a valid prefix (tolerate-tail, reported in wal.recovery) or throw
// ERR_WAL_CORRUPT — never crash, hang, drop records that a bad spot does not precede,
// or return a record with wrong bytes (DESIGN.md §3 recovery, §7). Each case is bounded
// in time. Where records sit is found by searching the files for each record's unique
// 16-byte prefix, so the rules below need only the documented frame layout
// (docs/FORMATS.md: a 16-byte frame header before each payload, 8-byte padding).

import fs from 'node:fs'
import path from 'node:path'
import test, { type ExecutionContext } from 'ava'

import { crc32c } from '../ts/index'
import { backends, describeError, openBackend, prng, settleWithin, tmpDir, type BackendName } from './helpers/backends'
import { collect, openWal, recordFor, walFiles, type WalSpec } from './fixtures/wal-lib'
import { checkRecoveryReport } from './fixtures/wal-verify'

const SOAK = process.env.SOAK === '1'
const CASES = SOAK ? 2000 : 200
const SEGMENT_BYTES = 32 * 1024
const SALT = 4242
const MAX_RECORD = 2500
const RECORDS = 160
const FRAME_HEADER = 16
const HEADER_BYTES = 4096 // docs/FORMATS.md: the header block
// One open or replay of a small damaged directory: a hang is one that never settles, so the
// deadline is generous — a soak on a 2-core machine under load 20 took over 15 s for one
// standard-backend open (its fdatasyncs queued behind other processes'), which is slow,
// not hung (issue 15).
const CASE_MS = 120_000

interface Placed {
  lsn: number
  file: number
  start: number // payload start
  end: number // payload end
}

interface Template {
  dir: string
  files: string[] // basenames, LSN order
  placed: Placed[]
  /** Per file: where its last frame (with padding) ends, or HEADER_BYTES when it holds none. */
  writtenEnd: number[]
}

async function buildTemplate(t: ExecutionContext, backend: BackendName): Promise<Template> {
  const dir = tmpDir(t, 'wal-corrupt-tpl-')
  const io = await openBackend(t, backend)
  const wal = await openWal(io, dir, { segmentBytes: SEGMENT_BYTES })
  for (let lsn = 1; lsn <= RECORDS; ) {
    if (lsn % 7 === 0 && lsn + 3 <= RECORDS) {
      await wal.appendMany([0, 1, 2].map((i) => recordFor(lsn + i, SALT, MAX_RECORD)))
      lsn += 3
    } else {
      t.is(await wal.append(recordFor(lsn, SALT, MAX_RECORD)), lsn)
      lsn++
    }
  }
  await wal.close()
  const files = walFiles(dir)
  const contents = files.map((f) => fs.readFileSync(f))
  const placed: Placed[] = []
  for (let lsn = 1; lsn <= RECORDS; lsn++) {
    const rec = recordFor(lsn, SALT, MAX_RECORD)
    const prefix = rec.subarray(0, 16)
    let found: Placed | null = null
    contents.forEach((c, i) => {
      const at = c.indexOf(prefix)
      if (at >= 0 && found === null) found = { lsn, file: i, start: at, end: at + rec.length }
    })
    if (found === null) throw new Error(`record ${lsn} not found in the template files`)
    placed.push(found)
  }
  const writtenEnd = files.map((_, i) => {
    const last = placed.filter((p) => p.file === i).pop()
    return last ? last.start + Math.ceil((last.end - last.start) / 8) * 8 : HEADER_BYTES
  })
  t.true(files.length >= 4, `the template spans several files (${files.length})`)
  return { dir, files: files.map((f) => path.basename(f)), placed, writtenEnd }
}

type Spot = { file: number; at: number }
const before = (a: Spot, b: Spot): boolean => a.file < b.file || (a.file === b.file && a.at < b.at)

interface Mutation {
  desc: string
  kind: 'flip' | 'truncate' | 'zero' | 'garbage' | 'delete' | 'header'
  /** First and last damaged byte. */
  lo: Spot
  hi: Spot
  /** The damaged ranges, when not the one range lo..hi (several flips). */
  ranges?: Array<[Spot, Spot]>
  /** A flip inside a record's frame (header or payload) or in the clean space after the last frame. */
  strictMustRefuse: boolean
}

function pickMutation(tpl: Template, dir: string, rand: () => number): Mutation {
  const nf = tpl.files.length
  const last = nf - 1
  const file = (i: number): string => path.join(dir, tpl.files[i])
  const int = (n: number): number => Math.floor(rand() * n)
  const flipAt = (i: number, at: number): void => {
    const fd = fs.openSync(file(i), 'r+')
    const b = Buffer.alloc(1)
    fs.readSync(fd, b, 0, 1, at)
    b[0] ^= 1 << int(8)
    fs.writeSync(fd, b, 0, 1, at)
    fs.closeSync(fd)
  }
  const inFrame = (i: number, at: number): boolean =>
    tpl.placed.some((p) => p.file === i && at >= p.start - FRAME_HEADER && at < p.end) || (i === last && at >= tpl.writtenEnd[last])
  const k = int(10)
  switch (k) {
    case 0:
    case 1: {
      // A flip in one of the last three records (the torn-tail case), or just after them.
      const tail = tpl.placed.slice(-3)
      const p = tail[int(tail.length)]
      const at = p.start - FRAME_HEADER + int(p.end - p.start + FRAME_HEADER + 48)
      flipAt(p.file, at)
      return { desc: `flip in the tail at ${tpl.files[p.file]}:${at}`, kind: 'flip', lo: { file: p.file, at }, hi: { file: p.file, at }, strictMustRefuse: inFrame(p.file, at) }
    }
    case 2: {
      // A flip anywhere written, headers included.
      const i = int(nf)
      const at = int(tpl.writtenEnd[i] + 64)
      flipAt(i, at)
      return { desc: `flip at ${tpl.files[i]}:${at}`, kind: at < 32 ? 'header' : 'flip', lo: { file: i, at }, hi: { file: i, at }, strictMustRefuse: at < 32 || inFrame(i, at) }
    }
    case 3: {
      // Several flips.
      const spots: Spot[] = []
      for (let n = 2 + int(3); n > 0; n--) {
        const i = int(nf)
        const at = HEADER_BYTES + int(tpl.writtenEnd[i] - HEADER_BYTES + 1)
        flipAt(i, at)
        spots.push({ file: i, at })
      }
      spots.sort((a, b) => (before(a, b) ? -1 : 1))
      return {
        desc: `flips at ${spots.map((s) => `${tpl.files[s.file]}:${s.at}`).join(', ')}`,
        kind: 'flip',
        lo: spots[0],
        hi: spots[spots.length - 1],
        ranges: spots.map((s) => [s, s] as [Spot, Spot]),
        strictMustRefuse: spots.some((s) => inFrame(s.file, s.at)),
      }
    }
    case 4: {
      // The last file cut short (a torn tail), possibly inside its header.
      const at = int(tpl.writtenEnd[last] + 1)
      fs.truncateSync(file(last), at)
      return { desc: `${tpl.files[last]} truncated to ${at}`, kind: at < HEADER_BYTES ? 'header' : 'truncate', lo: { file: last, at }, hi: { file: last, at: SEGMENT_BYTES }, strictMustRefuse: false }
    }
    case 5: {
      // A file before the last cut short: records after it are lost unless only spare space went.
      const i = int(last)
      const at = int(SEGMENT_BYTES)
      fs.truncateSync(file(i), at)
      return { desc: `${tpl.files[i]} (not the last) truncated to ${at}`, kind: at < HEADER_BYTES ? 'header' : 'truncate', lo: { file: i, at }, hi: { file: i, at: SEGMENT_BYTES }, strictMustRefuse: false }
    }
    case 6: {
      // The tail zeroed from a random point: it looks like clean preallocated space.
      const from = tpl.placed[tpl.placed.length - 1 - int(6)]
      const at = from.start - FRAME_HEADER + int(from.end - from.start + FRAME_HEADER)
      const fd = fs.openSync(file(from.file), 'r+')
      const len = SEGMENT_BYTES - at
      fs.writeSync(fd, Buffer.alloc(len), 0, len, at)
      fs.closeSync(fd)
      // Later files (if the zeroed record was not in the last one) are emptied too.
      for (let j = from.file + 1; j < nf; j++) {
        const f2 = fs.openSync(file(j), 'r+')
        fs.writeSync(f2, Buffer.alloc(SEGMENT_BYTES - HEADER_BYTES), 0, SEGMENT_BYTES - HEADER_BYTES, HEADER_BYTES)
        fs.closeSync(f2)
      }
      return { desc: `zeroed from ${tpl.files[from.file]}:${at} to the end`, kind: 'zero', lo: { file: from.file, at }, hi: { file: last, at: SEGMENT_BYTES }, strictMustRefuse: false }
    }
    case 7: {
      // A zeroed range in the middle of the log.
      const p = tpl.placed[int(tpl.placed.length - 4)]
      const at = p.start - FRAME_HEADER + int(p.end - p.start)
      const len = 1 + int(600)
      const fd = fs.openSync(file(p.file), 'r+')
      fs.writeSync(fd, Buffer.alloc(len), 0, len, at)
      fs.closeSync(fd)
      return { desc: `zeroed ${len} bytes at ${tpl.files[p.file]}:${at}`, kind: 'zero', lo: { file: p.file, at }, hi: { file: p.file, at: at + len - 1 }, strictMustRefuse: true }
    }
    case 8: {
      // Garbage where the next frame would go.
      const at = tpl.writtenEnd[last]
      const g = Buffer.from(Array.from({ length: 16 + int(200) }, () => 1 + int(255)))
      const fd = fs.openSync(file(last), 'r+')
      fs.writeSync(fd, g, 0, g.length, at)
      fs.closeSync(fd)
      return { desc: `${g.length} bytes of garbage after the last frame`, kind: 'garbage', lo: { file: last, at }, hi: { file: last, at: at + g.length - 1 }, strictMustRefuse: true }
    }
    default: {
      if (nf >= 3) {
        // A file in the middle deleted: an LSN gap.
        const i = 1 + int(nf - 2)
        fs.unlinkSync(file(i))
        return { desc: `${tpl.files[i]} (in the middle) deleted`, kind: 'delete', lo: { file: i, at: 0 }, hi: { file: i, at: SEGMENT_BYTES }, strictMustRefuse: true }
      }
      const at = int(32)
      flipAt(0, at)
      return { desc: `header flip at ${tpl.files[0]}:${at}`, kind: 'header', lo: { file: 0, at }, hi: { file: 0, at }, strictMustRefuse: true }
    }
  }
}

/** Checks one case; returns a short outcome label. */
async function runCase(t: ExecutionContext, backend: BackendName, tpl: Template, seed: number): Promise<string> {
  const rand = prng(seed)
  const dir = tmpDir(t, 'wal-corrupt-')
  fs.cpSync(tpl.dir, dir, { recursive: true })
  const m = pickMutation(tpl, dir, rand)
  const strict = rand() < 0.3
  const what = `${backend} case ${seed} [${strict ? 'strict' : 'tolerate-tail'}] ${m.desc}`
  // Records wholly before the first damaged byte, and the undamaged records after it:
  // when one of those exists, the damage is not a tail and must be refused.
  const frameOf = (p: Placed): [Spot, Spot] => [{ file: p.file, at: p.start - FRAME_HEADER }, { file: p.file, at: Math.ceil(p.end / 8) * 8 - 1 }]
  const ranges = m.ranges ?? [[m.lo, m.hi]]
  const damaged = (p: Placed): boolean => {
    const [a, b] = frameOf(p)
    return ranges.some(([lo, hi]) => !before(b, lo) && !before(hi, a))
  }
  const beforeCount = tpl.placed.filter((p) => before(frameOf(p)[1], m.lo)).length
  const after = tpl.placed.filter((p) => before(m.lo, frameOf(p)[0]) && !damaged(p))
  const io = await openBackend(t, backend)
  try {
    return await openCase(t, io, dir, { what, strict, m, beforeCount, after })
  } finally {
    // One Io per case, closed now rather than at the end of the test (2000 rings in SOAK).
    await io.close()
  }
}

async function openCase(
  t: ExecutionContext,
  io: import('../ts/types').Io,
  dir: string,
  c: { what: string; strict: boolean; m: Mutation; beforeCount: number; after: Placed[] },
): Promise<string> {
  const { what, strict, m, after } = c
  let wal: WalSpec | null = null
  let err: unknown = null
  try {
    wal = await settleWithin(openWal(io, dir, { segmentBytes: SEGMENT_BYTES, recovery: strict ? 'strict' : 'tolerate-tail' }), CASE_MS, `${what}: open`)
  } catch (e) {
    err = e
  }
  if (wal === null) {
    const d = describeError(err)
    if (/did not settle/.test(String(d.message))) {
      t.fail(`${what}: open hung`)
      return 'hang'
    }
    if (d.code !== 'ERR_WAL_CORRUPT') {
      t.fail(`${what}: open failed with something else than ERR_WAL_CORRUPT: ${JSON.stringify(d)}`)
      return 'bad-error'
    }
    t.true(err instanceof Error && !(err instanceof TypeError) && !(err instanceof RangeError), `${what}: a plain Error`)
    t.regex(String(d.message), /\.wal/, `${what}: the message names the file: ${d.message}`)
    // Refusing is right when valid records follow the damage, in strict mode, or when a
    // header is damaged (nothing proves the file held no records). A damaged tail alone
    // must be tolerated.
    if (!strict && after.length === 0 && m.kind !== 'header' && m.kind !== 'delete') {
      t.fail(`${what}: tolerate-tail refused a damaged tail with nothing valid after it: ${d.message}`)
      return 'refused-tail'
    }
    return 'corrupt'
  }
  return checkOpened(t, io, dir, wal, c)
}

async function checkOpened(
  t: ExecutionContext,
  io: import('../ts/types').Io,
  dir: string,
  wal: WalSpec,
  c: { what: string; strict: boolean; m: Mutation; beforeCount: number; after: Placed[] },
): Promise<string> {
  const { what, strict, m, beforeCount, after } = c
  const records = await settleWithin(collect(wal), CASE_MS, `${what}: replay`)
  let m0 = 0
  for (const r of records) {
    if (r.lsn !== m0 + 1 || !r.data.equals(recordFor(r.lsn, SALT, MAX_RECORD))) {
      t.fail(`${what}: replay returned LSN ${r.lsn} (${r.data.length} bytes) ${r.lsn !== m0 + 1 ? `after ${m0}` : 'with wrong bytes'}: not a prefix of what was written`)
      await wal.close()
      return 'bad-record'
    }
    m0++
  }
  const kept = m0
  const problems: string[] = []
  if (wal.firstLsn !== 1) problems.push(`firstLsn ${wal.firstLsn} (nothing was checkpointed)`)
  if (wal.lastLsn !== kept) problems.push(`lastLsn ${wal.lastLsn} but replay ended at ${kept}`)
  if (kept < beforeCount) problems.push(`lost records before the damage: kept ${kept}, ${beforeCount} lie wholly before it`)
  const droppedValid = after.filter((p) => p.lsn > kept)
  if (droppedValid.length > 0) problems.push(`dropped ${RECORDS - kept} records although ${droppedValid.length} undamaged ones follow the damage (first ${droppedValid[0].lsn}): must be ERR_WAL_CORRUPT`)
  if (strict && m.strictMustRefuse) problems.push(`strict mode accepted a log with damage in a frame or in the space after the last frame (kept ${kept})`)
  if (strict && kept < RECORDS && m.kind === 'flip') problems.push(`strict mode dropped ${RECORDS - kept} records after a flip`)
  if (!checkRecoveryReport(t, wal, what)) problems.push('recovery report')
  if (m.kind === 'flip' && kept < RECORDS && wal.recovery.truncatedBytes === 0) problems.push(`${RECORDS - kept} records dropped but recovery.truncatedBytes is 0`)
  if (problems.length > 0) {
    t.fail(`${what}:\n  ${problems.join('\n  ')}`)
    await wal.close()
    return 'bad-open'
  }
  if (strict) {
    await wal.close()
    return kept === RECORDS ? 'intact' : 'prefix'
  }
  // The recovered log takes appends at the next LSN, and a second open finds it clean
  // (the damaged tail was zeroed, not left to confuse the next recovery).
  const added = [recordFor(kept + 1, SALT + 1, MAX_RECORD), recordFor(kept + 2, SALT + 1, MAX_RECORD)]
  t.deepEqual(await wal.appendMany(added), [kept + 1, kept + 2], `${what}: appends after recovery`)
  await wal.close()
  const again = await settleWithin(openWal(io, dir, { segmentBytes: SEGMENT_BYTES }), CASE_MS, `${what}: second open`).catch((e: unknown) => e as Error)
  if (!(again && typeof (again as WalSpec).replay === 'function')) {
    t.fail(`${what}: second open after recovery failed: ${JSON.stringify(describeError(again))}`)
    return 'bad-reopen'
  }
  const w2 = again as WalSpec
  const rec2 = await settleWithin(collect(w2), CASE_MS, `${what}: second replay`)
  const okPrefix = rec2.length === kept + 2 && rec2.every((r, i) => r.lsn === i + 1 && r.data.equals(i < kept ? recordFor(i + 1, SALT, MAX_RECORD) : added[i - kept]))
  t.true(okPrefix, `${what}: second open: ${rec2.length} records (want ${kept} + 2 appended)`)
  t.is(w2.recovery.truncatedBytes, 0, `${what}: the second open finds a clean tail: ${JSON.stringify(w2.recovery)}`)
  await w2.close()
  return kept === RECORDS ? 'intact' : 'prefix'
}

for (const backend of backends) {
  test(`${backend}: ${CASES} seeded corruptions (flips, truncations, zeroed ranges, garbage, deleted files; tail, middle, headers): a valid prefix or ERR_WAL_CORRUPT`, async (t) => {
    t.timeout(SOAK ? 1_800_000 : 300_000)
    const tpl = await buildTemplate(t, backend)
    const tally: Record<string, number> = {}
    const base = backend === 'io_uring' ? 10_000 : 20_000
    // WAL_CORRUPTION_CASE=<seed> reruns one case (the seed is in every failure message).
    const only = process.env.WAL_CORRUPTION_CASE
    const seeds = only ? [Number(only)] : Array.from({ length: CASES }, (_, c) => base + c)
    for (const seed of seeds) {
      const outcome = await runCase(t, backend, tpl, seed)
      tally[outcome] = (tally[outcome] ?? 0) + 1
    }
    t.log(`${backend}: ${JSON.stringify(tally)} over ${tpl.files.length} files`)
  })

  test(`${backend}: an unknown format version (valid header checksum) is refused with ERR_WAL_CORRUPT naming the version`, async (t) => {
    const dir = tmpDir(t, 'wal-version-')
    const io = await openBackend(t, backend)
    const wal = await openWal(io, dir, { segmentBytes: SEGMENT_BYTES })
    await wal.append(recordFor(1, SALT))
    await wal.close()
    const [file] = walFiles(dir)
    const b = fs.readFileSync(file)
    // A future version 3 whose header CRC follows version 2's rule (every byte but the CRC).
    b.writeUInt32LE(3, 8) // version
    b.writeUInt32LE(crc32c(b.subarray(32, 4096), crc32c(b.subarray(0, 28))), 28)
    fs.writeFileSync(file, b)
    for (const recovery of ['tolerate-tail', 'strict'] as const) {
      const e = await openWal(io, dir, { segmentBytes: SEGMENT_BYTES, recovery }).then(
        async (w) => {
          await w.close()
          return null
        },
        (x: unknown) => x,
      )
      t.is((e as { code?: string } | null)?.code, 'ERR_WAL_CORRUPT', `${recovery}: ${JSON.stringify(describeError(e))}`)
      t.regex(String((e as Error | null)?.message), /version/i)
    }
    const ro = await openWal(io, dir, { readOnly: true }).then(
      async (w) => {
        await w.close()
        return null
      },
      (x: unknown) => x,
    )
    t.is((ro as { code?: string } | null)?.code, 'ERR_WAL_CORRUPT', `readOnly: ${JSON.stringify(describeError(ro))}`)
    t.true(fs.readFileSync(file).equals(b), 'a refused open changes nothing')
  })
}

// KNOWN BUG (reported; test.failing until fixed — ava will say so once it passes): a
// zeroed range that starts exactly at a frame header in the LAST file (a lost write or
// lost page reading back as zeros; the first record page of every file starts at 4096)
// followed by acknowledged records. tolerate-tail treats the zeros as "a later write
// survived an earlier unsynced one", drops every record after them and zeroes them on
// disk. DESIGN.md §3: corruption with valid records after it is ERR_WAL_CORRUPT in both
// modes. ('strict' refuses correctly; a middle file is refused correctly.)
for (const backend of backends) {
  test(`${backend}: zeros at a frame boundary followed by acknowledged records in the last file: ERR_WAL_CORRUPT, nothing zeroed`, async (t) => {
    const io = await openBackend(t, backend)
    for (const variant of ['one frame header', 'the first record page (4096..8191)'] as const) {
      const dir = tmpDir(t, 'wal-zero-frame-')
      const wal = await openWal(io, dir, { segmentBytes: 1024 * 1024 })
      for (let lsn = 1; lsn <= 100; lsn++) t.is(await wal.append(recordFor(lsn, 7, 500)), lsn) // all durable
      await wal.close()
      const [file] = walFiles(dir)
      const b = fs.readFileSync(file)
      if (variant === 'one frame header') {
        const at = b.indexOf(recordFor(50, 7, 500).subarray(0, 16)) - FRAME_HEADER
        b.fill(0, at, at + FRAME_HEADER)
      } else b.fill(0, HEADER_BYTES, 2 * HEADER_BYTES)
      fs.writeFileSync(file, b)
      const r = await openWal(io, dir, { segmentBytes: 1024 * 1024 }).then(
        async (w) => {
          const s = `opened with lastLsn ${w.lastLsn} of 100 acknowledged, recovery ${JSON.stringify(w.recovery)}`
          await w.close()
          return s
        },
        (e: unknown) => (e as { code?: string }).code,
      )
      t.is(r, 'ERR_WAL_CORRUPT', `${variant}: acknowledged records after the zeros must not be dropped`)
      t.true(fs.readFileSync(file).equals(b), `${variant}: the refused open left the acknowledged records on disk`)
    }
  })
}
