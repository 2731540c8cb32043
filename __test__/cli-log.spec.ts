// `streamline-io log dump|verify` as a user runs them: child processes of `node
// bin/streamline-io …`, on both backends (--enable-io-uring true|false). The logs are
// written by the library (appends and kafkajs-encoded producer batches: idempotent
// producer fields, gzip, one transactional; fixtures/cli-log-lib.ts) and judged against
// what the test appended, against the files read by the test itself (big-endian header
// fields, CRC-32C from its definition, index entries as stored) and, for the good logs,
// against Apache Kafka's DumpLogSegments. Covered: every batch and index entry listed,
// --from, --json; verify's verdicts (clean, after a killed writer, torn tails, damaged
// batches in old and active segments, wrong and missing index entries, a gap between
// segments, an empty directory) with the file and byte position; both commands leaving
// every file byte for byte (and mtime) as it was, no lock taken, also while another
// process holds the log open for writing; usage mistakes and --help.

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import test, { type ExecutionContext } from 'ava'

import { openIo, openLog } from '../ts/index'
import { assertLibError, backendConfig, backends, fixture, ioUringExpected, openBackend, tmpDir, type BackendName } from './helpers/backends'
import { cleanEnv, runNode, summary, type ChildResult } from './helpers/child'
import { dumpDirs } from './helpers/log-format'
import { CLI_LOG_OPTIONS, CLI_LOG_STEPS, type ExpectedBatch, type FileBatch, type FileSegment, appendSteps, readLogDir, snapshotLogDir } from './fixtures/cli-log-lib'

const BIN = path.join(__dirname, '..', '..', 'bin', 'streamline-io')
const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd']

function cli(args: string[]): Promise<ChildResult> {
  return runNode([BIN, ...args], { env: cleanEnv(), timeoutMs: 60_000 })
}

const uringFlag = (b: BackendName) => ['--enable-io-uring', b === 'io_uring' ? 'true' : 'false']

/** One clear line on stderr, nothing on stdout, exit 2, no stack trace. */
function isUsageError(r: ChildResult): boolean {
  const lines = r.stderr.trimEnd().split('\n')
  return r.code === 2 && r.stdout === '' && lines.length === 1 && lines[0].startsWith('streamline-io: ') && !/\n\s+at /.test(r.stderr)
}

// ---------------------------------------------------------------------------------------
// What the CLI prints, and what it must print.

interface Batch {
  file: string
  position: number
  baseOffset: number
  lastOffset: number
  count: number
  size: number
  baseTimestamp: number
  maxTimestamp: number
  timestampType: string
  codec: string
  crc: number
  crcOk: boolean
  leaderEpoch: number
  producerId: number
  producerEpoch: number
  baseSequence: number
  transactional: boolean
  control: boolean
}

interface Verdict {
  status: 'clean' | 'torn-tail' | 'damaged' | 'empty'
  file: string | null
  position: number | null
  what: string | null
  segments: number
  batches: number
  indexEntries: number
  logStartOffset: number | null
  logEndOffset: number | null
  cleanShutdown: boolean
  truncatedBytes: number
}

interface DumpJson {
  dir: string
  from: number
  segments: Array<{
    file: string
    baseOffset: number
    batches: Batch[]
    position: number
    what: string
    badSpots: Array<{ position: number; what: string; resumedAt: number }>
    index?: Array<{ offset: number; position: number }>
    timeIndex?: Array<{ timestamp: number; offset: number }>
  }>
  verdict: Verdict
}

/** A batch as the test reads it from the file (the witness), in the CLI's shape. */
function fromFile(b: FileBatch): Batch {
  return {
    file: b.file,
    position: b.position,
    baseOffset: b.baseOffset,
    lastOffset: b.lastOffset,
    count: b.count,
    size: b.size,
    baseTimestamp: b.baseTimestamp,
    maxTimestamp: b.maxTimestamp,
    timestampType: b.attributes & 0x08 ? 'LogAppendTime' : 'CreateTime',
    codec: CODECS[b.attributes & 0x07] ?? `unknown codec ${b.attributes & 0x07}`,
    crc: b.crc,
    crcOk: b.crcOk,
    leaderEpoch: b.leaderEpoch,
    producerId: b.producerId,
    producerEpoch: b.producerEpoch,
    baseSequence: b.baseSequence,
    transactional: (b.attributes & 0x10) !== 0,
    control: (b.attributes & 0x20) !== 0,
  }
}

/** A batch as the test appended it; where it lies (file, position, size, CRC) from the file. */
function fromAppend(e: ExpectedBatch, at: FileBatch): Batch {
  return {
    file: at.file,
    position: at.position,
    baseOffset: e.baseOffset,
    lastOffset: e.lastOffset,
    count: e.count,
    size: at.size,
    baseTimestamp: e.baseTimestamp,
    maxTimestamp: e.maxTimestamp,
    timestampType: 'CreateTime',
    codec: e.codec,
    crc: at.crc,
    crcOk: true,
    leaderEpoch: e.leaderEpoch,
    producerId: e.producerId,
    producerEpoch: e.producerEpoch,
    baseSequence: e.baseSequence,
    transactional: e.transactional,
    control: false,
  }
}

/** The batches of `segs` (from the files), checked first against what was appended. */
function witness(t: ExecutionContext, segs: FileSegment[], expected: ExpectedBatch[]): Batch[] {
  const files = segs.flatMap((s) => s.batches)
  t.is(files.length, expected.length, 'the files hold every appended batch')
  t.deepEqual(files.map(fromFile), expected.map((e, i) => fromAppend(e, files[i])), 'the files say what was appended')
  return files.map(fromFile)
}

