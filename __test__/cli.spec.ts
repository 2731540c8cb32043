// The streamline-io command as a user runs it: child processes of `node
// bin/streamline-io …` (DESIGN.md issue 5 "CLI"). Exit codes (0 ok, 1 damaged, 2 usage),
// --help on every level, bad flags as one line on stderr, info on both backends with the
// config's sources, wal dump/verify on good, corrupt and torn WALs on both backends —
// and the files they inspect stay byte for byte as they were.

import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

import { openWal } from '../ts/index'
import { backends, ioUringExpected, openBackend, tmpDir, type BackendName } from './helpers/backends'
import { cleanEnv, runNode, summary, type ChildResult } from './helpers/child'
import { snapshotDir, walFiles } from './fixtures/wal-lib'
import type { RingSetup } from '../ts/types'

const BIN = path.join(__dirname, '..', '..', 'bin', 'streamline-io')
const FRAME_HEADER = 16 // docs/FORMATS.md
const RECORDS = 60
const SEGMENT_BYTES = 32 * 1024

function cli(args: string[], env: Record<string, string> = {}): Promise<ChildResult> {
  return runNode([BIN, ...args], { env: cleanEnv(env), timeoutMs: 60_000 })
}

const uringFlag = (b: BackendName) => ['--enable-io-uring', b === 'io_uring' ? 'true' : 'false']

/** One clear line on stderr, nothing on stdout, exit 2, no stack trace. */
function isUsageError(r: ChildResult): boolean {
  const lines = r.stderr.trimEnd().split('\n')
  return r.code === 2 && r.stdout === '' && lines.length === 1 && lines[0].startsWith('streamline-io: ') && !/\n\s+at /.test(r.stderr)
}

test('--help on every level: exit 0, usage on stdout, config flags listed', async (t) => {
  for (const args of [['--help'], ['-h'], ['info', '--help'], ['wal', '--help'], ['wal', 'dump', '--help'], ['wal', 'verify', '-h'], ['wal', 'dump', '/no/such/dir', '--help']]) {
    const r = await cli(args)
    t.is(r.code, 0, `${args.join(' ')}: ${r.stderr}`)
    t.regex(r.stdout, /^Usage: streamline-io/, args.join(' '))
    t.true(r.stdout.includes('--enable-io-uring'), args.join(' '))
    t.is(r.stderr, '')
  }
  t.true((await cli(['wal', 'dump', '--help'])).stdout.includes('--from LSN'))
  t.true((await cli(['wal', 'verify', '--help'])).stdout.includes('--strict'))
})

