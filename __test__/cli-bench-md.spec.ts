// BENCHMARKS.md's generated section (scripts/benchmarks-md.ts, `npm run bench:md`) from
// `streamline-io bench --json` runs: the fixtures in __test__/fixtures/bench/ are three
// runs with numbers chosen so that the median of ratios differs from the ratio of medians,
// an even count takes the mean of the middle two, a skipped run and a missing workload
// show as such. The script runs as a user runs it (a child process); --write replaces only
// the marked section.

import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

import { MARK_BEGIN, MARK_END, floorRows, headerFacts, median, medianRows, readReport, renderMarkdown, replaceBetweenMarkers } from '../benches/markdown'
import { type BenchReport, mountOf } from '../ts/cli/bench/report'
import { tmpDir } from './helpers/backends'
import { cleanEnv, runNode, summary, type ChildResult } from './helpers/child'

const SCRIPT = path.join(__dirname, '..', 'scripts', 'benchmarks-md.js')
const FIXTURES = path.join(__dirname, '..', '..', '__test__', 'fixtures', 'bench')
const RUNS = ['run1.json', 'run2.json', 'run3.json'].map((f) => path.join(FIXTURES, f))

function script(args: string[]): Promise<ChildResult> {
  return runNode([SCRIPT, ...args], { env: cleanEnv(), timeoutMs: 30_000 })
}

const oneLine = (r: ChildResult) => r.stdout === '' && r.stderr.trimEnd().split('\n').length === 1 && r.stderr.startsWith('benchmarks-md: ') && !/\n\s+at /.test(r.stderr)

test('median: odd and even counts, non-finite values ignored', (t) => {
  t.is(median([3, 1, 2]), 2)
  t.is(median([4, 1, 3, 2]), 2.5)
  t.is(median([5]), 5)
  t.is(median([NaN, 7, Infinity]), 7)
  t.true(Number.isNaN(median([])))
})

test('medianRows: medians across runs, the median of per-run ratios vs node-fs', (t) => {
  const rows = medianRows(RUNS.map(readReport))
  const row = (w: string, b: string) => rows.find((r) => r.workload === w && r.backend === b)!
  t.deepEqual(
    rows.map((r) => `${r.workload} ${r.backend}`),
    ['W1 io_uring', 'W1 node-fs', 'W1 node-fs-uring', 'W3 io_uring', 'W3 node-fs', 'W6 io_uring', 'W6 node-fs'],
  )
  // W1 io_uring: 4000/6000/3500 against node-fs 2000/2000/1000 → ratios 2, 3, 3.5: the
  // median ratio is 3.0 where the ratio of the medians would be 4000/2000 = 2.0.
  t.like(row('W1', 'io_uring'), { unit: 'ops/s', runs: [4000, 6000, 3500], median: 4000, p50: 200, p99: 800, p999: 1200, vsNodeFs: 3 })
  t.like(row('W1', 'node-fs'), { median: 2000, vsNodeFs: 1, p50: 310 })
  t.like(row('W1', 'node-fs-uring'), { runs: [3000, 2400, 4000], median: 3000, vsNodeFs: 1.5 })
  // Skipped in two runs: the median and the ratio come from the run that had it.
  t.like(row('W3', 'io_uring'), { runs: ['skipped', 100000, 'skipped'], median: 100000, vsNodeFs: 2.5, p99: 90, skipped: null })
  // W6 is in two runs only: even count → the mean of the two; MB/s.
  t.like(row('W6', 'io_uring'), { unit: 'MB/s', runs: [1800, 1700, null], median: 1750, vsNodeFs: 1.3 })
  t.like(row('W6', 'node-fs'), { median: 1500 })
})

test('the header states machine, kernel, file system, node, dates and command; disagreements show', (t) => {
  const reports = RUNS.map(readReport)
  t.deepEqual(headerFacts(reports), {
    machine: '2 × AMD EPYC 7B13, 24.0 GiB RAM, x64',
    kernel: 'Linux 6.1.0-test',
    fileSystem: 'ext4 on /dev/vda, mounted at / (bench dir /work/benchdir)',
    date: '2026-11-20 10:00 UTC – 2026-11-20 10:10 UTC',
    node: 'v20.20.2',
    command: 'streamline-io bench --json --duration 2 --dir /work/benchdir',
  })
  const other: BenchReport = { ...reports[2], kernel: '6.2.0-other' }
  t.is(headerFacts([reports[0], other]).kernel, 'Linux 6.1.0-test / Linux 6.2.0-other (runs differ)')
  // A report from before the fs facts: the statfs type and the directory.
  const { fs: _fs, ...old } = reports[0]
  t.is(headerFacts([old]).fileSystem, 'ext4 (/work/benchdir)')
})