const BATCH_LINE =
  /^baseOffset: (\d+) lastOffset: (\d+) count: (\d+) position: (\d+) size: (\d+) baseTimestamp: (-?\d+) maxTimestamp: (-?\d+) \((CreateTime|LogAppendTime)\) codec: (\S+) crc: (\d+) crcOk: (true|false) leaderEpoch: (-?\d+) producerId: (-?\d+) producerEpoch: (-?\d+) baseSequence: (-?\d+)( transactional)?( control)?$/

/** The batch lines of a text dump, each with the segment file named by the `Dumping` line above it. */
function parseTextDump(stdout: string): { batches: Batch[]; dumping: string[]; ends: string[]; indexLines: string[] } {
  const batches: Batch[] = []
  const dumping: string[] = []
  const ends: string[] = []
  const indexLines: string[] = []
  let file = ''
  for (const line of stdout.trimEnd().split('\n')) {
    const d = /^Dumping (.*)$/.exec(line)
    if (d) {
      dumping.push(d[1])
      const log = /^(.*\.log) \(base offset \d+\)$/.exec(d[1])
      if (log) file = path.basename(log[1])
      continue
    }
    const m = BATCH_LINE.exec(line)
    if (m) {
      const n = (i: number) => Number(m[i])
      batches.push({
        file,
        position: n(4),
        baseOffset: n(1),
        lastOffset: n(2),
        count: n(3),
        size: n(5),
        baseTimestamp: n(6),
        maxTimestamp: n(7),
        timestampType: m[8],
        codec: m[9],
        crc: n(10),
        crcOk: m[11] === 'true',
        leaderEpoch: n(12),
        producerId: n(13),
        producerEpoch: n(14),
        baseSequence: n(15),
        transactional: m[16] !== undefined,
        control: m[17] !== undefined,
      })
    } else if (line.startsWith('end of batches at position ')) ends.push(line)
    else if (/^(offset|timestamp): /.test(line)) indexLines.push(line)
  }
  return { batches, dumping, ends, indexLines }
}

const lastLine = (s: string) => s.trimEnd().split('\n').pop()

async function ok(t: ExecutionContext, args: string[], code = 0): Promise<string> {
  const r = await cli(args)
  t.is(r.code, code, `${args.join(' ')}: ${summary(r)}`)
  t.is(r.stderr, '', args.join(' '))
  return r.stdout
}

async function dumpJson(t: ExecutionContext, args: string[]): Promise<DumpJson> {
  return JSON.parse(await ok(t, ['log', 'dump', ...args, '--json'])) as DumpJson
}

async function verifyJson(t: ExecutionContext, args: string[], code: number): Promise<Verdict & { dir: string }> {
  return JSON.parse(await ok(t, ['log', 'verify', ...args, '--json'], code)) as Verdict & { dir: string }
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)
const entryCount = (segs: FileSegment[]) => sum(segs.map((s) => (s.offsets?.length ?? 0) + (s.times?.length ?? 0)))

// ---------------------------------------------------------------------------------------
// Shared fixtures, built once per backend: a closed multi-segment log (the golden) and the
// state a killed writer leaves. Tests read the golden directly (asserting it unchanged)
// and mutate copies of either.

interface Fixture {
  dir: string
  expected: ExpectedBatch[]
  segs: FileSegment[]
}

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-log-'))
test.after.always(() => fs.rmSync(ROOT, { recursive: true, force: true }))

const fixtures = new Map<BackendName, { golden: Fixture; killed: Fixture }>()

test.before(async () => {
  await Promise.all(
    backends.map(async (backend) => {
      // openBackend's checks (hooks take no teardown): io_uring where this machine has it.
      const io = await openIo(backendConfig(backend))
      const goldenDir = path.join(ROOT, `golden-${backend}`)
      let expected: ExpectedBatch[]
      try {
        if (backend === 'io_uring' ? ioUringExpected() && io.backend !== 'io_uring' : io.backend !== 'standard') throw new Error(`${backend}: openIo chose ${io.backend} (${io.fallbackReason})`)
        const log = await openLog(io, goldenDir, CLI_LOG_OPTIONS)
        expected = await appendSteps(log, 0, CLI_LOG_STEPS)
        await log.close()
      } finally {
        await io.close()
      }
      const killedDir = path.join(ROOT, `killed-${backend}`)
      const child = await runNode([fixture('cli-log-child'), JSON.stringify({ enableIoUring: backend === 'io_uring', dir: killedDir, mode: 'crash', steps: CLI_LOG_STEPS })], { env: cleanEnv(), timeoutMs: 60_000 })
      if (child.code !== 0) throw new Error(`the writer child failed: ${summary(child)}`)
      const killed = JSON.parse(child.stdout.trim().split('\n')[0]) as { expected: ExpectedBatch[]; backend: string }
      if (killed.backend !== io.backend) throw new Error(`the writer child ran on ${killed.backend}, this process on ${io.backend}`)
      fixtures.set(backend, {
        golden: { dir: goldenDir, expected, segs: readLogDir(goldenDir) },
        killed: { dir: killedDir, expected: killed.expected, segs: readLogDir(killedDir) },
      })
    }),
  )
})

function shared(t: ExecutionContext, backend: BackendName): { golden: Fixture; killed: Fixture } {
  const f = fixtures.get(backend)
  if (f === undefined) throw new Error(`no fixture for ${backend}`)
  // The plan makes several segments, old ones with index entries, an active one with several batches.
  t.true(f.golden.segs.length >= 4, 'several segments')
  t.true(f.golden.segs.slice(0, -1).every((s) => (s.offsets?.length ?? 0) >= 2 && (s.times?.length ?? 0) >= 2), 'old segments have several index entries')
  t.true(f.golden.segs[f.golden.segs.length - 1].batches.length >= 3, 'the active segment has several batches')
  return f
}

