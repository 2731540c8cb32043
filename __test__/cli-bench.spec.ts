// `streamline-io bench` as a user runs it (child processes of `node bin/streamline-io`):
// --quick --json produces every requested workload for every requested backend with
// positive numbers, the facts of the machine and an HDR histogram per run; --plot writes
// a well-formed SVG with a line per backend; workloads the library does not have yet,
// unknown backends and unwritable plot paths are one-line usage errors (exit 2); --help
// lists the options. Short durations keep it fast.

import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'

import { decodeHistogram } from '../ts/cli/bench/latency'
import { WORKLOADS } from '../ts/cli/bench/workloads'
import { BACKENDS } from '../ts/cli/bench'
import { ioUringExpected, tmpDir } from './helpers/backends'
import { cleanEnv, runNode, summary, type ChildResult } from './helpers/child'
import { type XmlElement, checkXml } from './helpers/xml'

const BIN = path.join(__dirname, '..', '..', 'bin', 'streamline-io')

function cli(args: string[]): Promise<ChildResult> {
  return runNode([BIN, ...args], { env: cleanEnv(), timeoutMs: 60_000 })
}

function isUsageError(r: ChildResult): boolean {
  const lines = r.stderr.trimEnd().split('\n')
  return r.code === 2 && r.stdout === '' && lines.length === 1 && lines[0].startsWith('streamline-io: ') && !/\n\s+at /.test(r.stderr)
}

interface BenchJson {
  schema: string
  machine: { cpus: number; cpuModel: string; memoryBytes: number; node: string }
  kernel: string
  fsType: string
  fs: { type: string; source: string; mountPoint: string }
  dir: string
  date: string
  command: string
  results: Array<{ workload: string; backend: string; unit?: string; ops?: number; opsPerSec?: number; mbPerSec?: number; cpuSecondsPerGB?: number; cpuUsPerOp?: number; consumerCpuSecondsPerGB?: number; vsStandard?: number | null; latencyUs?: { p50: number; p90: number; p99: number; p999: number; max: number }; histogram?: string; skipped?: string }>
}

/** The plot's panels: each panel's title and the backends of its lines and legend. */
function plotPanels(svg: string): Array<{ title: string; lines: string[]; legend: string[] }> {
  const els = checkXml(svg)
  const panels: Array<{ title: string; lines: string[]; legend: string[] }> = []
  let inLegend: XmlElement | null = null
  for (const el of els) {
    if (el.name === 'g' && el.attrs.class === 'panel') panels.push({ title: '', lines: [], legend: [] })
    const p = panels[panels.length - 1]
    if (p === undefined) continue
    if (el.name === 'text' && p.title === '' && el.attrs['font-weight'] === 'bold') p.title = el.text
    if (el.name === 'polyline' && el.attrs.class === 'series') p.lines.push(el.attrs['data-backend'])
    if (el.name === 'g') inLegend = el.attrs.class === 'legend-entry' ? el : null
    if (el.name === 'text' && inLegend !== null && el.depth === inLegend.depth + 1 && !inLegend.attrs['data-seen']) {
      inLegend.attrs['data-seen'] = '1'
      p.legend.push(el.text.replace(/: skipped$/, ''))
    }
  }
  return panels
}