test('bench:md prints the section: facts, then the table rows', async (t) => {
  const r = await script(RUNS)
  t.is(r.code, 0, summary(r))
  const md = r.stdout
  t.regex(md, /^## `streamline-io bench`: medians of 3 runs, 2026-11-20\n/)
  for (const line of [
    '- Machine: 2 × AMD EPYC 7B13, 24.0 GiB RAM, x64',
    '- Kernel: Linux 6.1.0-test',
    '- File system: ext4 on /dev/vda, mounted at / (bench dir /work/benchdir)',
    '- Node: v20.20.2',
    '- Date: 2026-11-20 10:00 UTC – 2026-11-20 10:10 UTC',
    '- Command (each of 3 runs): `streamline-io bench --json --duration 2 --dir /work/benchdir`',
    '| W1 | io_uring | 4,000 / 6,000 / 3,500 | **4,000/s** | 200 | 800 | 1,200 | 3.00× | — |',
    '| W1 | node-fs | 2,000 / 2,000 / 1,000 | **2,000/s** | 310 | 510 | 610 | 1.00× | — |',
    '| W1 | node-fs-uring | 3,000 / 2,400 / 4,000 | **3,000/s** | 260 | 610 | 710 | 1.50× | — |',
    '| W3 | io_uring | skipped / 100,000 / skipped | **100,000/s** | 50 | 90 | 120 | 2.50× | — |',
    '| W6 | io_uring | 1,800 / 1,700 / — | **1,750 MB/s** | 3,000 | 9,000 | 12,000 | 1.30× | — |',
    '| W6 | node-fs | 2,000 / 1,000 / — | **1,500 MB/s** | 3,100 | 9,100 | 12,100 | 1.00× | — |',
  ]) {
    t.true(md.split('\n').includes(line), `missing line: ${line}\n${md}`)
  }
  t.regex(md, /Generated by `npm run bench:md -- run1\.json run2\.json run3\.json --write BENCHMARKS\.md`/)
  t.regex(md, /W6 cache eviction before each pass: posix_fadvise\(DONTNEED\) after fdatasync/)
  // One run alone: its own numbers.
  const one = await script([RUNS[1]])
  t.is(one.code, 0, one.stderr)
  t.regex(one.stdout, /^## `streamline-io bench`: one run, 2026-11-20/)
  t.true(one.stdout.includes('| W1 | io_uring | 6,000 | **6,000/s** | 150 | 900 | 1,500 | 3.00× | — |'), one.stdout)
})

test('bench:md --write replaces only the marked section, and again in place', async (t) => {
  const dir = tmpDir(t)
  const doc = path.join(dir, 'BENCHMARKS.md')
  const before = '# Benchmarks\n\nintro by hand\n\n'
  const after = '\n\n## Analysis by hand\n\nkept as is\n'
  fs.writeFileSync(doc, `${before}${MARK_BEGIN}\nold table\n${MARK_END}${after}`)
  const r = await script([...RUNS, '--write', doc])
  t.is(r.code, 0, summary(r))
  t.is(r.stdout, '')
  const once = fs.readFileSync(doc, 'utf8')
  t.true(once.startsWith(`${before}${MARK_BEGIN}\n## \`streamline-io bench\`: medians of 3 runs`), once)
  t.true(once.endsWith(`| 1.00× | — |\n${MARK_END}${after}`), once)
  t.false(once.includes('old table'))
  const printed = await script(RUNS)
  t.is(once, `${before}${MARK_BEGIN}\n${printed.stdout}${MARK_END}${after}`)
  const again = await script([...RUNS, '--write', doc])
  t.is(again.code, 0, again.stderr)
  t.is(fs.readFileSync(doc, 'utf8'), once, 'regenerating is idempotent')
})

test('medianRows/renderMarkdown: the ratio vs standard, CPU per record or GB, the phases of a workload in run order', (t) => {
  // W7's phases ran P, W, C: the table keeps that order (not the alphabet's C, P, W) and
  // sorts workloads by number (W7 after W6, W10 after W7).
  const result = (workload: string, backend: string, opsPerSec: number, cpuUsPerOp?: number) => ({
    workload,
    backend,
    unit: 'records/s' as const,
    opsPerSec,
    mbPerSec: opsPerSec / 1000,
    latencyUs: { p50: 100, p99: 200, p999: 300 },
    ...(cpuUsPerOp === undefined ? {} : { cpuUsPerOp, cpuSecondsPerGB: cpuUsPerOp }),
  })
  const base = readReport(RUNS[0])
  const run = (scale: number): BenchReport => ({
    ...base,
    results: [
      { workload: 'W10', backend: 'io_uring', unit: 'ops/s', opsPerSec: 5, latencyUs: { p50: 1, p99: 2, p999: 3 } },
      result('W7P', 'io_uring', 1200 * scale, 4),
      result('W7P', 'standard', 1000, 5),
      result('W7W', 'io_uring', 3000, 0.5 * scale),
      result('W7W', 'standard', 2000 * scale),
      result('W7C', 'io_uring', 900),
      result('W7C', 'standard', 1000),
      { workload: 'W6', backend: 'io_uring', unit: 'MB/s', mbPerSec: 1000, latencyUs: { p50: 1, p99: 2, p999: 3 }, cpuSecondsPerGB: 0.25 },
    ],
  })
  const reports = [run(1), run(2), run(3)]
  const rows = medianRows(reports)
  t.deepEqual(
    rows.map((r) => r.workload),
    ['W6', 'W7P', 'W7P', 'W7W', 'W7W', 'W7C', 'W7C', 'W10'],
  )
  const row = (w: string, b: string) => rows.find((r) => r.workload === w && r.backend === b)!
  // Per-run ratios vs standard 1.2, 2.4, 3.6 → 2.4; W7W 1.5, 0.75, 0.5 → 0.75.
  t.like(row('W7P', 'io_uring'), { vsStandard: 2.4, cpuUsPerOp: 4, vsNodeFs: null })
  t.like(row('W7W', 'io_uring'), { vsStandard: 0.75, cpuUsPerOp: 1 })
  t.true(Number.isNaN(row('W7W', 'standard').cpuUsPerOp), 'no run measured its CPU')
  t.is(row('W10', 'io_uring').vsStandard, null)
  const md = renderMarkdown(reports).split('\n')
  t.true(md.includes('| workload | backend | runs | median | p50 µs | p99 µs | p999 µs | vs node-fs | vs standard | CPU |'), md.join('\n'))
  t.true(md.includes('| W7P | io_uring | 1,200 / 2,400 / 3,600 | **2,400/s** | 100 | 200 | 300 | — | 2.40× | 4.00 µs/rec |'), md.join('\n'))
  t.true(md.includes('| W7W | standard | 2,000 / 4,000 / 6,000 | **4,000/s** | 100 | 200 | 300 | — | 1.00× |  |'), md.join('\n'))
  t.true(md.includes('| W6 | io_uring | 1,000 / 1,000 / 1,000 | **1,000 MB/s** | 1 | 2 | 3 | — | — | 0.25 s/GB |'), md.join('\n'))
})

test('medianRows/renderMarkdown with --limits runs: the median ratio to the floor, and a table of the floors', (t) => {
  const base = readReport(RUNS[0])
  // Three runs: W1's ratios to its floor 0.5, 0.8, 0.6 → 0.6 (the median of the runs'
  // ratios, not of the rates); run 2 had no fio, so fio-W1 is the median of two runs.
  const run = (w1: number, floor: number, ratio: number, fio: number | null): BenchReport => ({
    ...base,
    results: [
      { workload: 'W1', backend: 'io_uring', unit: 'ops/s', opsPerSec: w1, latencyUs: { p50: 100, p99: 200, p999: 300 }, vsFloor: ratio, floor: 'sync-4k-overwrite' },
      { workload: 'W1', backend: 'node-fs', unit: 'ops/s', opsPerSec: w1 / 2, latencyUs: { p50: 100, p99: 200, p999: 300 }, vsFloor: ratio / 2, floor: 'sync-4k-overwrite' },
    ],
    limits: [
      { id: 'sync-4k-overwrite', title: 'sync loop 4k', unit: 'ops/s', rate: floor, p50Us: 100, p99Us: 150 },
      fio === null ? { id: 'fio-W1', title: 'fio W1', unit: 'ops/s', rate: null, p50Us: null, p99Us: null, skipped: 'fio not installed' } : { id: 'fio-W1', title: 'fio W1', unit: 'ops/s', rate: fio, p50Us: null, p99Us: null },
    ],
  })
  const reports = [run(4000, 8000, 0.5, 5000), run(6400, 8000, 0.8, null), run(3000, 5000, 0.6, 6000)]
  const rows = medianRows(reports)
  t.like(rows.find((r) => r.backend === 'io_uring'), { vsFloor: 0.6, floor: 'sync-4k-overwrite' })
  t.like(rows.find((r) => r.backend === 'node-fs'), { vsFloor: 0.3 })
  t.deepEqual(floorRows(reports), [
    { id: 'sync-4k-overwrite', title: 'sync loop 4k', unit: 'ops/s', runs: [8000, 8000, 5000], median: 8000, p50: 100, skipped: null },
    { id: 'fio-W1', title: 'fio W1', unit: 'ops/s', runs: [5000, 'skipped', 6000], median: 5500, p50: NaN, skipped: null },
  ])
  const md = renderMarkdown(reports).split('\n')
  t.true(md.includes('| workload | backend | runs | median | p50 µs | p99 µs | p999 µs | vs node-fs | vs standard | vs floor |'), md.join('\n'))
  t.true(md.includes('| W1 | io_uring | 4,000 / 6,400 / 3,000 | **4,000/s** | 100 | 200 | 300 | 2.00× | — | 0.60× (sync-4k-overwrite) |'), md.join('\n'))
  t.true(md.includes('| sync-4k-overwrite | sync loop 4k | 8,000 / 8,000 / 5,000 | **8,000 ops/s** | 100 |'), md.join('\n'))
  t.true(md.includes('| fio-W1 | fio W1 | 5,000 / skipped / 6,000 | **5,500 ops/s** | — |'), md.join('\n'))
  // Runs without --limits keep the table as it was: no floor column, no floors table.
  const plain = renderMarkdown([base])
  t.false(plain.includes('vs floor'))
  t.false(plain.includes('Floors ('))
})

test('the repository BENCHMARKS.md has exactly one marked section', (t) => {
  const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'BENCHMARKS.md'), 'utf8')
  t.notThrows(() => replaceBetweenMarkers(doc, 'x'))
  t.is(doc.split(MARK_BEGIN).length, 2)
})