/** A copy of a fixture directory in the test's own temporary directory. */
function copyOf(t: ExecutionContext, f: Fixture): string {
  const dir = path.join(tmpDir(t, 'cli-log-copy-'), 'log')
  fs.cpSync(f.dir, dir, { recursive: true })
  return dir
}

function flipByte(file: string, at: number): void {
  const b = fs.readFileSync(file)
  b[at] ^= 0x40
  fs.writeFileSync(file, b)
}

function patchInt(file: string, at: number, bytes: 4 | 8, delta: number): void {
  const b = fs.readFileSync(file)
  if (bytes === 4) b.writeInt32BE(b.readInt32BE(at) + delta, at)
  else b.writeBigInt64BE(b.readBigInt64BE(at) + BigInt(delta), at)
  fs.writeFileSync(file, b)
}

for (const backend of backends) {
  const F = uringFlag(backend)

  test(`log dump lists every batch as appended and as the files say (${backend})`, async (t) => {
    const { golden } = shared(t, backend)
    const dir = golden.dir
    const before = snapshotLogDir(dir)
    const want = witness(t, golden.segs, golden.expected)
    t.true(want.some((b) => b.codec === 'gzip') && want.some((b) => b.transactional) && want.some((b) => b.producerId >= 0), 'producer batches are among them')

    const text = await ok(t, ['log', 'dump', dir, ...F])
    const parsed = parseTextDump(text)
    t.deepEqual(parsed.batches, want)
    t.deepEqual(parsed.dumping, golden.segs.map((s) => `${s.log} (base offset ${s.base})`))
    t.deepEqual(parsed.ends, golden.segs.map((s) => `end of batches at position ${fs.statSync(s.log).size}: end of file`))
    t.deepEqual(parsed.indexLines, [], 'no index entries without --indexes')

    const j = await dumpJson(t, [dir, ...F])
    t.is(j.dir, dir)
    t.is(j.from, 0)
    t.deepEqual(j.segments.flatMap((s) => s.batches), want)
    t.deepEqual(
      j.segments.map(({ batches: _, ...s }) => s),
      golden.segs.map((s) => ({ file: path.basename(s.log), baseOffset: s.base, position: fs.statSync(s.log).size, what: 'end of file', badSpots: [] })),
    )

    // The dump ends with verify's verdict.
    const verify = await ok(t, ['log', 'verify', dir, ...F])
    t.is(lastLine(text), verify.trimEnd())
    const { dir: vdir, ...verdict } = await verifyJson(t, [dir, ...F], 0)
    t.is(vdir, dir)
    t.deepEqual(j.verdict, verdict)
    t.deepEqual(snapshotLogDir(dir), before, 'dump and verify changed nothing')
  })

  test(`log dump --from starts at the batch holding the offset (${backend})`, async (t) => {
    const { golden } = shared(t, backend)
    const dir = golden.dir
    const before = snapshotLogDir(dir)
    const want = witness(t, golden.segs, golden.expected)
    const end = want[want.length - 1].lastOffset + 1
    const mid = golden.segs[2]
    const multi = mid.batches.find((b) => b.lastOffset > b.baseOffset)!
    t.truthy(multi, 'a batch of several records in a middle segment')
    const froms = [multi.baseOffset + 1, mid.base, end - 1, end, end + 1000]
    for (const from of froms) {
      const j = await dumpJson(t, [dir, '--from', String(from), ...F])
      t.is(j.from, from)
      const listed = j.segments.flatMap((s) => s.batches)
      t.deepEqual(listed, want.filter((b) => b.lastOffset >= from), `--from ${from}`)
      if (from < end) t.true(listed[0].baseOffset <= from && from <= listed[0].lastOffset, `--from ${from}: the first batch holds it`)
      // Segments wholly before the offset are not read; the one holding it (or the last) is first.
      const holding = golden.segs.filter((s) => s.base <= from).pop()!
      t.deepEqual(j.segments.map((s) => s.baseOffset), golden.segs.filter((s) => s.base >= holding.base).map((s) => s.base), `--from ${from}: segments`)
      t.is(j.verdict.status, 'clean')
    }
    const text = parseTextDump(await ok(t, ['log', 'dump', dir, '--from', String(multi.lastOffset), ...F]))
    t.deepEqual(text.batches, want.filter((b) => b.lastOffset >= multi.lastOffset))
    t.is(text.batches[0].baseOffset, multi.baseOffset)
    t.is(text.dumping[0], `${mid.log} (base offset ${mid.base})`)
    t.deepEqual(snapshotLogDir(dir), before)
  })

  test(`log dump --indexes lists every .index and .timeindex entry as stored (${backend})`, async (t) => {
    const { golden } = shared(t, backend)
    const dir = golden.dir
    const before = snapshotLogDir(dir)
    const text = await ok(t, ['log', 'dump', dir, '--indexes', ...F])
    const expectedLines: string[] = []
    const dumping: string[] = []
    for (const s of golden.segs) {
      dumping.push(`${s.log} (base offset ${s.base})`, `${s.index} (${s.offsets!.length} entries)`, `${s.timeIndex} (${s.times!.length} entries)`)
      expectedLines.push(...s.offsets!.map((e) => `offset: ${e.offset} position: ${e.position}`), ...s.times!.map((e) => `timestamp: ${e.timestamp} offset: ${e.offset}`))
    }
    const parsed = parseTextDump(text)
    t.deepEqual(parsed.dumping, dumping)
    t.deepEqual(parsed.indexLines, expectedLines)
    t.deepEqual(parsed.batches, witness(t, golden.segs, golden.expected), 'the batches are listed too')

    const j = await dumpJson(t, [dir, '--indexes', ...F])
    t.deepEqual(j.segments.map((s) => s.index), golden.segs.map((s) => s.offsets))
    t.deepEqual(j.segments.map((s) => s.timeIndex), golden.segs.map((s) => s.times))
    // The entries make sense against the batches (index: a batch's last offset and start; time index: the max so far).
    for (const s of golden.segs) {
      for (const e of s.offsets!) t.truthy(s.batches.find((b) => b.position === e.position && b.lastOffset === e.offset), `${s.index}: ${JSON.stringify(e)}`)
      for (const e of s.times!) {
        const upTo = s.batches.filter((b) => b.lastOffset <= e.offset)
        t.is(e.timestamp, Math.max(...upTo.map((b) => b.maxTimestamp)), `${s.timeIndex}: ${JSON.stringify(e)}`)
      }
    }
    t.is(j.verdict.status, 'clean')
    t.regex(lastLine(text)!, /^clean: \d+ segment\(s\)/)
    t.deepEqual(snapshotLogDir(dir), before)
  })

  test(`log verify: a closed multi-segment log is clean, with its counts (${backend})`, async (t) => {
    const { golden } = shared(t, backend)
    const dir = golden.dir
    const before = snapshotLogDir(dir)
    const segs = golden.segs
    const batches = sum(segs.map((s) => s.batches.length))
    const end = golden.expected[golden.expected.length - 1].lastOffset + 1
    const text = await ok(t, ['log', 'verify', dir, ...F])
    t.is(text, `clean: ${segs.length} segment(s), offsets 0..${end - 1} (${batches} batches, ${entryCount(segs)} index entries checked)\n`)
    const v = await verifyJson(t, [dir, ...F], 0)
    t.deepEqual(v, { dir, status: 'clean', file: null, position: null, what: null, segments: segs.length, batches, indexEntries: entryCount(segs), logStartOffset: 0, logEndOffset: end, cleanShutdown: true, truncatedBytes: 0 })
    t.true(fs.existsSync(path.join(dir, '.lock')), 'the writer left its lock file')
    t.deepEqual(snapshotLogDir(dir), before)
  })

  test(`log verify after a killed writer: clean, the active segment's indexes not checked (${backend})`, async (t) => {
    const { killed } = shared(t, backend)
    const dir = copyOf(t, killed)
    t.false(fs.existsSync(path.join(dir, '.kafka_cleanshutdown')), 'no clean-shutdown marker')
    const before = snapshotLogDir(dir)
    const segs = killed.segs
    const active = segs[segs.length - 1]
    // The active segment's index files keep their preallocated size.
    t.is(fs.statSync(active.index).size, CLI_LOG_OPTIONS.maxIndexBytes!)
    const end = killed.expected[killed.expected.length - 1].lastOffset + 1
    const checked = entryCount(segs.slice(0, -1))
    const text = await ok(t, ['log', 'verify', dir, ...F])
    t.is(
      text,
      `clean: ${segs.length} segment(s), offsets 0..${end - 1} (${killed.expected.length} batches, ${checked} index entries checked; no clean-shutdown marker: the active segment's indexes are rebuilt at open and were not checked)\n`,
    )
    const v = await verifyJson(t, [dir, ...F], 0)
    t.like(v, { status: 'clean', cleanShutdown: false, batches: killed.expected.length, indexEntries: checked, logStartOffset: 0, logEndOffset: end, truncatedBytes: 0 })
    const j = await dumpJson(t, [dir, ...F])
    t.deepEqual(j.segments.flatMap((s) => s.batches), witness(t, segs, killed.expected))
    const { dir: _, ...verdict } = v
    t.deepEqual(j.verdict, verdict)
    t.deepEqual(snapshotLogDir(dir), before, 'verify did not recover or write anything')

    // Killed right after a roll: the new active segment empty, its indexes preallocated,
    // the old one's trimmed (the roll trims and fsyncs them before creating the next).
    const { golden } = shared(t, backend)
    const rolled = copyOf(t, golden)
    fs.rmSync(path.join(rolled, '.kafka_cleanshutdown'))
    const stem = path.join(rolled, String(end).padStart(20, '0'))
    fs.writeFileSync(`${stem}.log`, '')
    fs.writeFileSync(`${stem}.index`, Buffer.alloc(CLI_LOG_OPTIONS.maxIndexBytes!))
    fs.writeFileSync(`${stem}.timeindex`, Buffer.alloc(CLI_LOG_OPTIONS.maxIndexBytes! - (CLI_LOG_OPTIONS.maxIndexBytes! % 12)))
    const rolledBefore = snapshotLogDir(rolled)
    t.is(
      await ok(t, ['log', 'verify', rolled, ...F]),
      `clean: ${golden.segs.length + 1} segment(s), offsets 0..${end - 1} (${killed.expected.length} batches, ${entryCount(golden.segs)} index entries checked; no clean-shutdown marker: the active segment's indexes are rebuilt at open and were not checked)\n`,
    )
    t.deepEqual(snapshotLogDir(rolled), rolledBefore)
  })

  test(`log dump --indexes on a killed writer's log lists no preallocated zero space as entries (${backend})`, async (t) => {
    const { killed } = shared(t, backend)
    const dir = killed.dir
    const before = snapshotLogDir(dir)
    const segs = killed.segs
    const active = segs[segs.length - 1]
    const j = await dumpJson(t, [dir, '--indexes', ...F])
    // The old segments' entries, as stored.
    t.deepEqual(j.segments.slice(0, -1).map((s) => s.index), segs.slice(0, -1).map((s) => s.offsets))
    t.deepEqual(j.segments.slice(0, -1).map((s) => s.timeIndex), segs.slice(0, -1).map((s) => s.times))
    // The active segment's files are preallocated and were never written (its entries
    // live in memory until a flush, roll or close): every 8 / 12 bytes of them are zero.
    t.true(fs.readFileSync(active.index).every((x) => x === 0) && fs.readFileSync(active.timeIndex).every((x) => x === 0))
    // Zeros are not entries (Kafka's DumpLogSegments stops at them too; a real entry never
    // has relative offset 0 at position 0 — a segment's first batch gets no entry): with
    // maxIndexBytes at its default of 10 MiB this would be 2.2 million lines.
    const last = j.segments[j.segments.length - 1]
    const zeroOffsets = (last.index ?? []).filter((e) => e.offset === active.base && e.position === 0).length
    const zeroTimes = (last.timeIndex ?? []).filter((e) => e.timestamp === 0).length
    t.is(zeroOffsets, 0, `${zeroOffsets} preallocated zero entries of ${active.index} listed as index entries`)
    t.is(zeroTimes, 0, `${zeroTimes} preallocated zero entries of ${active.timeIndex} listed as time-index entries`)
    t.deepEqual(snapshotLogDir(dir), before)
  })

  test(`log verify: a torn tail is a warning (exit 0) naming the file and position (${backend})`, async (t) => {
    const { killed } = shared(t, backend)
    const segs = killed.segs
    const active = segs[segs.length - 1]
    const lastBatch = active.batches[active.batches.length - 1]
    const all = witness(t, segs, killed.expected)

    // 1. The last batch cut short (a torn write): its header whole, its records not.
    {
      const dir = copyOf(t, killed)
      const file = path.join(dir, path.basename(active.log))
      const cut = 61 + 20
      fs.truncateSync(file, lastBatch.position + cut)
      const before = snapshotLogDir(dir)
      const text = await ok(t, ['log', 'verify', dir, ...F])
      t.true(text.startsWith(`warning: torn tail in ${file} at position ${lastBatch.position}: a batch of ${lastBatch.size} bytes running past the end of the segment`), text)
      t.true(text.trimEnd().endsWith(`; opening the log cuts it (${cut} bytes); offsets 0..${lastBatch.baseOffset - 1} are intact`), text)
      t.like(await verifyJson(t, [dir, ...F], 0), { status: 'torn-tail', file, position: lastBatch.position, truncatedBytes: cut, logEndOffset: lastBatch.baseOffset, cleanShutdown: false })
      const j = await dumpJson(t, [dir, ...F])
      t.deepEqual(j.segments.flatMap((s) => s.batches), all.slice(0, -1), 'every whole batch listed')
      t.like(j.segments[j.segments.length - 1], { position: lastBatch.position, badSpots: [] })
      t.regex(j.segments[j.segments.length - 1].what, /running past the end of the file/)
      t.is(j.verdict.status, 'torn-tail')
      const textDump = await ok(t, ['log', 'dump', dir, ...F])
      t.is(lastLine(textDump), text.trimEnd())
      t.deepEqual(snapshotLogDir(dir), before, 'the torn tail is still there')
    }
    // 2. Garbage after the last batch; the directory copied without its lock file, as a
    //    backup would be: none is created.
    {
      const dir = copyOf(t, killed)
      fs.rmSync(path.join(dir, '.lock'))
      const file = path.join(dir, path.basename(active.log))
      const size = fs.statSync(file).size
      fs.appendFileSync(file, Buffer.alloc(100, 0xab))
      const before = snapshotLogDir(dir)
      const text = await ok(t, ['log', 'verify', dir, ...F])
      t.true(text.startsWith(`warning: torn tail in ${file} at position ${size}: `), text)
      t.true(text.trimEnd().endsWith(`; opening the log cuts it (100 bytes); offsets 0..${all[all.length - 1].lastOffset} are intact`), text)
      const j = await dumpJson(t, [dir, ...F])
      t.deepEqual(j.segments.flatMap((s) => s.batches), all)
      t.is(j.segments[j.segments.length - 1].position, size)
      t.deepEqual(snapshotLogDir(dir), before)
      t.false(fs.existsSync(path.join(dir, '.lock')), 'no lock file created')
    }
  })

  test(`log verify: a flipped byte in an old segment's batch is damage at its position, exit 1 (${backend})`, async (t) => {
    const { golden } = shared(t, backend)
    const dir = copyOf(t, golden)
    const seg = golden.segs[1]
    const victim = seg.batches[1]
    const file = path.join(dir, path.basename(seg.log))
    // Inside the batch's last record value: covered by the CRC, the header intact.
    flipByte(file, victim.position + victim.size - 5)
    const before = snapshotLogDir(dir)
    const text = await ok(t, ['log', 'verify', dir, ...F], 1)
    t.true(text.startsWith(`damaged: ${file} at position ${victim.position}: CRC mismatch`), text)
    t.is(text.split('\n').length, 2, 'one line')
    t.like(await verifyJson(t, [dir, ...F], 1), { status: 'damaged', file, position: victim.position })
    // The dump still lists every batch (exit 0), this one with crcOk: false, and ends with the verdict.
    const want = witness(t, golden.segs, golden.expected)
    const j = await dumpJson(t, [dir, ...F])
    const listed = j.segments.flatMap((s) => s.batches)
    t.deepEqual(listed.filter((b) => !b.crcOk), [{ ...want.find((b) => b.position === victim.position && b.file === victim.file)!, crcOk: false }])
    t.deepEqual(listed.filter((b) => b.crcOk), want.filter((b) => !(b.position === victim.position && b.file === victim.file)))
    t.like(j.verdict, { status: 'damaged', file, position: victim.position })
    const textDump = await ok(t, ['log', 'dump', dir, ...F])
    t.regex(textDump, new RegExp(`^baseOffset: ${victim.baseOffset} lastOffset: ${victim.lastOffset} .* position: ${victim.position} .* crcOk: false `, 'm'))
    t.is(lastLine(textDump), text.trimEnd())
    t.deepEqual(snapshotLogDir(dir), before)

    // A baseOffset changed (outside the CRC): the offsets no longer follow on.
    const dir2 = copyOf(t, golden)
    const file2 = path.join(dir2, path.basename(seg.log))
    patchInt(file2, victim.position + 4, 4, 1)
    const before2 = snapshotLogDir(dir2)
    t.is(await ok(t, ['log', 'verify', dir2, ...F], 1), `damaged: ${file2} at position ${victim.position}: a batch with offsets ${victim.baseOffset + 1}..${victim.lastOffset + 1} where offset ${victim.baseOffset} was expected\n`)
    t.deepEqual(snapshotLogDir(dir2), before2)
  })

  test(`log verify: damage in the active segment with a valid batch after it is damage, exit 1 (${backend})`, async (t) => {
    const { golden, killed } = shared(t, backend)
    // After a crash (recovery would refuse to cut acknowledged batches) and after a clean close.
    for (const f of [killed, golden]) {
      const dir = copyOf(t, f)
      const active = f.segs[f.segs.length - 1]
      const victim = active.batches[0]
      const file = path.join(dir, path.basename(active.log))
      flipByte(file, victim.position + victim.size - 5)
      const before = snapshotLogDir(dir)
      const text = await ok(t, ['log', 'verify', dir, ...F], 1)
      t.true(text.startsWith(`damaged: ${file} at position ${victim.position}: CRC mismatch`), text)
      if (f === killed) t.regex(text, new RegExp(`a valid batch \\(offsets ${active.batches[1].baseOffset}\\.\\.${active.batches[1].lastOffset}\\) at position ${active.batches[1].position} follows it`))
      if (f === killed) {
        t.like(await verifyJson(t, [dir, ...F], 1), { status: 'damaged', file, position: victim.position })
        t.is(lastLine(await ok(t, ['log', 'dump', dir, ...F])), text.trimEnd())
      }
      t.deepEqual(snapshotLogDir(dir), before)
    }
  })

  test(`log verify: wrong or missing index entries are damage naming the index file and the entry's byte position (${backend})`, async (t) => {
    const { golden } = shared(t, backend)
    const seg = golden.segs[1]
    const name = (dir: string, file: string) => path.join(dir, path.basename(file))
    const cases: Array<{ what: string; damage: (dir: string) => void; file: (dir: string) => string; position: number; message: RegExp }> = []
    // An .index entry pointing where no batch starts.
    const e1 = seg.offsets![1]
    cases.push({
      what: 'index position',
      damage: (dir) => patchInt(name(dir, seg.index), 1 * 8 + 4, 4, 1),
      file: (dir) => name(dir, seg.index),
      position: 1 * 8,
      message: new RegExp(`^entry 1 has position ${e1.position + 1}, which is not where a batch starts`),
    })
    // An .index entry naming the wrong offset (still below the next entry's).
    const i2 = seg.offsets!.findIndex((e, i) => i + 1 === seg.offsets!.length || e.offset + 1 < seg.offsets![i + 1].offset)
    const e2 = seg.offsets![i2]
    cases.push({
      what: 'index offset',
      damage: (dir) => patchInt(name(dir, seg.index), i2 * 8, 4, 1),
      file: (dir) => name(dir, seg.index),
      position: i2 * 8,
      message: new RegExp(`^entry ${i2} names offset ${e2.offset + 1}, but the batch at position ${e2.position} ends at offset ${e2.offset}`),
    })
    // A .timeindex entry with a wrong timestamp (the last one: still larger than the one before).
    const i3 = seg.times!.length - 1
    const e3 = seg.times![i3]
    cases.push({
      what: 'time index timestamp',
      damage: (dir) => patchInt(name(dir, seg.timeIndex), i3 * 12, 8, 1),
      file: (dir) => name(dir, seg.timeIndex),
      position: i3 * 12,
      message: new RegExp(`^entry ${i3} says timestamp ${e3.timestamp + 1}, but the largest batch timestamp up to offset ${e3.offset} is ${e3.timestamp}`),
    })
    cases.push({ what: 'missing .index', damage: (dir) => fs.rmSync(name(dir, seg.index)), file: (dir) => name(dir, seg.index), position: 0, message: /^the offset index is missing/ })
    cases.push({ what: 'missing .timeindex', damage: (dir) => fs.rmSync(name(dir, seg.timeIndex)), file: (dir) => name(dir, seg.timeIndex), position: 0, message: /^the time index is missing/ })
    // The same in the active segment of a cleanly closed log (whose indexes are trusted at open).
    const active = golden.segs[golden.segs.length - 1]
    cases.push({
      what: 'active time index timestamp',
      damage: (dir) => patchInt(name(dir, active.timeIndex), (active.times!.length - 1) * 12, 8, -1),
      file: (dir) => name(dir, active.timeIndex),
      position: (active.times!.length - 1) * 12,
      message: /^entry \d+ says timestamp \d+, but the largest batch timestamp up to offset \d+ is \d+/,
    })

    for (const c of cases) {
      const dir = copyOf(t, golden)
      c.damage(dir)
      const before = snapshotLogDir(dir)
      const r = await cli(['log', 'verify', dir, ...F])
      t.is(r.code, 1, `${c.what}: ${summary(r)}`)
      const prefix = `damaged: ${c.file(dir)} at position ${c.position}: `
      t.true(r.stdout.startsWith(prefix), `${c.what}: ${r.stdout}`)
      t.regex(r.stdout.slice(prefix.length), c.message, c.what)
      if (c === cases[0]) t.like(await verifyJson(t, [dir, ...F], 1), { status: 'damaged', file: c.file(dir), position: c.position, what: r.stdout.slice(prefix.length).trimEnd() }, c.what)
      t.deepEqual(snapshotLogDir(dir), before, `${c.what}: nothing rebuilt`)
    }
  })

  test(`log verify: a gap between segments is damage, exit 1 (${backend})`, async (t) => {
    const { golden } = shared(t, backend)
    const dir = copyOf(t, golden)
    const gone = golden.segs[2]
    const next = golden.segs[3]
    for (const f of [gone.log, gone.index, gone.timeIndex]) fs.rmSync(path.join(dir, path.basename(f)))
    const before = snapshotLogDir(dir)
    const text = await ok(t, ['log', 'verify', dir, ...F], 1)
    t.is(text, `damaged: ${path.join(dir, path.basename(next.log))} at position 0: the segment starts at offset ${next.base}, but the previous one ends at offset ${gone.base - 1}\n`)
    t.like(await verifyJson(t, [dir, ...F], 1), { status: 'damaged', file: path.join(dir, path.basename(next.log)), position: 0 })
    const j = await dumpJson(t, [dir, ...F])
    t.deepEqual(j.segments.map((s) => s.baseOffset), golden.segs.filter((s) => s !== gone).map((s) => s.base))
    t.is(j.verdict.status, 'damaged')
    t.deepEqual(snapshotLogDir(dir), before)

    // The oldest segments gone (retention) is no gap: the log starts later.
    const front = copyOf(t, golden)
    for (const s of golden.segs.slice(0, 2)) for (const f of [s.log, s.index, s.timeIndex]) fs.rmSync(path.join(front, path.basename(f)))
    const kept = golden.segs.slice(2)
    const end = golden.expected[golden.expected.length - 1].lastOffset + 1
    t.is(await ok(t, ['log', 'verify', front, ...F]), `clean: ${kept.length} segment(s), offsets ${kept[0].base}..${end - 1} (${sum(kept.map((s) => s.batches.length))} batches, ${entryCount(kept)} index entries checked)\n`)
  })

  test(`log verify and dump on an empty directory: clean, no segments, nothing created (${backend})`, async (t) => {
    const dir = tmpDir(t, 'cli-log-empty-')
    t.is(await ok(t, ['log', 'verify', dir, ...F]), 'clean: no segments\n')
    t.like(await verifyJson(t, [dir, ...F], 0), { dir, status: 'empty', segments: 0, batches: 0 })
    const j = await dumpJson(t, [dir, '--indexes', ...F])
    t.deepEqual(j.segments, [])
    t.is(j.verdict.status, 'empty')
    t.deepEqual(fs.readdirSync(dir), [])
  })

  test(`log verify and dump while another process holds the log open for writing (${backend})`, async (t) => {
    const dir = path.join(tmpDir(t, 'cli-log-held-'), 'log')
    const holder = startHolder(t, backend, dir)
    const first = (await holder.next()) as { expected: ExpectedBatch[] }
    const lockFile = path.join(dir, '.lock')
    t.is(fs.readFileSync(lockFile, 'utf8'), `${holder.child.pid}\n`, 'the holder wrote its pid into the lock file')
    // The holder really holds the writer lock.
    const io = await openBackend(t, backend)
    await assertLibError(t, 'a second writer', () => openLog(io, dir, CLI_LOG_OPTIONS), 'Error', 'ERR_LOG_LOCKED')

    const before = snapshotLogDir(dir)
    const segs = readLogDir(dir)
    const end = first.expected[first.expected.length - 1].lastOffset + 1
    const text = await ok(t, ['log', 'verify', dir, ...F])
    t.is(
      text,
      `clean: ${segs.length} segment(s), offsets 0..${end - 1} (${first.expected.length} batches, ${entryCount(segs.slice(0, -1))} index entries checked; no clean-shutdown marker: the active segment's indexes are rebuilt at open and were not checked)\n`,
    )
    const j = await dumpJson(t, [dir, ...F])
    t.deepEqual(j.segments.flatMap((s) => s.batches), witness(t, segs, first.expected))
    t.is(j.verdict.status, 'clean')
    t.deepEqual(snapshotLogDir(dir), before, 'nothing changed under the writer, its lock file included')
    t.is(fs.readFileSync(lockFile, 'utf8'), `${holder.child.pid}\n`)

    // The writer goes on as if nothing happened: more appends, a clean close.
    holder.child.stdin.write('go on\n')
    const later = (await holder.next()) as { expected: ExpectedBatch[]; closed: boolean }
    t.true(later.closed)
    t.is(await holder.exit, 0)
    const all = [...first.expected, ...later.expected]
    const after = readLogDir(dir)
    const v = await verifyJson(t, [dir, ...F], 0)
    t.like(v, { status: 'clean', cleanShutdown: true, batches: all.length, indexEntries: entryCount(after), logEndOffset: all[all.length - 1].lastOffset + 1 })
    t.deepEqual((await dumpJson(t, [dir, ...F])).segments.flatMap((s) => s.batches), witness(t, after, all))
  })
}

