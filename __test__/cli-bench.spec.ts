// `streamline-io bench` as a user runs it (child processes of `node bin/streamline-io`):
// --quick --json produces every requested workload for every requested backend with
// positive numbers; workloads the library does not have yet and unknown backends are
// one-line usage errors (exit 2); --help lists the options. Short durations keep it fast.

import path from 'node:path'
import test from 'ava'

import { ioUringExpected, tmpDir } from './helpers/backends'
import { cleanEnv, runNode, type ChildResult } from './helpers/child'

const BIN = path.join(__dirname, '..', '..', 'bin', 'streamline-io')

function cli(args: string[]): Promise<ChildResult> {
  return runNode([BIN, ...args], { env: cleanEnv(), timeoutMs: 60_000 })
}

function isUsageError(r: ChildResult): boolean {
  const lines = r.stderr.trimEnd().split('\n')
  return r.code === 2 && r.stdout === '' && lines.length === 1 && lines[0].startsWith('streamline-io: ') && !/\n\s+at /.test(r.stderr)
}

interface BenchJson {
  machine: { cpus: number }
  kernel: string
  fsType: string
  date: string
  command: string
  results: Array<{ workload: string; backend: string; opsPerSec?: number; mbPerSec?: number; latencyUs?: { p50: number; p99: number; p999: number }; skipped?: string }>
}

test('bench --quick --json: every requested workload on every requested backend, positive numbers', async (t) => {
  const dir = tmpDir(t)
  const r = await cli(['bench', '--quick', '--json', '--workload', 'W1,W3,W4', '--backend', 'io_uring,standard,node-fs', '--duration', '0.3', '--dir', dir])
  t.is(r.code, 0, r.stderr)
  const report = JSON.parse(r.stdout) as BenchJson
  t.true(report.machine.cpus > 0)
  t.truthy(report.kernel)
  t.truthy(report.fsType)
  t.false(Number.isNaN(Date.parse(report.date)))
  t.regex(report.command, /^streamline-io bench --quick --json/)
  t.regex(r.stderr, /bench: \[1\/9\] W1/, 'progress on stderr')
  for (const workload of ['W1', 'W3', 'W4']) {
    for (const backend of ['io_uring', 'standard', 'node-fs']) {
      const row = report.results.find((x) => x.workload === workload && x.backend === backend)
      t.truthy(row, `${workload} ${backend}`)
      if (backend === 'io_uring' && !ioUringExpected() && row?.skipped) continue
      t.true(row!.opsPerSec! > 0 && row!.mbPerSec! > 0, `${workload} ${backend}: ${JSON.stringify(row)}`)
      t.true(row!.latencyUs!.p50 > 0 && row!.latencyUs!.p99 >= row!.latencyUs!.p50 && row!.latencyUs!.p999 >= row!.latencyUs!.p99, `${workload} ${backend}`)
    }
  }
  t.is(report.results.length, 9)
})

test('bench: the table on stdout, node-fs-uring in a child, W6 says how it evicted', async (t) => {
  const dir = tmpDir(t)
  const r = await cli(['bench', '--quick', '--workload', 'w6', '--backend', 'node-fs,node-fs-uring', '--duration', '0.2', '--dir', dir])
  t.is(r.code, 0, r.stderr)
  t.regex(r.stdout, /W6 .*node-fs-uring +[\d,]+ MB\/s/)
  t.regex(r.stdout, /1\.00x/)
  t.regex(r.stdout, /W6 cache eviction: (posix_fadvise|drop_caches|none)/)
})

test('bench: workloads not in the library yet and unknown names are usage errors', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['bench', '--workload', 'W5'], /W5 .*O_DIRECT.*not implemented/],
    [['bench', '--workload', 'W1,W7'], /W7 .*not implemented/],
    [['bench', '--workload', 'W9'], /unknown workload 'W9'/],
    [['bench', '--backend', 'io_uring,libaio'], /unknown backend 'libaio'/],
    [['bench', '--duration', '0'], /--duration needs a number of seconds/],
    [['bench', '--duration', 'x'], /--duration needs a number of seconds/],
    [['bench', '--dir', '/no/such/dir'], /no such directory/],
    [['bench', '--from', '1'], /unknown flag --from for 'bench'/],
    [['bench', 'extra'], /unexpected argument 'extra'/],
    [['bench', '--workload'], /--workload needs a value/],
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
  for (const opt of ['--workload', '--backend', '--dir', '--duration', '--quick', '--json', '--enable-io-uring']) t.true(r.stdout.includes(opt), opt)
  t.regex((await cli(['--help'])).stdout, /\n {2}bench /)
})