test('bench:md mistakes: one line on stderr, non-zero exit, the file untouched', async (t) => {
  const dir = tmpDir(t)
  const noMarkers = path.join(dir, 'plain.md')
  fs.writeFileSync(noMarkers, '# no markers\n')
  const notReport = path.join(dir, 'other.json')
  fs.writeFileSync(notReport, '{"hello": 1}')
  const notJson = path.join(dir, 'broken.json')
  fs.writeFileSync(notJson, '{"results": [')
  const cases: Array<[string[], number, RegExp]> = [
    [[], 2, /no JSON files given/],
    [['--frobnicate', RUNS[0]], 2, /unknown flag --frobnicate/],
    [[RUNS[0], '--write'], 2, /--write needs a file name/],
    [[path.join(dir, 'missing.json')], 1, /missing\.json: no such file/],
    [[notReport], 1, /other\.json: not the output of streamline-io bench --json/],
    [[notJson], 1, /broken\.json: not JSON/],
    [[RUNS[0], '--write', noMarkers], 1, /plain\.md: no <!-- bench:begin --> … <!-- bench:end --> section to replace/],
    [[RUNS[0], '--write', path.join(dir, 'nope.md')], 1, /cannot read .*nope\.md: ENOENT/],
  ]
  for (const [args, code, message] of cases) {
    const r = await script(args)
    t.is(r.code, code, `${JSON.stringify(args)}: ${r.stderr}`)
    t.true(oneLine(r), `${JSON.stringify(args)} → ${JSON.stringify(r)}`)
    t.regex(r.stderr, message, JSON.stringify(args))
  }
  t.is(fs.readFileSync(noMarkers, 'utf8'), '# no markers\n')
  const help = await script(['--help'])
  t.is(help.code, 0)
  t.regex(help.stdout, /^Usage: benchmarks-md RUN\.json/)
})

test('renderMarkdown refuses nothing to summarize; mountOf finds the longest mount point', (t) => {
  t.throws(() => renderMarkdown([]), { message: /no reports/ })
  const mountinfo = [
    '22 27 0:21 / /proc rw,relatime - proc proc rw',
    '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
    '40 27 0:30 / /work/bench\\040dir rw - xfs /dev/vdb1 rw',
    '41 27 0:31 / /work/benchmarks rw - tmpfs tmpfs rw',
  ].join('\n')
  t.deepEqual(mountOf('/work/bench dir/x', mountinfo), { source: '/dev/vdb1', mountPoint: '/work/bench dir', type: 'xfs' })
  t.deepEqual(mountOf('/work/benchdir', mountinfo), { source: '/dev/vda', mountPoint: '/', type: 'ext4' })
  t.deepEqual(mountOf('/work/benchmarks', mountinfo), { source: 'tmpfs', mountPoint: '/work/benchmarks', type: 'tmpfs' })
})