/** The cli-log-child in 'hold' mode: its JSON lines one by one, its exit code. */
function startHolder(t: ExecutionContext, backend: BackendName, dir: string): { child: ChildProcessWithoutNullStreams; next: () => Promise<unknown>; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [fixture('cli-log-child'), JSON.stringify({ enableIoUring: backend === 'io_uring', dir, mode: 'hold', steps: CLI_LOG_STEPS })], { env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] })
  let stderr = ''
  let buffered = ''
  const lines: string[] = []
  const waiting: Array<(line: string | null) => void> = []
  let closed = false
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buffered += d
    let nl: number
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      const w = waiting.shift()
      if (w) w(line)
      else lines.push(line)
    }
  })
  const exit = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      closed = true
      for (const w of waiting.splice(0)) w(null)
      resolve(code)
    }),
  )
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000)
  t.teardown(() => {
    clearTimeout(timer)
    if (!closed) child.kill('SIGKILL')
  })
  const next = async () => {
    const line = lines.length > 0 ? lines.shift()! : closed ? null : await new Promise<string | null>((resolve) => waiting.push(resolve))
    if (line === null) throw new Error(`the holder exited before printing: ${stderr}`)
    return JSON.parse(line) as unknown
  }
  return { child, next, exit }
}

test("Kafka's DumpLogSegments reads the same batches and index entries as log dump (both backends)", async (t) => {
  // On copies: the tool opens the index files itself.
  const dirs = backends.map((b) => ({ ...shared(t, b).golden, dir: copyOf(t, shared(t, b).golden) }))
  const kafka = await dumpDirs(dirs.map((d) => d.dir), { indexChecks: false })
  t.deepEqual(kafka.map((k) => k.complaints), dirs.map(() => []))
  for (let i = 0; i < dirs.length; i++) {
    const j = await dumpJson(t, [dirs[i].dir, '--indexes', ...uringFlag(backends[i])])
    t.is(kafka[i].segments.length, j.segments.length)
    for (let s = 0; s < j.segments.length; s++) {
      const ours = j.segments[s]
      const theirs = kafka[i].segments[s]
      t.is(path.basename(theirs.files.log), ours.file)
      t.deepEqual(
        ours.batches.map((b) => ({ baseOffset: b.baseOffset, lastOffset: b.lastOffset, count: b.count, position: b.position, size: b.size, maxTimestamp: b.maxTimestamp, producerId: b.producerId, producerEpoch: b.producerEpoch, baseSequence: b.baseSequence, partitionLeaderEpoch: b.leaderEpoch, magic: 2, codec: b.codec, crc: b.crc, isValid: b.crcOk })),
        theirs.batches.map(({ records: _, ...b }) => b),
        `${ours.file}: batches`,
      )
      t.deepEqual(ours.index, theirs.index, `${ours.file}: .index`)
      t.deepEqual(ours.timeIndex, theirs.timeIndex, `${ours.file}: .timeindex`)
    }
  }
})