test('user mistakes: one line on stderr, exit 2, never a stack trace', async (t) => {
  const dir = tmpDir(t)
  const file = path.join(dir, 'plain')
  fs.writeFileSync(file, 'x')
  const cases: Array<[string[], RegExp]> = [
    [[], /missing command/],
    [['bogus'], /unknown command 'bogus'/],
    [['info', '--nope'], /unknown flag --nope/],
    [['info', '-x'], /unknown flag -x/],
    [['info', '--from', '3'], /unknown flag --from for 'info'/],
    [['info', 'extra'], /unexpected argument 'extra'/],
    [['info', '--json=yes'], /--json takes no value/],
    [['info', '--io-queue-depth'], /--io-queue-depth needs a value/],
    [['info', '--io-queue-depth', 'many'], /queueDepth: "many" from flag --io-queue-depth is not valid/],
    [['info', '--io-uring-sq-depth=3'], /sqDepth: 3 from flag --io-uring-sq-depth must be a power of two/],
    [['info', '--io-queue-depth', '100000'], /^streamline-io: queueDepth: 100000 from flag --io-queue-depth must be an integer from 1 to 65535 \(the native addon's limit protocol\(\)\.limits\.maxQueueCapacity\)\n$/],
    [['info', '--io-uring-sq-depth', '65536'], /sqDepth: 65536 from flag --io-uring-sq-depth must be a power of two from 1 to 32768 \(the native addon's limit protocol\(\)\.limits\.maxSqDepth\)/],
    [['info', '--enable-io-uring', 'maybe'], /enableIoUring: "maybe"/],
    [['wal'], /missing subcommand/],
    [['wal', 'fix', dir], /unknown subcommand 'wal fix'/],
    [['wal', 'dump'], /missing argument DIR/],
    [['wal', 'verify'], /missing argument DIR/],
    [['wal', 'dump', dir, 'more'], /unexpected argument 'more'/],
    [['wal', 'dump', dir, '--from'], /--from needs a value/],
    [['wal', 'dump', dir, '--from', '-1'], /--from needs a non-negative integer, got "-1"/],
    [['wal', 'dump', dir, '--from', 'x'], /--from needs a non-negative integer/],
    [['wal', 'dump', dir, '--strict'], /unknown flag --strict for 'wal dump'/],
    [['wal', 'verify', dir, '--from', '1'], /unknown flag --from for 'wal verify'/],
    [['wal', 'verify', path.join(dir, 'missing')], /no such directory/],
    [['wal', 'dump', file], /not a directory/],
  ]
  for (const [args, message] of cases) {
    const r = await cli(args)
    t.true(isUsageError(r), `${JSON.stringify(args)} → code ${r.code}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}`)
    t.regex(r.stderr, message, JSON.stringify(args))
  }
  // A bad environment value is the user's mistake too, and says where it came from.
  const env = await cli(['info'], { STREAMLINE_IO_WORKERS: '0' })
  t.true(isUsageError(env), env.stderr)
  t.regex(env.stderr, /ioWorkers: 0 from environment variable STREAMLINE_IO_WORKERS/)
})

interface InfoJson {
  kernel: { release: string }
  ioUring: { available: boolean; opcodes: string[]; features: string[] }
  backend: string
  fallbackReason: string | null
  ring: RingSetup | null
  config: Record<string, { value: unknown; source: string }>
  environment: Record<string, { value: unknown; source: string; variable: string }>
  limits: { from: string } & Record<string, number | string>
}

test('info: kernel, io_uring, backend and the config with its sources', async (t) => {
  const r = await cli(['info', '--json'], { STREAMLINE_IO_QUEUE_DEPTH: '512' })
  t.is(r.code, 0, summary(r))
  const j = JSON.parse(r.stdout) as InfoJson
  t.is(typeof j.kernel.release, 'string')
  t.true(j.kernel.release.length > 0)
  if (ioUringExpected()) {
    t.true(j.ioUring.available)
    t.is(j.backend, 'io_uring')
    t.is(j.fallbackReason, null)
    t.true(j.ioUring.opcodes.includes('read'))
    t.true(j.ioUring.opcodes.includes('write'))
  } else {
    t.is(j.backend, 'standard')
    t.is(typeof j.fallbackReason, 'string')
  }
  t.deepEqual(j.config.enableIoUring, { value: true, source: 'default' })
  t.deepEqual(j.config.queueDepth, { value: 512, source: 'env' })
  t.deepEqual(j.config.sqDepth, { value: 256, source: 'default' })
  t.deepEqual(Object.keys(j.config).sort(), ['bufferPoolSize', 'enableIoUring', 'ioWorkers', 'preallocateSize', 'preallocateWal', 'queueDepth', 'sizeClasses', 'sqDepth', 'sqpoll'])
  t.deepEqual(j.environment.engine, { value: 'inline', source: 'default', variable: 'STREAMLINE_IO_ENGINE' })
  t.deepEqual(j.environment.testNoAddon, { value: false, source: 'default', variable: 'STREAMLINE_IO_TEST_NO_ADDON' })
  t.like(j.limits, { from: 'addon', maxQueueCapacity: 65535, maxSqDepth: 32768 })
  if (j.backend === 'io_uring') {
    t.like(j.ring, { engine: 'inline', engineSource: 'default' })
    t.like(j.ring?.requested, { sqEntries: 256, queueCapacity: 512, cqEntries: 1024 })
    // Until the addon exports engineInfo(), what the kernel gave is not reported (and says so).
    if (j.ring?.rings === null) t.regex(j.ring.unreported ?? '', /engineInfo/)
    else t.true(Array.isArray(j.ring?.rings?.[0].setupFlags))
  } else {
    t.is(j.ring, null)
  }

  const text = await cli(['info'])
  t.is(text.code, 0, text.stderr)
  t.regex(text.stdout, /^kernel\s+\S+/m)
  t.regex(text.stdout, /^backend\s+(io_uring|standard)/m)
  t.regex(text.stdout, /^\s+enableIoUring\s+true\s+default$/m)
  if (ioUringExpected()) {
    t.regex(text.stdout, /^engine\s+inline \(default\)$/m)
    t.regex(text.stdout, /^requested\s+sq 256, cq 2048, queue 1024/m)
  }
  t.regex(text.stdout, /^\s+STREAMLINE_IO_ENGINE\s+inline\s+default$/m)

  const thread = await cli(['info', '--json'], { STREAMLINE_IO_ENGINE: 'thread' })
  const jt = JSON.parse(thread.stdout) as InfoJson
  t.deepEqual(jt.environment.engine, { value: 'thread', source: 'env', variable: 'STREAMLINE_IO_ENGINE' })
  if (jt.backend === 'io_uring') t.like(jt.ring, { engine: 'thread', engineSource: 'env' })
  const bad = await cli(['info'], { STREAMLINE_IO_ENGINE: 'warp' })
  t.true(isUsageError(bad), bad.stderr)
  t.regex(bad.stderr, /STREAMLINE_IO_ENGINE=warp from the environment is not 'inline' or 'thread'/)
})

test('info --enable-io-uring false: standard backend, the reason, source flag', async (t) => {
  for (const args of [['info', '--json', '--enable-io-uring', 'false'], ['--enable-io-uring=false', 'info', '--json']]) {
    const r = await cli(args, { STREAMLINE_IO_URING: 'true' })
    t.is(r.code, 0, summary(r))
    const j = JSON.parse(r.stdout) as InfoJson
    t.is(j.backend, 'standard')
    t.regex(j.fallbackReason ?? '', /disabled by configuration/)
    t.deepEqual(j.config.enableIoUring, { value: false, source: 'flag' })
    // The probe still tells what the kernel offers.
    if (ioUringExpected()) t.true(j.ioUring.available)
  }
  const text = await cli(['info', '--enable-io-uring', 'false', '--io-workers', '2'])
  t.is(text.code, 0, text.stderr)
  t.regex(text.stdout, /^backend\s+standard \(io_uring not used: .*disabled by configuration/m)
  t.regex(text.stdout, /^\s+enableIoUring\s+false\s+flag --enable-io-uring$/m)
  t.regex(text.stdout, /^\s+ioWorkers\s+2\s+flag --io-workers$/m)
})

interface DumpJson {
  records: Array<{ lsn: number | null; file: string; position: number; size: number; crcOk: boolean }>
  files: Array<{ file: string; firstLsn: number; records: number; end: string; position: number }>
  verdict: { status: string; file: string | null; position: number | null; what: string | null; firstLsn: number | null; lastLsn: number | null }
}

const payload = (lsn: number) => Buffer.alloc(300 + ((lsn * 37) % 700), lsn & 0xff)

/** A WAL of RECORDS records over several files, written by the library on `backend`. */
async function makeWal(t: Parameters<typeof openBackend>[0], backend: BackendName): Promise<string> {
  const io = await openBackend(t, backend)
  const dir = path.join(tmpDir(t), 'wal')
  const wal = await openWal(io, dir, { segmentBytes: SEGMENT_BYTES })
  for (let lsn = 1; lsn <= RECORDS; lsn++) t.is(await wal.append(payload(lsn)), lsn)
  await wal.close()
  t.true(walFiles(dir).length >= 2, 'the WAL spans several files')
  return dir
}

async function dumpJson(t: Parameters<typeof openBackend>[0], args: string[]): Promise<DumpJson> {
  const r = await cli(args)
  t.is(r.code, 0, summary(r))
  return JSON.parse(r.stdout) as DumpJson
}

for (const backend of backends) {
  test(`wal dump and verify on a good WAL change nothing (${backend})`, async (t) => {
    const dir = await makeWal(t, backend)
    const before = snapshotDir(dir)

    const d = await dumpJson(t, ['wal', 'dump', dir, '--json', ...uringFlag(backend)])
    t.deepEqual(d.records.map((r) => r.lsn), Array.from({ length: RECORDS }, (_, i) => i + 1))
    t.true(d.records.every((r) => r.crcOk))
    for (const r of d.records) {
      t.is(r.size, payload(r.lsn!).length)
      // The position is where the frame is: its payload follows the frame header.
      const bytes = fs.readFileSync(path.join(dir, r.file))
      t.true(bytes.subarray(r.position + FRAME_HEADER, r.position + FRAME_HEADER + r.size).equals(payload(r.lsn!)), `LSN ${r.lsn}`)
    }
    t.is(d.files.length, walFiles(dir).length)
    t.is(d.verdict.status, 'clean')
    t.is(d.verdict.lastLsn, RECORDS)

    const from = await dumpJson(t, ['wal', 'dump', dir, '--json', '--from', '45', ...uringFlag(backend)])
    t.deepEqual(from.records.map((r) => r.lsn), Array.from({ length: RECORDS - 44 }, (_, i) => i + 45))

    const text = await cli(['wal', 'dump', dir, ...uringFlag(backend)])
    t.is(text.code, 0, text.stderr)
    t.regex(text.stdout, /^lsn: 1 position: 4096 size: \d+ crc: ok$/m)
    t.regex(text.stdout, new RegExp(`^lsn: ${RECORDS} position: \\d+ size: \\d+ crc: ok$`, 'm'))

    const v = await cli(['wal', 'verify', dir, ...uringFlag(backend)])
    t.is(v.code, 0, v.stderr)
    t.regex(v.stdout, new RegExp(`^clean: \\d+ file\\(s\\), LSN 1\\.\\.${RECORDS} \\(${RECORDS} records\\)`))
    const strict = await cli(['wal', 'verify', dir, '--strict', '--json', ...uringFlag(backend)])
    t.is(strict.code, 0, strict.stderr)
    t.is((JSON.parse(strict.stdout) as { status: string }).status, 'clean')

    t.deepEqual(snapshotDir(dir), before, 'dump and verify changed nothing')
  })

  test(`wal verify names the file and position of a flipped byte in the middle (${backend})`, async (t) => {
    const dir = await makeWal(t, backend)
    const good = await dumpJson(t, ['wal', 'dump', dir, '--json', ...uringFlag(backend)])
    const victim = good.records.find((r) => r.lsn === 10)!
    t.truthy(good.records.find((r) => r.lsn! > 10 && r.file === victim.file), 'records follow the damage in its file')
    const file = path.join(dir, victim.file)
    const bytes = fs.readFileSync(file)
    bytes[victim.position + FRAME_HEADER + 7] ^= 0x40
    fs.writeFileSync(file, bytes)
    const before = snapshotDir(dir)

    for (const strict of [[], ['--strict']]) {
      const v = await cli(['wal', 'verify', dir, ...strict, ...uringFlag(backend)])
      t.is(v.code, 1, `${v.stdout}${v.stderr}`)
      t.true(v.stdout.includes(`damaged: ${file} at position ${victim.position}: checksum mismatch`), v.stdout)
    }
    const vj = await cli(['wal', 'verify', dir, '--json', ...uringFlag(backend)])
    t.is(vj.code, 1)
    t.like(JSON.parse(vj.stdout), { status: 'damaged', file, position: victim.position })

    const d = await dumpJson(t, ['wal', 'dump', dir, '--json', ...uringFlag(backend)])
    t.deepEqual(d.records.filter((r) => !r.crcOk), [{ ...victim, crcOk: false }])
    // The dump goes on past the bad spot: every other record is listed, intact.
    t.deepEqual(d.records.filter((r) => r.crcOk), good.records.filter((r) => r.lsn !== 10))
    t.like(d.files.find((f) => f.file === victim.file), { badSpots: [{ position: victim.position }] })
    t.like(d.verdict, { status: 'damaged', file, position: victim.position })
    const text = await cli(['wal', 'dump', dir, ...uringFlag(backend)])
    t.regex(text.stdout, new RegExp(`^lsn: 10 position: ${victim.position} size: ${victim.size} crc: MISMATCH$`, 'm'))
    t.regex(text.stdout, new RegExp(`^bad spot at position ${victim.position}: checksum mismatch.*; records resume at position \\d+ \\(LSN 11\\)$`, 'm'))
    t.regex(text.stdout, /^damaged: /m)

    t.deepEqual(snapshotDir(dir), before, 'dump and verify changed nothing')
  })

  test(`wal verify: a torn tail is a warning (exit 0), damage with --strict (${backend})`, async (t) => {
    const dir = await makeWal(t, backend)
    const good = await dumpJson(t, ['wal', 'dump', dir, '--json', ...uringFlag(backend)])
    const last = good.records[good.records.length - 1]
    const file = path.join(dir, last.file)
    const bytes = fs.readFileSync(file)
    bytes[last.position + FRAME_HEADER + 3] ^= 0x01
    fs.writeFileSync(file, bytes)
    const before = snapshotDir(dir)

    const v = await cli(['wal', 'verify', dir, ...uringFlag(backend)])
    t.is(v.code, 0, `${v.stdout}${v.stderr}`)
    t.true(v.stdout.startsWith(`warning: torn tail in ${file} at position ${last.position}: checksum mismatch`), v.stdout)
    t.regex(v.stdout, new RegExp(`records LSN 1\\.\\.${RECORDS - 1} are intact`))
    const strict = await cli(['wal', 'verify', dir, '--strict', ...uringFlag(backend)])
    t.is(strict.code, 1, strict.stdout)
    t.true(strict.stdout.includes(`damaged: ${file} at position ${last.position}: strict recovery refuses`), strict.stdout)

    t.deepEqual(snapshotDir(dir), before, 'verify did not truncate the torn tail')
  })
}

test('wal verify and dump on an empty directory: clean, exit 0', async (t) => {
  const dir = tmpDir(t)
  const v = await cli(['wal', 'verify', dir])
  t.is(v.code, 0, v.stderr)
  t.regex(v.stdout, /^clean: no WAL files/)
  const d = await cli(['wal', 'dump', dir, '--json'])
  t.is(d.code, 0, d.stderr)
  t.like(JSON.parse(d.stdout), { records: [], files: [], verdict: { status: 'empty' } })
  t.deepEqual(fs.readdirSync(dir), [])
})