test('bench --quick --json --plot: by default every workload on every backend, the machine facts, histograms and an SVG', async (t) => {
  const dir = tmpDir(t)
  const svgFile = path.join(dir, 'latency.svg')
  const r = await cli(['bench', '--quick', '--json', '--duration', '0.2', '--dir', dir, '--plot', svgFile])
  t.is(r.code, 0, summary(r))
  const report = JSON.parse(r.stdout) as BenchJson
  t.is(report.schema, 'streamline-io-bench/1')
  t.true(report.machine.cpus > 0)
  t.is(report.machine.cpuModel, os.cpus()[0].model.trim())
  t.is(report.machine.memoryBytes, os.totalmem())
  t.is(report.machine.node, process.version)
  t.is(report.kernel, os.release())
  t.truthy(report.fsType)
  t.is(report.fs.type, report.fsType)
  t.true(report.fs.mountPoint.startsWith('/'), JSON.stringify(report.fs))
  t.true(dir === report.fs.mountPoint || fs.realpathSync(dir).startsWith(report.fs.mountPoint), JSON.stringify(report.fs))
  t.is(report.dir, dir)
  t.false(Number.isNaN(Date.parse(report.date)))
  t.is(report.command, `streamline-io bench --quick --json --duration 0.2 --dir ${dir} --plot ${svgFile}`)
  t.regex(r.stderr, new RegExp(`bench: \\[1/${WORKLOADS.length * BACKENDS.length}\\] W1`), 'progress on stderr')
  t.regex(r.stderr, /latency plot written to /)
  const ran: Array<[string, string]> = []
  for (const workload of WORKLOADS) {
    for (const backend of BACKENDS) {
      const row = report.results.find((x) => x.workload === workload && x.backend === backend)
      t.truthy(row, `${workload} ${backend}`)
      if (backend === 'io_uring' && !ioUringExpected() && row?.skipped) continue
      if (workload.startsWith('W7') && backend.startsWith('node-fs') && !(workload === 'W7P' && backend === 'node-fs')) {
        // node:fs has no partition log; W7P's node-fs row is the single-writer sync loop.
        t.regex(row!.skipped ?? '', /n\/a: node:fs has no partition log/, `${workload} ${backend}`)
        continue
      }
      ran.push([workload, backend])
      t.true(row!.opsPerSec! > 0 && row!.mbPerSec! > 0, `${workload} ${backend}: ${JSON.stringify(row)}`)
      t.is(row!.unit, workload === 'W6' || workload.startsWith('Z1') ? 'MB/s' : workload.startsWith('W7') ? 'records/s' : 'ops/s')
      if (workload === 'W6' || workload.startsWith('W7') || workload.startsWith('Z1')) t.true(row!.cpuSecondsPerGB! > 0 && row!.cpuUsPerOp! > 0, `${workload} ${backend}: CPU measured`)
      // Z1's consumer is a child process: its CPU is reported beside the server's.
      if (workload.startsWith('Z1')) t.true(row!.consumerCpuSecondsPerGB! > 0, `${workload} ${backend}: consumer CPU measured`)
      if (backend === 'standard') t.is(row!.vsStandard, 1)
      const l = row!.latencyUs!
      t.true(l.p50 > 0 && l.p90 >= l.p50 && l.p99 >= l.p90 && l.p999 >= l.p99 && l.max >= l.p999, `${workload} ${backend}: ${JSON.stringify(l)}`)
      // The percentiles come from the HDR histogram the report carries.
      const h = decodeHistogram(row!.histogram!)
      // A sample per operation; per batch of 32 for W4; per append (or per 64 KiB fetch, one
      // batch of 100 records) for W7, whose ops are records.
      t.is(h.totalCount, workload === 'W4' ? row!.ops! / 32 : workload.startsWith('W7') ? row!.ops! / 100 : row!.ops!, `${workload} ${backend} samples`)
      // (Within HDR's 3 significant digits: the decoded maximum is rounded to its bucket.)
      const p99 = Math.min(h.getValueAtPercentile(99), h.maxValue) / 1000
      t.true(Math.abs(p99 - l.p99) <= 0.001 * l.p99 + 0.1, `${workload} ${backend} p99: histogram ${p99}, report ${l.p99}`)
    }
  }
  t.is(report.results.length, WORKLOADS.length * BACKENDS.length)

  const svg = fs.readFileSync(svgFile, 'utf8')
  t.true(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'))
  t.true(svg.trimEnd().endsWith('</svg>'))
  const panels = plotPanels(svg)
  t.is(panels.length, WORKLOADS.length, 'a panel per workload')
  for (const [i, workload] of WORKLOADS.entries()) {
    t.true(panels[i].title.startsWith(`${workload} `), panels[i].title)
    t.true(panels[i].title.includes(report.machine.cpuModel), 'the machine is in the title')
    const backends = ran.filter(([w]) => w === workload).map(([, b]) => b)
    t.deepEqual(panels[i].lines, backends, `${workload}: one line per backend that ran`)
    t.deepEqual(panels[i].legend, [...BACKENDS], `${workload}: every backend in the legend`)
  }
  t.regex(svg, /latency \(µs, log scale\)/)
  t.regex(svg, /percentile/)
  t.regex(svg, />99\.9%</)
})

test('bench: the table on stdout, node-fs-uring in a child (its histogram comes back), W6 says how it evicted', async (t) => {
  const dir = tmpDir(t)
  const svgFile = path.join(dir, 'w6.svg')
  const r = await cli(['bench', '--quick', '--workload', 'w6', '--backend', 'node-fs,node-fs-uring', '--duration', '0.2', '--dir', dir, `--plot=${svgFile}`])
  t.is(r.code, 0, summary(r))
  t.regex(r.stdout, /W6 .*node-fs-uring +[\d,]+ MB\/s/)
  t.regex(r.stdout, /1\.00x/)
  t.regex(r.stdout, /W6 cache eviction: (posix_fadvise|drop_caches|none)/)
  const [panel, ...more] = plotPanels(fs.readFileSync(svgFile, 'utf8'))
  t.is(more.length, 0)
  t.deepEqual(panel.lines, ['node-fs', 'node-fs-uring'])
})

test('bench --limits: the floors measured in the same run (fio where installed, else said), each row over its best floor', async (t) => {
  const dir = tmpDir(t)
  const workloads = ['W1', 'W1r', 'W2', 'W5', 'W6']
  const r = await cli(['bench', '--quick', '--json', '--limits', '--workload', workloads.join(',').toLowerCase(), '--backend', 'io_uring,standard,node-fs', '--duration', '0.2', '--dir', dir])
  t.is(r.code, 0, summary(r))
  const report = JSON.parse(r.stdout) as BenchJson & { limits: Array<{ id: string; unit: string; rate: number | null; p50Us: number | null; skipped?: string }> }
  t.deepEqual(report.limits.map((f) => f.id), ['sync-4k-overwrite', 'sync-4k-append', 'sync-64k-overwrite', 'read-buffered', 'read-direct', 'fio-W1', 'fio-W5', 'fio-W6'])
  const fioInstalled = spawnSync('fio', ['--version']).status === 0
  // fio's jobs use its io_uring engine: where io_uring is refused they fail, and say so.
  const fio = fioInstalled && ioUringExpected()
  for (const f of report.limits) {
    if (f.id.startsWith('fio-') && !fio) {
      t.is(f.rate, null, f.id)
      t.regex(f.skipped ?? '', fioInstalled ? /^failed: fio/ : /^fio not installed/, f.id)
      continue
    }
    t.true(f.rate! > 0, `${f.id}: ${JSON.stringify(f)}`)
    t.is(f.unit, ['read-buffered', 'read-direct', 'fio-W6'].includes(f.id) ? 'MB/s' : 'ops/s', f.id)
    // fio's W1 completion latency leaves out the fdatasync: not reported as the append's.
    if (f.id === 'fio-W1') t.is(f.p50Us, null)
    else t.true(f.p50Us! > 0, `${f.id} p50`)
  }
  const rate = (id: string) => report.limits.find((f) => f.id === id)!.rate!
  for (const row of report.results) {
    t.truthy(workloads.includes(row.workload))
    if (row.skipped !== undefined) continue
    const r = row as typeof row & { vsFloor: number | null; floor: string | null }
    const own = row.workload === 'W6' ? row.mbPerSec! : row.opsPerSec!
    // The floor each workload is held to, as DESIGN.md §6 states it.
    const expected: [string | null, number | null] =
      row.workload === 'W1' ? ['sync-4k-overwrite', rate('sync-4k-overwrite')]
      : row.workload === 'W1r' ? ['sync-4k-append', rate('sync-4k-append')]
      : row.workload === 'W2' ? ['sync-64k-overwrite', 64 * rate('sync-64k-overwrite')]
      : row.workload === 'W5' ? (fio ? ['fio-W5', rate('fio-W5')] : [null, null])
      : (() => {
          const best = ['read-buffered', 'read-direct', 'fio-W6'].filter((id) => report.limits.find((f) => f.id === id)!.rate !== null).sort((a, b) => rate(b) - rate(a))[0]
          return [best, rate(best)] as [string, number]
        })()
    t.is(r.floor, expected[0], `${row.workload} ${row.backend}`)
    if (expected[1] === null) t.is(r.vsFloor, null)
    else t.true(Math.abs(r.vsFloor! - own / expected[1]) < 1e-9, `${row.workload} ${row.backend}: ${r.vsFloor} vs ${own} / ${expected[1]}`)
  }
  // W5 on node:fs is measured now: O_DIRECT into an aligned subarray.
  const w5 = report.results.find((x) => x.workload === 'W5' && x.backend === 'node-fs')!
  t.is(w5.skipped, undefined)
  t.true(w5.opsPerSec! > 0)

  // The table form: the ratio column and the floors under the table.
  const text = await cli(['bench', '--quick', '--limits', '--workload', 'W1r', '--backend', 'node-fs', '--duration', '0.2', '--dir', dir])
  t.is(text.code, 0, summary(text))
  t.regex(text.stdout, /vs floor/)
  t.regex(text.stdout, /W1r .*node-fs .*ops\/s .*1\.00x .*\d\.\d\dx/)
  t.regex(text.stdout, /floors \(--limits; measured in this run, before the workloads\):\n.*\nsync-4k-append +sync loop: writeSync 4 KiB \+ fdatasyncSync, growing file +[\d,]+ ops\/s/)
  t.regex(text.stderr, /\[floor 1\/1\] sync-4k-append/)
})

test('bench: unknown workloads and other mistakes are usage errors (W7 names its three phases)', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['bench', '--workload', 'W1,W7X'], /unknown workload 'W7X' \(W1, W1r, W2, W3, W4, W5, W6, W7P, W7W, W7C, Z1, Z1C; W7, Z for several\)/],
    [['bench', '--workload', 'W9'], /unknown workload 'W9'/],
    [['bench', '--backend', 'io_uring,libaio'], /unknown backend 'libaio'/],
    [['bench', '--duration', '0'], /--duration needs a number of seconds/],
    [['bench', '--duration', 'x'], /--duration needs a number of seconds/],
    [['bench', '--dir', '/no/such/dir'], /no such directory/],
    [['bench', '--from', '1'], /unknown flag --from for 'bench'/],
    [['bench', 'extra'], /unexpected argument 'extra'/],
    [['bench', '--workload'], /--workload needs a value/],
    [['bench', '--plot'], /--plot needs a value/],
    [['bench', '--plot', '/no/such/dir/f.svg'], /^streamline-io: cannot write --plot \/no\/such\/dir\/f\.svg: no such directory \/no\/such\/dir$/m],
    [['bench', '--plot', os.tmpdir()], /cannot write --plot .*: it is a directory/],
    [['bench', '--plot', '/proc/version/f.svg'], /cannot write --plot .*: \/proc\/version is not a directory/],
  ]
  for (const [args, message] of cases) {
    const r = await cli(args)
    t.true(isUsageError(r), `${JSON.stringify(args)} → code ${r.code}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}`)
    t.regex(r.stderr, message, JSON.stringify(args))
  }
})

test('bench --help lists its options; the top level lists bench', async (t) => {
  const r = await cli(['bench', '--help'])
  t.is(r.code, 0)
  for (const opt of ['--workload', '--backend', '--dir', '--duration', '--quick', '--json', '--plot FILE', '--limits', '--enable-io-uring']) t.true(r.stdout.includes(opt), opt)
  t.regex((await cli(['--help'])).stdout, /\n {2}bench /)
})