test('log usage mistakes: one line on stderr, exit 2, never a stack trace', async (t) => {
  const dir = tmpDir(t, 'cli-log-usage-')
  const file = path.join(dir, 'plain')
  fs.writeFileSync(file, 'x')
  const cases: Array<[string[], RegExp]> = [
    [['log'], /missing subcommand for 'log'/],
    [['log', 'fix', dir], /unknown subcommand 'log fix'/],
    [['log', 'dump'], /missing argument DIR for 'log dump'/],
    [['log', 'verify'], /missing argument DIR for 'log verify'/],
    [['log', 'dump', dir, 'more'], /unexpected argument 'more' for 'log dump'/],
    [['log', 'verify', dir, dir], /unexpected argument '.*' for 'log verify'/],
    [['log', 'verify', dir, '--indexes'], /unknown flag --indexes for 'log verify'/],
    [['log', 'verify', dir, '--from', '3'], /unknown flag --from for 'log verify'/],
    [['log', 'dump', dir, '--strict'], /unknown flag --strict for 'log dump'/],
    [['log', 'dump', dir, '--nope'], /unknown flag --nope/],
    [['log', 'dump', dir, '--from'], /--from needs a value/],
    [['log', 'dump', dir, '--from', '-1'], /--from needs a non-negative integer, got "-1"/],
    [['log', 'dump', dir, '--from', 'x'], /--from needs a non-negative integer/],
    [['log', 'verify', dir, '--json=yes'], /--json takes no value/],
    [['log', 'verify', path.join(dir, 'missing')], /no such directory/],
    [['log', 'dump', path.join(dir, 'missing')], /no such directory/],
    [['log', 'dump', file], /not a directory/],
    [['log', 'verify', file], /not a directory/],
    [['log', 'verify', dir, '--enable-io-uring', 'maybe'], /enableIoUring: "maybe"/],
  ]
  const before = snapshotLogDir(dir)
  for (const [args, message] of cases) {
    const r = await cli(args)
    t.true(isUsageError(r), `${JSON.stringify(args)} → code ${r.code}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}`)
    t.regex(r.stderr, message, JSON.stringify(args))
  }
  t.deepEqual(snapshotLogDir(dir), before)
  t.false(fs.existsSync(path.join(dir, 'missing')), 'a missing directory is not created')
})

test('log --help on every level; the top-level help lists log dump and log verify', async (t) => {
  const levels: Array<[string[], string, string[]]> = [
    [['log', '--help'], 'Usage: streamline-io log <dump|verify> DIR', ['dump DIR', 'verify DIR']],
    [['log', '-h'], 'Usage: streamline-io log <dump|verify> DIR', []],
    [['log', 'dump', '--help'], 'Usage: streamline-io log dump DIR', ['--from OFFSET', '--indexes', '--json']],
    [['log', 'verify', '--help'], 'Usage: streamline-io log verify DIR', ['--json']],
    [['log', 'verify', '/no/such/dir', '-h'], 'Usage: streamline-io log verify DIR', []],
  ]
  for (const [args, usage, mentions] of levels) {
    const r = await cli(args)
    t.is(r.code, 0, `${args.join(' ')}: ${summary(r)}`)
    t.is(r.stderr, '')
    t.true(r.stdout.startsWith(usage), `${args.join(' ')}: ${r.stdout.slice(0, 200)}`)
    t.true(r.stdout.includes('--enable-io-uring'), `${args.join(' ')}: config flags listed`)
    for (const m of mentions) t.true(r.stdout.includes(m), `${args.join(' ')} mentions ${m}`)
  }
  t.false((await cli(['log', 'verify', '--help'])).stdout.includes('--indexes'), 'verify takes no --indexes')
  const top = await cli(['--help'])
  t.is(top.code, 0)
  t.regex(top.stdout, /^ {2}log dump DIR\s+\S/m)
  t.regex(top.stdout, /^ {2}log verify DIR\s+\S/m)
})
